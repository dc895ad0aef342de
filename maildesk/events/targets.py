"""Where a webhook may POST: public addresses, and private networks an admin allowed.

A webhook's URL is typed on an admin page, so without a check it could make maildesk
reach what only maildesk can reach (a cloud's metadata service, a database's admin
port, the loopback). So the host is resolved, every address it has is checked, and
the request goes to an address that was checked (the URL's host stays in the Host
header and in TLS's server name, so certificates are checked as usual): a name that
resolves to a public address at the check and a private one at the connect gets
nowhere. Redirects are not followed.

Refused unless `[webhooks] allowed_networks` lists them: loopback, private,
link-local, shared (CGNAT), multicast, reserved and unspecified addresses, and IPv6
forms of IPv4 ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """The URL may not be reached: one line, shown to the admin."""


class Unresolved(Refused):
    """The URL's host has no address just now (may pass later)."""


@dataclass(frozen=True)
class Targets:
    allowed: tuple[Network, ...] = ()

    @classmethod
    def of(cls, networks: Iterable[str]) -> Targets:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def permits(self, address: Address) -> bool:
        if any(address in network for network in self.allowed):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            inner = address.ipv4_mapped or address.sixtofour
            if inner is not None:
                return self.permits(inner)
        return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class Pinned:
    """A request target whose address was checked."""

    url: str  # the URL with the checked address for host
    host_header: str  # what the URL named
    server_name: str  # for TLS


def _parts(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(f"not an http:// or https:// URL: {url[:100]}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused(f"invalid port in {url[:100]}") from None
    return parts.scheme, host, port


def _checked(host: str, infos: Iterable[tuple[object, ...]], targets: Targets) -> Address:
    addresses: list[Address] = []
    for info in infos:
        sockaddr = info[4]
        assert isinstance(sockaddr, tuple)
        addresses.append(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
    if not addresses:
        raise Refused(f"{host} has no address")
    for address in addresses:
        if not targets.permits(address):
            raise Refused(
                f"{host} is {address}, a private or reserved address; "
                "allow its network in [webhooks] allowed_networks to send there"
            )
    return addresses[0]


def _pinned(url: str, scheme: str, host: str, port: int, address: Address) -> Pinned:
    parts = urlsplit(url)
    shown = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{shown}:{port}"
    pinned = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    default = 443 if scheme == "https" else 80
    header = host if ":" not in host else f"[{host}]"
    if parts.port not in (None, default):
        header += f":{port}"
    return Pinned(pinned, header, host)


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def pin(url: str, targets: Targets) -> Pinned:
    """The URL resolved and checked (raises Refused)."""
    scheme, host, port = _parts(url)
    literal = _literal(host)
    if literal is not None:
        infos: Iterable[tuple[object, ...]] = [(0, 0, 0, "", (str(literal), port))]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Unresolved(f"cannot resolve {host}: {exc}") from None
    return _pinned(url, scheme, host, port, _checked(host, infos, targets))


class Pins:
    """`pin` with each URL's checked target kept for `ttl` seconds: a sender makes
    thousands of requests a second to a handful of URLs, and resolving and checking
    each time would cost more than the request. What is kept was checked, and the
    request goes to that address, so keeping it opens nothing: the name is resolved
    again after `ttl` (a refusal is never kept)."""

    def __init__(self, targets: Targets, ttl: float = 30.0) -> None:
        self.targets = targets
        self._ttl = ttl
        self._kept: dict[str, tuple[float, Pinned]] = {}

    async def pin(self, url: str) -> Pinned:
        now = time.monotonic()
        kept = self._kept.get(url)
        if kept is not None and kept[0] > now:
            return kept[1]
        pinned = await pin(url, self.targets)
        self._kept[url] = (now + self._ttl, pinned)
        return pinned


def refusal(url: str, targets: Targets) -> str | None:
    """Why the URL may not be a webhook's now (None: it may), for the admin page, the
    API and the CLI; checked again at every delivery."""
    try:
        scheme, host, port = _parts(url)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused(f"cannot resolve {host}: {exc}") from None
        _checked(host, infos, targets)
    except Refused as exc:
        return str(exc)
    return None
