"""A versioned resource's use cases, once for every resource: reads served cache-aside, pages
walked by keyset, and writes that commit, then update the cache, under If-Match preconditions.
A resource configures it with its model, its output schema and its own problems."""

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.dependency_errors import constraint_name
from app.core.errors import ProblemError
from app.core.resources import Resources
from app.kit.cache import TOMBSTONE, VersionedCache
from app.kit.conditional import UNCONDITIONAL, Conditions, Representation
from app.kit.models import Versioned
from app.kit.pagination import Page, decode_cursor, split_page
from app.kit.repository import Repository

# A unique constraint's name → the problem a clash on it is, given the values written.
Conflicts = Mapping[str, Callable[[dict[str, Any]], ProblemError]]


class VersionedService[M: Versioned, O: BaseModel]:
    def __init__(  # noqa: PLR0913 - keyword-only configuration, named at the call
        self,
        resources: Resources,
        *,
        model: type[M],
        schema: type[O],
        page: type[Page[O]],
        cache: VersionedCache,
        not_found: Callable[[], ProblemError],
        conflicts: Conflicts,
    ) -> None:
        self.sessions = resources.sessions
        # Autocommit connections: a statement that stands alone needs no BEGIN and COMMIT.
        self.single_statements = resources.single_statements
        self.repository = Repository(model)
        self.schema = schema
        self.cache = cache
        resources.on_close(cache.aclose)
        self.not_found = not_found
        self.conflicts = conflicts
        self.page_schema = page
        self._one = TypeAdapter(schema)

    def represent(self, row: M | Row[Any]) -> Representation:
        return Representation(self._one.dump_json(self.schema.model_validate(row)))

    def parse_id(self, raw: str) -> uuid.UUID:
        """A malformed id names no row: 404, like an unknown one."""
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise self.not_found() from None

    async def read(self, raw_id: str) -> Representation:
        row_id = self.parse_id(raw_id)
        cached = await self.cache.read(row_id)
        if cached == TOMBSTONE:
            raise self.not_found()
        if cached is not None:
            return Representation(cached)
        async with self.single_statements.connect() as connection:
            row = await self.repository.read_row(connection, row_id)
        if row is None:
            raise self.not_found()
        representation, version = self.represent(row), row.version
        await self.cache.fill(row_id, version, representation.body)
        return representation

    async def page(self, limit: int, cursor: str | None) -> bytes:
        before = decode_cursor(cursor) if cursor is not None else None
        async with self.single_statements.connect() as connection:
            rows = await self.repository.newest_first_rows(connection, limit + 1, before)
        items, next_cursor = split_page(rows, limit)
        page = self.page_schema(
            items=[self.schema.model_validate(row) for row in items], next_cursor=next_cursor
        )
        return page.model_dump_json().encode()

    async def create(self, values: dict[str, Any]) -> tuple[uuid.UUID, Representation]:
        # One INSERT ... RETURNING in autocommit: one round trip instead of BEGIN, INSERT and
        # COMMIT, and the representation is of the row as stored (bench/README.md, "create").
        connection = self.single_statements.connect()
        async with connection, self._conflicts_as_problems(values):
            row = await self.repository.insert_row(connection, values)
        representation = self.represent(row)
        await self.cache.update(row.id, row.version, representation.body)
        return row.id, representation

    async def update(
        self, raw_id: str, values: dict[str, Any], conditions: Conditions = UNCONDITIONAL
    ) -> Representation:
        row_id = self.parse_id(raw_id)
        async with self.sessions() as session, self._conflicts_as_problems(values):
            row = await self._locked(session, row_id, conditions)
            await self.repository.update(session, row, values)
            await session.commit()
            representation, version = self.represent(row), row.version
        await self.cache.update(row_id, version, representation.body)
        return representation

    async def delete(self, raw_id: str, conditions: Conditions = UNCONDITIONAL) -> None:
        row_id = self.parse_id(raw_id)
        async with self.sessions() as session:
            row = await self._locked(session, row_id, conditions)
            deleted_version = row.version + 1
            await self.repository.delete(session, row)
            await session.commit()
        await self.cache.delete(row_id, deleted_version)

    @asynccontextmanager
    async def _conflicts_as_problems(self, values: dict[str, Any]) -> AsyncIterator[None]:
        """A clash on a unique constraint the resource named becomes its problem (409)."""
        try:
            yield
        except IntegrityError as error:
            conflict = self.conflicts.get(constraint_name(error) or "")
            if conflict is None:
                raise
            raise conflict(values) from error

    async def _locked(self, session: AsyncSession, row_id: uuid.UUID, conditions: Conditions) -> M:
        row = await self.repository.read(session, row_id, for_update=True)
        if row is None:
            raise self.not_found()
        conditions.require_match(self.represent(row))
        return row
