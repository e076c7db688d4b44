"""Alembic migrations, run programmatically (on start and by
``keyturn db upgrade``) on a connection we already hold.

Rolling upgrades run release N beside N-1 on one database, so a build may
meet a schema newer than it knows. Each migration declares ``expand_only =
True`` when every build that ran on the schema before it still runs after it
(new tables, nullable columns, indexes); anything else (a drop, a rename, a
new constraint) is a contract step. Two records:

* ``kt_schema_version``: Alembic's own bookkeeping, the revision the schema
  is at;
* ``kt_alembic_version``: the compatibility floor, the newest contract
  revision applied, which every build must know to run here. Releases up to
  0.1 kept their revision in this table and read only it: they find a
  revision they know, and run, for as long as every later revision is
  expand-only.

A build that finds a revision it does not know runs without migrating when
it knows the floor (only expand-only revisions are newer than it) and
otherwise refuses to start, in one line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from keyturn.errors import ConfigError

HERE = Path(__file__).parent
VERSION_TABLE = "kt_schema_version"
FLOOR_TABLE = "kt_alembic_version"

log = logging.getLogger("keyturn.stores")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def recorded(connection: sa.Connection, table: str) -> str | None:
    """The revision ``table`` holds (``None``: no table, or empty)."""
    return MigrationContext.configure(connection, opts={"version_table": table}).get_current_revision()


def knows(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False


def floor_of(script: ScriptDirectory, revision: str | None) -> str | None:
    """The newest revision at or before ``revision`` that is not expand-only."""
    for rev in script.iterate_revisions(revision or "heads", "base"):
        if not getattr(rev.module, "expand_only", False):
            return rev.revision
    return None


def newer_schema(script: ScriptDirectory, current: str, floor: str | None) -> str:
    """Why this build meets ``current``: raises ``ConfigError`` when it may
    not run on it, else returns the warning to log."""
    head = script.get_current_head()
    if floor is None or not knows(script, floor):
        raise ConfigError(
            f"the database schema is at revision {current}, newer than this build knows ({head}): "
            f"a newer release changed it past what this build can run on (a build must know revision "
            f"{floor or '(none recorded)'}): run that release (docs/operations.md, Rolling upgrades)"
        )
    return (f"the database schema is at revision {current}, newer than this build knows ({head}); "
            f"every revision after {floor} is expand-only, so this build runs on it unchanged")


def write_floor(connection: sa.Connection, floor: str | None) -> None:
    table = sa.Table(FLOOR_TABLE, sa.MetaData(), sa.Column("version_num", sa.String(32), primary_key=True))
    table.create(connection, checkfirst=True)
    connection.execute(table.delete())
    if floor is not None:
        connection.execute(table.insert().values(version_num=floor))


def run_upgrade(connection: sa.Connection) -> None:
    """Migrate to this build's head, or run on a newer schema it may run on."""
    script = scripts()
    current = recorded(connection, VERSION_TABLE)
    if current is None:
        # First start of this release on a database of a release up to 0.1
        # (its revision is in the floor table), or an empty database.
        current = recorded(connection, FLOOR_TABLE)
        if current is not None and knows(script, current):
            command.stamp(alembic_config(connection), current)
    if current is not None and not knows(script, current):
        log.warning(newer_schema(script, current, recorded(connection, FLOOR_TABLE)))
        return
    command.upgrade(alembic_config(connection), "head")
    write_floor(connection, floor_of(script, script.get_current_head()))
