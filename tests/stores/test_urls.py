"""Plain URLs choose the async driver for the user."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from keyturn.config import Settings
from keyturn.errors import ConfigError
from keyturn.service.wiring import build_runtime
from keyturn.stores.sql.engine import async_url


@pytest.mark.parametrize(
    ("plain", "full"),
    [
        ("sqlite:///./keyturn.db", "sqlite+aiosqlite:///./keyturn.db"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("mysql://root@h:3306/db", "mysql+asyncmy://root@h:3306/db?charset=utf8mb4"),
        ("mariadb://root@h/db?x=1", "mysql+asyncmy://root@h/db?x=1&charset=utf8mb4"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_async_url(plain: str, full: str) -> None:
    assert async_url(plain) == full


@pytest.mark.parametrize("bad", ["nonsense", "oracle://x/y"])
def test_bad_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        async_url(bad)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"database_url": "sqlite:///:memory:"}, "KEYTURN_DATABASE_URL"),
        ({"database_url": "postgresql+psycopg://u@127.0.0.1/db"}, "KEYTURN_DATABASE_URL"),
        ({"database_url": "mysql+aiomysql://root@127.0.0.1/db"}, "KEYTURN_DATABASE_URL"),
        ({"database_url": "redis://127.0.0.1:6379/0"}, "KEYTURN_DATABASE_URL"),
        ({"database_url": "memory:", "session_store_url": "sqlite:///:memory:"}, "KEYTURN_SESSION_STORE_URL"),
    ],
)
def test_urls_the_hot_path_cannot_serve_are_refused_at_start(
    settings: dict[str, str], named: str, make_settings: Callable[..., Settings]
) -> None:
    """One implementation per operation: no URL falls back to another one."""
    with pytest.raises(ConfigError) as refused:
        build_runtime(make_settings(**settings))
    assert str(refused.value.description).startswith(named + ":")
    assert "\n" not in refused.value.description


def test_the_scheme_table_is_what_settings_accept(make_settings: Callable[..., Settings]) -> None:
    """Settings, the engine openers and the SQL engine read one table."""
    from keyturn.store_urls import SCHEMES

    for scheme, row in SCHEMES.items():
        url = "memory:" if scheme == "memory" else f"{scheme}://127.0.0.1/x"
        make_settings(database_url="memory:", session_store_url=url)
        if row.is_sql:
            assert async_url(url).startswith(row.driver or "")
    with pytest.raises(ValueError, match="unsupported URL scheme"):
        make_settings(database_url="oracle://127.0.0.1/x")


@pytest.mark.parametrize(("setting", "url"), [
    ("session_store_url", "redis:/oops"),
    ("session_store_url", "redis:oops"),
    ("session_store_url", "redis:///0"),
    ("session_store_url", "redis+cluster://"),
    ("database_url", "postgresql:/db"),
])
def test_a_url_without_its_slashes_or_host_is_refused_not_defaulted(setting: str, url: str) -> None:
    """``redis:/oops`` used to open localhost:6379 db 0 in silence."""
    from keyturn.config import load_settings

    with pytest.raises(ConfigError, match=f"KEYTURN_{setting.upper()}: .*{re.escape(url)}"):
        load_settings(**{setting: url})


@pytest.mark.parametrize(
    ("url", "cluster", "tls"),
    [
        ("redis://127.0.0.1:6379/0", False, False),
        ("rediss://127.0.0.1:6380/0", False, True),
        ("redis+cluster://127.0.0.1:7000,127.0.0.1:7001", True, False),
        ("REDISS+CLUSTER://127.0.0.1:7000", True, True),
    ],
)
def test_the_redis_client_reads_cluster_and_tls_from_the_table(url: str, cluster: bool, tls: bool) -> None:
    from redis.asyncio.cluster import RedisCluster

    from keyturn.store_urls import scheme_of
    from keyturn.stores.redis.sessions import open_client

    row = scheme_of(url)
    assert row is not None and row.family == "redis"
    assert (row.cluster, row.tls) == (cluster, tls)
    client = open_client(url, timeout=1.0).client  # nothing connects until the first command
    assert isinstance(client, RedisCluster) == cluster
    if isinstance(client, RedisCluster):
        connection_class = client.connection_kwargs["connection_class"]
    else:
        connection_class = client.connection_pool.connection_class
    assert ("SSL" in connection_class.__name__) == tls


def test_the_redis_client_refuses_another_engine_in_one_line() -> None:
    from keyturn.stores.redis.sessions import open_client

    with pytest.raises(ConfigError, match="^KEYTURN_SESSION_STORE_URL: not a Redis URL: 'mysql'$"):
        open_client("mysql://root@127.0.0.1/x", timeout=1.0)


@pytest.mark.parametrize(
    ("database_url", "family", "file"),
    [
        ("sqlite:///./data/kt.db?mode=rwc", "sqlite", "data/kt.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite", None),
        ("memory:", "memory", None),
        ("postgresql://u@127.0.0.1/db", "postgresql", None),
        ("mariadb://root@127.0.0.1/db", "mysql", None),
    ],
)
def test_settings_read_the_database_through_the_table(
    database_url: str, family: str, file: str | None, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(database_url=database_url)
    assert settings.database_family == family
    assert settings.sqlite_path() == (None if file is None else Path(file))


def test_sessions_live_on_the_database_unless_a_session_store_is_set(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(database_url="memory:").sessions_url == "memory:"
    assert make_settings(database_url="memory:", session_store_url="redis://127.0.0.1/0").sessions_url \
        == "redis://127.0.0.1/0"
