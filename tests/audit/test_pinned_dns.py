"""DNS rebinding against the loopback guard: a name that resolves to
loopback when the guard checks it and elsewhere afterwards must never make
the audit (which carries the test account's password) connect anywhere the
guard did not check. The resolver here changes its answer after the first
call; connections to names or unchecked addresses are recorded and refused
before any packet leaves (traffic stays on 127.0.0.0/8)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest

from tests.audit.conftest import SEED_PROFILE, Seed, audit

REBINDING = "rebind.keyturn.test"
ELSEWHERE = "192.0.2.7"  # TEST-NET-1: never reached, the connect below refuses it


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> list[str]:
    """``REBINDING`` is 127.0.0.1 on the first ``loopback_answers`` lookups
    (parameter, default 1), ``ELSEWHERE`` after them; returns the address of
    every TCP connection attempted."""
    loopback_answers: int = getattr(request, "param", 1)
    real_lookup = socket.getaddrinfo
    lookups: list[str] = []

    def lookup(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        if host != REBINDING:
            return real_lookup(host, port, *args, **kw)
        ip = "127.0.0.1" if len(lookups) < loopback_answers else ELSEWHERE
        lookups.append(ip)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port or 0)))]

    real_connect = anyio.connect_tcp
    attempted: list[str] = []

    async def connect(remote_host: Any, remote_port: int, **kw: Any) -> Any:
        host = str(remote_host)
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:  # a name: where would the connection have gone?
            addresses = [info[4][0] for info in lookup(host, remote_port)]
        attempted.extend(addresses)
        if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise OSError(f"refused by the test: {host} -> {addresses}")
        return await real_connect(addresses[0], remote_port, **kw)

    real_open = asyncio.open_connection

    async def open_connection(host: Any, port: Any, **kw: Any) -> Any:
        """The race's own connections (``keyturn.audit.burst``)."""
        try:
            addresses = [str(ipaddress.ip_address(str(host)))]
        except ValueError:
            addresses = [info[4][0] for info in lookup(str(host), port)]
        attempted.extend(addresses)
        if not all(ipaddress.ip_address(a).is_loopback for a in addresses):
            raise OSError(f"refused by the test: {host} -> {addresses}")
        return await real_open(addresses[0], port, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(anyio, "connect_tcp", connect)
    monkeypatch.setattr(asyncio, "open_connection", open_connection)
    return attempted


def test_a_name_that_rebinds_after_the_guard_gets_no_connection_elsewhere(seed: Seed, rebinding_dns: list[str]) -> None:
    """The command line's check saw loopback, the next lookup says elsewhere:
    the audit stops with a usage error instead of following the name."""
    port = urlsplit(seed.url).port
    run = audit(f"http://{REBINDING}:{port}", "-p", str(SEED_PROFILE), "--json", "--check", "logout-refresh-dead")
    assert set(rebinding_dns) <= {"127.0.0.1"}, rebinding_dns
    assert run.exit_code == 2 and "not on loopback" in run.stderr, run.stderr


@pytest.mark.parametrize("rebinding_dns", [2], indirect=True)
def test_a_name_that_rebinds_mid_audit_keeps_every_connection_on_the_checked_address(
    seed: Seed, rebinding_dns: list[str],
) -> None:
    """Checked (twice) as loopback, elsewhere for every later lookup: the whole
    catalogue still runs, against 127.0.0.1 only (whatever connections it opens)."""
    port = urlsplit(seed.url).port
    run = audit(f"http://{REBINDING}:{port}", "-p", str(SEED_PROFILE), "--json")
    assert run.exit_code in (0, 1), run.stderr
    assert rebinding_dns, "the audit made no connection at all"
    assert set(rebinding_dns) == {"127.0.0.1"}, rebinding_dns
    assert seed.requests_seen() > 0
    race = {r["id"]: r for r in run.json()["results"]}["race-no-fork"]
    assert race["status"] != "SKIP", race  # the race's own connections were made, and pinned


def test_a_name_that_is_not_loopback_when_the_probe_pins_it_is_refused(rebinding_dns: list[str]) -> None:
    """The guard's own lookup said loopback, the probe's says elsewhere: no request."""
    from keyturn.audit.probe import NotAllowed, Probe

    async def run() -> None:
        probe = Probe(f"http://{REBINDING}:9", max_requests=10, seconds=10)
        try:
            socket.getaddrinfo(REBINDING, 9)  # the guard's lookup (loopback)
            with pytest.raises(NotAllowed):
                await probe.send("GET", "/")
        finally:
            await probe.close()

    anyio.run(run)
    assert rebinding_dns == []
