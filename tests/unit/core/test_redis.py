"""The Redis client takes its password from the redis_password secret file."""

from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from app.core.config import Settings, load_settings
from app.core.redis import create_redis, is_pool_exhausted
from tests.unit.support import changed


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No Redis setting inherited from the test container's own environment."""
    for name in ("REDIS_URL", "REDIS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_the_client_authenticates_with_the_secret_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "redis_password").write_text("from-a-file\n")
    settings = load_settings(secrets_dir=tmp_path)

    redis = create_redis(settings)
    try:
        assert redis.connection_pool.connection_kwargs["password"] == "from-a-file"
        assert "from-a-file" not in repr(settings)
    finally:
        await redis.aclose()


async def test_without_a_password_the_client_sends_none(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    redis = create_redis(load_settings(secrets_dir=tmp_path))
    try:
        assert redis.connection_pool.connection_kwargs.get("password") is None
    finally:
        await redis.aclose()


async def test_a_password_in_the_url_wins(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "redis_password").write_text("from-a-file")
    clean_env.setenv("REDIS_URL", "redis://:in-the-url@redis/0")

    redis = create_redis(load_settings(secrets_dir=tmp_path))
    try:
        assert redis.connection_pool.connection_kwargs["password"] == "in-the-url"
    finally:
        await redis.aclose()


def test_a_cluster_clients_full_pool_is_overload_not_an_outage() -> None:
    """The cluster client refuses past its pool at once (MaxConnectionsError) instead of
    waiting: the rate limiter answers 503 to it, and never fails open on a burst."""
    assert is_pool_exhausted(MaxConnectionsError("Too many connections"))
    assert not is_pool_exhausted(RedisConnectionError("Connection refused"))


async def test_redis_cluster_makes_a_cluster_client(settings: Settings) -> None:
    client = create_redis(changed(settings, redis_cluster=True))
    try:
        assert isinstance(client, RedisCluster)
    finally:
        await client.aclose()
