"""The worker's metrics and traces: jobs counted and timed by task and outcome, the queue's
depth read from the queue store when scraped, and a request's trace carried into the jobs it
enqueues (a ``traceparent`` label) and resumed when the worker runs them."""

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from app.core.metrics import JOB_DURATION, JOBS, QUEUE_DEPTH
from app.observability import tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span

logger = logging.getLogger(__name__)


class JobObservability(TaskiqMiddleware):
    """In the app: ``pre_send`` labels a job with the request's trace. In the worker: each job
    counted, timed, and run inside a span that continues that trace."""

    def __init__(self) -> None:
        super().__init__()
        # Per running job (by task id): when it started, and its span if tracing is on.
        self._running: dict[str, tuple[float, Span | None, object]] = {}

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        labels: dict[str, Any] = message.labels
        tracing.inject_context(labels)
        return message

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        span, token = self._start_span(message)
        self._running[message.task_id] = (time.perf_counter(), span, token)
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        outcome = "failed" if result.is_err else "succeeded"
        JOBS.labels(message.task_name, outcome).inc()
        running = self._running.pop(message.task_id, None)
        if running is None:
            return
        started, span, token = running
        JOB_DURATION.labels(message.task_name).observe(time.perf_counter() - started)
        if span is not None:
            from opentelemetry import context  # noqa: PLC0415 - tracing is on

            span.set_attribute("job.outcome", outcome)
            span.end()
            context.detach(token)  # type: ignore[arg-type]

    def _start_span(self, message: TaskiqMessage) -> "tuple[Span | None, object]":
        tracer = tracing.tracer(__name__)
        if tracer is None:
            return None, None
        from opentelemetry import context, trace  # noqa: PLC0415 - tracing is on
        from opentelemetry.trace import SpanKind  # noqa: PLC0415

        parent = tracing.extracted_context({str(k): str(v) for k, v in message.labels.items()})
        span = tracer.start_span(f"job {message.task_name}", context=parent, kind=SpanKind.CONSUMER)
        span.set_attribute("job.id", message.task_id)
        # The job's own calls (database, Redis) and log lines belong to its span; the job runs
        # in the context this middleware runs in, a task of its own per message.
        return span, context.attach(trace.set_span_in_context(span))


class QueueDepthCollector(Collector):
    """Jobs waiting (sent, not yet taken by any worker) and running (taken, not acknowledged),
    read from the queue store's consumer group at scrape time."""

    def __init__(self, redis: Redis, stream: str, group: str) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            QUEUE_DEPTH,
            "Jobs in the queue: waiting (not yet taken by a worker) or running (taken, not yet "
            "acknowledged).",
            labels=["state"],
        )
        try:
            groups: Any = self.redis.xinfo_groups(self.stream)
        except RedisError as error:
            # No sample rather than a wrong one: an alert on absent() notices.
            logger.warning("queue depth unavailable", extra={"error": type(error).__name__})
            return
        for group in groups:
            if group["name"] in (self.group, self.group.encode()):
                family.add_metric(["waiting"], float(group.get("lag") or 0))
                family.add_metric(["running"], float(group.get("pending") or 0))
        yield family


def queue_store_client(url: str, password: str | None, timeout_seconds: float, **tls: str) -> Redis:
    """A small synchronous client for the scrape thread: it must not touch the event loop's.
    ``tls``: what a rediss:// URL trusts, as the broker's connections (app.core.redis.redis_tls)."""
    return Redis.from_url(
        url,
        password=password,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        max_connections=2,
        **tls,
    )
