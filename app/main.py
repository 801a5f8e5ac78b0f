"""The application: what a request passes through, which routers answer, and what each server
process opens at start-up. ``app`` is what gunicorn and uvicorn serve."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from app.core.config import Settings, get_settings
from app.core.database import count_connections_in_use
from app.core.docs import OPENAPI_URL, docs_enabled, mount_docs
from app.core.drain import drain_on_sigterm
from app.core.errors import document_problems, register_problem_handlers
from app.core.logging import configure_logging
from app.core.metrics import APP_INFO
from app.core.middleware import (
    AllowedHostsMiddleware,
    BodySizeLimitMiddleware,
    MetricsMiddleware,
    RequestContextMiddleware,
    parse_allowed_hosts,
)
from app.core.outages import register_outage_handlers
from app.core.rate_limit import RateLimitMiddleware
from app.core.resources import Resources, SessionClosingMiddleware
from app.exports.router import router as exports_router
from app.health.router import router as health_router
from app.health.service import SharedReadiness
from app.items.router import router as items_router
from app.kit.cache import VersionedCache
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

logger = logging.getLogger(__name__)


def count_process_metrics(resources: Resources) -> None:
    """What a process holds open, as metrics: reported as it changes rather than polled, since
    under gunicorn nothing in a server process runs at scrape time."""
    settings = resources.settings
    APP_INFO.labels(settings.app_version).set(1)
    count_connections_in_use(resources.engine, settings)


def create_app(
    settings: Settings | None = None, tracer_provider: "TracerProvider | None" = None
) -> FastAPI:
    """``tracer_provider``: trace with this one (a test's, exporting to memory); by default,
    one is made when OTEL_EXPORTER_OTLP_ENDPOINT is set, else nothing is traced."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    if tracer_provider is None and tracing_configured(settings):
        tracer_provider = new_tracer_provider(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        """Runs in each server process, after gunicorn's fork: pools open here, and so does a
        span processor's thread. What is yielded is every request's ``request.state``."""
        if not settings.api_key_set:
            logger.warning(
                "no API keys are configured (API_KEYS, or the file /run/secrets/api_keys): "
                "every write will be refused with 401"
            )
        resources = Resources.open(settings)
        cache = VersionedCache(
            resources.redis, resources.redis_guard, enabled=settings.cache_enabled
        )
        readiness = SharedReadiness(
            resources.engine, resources.redis, settings.health_check_timeout_seconds
        )
        if settings.metrics_enabled:
            count_process_metrics(resources)
        if tracer_provider is not None:
            if tracing_configured(settings):
                export_spans(tracer_provider, settings)
            start_process_tracing(resources, tracer_provider)
        stop_draining = drain_on_sigterm(settings.drain_seconds)
        try:
            yield {"resources": resources, "cache": cache, "readiness": readiness}
        finally:
            stop_draining()
            stop_process_tracing()
            await cache.aclose()
            await resources.close()
            await broker.shutdown()  # the queue's connections (the app only sends to it)

    documented = docs_enabled(settings.environment, settings.docs_enabled)
    app = FastAPI(
        title="FastAPI starter",
        version=settings.app_version,
        lifespan=lifespan,
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
    register_outage_handlers(app)
    # Added innermost first. The request's session is closed closest to the handler, as its
    # answer starts. Rate limiting comes before any body is read; the request id and the access
    # line wrap everything, so even a 429 or a 413 is logged with its id; metrics wrap all, so
    # their status is the one the client got and their time the whole request's.
    app.add_middleware(SessionClosingMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, settings=settings)
    allowed_hosts = parse_allowed_hosts(settings.allowed_hosts)
    if "*" not in allowed_hosts:
        app.add_middleware(AllowedHostsMiddleware, allowed=allowed_hosts)
    app.add_middleware(RequestContextMiddleware)
    if settings.metrics_enabled:
        app.add_middleware(MetricsMiddleware)
    # Each router carries its whole prefix (/api/v1/...), so a route's template is its path.
    app.include_router(health_router)
    app.include_router(items_router)  # `make resource` adds its router below this line
    app.include_router(exports_router)
    document_problems(app)
    if tracer_provider is not None:
        instrument_app(app, tracer_provider)
    return app


app = create_app()
