"""Hostile clients at the app's edge: redirects that never echo the Host header, allowed hosts,
documentation off in production, the IPv6 rate limit bucket, shared readiness checks and the
start-up warning for a missing API key. (Keys checked before a body is read: test_security.py.)"""

import asyncio

import pytest
from httpx import AsyncClient

from app.core.config import Settings
from app.core.docs import docs_enabled
from app.core.rate_limit import address_bucket
from app.core.resources import Resources
from app.health.service import SharedReadiness
from tests.unit.support import PROBES, changed, create_app_with_probes, serve


async def test_a_trailing_slash_redirect_never_echoes_the_host(client: AsyncClient) -> None:
    response = await client.get(f"{PROBES}/ok/?limit=2", headers={"Host": "evil.example"})

    assert response.status_code == 307
    assert response.headers["location"] == f"{PROBES}/ok?limit=2"


async def test_only_allowed_hosts_are_answered_but_health_answers_any(settings: Settings) -> None:
    app = create_app_with_probes(changed(settings, allowed_hosts="api.example.com, localhost"))
    async with serve(app) as http:
        allowed = await http.get(f"{PROBES}/ok", headers={"Host": "api.example.com:443"})
        refused = await http.get(f"{PROBES}/ok", headers={"Host": "evil.example"})
        probed = await http.get("/health/live", headers={"Host": "10.0.3.7:8000"})

    assert allowed.status_code == 200
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert probed.status_code == 200


@pytest.mark.parametrize(
    ("environment", "setting", "expected"),
    [
        ("production", None, False),
        ("development", None, True),
        ("test", None, False),
        ("production", True, True),
        ("development", False, False),
    ],
)
def test_docs_are_on_in_development_only_unless_set(
    environment: str, setting: bool | None, expected: bool
) -> None:
    assert docs_enabled(environment, setting) is expected


async def test_without_docs_there_is_no_openapi_document(settings: Settings) -> None:
    async with serve(create_app_with_probes(changed(settings, docs_enabled=False))) as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await http.get(path)).status_code == 404, path


async def test_the_docs_pages_use_local_assets_under_a_strict_policy(client: AsyncClient) -> None:
    page = await client.get("/docs")
    policy = page.headers["content-security-policy"]

    assert page.status_code == 200
    assert "https://" not in page.text
    assert "default-src 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
    assert (await client.get("/docs-assets/swagger-ui-bundle.js")).status_code == 200
    assert (await client.get("/redoc")).status_code == 200


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("not-an-address:", "not-an-address:"),
    ],
)
def test_an_ipv6_client_is_bucketed_by_its_64(address: str, bucket: str) -> None:
    assert address_bucket(address) == bucket


async def test_concurrent_readiness_probes_share_one_check(settings: Settings) -> None:
    resources = Resources.open(settings)
    readiness = SharedReadiness(resources.engine, resources.redis, 1.0)
    try:
        results = await asyncio.gather(*(readiness.check() for _ in range(50)))
        again = await readiness.check()
    finally:
        await resources.close()

    times = {result["postgres:connection"][0].time for result in [*results, again]}
    assert len(times) == 1  # one check for all 51 probes within the second


async def test_no_api_keys_is_a_warning_at_start_up(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve(create_app_with_probes(changed(settings, api_keys=""))):
        pass

    assert any("no API keys are configured" in r.getMessage() for r in caplog.records)
