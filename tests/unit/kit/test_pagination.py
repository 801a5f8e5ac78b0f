"""Keyset pages on their own, with no resource: cursors round-trip, a made-up cursor is the
client's error, a page knows whether another follows, and the query pages below a position."""

import uuid
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.errors import InvalidInput
from app.kit.pagination import NewestFirst, decode_cursor, encode_cursor, split_page


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]


@dataclass(frozen=True)
class Row:
    created_at: datetime
    id: uuid.UUID


def rows(count: int) -> list[Row]:
    now = datetime.now(UTC)
    return [Row(now - timedelta(seconds=n), uuid.uuid4()) for n in range(count)]


def test_a_cursor_names_the_position_it_was_made_from() -> None:
    row = rows(1)[0]
    assert decode_cursor(encode_cursor(row)) == (row.created_at, row.id)


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "!!!!",
        encode_cursor(Row(datetime(2026, 1, 1), uuid.uuid4())),  # noqa: DTZ001 - no time zone, on purpose
        "WyJ4IiwgInkiXQ",  # ["x", "y"]
    ],
)
def test_a_made_up_cursor_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)


def test_a_page_has_a_next_cursor_only_when_a_row_follows() -> None:
    read = rows(3)
    page, next_cursor = split_page(read, limit=2)
    assert list(page) == read[:2]
    assert next_cursor is not None
    assert decode_cursor(next_cursor) == (read[1].created_at, read[1].id)
    assert split_page(read, limit=3) == (read, None)


def test_the_query_is_newest_first_and_below_the_position() -> None:
    pages = NewestFirst(select(Thing), Thing.created_at, Thing.id)
    position = astuple(rows(1)[0])
    first, first_values = pages.page(21, None)
    below, below_values = pages.page(21, position)
    assert "ORDER BY things.created_at DESC, things.id DESC" in str(first)
    assert "WHERE" not in str(first)
    assert "WHERE (things.created_at, things.id) < (:before_created_at, :before_id)" in str(below)
    assert first_values == {"limit": 21}
    assert below_values == {
        "limit": 21,
        "before_created_at": position[0],
        "before_id": position[1],
    }
