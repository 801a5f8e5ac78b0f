"""The exports' jobs: produce one (retried on transient failures with exponential backoff and
jitter), sweep the stuck ones back into the queue, and delete old results."""

import asyncio
import logging
import random
import uuid
from datetime import timedelta

from sqlalchemy import delete, select
from taskiq import TaskiqDepends

from app.core.errors import DependencyUnavailable
from app.core.outages import as_problem
from app.core.resources import Resources
from app.exports.config import ExportSettings
from app.exports.models import Export
from app.exports.producer import PermanentFailure, now, produce, set_fields
from app.worker.broker import broker, get_resources
from app.worker.scheduler import once_per_slot

logger = logging.getLogger(__name__)
# Read once, when the worker (or the app, which sends the jobs) starts: a bad value stops it.
SETTINGS = ExportSettings.load()
# The pause between attempts (a name of its own, so a test can stand in for the clock).
sleep = asyncio.sleep


def backoff_seconds(attempt: int, base: float) -> float:
    """Exponential (base, 2 base, 4 base, ...), capped at a minute, with full jitter around it
    so retries of many jobs do not arrive together."""
    return min(60.0, base * 2.0 ** (attempt - 1)) * random.uniform(0.5, 1.5)  # noqa: S311


def is_transient(error: BaseException) -> bool:
    """Postgres or Redis away (the same failures the API answers with 503)."""
    return isinstance(as_problem(error), DependencyUnavailable) or isinstance(error, OSError)


async def run_export_now(
    resources: Resources, export_id: uuid.UUID, settings: ExportSettings
) -> None:
    for attempt in range(1, settings.export_max_attempts + 1):
        try:
            await produce(resources, export_id, settings)
            return
        except PermanentFailure as failure:
            await fail(resources, export_id, str(failure))
            return
        except Exception as error:
            if not is_transient(error):
                await fail(resources, export_id, f"unexpected error: {type(error).__name__}")
                raise
            if attempt == settings.export_max_attempts:
                reason = f"gave up after {attempt} attempts: {type(error).__name__}"
                await fail(resources, export_id, reason)
                return
            delay = backoff_seconds(attempt, settings.export_retry_base_seconds)
            logger.warning(
                "export attempt failed, retrying",
                extra={
                    "export_id": str(export_id),
                    "attempt": attempt,
                    "retry_in_s": round(delay, 2),
                    "error": type(error).__name__,
                },
            )
            await sleep(delay)


async def fail(resources: Resources, export_id: uuid.UUID, reason: str) -> None:
    logger.warning("export failed", extra={"export_id": str(export_id), "reason": reason})
    finished = now()
    await set_fields(
        resources, export_id, status="failed", error=reason[:500], finished_at=finished
    )


@broker.task(task_name="exports.run")
async def run_export(export_id: str, resources: Resources = TaskiqDepends(get_resources)) -> None:
    await run_export_now(resources, uuid.UUID(export_id), SETTINGS)


async def sweep_now(resources: Resources, settings: ExportSettings) -> int:
    """Enqueue again every export queued or running with no change for export_stuck_seconds:
    its message was lost, or its worker died. Returns how many."""
    stale = now() - timedelta(seconds=settings.export_stuck_seconds)
    async with resources.autocommit_sessions() as session:
        query = select(Export.id).where(
            Export.status.in_(("queued", "running")), Export.updated_at < stale
        )
        stuck = (await session.execute(query)).scalars().all()
    for export_id in stuck:
        await set_fields(resources, export_id)  # not stuck again until another timeout passes
        await run_export.kiq(str(export_id))
    if stuck:
        logger.warning("stuck exports enqueued again", extra={"count": len(stuck)})
    return len(stuck)


async def delete_old_now(resources: Resources, settings: ExportSettings) -> int:
    """Delete exports (and their results) finished more than export_retention_hours ago."""
    cutoff = now() - timedelta(hours=settings.export_retention_hours)
    async with resources.autocommit_sessions() as session:
        result = await session.execute(delete(Export).where(Export.finished_at < cutoff))
    deleted = int(result.rowcount)  # type: ignore[attr-defined]
    logger.info("old exports deleted", extra={"count": deleted})
    return deleted


@broker.task(task_name="exports.sweep", schedule=[{"interval": 60}])
async def sweep_stuck_exports(resources: Resources = TaskiqDepends(get_resources)) -> None:
    if await once_per_slot("exports.sweep", 60):
        await sweep_now(resources, SETTINGS)


@broker.task(task_name="exports.delete_old", schedule=[{"cron": "0 * * * *"}])
async def delete_old_exports(resources: Resources = TaskiqDepends(get_resources)) -> None:
    if await once_per_slot("exports.delete_old", 3600):
        await delete_old_now(resources, SETTINGS)
