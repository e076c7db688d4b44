"""A build beside a newer one on the same database (rolling upgrades, see
docs/operations.md#rolling-upgrades), on SQLite, PostgreSQL and MariaDB.

* the schema's revision is in ``kt_schema_version``; ``kt_alembic_version``
  holds the compatibility floor, which releases up to 0.1 read as "their"
  revision: they run while only expand-only revisions are newer;
* a database of a release up to 0.1 is adopted and migrated;
* a newer schema whose new revisions are all expand-only runs this build
  unchanged (with a warning); a newer contract revision refuses to start in
  one line, naming both revisions (before: a traceback from Alembic).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from keyturn.errors import ConfigError
from keyturn.service.masterkey import new_master_key
from keyturn.stores.sql.migrations import (
    FLOOR_TABLE, VERSION_TABLE, alembic_config, floor_of, recorded, scripts, write_floor,
)
from keyturn.stores.sql.store import SqlStore
from tests.cli.test_startup_failures import assert_one_line, keyturn

SQL_ENGINES = ["sqlite", "postgresql", "mariadb"]
LAST_OF_0_1 = "0006_key_states"  # the head of release 0.1 (releases.txt)


@pytest.fixture(params=SQL_ENGINES)
async def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Callable[[], SqlStore]]:
    """Stores on one empty database."""
    from tests.stores import backends as b

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/schema.db"
    else:
        admin = b.POSTGRES_URL if request.param == "postgresql" else b.MYSQL_URL
        try:
            url = b.create_database(admin)
        except Exception as exc:  # any failure to reach or use the server
            from tests.conftest import backend_unavailable

            backend_unavailable(f"{request.param}: {type(exc).__name__}: {exc}")
            raise
        request.addfinalizer(lambda: b.drop_database(admin, url))
    opened: list[SqlStore] = []

    def open_one() -> SqlStore:
        opened.append(SqlStore.from_url(url))
        return opened[-1]

    try:
        yield open_one
    finally:
        for store in opened:
            await store.close()


async def records(store: SqlStore) -> tuple[str | None, str | None]:
    async with store.engine.connect() as conn:
        return await conn.run_sync(lambda c: (recorded(c, VERSION_TABLE), recorded(c, FLOOR_TABLE)))


async def set_records(store: SqlStore, version: str | None, floor: str | None) -> None:
    async with store.engine.begin() as conn:
        for table, value in ((VERSION_TABLE, version), (FLOOR_TABLE, floor)):
            if value is None:
                await conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
            else:
                await conn.execute(sa.text(f"UPDATE {table} SET version_num = :v"), {"v": value})


async def test_a_migrated_database_records_its_revision_and_the_floor(fresh: Callable[[], SqlStore]) -> None:
    store = fresh()
    await store.migrate()
    head = scripts().get_current_head()
    assert await records(store) == (head, floor_of(scripts(), head))
    assert floor_of(scripts(), head) == LAST_OF_0_1  # release 0.1 still runs on this schema


async def test_a_database_of_release_0_1_is_adopted_and_migrated(fresh: Callable[[], SqlStore]) -> None:
    store = fresh()

    def as_release_0_1_left_it(c: sa.Connection) -> None:
        existing = sa.MetaData()
        existing.reflect(c)
        existing.drop_all(c)  # a server database comes migrated: start from nothing
        command.upgrade(alembic_config(c), LAST_OF_0_1)
        c.execute(sa.text(f"DROP TABLE {VERSION_TABLE}"))
        write_floor(c, LAST_OF_0_1)  # 0.1 kept its revision in this table

    async with store.engine.begin() as conn:
        await conn.run_sync(as_release_0_1_left_it)
    assert await records(store) == (None, LAST_OF_0_1)
    await store.migrate()
    head = scripts().get_current_head()
    assert await records(store) == (head, LAST_OF_0_1)
    async with store.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT n FROM kt_feed_lock WHERE id = 1"))).scalar_one() == 0


async def test_a_newer_expand_only_schema_runs_this_build(
    fresh: Callable[[], SqlStore], caplog: pytest.LogCaptureFixture,
) -> None:
    store = fresh()
    await store.migrate()
    await set_records(store, "0099_from_the_future", LAST_OF_0_1)
    with caplog.at_level(logging.WARNING, logger="keyturn.stores"):
        await fresh().migrate()
    assert "0099_from_the_future, newer than this build knows" in caplog.text
    assert await records(store) == ("0099_from_the_future", LAST_OF_0_1)  # nothing rewritten


async def test_a_newer_contract_revision_refuses_to_start(fresh: Callable[[], SqlStore]) -> None:
    store = fresh()
    await store.migrate()
    await set_records(store, "0099_from_the_future", "0098_drops_a_column")
    with pytest.raises(ConfigError) as caught:
        await fresh().migrate()
    head = scripts().get_current_head()
    assert caught.value.description.startswith(
        f"the database schema is at revision 0099_from_the_future, newer than this build knows ({head}): ")
    assert "0098_drops_a_column" in caught.value.description


@pytest.mark.slow
def test_the_cli_says_so_in_one_line(tmp_path: Path) -> None:
    import asyncio

    url = f"sqlite:///{tmp_path}/newer.db"

    async def prepare() -> None:
        store = SqlStore.from_url(url)
        try:
            await store.migrate()
            await set_records(store, "0099_from_the_future", "0098_drops_a_column")
        finally:
            await store.close()

    asyncio.run(prepare())
    env = {"KEYTURN_DATABASE_URL": url, "KEYTURN_MASTER_KEY": new_master_key()}
    proc = keyturn(["users", "list"], env, tmp_path)
    assert_one_line(proc, 2, "keyturn: error: the database schema is at revision 0099_from_the_future, "
                             "newer than this build knows")


@pytest.mark.parametrize("floor, status", [(LAST_OF_0_1, "warn"), ("0098_drops_a_column", "fail")])
async def test_doctor_tells_a_newer_schema_apart(tmp_path: Path, floor: str, status: str) -> None:
    from keyturn.cli.doctor.stores import check_migrations

    store = SqlStore.from_url(f"sqlite:///{tmp_path}/doctor.db")
    try:
        await store.migrate()
        assert (await check_migrations(store)).status == "ok"
        await set_records(store, "0099_from_the_future", floor)
        check = await check_migrations(store)
        assert (check.status, check.detail.split(",")[0]) == (
            status, "the database schema is at revision 0099_from_the_future")
    finally:
        await store.close()
