"""What the process holds open: one typed object, made by the app's lifespan, reached through
typed dependencies (``ResourcesDep``, ``SettingsDep``) by handlers and through
``resources_in(scope)`` by middleware.

Starlette hands the lifespan's state to every request as ``scope["state"]``; this module is the
only place that reads it, so a reader (and mypy) can follow each object from here to its use.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, cast

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.types import Scope

from app.core.config import Settings
from app.core.database import (
    autocommit,
    create_engine,
    create_read_sessionmaker,
    create_sessionmaker,
)
from app.core.redis import RedisGuard, create_redis

STATE_KEY = "resources"


@dataclass(eq=False, slots=True)
class Resources:
    settings: Settings
    engine: AsyncEngine
    # Transactions, for anything that writes.
    sessions: async_sessionmaker[AsyncSession]
    # Autocommit, for reads that are one statement (no BEGIN/ROLLBACK round trips)...
    read_sessions: async_sessionmaker[AsyncSession]
    # ...and its connections, for the hot paths in Core (app.kit.repository): reads, and
    # writes that are one statement (an INSERT is atomic without BEGIN and COMMIT).
    single_statements: AsyncEngine
    redis: Redis
    redis_guard: RedisGuard
    _built: dict[Callable[["Resources"], object], object] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @classmethod
    def open(cls, settings: Settings) -> "Resources":
        """Pools that connect lazily, so the app starts even while a dependency is down."""
        engine = create_engine(settings)
        single_statements = autocommit(engine)
        return cls(
            settings=settings,
            engine=engine,
            sessions=create_sessionmaker(engine),
            read_sessions=create_read_sessionmaker(single_statements),
            single_statements=single_statements,
            redis=create_redis(settings),
            redis_guard=RedisGuard(settings.redis_cooldown_seconds),
        )

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Something built from these resources that must stop before they close."""
        self._closers.append(closer)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            await closer()
        await self.redis.aclose()
        await self.engine.dispose()

    def built[T](self, factory: Callable[["Resources"], T]) -> T:
        """What ``factory`` builds from these resources, built once per process (a resource's
        service, say): handlers ask for it through a dependency and never build it."""
        try:
            return cast(T, self._built[factory])
        except KeyError:
            made = self._built[factory] = factory(self)
            return made


def resources_in(scope: Scope) -> Resources:
    """The lifespan's resources, as pure ASGI middleware sees them."""
    resources: Resources = scope["state"][STATE_KEY]
    return resources


# Dependencies are ``async def`` even when they never await: FastAPI runs a plain ``def`` in a
# worker thread, a thread hop per request (bench/README.md, "async dependencies").
async def get_resources(request: Request) -> Resources:
    return resources_in(request.scope)


async def get_settings_in_use(request: Request) -> Settings:
    return resources_in(request.scope).settings


ResourcesDep = Annotated[Resources, Depends(get_resources)]
SettingsDep = Annotated[Settings, Depends(get_settings_in_use)]
