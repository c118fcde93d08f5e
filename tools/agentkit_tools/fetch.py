"""`fetch_url`: read a web page as plain text, with a guard against server-side request forgery.

A URL the model chose must not reach what only this machine can reach. So `fetch_url`:

- takes only `http` and `https` URLs, without user names or passwords, on the web's usual
  ports (80, 443, 8080, 8443; `ports=` changes them), so the agent cannot scan this
  machine's network for other services;
- resolves the host itself and refuses it if *any* address is loopback, private, link-local
  (and so the 169.254.169.254 cloud metadata service), carrier-grade NAT (100.64.0.0/10),
  unspecified, multicast, reserved or otherwise not public, including IPv4 addresses carried
  inside IPv6 ones (`::ffff:127.0.0.1`, NAT64, 6to4);
- then connects to the very address it checked (the `Host` header and TLS server name stay
  the host's), so a second DNS answer cannot point elsewhere ("DNS rebinding"), and never
  through a proxy from the environment;
- follows redirects itself, at most `max_redirects`, checking every hop the same way;
- reads at most `max_bytes` of the body, counted after decompression (a gzip bomb stops
  there), gives up after `timeout` seconds in all, headers included, and reads only HTML,
  plain text, JSON and XML.

`make_fetch_url` builds the tool with other limits or another resolver (tests pass one that
needs no DNS); `fetch_url` is the tool with the defaults.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Collection
from html.parser import HTMLParser
from typing import Annotated

import httpx
from pydantic import Field

from agentkit import Tool, ToolRetry, UsageError, tool

from ._guard import (
    DEFAULT_PORTS,
    Guard,
    IPAddress,
    Resolver,
    UnsafeURL,
    blocked_reason,
    parse_url,
    system_resolver,
)
from ._http import Exchange, ServiceError, guarded_get

__all__ = [
    "DEFAULT_PORTS",
    "MAX_BYTES",
    "MAX_REDIRECTS",
    "TIMEOUT_SECONDS",
    "IPAddress",
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
"""Default limit on one whole fetch: connecting, headers, redirects and reading."""

ACCEPT = (
    "text/html,application/xhtml+xml,text/plain;q=0.9,application/json;q=0.9,"
    "application/xml;q=0.8,text/*;q=0.5"
)


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
    ports: Collection[int] | None = DEFAULT_PORTS,
    name: str = "fetch_url",
) -> Tool[..., str]:
    """Make a `fetch_url` tool with its own limits.

    Args:
        resolver: Turns a host name into IP addresses; `system_resolver` by default.
        max_bytes: Most bytes of a body read (decompressed); the rest is never downloaded.
        timeout: Seconds one whole fetch may take: DNS look-ups, connecting, headers,
            redirects and reading.
        max_redirects: Most redirects followed.
        ports: The ports URLs may name (80, 443, 8080 and 8443 by default); `None` for any.
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
    if ports is not None and not all(0 < port < 65536 for port in ports):
        raise UsageError(f"make_fetch_url: ports must be numbers from 1 to 65535, not {ports!r}.")
    guard = Guard(resolver, None if ports is None else frozenset(ports))

    def fetch_url(url: str, max_chars: Annotated[int, Field(ge=100, le=100_000)] = 5000) -> str:
        """Fetch a public web page (or a text, JSON or XML document) and return its text.

        HTML is reduced to its readable text. Only public http(s) addresses can be fetched.

        Args:
            url: The full address, starting with http:// or https://.
            max_chars: The most characters of text to return; the rest is cut off.
        """
        return _Fetch(guard, max_bytes, timeout, max_redirects).run(url, max(max_chars, 1))

    return tool(fetch_url, name=name)


fetch_url = make_fetch_url()


class _Fetch:
    """One fetch: the request (guarded by `_http.guarded_get`) and the reading."""

    def __init__(self, guard: Guard, max_bytes: int, timeout: float, max_redirects: int) -> None:
        self.guard = guard
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_redirects = max_redirects

    def run(self, url: str, max_chars: int) -> str:
        start = parse_url(url.strip())
        try:
            with guarded_get(
                start,
                guard=self.guard,
                timeout=self.timeout,
                max_redirects=self.max_redirects,
                headers={"Accept": ACCEPT},
            ) as exchange:
                return self.read(exchange, max_chars)
        except httpx.TooManyRedirects:
            raise ToolRetry(
                f"{url} redirects more than {self.max_redirects} times; not followed."
            ) from None
        except httpx.TimeoutException as exc:
            raise ServiceError(
                f"Fetching {url} took too long (the limit is {self.timeout:g} s)."
            ) from exc
        except httpx.HTTPError as exc:
            raise ServiceError(f"Could not fetch {url} ({type(exc).__name__}: {exc}).") from exc

    def read(self, exchange: Exchange, max_chars: int) -> str:
        """The response's body as text for the model, or why there is none."""
        response, url = exchange.response, exchange.url
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
                f"{url} is {media[:100] or 'of no stated type'}, not text: fetch_url reads "
                "HTML, plain text, JSON and XML only."
            )
        body, cut = exchange.body(self.max_bytes)
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
    """The body as text: the header's charset, else the page's own, else UTF-8.

    A charset name that is unknown or is not a plain text encoding (`idna`, `punycode`,
    `rot13`, ...) is ignored; bytes that do not decode become U+FFFD.
    """
    if charset is None and kind == "html":
        found = _META_CHARSET.search(body[:2048])
        charset = found.group(1).decode("ascii") if found else None
    if charset is not None and _plain_charset(charset):
        try:
            return body.decode(charset, errors="replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    return body.decode("utf-8", errors="replace")


_NOT_PLAIN = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape"})


def _plain_charset(name: str) -> bool:
    """Whether `name` is a text encoding that can decode any bytes with `errors="replace"`."""
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return False
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, hex, zlib...
        return False
    return info.name.replace("-", "_") not in _NOT_PLAIN
