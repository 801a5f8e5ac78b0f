"""The items table."""

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, DateTime, Index, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base

NAME_MAX = 200
DESCRIPTION_MAX = 2000
# NUMERIC(12, 2): up to 9,999,999,999.99, exact, never a float.
PRICE_DIGITS = 12
PRICE_PLACES = 2
# Names are unique whatever their case ("Lamp" and "lamp" are one item), and by their
# look-alike key (app/kit/fields.py: "Lamp" with a Cyrillic a is "Lamp" too).
NAME_INDEXES = ("uq_items_name_lower", "uq_items_name_key")
# A key is a skeleton: a few characters expand ("m" is "rn"), so it has room for it.
NAME_KEY_MAX = 4 * NAME_MAX


class Item(Base):
    __tablename__ = "items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    # look_alike_key(name), set by the service with the name. Null only in a row written by a
    # replica older than migration 0004 during a rolling update (its lower(name) still holds).
    name_key: Mapped[str | None] = mapped_column(String(NAME_KEY_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    price: Mapped[Decimal] = mapped_column(Numeric(PRICE_DIGITS, PRICE_PLACES))
    # Bumped by every write: the cache only ever replaces an entry by a newer version.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(NAME_INDEXES[0], func.lower(name), unique=True),
        Index(NAME_INDEXES[1], name_key, unique=True),
        # The index the newest-first pages walk: no OFFSET, the same cost for every page.
        Index("ix_items_created_at_id", "created_at", "id"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )
