from httpx import AsyncClient
from sqlalchemy import text

from app.core.config import Settings
from tests.unit.support import PROBES, database


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
