"""The one place the tools send HTTP: guarded, deadlined, size-capped GETs, and a test seam.

Tools are sync functions (the agent runs them in worker threads), so this sends requests
through a sync transport made for the call and closed when it ends. `guarded_get` is what
`fetch_url` and `get_json` (weather, search) share:

- every hop, redirects included, is checked by a `Guard` and sent to the very address that
  was checked (the `Host` header and TLS server name stay the host's);
- one deadline bounds the whole call: the DNS look-ups, connecting, the TLS handshake, the
  headers and every read of the body (`DeadlineTransport`);
- bodies are decompressed step by step (`_inflate.decoded`), and reading stops once
  `max_bytes` of *decoded* bytes are in: a small gzip bomb cannot grow past the cap;
- proxy variables (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`), `.netrc` and cookies are
  never used.

Tests send every request through an `httpx.MockTransport` with `use_transport`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from agentkit import __version__

from ._deadline import DeadlineTransport
from ._guard import Guard, UnsafeURL, parse_url
from ._inflate import ACCEPT_ENCODING, decoded

__all__ = [
    "JSON_MAX_BYTES",
    "JSON_TIMEOUT",
    "TIMEOUT",
    "USER_AGENT",
    "Exchange",
    "ServiceError",
    "get_json",
    "guarded_get",
    "use_transport",
]

USER_AGENT = f"agentkit-tools/{__version__} (+https://pypi.org/project/goapi-agentkit/)"
"""Sent with every request (Wikipedia and others ask clients to say who they are)."""

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
"""Per-operation limits: five seconds to connect, ten for each read, write or pool wait."""

JSON_TIMEOUT = 15.0
"""Default limit on one whole `get_json` call, redirects and reading included."""

JSON_MAX_BYTES = 2_000_000
"""Most bytes (decoded) of a JSON reply `get_json` reads; a longer one is an error."""


_transport: httpx.BaseTransport | None = None


class ServiceError(Exception):
    """A web service a tool relies on failed: unreachable, slow, erring, or unreadable.

    Not something the model can fix by changing its arguments; the agent sends the text to
    the model as the call's error (or raises it, with `on_tool_error="raise"`).
    """


@contextlib.contextmanager
def use_transport(transport: httpx.BaseTransport) -> Iterator[None]:
    """Send the requests of every tool through `transport` while the block runs.

    The transport stands for the network: `get_json` sends its requests to it as they are,
    while `fetch_url` still checks every address (with its resolver) first. The whole-call
    deadline is then checked between reads only: a real transport installed here (an
    `httpx.HTTPTransport`, perhaps with a proxy) keeps its own per-read timeouts.

    Examples:
        >>> import httpx
        >>> def answer(request: httpx.Request) -> httpx.Response:
        ...     return httpx.Response(200, json={"ok": True})
        >>> with use_transport(httpx.MockTransport(answer)):
        ...     get_json("https://api.example.test/v1", {}, service="Example")
        {'ok': True}
    """
    global _transport  # the seam is deliberately module-wide
    previous, _transport = _transport, transport
    try:
        yield
    finally:
        _transport = previous


# --------------------------------------------------------------------------- one guarded GET


@dataclass
class Exchange:
    """A response whose headers are in; `body` reads the rest, within the limits."""

    url: httpx.URL
    """The URL answered, after redirects (with the host name, not the address)."""
    response: httpx.Response
    """The response, streaming: the body is read by `body` only."""
    deadline: float
    """The `time.monotonic()` at which the whole call ends."""

    def body(self, max_bytes: int) -> tuple[bytes, bool]:
        """At most `max_bytes` of the decoded body, and whether there was more.

        Raises:
            httpx.DecodingError: The body is not in a compression this reads, or corrupt.
            httpx.TimeoutException: The whole call's time ran out.
        """
        if self.response.is_stream_consumed:  # made in memory (a test's), decoded by httpx
            content = self.response.content
            return content[:max_bytes], len(content) > max_bytes
        data = bytearray()
        for chunk in decoded(self.response):
            data += chunk
            if len(data) > max_bytes:
                return bytes(data[:max_bytes]), True
            _left(self.deadline)
        return bytes(data), False


@contextlib.contextmanager
def guarded_get(
    url: httpx.URL,
    *,
    guard: Guard | None,
    timeout: float,
    max_redirects: int | None,
    headers: Mapping[str, str],
) -> Iterator[Exchange]:
    """GET `url`, following at most `max_redirects` redirects (`None`: none), each one vetted.

    Yields the final response with its headers read; it is closed when the block ends. With
    `guard=None` the URL is sent as it is (to a transport installed by `use_transport`).

    Raises:
        UnsafeURL: The guard refused the URL, or a redirect's target.
        httpx.TooManyRedirects: More than `max_redirects` redirects.
        httpx.HTTPError: Any other failure; `httpx.TimeoutException` when time ran out.
    """
    deadline = time.monotonic() + timeout
    transport = _transport or DeadlineTransport(deadline)
    try:
        current, hops = url, 0
        while True:
            try:
                response = _send(transport, current, guard, headers, deadline)
            except UnsafeURL as exc:
                if current is url:
                    raise
                raise UnsafeURL(f"{url} redirects to {current}. {exc.message}") from None
            location = response.headers.get("location")
            if max_redirects is None or not (response.is_redirect and location):
                try:
                    yield Exchange(current, response, deadline)
                finally:
                    response.close()
                return
            response.close()
            if hops == max_redirects:
                raise httpx.TooManyRedirects(f"more than {max_redirects} redirects")
            hops += 1
            current = _follow(url, current, location)
    finally:
        if transport is not _transport:
            transport.close()


def _send(
    transport: httpx.BaseTransport,
    url: httpx.URL,
    guard: Guard | None,
    headers: Mapping[str, str],
    deadline: float,
) -> httpx.Response:
    """Send to the addresses `guard` found for `url`, in order, until one connects.

    The request goes straight to the transport: no cookies, no authentication, and no
    `httpx.Client` reading a redirect's `Location` before it is vetted here.
    """
    left = _left(deadline)
    limits = {name: min(value or left, left) for name, value in TIMEOUT.as_dict().items()}
    extensions: dict[str, Any] = {"timeout": limits}
    common = {"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING, **headers}
    if guard is None:
        return _sent(transport, httpx.Request("GET", url, headers=common, extensions=extensions))
    host = url.raw_host.decode("ascii")
    try:
        addresses = guard.vet(url, timeout=left)
    except TimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc)) from None
    if url.scheme == "https":
        extensions["sni_hostname"] = host
    for number, address in enumerate(addresses, 1):
        request = httpx.Request(
            "GET",
            url.copy_with(host=str(address)),
            headers={"Host": url.netloc.decode("ascii"), **common},
            extensions=extensions,
        )
        try:
            return _sent(transport, request)
        except httpx.ConnectError:
            if number == len(addresses):
                raise
    raise AssertionError("unreachable: vet() returns at least one address")


def _sent(transport: httpx.BaseTransport, request: httpx.Request) -> httpx.Response:
    response = transport.handle_request(request)
    response.request = request
    return response


def _follow(start: httpx.URL, current: httpx.URL, location: str) -> httpx.URL:
    """Where a redirect leads, if its form is one the guard accepts."""
    shown = location if len(location) <= 200 else location[:200] + "..."
    try:
        return parse_url(str(current.join(location)))
    except UnsafeURL as exc:
        raise UnsafeURL(f"{start} redirects to {shown!r}. {exc.message}") from None
    except (httpx.InvalidURL, ValueError, TypeError):
        raise UnsafeURL(f"{start} redirects to {shown!r}, which is not a valid URL.") from None


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpx.ReadTimeout("the time for the whole request is up")
    return left


# --------------------------------------------------------------------------- JSON services


def get_json(
    url: str,
    params: Mapping[str, str | int | float],
    *,
    service: str,
    follow_redirects: bool = True,
    ok_statuses: tuple[int, ...] = (),
    max_bytes: int = JSON_MAX_BYTES,
    timeout: float = JSON_TIMEOUT,
    guard: Guard | None = None,
) -> Any:
    """GET `url` and return its JSON body; any failure becomes a `ServiceError`.

    The request is guarded like `fetch_url`'s (every redirect hop checked, one deadline for
    the whole call, the body capped), except under `use_transport` without a `guard`.

    Args:
        url: The endpoint.
        params: The query string.
        service: The service's name, for error texts ("Open-Meteo").
        follow_redirects: Follow redirects (the services' own, for example Wikipedia's from a
            redirect page to its target), at most five.
        ok_statuses: Error statuses whose JSON body the caller reads itself (a 404 that means
            "no such page").
        max_bytes: Most bytes of the reply (decoded); a longer one is a `ServiceError`.
        timeout: Seconds the whole call may take.
        guard: Where requests may go; by default public addresses on the usual ports.

    Raises:
        ServiceError: The service is unreachable, too slow, answered with an error status,
            sent too much or something that is not JSON, or led somewhere the guard refused.
    """
    if guard is None and _transport is None:
        guard = Guard()
    try:
        with guarded_get(
            httpx.URL(url, params=params),
            guard=guard,
            timeout=timeout,
            max_redirects=5 if follow_redirects else None,
            headers={"Accept": "application/json"},
        ) as exchange:
            response = exchange.response
            if response.is_error and response.status_code not in ok_statuses:
                body, _ = exchange.body(10_000)
                raise ServiceError(
                    f"{service} answered HTTP {response.status_code} {response.reason_phrase}"
                    f"{_reason(body)}."
                )
            body, cut = exchange.body(max_bytes)
    except UnsafeURL as exc:
        raise ServiceError(f"{service} could not be asked: {exc.message}") from None
    except httpx.TimeoutException as exc:
        raise ServiceError(f"{service} did not answer in time; try again later.") from exc
    except httpx.TransportError as exc:  # not the model's fault: say what the user can check
        raise ServiceError(f"{service} could not be reached: no network? ({exc})") from exc
    except httpx.HTTPError as exc:
        raise ServiceError(f"{service} is unreachable ({type(exc).__name__}: {exc}).") from exc
    if cut:
        raise ServiceError(f"{service} sent a reply of more than {max_bytes} bytes; not read.")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ServiceError(f"{service} sent a reply that is not JSON.") from exc


def _reason(body: bytes) -> str:
    """The error's own explanation, when the body gives one (`{"reason": ...}` and the like)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    if isinstance(data, dict):
        for key in ("reason", "detail", "message", "error"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return f": {value[:200]}"
    return ""
