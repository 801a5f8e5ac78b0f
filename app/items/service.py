"""What the items API does, one method per use case, over the request's unit of work (one
session, committed once by the method that writes). Reads are served from the cache when it
holds the item; every write updates it after the commit."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError

from app.core.outages import constraint_name
from app.core.resources import SessionDep
from app.items import queries
from app.items.config import ItemSettings
from app.items.exceptions import ItemNameTaken, ItemNotFound
from app.items.models import NAME_INDEXES, Item
from app.items.schemas import ItemCreate, ItemOut, ItemPage, ItemUpdate
from app.kit.cache import TOMBSTONE, CacheDep, Keyspace, VersionedCache
from app.kit.fields import look_alike_key
from app.kit.http import etag, require_match
from app.kit.pagination import decode_cursor, split_page

# Read items in Redis, under a key that changes with ItemOut's shape. Settings are read once,
# at start-up: a bad ITEM_CACHE_TTL_SECONDS stops the app before it serves.
ITEMS_CACHE = Keyspace("items", ItemOut, ItemSettings.load().item_cache_ttl_seconds)


def serialized(item: ItemOut) -> bytes:
    """The bytes FastAPI sends for this item, which the ETag and the cache hold."""
    return item.model_dump_json().encode()


@contextmanager
def name_taken_as_conflict(name: str | None) -> Iterator[None]:
    """A clash on the unique name index is the client's conflict (409), not a bug."""
    try:
        yield
    except IntegrityError as error:
        if constraint_name(error) in NAME_INDEXES:
            raise ItemNameTaken(name) from error
        raise


class ItemService:
    def __init__(self, session: SessionDep, cache: VersionedCache) -> None:
        self.session = session
        self.cache = cache

    async def read(self, item_id: uuid.UUID) -> bytes:
        """The item as sent: from the cache, else from Postgres (then cached)."""
        cached = await self.cache.read(ITEMS_CACHE, item_id)
        if cached == TOMBSTONE:
            raise ItemNotFound
        if cached is not None:
            return cached
        connection = await self.session.connection()
        row = (await connection.execute(queries.BY_ID, {"item_id": item_id})).first()
        if row is None:
            raise ItemNotFound
        body = serialized(ItemOut.model_validate(row))
        await self.cache.fill(ITEMS_CACHE, item_id, row.version, body)
        return body

    async def page(self, limit: int, cursor: str | None) -> ItemPage:
        before = decode_cursor(cursor) if cursor is not None else None
        statement, values = queries.PAGES.page(limit + 1, before)
        connection = await self.session.connection()
        rows = (await connection.execute(statement, values)).all()
        items, next_cursor = split_page(rows, limit)
        return ItemPage(
            items=[ItemOut.model_validate(row) for row in items], next_cursor=next_cursor
        )

    async def create(self, data: ItemCreate) -> ItemOut:
        # One INSERT is atomic on its own: sent in autocommit, it is one round trip, with no
        # BEGIN and COMMIT around it (docs/decisions, 0005).
        autocommit = {"isolation_level": "AUTOCOMMIT"}
        connection = await self.session.connection(execution_options=autocommit)
        now = datetime.now(UTC)
        values = {
            "id": uuid.uuid4(),
            "name_key": look_alike_key(data.name),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        with name_taken_as_conflict(data.name):
            row = (await connection.execute(queries.INSERT, data.model_dump() | values)).one()
        return await self._cached(row)

    async def update(
        self, item_id: uuid.UUID, changes: ItemUpdate, if_match: str | None
    ) -> ItemOut:
        item = await self._locked(item_id, if_match)
        for field, value in changes.model_dump(exclude_unset=True).items():
            setattr(item, field, value)
        if changes.name is not None:
            item.name_key = look_alike_key(changes.name)
        item.version += 1
        item.updated_at = datetime.now(UTC)
        with name_taken_as_conflict(changes.name):
            await self.session.commit()
        return await self._cached(item)

    async def delete(self, item_id: uuid.UUID, if_match: str | None) -> None:
        item = await self._locked(item_id, if_match)
        await self.session.delete(item)
        await self.session.commit()
        await self.cache.delete(ITEMS_CACHE, item_id, item.version + 1)

    async def _locked(self, item_id: uuid.UUID, if_match: str | None) -> Item:
        """The item, locked until the commit, if the client's If-Match still names it."""
        item = (await self.session.execute(queries.FOR_UPDATE, {"item_id": item_id})).scalar()
        if item is None:
            raise ItemNotFound
        require_match(if_match, etag(serialized(ItemOut.model_validate(item))))
        return item

    async def _cached(self, item: Item | Row[Any]) -> ItemOut:
        """The committed item, as answered and as the cache now holds it."""
        answer = ItemOut.model_validate(item)
        await self.cache.update(ITEMS_CACHE, item.id, item.version, serialized(answer))
        return answer


async def get_item_service(session: SessionDep, cache: CacheDep) -> ItemService:
    return ItemService(session, cache)


ItemServiceDep = Annotated[ItemService, Depends(get_item_service)]
