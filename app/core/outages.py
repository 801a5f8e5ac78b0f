"""What a failure of a backing service means for the client: its fault (4xx), or a passing
outage (503) with Retry-After. Database errors by their SQLSTATE; connection failures (refused,
reset, unknown host, timed out) as outages. Never a stack trace. (Redis is an optimisation
here: the cache and the rate limiter carry on without it, app.core.redis.RedisGuard.)"""

import logging
import socket

from fastapi import FastAPI, Request
from sqlalchemy import exc as sa

from app.core.errors import (
    DependencyUnavailable,
    InvalidInput,
    ProblemError,
    ProblemResponse,
    problem_response,
)

logger = logging.getLogger(__name__)

# SQLSTATE classes: 08 connection exception, 28 invalid authorization (a rotated password not
# yet rolled out), 53 insufficient resources, 57 operator intervention (shutdown, statement
# timeout), 22 data exception (bad input that got through).
UNAVAILABLE_CLASSES = ("08", "28", "53", "57")
DATA_EXCEPTION_CLASS = "22"

# Raised while connecting, before any SQL runs: refused, reset, unknown host, timed out.
CONNECTION_FAILURES = (ConnectionError, socket.gaierror, TimeoutError, sa.TimeoutError)


def _driver_detail(error: sa.DBAPIError, attribute: str) -> str | None:
    """A detail the server sent with the error, from SQLAlchemy's wrapper or asyncpg's own."""
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        value = getattr(candidate, attribute, None)
        if isinstance(value, str):
            return value
    return None


def sqlstate(error: sa.DBAPIError) -> str | None:
    return _driver_detail(error, "sqlstate")


def constraint_name(error: sa.DBAPIError) -> str | None:
    return _driver_detail(error, "constraint_name")


def as_problem(error: BaseException) -> ProblemError | None:
    """The problem to answer with, or None for a real bug (which stays a logged 500)."""
    if isinstance(error, CONNECTION_FAILURES):
        return DependencyUnavailable("A backing service is unavailable; retry shortly.")
    if isinstance(error, sa.DBAPIError):
        code = sqlstate(error) or ""
        if error.connection_invalidated or code[:2] in UNAVAILABLE_CLASSES or not code:
            return DependencyUnavailable("The database is unavailable; retry shortly.")
        if code[:2] == DATA_EXCEPTION_CLASS:
            return InvalidInput("The database refused a value in the request.")
    return None


async def outage_handler(_: Request, error: Exception) -> ProblemResponse:
    problem = as_problem(error)
    if problem is None:
        raise error  # a bug: the request middleware logs it and answers 500
    logger.warning("outage answered as %s", problem.status, exc_info=error)
    return problem_response(problem.status, problem.detail, headers=problem.headers)


def register_outage_handlers(app: FastAPI) -> None:
    for error_type in (sa.DBAPIError, *CONNECTION_FAILURES):
        app.add_exception_handler(error_type, outage_handler)
