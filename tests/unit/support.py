"""Helpers shared by the tests and their fixtures."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.config import Settings
from app.core.database import create_engine

API_KEY = "test-key-current"
ROTATED_API_KEY = "test-key-next"
WRITE_HEADERS = {"X-API-Key": API_KEY}


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """Run the app's lifespan (pools opened and closed) around an HTTP client bound to it."""
    async with LifespanManager(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


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
