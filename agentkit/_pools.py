"""The connection pools `ChatClient` makes: their sizes, one TLS context, one pool set a loop.

The sync driver uses one `httpx.Client`, whose connections send a request's head and its
body in one write (`_joined`). The async driver spreads its requests over `ASYNC_POOLS`
small pools per event loop (`AsyncPools`): on asyncio with no proxy in the environment,
`_h1` transports that requests are handed to directly (`AsyncPools.send`); else
`httpx.AsyncClient`s, on asyncio with `_h1`'s transport, under trio with httpx's own and
`_joined`'s connections. Clients the user passes in are used as they are; these are only
the ones agentkit makes.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import urllib.request
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, TypeAlias

import httpx

if TYPE_CHECKING:
    from ._h1 import AsyncH1Transport

__all__ = [
    "ASYNC_POOLS",
    "ASYNC_POOL_LIMITS",
    "POOL_LIMITS",
    "AsyncPools",
    "current_loop",
    "tls_context",
]

#: HTTP/1.1 holds one connection per request in flight, for the whole stream (seconds to
#: minutes). Batch jobs run 64-256 requests at once; httpx's default of 100 connections would
#: make the rest queue for the pool. Idle connections kept: enough for a burst to find warm
#: TLS sessions, few enough not to hold hundreds of sockets open between batches.
POOL_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)
#: The async driver spreads requests over this many pools (see `AsyncPools`), each with
#: these limits: 512 connections in all, 128 of them kept when idle.
ASYNC_POOLS = 16
ASYNC_POOL_LIMITS = httpx.Limits(
    max_connections=32, max_keepalive_connections=8, keepalive_expiry=30
)


def current_loop() -> object:
    """The running asyncio loop, or `None` under another async library (trio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS settings of every pool agentkit makes, made once per process.

    httpx makes a new context for each client, loading the CA certificates each time: 20 ms
    of CPU and 1 MiB, 16 times over for the async pools of every event loop. The context
    honours `SSL_CERT_FILE` and `SSL_CERT_DIR` as set when the first pool is made.
    """
    return httpx.create_ssl_context()


def sync_client() -> httpx.Client:
    """A new pooled client for the sync driver."""
    from ._joined import join_writes  # httpcore, h11 and anyio: imported when first used

    client = httpx.Client(limits=POOL_LIMITS, verify=tls_context())
    join_writes(client._transport)  # type: ignore[arg-type]
    return client


def async_transport() -> AsyncH1Transport:
    """A new pool of the async driver on asyncio, sent to directly (see `AsyncPools.send`)."""
    from ._h1 import AsyncH1Transport

    return AsyncH1Transport(limits=ASYNC_POOL_LIMITS, ssl_context=tls_context())


def _env_proxies() -> bool:
    """Whether the environment names a proxy, which httpx's clients would mount.

    httpx reads the same `urllib.request.getproxies()` (`HTTP_PROXY`, `HTTPS_PROXY`,
    `ALL_PROXY`, their lower-case forms); `NO_PROXY` alone routes nothing.
    """
    return any(key in ("http", "https", "all") for key in urllib.request.getproxies())


def async_client() -> httpx.AsyncClient:
    """A new pool of the async driver (one of `AsyncPools`).

    On asyncio its transport is `_h1`'s; under another async library (trio) httpx's own,
    with `_joined`'s connections. The client is made without a transport and given its own
    afterwards: httpx mounts its proxy transports for `HTTP_PROXY`, `HTTPS_PROXY`,
    `ALL_PROXY` and `NO_PROXY` only when it is not given one (so do `sync_client`'s).
    """
    client = httpx.AsyncClient(limits=ASYNC_POOL_LIMITS, verify=tls_context())
    if current_loop() is not None:
        client._transport = async_transport()
    else:
        from ._joined import join_writes

        join_writes(client._transport)  # type: ignore[arg-type]
    return client


#: One of `AsyncPools`' pools: a transport sent to directly, or an httpx client.
Pool: TypeAlias = "AsyncH1Transport | httpx.AsyncClient"


class AsyncPools:
    """The async connection pools of one event loop, the least busy used first.

    httpcore's pool scans all its connections for every request it places, and again for
    every idle one, which grows with the square of the connections: at 64 requests in flight
    one pool spent 15 ms of CPU per request, against 1.7 ms when the same requests were
    spread over 8 pools (measured against the loopback server). So the async driver keeps
    `ASYNC_POOLS` small pools and sends each attempt through the one with the fewest
    requests in flight (the first on a tie, so one-at-a-time use keeps one warm connection).
    `_h1`'s pool does the same work for one connection or 500, and one pool of it measured
    no faster than 16 (1.24-1.32 against 1.20-1.21 ms of CPU an item at 64 in flight), so
    asyncio keeps the 16 that trio, on httpcore, still needs: one mechanism for both.
    """

    __slots__ = ("busy", "clients", "cookies", "direct", "keeper", "loop")

    def __init__(self, loop: object) -> None:
        self.loop = loop
        self.clients: list[Pool | None] = [None] * ASYNC_POOLS
        self.busy = [0] * ASYNC_POOLS
        self.keeper: AsyncGenerator[None, None] | None = None
        # On asyncio with no proxy to go through, the pools are `_h1`'s transports, sent to
        # directly (`send`); else httpx clients, which mount the proxies' transports.
        self.direct = loop is not None and not _env_proxies()
        self.cookies = httpx.Cookies()  # the direct pools' jar: one for all 16

    async def watch_loop(self) -> None:
        """Close the pools when their event loop shuts down, unless `aclose()` came first.

        `asyncio.run()` (and trio) finalize the async generators still open as the loop
        ends, so a generator parked at its `yield` is a hook into the loop's shutdown: a
        script that runs `asyncio.run(agent.arun(...))` and never calls `aclose()` does not
        leave sockets open.
        """

        async def keeper() -> AsyncGenerator[None, None]:
            try:
                yield
            finally:
                await self._close_clients()

        self.keeper = keeper()
        await anext(self.keeper)

    def acquire(self) -> tuple[int, Pool]:
        """The least busy pool (made on first use), counted as one request busier."""
        index = self.busy.index(min(self.busy))
        self.busy[index] += 1
        pool = self.clients[index]
        if pool is None:
            pool = self.clients[index] = async_transport() if self.direct else async_client()
        return index, pool

    async def send(self, transport: AsyncH1Transport, request: httpx.Request) -> httpx.Response:
        """Send `request` straight to one of the direct pools; its response, body unread.

        What `httpx.AsyncClient.send` would add for these requests is done here, no more:
        the cookies (a server's `Set-Cookie` is kept and sent back, as httpx's jar does)
        and the link from the response to its request. Its other steps (authentication,
        redirects, event hooks, choosing a mounted transport) have nothing to do for
        agentkit's requests, and cost about 13 % of a batch's CPU an item at 64 in flight
        (the cookie jar alone 6 %: it wraps every response for `http.cookiejar`, cookies or
        not).
        """
        if self.cookies:
            self.cookies.set_cookie_header(request)
        response = await transport.handle_async_request(request)
        response.request = request
        if "set-cookie" in response.headers:
            self.cookies.extract_cookies(response)
        return response

    def release(self, index: int) -> None:
        """The request sent through pool `index` is done."""
        self.busy[index] -= 1

    async def aclose(self) -> None:
        """Close every pool made (now, not when the loop ends)."""
        if self.keeper is not None:
            await self.keeper.aclose()  # its `finally` runs `_close_clients`
        else:
            await self._close_clients()

    async def _close_clients(self) -> None:
        clients, self.clients = self.clients, [None] * ASYNC_POOLS
        for client in clients:
            if client is not None:
                await client.aclose()
