"""Store failures explained in one line: which store, the setting, where,
and the driver's reason, with passwords masked."""

from __future__ import annotations

import pytest

from keyturn.errors import StoreUnavailable
from keyturn.stores.explain import explain, mask_url, outage_line, reason, where


def _wrapped(cause: BaseException) -> StoreUnavailable:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise StoreUnavailable() from exc
    except StoreUnavailable as outer:
        return outer


class FakeRedisError(Exception):
    __module__ = "redis.exceptions"


@pytest.mark.parametrize(("cause", "expected"), [
    (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"), "connection refused"),
    (TimeoutError(), "no answer in time"),
    (Exception(1045, "Access denied for user 'root'@'127.0.0.1' (using password: YES)"),
     "Access denied for user 'root'@'127.0.0.1' (using password: YES)"),
    (Exception('role "x" does not exist'), 'role "x" does not exist'),
])
def test_the_drivers_reason_is_kept(cause: BaseException, expected: str) -> None:
    assert reason(_wrapped(cause)) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://kt:pw@db:5433/kt", "db:5433"),
    ("mysql://root@127.0.0.1/test", "127.0.0.1"),
    ("redis+cluster://:pw@a:7000,b:7001/0", "a:7000,b:7001"),
    ("sqlite:////var/lib/keyturn.db", "/var/lib/keyturn.db"),
])
def test_where(url: str, expected: str) -> None:
    assert where(url) == expected


def test_explain_masks_and_names_the_setting() -> None:
    line = explain("session store", "redis://:hunter2@cache:6380/0", _wrapped(ConnectionRefusedError(111, "x")))
    assert line == "session store (KEYTURN_SESSION_STORE_URL=redis://:********@cache:6380/0) at cache:6380: " \
                   "connection refused"
    assert mask_url("postgresql://a:b@c/d") == "postgresql://a:********@c/d"


def test_an_outage_names_the_store_by_the_driver_that_failed() -> None:
    sql, redis = "postgresql://kt:pw@db/kt", "redis://cache:6379/0"
    assert outage_line(_wrapped(FakeRedisError("Error 111 connecting")), sql, redis).startswith(
        "session store unavailable (redis://cache:6379/0)")
    assert outage_line(_wrapped(TimeoutError()), sql, redis) == \
        "database unavailable (postgresql://kt:********@db/kt): no answer in time"
