"""Request id, access log and the last-resort error handler, around every request."""

import logging
import os
import re
import time
from urllib.parse import urlsplit, urlunsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_response
from app.core.logging import log_access, request_id_var

REQUEST_ID_HEADER = b"x-request-id"
# An incoming id is kept only if it is a short token that cannot forge a log line or a header.
SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")

error_log = logging.getLogger("app.error")


def incoming_request_id(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == REQUEST_ID_HEADER and SANE_REQUEST_ID.fullmatch(value):
            return value.decode("ascii")
    return None


# Redirects the app makes itself (a trailing slash): Starlette builds their Location from the
# Host header, which a client chooses. A path-only Location goes where the client already is.
REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
            log_access(
                scope["method"], scope["path"], status, duration_ms, client[0] if client else None
            )
            request_id_var.reset(token)
