"""Pinned resolution for the audit: connect only to the addresses the
loopback guard checked.

The guard resolves a name once; left alone, httpx would resolve it again for
every connection, and a name that answers loopback to the guard and another
host afterwards (DNS rebinding) would point the attack catalogue, with the
test account's password, at a host nobody checked. Here the name is resolved
once, the addresses are checked, and every connection goes to one of exactly
those addresses; the URL keeps its name, so Host and TLS SNI/certificate
checks still use it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx


def resolve(host: str) -> tuple[str, ...]:
    """Every address ``host`` names (itself when it is an IP literal);
    empty when it does not resolve."""
    host = host.strip("[]")
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def loopback_addresses(host: str) -> tuple[str, ...]:
    """The addresses of ``host`` if every one is loopback, else ``()``."""
    addresses = resolve(host)
    return addresses if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses) else ()


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections to the pinned addresses of a host only; a host
    nobody pinned is refused (``strict``) or resolved as usual (the operator
    said they own the system)."""

    def __init__(self, *, strict: bool) -> None:
        self.pins: dict[str, tuple[str, ...]] = {}
        self.strict = strict
        self._inner = httpcore.AnyIOBackend()

    def pin(self, host: str, addresses: Iterable[str]) -> None:
        self.pins[host.strip("[]").lower()] = tuple(addresses)

    def addresses(self, host: str) -> tuple[str, ...]:
        """Where a connection to ``host`` may go (``LookupError``: nowhere)."""
        addresses = self.pins.get(host.strip("[]").lower())
        if addresses is None:
            if self.strict:
                raise LookupError(f"{host} was not checked by the loopback guard")
            return (host,)
        return addresses

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = self.addresses(host)
        except LookupError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the audit does not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(backend: PinnedBackend, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's own transport (TLS, HTTP/1.1, pooling) over ``backend``. No
    proxy from the environment: a proxy would resolve the name itself."""
    transport = httpx.AsyncHTTPTransport(limits=limits, trust_env=False)
    pool = getattr(transport, "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx cannot pin addresses: refusing to audit unpinned")
    pool._network_backend = backend
    return transport
