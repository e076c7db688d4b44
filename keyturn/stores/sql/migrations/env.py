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
with context.begin_transaction():
    context.run_migrations()
