"""Where upstream traffic may connect: to no internal address but the index's own.

An upstream's page names the hosts its files are on, and a hostile or compromised index (or a
typo-squatted one) could name ``169.254.169.254`` (a cloud's metadata service), ``127.0.0.1``
(Packyard itself, a database's admin port), a private address, or a name that resolves to one;
Packyard would fetch it, and a range read would hand the bytes to any client with read access.
So every connection is checked when it is made, on the addresses it would actually go to (not
on the URL's text: ``0x7f000001``, ``localhost.`` and a DNS name pointing inward all resolve
first), and the connection is made to a checked address, so a second DNS answer cannot swap an
internal one in. An address on a network where a host's own or an organisation's services
live (``INTERNAL``: loopback, RFC 1918 private, carrier-grade NAT, link-local, unique local,
unspecified, multicast; an IPv4 one inside IPv6 too) is refused, except at the host and port
of the upstream's own index URL, which an administrator chose (a mirror on the internal
network, a test's local index). The ranges set aside for documentation and benchmarking
(``203.0.113.0/24``, ``198.18.0.0/15``, …) are not refused: no service of anyone's lives
there, while DNS servers and proxies do answer public names with them (this project's own
network answers ``files.pythonhosted.org`` with ``203.0.113.80``; a proxy's fake IPs are in
``198.18.0.0/15``), and refusing them would refuse PyPI's files.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

import httpcore

from packyard.errors import UpstreamError

# The origin (host, port) of the index URL of the upstream a request is made for: set around
# each request, read when its connection is made (in the same task: httpcore connects in the
# task that sends).
_index_origin: ContextVar[tuple[str, int] | None] = ContextVar("packyard_index_origin",
                                                              default=None)


def origin_of(url: str) -> tuple[str, int]:
    """A URL's host (lower case, without a trailing dot or IPv6 brackets) and port."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return _host_key(parts.hostname or ""), port


def _host_key(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")


@contextmanager
def for_index(index_url: str) -> Iterator[None]:
    """Connections made inside are for the upstream whose index is at ``index_url``."""
    token = _index_origin.set(origin_of(index_url))
    try:
        yield
    finally:
        _index_origin.reset(token)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network

INTERNAL: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8",        # "this host" (0.0.0.0 reaches the host itself)
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # private (RFC 1918)
    "100.64.0.0/10",    # carrier-grade NAT, shared address space (RFC 6598)
    "127.0.0.0/8",      # loopback
    "169.254.0.0/16",   # link-local: a cloud's metadata service
    "192.0.0.0/24",     # IETF protocol assignments
    "224.0.0.0/4", "255.255.255.255/32",  # multicast, broadcast
    "::/128", "::1/128",  # unspecified, loopback
    "fc00::/7",         # unique local
    "fe80::/10",        # link-local
    "ff00::/8",         # multicast
))
"""Networks a host's own or an organisation's internal services are on."""


def is_internal(address: str, allowed: Iterable[Network] = ()) -> bool:
    """Whether an IP address is one an upstream's page must not send Packyard to: internal,
    and in none of the ``allowed`` networks."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not any(ip.version == n.version and ip in n for n in INTERNAL):
        return False
    return not any(ip.version == n.version and ip in n for n in allowed)


def internal_among(addresses: Iterable[str], allowed: Iterable[Network] = ()) -> str | None:
    """The first internal address of ``addresses`` (outside ``allowed``), if any."""
    networks = list(allowed)
    return next((a for a in addresses if is_internal(a, networks)), None)


class ConfinedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses ``is_internal`` allows."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None, *,
                 networks_allowed: Iterable[str] = ()) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._allowed = [ipaddress.ip_network(n, strict=False) for n in networks_allowed]

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        index = _index_origin.get()
        if index == (_host_key(host), port):
            return await self._inner.connect_tcp(host, port, timeout, local_address,
                                                 socket_options)
        addresses = await _resolve(host, port, timeout)
        internal = internal_among(addresses, self._allowed)
        if internal is not None:
            # Not a connection error: nothing is retried, and the host is not marked down.
            own = f" ({index[0]}:{index[1]})" if index else ""
            raise UpstreamError(
                f"Upstream host {host}:{port} is at {internal}, an internal address (loopback, "
                f"private, link-local or reserved); only the upstream's own index{own} may be "
                "on one (or a network in PACKYARD_UPSTREAM_INTERNAL_NETWORKS_ALLOWED); refused")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address,
                                                     socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
                                  ) -> httpcore.AsyncNetworkStream:  # pragma: no cover
        raise UpstreamError("Upstream connections over a Unix socket are not made")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of ``host`` (itself, for an IP address), in the resolver's order."""
    try:
        found = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(_host_key(host), port,
                                                   type=socket.SOCK_STREAM),
            timeout)
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from None
    addresses: list[str] = []
    for _family, _type, _proto, _name, sockaddr in found:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise httpcore.ConnectError(f"{host} has no address")
    return addresses
