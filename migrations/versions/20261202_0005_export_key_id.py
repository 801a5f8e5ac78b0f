"""export key id: who asked for an export, for the per-key limit

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("exports", sa.Column("key_id", sa.String(length=64), nullable=True))
    op.create_index("ix_exports_key_id_status", "exports", ["key_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_exports_key_id_status", table_name="exports")
    op.drop_column("exports", "key_id")
