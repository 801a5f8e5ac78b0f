import asyncio

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from starlette.types import Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.core.config import Settings
from app.core.rate_limit import MAX_LEASE, client_identity, lease_size
from tests.unit.support import (
    API_KEY,
    API_KEY_ID,
    PROBES,
    ROTATED_API_KEY,
    changed,
    create_app_with_probes,
    serve,
    within_one_window,
)

LIMIT = 3
OK = f"{PROBES}/ok"
HOUR = 3600  # a window no test of many requests straddles


@pytest.fixture
async def limited(settings: Settings) -> AsyncClient:  # type: ignore[misc]
    async with serve(create_app_with_probes(changed(settings, rate_limit_requests=LIMIT))) as http:
        await within_one_window(settings.rate_limit_window_seconds)
        yield http


async def test_every_response_carries_the_ratelimit_headers(limited: AsyncClient) -> None:
    remaining = []
    for _ in range(LIMIT):
        response = await limited.get(OK)
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == str(LIMIT)
        assert 1 <= int(response.headers["ratelimit-reset"]) <= 60
        remaining.append(int(response.headers["ratelimit-remaining"]))

    assert remaining == [2, 1, 0]


async def test_over_the_limit_is_a_429_problem_with_retry_after(limited: AsyncClient) -> None:
    for _ in range(LIMIT):
        await limited.get(OK)

    response = await limited.get(OK)

    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["ratelimit-remaining"] == "0"
    assert response.json()["status"] == 429


async def test_health_endpoints_are_never_limited(limited: AsyncClient) -> None:
    for _ in range(LIMIT + 2):
        response = await limited.get("/health/live")
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers


async def test_a_valid_api_key_has_its_own_quota_and_an_invalid_one_does_not(
    limited: AsyncClient,
) -> None:
    for _ in range(LIMIT):
        await limited.get(OK)

    with_key = await limited.get(OK, headers={"X-API-Key": API_KEY})
    invented_key = await limited.get(OK, headers={"X-API-Key": "made-up"})

    assert with_key.status_code == 200
    assert with_key.headers["ratelimit-remaining"] == str(LIMIT - 1)
    assert invented_key.status_code == 429  # counted against the address, already spent


async def test_a_keyed_client_is_counted_under_its_key_id_never_the_key(
    limited: AsyncClient, settings: Settings
) -> None:
    await limited.get(OK, headers={"X-API-Key": API_KEY})
    await limited.get(OK, headers={"X-API-Key": ROTATED_API_KEY})
    await limited.get(OK)

    async with cache_redis(settings) as redis:
        counted = {key.rsplit(":", 1)[0] async for key in redis.scan_iter("ratelimit:*")}

    assert counted == {
        f"ratelimit:key:{API_KEY_ID}",  # both secrets of the id: one quota
        "ratelimit:addr:127.0.0.1",  # httpx's ASGI transport's client
    }


def test_the_client_identity_is_the_key_id_or_else_the_address(settings: Settings) -> None:
    def scope(key: str | None, client: tuple[str, int] | None) -> Scope:
        headers = [(b"x-api-key", key.encode())] if key else []
        return {"type": "http", "headers": headers, "client": client}

    assert client_identity(scope(API_KEY, ("203.0.113.9", 1)), settings) == (f"key:{API_KEY_ID}")
    assert client_identity(scope("made-up", ("203.0.113.9", 1)), settings) == "addr:203.0.113.9"
    assert client_identity(scope(None, ("2001:db8::1", 1)), settings) == "addr:2001:db8::/64"
    assert client_identity(scope(None, None), settings) == "addr:unknown"


def test_ipv4_mapped_clients_are_their_ipv4_address(settings: Settings) -> None:
    def scope(client: str) -> Scope:
        return {"type": "http", "headers": [], "client": (client, 1)}

    assert client_identity(scope("::ffff:203.0.113.9"), settings) == "addr:203.0.113.9"
    assert client_identity(scope("::ffff:198.51.100.7"), settings) == "addr:198.51.100.7"


@pytest.mark.parametrize("proxy", ["10.0.0.5", "::ffff:10.0.0.5"])
async def test_a_proxy_seen_as_ipv4_mapped_is_trusted_like_its_ipv4_address(
    settings: Settings, proxy: str
) -> None:
    """uvicorn's proxy-headers check, as gunicorn configures it (gunicorn.conf.py)."""
    seen: list[str] = []

    async def app(scope: Scope, receive: object, send: object) -> None:
        seen.append(scope["client"][0])

    trusted = changed(settings, forwarded_allow_ips="10.0.0.0/8").trusted_proxies
    middleware = ProxyHeadersMiddleware(app, trusted_hosts=trusted)  # type: ignore[arg-type]
    scope = {
        "type": "http",
        "scheme": "http",
        "client": (proxy, 1),
        "headers": [(b"x-forwarded-for", b"203.0.113.9, ::ffff:10.0.0.9")],
    }
    await middleware(scope, None, None)  # type: ignore[arg-type]

    assert seen == ["203.0.113.9"]


def test_a_lease_is_one_request_per_256_left_and_one_within_512_of_the_limit() -> None:
    assert [lease_size(left) for left in (0, 1, 511, 512, 767, 768, 8191, 8192, 10**8)] == [
        1, 1, 1, 2, 2, 3, 31, 32, 32,
    ]  # fmt: skip


async def test_a_client_far_from_its_limit_is_counted_in_redis_a_lease_at_a_time(
    settings: Settings,
) -> None:
    limit = 100_000
    limited = changed(settings, rate_limit_requests=limit, rate_limit_window_seconds=HOUR)
    app = create_app_with_probes(limited)
    async with serve(app) as http:
        remaining = [int((await http.get(OK)).headers["ratelimit-remaining"]) for _ in range(200)]
    counted = await window_count(settings, "addr:127.0.0.1")

    assert remaining == list(range(limit - 1, limit - 201, -1))  # one less at every request
    # 200 requests, counted in Redis in leases of up to 32 (never fewer than were used).
    assert 200 <= counted <= 200 + MAX_LEASE


async def test_leases_in_two_processes_never_let_a_client_past_its_limit(
    settings: Settings,
) -> None:
    limit = 700  # leases of 2 while 512 or more are left, then one request at a time
    limited = changed(settings, rate_limit_requests=limit, rate_limit_window_seconds=HOUR)
    async with (
        serve(create_app_with_probes(limited)) as first,
        serve(create_app_with_probes(limited)) as second,
    ):
        statuses = [(await (first, second)[n % 2].get(OK)).status_code for n in range(limit + 50)]

    assert statuses.count(200) == limit
    assert statuses[limit:] == [429] * 50


async def test_concurrent_requests_in_two_processes_use_every_lease_to_the_limit(
    settings: Settings,
) -> None:
    """16 requests at a time in each of two processes: a request that arrives while its
    process renews a lease is counted on its own, so no lease replaces another, and none of the
    limit is lost to a lease dropped unused."""
    limit = 1500  # leases of up to 3 while 768 or more are left
    limited = changed(settings, rate_limit_requests=limit, rate_limit_window_seconds=HOUR)
    async with (
        serve(create_app_with_probes(limited)) as first,
        serve(create_app_with_probes(limited)) as second,
    ):
        statuses: list[int] = []
        while len(statuses) < limit + 64:
            batch = [http.get(OK) for http in (first, second) for _ in range(16)]
            statuses += [response.status_code for response in await asyncio.gather(*batch)]

    assert statuses.count(200) == limit
    assert await window_count(settings, "addr:127.0.0.1") >= limit


async def window_count(settings: Settings, client: str) -> int:
    """The client's count in Redis for the current window."""
    async with cache_redis(settings) as redis:
        keys = [key async for key in redis.scan_iter(f"ratelimit:{client}:*")]
        assert len(keys) == 1, keys  # one window
        return int(str(await redis.get(keys[0])))


def cache_redis(settings: Settings) -> Redis:
    """A client of the cache's Redis, as the app's user; `async with` closes it."""
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        password=settings.redis_password.get_secret_value() or None,
        decode_responses=True,
    )
