import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from app.core.config import Settings
from app.items.service import ITEMS_CACHE
from tests.unit.support import WRITE_HEADERS

ITEMS = "/api/v1/items"

CreateItem = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def create_item(client: AsyncClient) -> CreateItem:
    """Creates an item through the API and returns its body."""
    counter = 0

    async def create(**fields: Any) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        body = {"name": f"item {counter}", "price": "1.00"} | fields
        response = await client.post(ITEMS, json=body, headers=WRITE_HEADERS)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return create


def cache_client(settings: Settings) -> Redis:
    """A client of the test's own for the app's cache (the REDIS_URL store)."""
    password = settings.redis_password.get_secret_value() or None
    return Redis.from_url(settings.redis_url.get_secret_value(), password=password)


async def forget_cached(settings: Settings, item_id: str) -> None:
    """Drop an item's cache entry, so that the next read goes to Postgres."""
    redis = cache_client(settings)
    try:
        assert await redis.delete(ITEMS_CACHE.key(uuid.UUID(item_id))) == 1
    finally:
        await redis.aclose()
