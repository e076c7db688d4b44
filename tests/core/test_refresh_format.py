"""Refresh-token format and MAC (core/refresh.py)."""

from __future__ import annotations

import pytest

from keyturn.core import refresh as rt

KEY = b"k" * 32
SALT = b"s" * 32


@pytest.fixture
def mac() -> rt.RefreshMac:
    return rt.RefreshMac(KEY)


def test_token_shape_and_round_trip(mac: rt.RefreshMac) -> None:
    sid = rt.new_session_id()
    token = mac.mint(sid, 7, SALT)
    assert token.startswith(f"krt_{sid}_")
    assert len(token) == rt.TOKEN_LENGTH
    parsed = rt.parse(token)
    assert parsed is not None
    assert (parsed.session_id, parsed.generation) == (sid, 7)
    assert len(parsed.mac) * 8 >= 256
    assert mac.is_genuine(parsed, SALT)


def test_successor_is_recomputable(mac: rt.RefreshMac) -> None:
    sid = rt.new_session_id()
    assert mac.mint(sid, 3, SALT) == mac.mint(sid, 3, SALT)
    assert mac.mint(sid, 3, SALT) != mac.mint(sid, 4, SALT)


@pytest.mark.parametrize("position", [-1, -10, -30, -44])
def test_flipped_character_is_not_genuine(mac: rt.RefreshMac, position: int) -> None:
    sid = rt.new_session_id()
    token = mac.mint(sid, 1, SALT)
    ch = token[position]
    flipped = token[:position] + ("A" if ch != "A" else "B") + (token[position + 1 :] if position != -1 else "")
    parsed = rt.parse(flipped)
    assert parsed is None or not mac.is_genuine(parsed, SALT)


def test_other_salt_or_key_is_not_genuine(mac: rt.RefreshMac) -> None:
    sid = rt.new_session_id()
    parsed = rt.parse(mac.mint(sid, 1, SALT))
    assert parsed is not None
    assert not mac.is_genuine(parsed, b"t" * 32)
    assert not rt.RefreshMac(b"x" * 32).is_genuine(parsed, SALT)


@pytest.mark.parametrize(
    "garbage",
    ["", "krt_", "krt_abc_def", "x" * 75, "krt_" + "A" * 71, "krt_" + "A" * 22 + "-" + "A" * 48,
     "krt_" + "A" * 22 + "_" + "A" * 47 + "=", "krt_" + "A" * 22 + "_" + "A" * 47 + "\x00", "krt_" + "é" * 71,
     "krt_" + "A" * 10_000],
)
def test_garbage_does_not_parse(garbage: str) -> None:
    assert rt.parse(garbage) is None


def test_non_canonical_session_id_is_rejected(mac: rt.RefreshMac) -> None:
    # 16 bytes → 22 chars with 4 spare bits; a last char that sets them is
    # another spelling of the same bytes and must not be accepted.
    sid = "A" * 21 + "B"
    token = "krt_" + sid + mac.mint("A" * 22, 1, SALT)[len("krt_") + 22 :]
    assert rt.parse(token) is None


def test_short_key_refused() -> None:
    with pytest.raises(ValueError):
        rt.RefreshMac(b"short")


def test_generation_range(mac: rt.RefreshMac) -> None:
    with pytest.raises(ValueError):
        mac.mint(rt.new_session_id(), -1, SALT)
    with pytest.raises(ValueError):
        mac.mint(rt.new_session_id(), rt.MAX_GENERATION + 1, SALT)


def test_session_ids_are_random_and_128_bit() -> None:
    ids = {rt.new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(rt.b64decode(i)) == 16 for i in ids)
