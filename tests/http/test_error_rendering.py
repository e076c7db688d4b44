"""The one place errors become HTTP."""

from __future__ import annotations

import pytest

from keyturn import errors
from keyturn.http.wire import error_response


@pytest.mark.parametrize(("after", "header"), [(0.2, "1"), (1.0, "1"), (1.01, "2"), (59.5, "60")])
def test_429_carries_whole_seconds(after: float, header: str) -> None:
    r = error_response(errors.RateLimited(after))
    assert r.status_code == 429 and r.headers["retry-after"] == header


@pytest.mark.parametrize(
    ("exc", "status", "oauth_status"),
    [
        (errors.RefreshTokenReused(), 401, 400),
        (errors.MissingRefreshToken(), 400, 400),
        (errors.SessionRevoked(), 401, 400),
        (errors.StoreUnavailable(), 503, 503),
    ],
)
def test_statuses(exc: errors.KeyturnError, status: int, oauth_status: int) -> None:
    assert error_response(exc).status_code == status
    assert error_response(exc, oauth=True).status_code == oauth_status


def test_codes_are_stable_snake_case() -> None:
    import re

    assert all(re.fullmatch(r"[a-z_]+", c) for c in errors.ALL_CODES)
    for must in ("invalid_credentials", "missing_refresh_token", "refresh_token_invalid", "refresh_token_expired",
                 "refresh_token_reused", "session_revoked", "binding_mismatch", "token_expired", "token_invalid",
                 "token_revoked", "rate_limited", "store_unavailable"):
        assert must in errors.ALL_CODES
