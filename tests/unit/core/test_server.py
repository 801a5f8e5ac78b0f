import os
from pathlib import Path

import pytest

from app.core.server import available_cpus, worker_count

AFFINITY = len(os.sched_getaffinity(0))


def cpu_max(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "cpu.max"
    path.write_text(content)
    return path


@pytest.mark.parametrize(
    ("quota", "expected"),
    [
        ("50000 100000", 1),  # half a CPU still needs one worker
        ("100000 100000", 1),
        ("max 100000", AFFINITY),  # no quota: every CPU the process may run on
    ],
)
def test_available_cpus_follows_the_cgroup_quota(tmp_path: Path, quota: str, expected: int) -> None:
    assert available_cpus(cpu_max(tmp_path, quota)) == expected


def test_available_cpus_never_exceeds_the_cpus_the_process_may_run_on(tmp_path: Path) -> None:
    assert available_cpus(cpu_max(tmp_path, "6400000 100000")) == AFFINITY


@pytest.mark.parametrize("content", ["", "garbage", "1 2 3"])
def test_an_unreadable_quota_falls_back_to_the_affinity(tmp_path: Path, content: str) -> None:
    assert available_cpus(cpu_max(tmp_path, content)) == AFFINITY
    assert available_cpus(tmp_path / "missing") == AFFINITY


def test_the_default_worker_count_is_one_per_available_cpu(tmp_path: Path) -> None:
    assert worker_count({}, cpu_max(tmp_path, "100000 100000")) == 1
    assert worker_count({"WEB_CONCURRENCY": ""}, cpu_max(tmp_path, "100000 100000")) == 1


def test_web_concurrency_overrides_the_default(tmp_path: Path) -> None:
    assert worker_count({"WEB_CONCURRENCY": "7"}, cpu_max(tmp_path, "100000 100000")) == 7


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_a_bad_web_concurrency_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"WEB_CONCURRENCY|invalid literal"):
        worker_count({"WEB_CONCURRENCY": value})
