"""Hashes made by other systems, each made here by the real library that
makes it (bcrypt, Werkzeug, Django, argon2-cffi): checked, refused when
they would cost too much to check, and replaced by today's argon2 at the
first login."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import argon2
import bcrypt
import pytest
from werkzeug.security import generate_password_hash

from keyturn.errors import BadRequest, InvalidCredentials
from keyturn.service import foreign_hashes
from keyturn.service.wiring import Runtime
from tests.conftest import PASSWORD
from tests.service.conftest import new_user


def django_hash(hasher: str) -> Callable[[str], str]:
    def make(password: str) -> str:
        from django.contrib.auth import hashers

        # The real Django hasher class, with light parameters, handed to
        # make_password as an instance: that needs no Django settings (and
        # configuring them here would change the Django another test runs).
        light = type("Light", (DJANGO_HASHERS[hasher],), {
            "iterations": 1000, "rounds": 4, "memory_cost": 1024, "time_cost": 1, "parallelism": 1,
            "work_factor": 2**10,
        })
        return str(hashers.make_password(password, hasher=light()))

    return make


def _django_hashers() -> dict[str, type]:
    from django.contrib.auth import hashers

    return {
        "pbkdf2_sha256": hashers.PBKDF2PasswordHasher,
        "pbkdf2_sha1": hashers.PBKDF2SHA1PasswordHasher,
        "argon2": hashers.Argon2PasswordHasher,
        "bcrypt_sha256": hashers.BCryptSHA256PasswordHasher,
        "bcrypt": hashers.BCryptPasswordHasher,
        "scrypt": hashers.ScryptPasswordHasher,
    }


DJANGO_HASHERS = _django_hashers()


def bcrypt_hash(prefix: str) -> Callable[[str], str]:
    def make(password: str) -> str:
        made = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        return made.replace("$2b$", prefix, 1)

    return make


def argon2_hash(kind: argon2.Type, prefix: str = "") -> Callable[[str], str]:
    def make(password: str) -> str:
        return prefix + argon2.PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2, type=kind).hash(password)

    return make


# scheme -> maker (the real library)
MAKERS: dict[str, Callable[[str], str]] = {
    "bcrypt-2a": bcrypt_hash("$2a$"),
    "bcrypt-2b": bcrypt_hash("$2b$"),
    "bcrypt-2y": bcrypt_hash("$2y$"),
    "spring-bcrypt": lambda pw: "{bcrypt}" + bcrypt_hash("$2a$")(pw),
    "spring-argon2": argon2_hash(argon2.Type.ID, "{argon2}"),
    "argon2id-other-parameters": argon2_hash(argon2.Type.ID),
    "argon2i": argon2_hash(argon2.Type.I),
    "werkzeug-pbkdf2-sha256": lambda pw: generate_password_hash(pw, "pbkdf2:sha256:1000"),
    "werkzeug-pbkdf2-sha512": lambda pw: generate_password_hash(pw, "pbkdf2:sha512:1000"),
    "werkzeug-pbkdf2-default": lambda pw: generate_password_hash(pw, "pbkdf2"),
    "werkzeug-scrypt": lambda pw: generate_password_hash(pw, "scrypt:1024:8:1"),
    "werkzeug-scrypt-default": lambda pw: generate_password_hash(pw),
    "django-pbkdf2-sha256": django_hash("pbkdf2_sha256"),
    "django-pbkdf2-sha1": django_hash("pbkdf2_sha1"),
    "django-argon2": django_hash("argon2"),
    "django-bcrypt-sha256": django_hash("bcrypt_sha256"),
    "django-bcrypt": django_hash("bcrypt"),
    "django-scrypt": django_hash("scrypt"),
}


@pytest.mark.parametrize("scheme", sorted(MAKERS))
def test_each_format_takes_its_password_and_no_other(scheme: str) -> None:
    stored = MAKERS[scheme](PASSWORD)
    foreign_hashes.describe(stored)  # accepted for import
    assert foreign_hashes.verify(stored, PASSWORD)
    assert not foreign_hashes.verify(stored, PASSWORD + "x")
    assert not foreign_hashes.verify(stored, "")


@pytest.mark.parametrize("scheme", sorted(MAKERS))
async def test_an_imported_user_logs_in_and_is_upgraded_to_todays_argon2(rt: Runtime, scheme: str) -> None:
    user_id = await new_user(rt)
    imported = MAKERS[scheme](PASSWORD)
    await rt.stores.users.set_password_hash(user_id, imported)
    with pytest.raises(InvalidCredentials):  # a wrong password neither logs in nor upgrades
        await rt.service.login("alice", PASSWORD + "x", ip=None, user_agent=None)
    found = await rt.stores.users.user_by_id(user_id)
    assert found is not None and found.password_hash == imported
    await rt.service.login("alice", PASSWORD, ip=None, user_agent=None)
    found = await rt.stores.users.user_by_id(user_id)
    assert found is not None and found.password_hash.startswith("$argon2id$")
    assert not rt.service.passwords.needs_rehash(found.password_hash)
    upgraded = found.password_hash
    await rt.service.login("alice", PASSWORD, ip=None, user_agent=None)  # on the new hash
    found = await rt.stores.users.user_by_id(user_id)
    assert found is not None and found.password_hash == upgraded


LONG = "é" * 40  # 80 UTF-8 bytes: more than bcrypt reads


def test_a_password_longer_than_bcrypt_reads_is_a_wrong_password_not_an_error() -> None:
    # The old system may have truncated it to 72 bytes; matching on the
    # first 72 would let every password sharing them in.
    stored = bcrypt.hashpw(LONG.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    assert foreign_hashes.verify(stored, LONG.encode()[:72].decode()) is True
    assert foreign_hashes.verify(stored, LONG) is False
    assert foreign_hashes.verify("{bcrypt}" + stored, LONG) is False


def test_django_bcrypt_sha256_has_no_72_byte_limit() -> None:
    stored = django_hash("bcrypt_sha256")(LONG)
    assert foreign_hashes.verify(stored, LONG)
    assert not foreign_hashes.verify(stored, LONG[:36])


async def test_a_long_password_against_bcrypt_at_login_is_invalid_credentials(rt: Runtime) -> None:
    user_id = await new_user(rt)
    await rt.stores.users.set_password_hash(user_id, MAKERS["bcrypt-2b"](PASSWORD))
    with pytest.raises(InvalidCredentials):
        await rt.service.login("alice", "x" * 500, ip=None, user_agent=None)


def _bcrypt_cost(cost: int) -> str:
    return MAKERS["bcrypt-2b"](PASSWORD).replace("$05$", f"${cost:02d}$", 1)


def _argon2(**params: int) -> str:
    return argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD).replace(
        "m=1024,t=1,p=1", f"m={params.get('m', 1024)},t={params.get('t', 1)},p={params.get('p', 1)}"
    )


# what is refused at import, and the words that say why
REFUSED = {
    "unknown format": ("md5$salt$0123abcd", "unknown password_hash format"),
    "plain text": ("hunter2", "unknown password_hash format"),
    "empty": ("", "unknown password_hash format"),
    "spring pbkdf2": ("{pbkdf2}5d923b44a6d129f3ddf3e3c8d29412723dcbde72445e8ef6bf3b508fbf17fa4ed4d6b99ca763d8dc", "secret and iterations"),
    "spring noop": ("{noop}password", "unsupported Spring password encoder {noop}"),
    "bcrypt 2x": (MAKERS["bcrypt-2b"](PASSWORD).replace("$2b$", "$2x$"), "malformed bcrypt"),
    "bcrypt truncated": (MAKERS["bcrypt-2b"](PASSWORD)[:-5], "malformed bcrypt"),
    "bcrypt cost 31": (_bcrypt_cost(31), "bcrypt cost 31"),
    "bcrypt cost 16": (_bcrypt_cost(16), "bcrypt cost 16"),
    "werkzeug pbkdf2 50M": ("pbkdf2:sha256:50000000$salt$" + "ab" * 32, "iterations 50000000"),
    "werkzeug pbkdf2 md5": ("pbkdf2:md5:1000$salt$" + "ab" * 16, "unsupported pbkdf2 digest 'md5'"),
    "werkzeug pbkdf2 no iterations": ("pbkdf2:sha256$salt$" + "ab" * 32, "without its iterations"),
    "werkzeug scrypt 2^24": ("scrypt:16777216:8:1$salt$" + "ab" * 64, "cost too much"),
    "werkzeug scrypt p=1000": ("scrypt:32768:8:1000$salt$" + "ab" * 64, "cost too much"),
    "werkzeug scrypt n=1000": ("scrypt:1000:8:1$salt$" + "ab" * 64, "power of two"),
    "werkzeug old sha256": ("sha256$salt$" + "ab" * 32, "unknown password_hash format"),
    "werkzeug bad hex": ("pbkdf2:sha256:1000$salt$xyz", "malformed Werkzeug"),
    "django pbkdf2 huge": ("pbkdf2_sha256$99999999999$salt$" + "A" * 44, "iterations 99999999999"),
    "django pbkdf2 bad base64": ("pbkdf2_sha256$1000$salt$!!!", "not base64"),
    "django pbkdf2 number": ("pbkdf2_sha256$1e9$salt$" + "A" * 44, "is not a number"),
    "argon2 8 GiB": (_argon2(m=8 * 1024 * 1024), "memory cost 8388608 KiB"),
    "argon2 t=1000": (_argon2(t=1000), "time cost 1000"),
    "argon2 p=255": (_argon2(p=255), "parallelism 255"),
    "argon2 garbage": ("$argon2id$garbage", "malformed argon2"),
    "too long": ("$2b$" + "x" * 300, "longer than 255"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_hash_that_cannot_or_should_not_be_checked_is_refused_with_the_reason(case: str) -> None:
    stored, reason = REFUSED[case]
    with pytest.raises(BadRequest) as refused:
        foreign_hashes.describe(stored)
    assert reason in refused.value.description
    assert not foreign_hashes.verify(stored, PASSWORD)  # and never checked at login


async def test_a_refused_hash_in_the_store_is_a_wrong_password_at_login(rt: Runtime) -> None:
    user_id = await new_user(rt)
    await rt.stores.users.set_password_hash(user_id, _bcrypt_cost(31))  # would take days
    with pytest.raises(InvalidCredentials):
        await rt.service.login("alice", PASSWORD, ip=None, user_agent=None)


@pytest.mark.parametrize(
    ("password", "status"),
    [(PASSWORD, 200), (PASSWORD + "x", 401), ("é" * 500, 401), ("x" * 73, 401)],
)
async def test_over_http_an_imported_bcrypt_user_gets_200_or_401_never_500(
    api: Any, password: str, status: int
) -> None:
    assert (await api.register()).status_code == 201
    user = await api.runtime.stores.users.user_by_name("alice")
    await api.runtime.stores.users.set_password_hash(user.id, MAKERS["spring-bcrypt"](PASSWORD))
    r = await api.login(password=password)
    assert r.status_code == status, r.text


@pytest.mark.parametrize("hasher", sorted(DJANGO_HASHERS))
def test_djangos_hashers_at_their_default_cost_are_accepted(hasher: str) -> None:
    """Each Django hasher at the parameters Django ships: the cost bounds
    leave room for them."""
    from django.contrib.auth import hashers

    stored = hashers.make_password(PASSWORD, hasher=DJANGO_HASHERS[hasher]())
    assert stored.startswith(hasher + "$")
    foreign_hashes.describe(stored)
    assert foreign_hashes.verify(stored, PASSWORD)
    assert not foreign_hashes.verify(stored, PASSWORD + "x")
