"""Binding policy: which network (or key) a session belongs to, and who the
client is when proxies stand in front of us (docs/concepts.md, "Binding")."""

from __future__ import annotations

import ipaddress
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BindingMode(str, enum.Enum):
    OFF = "off"
    ALERT = "alert"
    ENFORCE = "enforce"


def network_key(ip: str | None, v4_prefix: int, v6_prefix: int) -> str | None:
    """The network an address belongs to at the configured prefix, so a
    mobile client moving inside its /24 or /64 is not a stranger."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = v4_prefix if addr.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class BindingPolicy:
    mode: BindingMode = BindingMode.OFF
    v4_prefix: int = 24
    v6_prefix: int = 64
    user_agent: bool = False
    grace_same_network: bool = True

    def same_client(
        self, login_ip: str | None, login_ua: str | None, ip: str | None, ua: str | None
    ) -> bool:
        """Whether a presenter counts as the one who logged in. With binding
        off, anyone does."""
        if self.mode is BindingMode.OFF:
            return True
        if network_key(login_ip, self.v4_prefix, self.v6_prefix) != network_key(
            ip, self.v4_prefix, self.v6_prefix
        ):
            return False
        return not self.user_agent or (login_ua or "") == (ua or "")

    def same_retrier(
        self, last_ip: str | None, last_ua: str | None, ip: str | None, ua: str | None
    ) -> bool:
        """Whether a presenter of the just-rotated token is the client whose
        request rotated it (``last_ip``/``last_ua``), in every binding mode:
        the grace window is for that client's retries, never for a copy."""
        if self.grace_same_network:
            # Two unknown addresses (no peer address at all) cannot be told apart.
            if network_key(ip, self.v4_prefix, self.v6_prefix) != network_key(
                last_ip, self.v4_prefix, self.v6_prefix
            ):
                return False
        return not self.user_agent or (last_ua or "") == (ua or "")

    def late_retrier(
        self, last_ip: str | None, last_ua: str | None, ip: str | None, ua: str | None
    ) -> bool:
        """``same_retrier`` with the user agent always compared: after the
        grace window a retry of a lost answer comes from the very program
        that sent the request, and nothing looser is given the successor."""
        return self.same_retrier(last_ip, last_ua, ip, ua) and (last_ua or "") == (ua or "")


@dataclass(frozen=True)
class ProxyPolicy:
    """``X-Forwarded-For`` counts only from trusted proxies (default none,
    loopback included)."""

    trusted: Sequence[IPNetwork] = field(default_factory=tuple)

    @classmethod
    def from_cidrs(cls, cidrs: Sequence[str]) -> ProxyPolicy:
        return cls(tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def _is_trusted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip.strip())
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def is_trusted(self, peer: str | None) -> bool:
        """Whether the TCP peer is one of our proxies (whose forwarding
        headers count)."""
        return bool(self.trusted) and peer is not None and self._is_trusted(peer)

    def client_ip(self, peer: str | None, forwarded_for: str | Sequence[str] | None) -> str | None:
        """Walk ``X-Forwarded-For`` from the right while the hop is trusted;
        the first untrusted hop is the client. Every header line counts, in
        order (a proxy that appends its own line leaves the client's first
        line in front); an unparsable hop ends the walk there."""
        if isinstance(forwarded_for, str):
            forwarded_for = [forwarded_for]
        if not forwarded_for or not self.is_trusted(peer):
            return peer
        client = peer
        for hop in reversed(",".join(forwarded_for).split(",")):
            hop = hop.strip()
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return client
            client = hop
            if not self._is_trusted(hop):
                return hop
        return client
