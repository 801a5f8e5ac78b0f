"""The worker's and the scheduler's healthcheck: exit 0 while the heartbeat is fresh.

python -m app.worker.health              # the worker
python -m app.worker.health --scheduler  # the scheduler
"""

import sys

from app.worker.config import WorkerSettings
from app.worker.heartbeat import SCHEDULER_HEARTBEAT, WORKER_HEARTBEAT, age_seconds


def main(argv: list[str]) -> int:
    path = SCHEDULER_HEARTBEAT if "--scheduler" in argv else WORKER_HEARTBEAT
    stale = WorkerSettings.load().worker_heartbeat_stale_seconds
    try:
        age = age_seconds(path)
    except OSError:
        print(f"unhealthy: no heartbeat at {path}", file=sys.stderr)
        return 1
    if age > stale:
        print(
            f"unhealthy: the last heartbeat is {age:.0f} s old (over {stale:g} s)", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
