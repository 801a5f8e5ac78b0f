"""Items in PostgreSQL: the only module here that writes SQL."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.items.models import Item


def now() -> datetime:
    return datetime.now(UTC)


async def get(
    session: AsyncSession, item_id: uuid.UUID, *, for_update: bool = False
) -> Item | None:
    statement = select(Item).where(Item.id == item_id)
    if for_update:  # concurrent writers of one item queue up instead of overwriting each other
        statement = statement.with_for_update()
    return (await session.execute(statement)).scalar_one_or_none()


def newest_first_query(limit: int, before: tuple[datetime, uuid.UUID] | None) -> Select[Item]:
    """Up to ``limit`` items older than the ``before`` position, newest first (keyset)."""
    statement = select(Item).order_by(Item.created_at.desc(), Item.id.desc()).limit(limit)
    if before is not None:
        statement = statement.where(tuple_(Item.created_at, Item.id) < tuple_(*before))
    return statement


async def newest_first(
    session: AsyncSession, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> Sequence[Item]:
    return (await session.execute(newest_first_query(limit, before))).scalars().all()


async def add(session: AsyncSession, **values: Any) -> Item:
    stamp = now()
    item = Item(id=uuid.uuid4(), version=1, created_at=stamp, updated_at=stamp, **values)
    session.add(item)
    await session.flush()
    return item


async def change(session: AsyncSession, item: Item, values: dict[str, Any]) -> Item:
    for field, value in values.items():
        setattr(item, field, value)
    item.version += 1
    item.updated_at = now()
    await session.flush()
    return item


async def remove(session: AsyncSession, item: Item) -> None:
    await session.delete(item)
    await session.flush()
