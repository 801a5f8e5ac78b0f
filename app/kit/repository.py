"""A versioned model in PostgreSQL: the only SQL a resource built on the kit needs."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.models import Versioned
from app.kit.pagination import Position


def now() -> datetime:
    return datetime.now(UTC)


class Repository[M: Versioned]:
    def __init__(self, model: type[M]) -> None:
        self.model = model

    async def read(
        self, session: AsyncSession, row_id: uuid.UUID, *, for_update: bool = False
    ) -> M | None:
        statement = select(self.model).where(self.model.id == row_id)
        if for_update:  # concurrent writers of one row queue up instead of overwriting
            statement = statement.with_for_update()
        return (await session.execute(statement)).scalar_one_or_none()

    def newest_first_query(self, limit: int, before: Position | None) -> Select[M]:
        """Up to ``limit`` rows older than the ``before`` position, newest first (keyset)."""
        model = self.model
        statement = select(model).order_by(model.created_at.desc(), model.id.desc()).limit(limit)
        if before is not None:
            statement = statement.where(tuple_(model.created_at, model.id) < tuple_(*before))
        return statement

    async def newest_first(
        self, session: AsyncSession, limit: int, before: Position | None
    ) -> Sequence[M]:
        return (await session.execute(self.newest_first_query(limit, before))).scalars().all()

    async def create(self, session: AsyncSession, values: dict[str, Any]) -> M:
        stamp = now()
        row = self.model(id=uuid.uuid4(), version=1, created_at=stamp, updated_at=stamp, **values)
        session.add(row)
        await session.flush()
        return row

    async def update(self, session: AsyncSession, row: M, values: dict[str, Any]) -> M:
        for field, value in values.items():
            setattr(row, field, value)
        row.version += 1
        row.updated_at = now()
        await session.flush()
        return row

    async def delete(self, session: AsyncSession, row: M) -> None:
        await session.delete(row)
        await session.flush()
