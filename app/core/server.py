"""How many worker processes this container should run."""

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may really use: its affinity, capped by a cgroup v2 CPU quota.

    ``os.cpu_count()`` reports the host's cores; a container limited with ``--cpus 1`` on a
    32-core host must not start 32 workers.
    """
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 file (not in a container, or cgroup v1): the affinity stands
    return cpus


def worker_count(environ: dict[str, str] | os._Environ[str], cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """WEB_CONCURRENCY when set, else one async worker per available CPU."""
    configured = environ.get("WEB_CONCURRENCY", "").strip()
    if configured:
        count = int(configured)
        if count < 1:
            raise ValueError(f"WEB_CONCURRENCY must be at least 1, got {count}")
        return count
    return available_cpus(cpu_max)
