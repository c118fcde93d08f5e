"""An HTTP/1.1 transport for httpx on asyncio's own protocols: the async pools' connections.

httpx's default async transport runs each request through httpcore's pool, h11's state
machine and anyio's streams (a lock, a cancel scope and a checkpoint per read and write):
about 40 % of a batch's CPU at 64 requests in flight, with one request per item. This
transport keeps httpx above it (requests, headers, decoding, the proxy mounts) and does the
rest in one layer: a keep-alive pool per origin (here), an `asyncio.Protocol` per
connection (`_h1conn`), and the strict parser of `_h1wire`. Each request's head and body
leave in one write. `AsyncH1Transport.exchange` is the same below httpx: a request's head
as bytes in, a `RawResponse` out.

It raises httpx's own exceptions, with httpcore's meanings (`_translate` reads them):

| what happened                                        | raised                  |
|------------------------------------------------------|-------------------------|
| no free connection within the `pool` limit           | `httpx.PoolTimeout`     |
| refused, unresolved, TLS handshake failed            | `httpx.ConnectError`    |
| the connection not made within `connect`             | `httpx.ConnectTimeout`  |
| a write (of a large body) stalled past `write`       | `httpx.WriteTimeout`    |
| nothing read within `read` (a backstop: the Watchdog | `httpx.ReadTimeout`     |
| of `_body` holds the precise limits)                 |                         |
| the connection reset while reading                   | `httpx.ReadError`       |
| closed before or during the response, or a reply     | `httpx.RemoteProtocolError` |
| that is not HTTP/1.1                                 |                         |

As in httpcore, a request whose write fails is still answered if the server answered (a
413 sent before reading the body), and a kept-alive connection that the server closed
after it was picked fails with `RemoteProtocolError` (`_policy` decides on a retry). A
connection goes back to its pool only when its response was read to the end and both
sides allow another request; one given up midway (an error, a cancelled task) is aborted.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

import httpx

from ._h1conn import Connection, wake
from ._h1wire import Head, request_head

__all__ = ["AsyncH1Transport", "RawResponse"]

_DEFAULT_PORTS = {b"http": 80, b"https": 443}


#: What a request waiting for its origin's pool is given: an idle connection, a slot to
#: open a new one (`_SLOT`), nothing in time (`_EXPIRED`), or the end (`_CLOSED`).
_SLOT, _EXPIRED, _CLOSED = "slot", "expired", "closed"


class _Origin:
    """The pool of one (scheme, host, port).

    Its idle connections (the newest used first), the count of those open or opening, and
    the requests waiting for one.
    """

    __slots__ = (
        "closed",
        "connections",
        "count",
        "expiry",
        "idle",
        "keep",
        "limit",
        "loop",
        "waiters",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, limits: httpx.Limits, connections: set[Connection]
    ) -> None:
        self.loop = loop
        self.limit = limits.max_connections
        self.keep = limits.max_keepalive_connections
        self.expiry = limits.keepalive_expiry
        self.idle: deque[Connection] = deque()
        self.count = 0
        self.waiters: deque[asyncio.Future[object]] = deque()
        self.connections = connections  # every open connection of the transport
        self.closed = False  # the transport was closed: nothing is kept any more

    async def acquire(
        self, timeout: float | None, request: httpx.Request | None
    ) -> Connection | None:
        """An idle connection, or `None`: a slot counted for the caller to open one.

        Raises:
            httpx.PoolTimeout: No connection came free within `timeout` seconds.
        """
        idle = self.idle
        if idle and self.expiry is not None:
            oldest = self.loop.time() - self.expiry
            while idle and idle[0].idle_since < oldest:
                self._drop(idle.popleft())
        while idle:
            connection = idle.pop()
            connection.idle = False
            if connection.usable():
                return connection
            self._drop(connection)
        if self.limit is None or self.count < self.limit:
            self.count += 1
            return None
        return await self._wait(timeout, request)

    async def _wait(
        self, timeout: float | None, request: httpx.Request | None
    ) -> Connection | None:
        waiter: asyncio.Future[object] = self.loop.create_future()
        self.waiters.append(waiter)
        timer = None
        if timeout is not None:
            timer = self.loop.call_later(timeout, _expire, waiter)
        try:
            given = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give(waiter.result())  # given as the task was cancelled: pass it on
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if given is _EXPIRED:
            raise httpx.PoolTimeout(f"No connection came free within {timeout} s.", request=request)
        if given is _CLOSED:
            raise httpx.ConnectError("The pool closed while the request waited.", request=request)
        if isinstance(given, Connection):
            return given
        return None

    def release(self, connection: Connection | None, reusable: bool) -> None:
        """A request is done with `connection` (`None`: with a slot it did not use)."""
        if connection is not None and reusable and connection.usable() and not self.closed:
            self._give(connection)
            return
        if connection is not None:
            connection.abort()
            self.connections.discard(connection)
        self._give(_SLOT)

    def _give(self, given: object) -> None:
        """Hand a connection or a slot to the first waiting request, else keep it."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(given)
                return
        if isinstance(given, Connection):
            given.idle = True
            given.idle_since = self.loop.time()
            self.idle.append(given)
            if self.keep is not None and len(self.idle) > self.keep:
                self._drop(self.idle.popleft())
        else:
            self.count -= 1

    def _drop(self, connection: Connection) -> None:
        connection.idle = False
        connection.abort()
        self.connections.discard(connection)
        self.count -= 1

    def close(self) -> None:
        """Close the idle connections; requests waiting for one fail."""
        self.closed = True
        while self.idle:
            self._drop(self.idle.pop())
        while self.waiters:
            wake(self.waiters.popleft(), _CLOSED)

    def lost(self, connection: Connection) -> None:
        """An idle connection was closed by the server: its slot is free."""
        self.idle.remove(connection)  # at most `keep` long, and only when one is lost
        connection.idle = False
        self.connections.discard(connection)
        self._give(_SLOT)


def _expire(waiter: asyncio.Future[object]) -> None:
    if not waiter.done():
        waiter.set_result(_EXPIRED)


class _Body(httpx.AsyncByteStream):
    """A response's body, read from its connection; `aclose()` gives the connection back."""

    __slots__ = ("connection", "keep_alive", "origin", "request", "timeouts")

    def __init__(
        self,
        connection: Connection,
        origin: _Origin,
        request: httpx.Request | None,
        timeouts: Mapping[str, Any],
        keep_alive: bool,
    ) -> None:
        self.connection: Connection | None = connection
        self.origin = origin
        self.request = request
        self.timeouts = timeouts
        self.keep_alive = keep_alive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self.connection
        if connection is None:
            raise httpx.StreamClosed()
        request, timeouts = self.request, self.timeouts
        while data := await connection.read_body(request, timeouts):
            yield data

    async def aclose(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            self.origin.release(connection, self.keep_alive and connection.reader.done)


class RawResponse:
    """A response as it arrived, below httpx: its head, and its body as the bytes come.

    The body is de-chunked but not content-decoded (gzip stays gzip). Iterate it once, then
    `aclose()`: the connection goes back to its pool if the body was read to its end.
    """

    __slots__ = ("body", "head")

    def __init__(self, head: Head, body: _Body) -> None:
        self.head = head
        self.body = body

    @property
    def status(self) -> int:
        """The status code."""
        return self.head.status

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.body.__aiter__()

    async def aclose(self) -> None:
        """Give the connection back (or close it, if the body was not read to its end)."""
        await self.body.aclose()


class AsyncH1Transport(httpx.AsyncBaseTransport):
    """httpx's async transport over asyncio protocols: HTTP/1.1, pooled per origin.

    Args:
        limits: Connections per origin (`max_connections`; more requests wait for one),
            idle ones kept (`max_keepalive_connections`), and for how long
            (`keepalive_expiry`).
        ssl_context: The TLS settings of `https` connections.

    Examples:
        >>> transport = AsyncH1Transport(limits=httpx.Limits(), ssl_context=None)
        >>> client = httpx.AsyncClient(transport=transport)
    """

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None) -> None:
        self._limits = limits
        self._ssl_context = ssl_context
        self._origins: dict[tuple[bytes, bytes, int], _Origin] = {}
        self._connections: set[Connection] = set()
        self._closed = False

    @staticmethod
    def origin(url: httpx.URL) -> tuple[bytes, bytes, int]:
        """The pool key of `url`: its scheme, host and port (the default one if not given).

        Raises:
            httpx.UnsupportedProtocol: Not `http` or `https`.
        """
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Unsupported URL scheme {scheme!r}.")
        return scheme, url.raw_host, url.port or _DEFAULT_PORTS[scheme]

    async def exchange(
        self,
        origin: tuple[bytes, bytes, int],
        head: bytes,
        body: bytes | AsyncIterable[bytes] = b"",
        *,
        timeouts: Mapping[str, Any],
        chunked: bool = False,
        head_request: bool = False,
        keep_alive: bool = True,
        request: httpx.Request | None = None,
    ) -> RawResponse:
        """Send a request already written as bytes; its response, below httpx.

        Args:
            origin: Where to (`origin(url)`).
            head: The request's head, its blank line included (`_h1wire.request_head`).
            body: Its body: bytes, or pieces (written chunked if `chunked`).
            timeouts: httpx's timeout extension (`connect`, `read`, `write`, `pool`), read
                again at each wait: a change of `read` applies to the next body read.
            chunked: Frame the pieces of `body` with chunked encoding.
            head_request: The request is `HEAD` (its response has no body).
            keep_alive: The connection may carry another request after this one.
            request: The `httpx.Request`, if any, that the exceptions carry.

        Raises:
            httpx.TransportError: httpx's exception for what failed (the module's table).
        """
        if self._closed:
            raise RuntimeError("The transport is closed.")
        pool = self._origins.get(origin)
        if pool is None:
            loop = asyncio.get_running_loop()
            pool = self._origins[origin] = _Origin(loop, self._limits, self._connections)
        connection = await pool.acquire(timeouts.get("pool"), request)
        try:
            if connection is None:
                connection = await self._connect(pool, origin, request, timeouts)
            answer = await connection.exchange(head, body, chunked, head_request, timeouts, request)
        except BaseException:
            pool.release(connection, reusable=False)
            raise
        keep_alive = keep_alive and answer.keep_alive
        return RawResponse(answer, _Body(connection, pool, request, timeouts, keep_alive))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        try:
            origin = self.origin(url)
            head = request_head(request.method.encode(), url.raw_path, request.headers.raw)
        except httpx.UnsupportedProtocol as exc:
            raise httpx.UnsupportedProtocol(str(exc), request=request) from None
        except ValueError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None
        body: bytes | AsyncIterable[bytes]
        chunked = False
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body
            body = request.stream  # type: ignore[assignment]
            chunked = "content-length" not in request.headers
        asked = request.headers.get("connection")
        raw = await self.exchange(
            origin,
            head,
            body,
            timeouts=request.extensions.get("timeout") or {},
            chunked=chunked,
            head_request=request.method == "HEAD",
            keep_alive=asked is None or "close" not in asked.lower(),
            request=request,
        )
        return httpx.Response(
            raw.status,
            headers=raw.head.headers,
            stream=raw.body,
            extensions={"http_version": raw.head.version, "reason_phrase": raw.head.reason},
        )

    async def _connect(
        self,
        origin: _Origin,
        key: tuple[bytes, bytes, int],
        request: httpx.Request | None,
        timeouts: Mapping[str, Any],
    ) -> Connection:
        scheme, host, port = key
        tls = self._ssl_context if scheme == b"https" else None
        if scheme == b"https" and tls is None:
            tls = ssl.create_default_context()
        connection = Connection(origin.loop, origin)
        making = origin.loop.create_connection(
            lambda: connection,
            host.decode("ascii"),
            port,
            ssl=tls,
            server_hostname=host.decode("ascii") if tls is not None else None,
        )
        timeout = timeouts.get("connect")
        try:
            await asyncio.wait_for(making, timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(
                f"No connection to {host.decode()}:{port} within {timeout} s.", request=request
            ) from None
        except OSError as exc:  # refused, unresolved, TLS: ssl.SSLError is an OSError
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        if self._closed:  # closed while this one was being made
            connection.abort()
            raise httpx.ConnectError("The pool was closed.", request=request)
        self._connections.add(connection)
        return connection

    async def aclose(self) -> None:
        """Close every connection, idle or in use; requests after this fail."""
        self._closed = True
        for origin in self._origins.values():
            origin.close()
        for connection in list(self._connections):
            connection.abort()
        self._connections.clear()
        self._origins.clear()
