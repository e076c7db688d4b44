"""Usernames and client names compared byte for byte on MySQL/MariaDB
(``utf8mb4_bin``): the default collation folded accents, so ``àlîcé``
logged in as ``alice``. PostgreSQL and SQLite already compare bytes.

Revision ID: 0004_exact_names
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004_exact_names"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = (("kt_users", "username"), ("kt_resource_clients", "name"))


def upgrade() -> None:
    if op.get_bind().dialect.name != "mysql":
        return
    for table, column in _COLUMNS:
        op.execute(
            f"ALTER TABLE {table} MODIFY {column} VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "mysql":
        return
    for table, column in _COLUMNS:
        op.execute(
            f"ALTER TABLE {table} MODIFY {column} VARCHAR(255) CHARACTER SET utf8mb4 "
            "COLLATE utf8mb4_general_ci NOT NULL"
        )
