"""item name keys: names unique by their look-alike key (UTS #39 skeleton)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000

Expand only: the column is nullable and lower(name) stays unique, so a replica older than this
migration still writes during a rolling update. Existing rows get their key here; if two of
them already look alike, the upgrade stops and names both, for a person to rename one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.kit.fields import look_alike_key

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    op.add_column("items", sa.Column("name_key", sa.String(length=800), nullable=True))
    connection = op.get_bind()
    items = sa.table("items", sa.column("id", sa.Uuid()), sa.column("name"), sa.column("name_key"))
    seen: dict[str, str] = {}
    after = None
    while True:
        query = sa.select(items.c.id, items.c.name).order_by(items.c.id).limit(BATCH)
        if after is not None:
            query = query.where(items.c.id > after)
        rows = connection.execute(query).all()
        if not rows:
            break
        for item_id, name in rows:
            key = look_alike_key(name)
            if key in seen:
                raise RuntimeError(
                    f"items {seen[key]!r} and {name!r} look alike: rename one, then upgrade again"
                )
            seen[key] = name
            connection.execute(sa.update(items).where(items.c.id == item_id).values(name_key=key))
        after = rows[-1][0]
    op.create_index("uq_items_name_key", "items", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_items_name_key", table_name="items")
    op.drop_column("items", "name_key")
