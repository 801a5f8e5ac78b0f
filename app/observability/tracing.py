"""Traces (OpenTelemetry), off unless OTEL_EXPORTER_OTLP_ENDPOINT is set: then the app's
requests, its database and Redis calls, httpx's and the jobs it enqueues are traced, and every
log line of a request carries its trace id.

Fork-safety: nothing here runs at import. The provider's span processor (a thread) is started
by ``start_process_tracing`` in each process that serves: the app's lifespan, which runs in
every gunicorn worker after the fork, and the worker's start-up. While tracing is off this
module imports nothing of OpenTelemetry, and no thread is started.
"""

import importlib.util
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from app.core.config import Settings
from app.core.logging import set_trace_id_source

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

    from app.core.resources import Resources

# The provider this process traces with, once started (None: tracing is off here).
_provider: "TracerProvider | None" = None


def tracing_configured(settings: Settings) -> bool:
    return bool(settings.otel_exporter_otlp_endpoint)


def new_tracer_provider(settings: Settings) -> "TracerProvider":
    """A provider naming the service and its version, exporting nothing yet (no thread)."""
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 - only when tracing
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    attributes = {
        "service.name": settings.otel_service_name,
        "service.version": settings.app_version,
    }
    return TracerProvider(resource=Resource.create(attributes))


def export_spans(provider: "TracerProvider", settings: Settings) -> None:
    """Batch spans to the OTLP/HTTP collector, from a thread of the calling process."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    base = (settings.otel_exporter_otlp_endpoint or "").rstrip("/")
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))


def instrument_app(app: "FastAPI", provider: "TracerProvider") -> None:
    """A server span per request, named by its route template. Before the app first serves: the
    instrumentation wraps the middleware stack as it is built."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor  # noqa: PLC0415

    # No span per ASGI message: two or three more per request, and nothing to learn from them.
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, exclude_spans=["receive", "send"]
    )


def start_process_tracing(resources: "Resources", provider: "TracerProvider") -> None:
    """Trace this process's clients (database, Redis, httpx) and stamp its log lines."""
    global _provider  # noqa: PLW0603 - one provider per process
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: PLC0415

    # The instrumentation declares sqlalchemy < 2.1 and would silently do nothing on 2.1; the
    # events it uses are unchanged in 2.1, and the tracing test proves its spans.
    SQLAlchemyInstrumentor().instrument(
        engine=resources.engine.sync_engine, tracer_provider=provider, skip_dep_check=True
    )
    RedisInstrumentor().instrument(tracer_provider=provider)
    if _httpx_installed():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415

        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    set_trace_id_source(current_trace_id)
    _provider = provider


def stop_process_tracing() -> None:
    """Undo start_process_tracing, sending the spans still buffered."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor  # noqa: PLC0415

    set_trace_id_source(None)
    SQLAlchemyInstrumentor().uninstrument()
    RedisInstrumentor().uninstrument()
    if _httpx_installed():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor  # noqa: PLC0415

        HTTPXClientInstrumentor().uninstrument()
    provider, _provider = _provider, None
    provider.shutdown()


def _httpx_installed() -> bool:
    """httpx is the client to call other services with; the image ships it only if one does."""
    return importlib.util.find_spec("httpx") is not None


def current_trace_id() -> str | None:
    from opentelemetry import trace  # noqa: PLC0415 - imported already once tracing is on

    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def tracer(name: str) -> "Tracer | None":
    """A tracer of this process's provider; None while tracing is off here."""
    return None if _provider is None else _provider.get_tracer(name)


def inject_context(carrier: MutableMapping[str, str]) -> None:
    """The current trace context into a job's labels (traceparent), when tracing is on."""
    if _provider is not None:
        from opentelemetry.propagate import inject  # noqa: PLC0415

        inject(carrier)


def extracted_context(carrier: MutableMapping[str, str]) -> "Context":
    from opentelemetry.propagate import extract  # noqa: PLC0415

    return extract(carrier)
