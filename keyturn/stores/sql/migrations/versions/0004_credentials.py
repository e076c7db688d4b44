"""Credential versions: each user's (bumped by password change, disable,
logout-all) and the one each session was born with.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kt_credentials",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.Double, nullable=False),
    )
    op.add_column(
        "kt_sessions", sa.Column("credential_version", sa.BigInteger, nullable=False, server_default="0")
    )


def downgrade() -> None:
    op.drop_column("kt_sessions", "credential_version")
    op.drop_table("kt_credentials")
