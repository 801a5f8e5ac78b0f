"""Per-client rate limit in a Redis fixed window, as pure ASGI middleware.

The client is its API key's id when it presents a valid key, else its address (as uvicorn
resolved it through the proxies named in FORWARDED_ALLOW_IPS). Invalid keys count against the
address, so inventing keys buys no extra quota; an IPv6 client counts as its /64. Health
endpoints are exempt: probes must never be throttled. If Redis is down, requests pass (fail
open) and the guard logs it; if only this process's connections to it are all busy (a burst),
the request waits for one, and is answered 503 if none frees up: a burst never switches the
limit off. The process's Redis client comes from the lifespan's state (``scope["state"]``).
"""

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

# Count the request and start the window's clock on its first one: one round trip, one
# command (cheaper than a pipeline of two), and the expiry is set once, not pushed back.
COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


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

    def _count_in_window(self, redis: Redis) -> AsyncScript:
        script = self._script
        if script is None or script.registered_client is not redis:  # a new lifespan's client
            script = self._script = redis.register_script(COUNT_IN_WINDOW)
        return script

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
                count = await self._count_in_window(resources.redis)(keys=[key], args=[window + 1])
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
