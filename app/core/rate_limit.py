"""Per-client rate limit in a Redis fixed window, as pure ASGI middleware.

The client is its API key's id when it presents a valid key, else its address (as uvicorn
resolved it through the proxies named in FORWARDED_ALLOW_IPS). Invalid keys count against the
address, so inventing keys buys no extra quota; an IPv6 client counts as its /64. Health
endpoints are exempt: probes must never be throttled. If Redis is down, requests pass (fail
open) and the guard logs it; if only this process's connections to it are all busy (a burst),
the request waits for one, and is answered 503 if none frees up: a burst never switches the
limit off. The process's Redis client comes from the lifespan's state (``scope["state"]``).

A client far from its limit costs a round trip to Redis on a few of its requests only: the
process counts several of the window's requests at once in Redis (a lease: ``lease_size``, one
per 256 left, at most 32) and hands them out in memory. A lease never lets a client past its
limit, since all of it is counted in Redis before any of it is used; one left unused in another
process can only make a refusal come early, by at most its size. Within 512 requests of the
limit (as Redis last counted) no lease is taken, so a limit below 512 is exact.
"""

import asyncio
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
from app.core.metrics import RATE_LIMITED
from app.core.redis import is_pool_exhausted
from app.core.resources import Resources
from app.core.security import API_KEY_HEADER, caller_for

EXEMPT_PREFIXES = ("/health/",)

# Count ARGV[2] requests (a lease) and start the window's clock on its first one: one round trip,
# one command, and the expiry is set once, not pushed back.
COUNT_IN_WINDOW = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# A lease is one request per LEASE_EVERY left in the window, at most MAX_LEASE. A process keeps
# leases for MAX_LEASED_CLIENTS clients at most; the others are counted one request at a time.
LEASE_EVERY = 256
MAX_LEASE = 32
MAX_LEASED_CLIENTS = 10_000


def lease_size(left: int) -> int:
    """How many requests to count at once when ``left`` remain in the window, as Redis last
    counted: 1 within 512 of the limit."""
    return max(1, min(MAX_LEASE, left // LEASE_EVERY))


class Lease:
    """A client's requests counted in Redis by this process and not used yet: the positions
    ``next`` to ``last`` in its window; ``counted`` is Redis' count when they were taken, and
    ``renewal`` is set once the next lease, being counted, is in."""

    __slots__ = ("counted", "last", "next", "renewal")

    def __init__(self, counted: int, next_position: int, last: int) -> None:
        self.counted, self.next, self.last = counted, next_position, last
        self.renewal: asyncio.Event | None = None


def client_identity(scope: Scope, settings: Settings) -> str:
    caller = caller_for(Headers(scope=scope).get(API_KEY_HEADER), settings.api_key_set)
    if caller is not None:
        return f"key:{caller.key_id}"
    client = scope.get("client")
    return f"addr:{address_bucket(client[0]) if client else 'unknown'}"


def address_bucket(address: str) -> str:
    """An IPv6 client is its /64: one host usually holds the whole network, and could take a
    new address for every request otherwise. An IPv4-mapped address (``::ffff:a.b.c.d``, what
    a dual-stack socket reports for an IPv4 client) is that IPv4 client: mapped ones all share
    one /64 otherwise."""
    if ":" not in address:
        return address
    try:
        mapped = ipaddress.IPv6Address(address).ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    except ValueError:
        return address


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limit = settings.rate_limit_requests
        self.window = settings.rate_limit_window_seconds
        self.settings = settings
        self._script: AsyncScript | None = None
        # This window's leases, by rate-limit key (emptied when the window turns).
        self._leases: dict[str, Lease] = {}
        self._leases_window = 0

    def _count_in_window(self, redis: Redis) -> AsyncScript:
        script = self._script
        if script is None or script.registered_client is not redis:  # a new lifespan's client
            script = self._script = redis.register_script(COUNT_IN_WINDOW)
        return script

    async def _position(self, redis: Redis, key: str, window_start: int) -> int:
        """This request's position in its client's window: the next of the process's lease
        while it lasts, else the first of a new lease counted in Redis. A position past the
        limit is refused, so a lease is never used past it."""
        if window_start != self._leases_window:
            self._leases.clear()
            self._leases_window = window_start
        while True:
            lease = self._leases.get(key)
            if lease is None:  # the client's first request here this window: counted alone
                counted = await self._count(redis, key, 1)
                if len(self._leases) < MAX_LEASED_CLIENTS:
                    self._leases.setdefault(key, Lease(counted, counted + 1, counted))
                return counted
            if lease.next <= lease.last:
                lease.next += 1
                return lease.next - 1
            if lease.renewal is None:
                return await self._renew(redis, key, lease)
            # Another request is renewing this lease: take from the new one once it is in, so
            # that two leases never replace each other (the unused part of one would be lost).
            await lease.renewal.wait()

    async def _renew(self, redis: Redis, key: str, lease: Lease) -> int:
        """Count the client's next lease in Redis; the position of its first request."""
        size = lease_size(self.limit - lease.counted)
        lease.renewal = asyncio.Event()
        try:
            counted = await self._count(redis, key, size)
        finally:
            lease.renewal.set()
            lease.renewal = None
        first = counted - size + 1
        lease.counted, lease.next, lease.last = counted, first + 1, min(counted, self.limit)
        return first

    async def _count(self, redis: Redis, key: str, requests: int) -> int:
        """Count ``requests`` in the client's window in Redis; Redis' count after them."""
        script = self._count_in_window(redis)
        return int(await script(keys=[key], args=[self.window + 1, requests]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        resources: Resources = scope["state"]["resources"]
        guard, limit, window = resources.redis_guard, self.limit, self.window
        now = time.time()
        window_start = int(now // window) * window
        reset = max(1, math.ceil(window_start + window - now))

        count = None
        if guard.available:
            key = f"ratelimit:{client_identity(scope, self.settings)}:{window_start}"
            try:
                count = await self._position(resources.redis, key, window_start)
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
