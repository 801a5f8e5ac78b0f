"""The bounded HTTP protocol, fed bytes as a socket would: refusals before the app runs, a
bounded buffer, and dropped slow clients. (make chaos proves the same against the image.)"""

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from app.core.config import Settings
from app.serving.protocol import BoundedHttpToolsProtocol
from app.serving.worker import HardenedUvicornWorker
from tests.unit.support import changed

LIMITS = {
    "max_url_bytes": 100,
    "max_header_line_bytes": 200,
    "max_header_bytes": 1000,
    "header_timeout_seconds": 0.2,
}


class Transport(asyncio.Transport):
    """What the protocol writes, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def hello(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture
def connect(settings: Settings) -> Any:
    def open_connection() -> tuple[BoundedHttpToolsProtocol, Transport]:
        config = Config(app=hello, lifespan="off", log_config=None)
        config.load()
        protocol = BoundedHttpToolsProtocol(
            config, ServerState(), {}, asyncio.get_running_loop(), changed(settings, **LIMITS)
        )
        transport = Transport()
        protocol.connection_made(transport)
        return protocol, transport

    return open_connection


async def test_a_normal_request_reaches_the_app(connect: Any) -> None:
    protocol, transport = connect()

    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.01)

    assert transport.written.startswith(b"HTTP/1.1 200")
    assert b"hello" in transport.written


async def test_a_long_request_line_is_414(connect: Any) -> None:
    protocol, transport = connect()

    protocol.data_received(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n")

    assert transport.written.startswith(b"HTTP/1.1 414")
    assert b"application/problem+json" in transport.written
    assert transport.closed


async def test_a_long_header_line_is_431(connect: Any) -> None:
    protocol, transport = connect()

    protocol.data_received(b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 300 + b"\r\nHost: x\r\n\r\n")

    assert transport.written.startswith(b"HTTP/1.1 431")
    assert transport.closed


async def test_too_many_header_bytes_in_all_are_431(connect: Any) -> None:
    protocol, transport = connect()
    headers = b"".join(b"X-%d: %s\r\n" % (n, b"v" * 50) for n in range(40))

    protocol.data_received(b"GET / HTTP/1.1\r\n" + headers + b"\r\n")

    assert transport.written.startswith(b"HTTP/1.1 431")


async def test_a_header_that_never_ends_is_refused_once_over_the_total(connect: Any) -> None:
    protocol, transport = connect()
    protocol.data_received(b"GET / HTTP/1.1\r\nX-Endless: ")

    for _ in range(20):  # 2,000 bytes in all, never a line end
        if transport.closed:
            break
        protocol.data_received(b"e" * 100)

    assert transport.written.startswith(b"HTTP/1.1 431")
    assert protocol._head_bytes <= 1000 + 100 + 100  # the limits plus one read


async def test_a_connection_that_sends_nothing_is_dropped(connect: Any) -> None:
    _, transport = connect()

    await asyncio.sleep(0.3)

    assert transport.closed
    assert transport.written == b""


async def test_headers_sent_a_byte_at_a_time_are_dropped_after_the_timeout(connect: Any) -> None:
    protocol, transport = connect()
    request = b"GET / HTTP/1.1\r\nHost: x\r\n"

    for byte in request[:-1]:
        protocol.data_received(bytes([byte]))
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)

    assert transport.closed
    assert transport.written == b""


def test_the_worker_sends_no_server_header_and_caps_connections(settings: Settings) -> None:
    kwargs = HardenedUvicornWorker.CONFIG_KWARGS

    assert kwargs["server_header"] is False
    assert kwargs["http"] is BoundedHttpToolsProtocol
    assert kwargs["limit_concurrency"] == settings.max_connections_per_worker
