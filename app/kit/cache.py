"""Versioned cache-aside in Redis, opt-in per resource: an entry is never older than the
database, and never of another shape than the response it stands for.

Each row has one entry, a Redis hash under ``cache:{namespace}:{id}`` (the cache's ACL user
may touch ``cache:*`` keys only): the row's version, and its
serialized body once per response revision (field ``b:{revision}``, the revision derived from
the response schema: ``Keyspace``). Change the schema and the app reads another field, never a
body of the old shape; and since every revision of a row shares the entry's version, a write
by either side of a rolling deploy replaces the other's body too. Writers store the new version
after they commit; a deleted row leaves a tombstone (field ``gone``) carrying the next version.
A Lua script replaces an entry only by a strictly newer version, so a slow reader can never put
back a version a writer has already replaced: the race that a plain delete-on-write leaves
open. (The schema does not see a serializer's code: a serializer that changes its output
without changing the schema changes no revision.)

If Redis cannot take a writer's new version (a blip), the old entry would be served for its
time to live: so the write is retried in the background until it lands, and meanwhile this
process reads that row from the database.
"""

import asyncio
import hashlib
import json
import logging
import uuid
from typing import Annotated

from fastapi import Depends, Request
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.metrics import CACHE_LOOKUPS
from app.core.redis import RedisGuard, is_pool_exhausted

logger = logging.getLogger(__name__)

TOMBSTONE = b""
GONE = "gone"

# KEYS[1] the entry; ARGV: version, field, value, time to live. A newer version replaces the
# whole entry; the same version only adds what is missing (another revision's body), unless the
# row is gone at it.
STORE_IF_NEWER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
local version = tonumber(ARGV[1])
if current > version then return 0 end
if current < version then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'v', ARGV[1], ARGV[2], ARGV[3])
else
  if redis.call('HEXISTS', KEYS[1], 'gone') == 1 then return 0 end
  if redis.call('HSETNX', KEYS[1], ARGV[2], ARGV[3]) == 0 then return 0 end
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

RETRY_INTERVAL_SECONDS = 0.5
# Writes waiting to be retried; past this many (a long outage), the oldest are given up: Redis
# that was down that long has most likely restarted empty, which holds no stale entry.
MAX_PENDING = 10_000
# Every entry's key starts so: the one pattern the cache's Redis user (ACL) is granted for it.
KEY_PREFIX = "cache:"


def schema_revision(schema: type[BaseModel]) -> str:
    """A short digest of the schema's serialized shape: it changes with any field."""
    shape = json.dumps(schema.model_json_schema(mode="serialization"), sort_keys=True)
    return hashlib.blake2b(shape.encode(), digest_size=4).hexdigest()


class Keyspace:
    """One resource's entries, ``cache:{namespace}:{id}``, kept ``ttl_seconds``; its bodies are in
    the field of this schema's revision."""

    def __init__(self, namespace: str, schema: type[BaseModel], ttl_seconds: int) -> None:
        self.namespace = namespace
        self.field = f"b:{schema_revision(schema)}"
        self.ttl_seconds = ttl_seconds
        self.hits = CACHE_LOOKUPS.labels(namespace, "hit")
        self.misses = CACHE_LOOKUPS.labels(namespace, "miss")

    def key(self, row_id: uuid.UUID) -> str:
        return f"{KEY_PREFIX}{self.namespace}:{row_id.hex}"


class VersionedCache:
    """The process's cache: ``read`` and ``fill`` serve and refill reads; ``update`` and
    ``delete`` follow the database's writes. One per process (the lifespan makes it), since it
    holds the writes that are still to be retried."""

    def __init__(self, redis: Redis, guard: RedisGuard, *, enabled: bool) -> None:
        self.redis = redis
        self.guard = guard
        self.enabled = enabled
        self._store_if_newer = redis.register_script(STORE_IF_NEWER)
        # Writes to retry, by entry: (version, field, value, time to live).
        self._pending: dict[str, tuple[int, str, bytes, int]] = {}
        self._retrying: asyncio.Task[None] | None = None

    async def read(self, space: Keyspace, row_id: uuid.UUID) -> bytes | None:
        """The cached body; TOMBSTONE if the row is known deleted; None on a miss."""
        if not self.enabled:
            return None
        key = space.key(row_id)
        if not self.guard.available or key in self._pending:
            space.misses.inc()
            return None
        try:
            gone, body = await self.redis.hmget(key, [GONE, space.field])
        except (RedisError, OSError) as error:
            self._failed(space.namespace, "read", error)
            space.misses.inc()
            return None
        if gone is not None:
            space.hits.inc()
            return TOMBSTONE
        (space.misses if body is None else space.hits).inc()
        return body.encode() if isinstance(body, str) else body

    async def fill(self, space: Keyspace, row_id: uuid.UUID, version: int, body: bytes) -> None:
        """After a read from the database: keep it, unless Redis is known to be down."""
        if self.guard.available:
            await self._store(space.key(row_id), version, space.field, body, space.ttl_seconds)

    async def update(self, space: Keyspace, row_id: uuid.UUID, version: int, body: bytes) -> None:
        """After a committed create or update. Tried even while the guard says Redis is down,
        and retried until it lands: the replaced version must not stay cached."""
        await self._write(space, row_id, version, space.field, body)

    async def delete(self, space: Keyspace, row_id: uuid.UUID, deleted_version: int) -> None:
        """After a committed delete: a tombstone, so a racing reader cannot put the row back."""
        await self._write(space, row_id, deleted_version, GONE, b"1")

    async def _write(
        self, space: Keyspace, row_id: uuid.UUID, version: int, field: str, value: bytes
    ) -> None:
        key = space.key(row_id)
        if not await self._store(key, version, field, value, space.ttl_seconds):
            self._retry_later(key, (version, field, value, space.ttl_seconds))

    async def aclose(self) -> None:
        """Stop retrying (the process is stopping; the entries' TTLs bound what is left)."""
        if self._retrying is not None:
            self._retrying.cancel()

    async def _store(
        self, key: str, version: int, field: str, value: bytes, ttl_seconds: int
    ) -> bool:
        """Keep this version unless a newer one is already there. Never fails the request;
        False when Redis could not be asked."""
        if not self.enabled:
            return True
        try:
            await self._store_if_newer(keys=[key], args=[version, field, value, ttl_seconds])
        except (RedisError, OSError) as error:
            self._failed(key.removeprefix(KEY_PREFIX).partition(":")[0], "write", error)
            return False
        return True

    def _failed(self, namespace: str, operation: str, error: BaseException) -> None:
        if not is_pool_exhausted(error):  # a busy pool is not an outage
            self.guard.failed(f"{namespace} cache {operation}", error)

    def _retry_later(self, key: str, write: tuple[int, str, bytes, int]) -> None:
        waiting = self._pending.get(key)
        if waiting is None or waiting[0] < write[0]:
            self._pending[key] = write
        while len(self._pending) > MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.create_task(self._retry_pending())

    async def _retry_pending(self) -> None:
        while self._pending:
            await asyncio.sleep(RETRY_INTERVAL_SECONDS)
            for key, pending in list(self._pending.items()):
                if not await self._store(key, *pending):
                    break  # still away: try again later
                if self._pending.get(key) == pending:
                    del self._pending[key]
        logger.info("cache: every write retried has landed")


async def get_cache(request: Request) -> VersionedCache:
    cache: VersionedCache = request.state.cache
    return cache


CacheDep = Annotated[VersionedCache, Depends(get_cache)]
