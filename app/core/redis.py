"""Redis: one asyncio client (and connection pool) per process, with bounded timeouts, and the
guard that lets callers do without Redis while it is down."""

import logging
import time
from collections.abc import Callable

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from app.core.config import Settings


def create_redis(settings: Settings) -> Redis:
    """A client that fails fast: Redis is a cache here, and the caller decides what a miss means."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(),
        max_connections=settings.redis_max_connections,
        # A burst that takes every connection waits for one (for at most a socket timeout)
        # instead of failing at once: running out of connections is back-pressure, not an
        # outage, and must not switch the rate limiter off (see is_pool_exhausted).
        timeout=settings.redis_socket_timeout_seconds,
        # A password in the URL, if any, wins over this one.
        password=settings.redis_password.get_secret_value() or None,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_socket_timeout_seconds,
        # One immediate retry covers a connection the server closed while idle; more would
        # only stretch the time a caller waits when Redis is really down.
        retry=Retry(NoBackoff(), retries=1),
        health_check_interval=30,
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing one closes both


def is_pool_exhausted(error: BaseException) -> bool:
    """Every connection stayed busy for the whole wait: this process is overloaded, Redis is
    not down (redis-py raises a ConnectionError caused by the wait's timeout)."""
    return isinstance(error, RedisConnectionError) and isinstance(error.__cause__, TimeoutError)


class RedisGuard:
    """Remembers that Redis just failed, so callers that can do without it skip it for a while.

    Redis is an optimisation here (cache, rate limit): while it is down, every request would
    otherwise wait for its own timeout, and log its own warning.
    """

    def __init__(self, cooldown_seconds: float) -> None:
        self.cooldown_seconds = cooldown_seconds
        self._skip_until = 0.0
        self._skipping = False
        self._logger = logging.getLogger("app.redis")
        # Told True or False when the state changes (the redis_up metric): the cooldown runs
        # out without anyone calling, so the change is seen on the next check of ``available``.
        self.on_change: Callable[[bool], None] | None = None

    @property
    def available(self) -> bool:
        available = time.monotonic() >= self._skip_until
        if available and self._skipping:
            self._changed(skipping=False)
        return available

    def failed(self, purpose: str, error: BaseException) -> None:
        if self.available:  # once per cooldown, not once per call
            self._logger.warning(
                "redis unavailable, carrying on without it",
                extra={"purpose": purpose, "error": type(error).__name__},
            )
        self._skip_until = time.monotonic() + self.cooldown_seconds
        if not self._skipping:
            self._changed(skipping=True)

    def _changed(self, *, skipping: bool) -> None:
        self._skipping = skipping
        if self.on_change is not None:
            self.on_change(not skipping)
