"""Items in Redis, cache-aside, never older than the database.

Each entry holds an item's serialized body and its version. Writers store the new version
after they commit; a deleted item leaves a tombstone carrying the next version. A Lua script
replaces an entry only by a strictly newer version, so a slow reader can never put back a
version a writer has already replaced: the race that a plain delete-on-write leaves open.
"""

import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.cache import RedisGuard

logger = logging.getLogger(__name__)

TOMBSTONE = b""

STORE_IF_NEWER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'b', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class ItemCache:
    def __init__(self, redis: Redis, guard: RedisGuard, ttl_seconds: int, enabled: bool) -> None:
        self.redis = redis
        self.guard = guard
        self.ttl_seconds = ttl_seconds
        self.enabled = enabled
        self._store_if_newer = redis.register_script(STORE_IF_NEWER)

    @staticmethod
    def key(item_id: uuid.UUID) -> str:
        return f"items:v1:{item_id.hex}"

    async def get(self, item_id: uuid.UUID) -> bytes | None:
        """The cached body; TOMBSTONE if the item is known deleted; None on a miss."""
        if not (self.enabled and self.guard.available):
            return None
        try:
            body = await self.redis.hget(self.key(item_id), "b")
        except (RedisError, OSError) as error:
            self.guard.failed("item cache read", error)
            return None
        return body.encode() if isinstance(body, str) else body

    async def store(
        self, item_id: uuid.UUID, version: int, body: bytes, *, after_write: bool = False
    ) -> None:
        """Keep this version unless a newer one is already there. Never fails the request.

        After a write it is tried even while the guard says Redis is down: skipping it could
        leave the replaced version cached if Redis was only briefly unreachable.
        """
        if not self.enabled or not (after_write or self.guard.available):
            return
        try:
            await self._store_if_newer(
                keys=[self.key(item_id)], args=[version, body, self.ttl_seconds]
            )
        except (RedisError, OSError) as error:
            self.guard.failed("item cache write", error)

    async def bury(self, item_id: uuid.UUID, deleted_version: int) -> None:
        await self.store(item_id, deleted_version, TOMBSTONE, after_write=True)
