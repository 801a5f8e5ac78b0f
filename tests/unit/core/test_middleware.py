"""Request ids: taken from the caller when sane, else generated; on every response and log line."""

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient

GENERATED = re.compile(r"[0-9a-f]{32}")


async def test_a_sane_incoming_request_id_is_echoed(client: AsyncClient) -> None:
    response = await client.get("/health/live", headers={"X-Request-ID": "edge-7f3a:01/2+="})

    assert response.headers["x-request-id"] == "edge-7f3a:01/2+="


async def test_an_id_is_generated_when_none_is_given(client: AsyncClient) -> None:
    first = await client.get("/health/live")
    second = await client.get("/health/live")

    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize(
    "unsafe",
    [
        "has space",
        "x" * 129,
        'quote"d',
        "{json}",
        "ünïcode",
    ],
)
async def test_an_unsafe_incoming_id_is_replaced(client: AsyncClient, unsafe: str) -> None:
    response = await client.get("/health/live", headers={b"X-Request-ID": unsafe.encode()})

    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_error_responses_carry_the_request_id_too(client: AsyncClient) -> None:
    response = await client.get("/missing", headers={"X-Request-ID": "on-a-404"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "on-a-404"


async def test_one_access_line_per_request_with_its_id(
    client: AsyncClient, stdout_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    await client.get("/health/live", headers={"X-Request-ID": "access-1"})
    await client.get("/missing", headers={"X-Request-ID": "access-2"})

    access = [line for line in stdout_lines() if line["logger"] == "app.access"]
    assert [(a["request_id"], a["method"], a["path"], a["status"]) for a in access] == [
        ("access-1", "GET", "/health/live", 200),
        ("access-2", "GET", "/missing", 404),
    ]
    for line in access:
        assert line["level"] == "INFO"
        assert line["message"] == "request"
        assert line["duration_ms"] >= 0
        assert line["client"] == "127.0.0.1"  # httpx's ASGI transport's client
        assert datetime.fromisoformat(line["time"]).tzinfo is not None


async def test_the_access_line_follows_the_access_loggers_level(
    client: AsyncClient,
    stdout_lines: Callable[[], list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging.getLogger("app.access"), "level", logging.WARNING)

    await client.get("/health/live")

    assert [line for line in stdout_lines() if line["logger"] == "app.access"] == []
