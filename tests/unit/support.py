"""Helpers shared by the tests and their fixtures."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.core.config import Settings

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
