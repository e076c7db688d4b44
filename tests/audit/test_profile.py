"""Profiles: the built-ins, the example TOML, and clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyturn.audit.profile import BUILTIN, Place, ProfileError, load_profile
from tests.audit.conftest import SEED_PROFILE

GOOD = """
[login]
path = "/login"
body = { user = "{username}", pass = "{password}" }
access_token = "json:data.access"
refresh_token = "cookie:rt"
[refresh]
path = "/refresh"
token_in = "cookie:rt"
[resource]
method = "GET"
path = "/me"
token_in = "bearer"
"""


def test_example_profile_describes_the_seed_api() -> None:
    p = load_profile(str(SEED_PROFILE))
    assert p.name == "seed"
    assert (p.refresh.method, p.refresh.path, p.refresh.token) == ("PATCH", "/reissue", Place("header", "Refresh"))
    assert p.access_token == Place("json", "accessToken")
    assert p.logout is not None and p.logout.sends == "access"


def test_a_cookie_login_names_the_refresh_cookie(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    p = load_profile(str(path))
    assert p.name == "mine"
    assert p.refresh_cookie == "rt"
    assert p.login.method == "POST"  # the default
    assert p.logout is None


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_profiles_load_by_name(name: str) -> None:
    assert load_profile(name).name == name


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace('token_in = "cookie:rt"', 'token_in = "cooky:rt"'), "is not one of"),
    (lambda t: t.replace('token_in = "bearer"', 'token_in = "header:"'), "needs a name"),
    (lambda t: t.replace('path = "/me"', 'path = "me"'), "must start with /"),
    (lambda t: t.replace('method = "GET"', 'method = "FETCH"'), "is not one of"),
    (lambda t: t.replace("[resource]", "[resourse]"), "unknown key"),
    (lambda t: t.replace('"{username}"', '"bob"'), "{username}"),
    (lambda t: t.replace("[refresh]", "[refresh\n"), "not valid TOML"),
    (lambda t: t.replace('path = "/refresh"\n', 'path = "/refresh"\ntoken_at = "x"\n'), "unknown key"),
    (lambda t: t.split("[refresh]")[0], "[refresh] table is required"),
])
def test_bad_profiles_are_one_clear_error(tmp_path: Path, change: object, message: str) -> None:
    path = tmp_path / "bad.toml"
    assert callable(change)
    path.write_text(change(GOOD))
    with pytest.raises(ProfileError) as info:
        load_profile(str(path))
    assert message in str(info.value)


def test_unknown_profile_name() -> None:
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile("keyturnn")
