"""One genuineness check (``service/genuine.py``) serves refresh,
revocation and introspection: a forged refresh token is refused alike on
every path, whether the session's facts are cached or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyturn import errors
from keyturn.service.wiring import Runtime
from tests.service.conftest import login, new_user

PACKAGE = Path(__file__).resolve().parents[2] / "keyturn"


def _forged(token: str) -> str:
    """The same session and generation, one character of the MAC changed."""
    i = len(token) - 5
    return token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :]


def test_refresh_macs_are_checked_in_one_place() -> None:
    callers = sorted(
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if ".is_genuine(" in p.read_text()
    )
    assert callers == ["service/genuine.py"]


@pytest.mark.parametrize("cached", [True, False], ids=["warm", "cold"])
async def test_a_forged_refresh_token_is_refused_by_every_path(rt: Runtime, cached: bool) -> None:
    await new_user(rt)
    pair = await login(rt)
    forged = _forged(pair.refresh_token)
    if not cached:
        rt.service.facts.clear()
    assert await rt.service.introspect_token(forged) == {"active": False}
    await rt.service.revoke_token(forged)  # changes nothing (RFC 7009 §2.2)
    with pytest.raises(errors.RefreshTokenInvalid):
        await rt.service.refresh(forged, ip="203.0.113.7", user_agent="test")
    assert (await rt.service.introspect_token(pair.refresh_token))["active"] is True
    await rt.service.refresh(pair.refresh_token, ip="203.0.113.7", user_agent="test")


async def test_introspection_reads_the_state_behind_cached_facts(rt: Runtime) -> None:
    """The facts cache knows a session's salt, not whether it still lives."""
    await new_user(rt)
    pair = await login(rt)  # login fills the facts cache
    claims = await rt.service.check_access(pair.access_token)
    await rt.service.logout(claims)
    assert await rt.service.introspect_token(pair.refresh_token) == {"active": False}
    await rt.service.revoke_token(pair.refresh_token)  # already ended: nothing to do, no error
