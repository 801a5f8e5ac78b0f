"""Redis: one asyncio client (and connection pool) per process, with bounded timeouts, and the
guard that lets callers do without Redis while it is down."""

import logging
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.core.config import Settings


def create_redis(settings: Settings) -> Redis:
    """A client that fails fast: Redis is a cache here, and the caller decides what a miss means."""
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        # A password in the URL, if any, wins over this one.
        password=settings.redis_password.get_secret_value() or None,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_socket_timeout_seconds,
        max_connections=settings.redis_max_connections,
        # One immediate retry covers a connection the server closed while idle; more would
        # only stretch the time a caller waits when Redis is really down.
        retry=Retry(NoBackoff(), retries=1),
        health_check_interval=30,
    )


class RedisGuard:
    """Remembers that Redis just failed, so callers that can do without it skip it for a while.

    Redis is an optimisation here (cache, rate limit): while it is down, every request would
    otherwise wait for its own timeout, and log its own warning.
    """

    def __init__(self, cooldown_seconds: float) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._skip_until = 0.0
        self._logger = logging.getLogger("app.redis")

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._skip_until

    def failed(self, purpose: str, error: BaseException) -> None:
        if self.available:  # once per cooldown, not once per call
            self._logger.warning(
                "redis unavailable, carrying on without it",
                extra={"purpose": purpose, "error": type(error).__name__},
            )
        self._skip_until = time.monotonic() + self.cooldown_seconds
