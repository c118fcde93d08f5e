"""One HTTP/1.1 connection of `_h1`'s pools: an `asyncio.Protocol` and the request on it.

asyncio calls the protocol as bytes arrive (they wait in the `ResponseReader`'s buffer, at
most `READ_LIMIT` before the socket is paused), as the server closes its side, and as the
socket's send buffer fills and drains; the task that sends a request and reads its answer
waits on one future for the next of these. An idle connection tells its pool (`Owner`) at
once when the server closes it or sends bytes nobody asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, Mapping
from typing import Any, Protocol

import httpx

from ._h1wire import Head, ProtocolError, ResponseReader

__all__ = ["JOIN_LIMIT", "READ_LIMIT", "Connection", "Owner", "wake"]


class Owner(Protocol):
    """The pool a connection belongs to."""

    def lost(self, connection: Connection) -> None:
        """The idle `connection` was closed, or can no longer be trusted."""


#: Unread response bytes held before the connection stops reading from its socket (the
#: server then waits: back-pressure); reading resumes when the body's reader wants more.
READ_LIMIT = 256 * 1024
#: A request's head and body go out as one write, unless the body is larger than this.
JOIN_LIMIT = 1 << 20


class Connection(asyncio.Protocol):
    """One connection: the bytes that arrived, and a future for the task waiting for more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, origin: Owner) -> None:
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
        wake(self.waiter, True)

    def eof_received(self) -> bool:
        self.ended = True
        wake(self.waiter, True)
        if self.idle:
            self.origin.lost(self)
        return False  # asyncio closes the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self.error = exc
        wake(self.waiter, True)
        wake(self.drain, True)
        if self.idle:
            self.origin.lost(self)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        wake(self.drain, True)

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

    async def exchange(
        self,
        head: bytes,
        body: bytes | AsyncIterable[bytes],
        chunked: bool,
        head_request: bool,
        timeouts: Mapping[str, Any],
        request: httpx.Request | None,
    ) -> Head:
        """Send a request; return its response's head (the body is read with `read_body`)."""
        # As httpcore: after a failed write, read; the server may have answered (a 413).
        with contextlib.suppress(httpx.WriteError):
            await self._send(head, body, chunked, timeouts, request)
        reader = self.reader
        while True:
            try:
                answer = reader.head(head_request)
            except ProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from None
            if answer is not None:
                return answer
            if self.ended:
                self._raise_ended(request, "Server disconnected without sending a response.")
            await self._more(timeouts.get("read"), request)

    async def read_body(self, request: httpx.Request | None, timeouts: Mapping[str, Any]) -> bytes:
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

    def _raise_ended(self, request: httpx.Request | None, nothing_read: str) -> None:
        if self.error is not None:
            raise httpx.ReadError(str(self.error) or type(self.error).__name__, request=request)
        if nothing_read and not self.reader.buffer:
            raise httpx.RemoteProtocolError(nothing_read, request=request)
        raise httpx.RemoteProtocolError(
            "The server closed the connection before the response head was complete.",
            request=request,
        )

    async def _more(self, timeout: float | None, request: httpx.Request | None) -> None:
        """Wait until more bytes arrive or the connection ends."""
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self.transport.resume_reading()
        self.waiter = self.loop.create_future()
        try:
            arrived = await self._until(self.waiter, timeout)
        finally:
            self.waiter = None
        if not arrived:
            raise httpx.ReadTimeout(f"Nothing was read for {timeout} s.", request=request)

    async def _until(self, future: asyncio.Future[bool], timeout: float | None) -> bool:
        """What a callback sets `future` to (`wake`), or `False` once `timeout` has passed."""
        timer = None if timeout is None else self.loop.call_later(timeout, wake, future, False)
        try:
            return await future
        finally:
            if timer is not None:
                timer.cancel()

    async def _send(
        self,
        head: bytes,
        body: bytes | AsyncIterable[bytes],
        chunked: bool,
        timeouts: Mapping[str, Any],
        request: httpx.Request | None,
    ) -> None:
        if isinstance(body, bytes):
            if len(body) > JOIN_LIMIT:
                await self._write(head, timeouts, request)
                await self._write(body, timeouts, request)
            else:
                await self._write(head + body, timeouts, request)
            return
        held = head  # sent with the first piece of the body
        async for piece in body:
            if not piece:
                continue
            if chunked:
                piece = b"%x\r\n%s\r\n" % (len(piece), piece)
            await self._write(held + piece, timeouts, request)
            held = b""
        await self._write(held + (b"0\r\n\r\n" if chunked else b""), timeouts, request)

    async def _write(
        self, data: bytes, timeouts: Mapping[str, Any], request: httpx.Request | None
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
        self.drain = self.loop.create_future()
        try:
            room = await self._until(self.drain, timeout)
        finally:
            self.drain = None
        if not room:
            raise httpx.WriteTimeout(f"Nothing could be written for {timeout} s.", request=request)
        if self.ended:
            raise httpx.WriteError("The server closed the connection.", request=request)


def wake(future: asyncio.Future[Any] | None, value: object) -> None:
    if future is not None and not future.done():
        future.set_result(value)
