"""The row every versioned resource is made of: a random id, a version that every write bumps
(the cache only ever replaces an entry by a newer one), and its timestamps."""

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Index
from sqlalchemy.orm import Mapped, mapped_column


class Versioned:
    """A mixin for a resource's model: ``class Order(Versioned, Base)``."""

    if TYPE_CHECKING:  # what the declarative base provides, for Repository's typed calls

        def __init__(self, **values: Any) -> None: ...

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def keyset_index(table: str) -> Index:
    """The index keyset pagination walks, newest first: no OFFSET, constant cost per page."""
    return Index(f"ix_{table}_created_at_id", "created_at", "id")
