import gc
import os
from pathlib import Path

import pytest

from app.core.config import InvalidSettings, Settings, load_settings
from app.server import (
    COLLECTION_THRESHOLDS,
    ServerProcess,
    available_cpus,
    process_count,
    settle_garbage_collection,
)

AFFINITY = len(os.sched_getaffinity(0))


def cgroup_v2(tmp_path: Path, cpu_max: str) -> Path:
    (tmp_path / "cpu.max").write_text(cpu_max)
    return tmp_path


def cgroup_v1(tmp_path: Path, quota_us: str, period_us: str = "100000") -> Path:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(quota_us)
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(period_us)
    return tmp_path


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("50000 100000", 1),  # half a CPU still needs one server process
        ("100000 100000", 1),
        ("max 100000", AFFINITY),  # no quota: every CPU the process may run on
    ],
)
def test_available_cpus_follows_a_cgroup_v2_quota(
    tmp_path: Path, cpu_max: str, expected: int
) -> None:
    assert available_cpus(cgroup_v2(tmp_path, cpu_max)) == expected


@pytest.mark.parametrize(
    ("quota_us", "expected"),
    [("50000", 1), ("100000", 1), ("-1", AFFINITY)],  # -1: no quota
)
def test_available_cpus_follows_a_cgroup_v1_quota(
    tmp_path: Path, quota_us: str, expected: int
) -> None:
    assert available_cpus(cgroup_v1(tmp_path, quota_us)) == expected


def test_available_cpus_never_exceeds_the_cpus_the_process_may_run_on(tmp_path: Path) -> None:
    assert available_cpus(cgroup_v2(tmp_path, "6400000 100000")) == AFFINITY


@pytest.mark.parametrize("content", ["", "garbage", "1 2 3"])
def test_an_unreadable_quota_falls_back_to_the_affinity(tmp_path: Path, content: str) -> None:
    assert available_cpus(cgroup_v2(tmp_path, content)) == AFFINITY


def test_no_cgroup_files_at_all_falls_back_to_the_affinity(tmp_path: Path) -> None:
    assert available_cpus(tmp_path) == AFFINITY


def test_the_default_process_count_is_one_per_available_cpu(tmp_path: Path) -> None:
    assert process_count(None, cgroup_v2(tmp_path, "100000 100000")) == 1


def test_web_concurrency_overrides_the_default(tmp_path: Path) -> None:
    assert process_count(7, cgroup_v2(tmp_path, "100000 100000")) == 7


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_bad_web_concurrency_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", value)

    with pytest.raises(InvalidSettings, match="WEB_CONCURRENCY"):
        load_settings(Path("/nonexistent"))


def test_an_empty_web_concurrency_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "")

    assert load_settings(Path("/nonexistent")).web_concurrency is None


def test_the_server_process_sends_no_server_header_and_caps_connections(
    settings: Settings,
) -> None:
    kwargs = ServerProcess.CONFIG_KWARGS

    assert kwargs["server_header"] is False
    assert kwargs["http"] == "httptools"
    assert kwargs["limit_concurrency"] == settings.max_connections_per_worker


def test_settling_freezes_what_is_loaded_and_makes_collections_rarer() -> None:
    thresholds = gc.get_threshold()
    loaded = ["an object the collector tracks"]
    assert any(found is loaded for found in gc.get_objects())
    try:
        settle_garbage_collection()
        assert gc.get_threshold() == COLLECTION_THRESHOLDS
        assert COLLECTION_THRESHOLDS[0] > thresholds[0]
        # Frozen: moved to the permanent generation, which no collection walks.
        assert gc.get_freeze_count() > 0
        assert not any(found is loaded for found in gc.get_objects())
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
