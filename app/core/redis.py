"""Redis: one asyncio client (and connection pool) per process, with bounded timeouts, and the
guard that lets callers do without Redis while it is down."""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisError

from app.core.config import Settings


def redis_tls(settings: Settings, url: str) -> dict[str, Any]:
    """The CA bundle a rediss:// URL trusts (REDIS_SSL_CA_FILE); redis-py verifies the server's
    certificate and name by default. Nothing for redis://, whose connections take no TLS option."""
    if settings.redis_ssl_ca_file is None or not url.startswith("rediss://"):
        return {}
    return {"ssl_ca_certs": str(settings.redis_ssl_ca_file)}


def create_redis(settings: Settings) -> Redis:
    """A client that fails fast: Redis is a cache here, and the caller decides what a miss means."""
    if settings.redis_cluster:
        return create_cluster_client(settings)
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
        **redis_tls(settings, settings.redis_url.get_secret_value()),
    )
    return Redis.from_pool(pool)  # the client owns the pool: closing one closes both


def create_cluster_client(settings: Settings) -> Redis:
    """A Redis Cluster client (REDIS_CLUSTER): it learns the slots from the node REDIS_URL names
    and sends each command to the node that holds its key. Every script here touches one key,
    so each runs whole on one node. The same command methods as Redis' (hence the cast)."""
    cluster = RedisCluster.from_url(
        settings.redis_url.get_secret_value(),
        password=settings.redis_password.get_secret_value() or None,
        # Per node. Past it the cluster client refuses at once (MaxConnectionsError) instead of
        # waiting: is_pool_exhausted counts that as overload too, never as an outage.
        max_connections=settings.redis_max_connections,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=settings.redis_socket_timeout_seconds,
        retry=Retry(NoBackoff(), retries=1),
        health_check_interval=30,
        **redis_tls(settings, settings.redis_url.get_secret_value()),
    )
    return cast("Redis", cluster)


def is_pool_exhausted(error: BaseException) -> bool:
    """Every connection stayed busy: this process is overloaded, Redis is not down. redis-py
    raises a ConnectionError caused by the wait's timeout (a single node's blocking pool), or
    MaxConnectionsError at once (a cluster client's pool, which does not wait)."""
    if isinstance(error, MaxConnectionsError):
        return True
    return isinstance(error, RedisConnectionError) and isinstance(error.__cause__, TimeoutError)


class RedisGuard:
    """Remembers that Redis just failed, so callers that can do without it skip it for a while.

    Redis is an optimisation here (cache, rate limit): while it is down, every request would
    otherwise wait for its own timeout, and log its own warning. ``on_change`` is told False
    when Redis fails and True once it answers again (the redis_up metric): while it is down, the
    guard pings it once per cooldown itself, so the change is seen whether or not a request
    comes to ask.
    """

    def __init__(self, redis: Redis, cooldown_seconds: float) -> None:
        self.redis = redis
        self.cooldown_seconds = cooldown_seconds
        self._skip_until = 0.0
        self._down = False
        self._pinging: asyncio.Task[None] | None = None
        self._logger = logging.getLogger("app.redis")
        self.on_change: Callable[[bool], None] | None = None

    @property
    def available(self) -> bool:
        """Whether callers should try Redis: not within a cooldown after a failure."""
        return time.monotonic() >= self._skip_until

    def failed(self, purpose: str, error: BaseException) -> None:
        if self.available:  # once per cooldown, not once per call
            self._logger.warning(
                "redis unavailable, carrying on without it",
                extra={"purpose": purpose, "error": type(error).__name__},
            )
        self._skip_until = time.monotonic() + self.cooldown_seconds
        if not self._down:
            self._changed(down=True)
            with contextlib.suppress(RuntimeError):  # no event loop: nothing to ping from
                self._pinging = asyncio.get_running_loop().create_task(self._ping_until_up())

    def close(self) -> None:
        if self._pinging is not None:
            self._pinging.cancel()

    async def _ping_until_up(self) -> None:
        while self._down:
            await asyncio.sleep(self.cooldown_seconds)
            try:
                await self.redis.ping()
            except (RedisError, OSError):
                continue
            if self.available:  # and no caller has failed since
                self._changed(down=False)

    def _changed(self, *, down: bool) -> None:
        self._down = down
        if self.on_change is not None:
            self.on_change(not down)
