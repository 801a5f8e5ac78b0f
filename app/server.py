"""The production server: gunicorn runs one uvicorn server per CPU, in processes gunicorn calls
"workers" (gunicorn.conf.py names ``ServerProcess`` as its worker class). Not to be confused
with the job worker (app/worker), which runs background jobs.

``ServerProcess`` is uvicorn-worker's class with uvicorn's public settings for it (its
CONFIG_KWARGS): a connection limit, and no Server header (it tells an attacker which version to
look up). Request lines, headers and slow clients are bounded by what fronts the app.
"""

import gc
import math
import os
from pathlib import Path
from typing import Any, ClassVar

from uvicorn_worker import UvicornWorker

from app.core.config import get_settings

CGROUP_ROOT = Path("/sys/fs/cgroup")
# The collector's thresholds in a server process (docs/decisions/0026): a young collection per
# 20,000 new container objects instead of Python's 2,000, and the older generations half as often.
COLLECTION_THRESHOLDS = (20_000, 20, 20)


# uvicorn_worker ships no type information.
class ServerProcess(UvicornWorker):  # type: ignore[misc]
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": "httptools",
        "server_header": False,
        "limit_concurrency": get_settings().max_connections_per_worker,
    }


def settle_garbage_collection() -> None:
    """Run once the app is loaded in a server process (gunicorn.conf.py). What exists then (the
    modules, the app, its routes and schemas) lives as long as the process: frozen, the
    collector never walks it again, so a full collection no longer holds up every request in
    flight. A request's own objects are freed by reference counting, not by the collector, so
    young collections can be rarer too."""
    gc.freeze()
    gc.set_threshold(*COLLECTION_THRESHOLDS)


def _read_quota(cgroup_root: Path) -> float | None:
    """The CPU quota in CPUs (1.5 = one and a half), or None when there is none."""
    try:
        v2 = cgroup_root / "cpu.max"
        if v2.exists():
            quota, period = v2.read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        v1 = cgroup_root / "cpu"
        quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
        period_us = int((v1 / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None  # not in a container, or a layout we do not know: no quota


def available_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may really use: its affinity, capped by a cgroup CPU quota.

    ``os.cpu_count()`` reports the host's cores; a container limited with ``--cpus 1`` on a
    32-core host must not start 32 server processes. Both cgroup v2 (cpu.max) and v1
    (cfs_quota_us) are read, since hosts still run either.
    """
    cpus = len(os.sched_getaffinity(0))
    quota = _read_quota(cgroup_root)
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return cpus


def process_count(web_concurrency: int | None, cgroup_root: Path = CGROUP_ROOT) -> int:
    """WEB_CONCURRENCY when set (Settings validates it), else one per available CPU."""
    return web_concurrency or available_cpus(cgroup_root)
