import asyncio
import uuid
from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient

from app.core.config import Settings
from app.main import create_app
from tests.unit.items.conftest import ITEMS
from tests.unit.support import ROTATED_API_KEY, ROWS, WRITE_HEADERS, changed, serve

PROBLEM_JSON = "application/problem+json"


async def test_create_answers_201_with_the_item_its_location_and_etag(client: AsyncClient) -> None:
    response = await client.post(
        ITEMS,
        json={"name": "  Desk lamp ", "description": "Warm light", "price": "12.5"},
        headers=WRITE_HEADERS,
    )

    assert response.status_code == 201
    item = response.json()
    assert item["name"] == "Desk lamp"  # trimmed
    assert item["description"] == "Warm light"
    assert item["price"] == "12.50"  # a string with two places, never a float
    uuid.UUID(item["id"])
    assert datetime.fromisoformat(item["created_at"]) == datetime.fromisoformat(item["updated_at"])
    assert response.headers["location"] == f"{ITEMS}/{item['id']}"
    assert response.headers["etag"].startswith('"')
    assert (await client.get(response.headers["location"])).json() == item


@pytest.mark.parametrize(
    ("price", "stored"),
    [("12.5", "12.50"), ("0", "0.00"), ("0.1", "0.10"), ("9999999999.99", "9999999999.99")],
)
async def test_a_price_is_an_exact_decimal_string(
    client: AsyncClient, price: object, stored: str
) -> None:
    response = await client.post(
        ITEMS, json={"name": "priced", "price": price}, headers=WRITE_HEADERS
    )

    assert response.status_code == 201
    assert response.json()["price"] == stored


async def test_description_is_optional(client: AsyncClient) -> None:
    response = await client.post(ITEMS, json={"name": "bare", "price": "1"}, headers=WRITE_HEADERS)

    assert response.status_code == 201
    assert response.json()["description"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "   ", "price": "1"}, "name"),
        ({"name": "x" * 201, "price": "1"}, "name"),
        ({"name": "tab\there", "price": "1"}, "name"),
        ({"name": "\tleading control", "price": "1"}, "name"),
        ({"name": "nul\x00", "price": "1"}, "name"),
        ({"name": 42, "price": "1"}, "name"),
        ({"price": "1"}, "name"),
        ({"name": "ok", "description": "d" * 2001, "price": "1"}, "description"),
        ({"name": "ok", "description": "nul\x00", "price": "1"}, "description"),
        ({"name": "ok", "price": "-0.01"}, "price"),
        ({"name": "ok", "price": "1.005"}, "price"),
        ({"name": "ok", "price": "abc"}, "price"),
        ({"name": "ok", "price": "NaN"}, "price"),
        ({"name": "ok", "price": "Infinity"}, "price"),
        ({"name": "ok", "price": 1e20}, "price"),
        ({"name": "ok", "price": 12.5}, "price"),  # a JSON number: refused, money is a string
        ({"name": "ok", "price": ""}, "price"),
        ({"name": "ok", "price": "+1"}, "price"),
        ({"name": "ok", "price": "1e3"}, "price"),
        ({"name": "ok", "price": "١٢"}, "price"),  # Arabic-Indic digits
        ({"name": "ok", "price": "1" * 40}, "price"),
        ({"name": "ok", "price": None}, "price"),
        ({"name": "ok"}, "price"),
        ({"name": "ok", "price": "1", "colour": "red"}, "colour"),
    ],
)
async def test_invalid_fields_are_a_422_problem_naming_the_field(
    client: AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post(ITEMS, json=body, headers=WRITE_HEADERS)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert field in [error["loc"][-1] for error in response.json()["errors"]]
    assert (await client.get(ITEMS)).json()[ROWS] == []  # nothing was stored


async def test_a_name_is_unique_whatever_its_case(client: AsyncClient) -> None:
    first = await client.post(ITEMS, json={"name": "Lamp", "price": "1"}, headers=WRITE_HEADERS)
    second = await client.post(ITEMS, json={"name": " LAMP ", "price": "2"}, headers=WRITE_HEADERS)

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.headers["content-type"] == PROBLEM_JSON
    assert "'LAMP'" in second.json()["detail"]
    assert len((await client.get(ITEMS)).json()[ROWS]) == 1


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}])
async def test_a_write_without_a_valid_key_is_a_401_problem(
    client: AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(ITEMS, json={"name": "x", "price": "1"}, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    assert (await client.get(ITEMS)).json()[ROWS] == []


async def test_every_configured_key_is_accepted_for_rotation(client: AsyncClient) -> None:
    response = await client.post(
        ITEMS, json={"name": "x", "price": "1"}, headers={"X-API-Key": ROTATED_API_KEY}
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
async def test_a_body_that_is_not_json_is_a_415_problem(
    client: AsyncClient, content_type: str
) -> None:
    response = await client.post(
        ITEMS,
        content=b'{"name": "x", "price": "1"}',
        headers=WRITE_HEADERS | {"Content-Type": content_type},
    )

    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"[]", b'"string"', b"\xff\xfe\x00", b'{"name": "x", "price": "1"']
)
async def test_malformed_json_is_a_422_problem(client: AsyncClient, body: bytes) -> None:
    response = await client.post(
        ITEMS, content=body, headers=WRITE_HEADERS | {"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_a_body_over_the_limit_is_413_and_stores_nothing(settings: Settings) -> None:
    body = b'{"name": "n", "price": "1", "description": "' + b"d" * 200 + b'"}'
    async with serve(create_app(changed(settings, max_body_bytes=100))) as http:
        response = await http.post(
            ITEMS, content=body, headers=WRITE_HEADERS | {"Content-Type": "application/json"}
        )

        assert response.status_code == 413
        assert (await http.get(ITEMS)).json()[ROWS] == []


async def test_names_are_compared_as_people_read_them(client: AsyncClient) -> None:
    lamp = await client.post(ITEMS, json={"name": "Lamp", "price": "1"}, headers=WRITE_HEADERS)
    wide = await client.post(
        ITEMS, json={"name": "\uff2c\uff41\uff4d\uff50", "price": "1"}, headers=WRITE_HEADERS
    )

    assert lamp.status_code == 201
    assert wide.status_code == 409  # full-width "Lamp" is "Lamp"


@pytest.mark.parametrize("name", ["Lamp\u200b", "\u202eLamp", "La\u200dmp", "\ufeffLamp"])
async def test_invisible_and_bidirectional_characters_are_refused(
    client: AsyncClient, name: str
) -> None:
    response = await client.post(ITEMS, json={"name": name, "price": "1"}, headers=WRITE_HEADERS)

    assert response.status_code == 422
    assert (await client.get(ITEMS)).json()[ROWS] == []


async def test_a_look_alike_of_an_existing_name_is_409(client: AsyncClient) -> None:
    lamp = await client.post(ITEMS, json={"name": "Lamp", "price": "1"}, headers=WRITE_HEADERS)
    cyrillic = await client.post(
        ITEMS, json={"name": "L\u0430mp", "price": "1"}, headers=WRITE_HEADERS
    )

    assert lamp.status_code == 201
    assert cyrillic.status_code == 409
    assert "looks like it" in cyrillic.json()["detail"]


async def test_renaming_to_a_look_alike_is_409(client: AsyncClient) -> None:
    await client.post(ITEMS, json={"name": "Lamp", "price": "1"}, headers=WRITE_HEADERS)
    desk = await client.post(ITEMS, json={"name": "Desk", "price": "1"}, headers=WRITE_HEADERS)
    item = desk.json()

    renamed = await client.patch(
        f"{ITEMS}/{item['id']}",
        json={"name": "L\u0430mp"},
        headers={**WRITE_HEADERS, "If-Match": desk.headers["etag"]},
    )

    assert renamed.status_code == 409


async def test_concurrent_look_alikes_make_one_item(client: AsyncClient) -> None:
    names = ["Lamp", "L\u0430mp", "LAMP", "Iamp", "\uff2c\uff41\uff4d\uff50"]
    responses = await asyncio.gather(
        *(
            client.post(ITEMS, json={"name": name, "price": "1"}, headers=WRITE_HEADERS)
            for name in names * 3
        )
    )

    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == len(names) * 3 - 1, statuses


@pytest.mark.parametrize(
    "name",
    [
        "\x9b31mRed",
        "Lamp\u3164",
        "La\u034fmp",
        "\u2800",
        "Lamp\U000e0041",
        "\u0600Lamp",
        "\ufdfa" * 12,
    ],
)
async def test_look_alike_and_invisible_input_is_422(client: AsyncClient, name: str) -> None:
    response = await client.post(ITEMS, json={"name": name, "price": "1"}, headers=WRITE_HEADERS)

    assert response.status_code == 422
