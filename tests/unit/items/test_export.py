"""Items offered as a CSV export: POST /items/exports, and the file the worker produces."""

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import update

from app.core.config import Settings
from app.core.resources import Resources
from app.exports import tasks
from app.exports.config import ExportSettings
from app.exports.models import Export
from tests.unit.items.conftest import ITEMS
from tests.unit.support import WRITE_HEADERS

EXPORTS = f"{ITEMS}/exports"


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    opened = Resources.open(settings)
    yield opened
    await opened.close()


async def start(client: AsyncClient) -> dict[str, object]:
    response = await client.post(EXPORTS, headers=WRITE_HEADERS)
    assert response.status_code == 202, response.text
    body: dict[str, object] = response.json()
    assert response.headers["location"] == f"/api/v1/exports/{body['id']}"
    assert body["status"] == "queued"
    return body


async def add_items(client: AsyncClient, *bodies: dict[str, str]) -> None:
    for body in bodies:
        response = await client.post(ITEMS, json=body, headers=WRITE_HEADERS)
        assert response.status_code == 201


async def test_starting_an_export_needs_the_api_key(client: AsyncClient) -> None:
    assert (await client.post(EXPORTS)).status_code == 401


async def test_a_succeeded_export_streams_rfc_4180_csv(
    client: AsyncClient, resources: Resources
) -> None:
    await add_items(
        client,
        {"name": "Desk lamp", "price": "12.5"},
        {"name": 'Say "hi", please', "price": "3", "description": "two\nlines"},
    )
    export = await start(client)

    await tasks.run_export_now(resources, uuid.UUID(str(export["id"])), ExportSettings())
    state = (await client.get(f"/api/v1/exports/{export['id']}")).json()
    download = await client.get(f"/api/v1/exports/{export['id']}/download")

    assert state["status"] == "succeeded"
    assert state["rows"] == 2
    assert state["size_bytes"] == len(download.content)
    assert download.headers["content-type"].startswith("text/csv")
    assert b"\r\n" in download.content
    rows = list(csv.reader(io.StringIO(download.content.decode(), newline="")))
    assert rows[0] == ["id", "name", "description", "price", "created_at", "updated_at"]
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [
        ("Desk lamp", "", "12.50"),
        ('Say "hi", please', "two\nlines", "3.00"),
    ]
    assert datetime.fromisoformat(rows[1][4]).tzinfo is not None


FORMULAS = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1:A2)",
    "-2+3",
    "\tleading tab",
    "\rleading return",
    "\uff1dSUM(1)",
]


async def test_cells_that_start_like_a_formula_are_exported_as_text(
    client: AsyncClient, resources: Resources
) -> None:
    await add_items(
        client,
        *(
            {"name": f"Item {n}", "price": "1", "description": text}
            for n, text in enumerate(FORMULAS)
        ),
        {"name": "=1+1", "price": "1"},
        {"name": "Plain - not a formula", "price": "1", "description": "a = b"},
    )
    export = await start(client)

    await tasks.run_export_now(resources, uuid.UUID(str(export["id"])), ExportSettings())
    download = await client.get(f"/api/v1/exports/{export['id']}/download")

    rows = list(csv.reader(io.StringIO(download.content.decode(), newline="")))
    descriptions = {r[1]: r[2] for r in rows[1:]}
    for n, text in enumerate(FORMULAS):
        assert descriptions[f"Item {n}"] == "'" + text
    assert "'=1+1" in descriptions
    assert descriptions["Plain - not a formula"] == "a = b"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "no-store"
    assert download.headers["x-content-type-options"] == "nosniff"


async def test_past_the_limit_the_api_answers_429_with_retry_after(client: AsyncClient) -> None:
    answers = [await client.post(EXPORTS, headers=WRITE_HEADERS) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert answers[3].headers["content-type"] == "application/problem+json"
    assert int(answers[3].headers["retry-after"]) > 0


async def test_a_recent_succeeded_export_is_reused_and_an_old_one_is_not(
    client: AsyncClient, resources: Resources
) -> None:
    first = uuid.UUID((await client.post(EXPORTS, headers=WRITE_HEADERS)).json()["id"])
    await tasks.run_export_now(resources, first, ExportSettings())

    again = await client.post(EXPORTS, headers=WRITE_HEADERS)
    assert again.status_code == 200
    assert again.json()["id"] == str(first)
    assert again.json()["status"] == "succeeded"

    await set_finished_at(resources, first, datetime.now(UTC) - timedelta(minutes=5))
    fresh = await client.post(EXPORTS, headers=WRITE_HEADERS)
    assert fresh.status_code == 202
    assert fresh.json()["id"] != str(first)


async def set_finished_at(resources: Resources, export_id: uuid.UUID, when: datetime) -> None:
    async with resources.sessions() as session:
        await session.execute(update(Export).where(Export.id == export_id).values(finished_at=when))
        await session.commit()
