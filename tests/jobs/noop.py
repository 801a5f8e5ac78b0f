"""A job that does next to nothing: the queue's own cost, measured by make bench and make chaos.

Its one effect is idempotent, as every task's must be: its token joins the batch's sorted set
in the queue store, scored by how long the job waited between enqueue and start.
"""

import time

from redis.asyncio import Redis

from app.worker.broker import broker


@broker.task(task_name="worker.noop")
async def noop(batch: str, token: str, sent_at: float) -> None:
    async with Redis(connection_pool=broker.connection_pool) as redis:
        key = f"worker:noop:{batch}"
        await redis.zadd(key, {token: time.time() - sent_at})
        await redis.expire(key, 3600)
