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
from sqlalchemy import Integer, Select, bindparam, tuple_
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


class NewestFirst[S: Select[Any]]:
    """Pages of ``statement``, newest first (an index on (created_at, id) serves them): the first
    page and the page below a position, each built once, so that a request only binds its
    values and SQLAlchemy reuses the compiled statement without building a cache key for it."""

    def __init__(
        self,
        statement: S,
        created_at: InstrumentedAttribute[datetime],
        row_id: InstrumentedAttribute[uuid.UUID],
    ) -> None:
        self.first = statement.order_by(created_at.desc(), row_id.desc()).limit(
            bindparam("limit", type_=Integer)
        )
        position = tuple_(
            bindparam("before_created_at", type_=created_at.type),
            bindparam("before_id", type_=row_id.type),
        )
        self.below = self.first.where(tuple_(created_at, row_id) < position)

    def page(self, limit: int, before: Position | None) -> tuple[S, dict[str, Any]]:
        """The statement and its values for up to ``limit`` rows older than ``before``."""
        if before is None:
            return self.first, {"limit": limit}
        created_at, row_id = before
        return self.below, {"limit": limit, "before_created_at": created_at, "before_id": row_id}


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
