"""Floor (c): a bare ASGI callable and one ``redis.asyncio`` GET of an item's JSON per request,
with hiredis: what a cached read could cost with no framework and no code of ours.

``GET /{id}`` answers the JSON stored under ``cache:floor:{id}`` (stored on the first miss, as
the app's cache is, then read on every request). Connection settings, Redis user and key
patterns are the app's own.

Floor (c'), ``GET /counted/{id}``: the same, after counting the request alone with the app's own
rate-limit script: two round trips to Redis, what a cached read would cost if every request
were counted on its own (the app counts a busy client's in leases, ADR 0024).
"""

import json
import time

from redis.asyncio import Redis
from starlette.types import Receive, Scope, Send

from app.core.config import get_settings
from app.core.rate_limit import COUNT_IN_WINDOW

KEY_PREFIX = "cache:floor:"
TTL_SECONDS = 3600  # the store evicts only keys that expire (volatile-lru)
HEADERS = [(b"content-type", b"application/json")]
redis: Redis | None = None
count_sha = ""  # the rate-limit script, loaded at start-up and run by its digest, as the app does


def item_json(item_id: str) -> bytes:
    """A body the size and shape of the app's item representation."""
    return json.dumps(
        {
            "id": item_id,
            "name": "seed 1",
            "description": "a fixed data set for benchmarks",
            "price": "1.99",
            "created_at": "2026-01-01T00:00:01Z",
            "updated_at": "2026-01-01T00:00:01Z",
        }
    ).encode()


async def lifespan(receive: Receive, send: Send) -> None:
    global redis, count_sha  # noqa: PLW0603 - one client per process, like the app's
    settings = get_settings()
    while (message := await receive())["type"] != "lifespan.shutdown":
        if message["type"] == "lifespan.startup":
            redis = Redis.from_url(
                settings.redis_url.get_secret_value(),
                password=settings.redis_password.get_secret_value() or None,
            )
            count_sha = await redis.script_load(COUNT_IN_WINDOW)
            await send({"type": "lifespan.startup.complete"})
    if redis is not None:
        await redis.aclose()
    await send({"type": "lifespan.shutdown.complete"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    assert redis is not None  # noqa: S101 - set at start-up
    counted, _, item_id = scope["path"].strip("/").rpartition("/")
    if counted:
        window = int(time.time() // 60)
        await redis.evalsha(count_sha, 1, f"ratelimit:floor:{window}", 61, 1)  # one request
    body = await redis.get(KEY_PREFIX + item_id)
    if body is None:
        body = item_json(item_id)
        await redis.set(KEY_PREFIX + item_id, body, ex=TTL_SECONDS)
    headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
