"""The SQL schema, shared by the engine and the Alembic migrations.

Times are epoch seconds as DOUBLE (portable across SQLite, PostgreSQL and
MySQL, and exact enough for sub-millisecond grace windows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.mysql

from keyturn.core.sessions import Session, under_credentials

metadata = sa.MetaData()


def exact_name(length: int) -> sa.types.TypeEngine[str]:
    """A name compared byte for byte on every engine. Names arrive
    normalised (NFKC + case-fold, ``core.users``); MySQL/MariaDB's default
    ``utf8mb4_general_ci`` would also fold accents (``àlîcé`` = ``alice``),
    so there the column is ``utf8mb4_bin``. PostgreSQL and SQLite compare
    bytes already."""
    return sa.String(length).with_variant(
        sa.dialects.mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb"
    )

# User ids: keyturn's own (16 characters) or an app's subject, verbatim
# (``keyturn.core.claims``, migration 0007), compared byte for byte.
USER_ID_LENGTH = 255


def user_id_type() -> sa.types.TypeEngine[str]:
    return exact_name(USER_ID_LENGTH)


users = sa.Table(
    "kt_users",
    metadata,
    sa.Column("id", user_id_type(), primary_key=True),
    sa.Column("username", exact_name(255), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("claims", sa.Text),  # JSON object (migration 0007)
    sa.Column("scope", sa.String(1024)),
)

sessions = sa.Table(
    "kt_sessions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", user_id_type(), nullable=False),
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
    sa.Column("credential_version", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("client_id", sa.String(128)),  # NULL: the first-party client (migration 0007)
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
    sa.Column("user_id", user_id_type()),
    sa.Column("session_id", sa.String(32)),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(512)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_kt_events_user", "user_id", "at"),
)

# Each user's credential version (migration 0005), in the sessions'
# database so the rotate UPDATE reads it in the same statement. No row = 0.
credentials = sa.Table(
    "kt_credentials",
    metadata,
    sa.Column("user_id", user_id_type(), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("changed_at", sa.Double, nullable=False),
    # The user's claims and scope (``Grants.encode``; migration 0007), here
    # so the rotate statement returns them: a refresh stays one statement.
    sa.Column("grants", sa.Text),
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

# One row (id 1) that every revocation insert updates first, in its own
# transaction (migration 0008_feed_order): inserts take ids one transaction
# at a time, so ids become visible in the order they were taken.
feed_lock = sa.Table(
    "kt_feed_lock",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("n", sa.BigInteger, nullable=False),
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
    sa.Column("name", exact_name(255), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("scope", sa.String(255)),  # e.g. ``sessions:issue`` (migration 0007); NULL: none
)


# The one session row mapper, for every SQL statement that reads sessions:
# columns in table order (``sessions.select()``, ``sessions_with_credentials()``).
SESSION_COLUMNS: tuple[str, ...] = tuple(c.name for c in sessions.columns)


def session_from_row(row: Sequence[object]) -> Session:
    """A ``Session`` from a row whose columns are ``SESSION_COLUMNS``, in order."""
    fields = dict(zip(SESSION_COLUMNS, row, strict=True))
    salt = fields["salt"]
    fields["salt"] = bytes(salt) if isinstance(salt, (bytes, bytearray, memoryview)) else salt
    return Session(**fields)  # type: ignore[arg-type]


# The user's current credential version and when it changed, read beside a
# session in the same statement (no row = version 0): a session born under
# an older version is reported revoked (``credentials_changed``). The one
# definition both the hot path's statements (compiled per dialect) and the
# cold path's queries are built from.
CREDENTIAL_COLUMNS = (credentials.c.version, credentials.c.changed_at, credentials.c.grants)


def owners_grants() -> sa.ScalarSelect[Any]:
    """The session's user's claims and scope (``Grants.encode``), correlated."""
    return _owners(credentials.c.grants)


def _owners(column: sa.Column[Any]) -> sa.ScalarSelect[Any]:
    """``column`` of the session's user's credentials row, correlated."""
    return sa.select(column).where(credentials.c.user_id == sessions.c.user_id).scalar_subquery()


def sessions_with_credentials() -> sa.Select[Any]:
    """``SESSION_COLUMNS`` then ``CREDENTIAL_COLUMNS``: the rows
    ``judged_session_from_row`` reads."""
    return sa.select(*sessions.columns, *(_owners(c).label(f"cv_{c.name}") for c in CREDENTIAL_COLUMNS))


def under_current_credentials() -> sa.ColumnElement[bool]:
    """Born under the user's current credential version (no row = 0)."""
    return sessions.c.credential_version == sa.func.coalesce(_owners(credentials.c.version), sa.literal_column("0"))


def judged_session_from_row(row: Sequence[Any]) -> Session:
    """A session from a ``sessions_with_credentials()`` row, judged against
    its user's credential version."""
    n = len(SESSION_COLUMNS)
    session = replace(session_from_row(tuple(row[:n])), grants=row[n + 2])
    return under_credentials(session, int(row[n] or 0), row[n + 1])
