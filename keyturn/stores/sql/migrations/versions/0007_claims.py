"""Claims and scope per user, the client each session was issued to, and
room for an app's own user ids (sessions a backend vouches for).

Expand only, so the previous release keeps working on the same database
while replicas are upgraded: every new column is nullable and the old code
never names it; user-id columns only grow (from 32 to 255 characters), and
on MySQL/MariaDB become ``utf8mb4_bin`` so ``Bob`` and ``bob`` stay two
subjects.

Revision ID: 0007_claims
Revises: 0006_key_states
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_claims"
down_revision = "0006_key_states"
branch_labels = None
depends_on = None
expand_only = True

_USER_IDS = (("kt_users", "id", False), ("kt_sessions", "user_id", False), ("kt_credentials", "user_id", False),
             ("kt_events", "user_id", True))


def upgrade() -> None:
    with op.batch_alter_table("kt_users") as batch:
        batch.add_column(sa.Column("claims", sa.Text))
        batch.add_column(sa.Column("scope", sa.String(1024)))
    with op.batch_alter_table("kt_sessions") as batch:
        batch.add_column(sa.Column("client_id", sa.String(128)))
    with op.batch_alter_table("kt_credentials") as batch:
        batch.add_column(sa.Column("grants", sa.Text))
    with op.batch_alter_table("kt_resource_clients") as batch:
        batch.add_column(sa.Column("scope", sa.String(255)))
    dialect = op.get_bind().dialect.name
    for table, column, nullable in _USER_IDS:
        if dialect == "mysql":
            op.execute(
                f"ALTER TABLE {table} MODIFY {column} VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                + ("" if nullable else " NOT NULL")
            )
        elif dialect == "postgresql":
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(255)")
        # SQLite does not enforce VARCHAR lengths.


def downgrade() -> None:
    for table, column in (("kt_resource_clients", "scope"), ("kt_credentials", "grants"),
                          ("kt_sessions", "client_id"), ("kt_users", "scope"), ("kt_users", "claims")):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
