"""Credential versions: each user's (bumped by password change, disable,
logout-all) and the one each session was born with.

Revision ID: 0005_credentials
Revises: 0004_exact_names
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_credentials"
down_revision = "0004_exact_names"
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
