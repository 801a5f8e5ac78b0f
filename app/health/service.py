"""Readiness probes: each dependency is checked concurrently, each within its own deadline."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.health.schemas import CheckResult, Status

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]


async def run_check(
    name: str, probe: Probe, deadline_seconds: float, *, critical: bool = True
) -> CheckResult:
    """Run one probe; a failure or a timeout becomes a 'fail' result (a 'warn' one for a
    dependency the process serves without: not ``critical``), never an exception."""
    checked_at = datetime.now(UTC)
    started = time.perf_counter()
    output = None
    try:
        async with asyncio.timeout(deadline_seconds):
            await probe()
    except TimeoutError:
        output = f"no answer within {deadline_seconds:g} s"
    except Exception as exc:  # any failure of a dependency is a failed check
        output = f"unavailable ({type(exc).__name__})"
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    if output is not None:
        logger.warning("health check failed", extra={"check": name, "reason": output})
    failed: Status = "fail" if critical else "warn"
    return CheckResult(
        status=failed if output else "pass",
        observed_value=latency_ms,
        time=checked_at,
        output=output,
    )


def postgres_probe(engine: AsyncEngine) -> Probe:
    async def probe() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    return probe


def redis_probe(redis: Redis) -> Probe:
    async def probe() -> None:
        await redis.ping()

    return probe


async def check_dependencies(
    engine: AsyncEngine, redis: Redis, deadline_seconds: float
) -> dict[str, list[CheckResult]]:
    # Only Postgres decides readiness. Without the cache Redis the app serves on (reads from
    # Postgres, the limiter fails open): its outage is reported, as "warn", and never empties a
    # Service or a target group of every replica at once.
    postgres, cache = await asyncio.gather(
        run_check("postgres", postgres_probe(engine), deadline_seconds),
        run_check("redis", redis_probe(redis), deadline_seconds, critical=False),
    )
    return {"postgres:connection": [postgres], "redis:connection": [cache]}


class SharedReadiness:
    """Readiness is public and probed often; each check takes a database connection. So
    concurrent probes share one check in flight, and its result for ``max_age_seconds``: a
    flood of probes costs one connection per second per process, and reads keep their pool."""

    def __init__(self, engine: AsyncEngine, redis: Redis, deadline_seconds: float) -> None:
        self.engine = engine
        self.redis = redis
        self.deadline_seconds = deadline_seconds
        self.max_age_seconds = 1.0
        self._checked_at = float("-inf")
        self._result: dict[str, list[CheckResult]] | None = None
        self._in_flight: asyncio.Future[dict[str, list[CheckResult]]] | None = None

    async def check(self) -> dict[str, list[CheckResult]]:
        if self._result is not None and time.monotonic() - self._checked_at < self.max_age_seconds:
            return self._result
        if self._in_flight is None:
            self._in_flight = asyncio.ensure_future(self._check_now())
        # Shielded: a probe that gives up must not cancel the check the others wait for.
        return await asyncio.shield(self._in_flight)

    async def _check_now(self) -> dict[str, list[CheckResult]]:
        try:
            result = await check_dependencies(self.engine, self.redis, self.deadline_seconds)
            self._result, self._checked_at = result, time.monotonic()
            return result
        finally:
            self._in_flight = None


async def get_readiness(request: Request) -> SharedReadiness:
    """The process's one SharedReadiness (the lifespan makes it)."""
    readiness: SharedReadiness = request.state.readiness
    return readiness


ReadinessDep = Annotated[SharedReadiness, Depends(get_readiness)]
