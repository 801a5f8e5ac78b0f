"""Every settings class is read when its process starts, and a bad value stops it with a
message naming the setting (never echoing the value)."""

from pathlib import Path

import pytest

from app.core.config import InvalidSettings, SettingsBase
from app.exports.config import ExportSettings
from app.items.config import ItemSettings
from app.worker.config import WorkerSettings


@pytest.mark.parametrize(
    ("settings_class", "variable"),
    [
        (ItemSettings, "ITEM_CACHE_TTL_SECONDS"),
        (ExportSettings, "EXPORT_MAX_ATTEMPTS"),
        (WorkerSettings, "WORKER_CONCURRENCY"),
    ],
)
def test_a_bad_value_is_refused_naming_the_setting(
    settings_class: type[SettingsBase], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "-7")

    with pytest.raises(InvalidSettings, match=f"{variable}: Input should be greater than 0"):
        settings_class.load(Path("/nonexistent"))


def test_the_app_reads_its_resources_settings_when_it_is_imported() -> None:
    """The items cache's time to live comes from ItemSettings at import (start-up), not on
    the first request."""
    from app.items.service import ITEMS_CACHE  # noqa: PLC0415

    assert ITEMS_CACHE.ttl_seconds == ItemSettings.load(Path("/nonexistent")).item_cache_ttl_seconds
