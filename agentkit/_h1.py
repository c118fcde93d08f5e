"""An HTTP/1.1 transport for httpx on asyncio's own protocols: the async pools' connections.

httpx's default async transport runs each request through httpcore's pool, h11's state
machine and anyio's streams (a lock, a cancel scope and a checkpoint per read and write):
about 40 % of a batch's CPU at 64 requests in flight, with one request per item. This
transport keeps httpx above it (requests, headers, decoding, the proxy mounts) and does the
rest in one layer: a keep-alive pool per origin, an `asyncio.Protocol` per connection, and
the strict parser of `_h1wire`. Each request's head and body leave in one write.

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
import contextlib
import ssl
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from ._h1wire import Head, ProtocolError, ResponseReader, request_head

__all__ = ["AsyncH1Transport"]

#: Unread response bytes held before the connection stops reading from its socket (the
#: server then waits: back-pressure); reading resumes when the body's reader wants more.
READ_LIMIT = 256 * 1024
#: A request's head and body go out as one write, unless the body is larger than this.
JOIN_LIMIT = 1 << 20

_DEFAULT_PORTS = {b"http": 80, b"https": 443}


class _Connection(asyncio.Protocol):
    """One connection: the bytes that arrived, and a future for the task waiting for more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: _Origin) -> None:
        self.loop = loop
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.reader = ResponseReader()
        self.waiter: asyncio.Future[bool] | None = None  # a read waiting for bytes
        self.drain: asyncio.Future[bool] | None = None  # a write waiting for room
        self.ended = False  # the server closed its side, or the connection was lost
        self.error: BaseException | None = None  # why it was lost, if by an error
        self.reading_paused = False
        self.writing_paused = False
        self.idle = False  # in its origin's idle list
        self.idle_since = 0.0

    # ---------------------------------------------------------- asyncio's callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.idle:  # bytes no request asked for: the connection cannot be trusted
            self.origin.lost(self)
            self.abort()
            return
        buffer = self.reader.buffer
        buffer += data
        if len(buffer) > READ_LIMIT and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
        _wake(self.waiter, True)

    def eof_received(self) -> bool:
        self.ended = True
        _wake(self.waiter, True)
        if self.idle:
            self.origin.lost(self)
        return False  # asyncio closes the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        _wake(self.waiter, True)
        _wake(self.drain, True)
        if self.idle:
            self.origin.lost(self)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        _wake(self.drain, True)

    # ---------------------------------------------------------- used by the transport

    def usable(self) -> bool:
        """Whether an idle connection can carry a request (open, nothing unasked-for read)."""
        transport = self.transport
        return not (self.ended or self.reader.buffer or transport is None or transport.is_closing())

    def abort(self) -> None:
        """Close the connection now (what is unsent is dropped)."""
        self.ended = True
        if self.transport is not None:
            self.transport.abort()

    async def exchange(self, request: httpx.Request, timeouts: Mapping[str, Any]) -> Head:
        """Send `request`; return its response's head (the body is read with `read_body`)."""
        # As httpcore: after a failed write, read; the server may have answered (a 413).
        with contextlib.suppress(httpx.WriteError):
            await self._send(request, timeouts)
        reader = self.reader
        head_request = request.method == "HEAD"
        while True:
            try:
                head = reader.head(head_request)
            except ProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if head is not None:
                return head
            if self.ended:
                self._raise_ended(request, "Server disconnected without sending a response.")
            await self._more(timeouts.get("read"), request)

    async def read_body(self, request: httpx.Request, timeouts: Mapping[str, Any]) -> bytes:
        """The next bytes of the body; `b""` once it has ended."""
        reader = self.reader
        while True:
            try:
                data = reader.body()
            except ProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if data or reader.done:
                return data
            if self.ended:
                if self.error is not None:
                    self._raise_ended(request, "")
                try:
                    reader.closed()
                except ProtocolError as exc:
                    raise httpx.RemoteProtocolError(str(exc), request=request) from None
                return b""  # a body that the end of the connection ends
            await self._more(timeouts.get("read"), request)

    def _raise_ended(self, request: httpx.Request, nothing_read: str) -> None:
        if self.error is not None:
            raise httpx.ReadError(str(self.error) or type(self.error).__name__, request=request)
        if nothing_read and not self.reader.buffer:
            raise httpx.RemoteProtocolError(nothing_read, request=request)
        raise httpx.RemoteProtocolError(
            "The server closed the connection before the response head was complete.",
            request=request,
        )

    async def _more(self, timeout: float | None, request: httpx.Request) -> None:
        """Wait until more bytes arrive or the connection ends."""
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        waiter = self.waiter = self.loop.create_future()
        timer = None if timeout is None else self.loop.call_later(timeout, _wake, waiter, False)
        try:
            arrived = await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        if not arrived:
            raise httpx.ReadTimeout(f"Nothing was read for {timeout} s.", request=request)

    async def _send(self, request: httpx.Request, timeouts: Mapping[str, Any]) -> None:
        url = request.url
        try:
            head = request_head(request.method.encode(), url.raw_path, request.headers.raw)
        except ValueError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from None
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body
            await self._send_stream(head, request, timeouts)
            return
        if len(body) > JOIN_LIMIT:
            await self._write(head, timeouts, request)
            await self._write(body, timeouts, request)
        else:
            await self._write(head + body, timeouts, request)

    async def _send_stream(
        self, head: bytes, request: httpx.Request, timeouts: Mapping[str, Any]
    ) -> None:
        chunked = "content-length" not in request.headers
        held = head  # sent with the first piece of the body
        async for piece in request.stream:  # type: ignore[union-attr]
            if not piece:
                continue
            if chunked:
                piece = b"%x\r\n%s\r\n" % (len(piece), piece)
            await self._write(held + piece, timeouts, request)
            held = b""
        await self._write(held + (b"0\r\n\r\n" if chunked else b""), timeouts, request)

    async def _write(
        self, data: bytes, timeouts: Mapping[str, Any], request: httpx.Request
    ) -> None:
        transport = self.transport
        if self.ended or transport is None or transport.is_closing():
            raise httpx.WriteError("The server closed the connection.", request=request)
        if not data:
            return
        transport.write(data)
        if not self.writing_paused:
            return
        timeout = timeouts.get("write")
        drain = self.drain = self.loop.create_future()
        timer = None if timeout is None else self.loop.call_later(timeout, _wake, drain, False)
        try:
            room = await drain
        finally:
            self.drain = None
            if timer is not None:
                timer.cancel()
        if not room:
            raise httpx.WriteTimeout(f"Nothing could be written for {timeout} s.", request=request)
        if self.ended:
            raise httpx.WriteError("The server closed the connection.", request=request)


def _wake(future: asyncio.Future[Any] | None, value: object) -> None:
    if future is not None and not future.done():
        future.set_result(value)


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
        self, loop: asyncio.AbstractEventLoop, limits: httpx.Limits, connections: set[_Connection]
    ) -> None:
        self.loop = loop
        self.limit = limits.max_connections
        self.keep = limits.max_keepalive_connections
        self.expiry = limits.keepalive_expiry
        self.idle: deque[_Connection] = deque()
        self.count = 0
        self.waiters: deque[asyncio.Future[object]] = deque()
        self.connections = connections  # every open connection of the transport
        self.closed = False  # the transport was closed: nothing is kept any more

    async def acquire(self, timeout: float | None, request: httpx.Request) -> _Connection | None:
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

    async def _wait(self, timeout: float | None, request: httpx.Request) -> _Connection | None:
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
        if isinstance(given, _Connection):
            return given
        return None

    def release(self, connection: _Connection | None, reusable: bool) -> None:
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
        if isinstance(given, _Connection):
            given.idle = True
            given.idle_since = self.loop.time()
            self.idle.append(given)
            if self.keep is not None and len(self.idle) > self.keep:
                self._drop(self.idle.popleft())
        else:
            self.count -= 1

    def _drop(self, connection: _Connection) -> None:
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
            _wake(self.waiters.popleft(), _CLOSED)

    def lost(self, connection: _Connection) -> None:
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
        connection: _Connection,
        origin: _Origin,
        request: httpx.Request,
        timeouts: Mapping[str, Any],
        keep_alive: bool,
    ) -> None:
        self.connection: _Connection | None = connection
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
        self._connections: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"Unsupported URL scheme {scheme!r}.", request=request)
        if self._closed:
            raise RuntimeError("The transport is closed.")
        port = url.port or _DEFAULT_PORTS[scheme]
        key = (scheme, url.raw_host, port)
        timeouts: Mapping[str, Any] = request.extensions.get("timeout") or {}
        origin = self._origins.get(key)
        if origin is None:
            loop = asyncio.get_running_loop()
            origin = self._origins[key] = _Origin(loop, self._limits, self._connections)
        connection = await origin.acquire(timeouts.get("pool"), request)
        try:
            if connection is None:
                connection = await self._connect(origin, key, request, timeouts)
            head = await connection.exchange(request, timeouts)
        except BaseException:
            origin.release(connection, reusable=False)
            raise
        asked = request.headers.get("connection")
        keep_alive = head.keep_alive and (asked is None or "close" not in asked.lower())
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=_Body(connection, origin, request, timeouts, keep_alive),
            extensions={"http_version": head.version, "reason_phrase": head.reason},
        )

    async def _connect(
        self,
        origin: _Origin,
        key: tuple[bytes, bytes, int],
        request: httpx.Request,
        timeouts: Mapping[str, Any],
    ) -> _Connection:
        scheme, host, port = key
        tls = self._ssl_context if scheme == b"https" else None
        if scheme == b"https" and tls is None:
            tls = ssl.create_default_context()
        connection = _Connection(origin.loop, origin)
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
