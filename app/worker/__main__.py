"""The worker's and the scheduler's commands, with their options from the settings (their one
home), so Compose and every manifest say only which process to run:

    python -m app.worker worker       # taskiq's worker: one process, jobs from the queue
    python -m app.worker scheduler    # taskiq's scheduler: exactly one, sends scheduled jobs

The worker also takes task modules beyond app.worker.tasks, for the tests and the bench only:

    python -m app.worker worker tests.jobs.noop

Their stacks mount that package into the container; production names none.
"""

import os
import sys
from collections.abc import Sequence

from app.observability.multiprocess import reset_directory
from app.worker.config import WorkerSettings


def worker_command(settings: WorkerSettings, extra_modules: Sequence[str] = ()) -> list[str]:
    return [
        "taskiq", "worker", "app.worker.broker:broker", "app.worker.tasks", *extra_modules,
        # One process per container: scale by containers, as for the app.
        "--workers", "1",
        # A message is acknowledged once its job has run, never before (see broker.py).
        "--ack-type", "when_executed",
        "--max-async-tasks", str(settings.worker_concurrency),
        "--max-prefetch", str(settings.worker_prefetch),
        "--wait-tasks-timeout", str(settings.worker_shutdown_timeout_seconds),
        "--shutdown-timeout", str(settings.worker_shutdown_timeout_seconds + 2),
        "--no-configure-logging",
    ]  # fmt: skip


def scheduler_command() -> list[str]:
    return [
        "taskiq", "scheduler", "app.worker.scheduler:scheduler", "app.worker.tasks",
        "--update-interval", "5",  # also the scheduler's heartbeat (scheduler.py)
        "--skip-first-run",
        "--no-configure-logging",
    ]  # fmt: skip


def main(argv: list[str]) -> None:
    # Modules only, never options: those come from the settings.
    if argv[:1] == ["worker"] and not any(arg.startswith("-") for arg in argv[1:]):
        command = worker_command(WorkerSettings.load(), argv[1:])
    elif argv == ["scheduler"]:
        command = scheduler_command()
    else:
        sys.exit("usage: python -m app.worker worker [MODULE ...] | scheduler")
    # The metrics' directory emptied before taskiq starts its processes, as gunicorn's
    # on_starting does for the app: a restarted container's files would be counted again.
    reset_directory()
    # exec: taskiq becomes PID 1's process and receives SIGTERM itself.
    os.execvp(command[0], command)  # noqa: S606 - fixed program


if __name__ == "__main__":
    main(sys.argv[1:])
