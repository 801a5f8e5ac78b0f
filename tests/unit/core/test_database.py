import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from tests.unit.support import PROBES, WRITE_HEADERS, database, serve


async def test_a_request_gets_a_session_on_the_test_database(
    client: AsyncClient, settings: Settings
) -> None:
    response = await client.get(f"{PROBES}/db")

    assert response.status_code == 200
    assert response.json() == settings.postgres_db


async def test_connections_carry_the_statement_timeout(settings: Settings) -> None:
    async with database(settings, commit=False) as connection:
        timeout = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()

    # Postgres shows it in its own units ("5s" for 5000 ms); ask it to convert back.
    assert timeout in {
        f"{settings.db_statement_timeout_ms}ms",
        f"{settings.db_statement_timeout_ms // 1000}s",
    }


def noting_connections_at_answer(app: ASGIApp, seen: list[int]) -> ASGIApp:
    """The app, noting how many of its pooled connections are checked out as each answer starts
    (a slow client would hold them while it reads the answer)."""

    async def noting(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.append(scope["state"]["resources"].engine.pool.checkedout())
            await send(message)

        await app(scope, receive, send_noting)

    return noting


async def test_the_request_session_gives_its_connection_back_before_the_answer(
    app: FastAPI,
) -> None:
    seen: list[int] = []
    async with serve(noting_connections_at_answer(app, seen)) as http:
        read = await http.get(f"{PROBES}/session")
        failed = await http.post(f"{PROBES}/session-fails", headers=WRITE_HEADERS)

    assert (read.status_code, read.json()) == (200, 1)
    assert failed.status_code == 500
    assert seen == [0, 0]


async def test_a_session_that_lost_its_connection_keeps_the_answer_and_frees_the_pool(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[int] = []
    async with serve(noting_connections_at_answer(app, seen)) as http:
        response = await http.post(f"{PROBES}/session-loses-its-connection", headers=WRITE_HEADERS)
        after = await http.get(f"{PROBES}/session")

    assert (response.status_code, response.json()) == (200, "answered")
    assert (after.status_code, after.json()) == (200, 1)
    assert seen == [0, 0]
    assert "the request's session lost its connection" in caplog.text
