"""HTTP a resource speaks: JSON request bodies, a representation's strong ETag, and conditional
requests (RFC 9110 section 13): ``If-None-Match`` on reads (304), ``If-Match`` on writes (412)."""

import hashlib
from http import HTTPStatus
from typing import Annotated

from fastapi import Header, Response

from app.core.errors import ProblemError

JSON = "application/json"
# Every resource's routes live under it (a router's prefix starts with it).
API_PREFIX = "/api/v1"

# Dependencies are ``async def`` even when they never await: FastAPI runs a plain ``def`` in a
# worker thread, a thread hop per request.


class UnsupportedMediaType(ProblemError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE


async def require_json(
    content_type: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """For routes that take a body: application/json or any +json type, else 415."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != JSON and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(f"Send the body as {JSON}.")


class PreconditionFailed(ProblemError):
    status = HTTPStatus.PRECONDITION_FAILED

    def __init__(self) -> None:
        super().__init__("It has changed since that ETag; fetch it again.")


def etag(body: bytes) -> str:
    """The strong ETag of a representation: it names these exact bytes."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",")]


def not_modified(if_none_match: str | None, current: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes do not count."""
    if if_none_match is None:
        return False
    tags = [tag.removeprefix("W/") for tag in _tags(if_none_match)]
    return "*" in tags or current in tags


def require_match(if_match: str | None, current: str) -> None:
    """If-Match (RFC 9110 13.1.1): '*' or any listed strong tag equal to the current one."""
    if if_match is None:
        return
    tags = _tags(if_match)
    if "*" not in tags and current not in tags:
        raise PreconditionFailed


IfNoneMatch = Annotated[str | None, Header()]
IfMatch = Annotated[str | None, Header()]


def caching_headers(tag: str) -> dict[str, str]:
    # Clients may keep it but must revalidate it: the ETag makes that a cheap 304.
    return {"ETag": tag, "Cache-Control": "no-cache"}


def representation(body: bytes, if_none_match: str | None = None) -> Response:
    """A stored representation, sent as the exact bytes its ETag names, or 304 when the
    client's copy is current."""
    tag = etag(body)
    if not_modified(if_none_match, tag):
        return Response(status_code=304, headers=caching_headers(tag))
    return Response(body, headers=caching_headers(tag), media_type=JSON)
