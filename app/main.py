"""The application factory. ``app`` is what gunicorn and uvicorn serve."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from app.core.config import Settings, get_settings
from app.core.dependency_errors import register_dependency_error_handlers
from app.core.docs import OPENAPI_URL, docs_enabled, mount_docs
from app.core.errors import document_problems, register_problem_handlers
from app.core.logging import configure_logging
from app.core.middleware import (
    AllowedHostsMiddleware,
    BodySizeLimitMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
    WriteAuthMiddleware,
)
from app.core.middleware.allowed_hosts import parse_allowed_hosts
from app.core.resources import STATE_KEY, Resources
from app.exports.router import router as exports_router
from app.health.router import router as health_router
from app.items.router import router as items_router
from app.worker.broker import broker

API_PREFIX = "/api/v1"

logger = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Resources]]]


def lifespan_for(settings: Settings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Resources]]:
        """Open the pools at start-up and release them on shutdown. What is yielded reaches
        every request as its scope's state (app.core.resources)."""
        if not settings.api_key_set:
            logger.warning(
                "no API keys are configured (API_KEYS, or the file /run/secrets/api_keys): "
                "every write will be refused with 401"
            )
        resources = Resources.open(settings)
        try:
            yield {STATE_KEY: resources}
        finally:
            await resources.close()
            await broker.shutdown()  # the queue's connections (the app only sends to it)

    return lifespan


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    documented = docs_enabled(settings.environment, settings.docs_enabled)
    app = FastAPI(
        title="FastAPI starter",
        version=settings.app_version,
        lifespan=lifespan_for(settings),
        # Served by mount_docs, from the app's own assets, or not at all.
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL if documented else None,
    )
    if documented:
        mount_docs(app)
    register_problem_handlers(app)
    register_dependency_error_handlers(app)
    # Outermost last: request id and access log wrap everything, so even a 429 or 413 is
    # logged with its id; rate limiting, then authentication, come before reading any body.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(WriteAuthMiddleware, api_prefix=API_PREFIX, api_keys=settings.api_key_set)
    app.add_middleware(RateLimitMiddleware)
    allowed_hosts = parse_allowed_hosts(settings.allowed_hosts)
    if "*" not in allowed_hosts:
        app.add_middleware(AllowedHostsMiddleware, allowed=allowed_hosts)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    app.include_router(exports_router, prefix=API_PREFIX)
    # Resources' routers (`make resource` adds a line here).
    app.include_router(items_router, prefix=API_PREFIX)
    document_problems(app)
    return app


app = create_app()
