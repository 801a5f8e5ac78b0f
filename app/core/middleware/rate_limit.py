"""Per-client rate limit in a Redis fixed window, as pure ASGI middleware.

The client is its API key when it presents a valid one, else its address (as uvicorn resolved
it through the proxies named in FORWARDED_ALLOW_IPS). Invalid keys count against the address,
so inventing keys buys no extra quota; an IPv6 client counts as its /64. Health endpoints are
exempt: probes must never be throttled. If Redis is down, requests pass (fail open) and the
guard logs it; if only this process's connections to it are all busy (a burst), the request
waits for one, and is answered 503 if none frees up: a burst never switches the limit off.

A route that reads ahead (app.core.read_ahead: a cached read) has its Redis read made in the
same script as the count, so that request costs one round trip.
"""

import hashlib
import ipaddress
import math
import time

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import problem_response
from app.core.read_ahead import ReadAheadToken, forget, keep, key_for
from app.core.redis import is_pool_exhausted
from app.core.resources import resources_in
from app.core.security import is_valid_api_key
from app.observability.metrics import RATE_LIMITED

EXEMPT_PREFIXES = ("/health/",)

# Count the request and start the window's clock on its first one: one round trip, one
# command (cheaper than a pipeline of two), and the expiry is set once, not pushed back.
COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# The same, and the hash field a read-ahead route is about to read: one round trip for both
# (bench/README.md, "one Redis round trip per cached read"). Two keys in one script: fine on
# one Redis, as here; a Redis Cluster would need both in one hash slot.
COUNT_AND_READ = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('HGET', KEYS[2], ARGV[2])}
"""


def client_identity(scope: Scope, settings: Settings) -> str:
    presented = Headers(scope=scope).get("x-api-key")
    if is_valid_api_key(presented, settings.api_key_set):
        assert presented is not None  # noqa: S101 - implied by validity
        # A digest, never the key itself, lands in Redis.
        return "key:" + hashlib.sha256(presented.encode()).hexdigest()[:32]
    client = scope.get("client")
    return f"addr:{address_bucket(client[0]) if client else 'unknown'}"


def address_bucket(address: str) -> str:
    """An IPv6 client is its /64: one host usually holds the whole network, and could take a
    new address for every request otherwise."""
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    except ValueError:
        return address


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._scripts: tuple[AsyncScript, AsyncScript] | None = None

    def _scripts_for(self, redis: Redis) -> tuple[AsyncScript, AsyncScript]:
        scripts = self._scripts
        if scripts is None or scripts[0].registered_client is not redis:  # a new lifespan's
            scripts = self._scripts = (
                redis.register_script(COUNT_IN_WINDOW),
                redis.register_script(COUNT_AND_READ),
            )
        return scripts

    async def _count(
        self, redis: Redis, key: str, ttl_seconds: int, ahead: tuple[str, str] | None
    ) -> tuple[int, ReadAheadToken | None]:
        """The request's count in its window; with ``ahead``, the value read ahead is kept for
        the route's reader (the token forgets it)."""
        count_in_window, count_and_read = self._scripts_for(redis)
        if ahead is None:
            count: int = await count_in_window(keys=[key], args=[ttl_seconds])
            return count, None
        count, value = await count_and_read(keys=[key, ahead[0]], args=[ttl_seconds, ahead[1]])
        return count, keep(ahead[0], value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        resources = resources_in(scope)
        settings, guard = resources.settings, resources.redis_guard
        limit = settings.rate_limit_requests
        window = settings.rate_limit_window_seconds
        now = time.time()
        window_start = int(now // window) * window
        reset = max(1, math.ceil(window_start + window - now))

        count, read_ahead = None, None
        if guard.available:
            key = f"ratelimit:{client_identity(scope, settings)}:{window_start}"
            ahead = key_for(scope) if settings.cache_enabled else None  # else none reads it
            try:
                count, read_ahead = await self._count(resources.redis, key, window + 1, ahead)
            except (RedisError, OSError) as error:
                if is_pool_exhausted(error):  # overload, not an outage: never fail open on it
                    busy = problem_response(
                        503, "Too busy to count this request; retry.", headers={"Retry-After": "1"}
                    )
                    await busy(scope, receive, send)
                    return
                guard.failed("rate limit", error)
        if count is None:  # Redis is down: fail open, no headers since nothing was counted
            await self.app(scope, receive, send)
            return

        try:
            headers = [
                (b"ratelimit-limit", str(limit).encode()),
                (b"ratelimit-remaining", str(max(0, limit - count)).encode()),
                (b"ratelimit-reset", str(reset).encode()),
            ]
            if count > limit:
                RATE_LIMITED.inc()
                response = problem_response(
                    429,
                    f"Rate limit of {limit} requests per {window} s reached; retry in {reset} s.",
                    headers={"Retry-After": str(reset)},
                )
                response.raw_headers.extend(headers)
                await response(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), *headers]
                await send(message)

            await self.app(scope, receive, send_with_headers)
        finally:
            if read_ahead is not None:
                forget(read_ahead)
