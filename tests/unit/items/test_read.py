import uuid
from datetime import datetime

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import BaseModel
from sqlalchemy import text

from app.core.config import Settings
from app.core.redis import RedisGuard
from app.items.schemas import ItemOut
from app.items.service import ITEMS_CACHE
from app.kit.cache import Keyspace, VersionedCache, schema_revision
from app.main import create_app
from tests.unit.items.conftest import ITEMS, CreateItem, cache_client, forget_cached
from tests.unit.support import WRITE_HEADERS, changed, database, serve


async def delete_behind_the_apis_back(settings: Settings, item_id: str) -> None:
    async with database(settings) as connection:
        await connection.execute(text("DELETE FROM items WHERE id = :id"), {"id": item_id})


async def test_read_answers_the_item_with_a_strong_etag(
    client: AsyncClient, create_item: CreateItem
) -> None:
    item = await create_item(name="Chair", price="40")

    response = await client.get(f"{ITEMS}/{item['id']}")

    assert response.status_code == 200
    assert response.json() == item
    etag = response.headers["etag"]
    assert etag.startswith('"')  # strong: no W/ prefix
    assert response.headers["cache-control"] == "no-cache"


async def test_if_none_match_with_the_current_tag_is_304(
    client: AsyncClient, create_item: CreateItem
) -> None:
    item = await create_item()
    etag = (await client.get(f"{ITEMS}/{item['id']}")).headers["etag"]

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(f"{ITEMS}/{item['id']}", headers={"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag

    stale = await client.get(f"{ITEMS}/{item['id']}", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200


@pytest.mark.parametrize("item_id", [str(uuid.uuid4()), "not-a-uuid", "1", "%00", "x" * 300])
async def test_an_unknown_or_malformed_id_is_a_404_problem(
    client: AsyncClient, item_id: str
) -> None:
    response = await client.get(f"{ITEMS}/{item_id}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_repeated_read_is_served_from_redis(
    client: AsyncClient, create_item: CreateItem, settings: Settings
) -> None:
    item = await create_item()
    await client.get(f"{ITEMS}/{item['id']}")
    await delete_behind_the_apis_back(settings, item["id"])

    # Postgres no longer has it; only the cache can answer.
    response = await client.get(f"{ITEMS}/{item['id']}")

    assert response.status_code == 200
    assert response.json() == item


async def test_with_the_cache_off_every_read_goes_to_postgres(
    app: FastAPI, create_item: CreateItem, settings: Settings
) -> None:
    uncached = changed(settings, cache_enabled=False)
    async with serve(create_app(uncached)) as http:
        created = await http.post(ITEMS, json={"name": "n", "price": "1"}, headers=WRITE_HEADERS)
        item_id = created.json()["id"]
        assert (await http.get(f"{ITEMS}/{item_id}")).status_code == 200
        await delete_behind_the_apis_back(settings, item_id)

        assert (await http.get(f"{ITEMS}/{item_id}")).status_code == 404


async def test_with_redis_down_the_api_keeps_serving_from_postgres(
    settings: Settings, unreachable_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    down = changed(settings, redis_url=f"redis://127.0.0.1:{unreachable_port}/0")
    async with serve(create_app(down)) as http:
        created = await http.post(ITEMS, json={"name": "n", "price": "1"}, headers=WRITE_HEADERS)
        item_id = created.json()["id"]
        read = await http.get(f"{ITEMS}/{item_id}")
        patched = await http.patch(f"{ITEMS}/{item_id}", json={"price": "2"}, headers=WRITE_HEADERS)
        listed = await http.get(ITEMS)
        deleted = await http.delete(f"{ITEMS}/{item_id}", headers=WRITE_HEADERS)

    assert created.status_code == 201
    assert read.status_code == 200
    assert patched.json()["price"] == "2.00"
    assert listed.status_code == 200
    assert deleted.status_code == 204
    assert "ratelimit-limit" not in read.headers  # the limiter failed open
    warnings = [r for r in caplog.records if r.name == "app.redis"]
    assert warnings, "the outage is logged"
    assert len(warnings) < 5, "but not once per call"


class ItemOutBefore(BaseModel):
    """ItemOut as it was before it had a description."""

    id: uuid.UUID
    name: str
    price: str
    created_at: datetime
    updated_at: datetime


async def test_an_entry_cached_under_an_older_schema_is_never_served(
    client: AsyncClient, create_item: CreateItem, settings: Settings
) -> None:
    item = await create_item(name="Current", description="new field")
    item_id = uuid.UUID(item["id"])
    await forget_cached(settings, item["id"])
    before = Keyspace(ITEMS_CACHE.namespace, ItemOutBefore, 60)
    stale = ItemOutBefore.model_validate(item | {"name": "Old shape"}).model_dump_json().encode()
    redis = cache_client(settings)
    cache = VersionedCache(redis, RedisGuard(redis, 1), enabled=True)
    try:
        # At the row's own version, so only the revision can keep it from being served.
        await cache.update(before, item_id, 1, stale)

        response = await client.get(f"{ITEMS}/{item['id']}")

        assert ITEMS_CACHE.field == f"b:{schema_revision(ItemOut)}"
        assert before.field != ITEMS_CACHE.field
        assert response.json() == item
        assert await cache.read(ITEMS_CACHE, item_id) == response.content  # refilled
        assert await cache.read(before, item_id) == stale  # the other revision's, untouched
    finally:
        await cache.aclose()
        await redis.aclose()
