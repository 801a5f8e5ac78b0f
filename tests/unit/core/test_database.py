from typing import Annotated

from fastapi import Depends, FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.config import Settings
from app.core.database import get_session
from tests.unit.support import database


async def test_a_request_gets_a_session_on_the_test_database(
    app: FastAPI, client: AsyncClient, settings: Settings
) -> None:
    @app.get("/test/db")
    async def current_database(session: Annotated[AsyncSession, Depends(get_session)]) -> str:
        return str((await session.execute(text("SELECT current_database()"))).scalar_one())

    response = await client.get("/test/db")

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
