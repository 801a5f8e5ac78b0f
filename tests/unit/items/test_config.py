"""The items' own settings: read at start-up (when the app is imported), not on the first
request, and a bad value stops the app naming the setting."""

from pathlib import Path

import pytest

from app.core.config import InvalidSettings
from app.items.config import ItemSettings
from app.items.service import ITEMS_CACHE


def test_a_bad_cache_ttl_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITEM_CACHE_TTL_SECONDS", "0")

    with pytest.raises(InvalidSettings, match="ITEM_CACHE_TTL_SECONDS: Input should be greater"):
        ItemSettings.load(Path("/nonexistent"))


def test_the_cache_ttl_is_read_when_the_app_is_imported() -> None:
    assert ITEMS_CACHE.ttl_seconds == ItemSettings.load(Path("/nonexistent")).item_cache_ttl_seconds
