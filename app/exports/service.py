"""Starting an export, reading its state, and streaming its result."""

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy import insert, select

from app.core.resources import Resources, ResourcesDep
from app.exports.models import Export, ExportChunk
from app.exports.producer import now
from app.exports.tasks import run_export
from app.kit.problems import Conflict, NotFound

logger = logging.getLogger(__name__)


class ExportNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No export has this id.")


class ExportNotReady(Conflict):
    def __init__(self, status: str) -> None:
        super().__init__(
            f"The export is {status}: its result can be downloaded once it has succeeded."
        )


class ExportService:
    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def start(self, kind: str) -> Export:
        """The export's record first (committed: the source of truth), then its message. If the
        queue cannot take the message now, the export stays queued and the sweeper sends it."""
        stamp = now()
        values = {
            "id": uuid.uuid4(),
            "kind": kind,
            "status": "queued",
            "created_at": stamp,
            "updated_at": stamp,
        }
        async with self.resources.sessions() as session:
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
        return export

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
