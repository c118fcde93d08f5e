"""`ChatClient`: sends chat requests over HTTP, sync or async, with retries and timeouts.

What is decided is written once and does no IO; the sync and async drivers only send, read
and sleep as they are told. A request's way from `Agent.run` to the socket and back:

```
_agent.Agent.run ─▶ _loop (what to ask) ─▶ ChatClient.stream() / .astream() (this module)
   _prepare()      ChatRequest ─▶ URL, headers and JSON body (`_wire.build_request`)
   _policy         RetryPlan: retry this error after N seconds, or raise it (a 524 ─▶ stream);
                   Backoff: how long; Clock: the four timeouts of one attempt as deadlines
   _pools          the connection pool to send through (one sync client; 16 async pools a loop)
   _body           BodyReader: the response's bytes in, deltas out, a ModelResponse at the end
                   (SSE via `_sse`, chunks and errors via `_replies`); Watchdog: read limits
   _translate      the one place where httpx's exceptions become agentkit's
```

Only these modules and `agentkit.testing` import httpx. What each timeout bounds, what is
retried and why: `docs/pages/reliability.md`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast

import httpx

from . import _instrument
from ._body import BodyReader, Watchdog, set_read_timeout
from ._endpoint import resolve_base_url, resolve_key
from ._exceptions import APIError, RateLimitError, UsageError
from ._log import logger, logger_at
from ._messages import Message, ModelResponse, StreamDelta
from ._models import ApiStyle, ModelSettings
from ._policy import Backoff, Clock, RetryPlan, Timeout
from ._pools import AsyncPools, Pool, current_loop, sync_client
from ._ratelimit import RateLimiter
from ._tools import Tool
from ._translate import translate
from ._version import __version__
from ._wire import build_request

__all__ = ["Backoff", "ChatClient", "ChatRequest", "Timeout"]

#: Where streamed requests go unless the user gives a base URL.
STREAM_BASE_URL = "https://api.goapi.xyz/v1"
#: Where non-streamed requests go unless the user gives a base URL (GoAPI's advice since
#: 2023-11-28: this domain is not behind Cloudflare's 100 s limit the same way).
PROXY_BASE_URL = "https://proxy.goapi.xyz/v1"

Item: TypeAlias = "StreamDelta | ModelResponse"


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


@dataclass(frozen=True, slots=True)
class _Send:
    """What one attempt sends: the streamed or the non-streamed form of the request."""

    url: httpx.URL
    content: bytes
    headers: Mapping[str, str]
    stream: bool


class ChatClient:
    """Sends chat requests to GoAPI (or any OpenAI-compatible server), sync or async.

    One pooled httpx client per driver, made on first use and closed by `close()` /
    `aclose()` or the context managers. Clients passed in are used as they are and never
    closed here.

    Args:
        api_key: The key; default: the `GOAPI_KEY` environment variable, else the key
            `agentkit keys set` stored (a server other than GoAPI may need none).
        base_url: The API root (ending in `/v1`) for streamed and non-streamed requests.
            Default: the `GOAPI_BASE_URL` environment variable, else
            `https://api.goapi.xyz/v1` for streams and `https://proxy.goapi.xyz/v1` for
            non-streamed requests, as GoAPI advises.
        timeout: A `Timeout`, or a number of seconds for all four limits.
        max_retries: How often a failed request is sent again (0: never).
        http_client: An `httpx.Client` to use for the sync driver.
        async_http_client: An `httpx.AsyncClient` to use for the async driver.
        backoff: The waits between attempts (tests pass one with a recording `sleep`).
        rate_limiter: A `RateLimiter` shared by every request of this client (a batch's
            workers): each attempt waits for its turn, and a 429 pauses all of them.

    Raises:
        UsageError: No key was found for GoAPI (the text says where agentkit looked), or an
            argument is invalid.

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
        if max_retries < 0:
            raise UsageError(f"max_retries must be a whole number >= 0, got {max_retries!r}.")
        self.base_url = resolve_base_url(base_url)
        self._key = key = resolve_key(api_key, self.base_url)
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
        self._pools: AsyncPools | None = None
        self._lock = threading.Lock()
        # Made once, as httpx takes them (a `Headers` is copied, not parsed again, per request).
        self._headers = {
            stream: httpx.Headers(
                {
                    "Authorization": f"Bearer {key}",
                    "User-Agent": f"agentkit/{__version__}",
                    "Content-Type": "application/json",
                    "Accept": "text/event-stream" if stream else "application/json",
                }
            )
            for stream in (False, True)
        }
        # The direct pools' requests (`_pools.AsyncPools.send`) get no client's defaults:
        # these add the one that matters, the encodings httpx decodes whatever is installed.
        self._direct_headers = {
            stream: httpx.Headers([*headers.raw, (b"Accept-Encoding", b"gzip, deflate")])
            for stream, headers in self._headers.items()
        }
        # The endpoint, parsed once per base URL: httpx parses a URL given as text again for
        # every request (some 15 µs), and takes a parsed one as it is.
        self._urls: dict[str, httpx.URL] = {}

    def __repr__(self) -> str:
        where = self.base_url or f"{STREAM_BASE_URL} (non-streamed: {PROXY_BASE_URL})"
        return f"ChatClient(base_url={where!r}, max_retries={self.max_retries}, {self.timeout})"

    # ----------------------------------------------------------------- lifecycle

    def _client(self) -> httpx.Client:
        if self._http_client is not None:
            return self._http_client
        with self._lock:
            if self._own_client is None:
                self._own_client = sync_client()
            return self._own_client

    async def _async_pools(self) -> AsyncPools | None:
        """The pools of the running event loop; `None` when the user gave a client."""
        if self._async_http_client is not None:
            return None
        # A pool belongs to the event loop it was used in: a script that calls
        # `asyncio.run()` twice gets new pools the second time, not "Event loop is closed".
        loop = current_loop()
        if self._pools is None or self._pools.loop is not loop:
            self._pools = pools = AsyncPools(loop)
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
        url = self._urls.get(base)
        if url is None:
            url = self._urls[base] = httpx.URL(f"{base}/chat/completions")
        return _Send(
            url=url,
            content=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
            headers=self._headers[stream],
            stream=stream,
        )

    def _retry_wait(
        self, plan: RetryPlan, request: ChatRequest, error: APIError, delivered: bool
    ) -> float | None:
        failed = plan.attempt
        wait = plan.after(error, delivered=delivered)
        if wait is not None and self.rate_limiter is not None and isinstance(error, RateLimitError):
            self.rate_limiter.pause(wait)  # every worker holds back, not only this one
        if wait is not None:
            _instrument.retried(failed, error, wait)
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
        log = logger_at(logging.DEBUG)
        if log is not None:
            log.debug("agentkit.request", model=request.model, attempt=attempt, stream=send.stream)

    @staticmethod
    def _log_response(
        request: ChatRequest, attempt: int, clock: Clock, status: int, response: ModelResponse
    ) -> None:
        log = logger_at(logging.INFO)
        if log is None:
            return
        ttfb = clock.first_bytes
        log.info(
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
        plan = RetryPlan(max_retries=self.max_retries, backoff=self.backoff, stream=request.stream)
        client = self._client()
        while True:
            delivered = False
            try:
                for item in self._attempt(client, request, plan, deliver):
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
        self, client: httpx.Client, request: ChatRequest, plan: RetryPlan, deliver: bool
    ) -> Iterator[Item]:
        """One attempt: yields the deltas if `deliver` (else only reads them), then the answer."""
        send = self._prepare(request, plan.stream)
        wait = self._reserve(send)
        if wait > 0:
            self.backoff.sleep(wait)
        self._log_request(request, plan.attempt, send)
        clock = Clock(self.timeout)
        reader: BodyReader | None = None
        with translate(clock, lambda: reader is not None and reader.sse, self._key):
            http_request = client.build_request(
                "POST",
                send.url,
                content=send.content,
                headers=send.headers,
                timeout=clock.httpx_timeout(),
            )
            response = client.send(http_request, stream=True)
            try:
                reader = BodyReader(response.status_code, response.headers, self._key)
                clock.body_stream = reader.sse
                # A blocking read takes one limit per phase: every body read gets `idle`.
                set_read_timeout(response, clock.limit(first_byte=False))
                try:
                    for data in response.iter_bytes():
                        clock.got_bytes()
                        deltas = reader.feed(data)
                        if deliver:
                            yield from deltas
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
        (response,) = self.stream(request)  # without `deliver`: the answer only, then the end
        return cast(ModelResponse, response)

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
        plan = RetryPlan(max_retries=self.max_retries, backoff=self.backoff, stream=request.stream)
        while True:
            delivered = False
            try:
                async for item in self._aattempt(request, plan, deliver):
                    if isinstance(item, ModelResponse):
                        final = item
                    elif deliver:
                        delivered = True
                        yield item
            except APIError as error:
                wait = self._retry_wait(plan, request, error, delivered)
                if wait is None:
                    raise
                import anyio  # imported when first needed (30 ms), as are the others below

                await (self.backoff.asleep or anyio.sleep)(wait)
                continue
            yield final
            return

    async def _aattempt(
        self, request: ChatRequest, plan: RetryPlan, deliver: bool
    ) -> AsyncIterator[Item]:
        """One attempt: yields the deltas if `deliver` (else only reads them), then the answer."""
        send = self._prepare(request, plan.stream)
        wait = self._reserve(send)
        if wait > 0:
            import anyio

            await (self.backoff.asleep or anyio.sleep)(wait)
        pools = await self._async_pools()
        pool: Pool
        if pools is None:
            index, pool = -1, cast(httpx.AsyncClient, self._async_http_client)
        else:
            index, pool = pools.acquire()
        try:
            async for item in self._aexchange(pools, pool, request, plan, send, deliver):
                yield item
        finally:
            if pools is not None:
                pools.release(index)

    async def _aexchange(
        self,
        pools: AsyncPools | None,
        pool: Pool,
        request: ChatRequest,
        plan: RetryPlan,
        send: _Send,
        deliver: bool,
    ) -> AsyncIterator[Item]:
        self._log_request(request, plan.attempt, send)
        clock = Clock(self.timeout)
        reader: BodyReader | None = None
        with translate(clock, lambda: reader is not None and reader.sse, self._key):
            if isinstance(pool, httpx.AsyncClient):
                http_request = pool.build_request(
                    "POST",
                    send.url,
                    content=send.content,
                    headers=send.headers,
                    timeout=clock.httpx_timeout(),
                )
                response = await pool.send(http_request, stream=True)
            else:  # one of agentkit's own pools, sent to directly
                http_request = httpx.Request(
                    "POST",
                    send.url,
                    content=send.content,
                    headers=self._direct_headers[send.stream],
                    extensions={"timeout": clock.httpx_timeout().as_dict()},
                )
                response = await cast(AsyncPools, pools).send(pool, http_request)
            watchdog = Watchdog.start()
            try:
                reader = BodyReader(response.status_code, response.headers, self._key)
                clock.body_stream = reader.sse
                # Each read below gets its own limit; httpx's own read limit is only a backstop.
                set_read_timeout(response, self.timeout.total)
                async with aclosing(
                    cast(AsyncGenerator[bytes, None], response.aiter_bytes())
                ) as chunks:
                    while True:
                        try:
                            if watchdog is not None:
                                data = await watchdog.read(chunks, clock.limit())
                            else:  # not on asyncio (trio): a cancel scope per read
                                import anyio

                                with anyio.fail_after(clock.limit()):
                                    data = await anext(chunks)
                        except StopAsyncIteration:
                            break
                        except (httpx.TransportError, TimeoutError):
                            if reader.done:
                                break
                            raise
                        clock.got_bytes()
                        deltas = reader.feed(data)
                        if deliver:
                            for delta in deltas:
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
        # Run to the generator's end: one left suspended is closed by the loop's finalizer
        # hook (a task and a wake-up of the loop).
        (response,) = [item async for item in self.astream(request)]
        return cast(ModelResponse, response)
