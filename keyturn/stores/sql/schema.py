"""The SQL schema, shared by the engine and the Alembic migrations.

Times are epoch seconds as DOUBLE (portable across SQLite, PostgreSQL and
MySQL, and exact enough for sub-millisecond grace windows).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "kt_users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("username", sa.String(255), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)

sessions = sa.Table(
    "kt_sessions",
    metadata,
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
    sa.Index("ix_kt_sessions_user", "user_id", "revoked_at"),
    sa.Index("ix_kt_sessions_expiry", "absolute_expires_at"),
)

signing_keys = sa.Table(
    "kt_signing_keys",
    metadata,
    sa.Column("kid", sa.String(32), primary_key=True),
    sa.Column("alg", sa.String(16), nullable=False),
    sa.Column("private_enc", sa.LargeBinary, nullable=False),
    sa.Column("public_jwk", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("retired_at", sa.Double),
    sa.Column("activates_at", sa.Double),  # no replica signs with it before (NULL: from created_at)
    sa.Column("revoked_at", sa.Double),  # compromised: out of the JWKS, its tokens refused
)

events = sa.Table(
    "kt_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(40), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("user_id", sa.String(32)),
    sa.Column("session_id", sa.String(32)),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_kt_events_user", "user_id", "at"),
)

# The revocation feed (keyturn.service.feed): one row per revoked session,
# kept until its last access token has expired.
revocations = sa.Table(
    "kt_revocations",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("sid", sa.String(32), nullable=False),
    sa.Column("exp", sa.Double, nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Index("ix_kt_revocations_exp", "exp"),
)


# --- the shared security state (migration 0003) ------------------------------

counters = sa.Table(
    "kt_counters",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("last_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_kt_counters_expiry", "expires_at"),
)

denylist = sa.Table(
    "kt_denylist",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_kt_denylist_created", "created_at"),
    sa.Index("ix_kt_denylist_expiry", "expires_at"),
)

dpop_jti = sa.Table(
    "kt_dpop_jti",
    metadata,
    sa.Column("key", sa.String(80), primary_key=True),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_kt_dpop_jti_expiry", "expires_at"),
)

resource_clients = sa.Table(
    "kt_resource_clients",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
)
