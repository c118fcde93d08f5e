"""HTTP to the chat-completions service on httpx: retries, four timeouts, one error mapping.

The only module of the library that imports httpx (`agentkit.testing` is the other user).
What is decided is written once and does no IO; the sync and async drivers only send, read
and sleep as they are told:

```
ChatClient.stream() / .astream()      the two thin drivers (send, read, sleep)
├── _RetryPlan      retry this error after N seconds, or raise it; a 524 → stream instead
├── Backoff         how long to wait: retry-after-ms, Retry-After, else exponential + jitter
├── _Clock          the four timeouts of one attempt as deadlines; which one expired
├── _Reader         one response's bytes in, stream deltas out, a ModelResponse at the end
└── _translate()    the one place where httpx's exceptions become agentkit's
```

What each timeout bounds, what is retried and why: `docs/pages/reliability.md`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import ssl
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

import httpx

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    StreamError,
    TruncatedStreamError,
    UsageError,
)
from ._log import logger
from ._messages import Message, ModelResponse, StreamDelta
from ._models import ApiStyle, ModelSettings
from ._ratelimit import RateLimiter
from ._sse import ServerSentEvent, SSEDecoder
from ._tools import Tool
from ._version import __version__
from ._wire import ChunkAccumulator, build_request, parse_error, parse_response

__all__ = ["Backoff", "ChatClient", "ChatRequest", "Timeout"]

#: Where streamed requests go unless the user gives a base URL.
STREAM_BASE_URL = "https://api.goapi.xyz/v1"
#: Where non-streamed requests go unless the user gives a base URL (GoAPI's advice since
#: 2023-11-28: this domain is not behind Cloudflare's 100 s limit the same way).
PROXY_BASE_URL = "https://proxy.goapi.xyz/v1"

#: HTTP/1.1 holds one connection per request in flight, for the whole stream (seconds to
#: minutes). Batch jobs run 64-256 requests at once; httpx's default of 100 connections would
#: make the rest queue for the pool. Idle connections kept: enough for a burst to find warm
#: TLS sessions, few enough not to hold hundreds of sockets open between batches.
POOL_LIMITS = httpx.Limits(max_connections=256, max_keepalive_connections=64, keepalive_expiry=30)
#: The async driver spreads requests over this many pools (see `_AsyncPools`), each with
#: these limits: 512 connections in all, 128 of them kept when idle.
ASYNC_POOLS = 16
ASYNC_POOL_LIMITS = httpx.Limits(
    max_connections=32, max_keepalive_connections=8, keepalive_expiry=30
)

Phase: TypeAlias = Literal["connect", "first_byte", "idle", "total"]
Item: TypeAlias = "StreamDelta | ModelResponse"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """The four time limits of one attempt, in seconds (`None`: no limit).

    A number given where a `Timeout` is expected sets all four (`Timeout.uniform`), so it
    bounds the whole attempt. What each limit bounds is measured from the moment the request
    is sent, per attempt: retries and their waits start again.

    Examples:
        >>> Timeout(first_byte=30).idle
        60.0
        >>> Timeout.uniform(5)
        Timeout(connect=5.0, first_byte=5.0, idle=5.0, total=5.0)
    """

    connect: float | None = 10.0
    """Opening the connection (TCP and TLS). Slow networks and TLS need more than httpx's 5 s."""

    first_byte: float | None = 120.0
    """Until the response headers arrive and, for a stream, its first body bytes.

    A non-streamed answer arrives whole, after the model has written it; GoAPI's Cloudflare
    ends such a wait at about 100 s with a 524, which the client retries as a stream. The
    default is longer than that, so the gateway's 524 (which leads to the streamed retry) comes
    first, and a large prompt on GPT-4 still has time to produce its first token.
    """

    idle: float | None = 60.0
    """The longest wait for more body bytes (also the longest stall while sending).

    Tokens arrive every few tens of milliseconds and `: ping` comments count as bytes, so a
    minute of silence means the stream is dead.
    """

    total: float | None = 600.0
    """The whole attempt, from sending to the last byte: 4,096 tokens at a slow 10 tokens/s."""

    def __post_init__(self) -> None:
        for name in ("connect", "first_byte", "idle", "total"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise UsageError(f"Timeout.{name} must be a positive number of seconds or None.")
            if value is not None:
                object.__setattr__(self, name, float(value))

    @classmethod
    def uniform(cls, seconds: float | None) -> Timeout:
        """One limit for all four phases (so it is, in effect, the total)."""
        return cls(connect=seconds, first_byte=seconds, idle=seconds, total=seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """How long to wait between attempts, and how to wait (tests pass a recording `sleep`).

    The wait before retry `n` (0 for the first) is what the server asked for, if it said
    (`retry-after-ms`, then `Retry-After`), capped at `max_retry_after`; else
    `min(initial * 2**n, maximum)`, shortened by up to `jitter` (a fraction) at random, so
    the workers of a batch do not all come back at once.

    Examples:
        >>> Backoff(jitter=0).delay(3)
        4.0
        >>> Backoff().delay(0, retry_after=120)
        60.0
    """

    initial: float = 0.5
    """The first wait when the server did not say."""

    maximum: float = 8.0
    """The longest computed wait."""

    jitter: float = 0.25
    """The fraction of a computed wait taken off at random (0 to 1)."""

    max_retry_after: float = 60.0
    """The longest wait the server may ask for; longer requests are cut to this."""

    sleep: Callable[[float], object] = time.sleep
    """How the sync driver waits."""

    asleep: Callable[[float], Awaitable[object]] | None = None
    """How the async driver waits (default: `anyio.sleep`, which also serves trio)."""

    random: Callable[[], float] = field(default=random.random, repr=False)
    """A number in [0, 1) for the jitter."""

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        computed = min(self.initial * 2.0**retry, self.maximum)
        return computed * (1 - self.jitter * self.random())


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    """One chat-completions request, before it becomes JSON.

    Examples:
        >>> from agentkit import UserMessage
        >>> ChatRequest(model="gpt-3.5-turbo", messages=[UserMessage("Hi")]).stream
        True
    """

    model: str
    """The model name sent to the server."""

    messages: Sequence[Message]
    """The chat (`Message` values) to send."""

    functions: Sequence[Tool[..., Any]] = ()
    """The functions the model may call."""

    style: ApiStyle = "tools"
    """How functions are offered: legacy `functions` or newer `tools`."""

    settings: ModelSettings = field(default_factory=ModelSettings)
    """Temperature, max_tokens and the other optional fields."""

    tool_choice: str | None = None
    """`"auto"`, `"none"`, `"required"`, or a function name to force; `None` leaves it out."""

    output: Tool[..., Any] | None = None
    """Native structured output: a reply in this tool's strict schema (`response_format`)."""

    stream: bool = True
    """Stream the answer (the default: it avoids Cloudflare's 524 on long answers)."""


# --------------------------------------------------------------------------- retry policy


class _RetryPlan:
    """The retry decisions for one call, shared by both drivers; no IO.

    Retried: errors marked `retryable` (connection errors, timeouts, 408, 409, 429 but not
    `insufficient_quota`, 5xx, Cloudflare 520-524, broken streams; `x-should-retry`
    overrides), at most `max_retries` times, and never after output reached the caller.
    A 524 on a non-streamed request is retried at once as a streamed one.
    """

    __slots__ = ("attempt", "backoff", "max_retries", "stream")

    def __init__(self, *, max_retries: int, backoff: Backoff, stream: bool) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.stream = stream
        self.attempt = 1

    def after(self, error: APIError, *, delivered: bool) -> float | None:
        """Seconds to wait before the next attempt, or `None`: raise `error`."""
        if delivered or not error.retryable or self.attempt > self.max_retries:
            return None
        retry = self.attempt - 1
        self.attempt += 1
        if not self.stream and isinstance(error, APIStatusError) and error.status_code == 524:
            self.stream = True  # the answer took over 100 s to start; a stream starts at once
            return 0.0
        return self.backoff.delay(retry, getattr(error, "retry_after", None))


# --------------------------------------------------------------------------- one attempt


class _Clock:
    """The four timeouts of one attempt as limits and deadlines; no IO but a clock read.

    `limit()` gives the limit for the next wait and remembers its phase, so that a timeout
    reported by httpx or anyio is named after the limit that expired.
    """

    __slots__ = ("body_stream", "first_bytes", "phase", "started", "timeout")

    def __init__(self, timeout: Timeout) -> None:
        self.timeout = timeout
        self.started = time.monotonic()
        self.first_bytes: float | None = None  # when the first body bytes arrived
        self.body_stream = False  # whether the body is a stream (first_byte covers it)
        self.phase: Phase = "first_byte"

    def elapsed(self) -> float:
        """Seconds since the request was sent."""
        return time.monotonic() - self.started

    def _pick(self, limit: float | None, phase: Phase) -> float | None:
        total = self.timeout.total
        left = None if total is None else max(total - self.elapsed(), 0.0)
        if left is not None and (limit is None or left <= limit):
            limit, phase = left, "total"
        self.phase = phase
        return limit

    def httpx_timeout(self) -> httpx.Timeout:
        """Connect, headers (first byte), write stalls and the pool wait, as httpx takes them."""
        t = self.timeout
        read = self._pick(t.first_byte, "first_byte")
        return httpx.Timeout(connect=t.connect, read=read, write=t.idle, pool=t.total)

    def limit(self, *, first_byte: bool = True) -> float | None:
        """The limit for the next body read, capped by what is left of `total`.

        `first_byte` for the first bytes of a stream (unless told `first_byte=False`), else
        `idle`.
        """
        if (
            first_byte
            and self.body_stream
            and self.first_bytes is None
            and self.timeout.first_byte is not None
        ):
            left = max(self.timeout.first_byte - self.elapsed(), 0.0)
            return self._pick(left, "first_byte")
        return self._pick(self.timeout.idle, "idle")

    def got_bytes(self) -> None:
        """Note that body bytes arrived."""
        if self.first_bytes is None:
            self.first_bytes = self.elapsed()

    def over_total(self) -> bool:
        """Whether the attempt has run past its total limit."""
        total = self.timeout.total
        return total is not None and self.elapsed() > total

    def expired(self, phase: Phase | None = None) -> APITimeoutError:
        """The error for the limit of `phase` (default: the phase of the last limit given)."""
        phase = phase or self.phase
        seconds = {
            "connect": self.timeout.connect,
            "first_byte": self.timeout.first_byte,
            "idle": self.timeout.idle,
            "total": self.timeout.total,
        }[phase]
        return APITimeoutError(phase, seconds)


class _Reader:
    """One response's bytes in, stream deltas out, a `ModelResponse` at the end; no IO.

    An error status collects the body for `parse_error`; a 2xx event stream goes through the
    SSE decoder and the chunk accumulator; any other 2xx body is parsed as one JSON response
    (so a server that ignores `stream: true` still works).
    """

    __slots__ = ("_accumulator", "_body", "_decoder", "_secret", "done", "headers", "sse", "status")

    def __init__(self, status: int, headers: httpx.Headers, secret: str) -> None:
        self.status = status
        self.headers = headers
        self._secret = secret
        ok = 200 <= status < 300
        self.sse = ok and headers.get("content-type", "").startswith("text/event-stream")
        self.done = False  # `[DONE]` seen: the answer is complete whatever follows
        self._body = bytearray()
        self._decoder = SSEDecoder()
        self._accumulator = ChunkAccumulator()

    def feed(self, data: bytes) -> list[StreamDelta]:
        """Take the next bytes of the body; return the deltas they complete."""
        if not self.sse:
            self._body += data
            return []
        deltas: list[StreamDelta] = []
        for event in self._decoder.feed(data):
            deltas += self._event(event)
        return deltas

    def _event(self, event: ServerSentEvent) -> list[StreamDelta]:
        data = event.data
        if self.done or not data:
            return []
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = self._load(data)
        except ValueError:
            raise StreamError(
                f"The stream carried an event that is not JSON: {self._hide(data)[:200]!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise StreamError(
                f"The stream carried an event that is not a chunk: {self._hide(data)[:200]!r}"
            )
        return self._accumulator.add(chunk)

    def _hide(self, text: str) -> str:
        """`text` without the key: a server may echo it, and errors get logged and shown.

        Only what can end up in an error is scrubbed; answers are left as they are, so a
        short test key cannot garble the model's words.
        """
        return text.replace(self._secret, "***") if self._secret else text

    def _load(self, text: str) -> Any:
        """The JSON `text`; an error object in it is read with the key scrubbed out."""
        value = json.loads(text)
        if isinstance(value, dict) and "error" in value and self._secret and self._secret in text:
            value = json.loads(self._hide(text))
        return value

    def finish(self) -> ModelResponse:
        """The answer, once the body has ended; raises the error the body reports."""
        if self.sse:
            for event in self._decoder.flush():
                self._event(event)
            return self._accumulator.finish(done=self.done)
        text = self._body.decode("utf-8", "replace")
        if not 200 <= self.status < 300:
            raise parse_error(self.status, self._hide(text).encode(), self.headers)
        try:
            return parse_response(self._load(text))
        except ValueError as exc:
            raise APIStatusError(
                f"The server's answer is not a chat completion: {exc}",
                status_code=self.status,
                body=self._hide(text[:2000]),
                request_id=self.headers.get("x-request-id"),
                cf_ray=self.headers.get("cf-ray"),
            ) from None


@contextmanager
def _translate(clock: _Clock, reader: Callable[[], _Reader | None]) -> Iterator[None]:
    """The one place where httpx's (and anyio's) exceptions become agentkit's errors."""
    try:
        yield
    except httpx.ConnectTimeout as exc:
        raise clock.expired("connect") from exc
    except httpx.PoolTimeout as exc:  # waited for a free connection as long as `total`
        raise clock.expired("total") from exc
    except httpx.WriteTimeout as exc:
        raise clock.expired("idle") from exc
    except (httpx.ReadTimeout, TimeoutError) as exc:
        raise clock.expired() from exc
    except httpx.TransportError as exc:  # refused, reset, DNS, TLS, protocol errors
        text = str(exc) or type(exc).__name__
        current = reader()
        if current is not None and current.sse:
            raise TruncatedStreamError(f"The stream broke before it was complete: {text}") from exc
        raise APIConnectionError(f"Connection to {_host(exc)} failed: {text}") from exc


def _host(exc: httpx.TransportError) -> str:
    try:
        return exc.request.url.host
    except RuntimeError:  # an error raised without its request
        return "the server"


def _set_read_timeout(response: httpx.Response, seconds: float | None) -> None:
    """Give the body its own read limit (the headers had `first_byte`).

    httpcore reads the request's `timeout` extension when it starts on the headers and again
    when it starts on the body, so a change in between applies to every read of the body.
    """
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        timeouts["read"] = seconds


# --------------------------------------------------------------------------- the client


def _current_loop() -> object:
    """The running asyncio loop, or `None` under another async library (trio)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class _Watchdog:
    """The time limits of one response's body reads on asyncio, with one timer, not one a read.

    A timer per read (`anyio.fail_after`) is a cancel scope and a heap entry made and dropped
    for every chunk: a quarter of the CPU agentkit added on top of httpx at 64 streams in
    flight. Here a read only moves the deadline forward. The one timer, when it goes off,
    looks at the deadline: passed while a read waits, it cancels the task (and the read
    raises `TimeoutError`); not yet, it sets itself for the new deadline, so it runs about
    once a limit, however many chunks come. Time the caller spends between reads does not
    count: the deadline is set when a read starts.
    """

    __slots__ = ("deadline", "fired", "handle", "loop", "reading", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.task = task
        self.deadline = 0.0
        self.handle: asyncio.TimerHandle | None = None
        self.reading = False
        self.fired = False

    @classmethod
    def start(cls) -> _Watchdog | None:
        """A watchdog for the running asyncio task, or `None` elsewhere (trio)."""
        loop = _current_loop()
        task = asyncio.current_task() if loop is not None else None
        return None if task is None else cls(cast(asyncio.AbstractEventLoop, loop), task)

    async def read(self, chunks: AsyncIterator[bytes], limit: float | None) -> bytes:
        """The next chunk, within `limit` seconds (`None`: no limit).

        Raises:
            StopAsyncIteration: The body has ended.
            TimeoutError: The limit passed first.
        """
        if limit is not None:
            self.deadline = self.loop.time() + limit
            if self.handle is None or self.handle.when() > self.deadline:
                self._arm()
        self.reading = limit is not None
        try:
            return await anext(chunks)
        except asyncio.CancelledError:
            if not self.fired:
                raise
            self.fired = False
            if getattr(self.task, "uncancel", lambda: 0)() > 0:
                raise  # cancelled from outside too: that wins
            raise TimeoutError from None
        finally:
            self.reading = False

    def _arm(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.handle = self.loop.call_at(self.deadline, self._wake)

    def _wake(self) -> None:
        self.handle = None
        if not self.reading:
            return  # the next read sets the timer again
        if self.loop.time() < self.deadline:
            self._arm()
        else:
            self.fired = True
            self.task.cancel()

    def close(self) -> None:
        """Stop the timer."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS settings of every pool agentkit makes, made once per process.

    httpx makes a new context for each client, loading the CA certificates each time: 20 ms
    of CPU and 1 MiB, 16 times over for the async pools of every event loop. The context
    honours `SSL_CERT_FILE` and `SSL_CERT_DIR` as set when the first pool is made.
    """
    return httpx.create_ssl_context()


class _AsyncPools:
    """The async connection pools of one event loop, the least busy used first.

    httpcore's pool scans all its connections for every request it places, and again for
    every idle one, which grows with the square of the connections: at 64 requests in flight
    one pool spent 15 ms of CPU per request, against 1.7 ms when the same requests were
    spread over 8 pools (measured against the loopback server). So the async driver keeps
    `ASYNC_POOLS` small pools and sends each attempt through the one with the fewest
    requests in flight (the first on a tie, so one-at-a-time use keeps one warm connection).
    """

    __slots__ = ("busy", "clients", "keeper", "loop")

    def __init__(self, loop: object) -> None:
        self.loop = loop
        self.clients: list[httpx.AsyncClient | None] = [None] * ASYNC_POOLS
        self.busy = [0] * ASYNC_POOLS
        self.keeper: AsyncGenerator[None, None] | None = None

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

    def acquire(self) -> tuple[int, httpx.AsyncClient]:
        """The least busy pool (made on first use), counted as one request busier."""
        index = self.busy.index(min(self.busy))
        self.busy[index] += 1
        client = self.clients[index]
        if client is None:
            client = self.clients[index] = httpx.AsyncClient(
                limits=ASYNC_POOL_LIMITS, verify=_tls()
            )
        return index, client

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


@dataclass(frozen=True, slots=True)
class _Send:
    """What one attempt sends: the streamed or the non-streamed form of the request."""

    url: str
    content: bytes
    headers: Mapping[str, str]
    stream: bool


class ChatClient:
    """Sends chat requests to GoAPI (or any OpenAI-compatible server), sync or async.

    One pooled httpx client per driver, made on first use and closed by `close()` /
    `aclose()` or the context managers. Clients passed in are used as they are and never
    closed here.

    Args:
        api_key: The key; default: the `GOAPI_KEY` environment variable.
        base_url: The API root (ending in `/v1`) for streamed and non-streamed requests.
            Default: `https://api.goapi.xyz/v1` for streams and `https://proxy.goapi.xyz/v1`
            for non-streamed requests, as GoAPI advises.
        timeout: A `Timeout`, or a number of seconds for all four limits.
        max_retries: How often a failed request is sent again (0: never).
        http_client: An `httpx.Client` to use for the sync driver.
        async_http_client: An `httpx.AsyncClient` to use for the async driver.
        backoff: The waits between attempts (tests pass one with a recording `sleep`).
        rate_limiter: A `RateLimiter` shared by every request of this client (a batch's
            workers): each attempt waits for its turn, and a 429 pauses all of them.

    Raises:
        UsageError: No key was given and `GOAPI_KEY` is not set, or an argument is invalid.

    Examples:
        >>> from agentkit import UserMessage
        >>> with ChatClient(api_key="test-key") as client:  # doctest: +SKIP
        ...     answer = client.complete(
        ...         ChatRequest(model="gpt-3.5-turbo", messages=[UserMessage("Hi")])
        ...     )
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int = 2,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("GOAPI_KEY")
        if not key:
            raise UsageError(
                "No API key: set the GOAPI_KEY environment variable "
                "(export GOAPI_KEY=<your key>), or pass api_key=... to the client or agent."
            )
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            raise UsageError(f"base_url must start with http:// or https://, got {base_url!r}.")
        if max_retries < 0:
            raise UsageError(f"max_retries must be a whole number >= 0, got {max_retries!r}.")
        self._key = key
        self.base_url = base_url.rstrip("/") if base_url else None
        if timeout is None:
            timeout = Timeout()
        elif not isinstance(timeout, Timeout):
            timeout = Timeout.uniform(timeout)
        self.timeout: Timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff or Backoff()
        self.rate_limiter = rate_limiter
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._own_client: httpx.Client | None = None
        self._pools: _AsyncPools | None = None
        self._lock = threading.Lock()
        self._headers = {
            "Authorization": f"Bearer {key}",
            "User-Agent": f"agentkit/{__version__}",
            "Content-Type": "application/json",
        }

    def __repr__(self) -> str:
        where = self.base_url or f"{STREAM_BASE_URL} (non-streamed: {PROXY_BASE_URL})"
        return f"ChatClient(base_url={where!r}, max_retries={self.max_retries}, {self.timeout})"

    # ----------------------------------------------------------------- lifecycle

    def _client(self) -> httpx.Client:
        if self._http_client is not None:
            return self._http_client
        with self._lock:
            if self._own_client is None:
                self._own_client = httpx.Client(limits=POOL_LIMITS, verify=_tls())
            return self._own_client

    async def _async_pools(self) -> _AsyncPools | None:
        """The pools of the running event loop; `None` when the user gave a client."""
        if self._async_http_client is not None:
            return None
        # A pool belongs to the event loop it was used in: a script that calls
        # `asyncio.run()` twice gets new pools the second time, not "Event loop is closed".
        loop = _current_loop()
        if self._pools is None or self._pools.loop is not loop:
            self._pools = pools = _AsyncPools(loop)
            await pools.watch_loop()
        return self._pools

    def close(self) -> None:
        """Close the sync connection pool this client made (not a client passed in)."""
        client, self._own_client = self._own_client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close both connection pools this client made (not clients passed in)."""
        self.close()
        pools, self._pools = self._pools, None
        if pools is not None:
            await pools.aclose()

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ----------------------------------------------------------------- shared steps

    def _prepare(self, request: ChatRequest, stream: bool) -> _Send:
        body = build_request(
            model=request.model,
            messages=request.messages,
            functions=request.functions,
            style=request.style,
            settings=request.settings,
            tool_choice=request.tool_choice,
            output=request.output,
            stream=stream,
        )
        base = self.base_url or (STREAM_BASE_URL if stream else PROXY_BASE_URL)
        accept = "text/event-stream" if stream else "application/json"
        return _Send(
            url=f"{base}/chat/completions",
            content=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            headers={**self._headers, "Accept": accept},
            stream=stream,
        )

    def _retry_wait(
        self, plan: _RetryPlan, request: ChatRequest, error: APIError, delivered: bool
    ) -> float | None:
        failed = plan.attempt
        wait = plan.after(error, delivered=delivered)
        if wait is not None and self.rate_limiter is not None and isinstance(error, RateLimitError):
            self.rate_limiter.pause(wait)  # every worker holds back, not only this one
        if wait is not None:
            logger().warning(
                "agentkit.retry",
                model=request.model,
                attempt=failed,
                wait=round(wait, 3),
                reason=type(error).__name__,
                status=getattr(error, "status_code", None),
                error=str(error),
                stream=plan.stream,
            )
        return wait

    def _reserve(self, send: _Send) -> float:
        """Seconds this attempt must wait for the rate limiter (0 without one).

        The prompt's tokens are estimated from the body: about four bytes a token.
        """
        if self.rate_limiter is None:
            return 0.0
        return self.rate_limiter.reserve(len(send.content) // 4)

    def _charge(self, response: ModelResponse) -> None:
        """Count the reply's tokens against the tokens-per-minute limit."""
        if self.rate_limiter is not None:
            tokens = response.usage.completion_tokens
            if tokens is None:  # unreported: estimate from the reply's length
                message = response.message
                text = len(message.content or "") + sum(len(c.arguments) for c in message.calls)
                tokens = text // 4 + 1
            self.rate_limiter.charge(tokens)

    @staticmethod
    def _log_request(request: ChatRequest, attempt: int, send: _Send) -> None:
        logger().debug("agentkit.request", model=request.model, attempt=attempt, stream=send.stream)

    @staticmethod
    def _log_response(
        request: ChatRequest, attempt: int, clock: _Clock, status: int, response: ModelResponse
    ) -> None:
        ttfb = clock.first_bytes
        logger().info(
            "agentkit.response",
            model=request.model,
            attempt=attempt,
            status=status,
            ttfb=None if ttfb is None else round(ttfb, 4),
            duration=round(clock.elapsed(), 4),
            prompt_tokens=response.usage.prompt_tokens,
            completion_tokens=response.usage.completion_tokens,
            finish_reason=response.finish_reason,
        )

    # ----------------------------------------------------------------- sync driver

    def stream(self, request: ChatRequest, *, deliver: bool = False) -> Iterator[Item]:
        """Send `request`; yield deltas as they arrive if `deliver`, then the `ModelResponse`.

        Args:
            request: What to send.
            deliver: Yield `TextDelta`/`ToolCallDelta` values as they arrive. Once one was
                yielded, a later failure is raised, not retried (output reached the caller).
                Without it only the final response is yielded, and a broken stream is retried.

        Yields:
            Deltas (if `deliver`), and always exactly one `ModelResponse`, last.

        Raises:
            APIError: The request failed after the retries it was allowed.
        """
        plan = _RetryPlan(max_retries=self.max_retries, backoff=self.backoff, stream=request.stream)
        client = self._client()
        while True:
            delivered = False
            try:
                for item in self._attempt(client, request, plan):
                    if isinstance(item, ModelResponse):
                        final = item
                    elif deliver:
                        delivered = True
                        yield item
            except APIError as error:
                wait = self._retry_wait(plan, request, error, delivered)
                if wait is None:
                    raise
                self.backoff.sleep(wait)
                continue
            yield final
            return

    def _attempt(
        self, client: httpx.Client, request: ChatRequest, plan: _RetryPlan
    ) -> Iterator[Item]:
        send = self._prepare(request, plan.stream)
        wait = self._reserve(send)
        if wait > 0:
            self.backoff.sleep(wait)
        self._log_request(request, plan.attempt, send)
        clock = _Clock(self.timeout)
        reader: _Reader | None = None
        with _translate(clock, lambda: reader):
            http_request = client.build_request(
                "POST",
                send.url,
                content=send.content,
                headers=send.headers,
                timeout=clock.httpx_timeout(),
            )
            response = client.send(http_request, stream=True)
            try:
                reader = _Reader(response.status_code, response.headers, self._key)
                clock.body_stream = reader.sse
                # A blocking read takes one limit per phase: every body read gets `idle`.
                _set_read_timeout(response, clock.limit(first_byte=False))
                try:
                    for data in response.iter_bytes():
                        clock.got_bytes()
                        yield from reader.feed(data)
                        if clock.over_total() and not reader.done:
                            raise clock.expired("total")
                except (httpx.TransportError, TimeoutError):
                    if not reader.done:  # after [DONE] the answer is whole: ignore the tail
                        raise
                result = reader.finish()
            finally:
                response.close()
        self._log_response(request, plan.attempt, clock, response.status_code, result)
        self._charge(result)
        yield result

    def complete(self, request: ChatRequest) -> ModelResponse:
        """Send `request` and return the whole answer (retrying as `stream` does)."""
        for item in self.stream(request):
            if isinstance(item, ModelResponse):
                return item
        raise AssertionError("stream() ended without a ModelResponse")  # pragma: no cover

    # ----------------------------------------------------------------- async driver

    async def astream(self, request: ChatRequest, *, deliver: bool = False) -> AsyncIterator[Item]:
        """The async twin of `stream`: the same retries, with precise per-read timeouts.

        Args:
            request: What to send.
            deliver: Yield deltas as they arrive (then failures are no longer retried).

        Yields:
            Deltas (if `deliver`), and always exactly one `ModelResponse`, last.

        Raises:
            APIError: The request failed after the retries it was allowed.
        """
        import anyio  # only the async driver needs it (30 ms to import)

        plan = _RetryPlan(max_retries=self.max_retries, backoff=self.backoff, stream=request.stream)
        while True:
            delivered = False
            try:
                async for item in self._aattempt(request, plan):
                    if isinstance(item, ModelResponse):
                        final = item
                    elif deliver:
                        delivered = True
                        yield item
            except APIError as error:
                wait = self._retry_wait(plan, request, error, delivered)
                if wait is None:
                    raise
                await (self.backoff.asleep or anyio.sleep)(wait)
                continue
            yield final
            return

    async def _aattempt(self, request: ChatRequest, plan: _RetryPlan) -> AsyncIterator[Item]:
        import anyio

        send = self._prepare(request, plan.stream)
        wait = self._reserve(send)
        if wait > 0:
            await (self.backoff.asleep or anyio.sleep)(wait)
        pools = await self._async_pools()
        if pools is None:
            index, client = -1, cast(httpx.AsyncClient, self._async_http_client)
        else:
            index, client = pools.acquire()
        try:
            async for item in self._aexchange(client, request, plan, send):
                yield item
        finally:
            if pools is not None:
                pools.release(index)

    async def _aexchange(
        self, client: httpx.AsyncClient, request: ChatRequest, plan: _RetryPlan, send: _Send
    ) -> AsyncIterator[Item]:
        import anyio

        self._log_request(request, plan.attempt, send)
        clock = _Clock(self.timeout)
        reader: _Reader | None = None
        with _translate(clock, lambda: reader):
            http_request = client.build_request(
                "POST",
                send.url,
                content=send.content,
                headers=send.headers,
                timeout=clock.httpx_timeout(),
            )
            response = await client.send(http_request, stream=True)
            watchdog = _Watchdog.start()
            try:
                reader = _Reader(response.status_code, response.headers, self._key)
                clock.body_stream = reader.sse
                # Each read below gets its own limit; httpx's own read limit is only a backstop.
                _set_read_timeout(response, self.timeout.total)
                async with aclosing(
                    cast(AsyncGenerator[bytes, None], response.aiter_bytes())
                ) as chunks:
                    while True:
                        try:
                            if watchdog is not None:
                                data = await watchdog.read(chunks, clock.limit())
                            else:
                                with anyio.fail_after(clock.limit()):
                                    data = await anext(chunks)
                        except StopAsyncIteration:
                            break
                        except (httpx.TransportError, TimeoutError):
                            if reader.done:
                                break
                            raise
                        clock.got_bytes()
                        for delta in reader.feed(data):
                            yield delta
                result = reader.finish()
            finally:
                if watchdog is not None:
                    watchdog.close()
                await response.aclose()
        self._log_response(request, plan.attempt, clock, response.status_code, result)
        self._charge(result)
        yield result

    async def acomplete(self, request: ChatRequest) -> ModelResponse:
        """Send `request` and return the whole answer (retrying as `astream` does)."""
        async for item in self.astream(request):
            if isinstance(item, ModelResponse):
                return item
        raise AssertionError("astream() ended without a ModelResponse")  # pragma: no cover
