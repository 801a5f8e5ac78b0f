"""The queue against the real queue store: a message is delivered, stays pending until it is
acknowledged, and a consumer that died leaves it to be claimed by another, even on a quiet
queue (the case taskiq-redis's own broker leaves waiting)."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from taskiq import AckableMessage, BrokerMessage

from app.core.config import Settings
from app.worker.broker import ReclaimingRedisStreamBroker
from tests.unit.support import queue_client


@pytest.fixture
async def stream(settings: Settings) -> AsyncIterator[str]:
    name = f"test-jobs-{uuid.uuid4().hex}"
    yield name
    redis = queue_client(settings)
    await redis.delete(name)
    await redis.aclose()


def consumer(settings: Settings, stream: str, idle_ms: int) -> ReclaimingRedisStreamBroker:
    return ReclaimingRedisStreamBroker(
        settings.queue_redis_url.get_secret_value(),
        password=settings.queue_redis_password.get_secret_value() or None,
        queue_name=stream,
        consumer_group_name="test-workers",
        idle_timeout=idle_ms,
        xread_block=100,
    )


async def first(messages: AsyncIterator[AckableMessage]) -> AckableMessage:
    """The first message, within 5 s (the stock broker would wait here forever)."""
    async with asyncio.timeout(5):
        async for message in messages:
            return message
    raise AssertionError("no message")


async def test_a_dead_consumers_message_is_claimed_on_a_quiet_queue(
    settings: Settings, stream: str
) -> None:
    dying = consumer(settings, stream, idle_ms=0)
    await dying.startup()
    await dying.kick(BrokerMessage(task_id="t1", task_name="noop", message=b"payload", labels={}))

    taken = await first(dying.listen())  # taken, never acknowledged: its worker "dies" here
    await dying.shutdown()
    survivor = consumer(settings, stream, idle_ms=0)
    await survivor.startup()
    claimed = await first(survivor.listen())  # nothing new is sent: only the claim can bring it
    await claimed.ack()  # type: ignore[misc]
    await survivor.shutdown()

    assert taken.data == claimed.data == b"payload"
