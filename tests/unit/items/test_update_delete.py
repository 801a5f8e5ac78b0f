import asyncio
from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from app.core.config import Settings
from app.kit.http import etag
from tests.unit.items.conftest import ITEMS, CreateItem, forget_cached
from tests.unit.support import WRITE_HEADERS, database


async def test_patch_changes_only_the_given_fields(
    client: AsyncClient, create_item: CreateItem
) -> None:
    item = await create_item(name="Old", description="keep me", price="5")

    response = await client.patch(
        f"{ITEMS}/{item['id']}", json={"price": "7.5"}, headers=WRITE_HEADERS
    )

    assert response.status_code == 200
    changed = response.json()
    assert changed["price"] == "7.50"
    assert changed["name"] == "Old"
    assert changed["description"] == "keep me"
    assert changed["created_at"] == item["created_at"]
    assert datetime.fromisoformat(changed["updated_at"]) > datetime.fromisoformat(
        item["updated_at"]
    )


async def test_patch_can_clear_the_description(
    client: AsyncClient, create_item: CreateItem
) -> None:
    item = await create_item(description="temporary")

    response = await client.patch(
        f"{ITEMS}/{item['id']}", json={"description": None}, headers=WRITE_HEADERS
    )

    assert response.json()["description"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": None},
        {"price": None},
        {"name": ""},
        {"price": "-1"},
        {"price": "0.001"},
        {"id": "x"},
    ],
)
async def test_an_invalid_patch_is_a_422_problem_and_changes_nothing(
    client: AsyncClient, create_item: CreateItem, body: dict[str, Any]
) -> None:
    item = await create_item()

    response = await client.patch(f"{ITEMS}/{item['id']}", json=body, headers=WRITE_HEADERS)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"{ITEMS}/{item['id']}")).json() == item


async def test_renaming_onto_another_items_name_is_a_409(
    client: AsyncClient, create_item: CreateItem
) -> None:
    await create_item(name="Taken")
    item = await create_item(name="Free")

    clash = await client.patch(
        f"{ITEMS}/{item['id']}", json={"name": "taken"}, headers=WRITE_HEADERS
    )
    own_case = await client.patch(
        f"{ITEMS}/{item['id']}", json={"name": "FREE"}, headers=WRITE_HEADERS
    )

    assert clash.status_code == 409
    assert own_case.status_code == 200  # an item does not clash with itself


async def test_a_read_right_after_a_patch_sees_the_new_version(
    client: AsyncClient, create_item: CreateItem
) -> None:
    item = await create_item(name="Before")
    before = await client.get(f"{ITEMS}/{item['id']}")  # now cached

    await client.patch(f"{ITEMS}/{item['id']}", json={"name": "After"}, headers=WRITE_HEADERS)
    after = await client.get(f"{ITEMS}/{item['id']}")

    assert after.json()["name"] == "After"
    assert after.headers["etag"] != before.headers["etag"]


async def test_if_match_guards_patch_and_delete_against_lost_updates(
    client: AsyncClient, create_item: CreateItem
) -> None:
    item = await create_item()
    url = f"{ITEMS}/{item['id']}"
    first_tag = (await client.get(url)).headers["etag"]
    await client.patch(url, json={"price": "2"}, headers=WRITE_HEADERS | {"If-Match": first_tag})

    stale_patch = await client.patch(
        url, json={"price": "3"}, headers=WRITE_HEADERS | {"If-Match": first_tag}
    )
    stale_delete = await client.delete(url, headers=WRITE_HEADERS | {"If-Match": first_tag})

    assert stale_patch.status_code == 412
    assert stale_patch.headers["content-type"] == "application/problem+json"
    assert stale_delete.status_code == 412
    assert (await client.get(url)).json()["price"] == "2.00"
    current = (await client.get(url)).headers["etag"]
    assert (
        await client.patch(url, json={"price": "4"}, headers=WRITE_HEADERS | {"If-Match": current})
    ).status_code == 200
    assert (
        await client.patch(url, json={"price": "5"}, headers=WRITE_HEADERS | {"If-Match": "*"})
    ).status_code == 200


async def test_delete_is_204_then_the_item_is_gone_even_from_the_cache(
    client: AsyncClient, create_item: CreateItem
) -> None:
    item = await create_item()
    url = f"{ITEMS}/{item['id']}"
    await client.get(url)  # cached

    deleted = await client.delete(url, headers=WRITE_HEADERS)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url, headers=WRITE_HEADERS)).status_code == 404
    assert (await client.patch(url, json={"price": "1"}, headers=WRITE_HEADERS)).status_code == 404


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_writes_on_an_item_need_the_api_key(
    client: AsyncClient, create_item: CreateItem, method: str
) -> None:
    item = await create_item()

    response = await client.request(method, f"{ITEMS}/{item['id']}", json={"price": "9"})

    assert response.status_code == 401
    assert (await client.get(f"{ITEMS}/{item['id']}")).json() == item


async def test_concurrent_patches_and_reads_leave_the_cache_at_the_database_version(
    client: AsyncClient, create_item: CreateItem, settings: Settings
) -> None:
    item = await create_item(price="0")
    url = f"{ITEMS}/{item['id']}"

    async def patch(n: int) -> None:
        response = await client.patch(url, json={"price": f"{n}.00"}, headers=WRITE_HEADERS)
        assert response.status_code == 200

    async def read() -> None:
        assert (await client.get(url)).status_code == 200

    await asyncio.gather(*(task for n in range(1, 16) for task in (patch(n), read(), read())))

    async with database(settings, commit=False) as connection:
        row = (await connection.execute(text("SELECT price, version FROM items"))).one()
    assert row.version == 16
    assert (await client.get(url)).json()["price"] == f"{row.price:.2f}"


async def test_a_writes_etag_names_its_body_and_is_the_next_reads(
    client: AsyncClient, settings: Settings
) -> None:
    created = await client.post(
        ITEMS,
        json={"name": "Café ☕ <b>", "description": 'naïve \u2028 "quoted"', "price": "12.5"},
        headers=WRITE_HEADERS,
    )
    url = created.headers["location"]
    patched = await client.patch(url, json={"price": "13"}, headers=WRITE_HEADERS)

    assert (created.status_code, patched.status_code) == (201, 200)
    for write in (created, patched):
        assert write.headers["etag"] == etag(write.content)
    assert created.headers["etag"] != patched.headers["etag"]
    cached = await client.get(url)
    assert cached.headers["etag"] == patched.headers["etag"]
    assert cached.content == patched.content
    # And from Postgres, once the cache no longer holds it.
    await forget_cached(settings, created.json()["id"])
    uncached = await client.get(url)
    assert uncached.headers["etag"] == patched.headers["etag"]
    assert uncached.content == patched.content
