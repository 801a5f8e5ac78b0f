from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

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
