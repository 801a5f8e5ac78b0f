from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient

from app.core.config import Settings
from tests.unit.support import PROBES, WRITE_HEADERS, changed, create_app_with_probes, serve

LIMIT = 100
ECHO = f"{PROBES}/echo"


@pytest.fixture
async def small_bodies(settings: Settings) -> AsyncClient:  # type: ignore[misc]
    async with serve(create_app_with_probes(changed(settings, max_body_bytes=LIMIT))) as http:
        yield http


def body_of(size: int) -> bytes:
    return b'{"name": "n", "price": "1", "description": "' + b"d" * (size - 46) + b'"}'


async def test_a_declared_body_over_the_limit_is_a_413_problem(small_bodies: AsyncClient) -> None:
    response = await small_bodies.post(
        ECHO,
        content=body_of(LIMIT + 1),
        headers=WRITE_HEADERS | {"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_streamed_body_over_the_limit_is_a_413_problem(small_bodies: AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        body = body_of(LIMIT * 3)
        for start in range(0, len(body), 40):
            yield body[start : start + 40]

    response = await small_bodies.post(
        ECHO,
        content=chunks(),
        headers=WRITE_HEADERS | {"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_body_at_the_limit_is_accepted(small_bodies: AsyncClient) -> None:
    body = body_of(LIMIT)
    assert len(body) == LIMIT

    response = await small_bodies.post(
        ECHO, content=body, headers=WRITE_HEADERS | {"Content-Type": "application/json"}
    )

    assert response.status_code == 201
