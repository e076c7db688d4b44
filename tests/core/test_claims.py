"""The pure rules of claims, scope and subjects (``keyturn.core.claims``)."""

from __future__ import annotations

from typing import Any

import pytest

from keyturn.core.claims import (
    RESERVED,
    Grants,
    check_claims,
    check_scope,
    check_subject,
    decode_grants,
    external_username,
)
from keyturn.core.users import normalize_username
from keyturn.errors import BadRequest


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_every_reserved_name_is_refused_by_name(name: str) -> None:
    with pytest.raises(BadRequest, match=repr(name)):
        check_claims({"ok": 1, name: "x"})


@pytest.mark.parametrize("claims", [[], "x", None, 3, {"": 1}, {"a": float("nan")}, {"a": {1, 2}}])
def test_not_a_json_object_is_refused(claims: Any) -> None:
    with pytest.raises(BadRequest, match="claims"):
        check_claims(claims)


def test_size_limit_is_2_kib_serialised() -> None:
    check_claims({"a": "x" * 2000})
    with pytest.raises(BadRequest, match="2048 bytes"):
        check_claims({"a": "x" * 2048})
    deep: dict[str, Any] = {}
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(BadRequest, match="claims"):
        check_claims(deep)


@pytest.mark.parametrize(("raw", "expected"), [
    ("read write", "read write"), ("  read  read write ", "read write"), ("", None), (None, None),
    ("sessions:issue", "sessions:issue"),
])
def test_scope_is_normalised(raw: Any, expected: str | None) -> None:
    assert check_scope(raw) == expected


@pytest.mark.parametrize("raw", ["a\"b", "a\\b", "tab\tx", "é", ["read"], "x" * 1025])
def test_bad_scope_is_refused(raw: Any) -> None:
    with pytest.raises(BadRequest, match="scope"):
        check_scope(raw)


@pytest.mark.parametrize("raw", ["", " ", "a b", "a{b", "a}b", "é", "x" * 201, None, 7, "a\x00"])
def test_bad_subjects_are_refused(raw: Any) -> None:
    with pytest.raises(BadRequest, match="subject"):
        check_subject(raw)


@pytest.mark.parametrize("raw", ["42", "auth0|5f7c8e", "google-oauth2|1234", "ada@example.com", "u_1.x~y"])
def test_app_ids_are_kept_verbatim(raw: str) -> None:
    assert check_subject(raw) == raw


@pytest.mark.parametrize("typed", ["EXTERNAL:bob", "external:bob", "ＥＸＴＥＲＮＡＬ:bob", "External:Bob"])
def test_no_typed_username_reaches_an_external_subject(typed: str) -> None:
    assert normalize_username(typed) != external_username("bob")


def test_grants_round_trip_and_unreadable_values_carry_nothing() -> None:
    g = Grants({"roles": ["a"]}, "read")
    assert decode_grants(g.encode()) == g
    for raw in (None, "", "not json", "[1]", '{"c": {"sub": "evil", "x": 1}, "s": 5}'):
        assert decode_grants(raw).scope is None and "sub" not in decode_grants(raw).claims
