"""Keyset pagination with opaque cursors: a page ends at a (created_at, id) position, and the
next page starts below it. No OFFSET, the same cost for the thousandth page as for the first,
and a walk returns every row exactly once even while rows are added."""

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Row

from app.core.errors import InvalidInput
from app.kit.models import Versioned

Position = tuple[datetime, uuid.UUID]

INVALID_CURSOR = "The cursor is not valid; use next_cursor from a previous page."


class Page[T](BaseModel):
    items: list[T]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )


def encode_cursor(row: Versioned | Row[Any]) -> str:
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


def split_page[R: Versioned | Row[Any]](
    rows: Sequence[R], limit: int
) -> tuple[Sequence[R], str | None]:
    """``rows`` as read with ``limit + 1``: the page, and the cursor of the next one if the
    extra row says there is one (no COUNT needed)."""
    page = rows[:limit]
    return page, encode_cursor(page[-1]) if len(rows) > limit else None
