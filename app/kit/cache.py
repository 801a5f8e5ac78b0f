"""Versioned cache-aside in Redis: an entry is never older than the database.

Each entry holds a row's serialized body and its version. Writers store the new version
after they commit; a deleted row leaves a tombstone carrying the next version. A Lua script
replaces an entry only by a strictly newer version, so a slow reader can never put back a
version a writer has already replaced: the race that a plain delete-on-write leaves open.
"""

import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.redis import RedisGuard

logger = logging.getLogger(__name__)

TOMBSTONE = b""

STORE_IF_NEWER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'b', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class VersionedCache:
    """One resource's entries, under ``{namespace}:v1:{id}``. ``read`` and ``fill`` serve and
    refill reads; ``update`` and ``delete`` follow the database's writes."""

    def __init__(
        self, redis: Redis, guard: RedisGuard, namespace: str, ttl_seconds: int, enabled: bool
    ) -> None:
        self.redis = redis
        self.guard = guard
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.enabled = enabled
        self._store_if_newer = redis.register_script(STORE_IF_NEWER)

    def key(self, row_id: uuid.UUID) -> str:
        return f"{self.namespace}:v1:{row_id.hex}"

    async def read(self, row_id: uuid.UUID) -> bytes | None:
        """The cached body; TOMBSTONE if the row is known deleted; None on a miss."""
        if not (self.enabled and self.guard.available):
            return None
        try:
            body = await self.redis.hget(self.key(row_id), "b")
        except (RedisError, OSError) as error:
            self.guard.failed(f"{self.namespace} cache read", error)
            return None
        return body.encode() if isinstance(body, str) else body

    async def fill(self, row_id: uuid.UUID, version: int, body: bytes) -> None:
        """After a read from the database: keep it, unless Redis is known to be down."""
        if self.guard.available:
            await self._store(row_id, version, body)

    async def update(self, row_id: uuid.UUID, version: int, body: bytes) -> None:
        """After a committed create or update. Tried even while the guard says Redis is down:
        skipping it could leave the replaced version cached if Redis was only briefly away."""
        await self._store(row_id, version, body)

    async def delete(self, row_id: uuid.UUID, deleted_version: int) -> None:
        """After a committed delete: a tombstone, so a racing reader cannot put the row back."""
        await self._store(row_id, deleted_version, TOMBSTONE)

    async def _store(self, row_id: uuid.UUID, version: int, body: bytes) -> None:
        """Keep this version unless a newer one is already there. Never fails the request."""
        if not self.enabled:
            return
        try:
            await self._store_if_newer(
                keys=[self.key(row_id)], args=[version, body, self.ttl_seconds]
            )
        except (RedisError, OSError) as error:
            self.guard.failed(f"{self.namespace} cache write", error)
