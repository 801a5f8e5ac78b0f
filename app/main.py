"""The application factory. ``app`` is what gunicorn and uvicorn serve."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

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
from app.observability.middleware import MetricsMiddleware
from app.observability.resources import watch_resources
from app.observability.tracing import (
    export_spans,
    instrument_app,
    new_tracer_provider,
    start_process_tracing,
    stop_process_tracing,
    tracing_configured,
)
from app.worker.broker import broker

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

API_PREFIX = "/api/v1"

logger = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, Resources]]]


def lifespan_for(settings: Settings, tracer_provider: "TracerProvider | None") -> Lifespan:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Resources]]:
        """Open the pools at start-up and release them on shutdown. What is yielded reaches
        every request as its scope's state (app.core.resources). It runs in each gunicorn
        worker, after the fork: where a span processor's thread must start."""
        if not settings.api_key_set:
            logger.warning(
                "no API keys are configured (API_KEYS, or the file /run/secrets/api_keys): "
                "every write will be refused with 401"
            )
        resources = Resources.open(settings)
        if settings.metrics_enabled:
            watch_resources(resources)
        if tracer_provider is not None:
            if tracing_configured(settings):
                export_spans(tracer_provider, settings)
            start_process_tracing(resources, tracer_provider)
        try:
            yield {STATE_KEY: resources}
        finally:
            stop_process_tracing()
            await resources.close()
            await broker.shutdown()  # the queue's connections (the app only sends to it)

    return lifespan


def create_app(
    settings: Settings | None = None, tracer_provider: "TracerProvider | None" = None
) -> FastAPI:
    """``tracer_provider``: trace with this one (a test's, exporting to memory); by default,
    one is made when OTEL_EXPORTER_OTLP_ENDPOINT is set, else nothing is traced."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    if tracer_provider is None and tracing_configured(settings):
        tracer_provider = new_tracer_provider(settings)
    documented = docs_enabled(settings.environment, settings.docs_enabled)
    app = FastAPI(
        title="FastAPI starter",
        version=settings.app_version,
        lifespan=lifespan_for(settings, tracer_provider),
        # Served by mount_docs, from the app's own assets, or not at all.
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL if documented else None,
        # FastAPI's own OpenTelemetry support stays off: app/observability/tracing.py is the one
        # place tracing is set up (and with it off, a request pays for no telemetry check).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
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
    # Outermost of all: its status is the one the client got, its time the whole request's.
    if settings.metrics_enabled:
        app.add_middleware(MetricsMiddleware)
    app.include_router(health_router)
    app.include_router(exports_router, prefix=API_PREFIX)
    # Resources' routers (`make resource` adds a line here).
    app.include_router(items_router, prefix=API_PREFIX)
    document_problems(app)
    if tracer_provider is not None:
        instrument_app(app, tracer_provider)
    return app


app = create_app()
