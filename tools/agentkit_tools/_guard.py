"""The guard against server-side request forgery, for every request the web tools send.

A URL a model chose must not reach what only this machine can reach. `Guard.vet` takes a URL
apart and returns the addresses a request may connect to, or refuses it (`UnsafeURL`):

- only `http` and `https` URLs, without user names or passwords, on an allowed port
  (`DEFAULT_PORTS`: 80, 443, 8080 and 8443, so that the agent cannot scan this machine's
  network for other services);
- the host is resolved here, and refused if *any* of its addresses is loopback, private,
  link-local (and so the 169.254.169.254 cloud metadata service), carrier-grade NAT,
  unspecified, multicast, reserved or otherwise not public, including IPv4 addresses carried
  inside IPv6 ones (`::ffff:127.0.0.1`, NAT64, 6to4).

The caller then connects to the very addresses that were checked (see `_http.guarded_get`),
so a second DNS answer cannot point elsewhere ("DNS rebinding").
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import httpx

from agentkit import ToolRetry

__all__ = [
    "DEFAULT_PORTS",
    "MAX_URL_LENGTH",
    "Guard",
    "IPAddress",
    "Resolver",
    "UnsafeURL",
    "blocked_reason",
    "parse_url",
    "system_resolver",
]

DEFAULT_PORTS = frozenset({80, 443, 8080, 8443})
"""The ports the web tools connect to unless told otherwise: the web's own."""

MAX_URL_LENGTH = 2048

Resolver = Callable[[str, int], Sequence[str]]
"""`(host, port) -> IP addresses` (as text); raises `OSError` when the host is unknown."""

_LOOKUPS = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="agentkit-dns")

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ToolRetry):
    """The guard refused a URL: its scheme, its form, its port, or where it leads.

    A `ToolRetry`: the model is told why and may choose another URL.
    """


def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system's resolver (`socket.getaddrinfo`).

    Examples:
        >>> "127.0.0.1" in system_resolver("127.0.0.1", 80)
        True
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def blocked_reason(address: str | IPAddress) -> str | None:
    """Why an IP address must not be fetched from, or `None` for a public internet address.

    Examples:
        >>> blocked_reason("93.184.215.14") is None
        True
        >>> blocked_reason("169.254.169.254"), blocked_reason("::ffff:10.0.0.1")
        ('a cloud metadata address', 'a private address (inside ::ffff:10.0.0.1)')
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = blocked_reason(embedded)
            if inner is not None:
                return f"{inner} (inside {_show(ip)})"
    checks = (
        (ip in _METADATA, "a cloud metadata address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.version == 4 and ip in _CGNAT, "a carrier-grade NAT address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        (not ip.is_global, "not a public internet address"),
    )
    return next((reason for blocked, reason in checks if blocked), None)


def _show(ip: IPAddress) -> str:
    """An address as text, an IPv4-mapped one as `::ffff:a.b.c.d` on every Python version."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in network for network in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class Guard:
    """Where requests may go: the resolver that finds a host's addresses, and the ports.

    Examples:
        >>> guard = Guard(resolver=lambda host, port: ["93.184.215.14"])
        >>> guard.vet(httpx.URL("https://example.com/"))
        [IPv4Address('93.184.215.14')]
        >>> guard.vet(httpx.URL("https://example.com:22/"))
        Traceback (most recent call last):
        ...
        agentkit_tools._guard.UnsafeURL: Refusing to connect to port 22 ...
    """

    resolver: Resolver = system_resolver
    """Turns a host name into IP addresses."""
    ports: Collection[int] | None = DEFAULT_PORTS
    """The ports requests may go to; `None` for any."""

    def vet(self, url: httpx.URL, timeout: float | None = None) -> list[IPAddress]:
        """The addresses to connect to for `url`, once the port and every address passed.

        Raises:
            UnsafeURL: The port or an address is refused, or the host is unknown.
            TimeoutError: Looking the host up took longer than `timeout` seconds.
        """
        port = url.port or (443 if url.scheme == "https" else 80)
        if self.ports is not None and port not in self.ports:
            allowed = ", ".join(str(number) for number in sorted(self.ports))
            raise UnsafeURL(
                f"Refusing to connect to port {port} of {url.host} (allowed: {allowed}); "
                "use the site's usual address."
            )
        host = url.raw_host.decode("ascii")
        addresses = _literal(host) or self.resolve(host, port, timeout)
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                shown = host if _literal(host) else f"{host} ({_show(address)})"
                raise UnsafeURL(
                    f"Refusing to fetch from {shown}: {reason}. "
                    "Only public internet addresses can be fetched."
                )
        return addresses

    def resolve(self, host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
        """The host's addresses, asked in a worker thread when there is a `timeout`.

        The system's resolver cannot be interrupted: a look-up that outlives its timeout
        finishes in the worker, unused.
        """
        try:
            if timeout is None:
                found = self.resolver(host, port)
            else:
                found = _LOOKUPS.submit(self.resolver, host, port).result(timeout)
            addresses = [ipaddress.ip_address(address.split("%")[0]) for address in found]
        except (concurrent.futures.TimeoutError, TimeoutError):  # one class from Python 3.11
            raise TimeoutError(f"looking up {host} took too long") from None
        except socket.gaierror as error:
            if error.errno == socket.EAI_AGAIN:  # the resolver itself is out of reach
                raise UnsafeURL(f"The host {host!r} could not be looked up: no network?") from None
            raise UnsafeURL(f"The host {host!r} could not be found; check the URL.") from None
        except (OSError, UnicodeError, ValueError):
            raise UnsafeURL(f"The host {host!r} could not be found; check the URL.") from None
        if not addresses:
            raise UnsafeURL(f"The host {host!r} has no address; check the URL.")
        return addresses


_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+")  # a name, an IPv4 or an IPv6 address


def parse_url(url: str) -> httpx.URL:
    """`url` as an `httpx.URL`, if it has a form the guard accepts (`UnsafeURL` if not)."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeURL(f"The URL is too long (at most {MAX_URL_LENGTH} characters).")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise UnsafeURL(f"{url!r} is not a valid URL.") from None
    if not parsed.scheme:
        raise UnsafeURL(f"{url[:100]!r} is not a full URL; start it with https://.")
    if parsed.scheme not in ("http", "https"):
        raise UnsafeURL(
            f"Only http:// and https:// URLs can be fetched, not {parsed.scheme}: {url[:100]!r}."
        )
    if not parsed.host:
        raise UnsafeURL(f"{url!r} has no host name.")
    if not _HOST.fullmatch(parsed.raw_host.decode("ascii", "replace")):
        raise UnsafeURL(f"{url[:100]!r} is not a valid URL (its host name has odd characters).")
    if parsed.userinfo:
        raise UnsafeURL("URLs with a user name or password are not fetched.")
    return parsed.copy_with(fragment=None)


def _literal(host: str) -> list[IPAddress]:
    """`[address]` when the host is written as an IP address, else `[]`."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return []
