"""A job that always fails, and its sender: the alerts suite (tests/alerts) makes the job-failure
alert fire with it. Sent from a container of the production image with this package mounted,
for its settings and its network:

    python -m tests.jobs.failing --seconds 75 --every 1   # one failing job a second, 75 s long
"""

import argparse
import asyncio
import time

from app.worker.broker import broker


class PlantedFailure(RuntimeError):
    """What the job raises: the worker counts it as failed and logs it with its job_id."""


@broker.task(task_name="tests.failing")
async def failing(n: int) -> None:
    raise PlantedFailure(f"planted failure {n}")


async def main(seconds: float, every: float) -> int:
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await failing.kiq(sent)
        sent += 1
        await asyncio.sleep(every)
    await broker.shutdown()
    return sent


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--every", type=float, default=1)
    args = parser.parse_args()
    print(f"sent {asyncio.run(main(args.seconds, args.every))} failing jobs")
