"""Request ids: taken from the caller when sane, else generated; on every response and log line.
The access line: one per request, naming the caller's key id."""

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from httpx import AsyncClient

from tests.unit.support import API_KEY, API_KEY_ID, PROBES, ROTATED_API_KEY, WRITE_HEADERS

GENERATED = re.compile(r"[0-9a-f]{32}")
ROTATED_HEADERS = {"X-API-Key": ROTATED_API_KEY}


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


async def test_the_access_line_names_the_callers_key_id_never_the_key(
    client: AsyncClient, stdout_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    keyed = await client.post(f"{PROBES}/echo", json={"a": 1}, headers=WRITE_HEADERS)
    rotated = await client.post(f"{PROBES}/echo", json={"a": 1}, headers=ROTATED_HEADERS)
    anonymous = await client.get(f"{PROBES}/ok")
    keyless = await client.post(f"{PROBES}/echo", json={"a": 1})
    assert [r.status_code for r in (keyed, rotated, anonymous, keyless)] == [201, 201, 200, 401]

    lines = stdout_lines()
    access = [line for line in lines if line["logger"] == "app.access"]
    assert [(a["method"], a["status"], a["key_id"]) for a in access] == [
        ("POST", 201, API_KEY_ID),
        ("POST", 201, API_KEY_ID),  # a rotated secret keeps its id
        ("GET", 200, None),
        ("POST", 401, None),
    ]
    written = json.dumps(lines)
    assert API_KEY not in written
    assert ROTATED_API_KEY not in written
