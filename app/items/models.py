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


class Item(Base):
    __tablename__ = "items"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    price: Mapped[Decimal] = mapped_column(Numeric(PRICE_DIGITS, PRICE_PLACES))
    # Bumped by every write: the cache only ever replaces an entry by a newer version.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # Names are unique whatever their case: "Lamp" and "lamp" are one item.
        Index("uq_items_name_lower", func.lower(name), unique=True),
        # Keyset pagination walks this index, newest first: no OFFSET, constant cost per page.
        Index("ix_items_created_at_id", created_at, id),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )
