"""Fixtures: a migrated test database and a Redis logical db of their own, an app with its
lifespan, and an HTTP client. Each test starts with empty tables and an empty Redis db."""

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.config import Settings, load_settings
from app.core.database import Base, create_engine
from tests.unit.support import (
    API_KEYS,
    captured_stdout,
    changed,
    create_app_with_probes,
    serve,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(toml_file=PROJECT_ROOT / "pyproject.toml")
    config.attributes["connection"] = connection
    return config


async def recreate_database(settings: Settings, name: str) -> None:
    admin = create_async_engine(settings.database_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
async def settings() -> Settings:
    """Settings of the stack, pointed at a fresh database that Alembic migrates to head."""
    stack = load_settings()
    name = f"{stack.postgres_db}_test"
    await recreate_database(stack, name)
    # Redis isolation comes from the stack: the tests service's REDIS_URL names its own db.
    test_settings = changed(
        stack,
        postgres_db=name,
        api_keys=API_KEYS,
        rate_limit_requests=100_000,  # the rate limit tests set their own
        docs_enabled=True,  # the OpenAPI document is under test too
    )
    engine = create_engine(test_settings)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
    finally:
        await engine.dispose()
    return test_settings


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The app, with the test-only probe routes (tests.unit.support) beside its own."""
    return create_app_with_probes(settings)


@pytest.fixture
def stdout_lines(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], list[dict[str, Any]]]:
    """What the app writes to stdout, as parsed JSON lines (call it after the requests)."""
    return captured_stdout(monkeypatch)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with serve(app) as http:
        yield http


@pytest.fixture(autouse=True)
async def clean_state(settings: Settings) -> None:
    """Isolation: every table emptied and the test Redis db flushed before each test."""
    engine = create_engine(settings)
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    try:
        if tables:
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    redis = Redis.from_url(
        settings.redis_url.get_secret_value(),
        password=settings.redis_password.get_secret_value() or None,
    )
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


@pytest.fixture
def unreachable_port() -> int:
    """A local TCP port with nothing listening: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A local TCP server that accepts connections and never answers: a hung dependency."""
    held: list[asyncio.StreamWriter] = []

    async def accept_and_ignore(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept_and_ignore, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]
        for writer in held:
            writer.close()
