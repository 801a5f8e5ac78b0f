"""The kit on a resource of the test's own (a table made here, not by a migration), so the kit
stays tested whatever resources the app has: reads cache-aside, pages, writes, preconditions,
conflicts and tombstones."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import Index, String, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.config import Settings
from app.core.errors import InvalidInput
from app.core.resources import Resources
from app.kit.cache import TOMBSTONE, VersionedCache
from app.kit.conditional import Conditions, PreconditionFailed
from app.kit.errors import Conflict, NotFound
from app.kit.models import Versioned, keyset_index
from app.kit.pagination import Page
from app.kit.service import VersionedService
from tests.unit.support import database


class KitBase(DeclarativeBase):
    """Not the app's Base: the migrations and their check never see this table."""


class Widget(Versioned, KitBase):
    __tablename__ = "kit_widgets"

    label: Mapped[str] = mapped_column(String(50))

    __table_args__ = (
        Index("uq_kit_widgets_label", "label", unique=True),
        keyset_index(__tablename__),
    )


class WidgetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    label: str
    version: int


class WidgetPage(Page[WidgetOut]):
    pass


class WidgetMissing(NotFound):
    def __init__(self) -> None:
        super().__init__("no such widget")


class LabelTaken(Conflict):
    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(f"label {values['label']} is taken")


@pytest.fixture
async def widgets(settings: Settings) -> AsyncIterator[VersionedService[Widget, WidgetOut]]:
    async with database(settings) as connection:
        await connection.run_sync(KitBase.metadata.create_all)
    resources = Resources.open(settings)
    cache = VersionedCache(
        resources.redis, resources.redis_guard, "widgets", ttl_seconds=60, enabled=True
    )
    try:
        yield VersionedService(
            resources,
            model=Widget,
            schema=WidgetOut,
            page=WidgetPage,
            cache=cache,
            not_found=WidgetMissing,
            conflicts={"uq_kit_widgets_label": LabelTaken},
        )
    finally:
        await resources.close()
        async with database(settings) as connection:
            await connection.run_sync(KitBase.metadata.drop_all)


Widgets = VersionedService[Widget, WidgetOut]


async def test_a_created_row_reads_back_from_the_cache(widgets: Widgets) -> None:
    row_id, created = await widgets.create({"label": "a"})

    assert await widgets.cache.read(row_id) == created.body
    assert (await widgets.read(str(row_id))).body == created.body


async def test_a_read_fills_the_cache_after_a_miss(widgets: Widgets) -> None:
    row_id, created = await widgets.create({"label": "a"})
    await widgets.cache.redis.delete(widgets.cache.key(row_id))

    assert (await widgets.read(str(row_id))).body == created.body
    assert await widgets.cache.read(row_id) == created.body


async def test_an_update_bumps_the_version_and_replaces_the_cached_entry(widgets: Widgets) -> None:
    row_id, created = await widgets.create({"label": "a"})

    updated = await widgets.update(str(row_id), {"label": "b"}, Conditions(if_match=created.etag))

    assert WidgetOut.model_validate_json(updated.body).version == 2
    assert (await widgets.read(str(row_id))).body == updated.body


async def test_a_stale_if_match_is_refused_and_changes_nothing(widgets: Widgets) -> None:
    row_id, created = await widgets.create({"label": "a"})
    await widgets.update(str(row_id), {"label": "b"})

    with pytest.raises(PreconditionFailed):
        await widgets.update(str(row_id), {"label": "c"}, Conditions(if_match=created.etag))
    with pytest.raises(PreconditionFailed):
        await widgets.delete(str(row_id), Conditions(if_match=created.etag))
    assert WidgetOut.model_validate_json((await widgets.read(str(row_id))).body).label == "b"


async def test_a_delete_leaves_a_tombstone_that_a_slow_reader_cannot_replace(
    widgets: Widgets,
) -> None:
    row_id, created = await widgets.create({"label": "a"})

    await widgets.delete(str(row_id))
    await widgets.cache.fill(row_id, 1, created.body)  # a reader that read before the delete

    assert await widgets.cache.read(row_id) == TOMBSTONE
    with pytest.raises(WidgetMissing):
        await widgets.read(str(row_id))


async def test_unknown_and_malformed_ids_are_not_found(widgets: Widgets) -> None:
    for raw in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(WidgetMissing):
            await widgets.read(raw)
        with pytest.raises(WidgetMissing):
            await widgets.update(raw, {"label": "x"})


async def test_a_named_unique_constraint_is_its_conflict(widgets: Widgets) -> None:
    await widgets.create({"label": "a"})

    with pytest.raises(LabelTaken, match="label a is taken"):
        await widgets.create({"label": "a"})


async def test_pages_walk_every_row_once_newest_first(widgets: Widgets) -> None:
    created = [str((await widgets.create({"label": f"w{n}"}))[0]) for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        page = WidgetPage.model_validate_json(await widgets.page(2, cursor))
        seen += [str(row.id) for row in page.items]
        if (cursor := page.next_cursor) is None:
            break

    assert seen == created[::-1]


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", "WyIyMDI2LTAxLTAxIiwgIngiXQ"])
async def test_a_bad_cursor_is_invalid_input(widgets: Widgets, cursor: str) -> None:
    with pytest.raises(InvalidInput):
        await widgets.page(2, cursor)


async def test_with_the_cache_disabled_every_read_goes_to_the_database(
    widgets: Widgets, settings: Settings
) -> None:
    widgets.cache.enabled = False
    row_id, _ = await widgets.create({"label": "a"})
    async with database(settings) as connection:
        await connection.execute(text("DELETE FROM kit_widgets"))

    with pytest.raises(WidgetMissing):
        await widgets.read(str(row_id))


async def test_a_write_redis_missed_is_retried_and_meanwhile_read_from_the_database(
    widgets: Widgets, monkeypatch: pytest.MonkeyPatch
) -> None:
    row_id, _ = await widgets.create({"label": "a"})
    await widgets.read(str(row_id))  # cached
    store = widgets.cache._store_if_newer
    failures = 3

    async def blip(**kwargs: Any) -> Any:
        nonlocal failures
        if failures:
            failures -= 1
            raise RedisConnectionError("blip")
        return await store(**kwargs)

    monkeypatch.setattr(widgets.cache, "_store_if_newer", blip)
    monkeypatch.setattr("app.kit.cache.RETRY_INTERVAL_SECONDS", 0.01)
    widgets.cache.guard.cooldown_seconds = 0  # the guard must not hide the cache from reads
    updated = await widgets.update(str(row_id), {"label": "b"})

    assert (await widgets.read(str(row_id))).body == updated.body  # from Postgres meanwhile
    for _ in range(100):
        if await widgets.cache.read(row_id) == updated.body:
            break
        await asyncio.sleep(0.01)
    assert await widgets.cache.read(row_id) == updated.body  # the retry landed
