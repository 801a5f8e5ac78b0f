"""Response headers a browser or a cache on the way must obey: nosniff on every answer,
no-store on an authenticated one (whatever the route set)."""

from httpx import AsyncClient

from tests.unit.support import API_PROBES, PROBES, WRITE_HEADERS


async def test_every_answer_says_nosniff(client: AsyncClient) -> None:
    for response in (
        await client.get("/health/live"),
        await client.get(f"{PROBES}/ok"),
        await client.get("/no/such/path"),
        await client.post(API_PROBES, json={}),  # 401
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.url


async def test_an_authenticated_answer_is_never_stored(client: AsyncClient) -> None:
    response = await client.post(API_PROBES, json={"a": 1}, headers=WRITE_HEADERS)

    assert response.status_code == 200
    assert response.headers.get_list("cache-control") == ["no-store"]


async def test_an_anonymous_answer_keeps_its_own_caching(client: AsyncClient) -> None:
    response = await client.get(f"{PROBES}/ok")

    assert "no-store" not in response.headers.get("cache-control", "")
