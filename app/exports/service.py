"""Starting an export, reading its state, and streaming its result."""

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Annotated

from fastapi import Depends
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import DependencyUnavailable, ProblemError
from app.core.resources import Resources, ResourcesDep
from app.exports.config import ExportSettings
from app.exports.models import Export, ExportChunk
from app.exports.producer import now
from app.exports.tasks import SETTINGS, run_export
from app.kit.problems import Conflict, NotFound

# The first key of the advisory locks taken on a key id (the second is the id's hash): apart
# from the producer's locks on an export's id.
LOCK_NAMESPACE = 20

logger = logging.getLogger(__name__)


class ExportNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No export has this id.")


class ExportNotReady(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"The export is {status}: its result can be downloaded once it has succeeded."
        )


class TooManyExports(ProblemError):
    status = HTTPStatus.TOO_MANY_REQUESTS

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"This API key has {limit} exports queued or running, the most it may: start"
            " another once one has finished.",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class ExportStorageFull(DependencyUnavailable):
    def __init__(self) -> None:
        super().__init__(
            "Stored exports are at their bound: a new one can start once old ones have been"
            " deleted (hourly).",
            retry_after_seconds=3600,
        )


# What a caller over its limit is told to wait: about one small export's run.
RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True, slots=True)
class Started:
    """The export answered, and whether it is a new one (202) or a recent one reused (200)."""

    export: Export
    reused: bool


class ExportService:
    def __init__(self, resources: Resources, settings: ExportSettings = SETTINGS) -> None:
        self.resources = resources
        self.settings = settings

    async def start(self, kind: str, key_id: str | None = None) -> Started:
        """A recent succeeded export of the kind, if there is one; else a new export: its
        record first (committed: the source of truth), then its message. If the queue cannot
        take the message now, the export stays queued and the sweeper sends it.

        The caller's exports under way are counted under a lock on its key id, held until the
        new one is committed: concurrent starts of one key cannot pass its limit together."""
        stamp = now()
        async with self.resources.sessions() as session:
            reused = await self._recent(session, kind, stamp)
            if reused is not None:
                return Started(reused, reused=True)
            if key_id is not None:
                await session.execute(
                    select(func.pg_advisory_xact_lock(LOCK_NAMESPACE, func.hashtext(key_id)))
                )
                active = await session.scalar(
                    select(func.count())
                    .select_from(Export)
                    .where(Export.key_id == key_id, Export.status.in_(("queued", "running")))
                )
                if (active or 0) >= self.settings.export_max_active_per_key:
                    raise TooManyExports(self.settings.export_max_active_per_key)
            stored = await session.scalar(select(func.coalesce(func.sum(Export.size_bytes), 0)))
            if (stored or 0) >= self.settings.export_storage_max_bytes:
                raise ExportStorageFull
            values = {
                "id": uuid.uuid4(),
                "kind": kind,
                "key_id": key_id,
                "status": "queued",
                "created_at": stamp,
                "updated_at": stamp,
            }
            export = (
                await session.execute(insert(Export).values(**values).returning(Export))
            ).scalar_one()
            await session.commit()
        try:
            await run_export.kiq(str(export.id))
        except Exception as error:  # the queue is away: the sweeper will enqueue it
            logger.warning(
                "export queued without its message",
                extra={"export_id": str(export.id), "error": type(error).__name__},
            )
        return Started(export, reused=False)

    async def _recent(self, session: AsyncSession, kind: str, stamp: datetime) -> Export | None:
        if not self.settings.export_reuse_seconds:
            return None
        youngest = stamp - timedelta(seconds=self.settings.export_reuse_seconds)
        query = (
            select(Export)
            .where(Export.kind == kind, Export.status == "succeeded")
            .where(Export.finished_at >= youngest)
            .order_by(Export.finished_at.desc())
            .limit(1)
        )
        return (await session.execute(query)).scalar_one_or_none()

    async def read(self, raw_id: str) -> Export:
        try:
            export_id = uuid.UUID(raw_id)
        except ValueError:
            raise ExportNotFound from None
        async with self.resources.autocommit_sessions() as session:
            export = await session.get(Export, export_id)
        if export is None:
            raise ExportNotFound
        return export

    async def result(self, export: Export) -> AsyncIterator[bytes]:
        """The CSV, chunk by chunk (about 1 MiB each), never all of it in memory."""
        if export.status != "succeeded":
            raise ExportNotReady(export.status)
        return self._chunks(export.id)

    async def _chunks(self, export_id: uuid.UUID) -> AsyncIterator[bytes]:
        seq = 0
        while True:
            async with self.resources.autocommit_sessions() as session:
                query = select(ExportChunk.data).where(
                    ExportChunk.export_id == export_id, ExportChunk.seq == seq
                )
                data = (await session.execute(query)).scalar_one_or_none()
            if data is None:
                return
            yield data
            seq += 1


async def get_export_service(resources: ResourcesDep) -> ExportService:
    return ExportService(resources)


ExportServiceDep = Annotated[ExportService, Depends(get_export_service)]
