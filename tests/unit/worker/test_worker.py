"""The worker's own parts: its command from the settings, the heartbeat healthcheck, scheduled
tasks that run once per slot, the no-op job's idempotent effect, and the job id on log lines."""

import logging
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from app.core.config import Settings
from app.core.logging import job_id_var, json_formatter
from app.worker import health, heartbeat
from app.worker.__main__ import scheduler_command, worker_command
from app.worker.config import WorkerSettings
from app.worker.scheduler import once_per_slot
from tests.jobs.noop import noop
from tests.unit.support import queue_client


def test_the_worker_command_takes_its_options_from_the_settings() -> None:
    command = worker_command(WorkerSettings(worker_concurrency=7, worker_prefetch=3))

    assert command[:4] == ["taskiq", "worker", "app.worker.broker:broker", "app.worker.tasks"]
    assert command[command.index("--max-async-tasks") + 1] == "7"
    assert command[command.index("--max-prefetch") + 1] == "3"
    assert command[command.index("--ack-type") + 1] == "when_executed"
    assert command[command.index("--workers") + 1] == "1"
    assert scheduler_command()[:3] == ["taskiq", "scheduler", "app.worker.scheduler:scheduler"]


@pytest.mark.parametrize(
    ("flag", "path_name"), [([], "WORKER_HEARTBEAT"), (["--scheduler"], "SCHEDULER_HEARTBEAT")]
)
def test_the_healthcheck_follows_the_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], path_name: str
) -> None:
    beat_file = tmp_path / "beat"
    monkeypatch.setattr(health, path_name, beat_file)

    assert health.main(flag) == 1  # none yet
    heartbeat.beat(beat_file, stale_seconds=30)
    assert health.main(flag) == 0
    heartbeat.beat(beat_file, stale_seconds=-1)  # the last beat of a loop stuck since
    assert health.main(flag) == 1
    beat_file.write_text("")  # not a deadline
    assert health.main(flag) == 1


def test_the_healthcheck_imports_no_settings() -> None:
    # Each probe is a new interpreter, every few seconds: it stays off the settings' imports.
    probe = (
        "import sys, app.worker.health;"
        "print(sorted(m for m in sys.modules if m.startswith(('app.', 'pydantic'))))"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "['app.worker', 'app.worker.health', 'app.worker.heartbeat']"


async def test_a_scheduled_task_runs_once_per_slot() -> None:
    name = f"test-{uuid.uuid4()}"

    assert await once_per_slot(name, 60) is True
    assert await once_per_slot(name, 60) is False  # a second scheduler's duplicate


async def test_the_noop_job_has_one_effect_however_often_it_runs(settings: Settings) -> None:
    batch = uuid.uuid4().hex
    for _ in range(3):  # at-least-once delivery: the same message, three times
        await noop(batch, "token-1", time.time())
    redis = queue_client(settings)
    try:
        assert await redis.zcard(f"worker:noop:{batch}") == 1
    finally:
        await redis.aclose()


def test_a_jobs_log_lines_carry_its_job_id() -> None:
    token = job_id_var.set("job-7")
    try:
        record = logging.getLogger("app.test").makeRecord(
            "app.test", logging.INFO, __file__, 1, "working", (), None
        )
        line = json_formatter().format(record)
    finally:
        job_id_var.reset(token)

    assert '"job_id": "job-7"' in line
