"""The request body size limit (pure ASGI, so streamed bodies are counted, never buffered)."""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import problem_response


def has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """HTTP/1.1 has a body only with Content-Length or Transfer-Encoding (RFC 9112 6.1)."""
    return any(name in (b"content-length", b"transfer-encoding") for name, _ in headers)


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_body_bytes`` with 413, whether declared or streamed.

    A declared Content-Length over the limit is refused before a byte is read; a chunked body is
    counted as it arrives, and reading it fails with 413 as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope["headers"]):
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
