import base64
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from httpx import AsyncClient
from sqlalchemy import Result, Select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.items.service import ItemService
from app.kit.cache import VersionedCache
from app.kit.pagination import encode_cursor
from tests.unit.items.conftest import ITEMS, CreateItem
from tests.unit.support import ROWS, database


async def walk(
    client: AsyncClient, limit: int, between_pages: CreateItem | None = None
) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(ITEMS, params=params)
        assert response.status_code == 200
        page = response.json()
        assert len(page[ROWS]) <= limit
        seen += [item["id"] for item in page[ROWS]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        if between_pages:
            await between_pages()


async def test_the_list_is_newest_first_with_a_default_page_of_20(
    client: AsyncClient, create_item: CreateItem
) -> None:
    created = [(await create_item())["id"] for _ in range(23)]

    page = (await client.get(ITEMS)).json()

    assert [item["id"] for item in page[ROWS]] == created[::-1][:20]
    assert page["next_cursor"]


async def test_walking_the_pages_returns_every_item_exactly_once(
    client: AsyncClient, create_item: CreateItem
) -> None:
    created = [(await create_item())["id"] for _ in range(25)]

    assert await walk(client, limit=7) == created[::-1]


async def test_items_inserted_between_pages_do_not_disturb_the_walk(
    client: AsyncClient, create_item: CreateItem
) -> None:
    created = [(await create_item())["id"] for _ in range(12)]

    async def insert_more() -> dict[str, str]:
        return await create_item()

    seen = await walk(client, limit=5, between_pages=insert_more)

    assert seen == created[::-1]  # each existing item once, in order, none skipped


async def test_the_last_page_has_no_next_cursor(
    client: AsyncClient, create_item: CreateItem
) -> None:
    for _ in range(3):
        await create_item()

    page = (await client.get(ITEMS, params={"limit": 3})).json()

    assert len(page[ROWS]) == 3
    assert page["next_cursor"] is None
    assert (await client.get(ITEMS)).json() == {ROWS: page[ROWS], "next_cursor": None}


@pytest.mark.parametrize("limit", ["0", "-1", "101", "ten", "1.5"])
async def test_a_limit_outside_1_to_100_is_a_422_problem(client: AsyncClient, limit: str) -> None:
    response = await client.get(ITEMS, params={"limit": limit})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", "abc"]').decode(),
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00", "' + b"0" * 32 + b'"]').decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "x" * 201,
    ],
)
async def test_a_bad_cursor_is_a_422_problem(client: AsyncClient, cursor: str) -> None:
    response = await client.get(ITEMS, params={"cursor": cursor})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@dataclass(frozen=True)
class Position:
    created_at: datetime
    id: uuid.UUID


class StatementSpy:
    """A session whose connection keeps each statement it is given, with its values bound,
    and finds no rows."""

    def __init__(self) -> None:
        self.statements: list[Select[Any]] = []

    async def connection(self) -> "StatementSpy":
        return self

    async def execute(self, statement: Select[Any], values: dict[str, Any]) -> Result[Any]:
        self.statements.append(statement.params(values))
        return cast("Result[Any]", SimpleNamespace(all=list))


async def test_pages_are_read_through_the_index_not_offset(settings: Settings) -> None:
    # The statement ItemService.page runs for a page after a cursor.
    spy = StatementSpy()
    service = ItemService(cast("AsyncSession", spy), cast("VersionedCache", None))
    await service.page(20, encode_cursor(Position(datetime.now(UTC), uuid.uuid4())))
    (query,) = spy.statements
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    async with database(settings) as connection:
        # With the alternatives priced out, the plan shows whether an index serves the
        # filter and the order by itself (an empty table would not tell otherwise).
        for method in ("seqscan", "bitmapscan", "sort"):
            await connection.execute(text(f"SET LOCAL enable_{method} = off"))
        plan = (await connection.execute(text(f"EXPLAIN {sql}"))).scalars().all()

    assert "OFFSET" not in sql.upper()
    assert any("Index Scan Backward using ix_items_created_at_id" in line for line in plan), plan
    assert not any("Sort" in line for line in plan), plan


async def test_the_list_answers_head_too(client: AsyncClient) -> None:
    assert (await client.head(ITEMS)).status_code == 200
