"""The problem documents a resource answers with, beyond the core ones (422, 503), and the
OpenAPI documentation of every status each kind of operation can return."""

from http import HTTPStatus
from typing import Any

from app.core.errors import ProblemError, problem_responses


class NotFound(ProblemError):
    status = HTTPStatus.NOT_FOUND


class Conflict(ProblemError):
    status = HTTPStatus.CONFLICT


# What each kind of operation can answer besides its success (the middleware's 413 and 429,
# the database's 503, validation's 422): one list, so the OpenAPI document says it all alike.
_STATUSES = {
    "create": (401, 409, 413, 415, 422, 429, 503),
    "list": (422, 429, 503),
    "read": (404, 429, 503),
    "update": (401, 404, 409, 412, 413, 415, 422, 429, 503),
    "delete": (401, 404, 412, 429, 503),
}


def documented_errors(operation: str) -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(*_STATUSES[operation])
    if operation == "read":
        responses[304] = {"description": "Not Modified: the If-None-Match tag is current"}
    return responses
