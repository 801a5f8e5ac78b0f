"""uvicorn's httptools protocol with the limits it lacks, so a hostile client is refused before
the app reads a byte, even where the app's port is published directly (no proxy in front):

- a request line longer than ``max_url_bytes`` is answered 414;
- a header line over ``max_header_line_bytes``, or headers over ``max_header_bytes`` in all,
  431 (httptools buffers a header until it is complete, so the total is counted as bytes
  arrive, and memory stays bounded by the limit plus one read);
- a connection whose request headers have not all arrived ``header_timeout_seconds`` after it
  opened (or after its request began) is closed: slow-header and idle-socket clients cost a
  file descriptor for a bounded time, never a worker.
"""

import asyncio
import json
from http import HTTPStatus

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.core.config import Settings, get_settings

TOO_LARGE = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE


class RequestRefused(Exception):
    def __init__(self, status: HTTPStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def refusal_bytes(status: HTTPStatus, detail: str) -> bytes:
    body = json.dumps(
        {"type": "about:blank", "title": status.phrase, "status": int(status), "detail": detail}
    ).encode()
    head = (
        f"HTTP/1.1 {int(status)} {status.phrase}\r\n"
        "content-type: application/problem+json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, object],
        _loop: asyncio.AbstractEventLoop | None = None,
        settings: Settings | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = settings or get_settings()
        self._in_head = True  # until a request's headers are complete
        self._head_bytes = 0  # bytes read while in the head (what httptools may be buffering)
        self._header_bytes = 0  # bytes of complete headers
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: RequestRefused | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never sends a request is dropped too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after this read: the headers are over the limit so far.
        if (
            self._in_head
            and self._head_bytes > self.limits.max_header_bytes + self.limits.max_url_bytes
        ):
            self._refuse(
                RequestRefused(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "The request headers are too large."
                )
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._header_bytes = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes:
            raise self._refusing(HTTPStatus.REQUEST_URI_TOO_LONG, "The request line is too long.")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        self._header_bytes += size
        if size > self.limits.max_header_line_bytes:
            raise self._refusing(TOO_LARGE, "A request header is too large.")
        if self._header_bytes > self.limits.max_header_bytes:
            raise self._refusing(TOO_LARGE, "The request headers are too large.")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error, which is how a refusal raised in a parser
        callback comes back: answer with the refusal's own status instead."""
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)

    def _refusing(self, status: HTTPStatus, detail: str) -> RequestRefused:
        self._refusal = RequestRefused(status, detail)
        return self._refusal

    def _refuse(self, refusal: RequestRefused) -> None:
        self._disarm_head_timer()
        self._in_head = False
        if not self.transport.is_closing():
            self.logger.warning("request refused: %s", refusal.detail)
            self.transport.write(refusal_bytes(refusal.status, refusal.detail))
            self.transport.close()

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._head_timed_out
        )

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            # No answer: a client this slow is not waiting for one, and writing to it could
            # block as well.
            self.transport.close()
