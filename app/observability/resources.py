"""Metrics of what a process holds open (its Resources): the database pool and Redis' guard,
reported as they change rather than polled, since under gunicorn nothing in a worker runs at
scrape time."""

from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

from app.core.resources import Resources
from app.observability.metrics import APP_INFO, DB_POOL_IN_USE, DB_POOL_SIZE, REDIS_UP


def watch_resources(resources: Resources) -> None:
    settings = resources.settings
    APP_INFO.labels(settings.app_version).set(1)
    DB_POOL_SIZE.set(settings.db_pool_size + settings.db_max_overflow)
    watch_pool(resources.engine.sync_engine.pool)
    REDIS_UP.set(1)
    resources.redis_guard.on_change = REDIS_UP.set


def watch_pool(pool: Pool) -> None:
    # A connection invalidated while checked out is still checked in (or closed) through
    # "checkin", so the two events balance.
    def checked_out(*_: Any) -> None:
        DB_POOL_IN_USE.inc()

    def checked_in(*_: Any) -> None:
        DB_POOL_IN_USE.dec()

    event.listen(pool, "checkout", checked_out)
    event.listen(pool, "checkin", checked_in)
