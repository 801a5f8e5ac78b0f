"""A versioned model in PostgreSQL: the only SQL a resource built on the kit needs."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, Select, insert, inspect, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.kit.models import Versioned
from app.kit.pagination import Position


def now() -> datetime:
    return datetime.now(UTC)


class Repository[M: Versioned]:
    def __init__(self, model: type[M]) -> None:
        self.model = model
        # The hot reads select the table's columns in Core, not ORM objects: no unit of work,
        # identity map or instance to build for a row that is only serialized
        # (bench/README.md, "hot reads in Core"). A Row reads like the object it replaces.
        table = inspect(model).local_table
        self._columns = select(table)
        self._insert = insert(table).returning(*table.columns)

    async def read_row(self, connection: AsyncConnection, row_id: uuid.UUID) -> Row[Any] | None:
        statement = self._columns.where(self.model.id == row_id)
        return (await connection.execute(statement)).first()

    async def newest_first_rows(
        self, connection: AsyncConnection, limit: int, before: Position | None
    ) -> Sequence[Row[Any]]:
        """``newest_first``'s rows, in Core."""
        statement = self._keyset(self._columns, limit, before)
        return (await connection.execute(statement)).all()

    async def read(
        self, session: AsyncSession, row_id: uuid.UUID, *, for_update: bool = False
    ) -> M | None:
        statement = select(self.model).where(self.model.id == row_id)
        if for_update:  # concurrent writers of one row queue up instead of overwriting
            statement = statement.with_for_update()
        return (await session.execute(statement)).scalar_one_or_none()

    def newest_first_query(self, limit: int, before: Position | None) -> Select[M]:
        """Up to ``limit`` rows older than the ``before`` position, newest first (keyset)."""
        return self._keyset(select(self.model), limit, before)

    def _keyset[S: Select[Any]](self, statement: S, limit: int, before: Position | None) -> S:
        model = self.model
        statement = statement.order_by(model.created_at.desc(), model.id.desc()).limit(limit)
        if before is not None:
            statement = statement.where(tuple_(model.created_at, model.id) < tuple_(*before))
        return statement

    async def newest_first(
        self, session: AsyncSession, limit: int, before: Position | None
    ) -> Sequence[M]:
        return (await session.execute(self.newest_first_query(limit, before))).scalars().all()

    async def insert_row(self, connection: AsyncConnection, values: dict[str, Any]) -> Row[Any]:
        """A new row (version 1): one INSERT ... RETURNING, the row as stored."""
        stamp = now()
        statement = self._insert.values(
            id=uuid.uuid4(), version=1, created_at=stamp, updated_at=stamp, **values
        )
        return (await connection.execute(statement)).one()

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
