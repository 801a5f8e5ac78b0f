"""The middleware every request passes, outermost first (app/main.py adds them):

- ``MetricsMiddleware``: RED metrics by route template, with the status the client got;
- ``RequestContextMiddleware``: the request id, the access line, the last-resort 500, and
  ``Connection: close`` on every answer while the process drains;
- ``AllowedHostsMiddleware``: only the Host headers the deployment serves;
- (``app.core.rate_limit``);
- ``BodySizeLimitMiddleware``: bodies over MAX_BODY_BYTES refused, declared or streamed.

All are pure ASGI (not BaseHTTPMiddleware): no extra task per request, and streamed bodies are
counted as they pass, never buffered.
"""

import logging
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import drain
from app.core.errors import problem_response
from app.core.logging import log_access, request_id_var
from app.core.metrics import HTTP_DURATION, HTTP_IN_FLIGHT, HTTP_REQUESTS, UNMATCHED_ROUTE

HEALTH_PREFIX = "/health/"

# Any other method a client invents is counted as one label value, not a series of its own.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's template (``/api/v1/items/{item_id}``), left in the scope by the
    router: never the raw path, whose ids would make a series each. Routers carry their whole
    prefix (app/main.py includes them without one), so the template is the full path."""
    template = getattr(scope.get("route"), "path_format", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Labelled children, looked up once each: .labels() validates and locks on every call.
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
            route = route_template(scope)
            counter = self._counters.get((method, route, status))
            if counter is None:
                counter = HTTP_REQUESTS.labels(method, route, f"{status // 100}xx")
                self._counters[method, route, status] = counter
            counter.inc()
            histogram = self._histograms.get((method, route))
            if histogram is None:
                histogram = self._histograms[method, route] = HTTP_DURATION.labels(method, route)
            histogram.observe(time.perf_counter() - started)


REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is kept only if it is a short token that cannot forge a log line or a header.
SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
CONNECTION_CLOSE = (b"connection", b"close")
# Every answer: a browser must not guess a type other than the one declared (a CSV or a JSON
# body run as HTML or script).
NO_SNIFF = (b"x-content-type-options", b"nosniff")
# An answer to an authenticated caller is that caller's alone: no cache on the way keeps it.
NO_STORE = (b"cache-control", b"no-store")
# Redirects the app makes itself (a trailing slash): Starlette builds their Location from the
# Host header, which a client chooses. A path-only Location goes where the client already is.
REDIRECTS = frozenset({301, 302, 303, 307, 308})

error_log = logging.getLogger("app.error")


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == REQUEST_ID_HEADER and SANE_REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return None


def relative_location(header: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
    name, value = header
    if name.lower() != b"location":
        return header
    parts = urlsplit(value.decode("latin-1"))
    return name, urlunsplit(("", "", parts.path or "/", parts.query, "")).encode("latin-1")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = incoming_request_id(scope["headers"]) or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = [*message.get("headers", ()), (REQUEST_ID_HEADER, request_id.encode())]
                headers.append(NO_SNIFF)
                if scope.get("state", {}).get("key_id") is not None:
                    headers = [
                        header for header in headers if header[0].lower() != b"cache-control"
                    ]
                    headers.append(NO_STORE)
                if drain.draining.is_set():
                    # The server closes the connection after this answer: a proxy that keeps
                    # connections to the replicas (the edge) lets go of this one's.
                    headers.append(CONNECTION_CLOSE)
                if status in REDIRECTS:
                    headers = [relative_location(header) for header in headers]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            error_log.exception("unhandled error", extra={"path": scope["path"]})
            if not response_started:
                # No internals in the body: the request id leads to the logged traceback.
                response = problem_response(500, "An unexpected error occurred.")
                await response(scope, receive, send_with_request_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            client = scope.get("client")
            # The caller's key id, when a route authenticated one (app.core.security).
            key_id = scope.get("state", {}).get("key_id")
            log_access(
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                client=client[0] if client else None,
                key_id=key_id,
            )
            request_id_var.reset(token)


def parse_allowed_hosts(setting: str) -> frozenset[str]:
    return frozenset(host.strip().lower() for host in setting.split(",") if host.strip())


def host_of(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            host: str = value.decode("latin-1").lower()
            return host if host.endswith("]") else host.rsplit(":", 1)[0]
    return ""


class AllowedHostsMiddleware:
    """Added only when ALLOWED_HOSTS names some. Health endpoints answer any Host: Kubernetes,
    ECS and load balancers probe them by address."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith(HEALTH_PREFIX)
            or host_of(scope) in self.allowed
        ):
            await self.app(scope, receive, send)
            return
        await problem_response(400, "This host is not served here.")(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_body_bytes`` with 413, whether declared or streamed.

    A declared Content-Length over the limit is refused before a byte is read; a chunked body is
    counted as it arrives, and reading it fails with 413 as soon as it passes the limit.
    HTTP/1.1 has a body only with Content-Length or Transfer-Encoding (RFC 9112 6.1).
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(
            name in (b"content-length", b"transfer-encoding") for name, _ in scope["headers"]
        ):
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        detail = f"The request body is over the limit of {limit} bytes."
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await problem_response(413, detail)(scope, receive, send)
                return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException: FastAPI lets it through its body parsing unchanged,
                    # and the problem handlers answer it.
                    raise HTTPException(413, detail)
            return message

        await self.app(scope, counting_receive, send)
