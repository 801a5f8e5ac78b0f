"""The kit's versioned cache on a keyspace of the test's own (its own namespace and schema), so
the cache stays tested whatever resources the app has: cache-aside reads and fills, versions
that only move forward, tombstones, writes Redis missed, and keys that follow the schema."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel
from redis.exceptions import ConnectionError as RedisConnectionError

from app.core.config import Settings
from app.core.resources import Resources
from app.kit.cache import TOMBSTONE, Keyspace, VersionedCache, schema_revision

NAMESPACE = "kit-widgets"


class Widget(BaseModel):
    id: uuid.UUID
    label: str


class WidgetWithColour(BaseModel):
    id: uuid.UUID
    label: str
    colour: str


class WidgetWithNumericLabel(BaseModel):
    id: uuid.UUID
    label: int


WIDGETS = Keyspace(NAMESPACE, Widget, 60)


def body(row_id: uuid.UUID, label: str) -> bytes:
    return Widget(id=row_id, label=label).model_dump_json().encode()


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    opened = Resources.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def cache(resources: Resources) -> AsyncIterator[VersionedCache]:
    made = VersionedCache(resources.redis, resources.redis_guard, enabled=True)
    try:
        yield made
    finally:
        await made.aclose()


def lookups(result: str) -> float:
    return (
        REGISTRY.get_sample_value("cache_lookups_total", {"cache": NAMESPACE, "result": result})
        or 0.0
    )


async def test_a_written_version_reads_back(cache: VersionedCache) -> None:
    row_id = uuid.uuid4()

    await cache.update(WIDGETS, row_id, 1, body(row_id, "a"))

    assert await cache.read(WIDGETS, row_id) == body(row_id, "a")


async def test_a_miss_is_none_until_a_reader_fills_it(cache: VersionedCache) -> None:
    row_id = uuid.uuid4()
    misses, hits = lookups("miss"), lookups("hit")

    assert await cache.read(WIDGETS, row_id) is None
    await cache.fill(WIDGETS, row_id, 1, body(row_id, "a"))

    assert await cache.read(WIDGETS, row_id) == body(row_id, "a")
    assert (lookups("miss"), lookups("hit")) == (misses + 1, hits + 1)


async def test_an_entry_is_kept_for_the_keyspace_ttl(cache: VersionedCache) -> None:
    row_id = uuid.uuid4()

    await cache.fill(WIDGETS, row_id, 1, body(row_id, "a"))

    assert 0 < await cache.redis.ttl(WIDGETS.key(row_id)) <= 60


async def test_a_newer_version_replaces_the_entry(cache: VersionedCache) -> None:
    row_id = uuid.uuid4()
    await cache.fill(WIDGETS, row_id, 1, body(row_id, "a"))

    await cache.update(WIDGETS, row_id, 2, body(row_id, "b"))

    assert await cache.read(WIDGETS, row_id) == body(row_id, "b")


@pytest.mark.parametrize("version", [1, 2])
async def test_an_older_or_equal_version_never_replaces_the_entry(
    cache: VersionedCache, version: int
) -> None:
    row_id = uuid.uuid4()
    await cache.update(WIDGETS, row_id, 2, body(row_id, "new"))

    # A slow reader that read the row before the write, and a writer's repeat.
    await cache.fill(WIDGETS, row_id, version, body(row_id, "old"))
    await cache.update(WIDGETS, row_id, version, body(row_id, "old"))

    assert await cache.read(WIDGETS, row_id) == body(row_id, "new")


async def test_a_delete_leaves_a_tombstone_that_a_slow_reader_cannot_replace(
    cache: VersionedCache,
) -> None:
    row_id = uuid.uuid4()
    await cache.update(WIDGETS, row_id, 1, body(row_id, "a"))

    await cache.delete(WIDGETS, row_id, 2)
    await cache.fill(WIDGETS, row_id, 1, body(row_id, "a"))  # read before the delete

    assert await cache.read(WIDGETS, row_id) == TOMBSTONE
    assert TOMBSTONE is not None  # told apart from a miss (None) by the caller


async def test_with_the_cache_disabled_nothing_is_stored_or_served(
    resources: Resources, cache: VersionedCache
) -> None:
    row_id = uuid.uuid4()
    await cache.update(WIDGETS, row_id, 1, body(row_id, "a"))
    disabled = VersionedCache(resources.redis, resources.redis_guard, enabled=False)

    assert await disabled.read(WIDGETS, row_id) is None  # even with an entry there
    other = uuid.uuid4()
    await disabled.update(WIDGETS, other, 1, body(other, "b"))
    await disabled.fill(WIDGETS, other, 1, body(other, "b"))
    await disabled.delete(WIDGETS, row_id, 2)
    assert await resources.redis.exists(WIDGETS.key(other)) == 0
    assert await cache.read(WIDGETS, row_id) == body(row_id, "a")


async def test_while_redis_is_known_down_reads_miss_and_fills_wait(
    resources: Resources, cache: VersionedCache
) -> None:
    row_id = uuid.uuid4()
    await cache.update(WIDGETS, row_id, 1, body(row_id, "a"))
    other = uuid.uuid4()
    resources.redis_guard.cooldown_seconds = 60
    resources.redis_guard.failed("test", RedisConnectionError("down"))

    assert await cache.read(WIDGETS, row_id) is None
    await cache.fill(WIDGETS, other, 1, body(other, "b"))
    # A writer's version is stored all the same: a replaced version must not stay cached.
    await cache.update(WIDGETS, row_id, 2, body(row_id, "new"))

    assert await resources.redis.exists(WIDGETS.key(other)) == 0
    assert await resources.redis.hget(WIDGETS.key(row_id), WIDGETS.field) == body(row_id, "new")


async def test_a_write_redis_missed_is_retried_and_meanwhile_not_served(
    cache: VersionedCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_id = uuid.uuid4()
    await cache.update(WIDGETS, row_id, 1, body(row_id, "a"))
    store = cache._store_if_newer
    redis_back = asyncio.Event()
    refused = 0

    async def blip(**kwargs: Any) -> Any:
        nonlocal refused
        if not redis_back.is_set():
            refused += 1
            raise RedisConnectionError("blip")
        return await store(**kwargs)

    monkeypatch.setattr(cache, "_store_if_newer", blip)
    monkeypatch.setattr("app.kit.cache.RETRY_INTERVAL_SECONDS", 0.01)
    cache.guard.cooldown_seconds = 0  # the guard must not hide the cache from reads

    await cache.update(WIDGETS, row_id, 2, body(row_id, "b"))
    for _ in range(200):  # the write, then its retries, while Redis is away
        if refused >= 3:
            break
        await asyncio.sleep(0.01)
    assert refused >= 3

    # The old version is still in Redis, but this process does not serve it (the caller reads
    # the database) until the new one has landed.
    assert await cache.redis.hget(WIDGETS.key(row_id), WIDGETS.field) == body(row_id, "a")
    assert await cache.read(WIDGETS, row_id) is None
    redis_back.set()
    for _ in range(200):
        if await cache.read(WIDGETS, row_id) == body(row_id, "b"):
            break
        await asyncio.sleep(0.01)
    assert await cache.read(WIDGETS, row_id) == body(row_id, "b")  # the retry landed
    assert await cache.redis.hget(WIDGETS.key(row_id), WIDGETS.field) == body(row_id, "b")


def test_an_entry_is_the_namespace_and_the_id_its_body_the_schema_revisions_field() -> None:
    row_id = uuid.uuid4()

    # Under cache:, the one pattern (with ratelimit:) the cache's Redis user may touch.
    assert WIDGETS.key(row_id) == f"cache:{NAMESPACE}:{row_id.hex}"
    assert WIDGETS.field == f"b:{schema_revision(Widget)}"
    assert Keyspace(NAMESPACE, Widget, 5).field == WIDGETS.field  # stable


@pytest.mark.parametrize("changed", [WidgetWithColour, WidgetWithNumericLabel])
def test_a_changed_schema_gives_another_revision(changed: type[BaseModel]) -> None:
    assert schema_revision(changed) != schema_revision(Widget)
    assert Keyspace(NAMESPACE, changed, 60).field != WIDGETS.field


async def test_a_write_through_either_revision_replaces_the_others_body(
    cache: VersionedCache,
) -> None:
    """A rolling deploy: old and new replicas share the entry's version, so a write by one
    side is never answered by the other side's older body."""
    row_id = uuid.uuid4()
    old = Keyspace("x", Widget, 60)
    new = Keyspace("x", WidgetWithColour, 60)
    await cache.fill(old, row_id, 1, body(row_id, "v1 old shape"))
    fresh = WidgetWithColour(id=row_id, label="v1", colour="red").model_dump_json().encode()
    await cache.fill(new, row_id, 1, fresh)
    assert await cache.read(old, row_id) == body(row_id, "v1 old shape")

    changed = WidgetWithColour(id=row_id, label="v2", colour="blue").model_dump_json().encode()
    await cache.update(new, row_id, 2, changed)

    assert await cache.read(old, row_id) is None  # the old side reads the database
    assert await cache.read(new, row_id) == changed
    await cache.delete(old, row_id, 3)
    assert await cache.read(new, row_id) == TOMBSTONE


async def test_an_entry_of_an_old_schema_is_not_served_after_a_schema_change(
    cache: VersionedCache,
) -> None:
    row_id = uuid.uuid4()
    old = Keyspace("x", Widget, 60)
    new = Keyspace("x", WidgetWithColour, 60)
    await cache.update(old, row_id, 1, body(row_id, "old shape"))

    assert await cache.read(old, row_id) == body(row_id, "old shape")
    assert await cache.read(new, row_id) is None
    # ...and the new shape's entry does not have to beat the old one's version.
    fresh = WidgetWithColour(id=row_id, label="a", colour="red").model_dump_json().encode()
    await cache.fill(new, row_id, 1, fresh)
    assert await cache.read(new, row_id) == fresh
