"""The worker's and the scheduler's healthcheck: exit 0 while the heartbeat's deadline is ahead.

python -m app.worker.health              # the worker
python -m app.worker.health --scheduler  # the scheduler
"""

import sys
import time

from app.worker.heartbeat import SCHEDULER_HEARTBEAT, WORKER_HEARTBEAT, alive_until


def main(argv: list[str]) -> int:
    path = SCHEDULER_HEARTBEAT if "--scheduler" in argv else WORKER_HEARTBEAT
    try:
        overdue = time.time() - alive_until(path)
    except (OSError, ValueError):
        print(f"unhealthy: no heartbeat at {path}", file=sys.stderr)
        return 1
    if overdue > 0:
        print(f"unhealthy: the heartbeat is {overdue:.0f} s overdue", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
