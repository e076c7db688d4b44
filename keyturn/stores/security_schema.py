"""Tables for the shared security state (migration 0003)."""

from __future__ import annotations

import sqlalchemy as sa

from keyturn.stores.schema import metadata

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
