"""From logout to rejection at a resource server: measured against a real
``keyturn serve``, with the feed polled (default 2 s) and long-polled."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from keyturn.errors import TokenRevoked
from keyturn.resource.verifier import Verifier
from tests.client.live import CLIENT_ID, CLIENT_SECRET, Live, live_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    yield from live_server(tmp_path_factory)


def seconds_until_revoked(live: Live, verifier: Verifier) -> float:
    import httpx

    tokens = live.login()
    access = str(tokens["access_token"])
    assert verifier.verify(access).sid == tokens["session_id"]
    r = httpx.post(live.url + "/auth/logout", headers={"authorization": f"Bearer {access}"})
    assert r.status_code == 204
    start = time.monotonic()
    while time.monotonic() - start < 15:  # bounded: fails rather than hangs
        try:
            verifier.verify(access)
        except TokenRevoked:
            return time.monotonic() - start
        time.sleep(0.005)
    raise AssertionError("the logout never reached the resource server")


@pytest.mark.parametrize("mode", ["poll_2s", "long_poll"])
def test_logout_reaches_the_resource_server(
    live: Live, mode: str, record_property: Callable[[str, object], None]
) -> None:
    verifier = Verifier.for_service(
        live.url, issuer="keyturn", audience="keyturn", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        poll_wait=20.0 if mode == "long_poll" else 0.0,
    )
    with verifier:
        delay = seconds_until_revoked(live, verifier)
    # A figure, not a timed assertion: docs/client.md quotes it.
    record_property("revocation_delay_s", round(delay, 3))
    print(f"revocation delay ({mode}): {delay * 1000:.0f} ms")


def test_wrong_client_secret_fails_closed_at_once_as_a_configuration_error(live: Live) -> None:
    from keyturn.resource.feed import RevocationFeedRefused

    verifier = Verifier.for_service(live.url, issuer="keyturn", audience="keyturn", client_id=CLIENT_ID,
                                    client_secret="wrong", max_feed_staleness=30)
    with verifier:
        with pytest.raises(RevocationFeedRefused):
            verifier.verify(str(live.login()["access_token"]))
