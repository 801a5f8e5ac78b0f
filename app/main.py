"""The application factory. ``app`` is what gunicorn and uvicorn serve."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.core.cache import RedisGuard, create_redis
from app.core.config import Settings, get_settings
from app.core.database import create_engine, create_read_sessionmaker, create_sessionmaker
from app.core.database_errors import register_database_error_handlers
from app.core.errors import document_problems, register_problem_handlers
from app.core.logging import configure_logging
from app.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.core.ratelimit import RateLimitMiddleware
from app.health.router import router as health_router
from app.items.router import router as items_router

API_PREFIX = "/api/v1"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Create the pools at start-up (connecting lazily, so the app starts even while a
    dependency is down) and release them on shutdown."""
    settings: Settings = app.state.settings
    app.state.engine = create_engine(settings)
    app.state.sessionmaker = create_sessionmaker(app.state.engine)
    app.state.read_sessionmaker = create_read_sessionmaker(app.state.engine)
    app.state.redis = create_redis(settings)
    app.state.redis_guard = RedisGuard(settings.redis_cooldown_seconds)
    try:
        yield
    finally:
        await app.state.redis.aclose()
        await app.state.engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    app = FastAPI(
        title="FastAPI starter",
        version=settings.app_version,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    register_problem_handlers(app)
    register_database_error_handlers(app)
    # Outermost last: request id and access log wrap everything, so even a 429 or 413 is
    # logged with its id; rate limiting comes before reading any body.
    app.add_middleware(BodySizeLimitMiddleware)
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    app.include_router(items_router, prefix=API_PREFIX)
    document_problems(app)
    return app


app = create_app()
