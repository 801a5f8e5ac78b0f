"""Redis: one asyncio client (and connection pool) per process, with bounded timeouts."""

from fastapi import Request
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.core.config import Settings


def create_redis(settings: Settings) -> Redis:
    """A client that fails fast: Redis is a cache here, and the caller decides what a miss means."""
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_socket_timeout_seconds,
        max_connections=settings.redis_max_connections,
        # One immediate retry covers a connection the server closed while idle; more would
        # only stretch the time a caller waits when Redis is really down.
        retry=Retry(NoBackoff(), retries=1),
        health_check_interval=30,
    )


def get_redis(request: Request) -> Redis:
    """FastAPI dependency: the process-wide client."""
    redis: Redis = request.app.state.redis
    return redis
