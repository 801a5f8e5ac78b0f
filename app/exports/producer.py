"""One export, produced: the rows streamed from Postgres in batches into RFC 4180 CSV, stored in
chunks, and the export marked succeeded, all in one transaction, so a result is whole or absent.

At-least-once delivery means a job may run twice, even at once: an advisory lock on the
export's id makes a second run wait for the first, and then find it succeeded and do nothing.
Progress is written beside that transaction (autocommit), so the status endpoint can show it.
"""

import csv
import io
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.resources import Resources
from app.exports.config import ExportSettings
from app.exports.models import Export, ExportChunk
from app.exports.registry import EXPORTS

CHUNK_BYTES = 1024 * 1024


class PermanentFailure(Exception):
    """Retrying cannot help: the export fails with this reason."""


def now() -> datetime:
    return datetime.now(UTC)


async def set_fields(resources: Resources, export_id: uuid.UUID, **values: object) -> int:
    """Update the export at once, visible to every reader (autocommit); the rows changed."""
    async with resources.autocommit_sessions() as session:
        statement = update(Export).where(Export.id == export_id).values(updated_at=now(), **values)
        result = await session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]


# A cell a spreadsheet would read as a formula (or a formula after a tab or a line break):
# = + - @, a tab, a carriage return, and the full-width = + - @ that some spreadsheets fold.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def as_text_cell(cell: str) -> str:
    """A cell a spreadsheet shows as the text it is, never runs (OWASP, CSV injection): one
    that starts like a formula gets a leading apostrophe, which spreadsheets read as "text"."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


class ChunkWriter:
    """CSV lines in, chunks of about CHUNK_BYTES out, into the export's transaction."""

    def __init__(self, session: AsyncSession, export_id: uuid.UUID, max_bytes: int) -> None:
        self.session = session
        self.export_id = export_id
        self.max_bytes = max_bytes
        self.buffer = io.StringIO()
        self.csv = csv.writer(self.buffer, lineterminator="\r\n")  # RFC 4180
        self.pending = b""
        self.seq = 0
        self.size = 0

    async def write(self, row: Sequence[str]) -> None:
        self.csv.writerow([as_text_cell(cell) for cell in row])
        if self.buffer.tell() >= CHUNK_BYTES:
            await self._drain()

    async def close(self) -> None:
        await self._drain(final=True)

    async def _drain(self, *, final: bool = False) -> None:
        data = self.buffer.getvalue().encode()
        self.buffer.seek(0)
        self.buffer.truncate()
        self.size += len(data)
        if self.size > self.max_bytes:
            raise PermanentFailure(f"the result is over EXPORT_MAX_BYTES ({self.max_bytes} bytes)")
        self.pending += data
        while len(self.pending) >= CHUNK_BYTES or (final and self.pending):
            piece, self.pending = self.pending[:CHUNK_BYTES], self.pending[CHUNK_BYTES:]
            values = {"export_id": self.export_id, "seq": self.seq, "data": piece}
            await self.session.execute(insert(ExportChunk).values(**values))
            self.seq += 1


async def produce(resources: Resources, export_id: uuid.UUID, settings: ExportSettings) -> None:
    """One attempt. Raises what failed; a transient failure is retried by the caller."""
    async with resources.sessions() as session:
        lock = text("SELECT pg_advisory_xact_lock(hashtextextended(:id, 0))")
        await session.execute(lock, {"id": str(export_id)})
        export = await session.get(Export, export_id)
        if export is None or export.status in ("succeeded", "failed"):
            return  # done already (a duplicate delivery), or deleted
        definition = EXPORTS.get(export.kind)
        if definition is None:
            raise PermanentFailure(f"no export of kind {export.kind!r} is registered")
        await set_fields(
            resources,
            export_id,
            status="running",
            attempts=Export.attempts + 1,
            started_at=export.started_at or now(),
        )
        await session.execute(delete(ExportChunk).where(ExportChunk.export_id == export_id))
        writer = ChunkWriter(session, export_id, settings.export_max_bytes)
        await writer.write(definition.header)
        rows = 0
        result = await session.stream(definition.query())
        async for batch in result.partitions(settings.export_batch_rows):
            for row in batch:
                await writer.write(definition.fields(row[0]))
            rows += len(batch)
            await set_fields(resources, export_id, rows=rows)
        await writer.close()
        done = update(Export).where(Export.id == export_id, Export.status != "succeeded")
        finished = now()
        await session.execute(
            done.values(
                status="succeeded",
                rows=rows,
                size_bytes=writer.size,
                error=None,
                finished_at=finished,
                updated_at=finished,
            )
        )
        await session.commit()
