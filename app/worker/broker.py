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

from taskiq import (
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
from app.core.resources import Resources
from app.worker.config import WorkerSettings
from app.worker.heartbeat import WORKER_HEARTBEAT, beat_forever

logger = logging.getLogger(__name__)
settings = get_settings()
worker_settings = WorkerSettings.load()

broker = RedisStreamBroker(
    url=settings.queue_redis_url.get_secret_value(),
    queue_name="jobs",
    consumer_group_name="workers",
    idle_timeout=worker_settings.worker_reclaim_idle_seconds * 1000,
    # Released if its holder dies, so the reclaim never stalls on a dead worker's lock.
    unacknowledged_lock_timeout=30,
    socket_timeout=settings.redis_socket_timeout_seconds * 5,
    socket_connect_timeout=settings.redis_socket_timeout_seconds,
)


class JobContext(TaskiqMiddleware):
    """Every log line a job writes carries its job id (next to request_id)."""

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        job_id_var.set(message.task_id)
        return message

    def post_execute(self, message: TaskiqMessage, result: object) -> None:
        job_id_var.set(None)


broker.add_middlewares(JobContext())


@broker.on_event(TaskiqEvents.WORKER_STARTUP)
async def open_resources(state: TaskiqState) -> None:
    configure_logging(settings.log_level)
    state.resources = Resources.open(settings)
    state.heartbeat = asyncio.create_task(
        beat_forever(WORKER_HEARTBEAT, worker_settings.worker_heartbeat_seconds)
    )
    logger.info("worker started", extra={"concurrency": worker_settings.worker_concurrency})


@broker.on_event(TaskiqEvents.WORKER_SHUTDOWN)
async def close_resources(state: TaskiqState) -> None:
    state.heartbeat.cancel()
    await state.resources.close()
    logger.info("worker stopped")


def get_resources(context: Context = TaskiqDepends()) -> Resources:
    """A task's dependency: ``resources: Resources = TaskiqDepends(get_resources)`` (a default,
    so that sending the task takes only its own arguments)."""
    resources: Resources = context.state.resources
    return resources
