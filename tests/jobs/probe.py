"""The queue's own throughput, end to end: N no-op jobs sent by concurrent producers, then
(with --wait) watched until every one has run once. Used by make bench and make chaos, inside
a container of the production image, with this package mounted (tests/jobs/__init__.py), for its
settings and its network:

    python -m tests.jobs.probe --jobs 1000 --producers 8 --wait
    python -m tests.jobs.probe --jobs 200 --batch queued-200      # send only

Prints one JSON line: jobs sent and done, seconds, jobs/s, and the enqueue-to-start latency's
p50 and p99 in milliseconds.
"""

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from app.worker.broker import broker
from tests.jobs.noop import noop


async def send(batch: str, jobs: int, producers: int) -> None:
    tokens = iter(range(jobs))

    async def producer() -> None:
        for token in tokens:  # shared: each token is sent by one producer
            await noop.kiq(batch, str(token), time.time())

    await asyncio.gather(*(producer() for _ in range(producers)))


async def wait_for_all(redis: Redis, batch: str, jobs: int, within_seconds: float) -> int:
    deadline = time.monotonic() + within_seconds
    done = 0
    while time.monotonic() < deadline:
        done = await redis.zcard(f"worker:noop:{batch}")
        if done >= jobs:
            break
        await asyncio.sleep(0.05)
    return int(done)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else 0.0


async def main(args: argparse.Namespace) -> dict[str, object]:
    batch = args.batch or uuid.uuid4().hex
    started = time.monotonic()
    await send(batch, args.jobs, args.producers)
    sent_in = time.monotonic() - started
    report: dict[str, object] = {
        "batch": batch,
        "sent": args.jobs,
        "send_seconds": round(sent_in, 3),
    }
    if args.wait:
        async with Redis(connection_pool=broker.connection_pool) as redis:
            done = await wait_for_all(redis, batch, args.jobs, args.timeout)
            seconds = time.monotonic() - started
            # redis-py types a reply as any Redis value; this one is [(member, score)].
            scored: Any = await redis.zrange(f"worker:noop:{batch}", 0, -1, withscores=True)
            waits = sorted(float(score) for _, score in scored)
        report |= {
            "done": done,
            "seconds": round(seconds, 3),
            "jobs_per_second": round(done / seconds, 1),
            "latency_p50_ms": round(percentile(waits, 0.5) * 1000, 1),
            "latency_p99_ms": round(percentile(waits, 0.99) * 1000, 1),
        }
    await broker.shutdown()
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--batch", help="a name for the batch (default: random)")
    parser.add_argument("--wait", action="store_true", help="wait until every job has run")
    parser.add_argument("--timeout", type=float, default=120)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
