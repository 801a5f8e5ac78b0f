from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base
from app.kit.models import Versioned, keyset_index

NAME_MAX = 200
DESCRIPTION_MAX = 2000
# NUMERIC(12, 2): up to 9,999,999,999.99, exact, never a float.
PRICE_DIGITS = 12
PRICE_PLACES = 2
# Names are unique whatever their case: "Lamp" and "lamp" are one item.
NAME_INDEX = "uq_items_name_lower"


class Item(Versioned, Base):
    __tablename__ = "items"

    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str | None] = mapped_column(String(DESCRIPTION_MAX))
    price: Mapped[Decimal] = mapped_column(Numeric(PRICE_DIGITS, PRICE_PLACES))

    __table_args__ = (
        Index(NAME_INDEX, func.lower(name), unique=True),
        keyset_index(__tablename__),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )
