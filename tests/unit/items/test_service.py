"""ItemService on its own, each call in a session of its own as each request has: reads
cache-aside, writes that replace the cached version, preconditions, conflicts and tombstones.
(The cache itself is tested in tests/unit/kit/test_cache.py.)"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import text

from app.core.config import Settings
from app.core.errors import InvalidInput
from app.core.resources import Resources
from app.items.exceptions import ItemNameTaken, ItemNotFound
from app.items.schemas import ItemCreate, ItemOut, ItemPage, ItemUpdate
from app.items.service import ITEMS_CACHE, ItemService, serialized
from app.kit.cache import TOMBSTONE, VersionedCache
from app.kit.http import PreconditionFailed, etag
from tests.unit.support import database


class Items:
    """ItemService as the API uses it: one service over one session per call."""

    def __init__(self, resources: Resources, cache: VersionedCache) -> None:
        self.resources = resources
        self.cache = cache

    async def read(self, item_id: uuid.UUID) -> bytes:
        async with self.resources.autocommit_sessions() as session:
            return await ItemService(session, self.cache).read(item_id)

    async def page(self, limit: int, cursor: str | None) -> ItemPage:
        async with self.resources.autocommit_sessions() as session:
            return await ItemService(session, self.cache).page(limit, cursor)

    async def create(self, **fields: Any) -> ItemOut:
        data = ItemCreate.model_validate({"price": "1"} | fields)
        async with self.resources.sessions() as session:
            return await ItemService(session, self.cache).create(data)

    async def update(
        self, item_id: uuid.UUID, if_match: str | None = None, **changes: Any
    ) -> ItemOut:
        data = ItemUpdate.model_validate(changes)
        async with self.resources.sessions() as session:
            return await ItemService(session, self.cache).update(item_id, data, if_match)

    async def delete(self, item_id: uuid.UUID, if_match: str | None = None) -> None:
        async with self.resources.sessions() as session:
            await ItemService(session, self.cache).delete(item_id, if_match)


@pytest.fixture
async def items(settings: Settings) -> AsyncIterator[Items]:
    resources = Resources.open(settings)
    cache = VersionedCache(resources.redis, resources.redis_guard, enabled=True)
    try:
        yield Items(resources, cache)
    finally:
        await cache.aclose()
        await resources.close()


async def version_in_database(settings: Settings, item_id: uuid.UUID) -> int:
    async with database(settings, commit=False) as connection:
        statement = text("SELECT version FROM items WHERE id = :id")
        return int((await connection.execute(statement, {"id": item_id})).scalar_one())


async def cached_version(items: Items, item_id: uuid.UUID) -> int:
    version = await items.cache.redis.hget(ITEMS_CACHE.key(item_id), "v")
    assert version is not None
    return int(version)


async def test_a_created_item_reads_back_from_the_cache(items: Items, settings: Settings) -> None:
    created = await items.create(name="a")

    assert await items.cache.read(ITEMS_CACHE, created.id) == serialized(created)
    async with database(settings) as connection:  # only the cache has it now
        await connection.execute(text("DELETE FROM items"))
    assert await items.read(created.id) == serialized(created)


async def test_a_read_fills_the_cache_after_a_miss(items: Items) -> None:
    created = await items.create(name="a")
    await items.cache.redis.delete(ITEMS_CACHE.key(created.id))

    assert await items.read(created.id) == serialized(created)
    assert await items.cache.read(ITEMS_CACHE, created.id) == serialized(created)
    assert await cached_version(items, created.id) == 1


async def test_an_update_bumps_the_version_and_replaces_the_cached_entry(
    items: Items, settings: Settings
) -> None:
    created = await items.create(name="a")
    await items.read(created.id)  # cached

    updated = await items.update(created.id, etag(serialized(created)), name="b")

    assert updated.name == "b"
    assert await version_in_database(settings, created.id) == 2
    assert await cached_version(items, created.id) == 2
    assert await items.read(created.id) == serialized(updated)


async def test_a_stale_if_match_is_refused_and_changes_nothing(
    items: Items, settings: Settings
) -> None:
    created = await items.create(name="a")
    updated = await items.update(created.id, name="b")

    with pytest.raises(PreconditionFailed):
        await items.update(created.id, etag(serialized(created)), name="c")
    with pytest.raises(PreconditionFailed):
        await items.delete(created.id, etag(serialized(created)))

    assert await items.read(created.id) == serialized(updated)
    assert await version_in_database(settings, created.id) == 2
    await items.delete(created.id, etag(serialized(updated)))  # the current tag passes


async def test_a_delete_leaves_a_tombstone_that_a_slow_reader_cannot_replace(
    items: Items,
) -> None:
    created = await items.create(name="a")

    await items.delete(created.id)
    # A reader that read the row before the delete, filling the cache after it.
    await items.cache.fill(ITEMS_CACHE, created.id, 1, serialized(created))

    assert await items.cache.read(ITEMS_CACHE, created.id) == TOMBSTONE
    with pytest.raises(ItemNotFound):
        await items.read(created.id)


async def test_an_unknown_id_is_not_found(items: Items) -> None:
    unknown = uuid.uuid4()

    with pytest.raises(ItemNotFound):
        await items.read(unknown)
    with pytest.raises(ItemNotFound):
        await items.update(unknown, name="x")
    with pytest.raises(ItemNotFound):
        await items.delete(unknown)
    assert await items.cache.redis.exists(ITEMS_CACHE.key(unknown)) == 0


async def test_a_taken_name_is_its_conflict_on_create_and_update(items: Items) -> None:
    await items.create(name="Lamp")
    other = await items.create(name="Chair")

    with pytest.raises(ItemNameTaken, match="'lamp'"):
        await items.create(name="lamp")
    with pytest.raises(ItemNameTaken, match="'LAMP'"):
        await items.update(other.id, name="LAMP")
    assert (await items.update(other.id, name="CHAIR")).name == "CHAIR"  # not with itself


async def test_pages_walk_every_item_once_newest_first(items: Items) -> None:
    created = [(await items.create(name=f"w{n}")).id for n in range(5)]
    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await items.page(2, cursor)
        assert len(page.items) <= 2
        seen += [item.id for item in page.items]
        if (cursor := page.next_cursor) is None:
            break

    assert seen == created[::-1]


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", "WyIyMDI2LTAxLTAxIiwgIngiXQ"])
async def test_a_bad_cursor_is_invalid_input(items: Items, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        await items.page(2, cursor)


async def test_with_the_cache_disabled_every_read_goes_to_the_database(
    items: Items, settings: Settings
) -> None:
    items.cache.enabled = False
    created = await items.create(name="a")
    assert await items.read(created.id) == serialized(created)
    async with database(settings) as connection:
        await connection.execute(text("DELETE FROM items"))

    with pytest.raises(ItemNotFound):
        await items.read(created.id)


async def test_a_write_redis_missed_is_retried_and_meanwhile_read_from_the_database(
    items: Items, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await items.create(name="a")
    store = items.cache._store_if_newer
    redis_back = asyncio.Event()

    async def blip(**kwargs: Any) -> Any:
        if not redis_back.is_set():
            raise RedisConnectionError("blip")
        return await store(**kwargs)

    monkeypatch.setattr(items.cache, "_store_if_newer", blip)
    monkeypatch.setattr("app.kit.cache.RETRY_INTERVAL_SECONDS", 0.01)
    items.cache.guard.cooldown_seconds = 0  # the guard must not hide the cache from reads
    updated = await items.update(created.id, name="b")

    # Redis still holds the replaced version; the read comes from Postgres meanwhile.
    stale = await items.cache.redis.hget(ITEMS_CACHE.key(created.id), ITEMS_CACHE.field)
    assert stale == serialized(created)
    assert await items.read(created.id) == serialized(updated)
    redis_back.set()
    for _ in range(200):
        if await items.cache.read(ITEMS_CACHE, created.id) == serialized(updated):
            break
        await asyncio.sleep(0.01)
    assert await items.cache.read(ITEMS_CACHE, created.id) == serialized(updated)
    assert await cached_version(items, created.id) == 2
