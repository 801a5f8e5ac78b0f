"""Every settings class is read when its process starts, and a bad value stops it with a
message naming the setting (never echoing the value). A resource's own class is tested with
the resource (tests/unit/items/test_config.py)."""

from pathlib import Path

import pytest

from app.core.config import InvalidSettings, SettingsBase
from app.exports.config import ExportSettings
from app.worker.config import WorkerSettings


@pytest.mark.parametrize(
    ("settings_class", "variable"),
    [(ExportSettings, "EXPORT_MAX_ATTEMPTS"), (WorkerSettings, "WORKER_CONCURRENCY")],
)
def test_a_bad_value_is_refused_naming_the_setting(
    settings_class: type[SettingsBase], variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, "-7")

    with pytest.raises(InvalidSettings, match=f"{variable}: Input should be greater than 0"):
        settings_class.load(Path("/nonexistent"))
