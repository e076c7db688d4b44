"""Migrations form one line: branches merged side by side must be chained,
or Alembic refuses to upgrade a database (two heads)."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from keyturn.stores.sql.migrations import alembic_config


def test_migrations_have_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several heads {heads}: chain the newest migrations one after another"
