"""Alembic environment: async, with the URL taken from the app's own settings."""

import asyncio
import logging

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Every model module must be imported here so autogenerate sees its tables
# (`make resource` adds a line here).
import app.exports.models
import app.items.models  # noqa: F401
from app.core.config import get_settings
from app.core.database import Base, create_engine
from app.core.errors import DependencyUnavailable
from app.core.logging import configure_logging
from app.core.outages import as_problem

configure_logging(get_settings().log_level)
logger = logging.getLogger(__name__)
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


# A migration job may start while the database is still coming up (a restart, a failover, a
# busy host): connecting is retried for about half a minute before the job fails.
CONNECT_ATTEMPTS = 15


async def connect(engine: AsyncEngine) -> AsyncConnection:
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await engine.connect()
        except Exception as error:
            unavailable = isinstance(as_problem(error), DependencyUnavailable)
            if attempt == CONNECT_ATTEMPTS or not unavailable:
                raise
            logger.warning("database not reachable yet, retrying", extra={"attempt": attempt})
            await asyncio.sleep(2)
    raise AssertionError("unreachable")


async def run_migrations_online() -> None:
    engine = create_engine(get_settings())
    try:
        connection = await connect(engine)
        try:
            await connection.run_sync(run_migrations)
            await connection.commit()
        finally:
            await connection.close()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: print the SQL for a DBA instead of running it."""
    context.configure(
        url=get_settings().database_url.render_as_string(hide_password=True),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (given := context.config.attributes.get("connection")) is not None:
    # The caller (the test fixtures) already holds a connection: migrate on it, in its loop.
    run_migrations(given)
else:
    asyncio.run(run_migrations_online())
