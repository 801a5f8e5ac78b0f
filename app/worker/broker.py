"""The task queue: taskiq on a Redis Stream in the queue store (QUEUE_REDIS_URL: a Redis of its
own with an append-only file and no eviction, so an accepted job survives a restart).

Messages are acknowledged only when their job has run (``--ack-type when_executed``, set by
``python -m app.worker``): a worker that dies mid-job leaves its message pending, and another
worker claims it once it has been idle WORKER_RECLAIM_IDLE_SECONDS. Delivery is at least once;
every task makes its effect idempotent.

The worker's processes open the same Resources as the app (engine, Redis, settings) at start-up
and close them at shutdown; a task reaches them through ``get_resources``.
"""

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from taskiq import (
    AckableMessage,
    Context,
    TaskiqDepends,
    TaskiqEvents,
    TaskiqMessage,
    TaskiqMiddleware,
    TaskiqState,
)
from taskiq_redis import RedisStreamBroker

from app.core.config import get_settings
from app.core.logging import configure_logging, job_id_var
from app.core.redis import redis_tls
from app.core.resources import Resources
from app.observability.jobs import JobObservability, QueueDepthCollector, queue_store_client
from app.observability.multiprocess import aggregating_registry, serve
from app.observability.tracing import (
    export_spans,
    new_tracer_provider,
    start_process_tracing,
    stop_process_tracing,
    tracing_configured,
)
from app.worker.config import WorkerSettings
from app.worker.heartbeat import WORKER_HEARTBEAT, beat_forever

logger = logging.getLogger(__name__)
settings = get_settings()
worker_settings = WorkerSettings.load()


class ReclaimingRedisStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker claims a dead consumer's messages only after a read that
    brought new ones (taskiq-redis's ``listen``): on a quiet queue, a job whose worker died
    would wait for the next job to be sent. This one claims them on every turn of the loop
    (each ``xread_block``, 2 s), busy or not."""

    async def listen(self) -> AsyncGenerator[AckableMessage]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                # redis-py types a reply as any Redis value; this one is [(stream, [(id, fields)])].
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    noack=False,
                    count=self.count,
                )
                for stream, messages in fetched or []:
                    for message_id, message in messages:
                        yield self._ackable(stream, message_id, message)
                async for claimed in self._claim_abandoned(redis):
                    yield claimed

    async def _claim_abandoned(self, redis: Redis) -> AsyncGenerator[AckableMessage]:
        lock = redis.lock(
            f"worker:autoclaim:{self.consumer_group_name}:{self.queue_name}",
            timeout=self.unacknowledged_lock_timeout,
        )
        async with lock:
            _, claimed, *_ = await redis.xautoclaim(
                name=self.queue_name,
                groupname=self.consumer_group_name,
                consumername=self.consumer_name,
                min_idle_time=self.idle_timeout,
                count=self.unacknowledged_batch_size,
            )
        for message_id, message in claimed:
            logger.warning(
                "claimed a job a stopped worker left", extra={"message_id": str(message_id)}
            )
            yield self._ackable(self.queue_name, message_id, message)

    def _ackable(
        self, stream: object, message_id: object, message: dict[bytes, bytes]
    ) -> AckableMessage:
        return AckableMessage(
            data=message[b"data"],
            ack=self._ack_generator(id=message_id, queue_name=stream),  # type: ignore[arg-type]
        )


broker = ReclaimingRedisStreamBroker(
    url=settings.queue_redis_url.get_secret_value(),
    # The password of the URL's user (a password in the URL, if any, wins).
    password=settings.queue_redis_password.get_secret_value() or None,
    queue_name="jobs",
    consumer_group_name="workers",
    idle_timeout=worker_settings.worker_reclaim_idle_seconds * 1000,
    # Released if its holder dies, so the reclaim never stalls on a dead worker's lock.
    unacknowledged_lock_timeout=30,
    socket_timeout=settings.redis_socket_timeout_seconds * 5,
    socket_connect_timeout=settings.redis_socket_timeout_seconds,
    **redis_tls(settings, settings.queue_redis_url.get_secret_value()),
    # A pooled connection the queue store closed (a restart) is replaced at once, not failed:
    # one immediate retry, and a ping before reusing a connection idle for 30 s.
    retry=Retry(NoBackoff(), retries=1),
    health_check_interval=30,
)


class JobContext(TaskiqMiddleware):
    """Every log line a job writes carries its job id (next to request_id)."""

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        job_id_var.set(message.task_id)
        return message

    def post_execute(self, message: TaskiqMessage, result: object) -> None:
        job_id_var.set(None)


# Sending (in the app): the request's trace goes with the job. Running (in the worker): each job
# counted, timed and traced (app/observability/jobs.py).
broker.add_middlewares(JobContext(), JobObservability())


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def open_resources(state: TaskiqState) -> None:
    configure_logging(settings.log_level)
    state.resources = Resources.open(settings)
    state.heartbeat = asyncio.create_task(
        beat_forever(
            WORKER_HEARTBEAT,
            worker_settings.worker_heartbeat_seconds,
            worker_settings.worker_heartbeat_stale_seconds,
        )
    )
    # In the process that runs the jobs (taskiq's child, after its fork), never in its manager.
    if tracing_configured(settings):
        provider = new_tracer_provider(settings)
        export_spans(provider, settings)
        start_process_tracing(state.resources, provider)
    if settings.metrics_enabled:
        serve_worker_metrics()
    logger.info("worker started", extra={"concurrency": worker_settings.worker_concurrency})


def serve_worker_metrics() -> None:
    """The worker's metrics (and the queue's depth, read when scraped) on METRICS_PORT."""
    registry = aggregating_registry()
    url = settings.queue_redis_url.get_secret_value()
    queue_store = queue_store_client(
        url,
        settings.queue_redis_password.get_secret_value() or None,
        settings.redis_socket_timeout_seconds,
        **redis_tls(settings, url),
    )
    registry.register(
        QueueDepthCollector(queue_store, broker.queue_name, broker.consumer_group_name)
    )
    serve(settings.metrics_port, registry)


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def close_resources(state: TaskiqState) -> None:
    state.heartbeat.cancel()
    stop_process_tracing()
    await state.resources.close()
    logger.info("worker stopped")


def get_resources(context: Context = TaskiqDepends()) -> Resources:
    """A task's dependency: ``resources: Resources = TaskiqDepends(get_resources)`` (a default,
    so that sending the task takes only its own arguments)."""
    resources: Resources = context.state.resources
    return resources
