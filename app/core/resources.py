"""What the process holds open, made by the app's lifespan (and by the job worker at start-up),
and the typed dependencies that hand it to a request: ``SettingsDep``, ``SessionDep``.

Starlette hands the lifespan's state to every request as ``request.state``; handlers reach it
only through typed dependencies (these, ``CacheDep`` and ``ReadinessDep``), so a reader (and
mypy) can follow each object to its use. The middleware that needs the process's Redis reads it
from ``scope["state"]``, as Starlette hands it to middleware.
"""

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.database import create_engine, create_sessionmaker
from app.core.metrics import REDIS_UP
from app.core.outages import CONNECTION_FAILURES
from app.core.redis import RedisGuard, create_redis

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(eq=False, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    # Sessions in transactions, for anything that writes...
    sessions: async_sessionmaker[AsyncSession]
    # ...and in autocommit, for requests that only read: a read is one statement, with no
    # BEGIN and ROLLBACK round trips around it.
    autocommit_sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    redis_guard: RedisGuard

    @classmethod
    def open(cls, settings: Settings) -> "Resources":
        """Pools that connect lazily, so the process starts even while a dependency is down."""
        engine = create_engine(settings)
        autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        redis = create_redis(settings)
        guard = RedisGuard(redis, settings.redis_cooldown_seconds)
        # redis_up in every process that uses Redis (the app's and the job worker's): 1 until the
        # guard sees it fail. A process that never set it would report its default, 0.
        REDIS_UP.set(1)
        guard.on_change = REDIS_UP.set
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            autocommit_sessions=create_sessionmaker(autocommit),
            redis=redis,
            redis_guard=guard,
        )

    async def close(self) -> None:
        self.redis_guard.close()
        await self.redis.aclose()
        await self.engine.dispose()


# Dependencies are ``async def`` even when they never await: FastAPI runs a plain ``def`` in a
# worker thread, a thread hop per request.
async def get_resources(request: Request) -> Resources:
    resources: Resources = request.state.resources
    return resources


async def get_settings_in_use(request: Request) -> Settings:
    settings: Settings = request.state.resources.settings
    return settings


# The scope's key for the sessions a request opened, which SessionClosingMiddleware closes.
OPENED_SESSIONS = "app.opened_sessions"


async def get_session(request: Request) -> AsyncSession:
    """The request's unit of work: one session, which a service commits once. A request that
    only reads gets it in autocommit. It takes a connection from the pool only when used.

    A plain dependency, not a generator, and SessionClosingMiddleware closes the session: a
    generator dependency is the largest single cost of a cached read (ADR 0028)."""
    resources: Resources = request.state.resources
    if request.method in SAFE_METHODS:
        sessions = resources.autocommit_sessions
    else:
        sessions = resources.sessions
    session = sessions()
    request.scope[OPENED_SESSIONS].append(session)
    return session


class SessionClosingMiddleware:
    """Closes the sessions a request opened as its answer starts, before any of its body is
    sent, so a slow client never holds a pooled connection; or, when the request ends in an
    error with no answer, before the error's answer. A streaming body that reads the database
    opens its own session, since the request's is closed by then."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        opened: list[AsyncSession] = []
        scope[OPENED_SESSIONS] = opened

        async def send_after_closing(message: Message) -> None:
            if opened and message["type"] == "http.response.start":
                await close_sessions(opened)
            await send(message)

        try:
            await self.app(scope, receive, send_after_closing)
        finally:
            if opened:
                await close_sessions(opened)


async def close_sessions(opened: list[AsyncSession]) -> None:
    while opened:
        session = opened.pop()
        # A session nothing used (a read the cache answered) holds nothing to release.
        if not session.in_transaction():
            continue
        try:
            await session.close()
        except (DBAPIError, *CONNECTION_FAILURES) as error:
            # The connection was lost after the request's last statement: Postgres rolls back
            # what it held, the answer stands, and the pool lets go of the connection.
            logger.warning("the request's session lost its connection: %s", type(error).__name__)
            await session.invalidate()


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings_in_use)]
# Closed by SessionClosingMiddleware as the answer starts.
SessionDep = Annotated[AsyncSession, Depends(get_session)]
