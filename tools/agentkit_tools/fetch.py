"""`fetch_url`: read a web page as plain text, with a guard against server-side request forgery.

A URL the model chose must not reach what only this machine can reach. So `fetch_url`:

- takes only `http` and `https` URLs, without user names or passwords;
- resolves the host itself and refuses it if *any* address is loopback, private, link-local
  (and so the 169.254.169.254 cloud metadata service), carrier-grade NAT (100.64.0.0/10),
  unspecified, multicast, reserved or otherwise not public, including IPv4 addresses carried
  inside IPv6 ones (`::ffff:127.0.0.1`, NAT64, 6to4);
- then connects to the very address it checked (the `Host` header and TLS server name stay
  the host's), so a second DNS answer cannot point elsewhere ("DNS rebinding");
- follows redirects itself, at most `max_redirects`, checking every hop the same way;
- reads at most `max_bytes` of the body, gives up after `timeout` seconds in all, and reads
  only HTML, plain text, JSON and XML.

`make_fetch_url` builds the tool with other limits or another resolver (tests pass one that
needs no DNS); `fetch_url` is the tool with the defaults.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from typing import Annotated

import httpx
from pydantic import Field

from agentkit import Tool, ToolRetry, UsageError, tool

from ._http import ServiceError, make_client

__all__ = [
    "MAX_BYTES",
    "MAX_REDIRECTS",
    "TIMEOUT_SECONDS",
    "Resolver",
    "UnsafeURL",
    "blocked_reason",
    "fetch_url",
    "html_to_text",
    "make_fetch_url",
    "system_resolver",
]

MAX_BYTES = 2_000_000
"""Most bytes of a body read by default (decompressed); the rest is never downloaded."""

MAX_REDIRECTS = 5
"""Most redirects followed by default."""

TIMEOUT_SECONDS = 20.0
"""Default limit on one whole fetch, redirects and reading included."""

MAX_URL_LENGTH = 2048

Resolver = Callable[[str, int], Sequence[str]]
"""`(host, port) -> IP addresses` (as text); raises `OSError` when the host is unknown."""

ACCEPT = (
    "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,"
    "application/xml;q=0.8,text/*;q=0.5"
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ToolRetry):
    """`fetch_url` refused a URL: its scheme, its form, or where it leads.

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


# --------------------------------------------------------------------------- HTML to text

_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary",
        "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skipping = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
        elif tag == "title":
            self.in_title = True
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(self.skipping - 1, 0)
        elif tag == "title":
            self.in_title = False
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        # Line breaks in the source are spaces: only block elements break lines.
        text = data.replace("\r", " ").replace("\n", " ")
        (self.title if self.in_title else self.parts).append(text)


def html_to_text(page: str) -> tuple[str, str]:
    r"""The title and readable text of an HTML page: scripts, styles and tags left out.

    Examples:
        >>> html_to_text(
        ...     "<html><head><title>Hi &amp; bye</title><style>p {}</style></head>"
        ...     "<body><p>One  <b>two</b></p><script>alert(1)</script><p>three</p></body></html>"
        ... )
        ('Hi & bye', 'One two\nthree')
    """
    parser = _TextExtractor()
    parser.feed(page)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return " ".join("".join(parser.title).split()), "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- the tool


def make_fetch_url(
    *,
    resolver: Resolver = system_resolver,
    max_bytes: int = MAX_BYTES,
    timeout: float = TIMEOUT_SECONDS,
    max_redirects: int = MAX_REDIRECTS,
    name: str = "fetch_url",
) -> Tool[..., str]:
    """Make a `fetch_url` tool with its own limits.

    Args:
        resolver: Turns a host name into IP addresses; `system_resolver` by default.
        max_bytes: Most bytes of a body read; the rest is never downloaded.
        timeout: Seconds one whole fetch may take, redirects and reading included (DNS look-ups
            are the resolver's own affair).
        max_redirects: Most redirects followed.
        name: The tool's name, as the model sees it.

    Raises:
        UsageError: A limit is out of range.

    Examples:
        >>> careful = make_fetch_url(max_bytes=100_000, timeout=5, name="read_page")
        >>> careful.name, sorted(careful.parameters["properties"])
        ('read_page', ['max_chars', 'url'])
    """
    if max_bytes < 1 or timeout <= 0 or max_redirects < 0:
        raise UsageError(
            "make_fetch_url: max_bytes and timeout must be above 0, max_redirects 0 or more."
        )

    def fetch_url(url: str, max_chars: Annotated[int, Field(ge=100, le=100_000)] = 5000) -> str:
        """Fetch a public web page (or a text, JSON or XML document) and return its text.

        HTML is reduced to its readable text. Only public http(s) addresses can be fetched.

        Args:
            url: The full address, starting with http:// or https://.
            max_chars: The most characters of text to return; the rest is cut off.
        """
        fetcher = _Fetch(resolver, max_bytes, timeout, max_redirects)
        return fetcher.run(url, max(max_chars, 1))

    return tool(fetch_url, name=name)


fetch_url = make_fetch_url()


class _Fetch:
    """One fetch: the checks, the redirects, the reading."""

    def __init__(
        self, resolver: Resolver, max_bytes: int, timeout: float, max_redirects: int
    ) -> None:
        self.resolver = resolver
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects
        self.deadline = time.monotonic() + timeout

    def run(self, url: str, max_chars: int) -> str:
        current = _parse(url.strip())
        try:
            with make_client() as client:
                for hop in range(self.max_redirects + 1):
                    try:
                        response = self.send(client, current)
                    except UnsafeURL as exc:
                        if hop == 0:
                            raise
                        raise UnsafeURL(f"{url} redirects to {current}. {exc.message}") from None
                    try:
                        location = response.headers.get("location")
                        if not (response.is_redirect and location):
                            return self.read(response, current, max_chars)
                    finally:
                        response.close()
                    try:
                        current = _parse(str(current.join(location)))
                    except UnsafeURL as exc:
                        raise UnsafeURL(f"{url} redirects to {location!r}. {exc.message}") from None
        except httpx.TimeoutException as exc:
            raise ServiceError(f"Fetching {url} took too long.") from exc
        except httpx.HTTPError as exc:
            raise ServiceError(f"Could not fetch {url} ({type(exc).__name__}: {exc}).") from exc
        raise ToolRetry(f"{url} redirects more than {self.max_redirects} times; not followed.")

    def remaining(self, url: httpx.URL) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ServiceError(f"Fetching {url} took longer than {self.timeout:g} s.")
        return left

    def send(self, client: httpx.Client, url: httpx.URL) -> httpx.Response:
        """Check where `url` leads, then send the request to exactly those addresses.

        The host's addresses are tried in the resolver's order until one connects.
        """
        host = url.raw_host.decode("ascii")
        addresses = self.vet(host, url.port or (443 if url.scheme == "https" else 80))
        for number, address in enumerate(addresses, 1):
            request = client.build_request(
                "GET",
                url.copy_with(host=str(address)),
                headers={"Host": url.netloc.decode("ascii"), "Accept": ACCEPT},
                extensions={"sni_hostname": host} if url.scheme == "https" else {},
                timeout=httpx.Timeout(min(self.remaining(url), 10.0)),
            )
            try:
                return client.send(request, stream=True)
            except httpx.ConnectError:
                if number == len(addresses):
                    raise
        raise AssertionError("unreachable: vet() returns at least one address")

    def vet(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for `host`, once every one of them is checked."""
        addresses = _literal(host) or self.resolve(host, port)
        for address in addresses:
            reason = blocked_reason(address)
            if reason is not None:
                shown = host if _literal(host) else f"{host} ({_show(address)})"
                raise UnsafeURL(
                    f"Refusing to fetch from {shown}: {reason}. "
                    "Only public internet addresses can be fetched."
                )
        return addresses

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            found = self.resolver(host, port)
        except (OSError, UnicodeError):
            raise UnsafeURL(f"The host {host!r} could not be found; check the URL.") from None
        addresses = [ipaddress.ip_address(address.split("%")[0]) for address in found]
        if not addresses:
            raise UnsafeURL(f"The host {host!r} has no address; check the URL.")
        return addresses

    def read(self, response: httpx.Response, url: httpx.URL, max_chars: int) -> str:
        """The response's body as text for the model, or why there is none."""
        status = response.status_code
        if 400 <= status < 500:
            raise ToolRetry(
                f"{url} answered HTTP {status} {response.reason_phrase}; check the URL or "
                "try another page."
            )
        if status >= 300 or status < 200:
            raise ServiceError(f"{url} answered HTTP {status} {response.reason_phrase}.")
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        kind = _kind(media)
        if kind is None:
            raise ToolRetry(
                f"{url} is {media or 'of no stated type'}, not text: fetch_url reads HTML, "
                "plain text, JSON and XML only."
            )
        body, cut = self.body(response, url)
        text = _decode(body, response.charset_encoding, kind)
        header = [f"URL: {url}"]
        if kind == "html":
            title, text = html_to_text(text)
            if title:
                header.append(f"Title: {title}")
        notes = []
        if cut:
            notes.append(f"Only the first {self.max_bytes} bytes of the document were read.")
        if len(text) > max_chars:
            notes.append(f"Cut to {max_chars} of {len(text)} characters.")
            text = text[:max_chars]
        return "\n".join([*header, "", text, *(f"[{note}]" for note in notes)]).rstrip()

    def body(self, response: httpx.Response, url: httpx.URL) -> tuple[bytes, bool]:
        """At most `max_bytes` of the body, and whether there was more."""
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > self.max_bytes:
                return bytes(data[: self.max_bytes]), True
            self.remaining(url)
        return bytes(data), False


_HOST = re.compile(r"[A-Za-z0-9._-]+|[0-9A-Fa-f:.]+")  # a name, an IPv4 or an IPv6 address


def _parse(url: str) -> httpx.URL:
    """`url` as an `httpx.URL`, if it has a form `fetch_url` accepts."""
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
    if not _HOST.fullmatch(parsed.raw_host.decode("ascii")):
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


def _kind(media: str) -> str | None:
    """`html`, `text`, or `None` for a media type `fetch_url` does not read."""
    if media in ("text/html", "application/xhtml+xml"):
        return "html"
    if (
        media.startswith("text/")
        or media in ("application/json", "application/xml")
        or media.endswith(("+json", "+xml"))
    ):
        return "text"
    return None


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)


def _decode(body: bytes, charset: str | None, kind: str) -> str:
    if charset is None and kind == "html":
        found = _META_CHARSET.search(body[:2048])
        charset = found.group(1).decode("ascii") if found else None
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:  # an unknown charset name
        return body.decode("utf-8", errors="replace")
