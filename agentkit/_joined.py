"""One write a request: the connections of the pools agentkit makes (`_pools`).

httpcore writes an HTTP/1.1 request in pieces: the head, then each chunk of the body. Each
piece is a system call (`send`), and on asyncio a trip through anyio's stream (a lock, a
cancel scope, a checkpoint); the server wakes up and reads once per piece too. A chat
request is a head and one body of known length, so joining the two halves the writes of
every request agentkit sends (a batch at 64 in flight, one request an item: 3 sends an item
become 2, the third being the event loop's own wake-up, and about 8 % less CPU an item).

The rule, the same for sync and async streams: the first write after a read (a request's
head) is held; the next write goes out with it, in one call, and writes after that go out
as they come (a streamed body is not held back beyond its first chunk). A read sends what
is held first, so a request without a body goes out when its answer is awaited. This fits
HTTP/1.1's request-then-response order, the only protocol these pools speak (HTTP/2,
where one stream's read could wait while another's write is held, is not enabled).

The pools' streams also answer httpcore's "is the idle connection readable?" check
(asked for every idle connection each time the pool places a request) with one `poll` on
the socket, found once, where anyio rebuilds a table of its attributes for every ask.
"""

from __future__ import annotations

import contextlib
import select
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx


def join_writes(transport: httpx.HTTPTransport | httpx.AsyncHTTPTransport) -> None:
    """Make the connections of `transport` join each request's head and body (see above).

    httpx has no public way to give its transport a network backend; httpcore's pool keeps
    it in `_network_backend` (since httpcore 0.14). If that ever changes, the transport is
    left as it is (`tests/test_pools.py` notices).
    """
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.AsyncNetworkBackend):
        pool._network_backend = _JoinedAsyncBackend(backend)  # type: ignore[union-attr]
    elif isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _JoinedBackend(backend)  # type: ignore[union-attr]


def _readable(sock: Any) -> bool:
    """Whether a read of `sock` would return at once (data, or the end): httpcore's check."""
    if sock is None or sock.fileno() < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([sock], [], [], 0)[0])
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


#: A held head and a body chunk larger than this go out as two writes, not joined (copying
#: a large upload to save one system call is not worth it).
JOIN_LIMIT = 1 << 20


class _Joined:
    """What the sync and async streams share: the held bytes and the socket."""

    __slots__ = ("_fresh", "_held", "_socket", "_stream")

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._held = b""
        self._fresh = True  # nothing written since the last read: hold the next write
        # A `socket.socket`, or asyncio's and trio's wrappers of one: what has a `fileno()`.
        sock = stream.get_extra_info("socket")
        self._socket = sock if callable(getattr(sock, "fileno", None)) else None

    def _pieces(self, buffer: bytes) -> tuple[bytes, ...]:
        """What to write now for `buffer` (nothing: it is held)."""
        if self._fresh:
            self._fresh = False
            self._held = buffer
            return ()
        held, self._held = self._held, b""
        if not held:
            return (buffer,)
        if len(buffer) > JOIN_LIMIT:
            return (held, buffer)
        return (held + buffer,)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._socket is not None:
            return _readable(self._socket)
        return self._stream.get_extra_info(info)


class _JoinedStream(_Joined, httpcore.NetworkStream):
    """A sync connection that sends a request's head with its body."""

    __slots__ = ()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._send_held(timeout)
        self._fresh = True
        return self._stream.read(max_bytes, timeout)  # type: ignore[no-any-return]

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            for piece in self._pieces(buffer):
                self._stream.write(piece, timeout)

    def _send_held(self, timeout: float | None) -> None:
        held, self._held = self._held, b""
        if held:
            # As httpcore does: the read that follows gets the server's answer, or its error.
            with contextlib.suppress(httpcore.WriteError):
                self._stream.write(held, timeout)

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._send_held(timeout)
        return _JoinedStream(self._stream.start_tls(ssl_context, server_hostname, timeout))


class _JoinedAsyncStream(_Joined, httpcore.AsyncNetworkStream):
    """An async connection that sends a request's head with its body."""

    __slots__ = ()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._send_held(timeout)
        self._fresh = True
        return await self._stream.read(max_bytes, timeout)  # type: ignore[no-any-return]

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            for piece in self._pieces(buffer):
                await self._stream.write(piece, timeout)

    async def _send_held(self, timeout: float | None) -> None:
        held, self._held = self._held, b""
        if held:
            # As httpcore does: the read that follows gets the server's answer, or its error.
            with contextlib.suppress(httpcore.WriteError):
                await self._stream.write(held, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        await self._send_held(timeout)
        stream = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _JoinedAsyncStream(stream)


class _JoinedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, its connections wrapped in `_JoinedStream`."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _JoinedStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _JoinedStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class _JoinedAsyncBackend(httpcore.AsyncNetworkBackend):
    """httpcore's async backend, its connections wrapped in `_JoinedAsyncStream`."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _JoinedAsyncStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _JoinedAsyncStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
