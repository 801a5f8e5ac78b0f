import asyncio
import signal
from datetime import datetime

from httpx import AsyncClient

from app.core import drain
from app.core.config import Settings
from app.main import create_app
from tests.unit.support import changed, serve

HEALTH_JSON = "application/health+json"
CHECKS = ("postgres:connection", "redis:connection")


async def test_live_answers_with_the_version(client: AsyncClient, settings: Settings) -> None:
    response = await client.get("/health/live")

    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    assert response.json() == {"status": "pass", "version": settings.app_version}


async def test_ready_passes_with_both_checks_when_dependencies_answer(client: AsyncClient) -> None:
    response = await client.get("/health/ready")

    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    body = response.json()
    assert body["status"] == "pass"
    assert set(body["checks"]) == set(CHECKS)
    for name in CHECKS:
        (check,) = body["checks"][name]
        assert check["status"] == "pass"
        assert check["componentType"] == "datastore"
        assert check["observedUnit"] == "ms"
        assert check["observedValue"] >= 0
        assert datetime.fromisoformat(check["time"]).tzinfo is not None
        assert "output" not in check


async def test_ready_stays_200_with_redis_down_and_reports_it_as_a_warning(
    settings: Settings, unreachable_port: int
) -> None:
    # The cache is not a reason to take the app out of a Service or a target group: it serves
    # without it. The outage is in the body, as "warn".
    down = changed(settings, redis_url=f"redis://127.0.0.1:{unreachable_port}/0")
    async with serve(create_app(down)) as http:
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")

    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "warn"
    assert body["checks"]["redis:connection"][0]["status"] == "warn"
    assert "ConnectionError" in body["checks"]["redis:connection"][0]["output"]
    assert body["checks"]["postgres:connection"][0]["status"] == "pass"
    assert live.status_code == 200


async def test_ready_is_503_when_postgres_and_redis_are_both_down(
    settings: Settings, unreachable_port: int
) -> None:
    down = changed(
        settings,
        postgres_host="127.0.0.1",
        postgres_port=unreachable_port,
        redis_url=f"redis://127.0.0.1:{unreachable_port}/0",
    )
    async with serve(create_app(down)) as http:
        ready = await http.get("/health/ready")

    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert ready.json()["status"] == "fail"
    assert checks["postgres:connection"][0]["status"] == "fail"
    assert checks["redis:connection"][0]["status"] == "warn"


async def test_ready_is_503_naming_postgres_when_postgres_refuses(
    settings: Settings, unreachable_port: int
) -> None:
    down = changed(settings, postgres_host="127.0.0.1", postgres_port=unreachable_port)
    async with serve(create_app(down)) as http:
        ready = await http.get("/health/ready")
        live = await http.get("/health/live")

    assert ready.status_code == 503
    checks = ready.json()["checks"]
    assert checks["postgres:connection"][0]["status"] == "fail"
    assert checks["redis:connection"][0]["status"] == "pass"
    assert live.status_code == 200


async def test_ready_gives_up_on_a_hung_dependency_at_its_deadline(
    settings: Settings, silent_port: int
) -> None:
    hung = changed(
        settings,
        redis_url=f"redis://127.0.0.1:{silent_port}/0",
        redis_socket_timeout_seconds=30.0,  # only the check's own deadline can stop it
        health_check_timeout_seconds=0.3,
    )
    async with serve(create_app(hung)) as http:
        ready = await http.get("/health/ready")

    check = ready.json()["checks"]["redis:connection"][0]
    assert ready.status_code == 200
    assert check["status"] == "warn"
    assert check["output"] == "no answer within 0.3 s"
    # Stopped at the deadline, not at the 30 s socket timeout.
    assert 300 <= check["observedValue"] < 3000


async def test_ready_is_503_at_once_while_draining_live_stays_200_and_connections_close(
    client: AsyncClient,
) -> None:
    # A SIGTERM through the drain's handler, as the server would deliver it; the server's own
    # handler (here: nothing) would run only after the minute.
    on_sigterm = drain.draining_handler(lambda *_: None, 60, asyncio.get_running_loop())
    on_sigterm(signal.SIGTERM, None)
    try:
        ready = await client.get("/health/ready")
        live = await client.get("/health/live")
    finally:
        drain.reset()

    assert ready.status_code == 503
    assert ready.json()["status"] == "fail"
    assert ready.json()["checks"] == {}
    assert live.status_code == 200
    # Every answer while draining closes its connection: the edge keeps none to this replica.
    assert ready.headers["connection"] == "close"
    assert live.headers["connection"] == "close"
    after = await client.get("/health/ready")
    assert after.status_code == 200
    assert "connection" not in after.headers
