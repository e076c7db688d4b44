"""The revocation feed: revoked session ids until their access tokens expire.

Revision ID: 0002_revocations
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_revocations"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kt_revocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("sid", sa.String(32), nullable=False),
        sa.Column("exp", sa.Double, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
    )
    op.create_index("ix_kt_revocations_exp", "kt_revocations", ["exp"])


def downgrade() -> None:
    op.drop_table("kt_revocations")
