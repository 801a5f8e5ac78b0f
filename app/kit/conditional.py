"""Conditional requests (RFC 9110 section 13), in one place: a representation's strong ETag,
``If-None-Match`` (reads: 304) and ``If-Match`` (writes: 412)."""

import hashlib
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, Header, Response

from app.core.errors import ProblemError
from app.core.media import JSON


class PreconditionFailed(ProblemError):
    status = HTTPStatus.PRECONDITION_FAILED

    def __init__(self) -> None:
        super().__init__("It has changed since that ETag; fetch it again.")


@dataclass(frozen=True, slots=True)
class Representation:
    """A resource as sent: the exact bytes, and the strong ETag that names them."""

    body: bytes

    @property
    def etag(self) -> str:
        return f'"{hashlib.blake2b(self.body, digest_size=16).hexdigest()}"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",")]


@dataclass(frozen=True, slots=True)
class Conditions:
    if_match: str | None = None
    if_none_match: str | None = None

    def not_modified(self, current: Representation) -> bool:
        """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes do not count."""
        if self.if_none_match is None:
            return False
        tags = [tag.removeprefix("W/") for tag in _tags(self.if_none_match)]
        return "*" in tags or current.etag in tags

    def require_match(self, current: Representation) -> None:
        """If-Match (RFC 9110 13.1.1): '*' or any listed strong tag equal to the current one."""
        if self.if_match is None:
            return
        tags = _tags(self.if_match)
        if "*" not in tags and current.etag not in tags:
            raise PreconditionFailed


UNCONDITIONAL = Conditions()


# async: a plain def dependency runs in a worker thread (bench/README.md, "async dependencies").
async def read_conditions(if_none_match: Annotated[str | None, Header()] = None) -> Conditions:
    return Conditions(if_none_match=if_none_match)


async def write_conditions(if_match: Annotated[str | None, Header()] = None) -> Conditions:
    return Conditions(if_match=if_match)


ReadConditions = Annotated[Conditions, Depends(read_conditions)]
WriteConditions = Annotated[Conditions, Depends(write_conditions)]


def caching_headers(representation: Representation) -> dict[str, str]:
    # Clients may keep it but must revalidate it: the ETag makes that a cheap 304.
    return {"ETag": representation.etag, "Cache-Control": "no-cache"}


def representation_response(
    representation: Representation,
    conditions: Conditions = UNCONDITIONAL,
    status_code: int = 200,
    **headers: str,
) -> Response:
    """The representation with its ETag, or 304 when the client's copy is current."""
    if conditions.not_modified(representation):
        return Response(status_code=304, headers=caching_headers(representation))
    headers = caching_headers(representation) | headers
    return Response(representation.body, status_code, headers, media_type=JSON)
