"""Initial schema: users, sessions, signing keys, security events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kt_users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("username", sa.String(255), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "kt_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("rotated_at", sa.Double, nullable=False),
        sa.Column("last_used_at", sa.Double, nullable=False),
        sa.Column("idle_expires_at", sa.Double, nullable=False),
        sa.Column("absolute_expires_at", sa.Double, nullable=False),
        sa.Column("login_ip", sa.String(64)),
        sa.Column("user_agent", sa.String(512)),
        sa.Column("last_ip", sa.String(64)),
        sa.Column("last_user_agent", sa.String(512)),
        sa.Column("dpop_jkt", sa.String(64)),
        sa.Column("revoked_at", sa.Double),
        sa.Column("revoke_reason", sa.String(32)),
    )
    op.create_index("ix_kt_sessions_user", "kt_sessions", ["user_id", "revoked_at"])
    op.create_index("ix_kt_sessions_expiry", "kt_sessions", ["absolute_expires_at"])
    op.create_table(
        "kt_signing_keys",
        sa.Column("kid", sa.String(32), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("private_enc", sa.LargeBinary, nullable=False),
        sa.Column("public_jwk", sa.Text, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("retired_at", sa.Double),
    )
    op.create_table(
        "kt_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("user_id", sa.String(32)),
        sa.Column("session_id", sa.String(32)),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(512)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_kt_events_user", "kt_events", ["user_id", "at"])


def downgrade() -> None:
    op.drop_table("kt_events")
    op.drop_table("kt_signing_keys")
    op.drop_table("kt_sessions")
    op.drop_table("kt_users")
