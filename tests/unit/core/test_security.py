"""Who is calling (app/core/security.py): a route that takes the key checks it before its body
is read (KeyCheckedFirst), whatever its path; a route that does not take it is not gated; the
caller is the key's id, never the key."""

import asyncio
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from httpx import AsyncClient
from pydantic import ValidationError
from starlette.types import Message, Scope

from app.core.config import ApiKey, InvalidSettings, Settings, parse_api_keys
from app.core.security import Caller, CurrentCaller, KeyCheckedFirst, caller_for
from tests.unit.support import (
    API_KEY,
    API_KEY_ID,
    API_KEYS,
    API_PROBES,
    PROBES,
    READ_API_KEY,
    ROTATED_API_KEY,
    WRITE_HEADERS,
    changed,
)

# Test routes on a KeyCheckedFirst router: one that takes the caller as a parameter, and one
# that does not take a key at all (under the API's prefix: the prefix gates nothing).
CALLER = "/api/v1/test-caller"
OPEN = "/api/v1/test-open"
JSON = {"Content-Type": "application/json"}
# Routes that take the key: through dependencies=[Security(authenticate)] (the probes) or a
# CurrentCaller parameter.
KEYED = [f"{PROBES}/echo", API_PROBES, CALLER]


@pytest.fixture(autouse=True)
def routes(app: FastAPI) -> None:
    router = APIRouter(route_class=KeyCheckedFirst)

    @router.post(CALLER)
    async def whoami(caller: CurrentCaller, body: dict[str, Any]) -> dict[str, Any]:
        return {"key_id": caller.key_id, "body": body}

    @router.post(OPEN)
    async def open_echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    app.include_router(router)


@pytest.mark.parametrize("path", KEYED)
@pytest.mark.parametrize("presented", [None, "made-up"])
async def test_a_keyed_route_answers_401_before_parsing_the_body(
    client: AsyncClient, path: str, presented: str | None
) -> None:
    headers = JSON | ({"X-API-Key": presented} if presented else {})

    response = await client.post(path, content=b"{not json", headers=headers)

    assert response.status_code == 401  # not the 422 that parsing the body would give
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'


async def post_with_a_body_that_never_comes(
    app: FastAPI, path: str, headers: dict[str, str]
) -> tuple[bool, list[Message]]:
    """POST to the app as a server would, from a client that sends its headers and then
    nothing: whether the app asked for the body, and what it sent."""
    asked_for_body = asyncio.Event()
    sent: list[Message] = []

    async def receive() -> Message:
        asked_for_body.set()
        await asyncio.Event().wait()  # the body never comes
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"test"),
            (b"content-length", b"1000"),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    async with LifespanManager(app) as manager:

        async def call() -> None:
            await manager.app(scope, receive, send)

        request = asyncio.create_task(call())
        try:
            await asyncio.wait_for(asyncio.shield(request), timeout=2)
        except TimeoutError:
            pass
        finally:
            request.cancel()
            await asyncio.gather(request, return_exceptions=True)
    return asked_for_body.is_set(), sent


@pytest.mark.parametrize("path", KEYED)
async def test_a_keyed_route_answers_401_without_ever_receiving_the_body(
    app: FastAPI, path: str
) -> None:
    asked_for_body, sent = await post_with_a_body_that_never_comes(app, path, JSON)

    assert not asked_for_body
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 401


async def test_with_a_valid_key_the_same_route_does_receive_the_body(app: FastAPI) -> None:
    """The other side of the test above: the harness does notice a read of the body."""
    asked_for_body, sent = await post_with_a_body_that_never_comes(
        app, API_PROBES, JSON | WRITE_HEADERS
    )

    assert asked_for_body
    assert sent == []  # still waiting for the body


async def test_keyed_writes_pass_the_gate_and_reads_are_not_gated(client: AsyncClient) -> None:
    assert (await client.get(API_PROBES)).status_code == 200
    assert (await client.get(f"{PROBES}/ok")).status_code == 200
    keyed = await client.post(API_PROBES, content=b"{not json", headers=WRITE_HEADERS | JSON)
    assert keyed.status_code == 422  # through the gate, refused by validation
    echoed = await client.post(API_PROBES, json={"a": 1}, headers=WRITE_HEADERS)
    assert echoed.status_code == 200
    assert echoed.json() == {"a": 1}


async def test_a_route_that_takes_no_key_is_not_gated(client: AsyncClient) -> None:
    echoed = await client.post(OPEN, json={"a": 1})
    malformed = await client.post(OPEN, content=b"{not json", headers=JSON)

    assert echoed.status_code == 200
    assert echoed.json() == {"a": 1}
    assert malformed.status_code == 422  # its body was read and parsed: no key asked for


async def test_a_route_that_takes_no_key_receives_its_body_without_one(app: FastAPI) -> None:
    asked_for_body, _ = await post_with_a_body_that_never_comes(app, OPEN, JSON)

    assert asked_for_body


@pytest.mark.parametrize("key", [API_KEY, ROTATED_API_KEY])
async def test_the_handler_gets_the_callers_key_id_never_the_key(
    client: AsyncClient, key: str
) -> None:
    response = await client.post(CALLER, json={"a": 1}, headers={"X-API-Key": key})

    assert response.status_code == 200
    assert response.json() == {"key_id": API_KEY_ID, "body": {"a": 1}}
    assert key not in response.text


async def test_the_openapi_document_declares_the_key_only_where_a_route_takes_it(
    client: AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    for path in KEYED:
        assert paths[path]["post"]["security"] == [{"APIKeyHeader": []}], path
    assert "security" not in paths[OPEN]["post"]
    assert "security" not in paths[API_PROBES]["get"]


@pytest.mark.parametrize(
    ("presented", "expected"),
    [
        (API_KEY, Caller(API_KEY_ID, "write")),
        (ROTATED_API_KEY, Caller(API_KEY_ID, "write")),
        (READ_API_KEY, Caller("reader", "read")),
        ("made-up", None),
        (API_KEY[:-1], None),
        (API_KEY + "x", None),
        ("", None),
        (None, None),
    ],
)
def test_the_caller_is_the_presented_keys_id_if_it_is_one_of_the_keys(
    presented: str | None, expected: Caller | None
) -> None:
    assert caller_for(presented, parse_api_keys(API_KEYS)) == expected


async def test_a_read_key_is_403_on_a_write_and_names_no_secret(client: AsyncClient) -> None:
    response = await client.post(CALLER, json={"a": 1}, headers={"X-API-Key": READ_API_KEY})

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert READ_API_KEY not in response.text


def test_the_key_file_holds_ids_scopes_and_secrets() -> None:
    assert parse_api_keys(f" ops:read:{'k' * 8}{READ_API_KEY} ,") == (
        ApiKey("ops", "read", f"{'k' * 8}{READ_API_KEY}".encode()),
    )


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("test-key-current", "is not ID:SCOPE:SECRET"),
        ("ops:write:0123456789", "at least 32 characters"),  # the 10 characters once accepted
        (f"ops:write:{'a' * 40}", "at least 32 characters"),  # long, but not random
        (f"ops:admin:{API_KEY}", "scope must be read or write"),
        (f"o p:write:{API_KEY}", "its id must be"),
    ],
)
def test_a_weak_or_malformed_key_stops_the_start_naming_the_setting_not_the_secret(
    settings: Settings, setting: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        changed(settings, api_keys=setting)

    message = str(InvalidSettings(refused.value))
    assert "API_KEYS" in message
    assert reason in message
    assert setting.rsplit(":", 1)[-1] not in message
