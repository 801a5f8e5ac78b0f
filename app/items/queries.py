"""The statements the items service runs, built once. Reads select the table's columns (Core
rows, which read like the objects): a row that is only serialized needs no ORM instance, so
the service runs them on the session's connection, past the ORM's execution (ADR 0029)."""

from sqlalchemy import bindparam, insert, select

from app.items.models import Item
from app.kit.pagination import NewestFirst

COLUMNS = select(Item.__table__)

BY_ID = COLUMNS.where(Item.id == bindparam("item_id"))

# Pages of items, newest first.
PAGES = NewestFirst(COLUMNS, Item.created_at, Item.id)

# A new row, answered as stored.
INSERT = insert(Item).returning(*Item.__table__.columns)

# The row a write changes, locked: concurrent writers of one item queue up, never overwrite.
FOR_UPDATE = select(Item).where(Item.id == bindparam("item_id")).with_for_update()
