"""Store URLs by scheme: the one table that says which engine a URL opens,
which async driver SQLAlchemy is given for it, and whether the SQL hot path
(``keyturn.stores.sql.hot``) serves it.

Settings validation, the engine openers, the SQL engine and the start-up
explanations all read this table. It imports no driver: the settings and the
light client install load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["memory", "sqlite", "postgresql", "mysql", "redis"]
SQL_FAMILIES: tuple[Family, ...] = ("sqlite", "postgresql", "mysql")


@dataclass(frozen=True, slots=True)
class Scheme:
    family: Family
    driver: str | None = None  # the async driver SQLAlchemy is given: "postgresql+asyncpg"
    hot_path: bool = False  # the SQL hot path speaks this driver
    cluster: bool = False  # a Redis Cluster seed list: ``redis+cluster://h1:p1,h2:p2``
    tls: bool = False  # ``rediss``: TLS to Redis

    @property
    def is_sql(self) -> bool:
        return self.family in SQL_FAMILIES


_SQLITE = Scheme("sqlite", "sqlite+aiosqlite", hot_path=True)
_POSTGRESQL = Scheme("postgresql", "postgresql+asyncpg", hot_path=True)
_MYSQL = Scheme("mysql", "mysql+asyncmy", hot_path=True)
_REDIS = Scheme("redis")
_REDIS_TLS = Scheme("redis", tls=True)

SCHEMES: dict[str, Scheme] = {
    "memory": Scheme("memory"),
    "sqlite": _SQLITE,
    "sqlite+aiosqlite": _SQLITE,
    "postgresql": _POSTGRESQL,
    "postgres": _POSTGRESQL,
    "postgresql+asyncpg": _POSTGRESQL,
    "mysql": _MYSQL,
    "mariadb": _MYSQL,
    "mysql+asyncmy": _MYSQL,
    "redis": _REDIS,
    "rediss": _REDIS_TLS,
    "redis+cluster": Scheme("redis", cluster=True),
    "rediss+cluster": Scheme("redis", cluster=True, tls=True),
}

SQL_URLS = "sqlite:///PATH, postgresql://, mysql://, mariadb://"
SQL_HINT = f"use {SQL_URLS.replace(', mariadb', ' or mariadb')}"


def scheme_name(url: str) -> str:
    return url.partition(":")[0].lower()


def scheme_of(url: str) -> Scheme | None:
    """The row for ``url``'s scheme. Another driver for a known database
    (``postgresql+psycopg``) is that database's family, and the URL is kept
    as written, but the hot path does not speak it."""
    if ":" not in url:
        return None
    name = scheme_name(url)
    found = SCHEMES.get(name)
    if found is not None:
        return found
    base = SCHEMES.get(name.split("+", 1)[0])
    if base is None:
        return None
    return Scheme(base.family) if base.is_sql else base


def sqlite_path(url: str) -> str:
    """The file of an SQLite URL; ``""`` or ``":memory:"`` for none."""
    return url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else ""


def async_url(url: str) -> str:
    """The URL with its async driver; explicit drivers are kept."""
    scheme, sep, rest = url.partition("://")
    found = scheme_of(url) if sep else None
    if found is None or not found.is_sql:
        raise ValueError(f"unsupported database URL scheme {scheme!r}" if sep else f"not a database URL: {url!r}")
    if "+" in scheme:
        return url
    assert found.driver is not None
    if found.family == "mysql" and "charset=" not in rest:
        rest += ("&" if "?" in rest else "?") + "charset=utf8mb4"
    return f"{found.driver}://{rest}"


def sql_refusal(url: str, setting: str) -> str | None:
    """Why ``url`` cannot hold SQL stores, in one line naming ``setting``;
    ``None`` when it can."""
    found = scheme_of(url)
    if found is None or not found.is_sql:
        return f"{setting}: unsupported database URL scheme {scheme_name(url)!r} ({SQL_HINT})"
    if not found.hot_path:
        return f"{setting}: the database driver in {scheme_name(url)!r} is not supported ({SQL_HINT})"
    if found.family == "sqlite" and sqlite_path(url) in ("", ":memory:"):
        return f"{setting}: an in-memory SQLite database cannot be shared; give a file path"
    return None
