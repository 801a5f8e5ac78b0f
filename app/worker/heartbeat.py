"""A file the worker's event loop touches every few seconds: if the loop is stuck (a job that
blocks it, a deadlock), the file gets old and the healthcheck (``python -m app.worker.health``)
fails, so the orchestrator restarts the container."""

import asyncio
import os
import time
from pathlib import Path

HEARTBEAT_DIR = Path("/tmp")  # noqa: S108 - a tmpfs by design (the root is read-only)
WORKER_HEARTBEAT = HEARTBEAT_DIR / "worker-heartbeat"
SCHEDULER_HEARTBEAT = HEARTBEAT_DIR / "scheduler-heartbeat"


def beat(path: Path) -> None:
    path.touch()
    os.utime(path)


async def beat_forever(path: Path, interval_seconds: float) -> None:
    while True:
        beat(path)
        await asyncio.sleep(interval_seconds)


def age_seconds(path: Path) -> float:
    return time.time() - path.stat().st_mtime
