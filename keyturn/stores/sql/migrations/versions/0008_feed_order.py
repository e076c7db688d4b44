"""The revocation feed in commit order: a one-row lock table that every
revocation insert updates first (keyturn.stores.sql.revocations).

Expand-only: builds that do not know it keep running (they insert without
the lock, as before).

Revision ID: 0008_feed_order
Revises: 0007_claims
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_feed_order"
down_revision = "0007_claims"
branch_labels = None
depends_on = None
expand_only = True


def upgrade() -> None:
    table = op.create_table(
        "kt_feed_lock",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(table, [{"id": 1, "n": 0}])


def downgrade() -> None:
    op.drop_table("kt_feed_lock")
