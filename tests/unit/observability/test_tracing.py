"""Traces, exported to memory: a request is one trace, its database and Redis calls are spans
within it, and its log lines carry its trace id; a job it enqueues continues it."""

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from taskiq import InMemoryBroker

from app.core.config import Settings
from app.core.metrics import JOBS
from app.core.resources import Resources
from app.main import create_app
from app.observability import tracing
from app.observability.jobs import JobObservability
from tests.unit.support import captured_stdout, serve


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    tracing.stop_process_tracing()


def db_system(span: ReadableSpan) -> object:
    """The database a client span talks to (the attribute's name differs across semconv)."""
    attributes = span.attributes or {}
    return attributes.get("db.system.name", attributes.get("db.system"))


def ancestors(span: ReadableSpan, spans: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    chain = []
    while span.parent is not None and span.parent.span_id in spans:
        span = spans[span.parent.span_id]
        chain.append(span)
    return chain


async def test_a_request_is_one_trace_with_its_database_and_redis_spans_inside(
    settings: Settings,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = create_app(settings, tracer_provider=provider)
    logged = captured_stdout(monkeypatch)
    async with serve(app) as http:
        response = await http.get("/health/ready")  # both checks: Postgres and Redis
    assert response.status_code == 200

    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name == "GET /health/ready"
    database = [s for s in spans if db_system(s) == "postgresql"]
    redis = [s for s in spans if db_system(s) == "redis"]
    assert database, [s.name for s in spans]
    assert redis, [s.name for s in spans]
    by_id = {s.context.span_id: s for s in spans}
    for span in [*database, *redis]:
        assert span.context.trace_id == server.context.trace_id
        assert server in ancestors(span, by_id), f"{span.name} is not within the request's span"
    assert {s.context.trace_id for s in spans} == {server.context.trace_id}  # one trace

    trace_id = format(server.context.trace_id, "032x")
    lines = logged()
    accessed = [line for line in lines if line["logger"] == "app.access"]
    assert len(accessed) == 1, lines
    access = accessed[0]
    assert access["trace_id"] == trace_id
    assert access["request_id"] == response.headers["x-request-id"]


async def test_without_an_endpoint_nothing_is_traced_or_stamped(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings)
    logged = captured_stdout(monkeypatch)
    async with serve(app) as http:
        await http.get("/health/live")

    lines = logged()
    accessed = [line for line in lines if line["logger"] == "app.access"]
    assert len(accessed) == 1, lines
    access = accessed[0]
    assert "trace_id" not in access


def test_tracing_off_loads_no_exporter_or_instrumentation_and_starts_no_thread() -> None:
    """(FastAPI and redis-py import parts of OpenTelemetry's API and SDK themselves when they
    are installed, for features of their own that stay off: modules, no thread.)"""
    probe = (
        "import sys, threading\n"
        "before = threading.active_count()\n"
        "import app.main\n"
        "heavy = ('opentelemetry.exporter', 'opentelemetry.instrumentation', 'google.protobuf')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "print(loaded, threading.active_count() - before)\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    # One thread is the log writer's (app.core.logging), started by configure_logging.
    assert result.stdout.split() == ["[]", "1"]


def test_the_exporter_is_pointed_at_the_collector_traces_path(settings: Settings) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    provider = tracing.new_tracer_provider(
        settings.model_copy(
            update={"otel_exporter_otlp_endpoint": "http://collector:4318/", "app_version": "1.2"}
        )
    )
    enabled = settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://collector:4318/"})
    tracing.export_spans(provider, enabled)
    try:
        processor = provider._active_span_processor._span_processors[0]
        exporter = processor._batch_processor._exporter  # type: ignore[attr-defined]
        assert isinstance(exporter, OTLPSpanExporter)
        assert exporter._endpoint == "http://collector:4318/v1/traces"
        assert provider.resource.attributes["service.name"] == settings.otel_service_name
        assert provider.resource.attributes["service.version"] == "1.2"
    finally:
        provider.shutdown()


async def test_a_job_enqueued_in_a_request_continues_its_trace(
    settings: Settings, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    broker = InMemoryBroker().with_middlewares(JobObservability())
    ran: list[str | None] = []

    @broker.task(task_name="tests.traced")
    async def traced() -> None:
        ran.append(tracing.current_trace_id())

    resources = Resources.open(settings)
    tracing.start_process_tracing(resources, provider)
    succeeded = JOBS.labels("tests.traced", "succeeded")
    before = succeeded._value.get()
    try:
        with provider.get_tracer("test").start_as_current_span("request") as request:
            task = await traced.kiq()
        await task.wait_result(timeout=5)
    finally:
        await resources.close()

    request_trace = format(request.get_span_context().trace_id, "032x")
    (job,) = [s for s in exporter.get_finished_spans() if s.name == "job tests.traced"]
    assert job.parent is not None
    assert job.parent.span_id == request.get_span_context().span_id
    assert ran == [request_trace]  # the job's own log lines carry the request's trace id
    assert succeeded._value.get() == before + 1
