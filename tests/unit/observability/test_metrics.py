"""The app's RED metrics and what the core counts, read from the registry the process exports
(no PROMETHEUS_MULTIPROC_DIR here: in-process mode; the image's multiprocess mode is proven by
tests/container/test_metrics.py)."""

import asyncio
import uuid

import pytest
from fastapi import APIRouter, HTTPException
from fastapi.routing import APIRoute
from httpx import AsyncClient
from prometheus_client import REGISTRY
from pydantic import BaseModel

from app.core.config import Settings
from app.core.metrics import UNMATCHED_ROUTE
from app.core.middleware import route_template
from app.core.redis import RedisGuard, create_redis
from app.core.resources import Resources
from app.kit.cache import Keyspace, VersionedCache
from tests.unit.support import PROBES, changed, create_app_with_probes, serve, within_one_window

THING_ROUTE = "/api/v1/things/{thing_id}"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_counted(route: str, status: str = "2xx", method: str = "GET") -> float:
    return sample("http_requests_total", method=method, route=route, status=status)


async def test_requests_are_counted_by_route_template_never_by_raw_path(
    settings: Settings,
) -> None:
    # A router that carries its whole prefix, as resources' routers do (make resource).
    app = create_app_with_probes(settings)
    things = APIRouter(prefix="/api/v1/things")

    @things.get("/{thing_id:uuid}")
    async def read_thing(thing_id: uuid.UUID) -> None:
        raise HTTPException(404)

    app.include_router(things)
    before = requests_counted(THING_ROUTE, "4xx")
    raw = f"/api/v1/things/{uuid.uuid4()}"

    async with serve(app) as http:
        for path in (raw, f"/api/v1/things/{uuid.uuid4()}"):
            assert (await http.get(path)).status_code == 404

    assert requests_counted(THING_ROUTE, "4xx") == before + 2
    assert not [
        s for metric in REGISTRY.collect() for s in metric.samples if raw in s.labels.values()
    ]


async def test_a_path_no_route_matches_has_one_fixed_label(client: AsyncClient) -> None:
    before = requests_counted(UNMATCHED_ROUTE, "4xx")

    await client.get(f"/no/such/{uuid.uuid4()}")
    await client.get(f"/and/another/{uuid.uuid4()}")

    assert requests_counted(UNMATCHED_ROUTE, "4xx") == before + 2


async def test_latency_is_observed_and_in_flight_returns_to_zero(client: AsyncClient) -> None:
    labels = {"method": "GET", "route": "/health/live"}
    count = sample("http_request_duration_seconds_count", **labels)
    under_10_s = sample("http_request_duration_seconds_bucket", **labels, le="10.0")

    assert (await client.get("/health/live")).status_code == 200

    assert sample("http_request_duration_seconds_count", **labels) == count + 1
    assert sample("http_request_duration_seconds_bucket", **labels, le="10.0") == under_10_s + 1
    assert sample("http_requests_in_flight") == 0


async def test_an_unhandled_error_is_counted_as_the_500_the_client_got(
    settings: Settings,
) -> None:
    app = create_app_with_probes(settings)

    @app.get("/test/broken")
    async def broken() -> None:
        raise RuntimeError("planted")

    before = requests_counted("/test/broken", "5xx")
    async with serve(app) as http:
        assert (await http.get("/test/broken")).status_code == 500

    assert requests_counted("/test/broken", "5xx") == before + 1


async def test_metrics_are_not_served_on_the_public_port(client: AsyncClient) -> None:
    for path in ("/metrics", "/metrics/"):
        assert (await client.get(path)).status_code == 404


class Thing(BaseModel):
    name: str


async def test_cache_hits_and_misses_are_counted(settings: Settings) -> None:
    resources = Resources.open(settings)
    cache = VersionedCache(resources.redis, resources.redis_guard, enabled=True)
    things = Keyspace("tests-things", Thing, ttl_seconds=60)
    row = uuid.uuid4()
    hits = sample("cache_lookups_total", cache="tests-things", result="hit")
    misses = sample("cache_lookups_total", cache="tests-things", result="miss")
    try:
        assert await cache.read(things, row) is None  # nothing cached: a miss
        await cache.update(things, row, 1, b"{}")
        assert await cache.read(things, row) == b"{}"  # a hit
    finally:
        await cache.aclose()
        await resources.close()

    assert sample("cache_lookups_total", cache="tests-things", result="hit") == hits + 1
    assert sample("cache_lookups_total", cache="tests-things", result="miss") == misses + 1


async def test_rate_limit_rejections_are_counted(settings: Settings) -> None:
    app = create_app_with_probes(changed(settings, rate_limit_requests=1))
    before = sample("rate_limit_rejections_total")
    async with serve(app) as http:
        await within_one_window(settings.rate_limit_window_seconds)
        statuses = [(await http.get(f"{PROBES}/ok")).status_code for _ in range(3)]

    assert statuses == [200, 429, 429]
    assert sample("rate_limit_rejections_total") == before + 2


async def test_pool_in_use_follows_checkouts_and_the_pool_size_is_reported(
    client: AsyncClient,
) -> None:
    assert (await client.get(f"{PROBES}/db")).status_code == 200

    assert sample("db_pool_connections_in_use") == 0  # every connection returned
    assert sample("db_pool_connections_max") > 0


async def test_the_version_is_an_info_metric(client: AsyncClient, settings: Settings) -> None:
    await client.get("/health/live")

    assert sample("app_build_info", version=settings.app_version) == 1


async def test_redis_up_follows_the_guard_and_comes_back_when_redis_answers(
    settings: Settings, unreachable_port: int
) -> None:
    away = create_redis(changed(settings, redis_url=f"redis://127.0.0.1:{unreachable_port}/0"))
    guard = RedisGuard(away, cooldown_seconds=0.05)
    reported: list[bool] = []
    guard.on_change = reported.append
    try:
        guard.failed("test", ConnectionError())
        guard.failed("test", ConnectionError())  # still down: no second report
        assert not guard.available
        await asyncio.sleep(0.3)  # the cooldown has run out, and the guard's pings failed
        assert guard.available  # callers may try again...
        assert reported == [False]  # ...but nothing has answered: still down

        guard.redis = create_redis(settings)  # Redis is back, and no request comes to ask
        for _ in range(100):
            if reported == [False, True]:
                break
            await asyncio.sleep(0.02)
        assert reported == [False, True]
    finally:
        guard.close()
        await away.aclose()
        await guard.redis.aclose()


async def test_redis_up_is_zero_while_the_app_does_without_redis(
    settings: Settings, unreachable_port: int
) -> None:
    down = changed(settings, redis_url=f"redis://127.0.0.1:{unreachable_port}/0")
    async with serve(create_app_with_probes(down)) as http:
        assert sample("redis_up") == 1  # nothing has failed yet
        await http.get(f"{PROBES}/ok")  # the rate limiter finds Redis down

        assert sample("redis_up") == 0


@pytest.mark.parametrize("enabled", [True, False])
async def test_metrics_enabled_false_counts_no_request(settings: Settings, enabled: bool) -> None:
    before = requests_counted("/health/live")
    async with serve(create_app_with_probes(changed(settings, metrics_enabled=enabled))) as http:
        await http.get("/health/live")

    assert requests_counted("/health/live") == before + (1 if enabled else 0)


def test_route_template_without_a_route() -> None:
    assert route_template({"type": "http", "path": "/x"}) == UNMATCHED_ROUTE


def test_route_template_is_the_matched_routes_template() -> None:
    route = APIRoute(THING_ROUTE, endpoint=lambda thing_id: None)

    assert route_template({"type": "http", "path": "/x", "route": route}) == THING_ROUTE
