"""Alembic environment: always handed a live connection by keyturn."""

from __future__ import annotations

from alembic import context

from keyturn.stores.sql.migrations import VERSION_TABLE
from keyturn.stores.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - keyturn always passes one
    raise RuntimeError("run migrations with `keyturn db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
if connection.dialect.name == "mysql" and context.get_context().get_current_revision() is None:
    # Tables take the database's default character set, and older MySQL and
    # MariaDB servers default to latin1, where a user agent such as
    # "Édge ✓" cannot be stored (the login would fail). Before the first
    # table: make this database's default utf8mb4.
    connection.exec_driver_sql("ALTER DATABASE CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
with context.begin_transaction():
    context.run_migrations()
