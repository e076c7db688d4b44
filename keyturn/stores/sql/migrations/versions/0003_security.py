"""Security state: throttling counters, access-token denylist, DPoP jti
replay cache, resource-server clients.

Revision ID: 0003
Revises: 0002_revocations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002_revocations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kt_counters",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("last_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_kt_counters_expiry", "kt_counters", ["expires_at"])
    op.create_table(
        "kt_denylist",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_kt_denylist_created", "kt_denylist", ["created_at"])
    op.create_index("ix_kt_denylist_expiry", "kt_denylist", ["expires_at"])
    op.create_table(
        "kt_dpop_jti",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_kt_dpop_jti_expiry", "kt_dpop_jti", ["expires_at"])
    op.create_table(
        "kt_resource_clients",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kt_resource_clients")
    op.drop_table("kt_dpop_jti")
    op.drop_table("kt_denylist")
    op.drop_table("kt_counters")
