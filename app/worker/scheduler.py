"""The scheduler: sends each task that carries a ``schedule`` label when it is due.

Exactly one should run (Compose and the manifests run one replica). If a second is started by
mistake, a scheduled task still runs once per slot: ``once_per_slot`` lets only the first
delivery of each slot through (a Redis SET NX in the queue store, among the worker's own keys).
"""

import logging
import time

from redis.asyncio import Redis
from taskiq import ScheduledTask, TaskiqScheduler
from taskiq.schedule_sources import LabelScheduleSource

from app.core.logging import configure_logging
from app.worker.broker import broker, settings, worker_settings
from app.worker.heartbeat import SCHEDULER_HEARTBEAT, beat

logger = logging.getLogger(__name__)


class HeartbeatLabelScheduleSource(LabelScheduleSource):
    """Asked for the schedules every --update-interval seconds: that is the scheduler's loop
    alive, so it beats the scheduler's heartbeat too."""

    async def get_schedules(self) -> list[ScheduledTask]:
        beat(SCHEDULER_HEARTBEAT, worker_settings.worker_heartbeat_stale_seconds)
        return await super().get_schedules()

    async def startup(self) -> None:
        configure_logging(settings.log_level)
        beat(SCHEDULER_HEARTBEAT, worker_settings.worker_heartbeat_stale_seconds)
        await super().startup()


scheduler = TaskiqScheduler(broker, sources=[HeartbeatLabelScheduleSource(broker)])


async def once_per_slot(task_name: str, slot_seconds: int) -> bool:
    """True for the first delivery of this task in its time slot, False for any duplicate (a
    second scheduler, or a redelivery): scheduled tasks call it first."""
    slot = int(time.time() // slot_seconds)
    mark = f"worker:scheduled:{task_name}:{slot}"
    async with Redis(connection_pool=broker.connection_pool) as redis:
        first = await redis.set(mark, 1, nx=True, ex=2 * slot_seconds)
    if not first:
        logger.info("scheduled task already ran in this slot", extra={"task": task_name})
    return bool(first)


__all__ = ["once_per_slot", "scheduler", "worker_settings"]
