"""Readiness probes: each dependency is checked concurrently, each within its own deadline."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.health.schemas import CheckResult

logger = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]


async def run_check(name: str, probe: Probe, deadline_seconds: float) -> CheckResult:
    """Run one probe; a failure or a timeout becomes a 'fail' result, never an exception."""
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
    return CheckResult(
        status="fail" if output else "pass",
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
    postgres, cache = await asyncio.gather(
        run_check("postgres", postgres_probe(engine), deadline_seconds),
        run_check("redis", redis_probe(redis), deadline_seconds),
    )
    return {"postgres:connection": [postgres], "redis:connection": [cache]}
