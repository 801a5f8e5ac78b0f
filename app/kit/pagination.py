"""Keyset pagination with opaque cursors: a page ends at a (created_at, id) position, and the
next page starts below it. No OFFSET, the same cost for the thousandth page as for the first,
and a walk returns every row exactly once even while rows are added."""

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import InstrumentedAttribute

from app.core.errors import InvalidInput

Position = tuple[datetime, uuid.UUID]


class Positioned(Protocol):
    """A row a page can end at: a model instance, or a Core row with these columns."""

    @property
    def created_at(self) -> datetime: ...
    @property
    def id(self) -> uuid.UUID: ...


INVALID_CURSOR = "The cursor is not valid; use next_cursor from a previous page."


class Page[T](BaseModel):
    items: list[T]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


def newest_first[S: Select[Any]](
    statement: S,
    created_at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[uuid.UUID],
    limit: int,
    before: Position | None,
) -> S:
    """Up to ``limit`` rows older than the ``before`` position, newest first (an index on
    (created_at, id) serves it)."""
    statement = statement.order_by(created_at.desc(), row_id.desc()).limit(limit)
    if before is not None:
        statement = statement.where(tuple_(created_at, row_id) < tuple_(*before))
    return statement


def encode_cursor(row: Positioned) -> str:
    position = json.dumps([row.created_at.isoformat(), row.id.hex]).encode()
    return base64.urlsafe_b64encode(position).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, row_id = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        position = datetime.fromisoformat(created_at), uuid.UUID(row_id)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise InvalidInput(INVALID_CURSOR) from None
    if position[0].tzinfo is None:
        raise InvalidInput(INVALID_CURSOR)
    return position


def split_page[R: Positioned](rows: Sequence[R], limit: int) -> tuple[Sequence[R], str | None]:
    """``rows`` as read with ``limit + 1``: the page, and the cursor of the next one if the
    extra row says there is one (no COUNT needed)."""
    page = rows[:limit]
    return page, encode_cursor(page[-1]) if len(rows) > limit else None
