"""A file the worker's (and the scheduler's) event loop rewrites every few seconds with the
time until which it counts as alive. If the loop is stuck (a job that blocks it, a deadlock),
that time passes and the healthcheck (``python -m app.worker.health``) fails, so the
orchestrator restarts the container.

The file carries its own deadline, so the healthcheck reads no settings: it imports this module
and nothing else of the app's, a few milliseconds of CPU every probe where loading the settings
would cost a fraction of a second (the runtime image ships no bytecode: ADR 0023)."""

import asyncio
import time
from pathlib import Path

HEARTBEAT_DIR = Path("/tmp")  # noqa: S108 - a tmpfs by design (the root is read-only)
WORKER_HEARTBEAT = HEARTBEAT_DIR / "worker-heartbeat"
SCHEDULER_HEARTBEAT = HEARTBEAT_DIR / "scheduler-heartbeat"


def beat(path: Path, stale_seconds: float) -> None:
    """Alive for ``stale_seconds`` from now. Written aside, then renamed: a probe never reads
    half a file."""
    written = path.with_name(f"{path.name}.new")
    written.write_text(f"{time.time() + stale_seconds:.3f}")
    written.replace(path)


async def beat_forever(path: Path, interval_seconds: float, stale_seconds: float) -> None:
    while True:
        beat(path, stale_seconds)
        await asyncio.sleep(interval_seconds)


def alive_until(path: Path) -> float:
    """The deadline the last beat wrote (OSError: no beat yet; ValueError: not a deadline)."""
    return float(path.read_text())
