"""Versioned cache-aside in Redis: an entry is never older than the database.

Each entry holds a row's serialized body and its version. Writers store the new version
after they commit; a deleted row leaves a tombstone carrying the next version. A Lua script
replaces an entry only by a strictly newer version, so a slow reader can never put back a
version a writer has already replaced: the race that a plain delete-on-write leaves open.

If Redis cannot take a writer's new version (a blip), the old entry would be served for its
time to live: so the write is retried in the background until it lands, and meanwhile this
process reads that row from the database.
"""

import asyncio
import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.read_ahead import KeyOfPath, take
from app.core.redis import RedisGuard, is_pool_exhausted
from app.observability.metrics import CACHE_LOOKUPS

logger = logging.getLogger(__name__)

TOMBSTONE = b""
BODY = "b"  # the entry's field holding the body ('v' holds its version)

STORE_IF_NEWER = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'b', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

RETRY_INTERVAL_SECONDS = 0.5
# Writes waiting to be retried; past this many (a long outage), the oldest are given up: Redis
# that was down that long has most likely restarted empty, which holds no stale entry.
MAX_PENDING = 10_000


def entry_key(namespace: str, row_id: uuid.UUID) -> str:
    return f"{namespace}:v1:{row_id.hex}"


def read_path(collection: str, namespace: str) -> KeyOfPath:
    """The read-ahead rule (app.core.read_ahead) of a cached read at ``{collection}/{id}``
    (``/items/{id}``, under any prefix): the entry ``read`` will ask for. The read then costs
    one Redis round trip, shared with the rate limiter (bench/README.md)."""
    tail = collection.rstrip("/")

    def key_of(path: str) -> tuple[str, str] | None:
        head, _, last = path.rpartition("/")
        if not head.endswith(tail):
            return None
        try:
            return entry_key(namespace, uuid.UUID(last)), BODY
        except ValueError:
            return None

    return key_of


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
        self._pending: dict[uuid.UUID, tuple[int, bytes]] = {}
        self._retrying: asyncio.Task[None] | None = None
        self._hits = CACHE_LOOKUPS.labels(namespace, "hit")
        self._misses = CACHE_LOOKUPS.labels(namespace, "miss")

    def key(self, row_id: uuid.UUID) -> str:
        return entry_key(self.namespace, row_id)

    async def read(self, row_id: uuid.UUID) -> bytes | None:
        """The cached body; TOMBSTONE if the row is known deleted; None on a miss."""
        if not self.enabled:
            return None
        if not self.guard.available or row_id in self._pending:
            self._misses.inc()
            return None
        key = self.key(row_id)
        read_ahead, body = take(key)  # read in the rate limiter's round trip (read_path)
        if not read_ahead:
            try:
                value = await self.redis.hget(key, BODY)
            except (RedisError, OSError) as error:
                self._failed("read", error)
                self._misses.inc()
                return None
            body = value.encode() if isinstance(value, str) else value
        (self._misses if body is None else self._hits).inc()
        return body

    async def fill(self, row_id: uuid.UUID, version: int, body: bytes) -> None:
        """After a read from the database: keep it, unless Redis is known to be down."""
        if self.guard.available:
            await self._store(row_id, version, body)

    async def update(self, row_id: uuid.UUID, version: int, body: bytes) -> None:
        """After a committed create or update. Tried even while the guard says Redis is down,
        and retried until it lands: the replaced version must not stay cached."""
        if not await self._store(row_id, version, body):
            self._retry_later(row_id, version, body)

    async def delete(self, row_id: uuid.UUID, deleted_version: int) -> None:
        """After a committed delete: a tombstone, so a racing reader cannot put the row back."""
        await self.update(row_id, deleted_version, TOMBSTONE)

    async def aclose(self) -> None:
        """Stop retrying (the process is stopping; the entries' TTLs bound what is left)."""
        if self._retrying is not None:
            self._retrying.cancel()

    async def _store(self, row_id: uuid.UUID, version: int, body: bytes) -> bool:
        """Keep this version unless a newer one is already there. Never fails the request;
        False when Redis could not be asked."""
        if not self.enabled:
            return True
        try:
            await self._store_if_newer(
                keys=[self.key(row_id)], args=[version, body, self.ttl_seconds]
            )
        except (RedisError, OSError) as error:
            self._failed("write", error)
            return False
        return True

    def _failed(self, operation: str, error: BaseException) -> None:
        if not is_pool_exhausted(error):  # a busy pool is not an outage
            self.guard.failed(f"{self.namespace} cache {operation}", error)

    def _retry_later(self, row_id: uuid.UUID, version: int, body: bytes) -> None:
        waiting = self._pending.get(row_id)
        if waiting is None or waiting[0] < version:
            self._pending[row_id] = (version, body)
        while len(self._pending) > MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.create_task(self._retry_pending())

    async def _retry_pending(self) -> None:
        while self._pending:
            await asyncio.sleep(RETRY_INTERVAL_SECONDS)
            for row_id, (version, body) in list(self._pending.items()):
                if not await self._store(row_id, version, body):
                    break  # still away: try again later
                if self._pending.get(row_id) == (version, body):
                    del self._pending[row_id]
        logger.info("%s cache: every write retried has landed", self.namespace)
