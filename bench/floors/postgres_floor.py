"""Floor (d): a bare ASGI callable and one asyncpg prepared ``SELECT ... WHERE id = $1`` per
request (a pool of 10 per process, as the app's), the row as JSON: what an uncached read could
cost with no framework, no ORM and no code of ours. Connection settings are the app's own.
"""

import json
import uuid

import asyncpg
from starlette.types import Receive, Scope, Send

from app.core.config import get_settings

POOL_SIZE = 10
QUERY = "SELECT id, name, description, price, created_at, updated_at FROM items WHERE id = $1"
HEADERS = [(b"content-type", b"application/json")]
pool: asyncpg.Pool | None = None


async def lifespan(receive: Receive, send: Send) -> None:
    global pool  # noqa: PLW0603 - one pool per process, like the app's
    settings = get_settings()
    while (message := await receive())["type"] != "lifespan.shutdown":
        if message["type"] == "lifespan.startup":
            pool = await asyncpg.create_pool(
                host=settings.postgres_host,
                port=settings.postgres_port,
                user=settings.postgres_user,
                password=settings.postgres_password.get_secret_value() or None,
                database=settings.postgres_db,
                min_size=POOL_SIZE,
                max_size=POOL_SIZE,
            )
            await send({"type": "lifespan.startup.complete"})
    if pool is not None:
        await pool.close()
    await send({"type": "lifespan.shutdown.complete"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    assert pool is not None  # noqa: S101 - set at start-up
    # asyncpg prepares the statement once per connection and reuses it (its statement cache).
    row = await pool.fetchrow(QUERY, uuid.UUID(scope["path"].strip("/")))
    if row is None:
        status, body = 404, b"{}"
    else:
        status, body = 200, json.dumps(dict(row), default=str).encode()
    headers = [*HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
