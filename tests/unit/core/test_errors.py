"""Every error is application/problem+json (RFC 9457), never a stack trace."""

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from starlette.types import Message, Receive, Scope, Send

from app.core.middleware import RequestContextMiddleware

PROBLEM_JSON = "application/problem+json"


def assert_problem(response_headers: dict[str, str], body: dict[str, object], status: int) -> None:
    assert response_headers["content-type"] == PROBLEM_JSON
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert isinstance(body["title"], str)
    assert body["title"]


async def test_an_unknown_path_is_a_404_problem(client: AsyncClient) -> None:
    response = await client.get("/no/such/path")

    assert response.status_code == 404
    assert_problem(dict(response.headers), response.json(), 404)
    assert response.json()["title"] == "Not Found"


async def test_a_wrong_method_is_a_405_problem_with_allow(client: AsyncClient) -> None:
    response = await client.delete("/health/live")

    assert response.status_code == 405
    assert_problem(dict(response.headers), response.json(), 405)
    assert response.headers["allow"] == "GET, HEAD"  # every route of the path, not the first


async def test_invalid_input_is_a_422_problem_listing_the_field_errors(
    app: FastAPI, client: AsyncClient
) -> None:
    @app.get("/test/square")
    async def square(n: int) -> int:
        return n * n

    response = await client.get("/test/square", params={"n": "seven"})

    assert response.status_code == 422
    body = response.json()
    assert_problem(dict(response.headers), body, 422)
    assert body["errors"] == [
        {
            "loc": ["query", "n"],
            "msg": "Input should be a valid integer, unable to parse string as an integer",
            "type": "int_parsing",
        }
    ]


async def test_an_unhandled_error_is_a_500_problem_without_internals(
    app: FastAPI, client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py")

    response = await client.get("/test/boom", headers={"X-Request-ID": "trace-500"})

    assert response.status_code == 500
    body = response.json()
    assert_problem(dict(response.headers), body, 500)
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert response.headers["x-request-id"] == "trace-500"
    (logged,) = [r for r in caplog.records if r.name == "app.error"]
    assert logged.request_id == "trace-500"  # type: ignore[attr-defined]
    assert logged.exc_info is not None


async def test_an_error_after_the_response_started_is_logged_not_resent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def streams_then_breaks(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("broke mid-stream")

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope: Scope = {"type": "http", "method": "GET", "path": "/stream", "headers": []}
    await RequestContextMiddleware(streams_then_breaks)(scope, receive, send)

    # The status line had already gone out: no second response is started over it.
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert any(r.name == "app.error" and r.exc_info for r in caplog.records)


async def test_the_openapi_document_describes_every_error_as_a_problem(client: AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()

    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path != "/health/ready":  # health+json by design
                    assert list(response["content"]) == [PROBLEM_JSON], (path, method, status)


async def test_get_endpoints_answer_head_too(client: AsyncClient) -> None:
    for path in ("/health/live", "/health/ready"):
        response = await client.head(path)
        assert response.status_code == 200, path
