"""Helpers shared by the tests and their fixtures."""

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI, Security
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.database import create_engine
from app.core.logging import stdout_handler
from app.core.resources import ResourcesDep, SessionDep
from app.core.security import KeyCheckedFirst, authenticate
from app.kit.http import require_json
from app.main import create_app

# The key file the tests run with (ID:SCOPE:SECRET): one id mid-rotation, with its current
# and its next secret, and a read-only key.
API_KEY_ID = "tests"
API_KEY = "current-Zq8vK2mX7pR4tY9wB3nL6sD1"
ROTATED_API_KEY = "rotated-Hf5jN8cV1gT6qW3eA9uP2kM7"
READ_KEY_ID = "reader"
READ_API_KEY = "readonly-Lp4Xs9Qd2Wm7Ve1Rb6Tn3Yk8"
API_KEYS = (
    f"{API_KEY_ID}:write:{API_KEY},{API_KEY_ID}:write:{ROTATED_API_KEY},"
    f"{READ_KEY_ID}:read:{READ_API_KEY}"
)
WRITE_HEADERS = {"X-API-Key": API_KEY}

# A test-only router that exercises the core (middleware, errors, database sessions) without
# any resource, so deleting app/items leaves every core test valid.
PROBES = "/test"
probes = APIRouter(prefix=PROBES, route_class=KeyCheckedFirst)


@probes.get("/ok")
async def ok() -> dict[str, str]:
    return {"status": "ok"}


@probes.post("/echo", status_code=201, dependencies=[Security(authenticate), Depends(require_json)])
async def echo(body: dict[str, Any]) -> dict[str, Any]:
    return body


@probes.get("/db")
async def read_database(resources: ResourcesDep) -> str:
    async with resources.autocommit_sessions() as session:
        return str((await session.execute(text("SELECT current_database()"))).scalar_one())


@probes.post("/db", dependencies=[Security(authenticate)])
async def write_database(resources: ResourcesDep) -> str:
    async with resources.sessions() as session:
        value = (await session.execute(text("SELECT txid_current()"))).scalar_one()
        await session.commit()
    return str(value)


@probes.get("/divide")
async def divide_by_zero(resources: ResourcesDep, value: str) -> int:
    """A statement the database refuses (division by zero), the client's value a parameter."""
    async with resources.autocommit_sessions() as session:
        statement = text("SELECT length(:value) / 0")
        return int((await session.execute(statement, {"value": value})).scalar_one())


@probes.get("/session")
async def read_through_session(session: SessionDep) -> int:
    """A read in the request's session, which then holds a pooled connection."""
    value: int = (await session.execute(text("SELECT 1"))).scalar_one()
    return value


@probes.post("/session-fails", dependencies=[Security(authenticate)])
async def fail_in_session(session: SessionDep) -> None:
    await session.execute(text("SELECT 1"))
    raise RuntimeError("a bug after a query")


@probes.post("/session-loses-its-connection", dependencies=[Security(authenticate)])
async def lose_the_connection(session: SessionDep, resources: ResourcesDep) -> str:
    """A write's session whose connection Postgres ends before the answer (a failover, an
    operator's pg_terminate_backend): closing it fails."""
    pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with resources.autocommit_sessions() as other:
        # Returns once the backend is gone (5 s at most).
        await other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    return "answered"


# The same under the API's prefix, on routes that check a key before their body is read.
API_PROBES = "/api/v1/test-probe"
api_probes = APIRouter(prefix=API_PROBES, route_class=KeyCheckedFirst)


@api_probes.get("")
async def api_ok() -> dict[str, str]:
    return {"status": "ok"}


@api_probes.post("", dependencies=[Security(authenticate), Depends(require_json)])
async def api_echo(body: dict[str, Any]) -> dict[str, Any]:
    return body


def create_app_with_probes(settings: Settings) -> FastAPI:
    app = create_app(settings)
    app.include_router(probes)
    app.include_router(api_probes)
    return app


def state_copied_per_request(app: ASGIApp) -> ASGIApp:
    """Each request gets a shallow copy of the lifespan's state, as servers give it (the ASGI
    spec; uvicorn does): asgi-lifespan passes every request the one dict, so what one request
    leaves in ``request.state`` (its caller's key id) would reach the next."""

    async def with_own_state(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan" and "state" in scope:
            scope = {**scope, "state": dict(scope["state"])}
        await app(scope, receive, send)

    return with_own_state


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[AsyncClient]:
    """Run the app's lifespan (pools opened and closed) around an HTTP client bound to it; the
    manager's app hands the lifespan's state to each request, as a server does."""
    async with LifespanManager(state_copied_per_request(app)) as manager:
        transport = ASGITransport(app=manager.app)
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def queue_client(settings: Settings) -> Redis:
    """A client of the test's own for the queue store, with its user's password."""
    password = settings.queue_redis_password.get_secret_value() or None
    return Redis.from_url(settings.queue_redis_url.get_secret_value(), password=password)


def changed(settings: Settings, **updates: object) -> Settings:
    """A copy of the settings with some values replaced, validated like real input."""
    return Settings.model_validate(settings.model_dump() | updates)


@asynccontextmanager
async def database(settings: Settings, *, commit: bool = True) -> AsyncIterator[AsyncConnection]:
    """A connection of the test's own, beside the app's pool. Its work is committed at the end,
    or, with ``commit=False``, rolled back (for a test that expects a statement to fail)."""
    engine = create_engine(settings)
    try:
        async with engine.begin() if commit else engine.connect() as connection:
            yield connection
    finally:
        await engine.dispose()


# The key of a page's rows, whatever the resource (app.kit.pagination.Page): a name here, so
# `make resource` leaves it alone when it renames a copied resource's tests.
ROWS = "items"


def captured_stdout(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict[str, Any]]]:
    """What the app's log handler writes from now on, as parsed JSON lines (call the result
    after the requests)."""
    handler = stdout_handler()
    assert handler is not None
    written = io.StringIO()
    monkeypatch.setattr(handler, "stream", written)

    def lines() -> list[dict[str, Any]]:
        handler.flush()
        return [json.loads(line) for line in written.getvalue().splitlines()]

    return lines


async def within_one_window(window_seconds: int, needed_seconds: float = 2.0) -> None:
    """Waits for the rate limit's next fixed window when the current one ends within
    ``needed_seconds``, so that a test's few requests are all counted in one window."""
    left = window_seconds - time.time() % window_seconds
    if left < needed_seconds:
        await asyncio.sleep(left + 0.05)
