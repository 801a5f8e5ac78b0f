"""PostgreSQL: one async engine per process (SQLAlchemy 2 on asyncpg), its sessions, and Base."""

import ssl
from typing import Any, Literal

from sqlalchemy import MetaData, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from app.core.config import Settings
from app.core.metrics import DB_POOL_IN_USE, DB_POOL_SIZE

# Deterministic constraint names, so Alembic autogenerate can diff and drop them reliably.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def command_deadline_seconds(settings: Settings) -> float:
    """The client-side deadline of each statement (pre-ping and rollback included): a second
    past the server's own statement timeout, so it fires only when the server cannot (paused,
    partitioned: TCP stays up and nothing answers)."""
    return settings.db_statement_timeout_ms / 1000 + 1


def postgres_ssl(settings: Settings) -> ssl.SSLContext | Literal["prefer", False]:
    """asyncpg's ``ssl`` for POSTGRES_SSL_MODE: verify-full checks the certificate's chain
    (POSTGRES_SSL_CA_FILE, else the system's CAs) and its name; require encrypts unverified."""
    match settings.postgres_ssl_mode:
        case "disable":
            return False
        case "prefer":
            return "prefer"
        case "require":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        case "verify-full":
            return ssl.create_default_context(cafile=settings.postgres_ssl_ca_file)


def create_engine(settings: Settings) -> AsyncEngine:
    """A sized pool that never hands out a dead connection and never waits forever."""
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_seconds,
        # A connection killed by a failover or pg_terminate_backend is detected on checkout
        # (by the driver's own state: see ping_without_round_trips).
        pool_pre_ping=True,
        pool_recycle=1800,
        # Errors are logged without the statement's parameters: they may hold personal data.
        hide_parameters=True,
        connect_args={
            # Connecting, authentication included, is bounded...
            "timeout": settings.db_connect_timeout_seconds,
            "ssl": postgres_ssl(settings),
            # ...and so is every statement, whatever the server does.
            "command_timeout": command_deadline_seconds(settings),
            "server_settings": {
                "application_name": "fastapi-starter",
                # The server cancels a runaway query instead of holding a pool slot forever.
                "statement_timeout": str(settings.db_statement_timeout_ms),
            },
        },
    )
    ping_without_round_trips(engine)
    return engine


def ping_without_round_trips(engine: AsyncEngine) -> None:
    """The pre-ping asks asyncpg whether the connection is closed instead of asking the server.

    SQLAlchemy's own ping is BEGIN, an empty query and ROLLBACK: three round trips on every
    checkout, more than the read it precedes. A connection the server ended
    (pg_terminate_backend, a restart, a failover) was told so by the server, and asyncpg marks
    it closed as the event loop reads that: the check catches it, and a failed check refreshes
    the whole pool. A connection that died in silence (no FIN: a partition) is found by its
    statement's deadline instead.
    """

    def connection_open(dbapi_connection: Any) -> bool:
        return not dbapi_connection.driver_connection.is_closed()

    engine.dialect.do_ping = connection_open  # type: ignore[method-assign]


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit, so a handler can answer with what it just wrote.
    return async_sessionmaker(engine, expire_on_commit=False)


def count_connections_in_use(engine: AsyncEngine, settings: Settings) -> None:
    """The pool's size and its connections in use, as metrics. A connection invalidated while
    checked out is still checked in (or closed) through "checkin", so the two events balance."""
    DB_POOL_SIZE.set(settings.db_pool_size + settings.db_max_overflow)
    event.listen(engine.sync_engine.pool, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(engine.sync_engine.pool, "checkin", lambda *_: DB_POOL_IN_USE.dec())
