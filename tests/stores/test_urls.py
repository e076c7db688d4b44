"""Plain URLs choose the async driver for the user."""

from __future__ import annotations

import pytest

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
