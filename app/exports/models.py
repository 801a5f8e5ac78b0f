import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base

STATUSES = ("queued", "running", "succeeded", "failed")


class Export(Base):
    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Which registered export it is (app.exports.registry): "items", say.
    kind: Mapped[str] = mapped_column(String(50))
    # The id of the API key that asked for it (app/core/security.py): kept across the key's
    # rotation, never its secret. Null for an export from before migration 0005.
    key_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(default=0)  # progress, then the total
    size_bytes: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        # The sweeper's and the retention task's queries.
        Index("ix_exports_status_updated_at", "status", "updated_at"),
        Index("ix_exports_finished_at", "finished_at"),
        # The per-key count of exports under way.
        Index("ix_exports_key_id_status", "key_id", "status"),
    )


class ExportChunk(Base):
    """A succeeded export's CSV, in pieces of about 1 MiB, streamed in ``seq`` order."""

    __tablename__ = "export_chunks"

    export_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("exports.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
