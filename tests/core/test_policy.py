"""Binding networks and the X-Forwarded-For walk."""

from __future__ import annotations

import pytest

from keyturn.core.policy import BindingMode, BindingPolicy, ProxyPolicy, network_key


def test_network_key_prefixes() -> None:
    assert network_key("203.0.113.7", 24, 64) == "203.0.113.0/24"
    assert network_key("2001:db8::1", 24, 64) == "2001:db8::/64"
    assert network_key("::ffff:203.0.113.7", 24, 64) == "203.0.113.0/24"
    assert network_key("nonsense", 24, 64) is None


def test_binding_same_client() -> None:
    p = BindingPolicy(BindingMode.ENFORCE)
    assert p.same_client("203.0.113.7", None, "203.0.113.99", None)
    assert not p.same_client("203.0.113.7", None, "198.51.100.1", None)
    assert BindingPolicy(BindingMode.OFF).same_client("203.0.113.7", None, "198.51.100.1", None)
    ua = BindingPolicy(BindingMode.ENFORCE, user_agent=True)
    assert not ua.same_client("203.0.113.7", "a", "203.0.113.7", "b")


@pytest.mark.parametrize(
    ("trusted", "peer", "xff", "client"),
    [
        ([], "127.0.0.1", "1.2.3.4", "127.0.0.1"),  # default: nobody is trusted, loopback included
        (["10.0.0.0/8"], "198.51.100.1", "1.2.3.4", "198.51.100.1"),  # untrusted peer
        (["10.0.0.0/8"], "10.0.0.1", "1.2.3.4", "1.2.3.4"),
        (["10.0.0.0/8"], "10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4"),  # spoofed left entry ignored
        (["10.0.0.0/8"], "10.0.0.1", "garbage, 1.2.3.4", "1.2.3.4"),
        (["10.0.0.0/8"], "10.0.0.1", "10.0.0.3", "10.0.0.3"),
    ],
)
def test_forwarded_for(trusted: list[str], peer: str, xff: str, client: str) -> None:
    assert ProxyPolicy.from_cidrs(trusted).client_ip(peer, xff) == client
