"""The refresh decision as a pure function of (session, generation, now)."""

from __future__ import annotations

import dataclasses

import pytest

from keyturn.core.sessions import Outcome, Session, classify, lru_victims, slide_idle_expiry

T0 = 1_000_000.0


def make(**kw: object) -> Session:
    base = Session(
        id="s", user_id="u", salt=b"0" * 32, created_at=T0, absolute_expires_at=T0 + 1000,
        idle_expires_at=T0 + 100, generation=5, rotated_at=T0 + 10, last_used_at=T0 + 10,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def decide(s: Session, gen: int, now: float, *, same: bool = True, enforce: bool = False, window: float = 10) -> Outcome:
    return classify(s, gen, now, reuse_interval=window, same_binding=same, enforce_binding=enforce)


def test_current_token_rotates() -> None:
    assert decide(make(), 5, T0 + 20) is Outcome.ROTATE


def test_previous_token_inside_window_is_grace() -> None:
    assert decide(make(), 4, T0 + 20) is Outcome.GRACE


def test_previous_token_after_window_is_reuse() -> None:
    assert decide(make(), 4, T0 + 20.001) is Outcome.REUSED


def test_previous_token_from_elsewhere_is_reuse() -> None:
    assert decide(make(), 4, T0 + 11, same=False) is Outcome.REUSED


def late(s: Session, gen: int, now: float) -> Outcome:
    return classify(s, gen, now, reuse_interval=10, same_binding=True, enforce_binding=False, late_retrier=True)


def test_the_rotating_clients_late_retry_of_the_previous_token_is_grace() -> None:
    """A lost answer: the successor was never presented, at any time before expiry."""
    assert late(make(), 4, T0 + 99) is Outcome.GRACE
    assert late(make(), 4, T0 + 100) is Outcome.EXPIRED


def test_the_rotating_clients_late_retry_of_an_older_token_is_reuse() -> None:
    assert late(make(), 3, T0 + 11) is Outcome.REUSED


@pytest.mark.parametrize("gen", [0, 1, 3])
def test_older_token_is_reuse_even_inside_window(gen: int) -> None:
    assert decide(make(), gen, T0 + 11) is Outcome.REUSED


def test_one_generation_ahead_is_a_lost_rotation_rolled_forward() -> None:
    assert decide(make(), 6, T0 + 11) is Outcome.ROLL_FORWARD
    assert decide(make(), 6, T0 + 11, same=False, enforce=False) is Outcome.ROLL_FORWARD


def test_one_generation_ahead_still_obeys_binding_expiry_and_revocation() -> None:
    assert decide(make(), 6, T0 + 11, same=False, enforce=True) is Outcome.BINDING_MISMATCH
    assert decide(make(), 6, T0 + 100) is Outcome.EXPIRED
    assert decide(make(revoked_at=T0 + 15), 6, T0 + 16) is Outcome.REVOKED


@pytest.mark.parametrize("gen", [7, 8, 1000])
def test_two_or_more_generations_ahead_is_invalid(gen: int) -> None:
    assert decide(make(), gen, T0 + 11) is Outcome.INVALID


def test_zero_window_makes_any_retry_reuse() -> None:
    assert decide(make(), 4, T0 + 10, window=0) is Outcome.GRACE  # same instant
    assert decide(make(), 4, T0 + 10.01, window=0) is Outcome.REUSED


def test_idle_expiry() -> None:
    assert decide(make(), 5, T0 + 99.9) is Outcome.ROTATE
    assert decide(make(), 5, T0 + 100) is Outcome.EXPIRED


def test_absolute_expiry_wins_over_idle() -> None:
    s = make(idle_expires_at=T0 + 5000)
    assert decide(s, 5, T0 + 1000) is Outcome.EXPIRED


def test_revoked_session_refuses_everything() -> None:
    s = make(revoked_at=T0 + 15)
    assert decide(s, 5, T0 + 16) is Outcome.REVOKED
    assert decide(s, 4, T0 + 16) is Outcome.REVOKED


def test_enforced_binding_refuses_without_consuming() -> None:
    assert decide(make(), 5, T0 + 11, same=False, enforce=True) is Outcome.BINDING_MISMATCH
    assert decide(make(), 5, T0 + 11, same=False, enforce=False) is Outcome.ROTATE


def test_idle_slides_but_never_past_absolute() -> None:
    assert slide_idle_expiry(100, 50, 1000) == 150
    assert slide_idle_expiry(990, 50, 1000) == 1000


def test_rotated_value() -> None:
    s = make().rotated(T0 + 50, 100, "1.2.3.4", "ua")
    assert (s.generation, s.rotated_at, s.idle_expires_at, s.last_ip) == (6, T0 + 50, T0 + 150, "1.2.3.4")


def test_lru_victims() -> None:
    a = make(id="a", last_used_at=3)
    b = make(id="b", last_used_at=1)
    c = make(id="c", last_used_at=2)
    assert lru_victims([a, b, c], 0) == []
    assert lru_victims([a, b, c], 4) == []
    assert [s.id for s in lru_victims([a, b, c], 3)] == ["b"]
    assert [s.id for s in lru_victims([a, b, c], 1)] == ["b", "c", "a"]
