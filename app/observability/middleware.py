"""RED metrics of every request, as pure ASGI middleware (the outermost: it sees the status the
client got, a 429 or a 500 included)."""

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.metrics import (
    HTTP_DURATION,
    HTTP_IN_FLIGHT,
    HTTP_REQUESTS,
    UNMATCHED_ROUTE,
    status_class,
)

# Any other method a client invents is counted as one label value, not a series of its own.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/items/{item_id}``), left in the scope by the
    router: never the raw path, whose ids would make a series each.

    FastAPI (0.165) keeps an included router's routes as declared, so ``scope["route"]`` lacks
    the prefixes they were included under; the full template is in FastAPI's own part of the
    scope (tests/unit/observability/test_metrics.py fails if an upgrade moves it)."""
    fastapi_scope = scope.get("fastapi")
    if fastapi_scope:
        template = getattr(fastapi_scope.get("effective_route_context"), "path_format", None)
        if isinstance(template, str):
            return template
    template = getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Labelled children, looked up once each: .labels() validates and locks on every call,
        # a measurable share of a fast request's cost (bench: /health/live).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: what the client gets from a broken connection

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        HTTP_IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            HTTP_IN_FLIGHT.dec()
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            self._observe(method, route_template(scope), status, started)

    def _observe(self, method: str, route: str, status: int, started: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = HTTP_REQUESTS.labels(method, route, status_class(status))
            self._counters[method, route, status] = counter
        counter.inc()
        histogram = self._histograms.get((method, route))
        if histogram is None:
            histogram = self._histograms[method, route] = HTTP_DURATION.labels(method, route)
        histogram.observe(time.perf_counter() - started)
