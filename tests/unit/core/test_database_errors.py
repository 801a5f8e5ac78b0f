"""Database failures become 4xx (the client's fault) or 503 (a passing outage), never 500."""

import pytest
from httpx import AsyncClient, Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.core.database import create_engine
from app.core.errors import DependencyUnavailable, InvalidInput
from app.core.outages import as_problem, sqlstate
from tests.unit.support import (
    PROBES,
    WRITE_HEADERS,
    changed,
    create_app_with_probes,
    database,
    serve,
)


async def failure_of(settings: Settings, statement: str, *, setup: str = "SELECT 1") -> DBAPIError:
    async with database(settings, commit=False) as connection:
        await connection.execute(text(setup))
        with pytest.raises(DBAPIError) as raised:
            await connection.execute(text(statement))
    return raised.value


async def test_a_data_exception_is_the_clients_422(settings: Settings) -> None:
    error = await failure_of(settings, "SELECT 'twelve'::numeric")

    assert isinstance(as_problem(error), InvalidInput)


async def test_a_statement_timeout_is_a_503(settings: Settings) -> None:
    error = await failure_of(settings, "SELECT pg_sleep(1)", setup="SET statement_timeout = 50")

    problem = as_problem(error)
    assert isinstance(problem, DependencyUnavailable)
    assert problem.headers == {"Retry-After": "2"}


async def test_a_programming_error_stays_a_bug(settings: Settings) -> None:
    error = await failure_of(settings, "SELECT * FROM no_such_table")

    assert as_problem(error) is None


async def read_and_write_through(settings: Settings) -> list[Response]:
    """A read and a write of the database probes, on an app with these settings."""
    async with serve(create_app_with_probes(settings)) as http:
        read = await http.get(f"{PROBES}/db")
        written = await http.post(f"{PROBES}/db", headers=WRITE_HEADERS)
    for response in (read, written):
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "2"
    return [read, written]


async def test_postgres_unreachable_is_a_503_problem_for_reads_and_writes(
    settings: Settings, unreachable_port: int
) -> None:
    down = changed(settings, postgres_host="127.0.0.1", postgres_port=unreachable_port)
    await read_and_write_through(down)


async def test_a_refused_password_is_a_503_problem_not_a_500(settings: Settings) -> None:
    """SQLSTATE 28P01: a rotated password not yet rolled out to every process is an outage."""
    wrong = changed(settings, postgres_password="not-the-password")
    engine = create_engine(wrong)
    try:
        with pytest.raises(DBAPIError) as raised:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    assert sqlstate(raised.value) == "28P01"
    assert isinstance(as_problem(raised.value), DependencyUnavailable)

    for response in await read_and_write_through(wrong):
        assert "not-the-password" not in response.text
        assert "Traceback" not in response.text


async def test_a_database_error_is_logged_without_the_statements_parameters(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get(f"{PROBES}/divide", params={"value": "card-4111-secret"})

    assert response.status_code == 422
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.exc_info}"
        for record in caplog.records
        if record.name.startswith("app.")  # the app's lines, not the test client's
    )
    assert "division by zero" in logged  # the failure is logged...
    assert "card-4111-secret" not in logged  # ...without the value the client sent
