"""ChatClient end to end: the scripted GoAPI (and the loopback server for real sockets).

Each behaviour runs through the sync (`stream`) and the async (`astream`) driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import gc
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from agentkit import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    Backoff,
    BadRequestError,
    ChatClient,
    ChatRequest,
    GatewayError,
    InsufficientQuotaError,
    InternalServerError,
    ModelResponse,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamEventError,
    TextDelta,
    Timeout,
    ToolCallDelta,
    TruncatedStreamError,
    UsageError,
    UserMessage,
    tool,
)
from agentkit.testing import Fault, LoopbackServer, Reply, ScriptedGoAPI
from tests.spec import assert_valid_request

KEY = "sk-test-0123456789abcdef"


@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
    """
    return f"Sunny in {location}"


class Recorder(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Passes requests to a scripted GoAPI, recording their URLs and checking their bodies."""

    def __init__(self, script: Any) -> None:
        self.scripted = ScriptedGoAPI(script)
        self.urls: list[str] = []

    def _seen(self, request: httpx.Request) -> None:
        self.urls.append(str(request.url))
        assert_valid_request(json.loads(request.content))

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self._seen(request)
        return self.scripted.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._seen(request)
        return await self.scripted.handle_async_request(request)


class Run:
    """One scripted client, driven the sync or the async way."""

    def __init__(
        self,
        kind: str,
        script: Any,
        *,
        base_url: str | None = "http://goapi.test/v1",
        **options: Any,
    ) -> None:
        self.kind = kind
        self.transport = Recorder(script)
        self.waits: list[float] = []

        async def asleep(seconds: float) -> None:
            self.waits.append(seconds)

        self.client = ChatClient(
            api_key=KEY,
            base_url=base_url,
            http_client=httpx.Client(transport=self.transport),
            async_http_client=httpx.AsyncClient(transport=self.transport),
            backoff=Backoff(sleep=self.waits.append, asleep=asleep, random=lambda: 0.0),
            **options,
        )

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.transport.scripted.requests

    def items(self, request: ChatRequest | None = None, *, deliver: bool = False) -> list[Any]:
        request = request or ChatRequest(model="gpt-3.5-turbo-1106", messages=[UserMessage("Hi")])
        if self.kind == "sync":
            return list(self.client.stream(request, deliver=deliver))

        async def collect() -> list[Any]:
            return [item async for item in self.client.astream(request, deliver=deliver)]

        return asyncio.run(collect())

    def answer(self, request: ChatRequest | None = None) -> ModelResponse:
        items = self.items(request)
        assert len(items) == 1
        assert isinstance(items[0], ModelResponse)
        return items[0]


def complete(kind: str, client: ChatClient, request: ChatRequest) -> ModelResponse:
    """`complete` or `acomplete` on a client that is closed afterwards."""
    if kind == "sync":
        with client:
            return client.complete(request)

    async def go() -> ModelResponse:
        async with client:
            return await client.acomplete(request)

    return asyncio.run(go())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --------------------------------------------------------------------------- configuration


def test_a_missing_key_is_a_usage_error_that_says_what_to_do():
    """No key and no GOAPI_KEY: the error names both ways to give one."""
    with pytest.raises(UsageError, match="GOAPI_KEY"):
        ChatClient()


def test_the_key_comes_from_goapi_key(monkeypatch: pytest.MonkeyPatch, kind: str):
    """GOAPI_KEY is used when no key is passed, as a bearer token."""
    monkeypatch.setenv("GOAPI_KEY", "sk-from-the-environment")
    run = Run(kind, [Reply.text("Hi")])
    run.client = ChatClient(
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=run.transport),
        async_http_client=httpx.AsyncClient(transport=run.transport),
    )
    run.answer()
    headers = run.transport.scripted.headers[0]
    assert headers["authorization"] == "Bearer sk-from-the-environment"
    assert headers["user-agent"].startswith("agentkit/")


@pytest.mark.parametrize("bad", [{"base_url": "goapi.xyz/v1"}, {"max_retries": -1}])
def test_bad_arguments_are_usage_errors(bad: dict[str, Any]):
    """A base URL without a scheme and negative retries are refused at construction."""
    with pytest.raises(UsageError):
        ChatClient(api_key=KEY, **bad)


def test_repr_never_shows_the_key():
    """The client's repr names its URLs and limits, not its key."""
    assert KEY not in repr(ChatClient(api_key=KEY))


@pytest.mark.parametrize(
    ("stream", "url"),
    [
        (True, "https://api.goapi.xyz/v1/chat/completions"),
        (False, "https://proxy.goapi.xyz/v1/chat/completions"),
    ],
)
def test_default_urls_stream_to_api_and_the_rest_to_the_proxy(kind: str, stream: bool, url: str):
    """Streams go to api.goapi.xyz; non-streamed requests to proxy.goapi.xyz (GoAPI's advice)."""
    run = Run(kind, [Reply.text("Hi")], base_url=None)
    run.answer(ChatRequest(model="gpt-4", messages=[UserMessage("Hi")], stream=stream))
    assert run.transport.urls == [url]
    assert run.requests[0].get("stream", False) is stream


def test_a_base_url_serves_both_kinds_of_request(kind: str):
    """A given base URL is used for streamed and non-streamed requests alike."""
    run = Run(kind, [Reply.text("a"), Reply.text("b")], base_url="http://localhost:8000/v1/")
    run.answer(ChatRequest(model="gpt-4", messages=[UserMessage("Hi")], stream=False))
    run.answer(ChatRequest(model="gpt-4", messages=[UserMessage("Hi")]))
    assert run.transport.urls == ["http://localhost:8000/v1/chat/completions"] * 2


# --------------------------------------------------------------------------- replies

REPLIES = [
    Reply.text("It is sunny in Boston, 22 degrees."),
    Reply.text("Ünïcödé — 日本語 🌤").with_quirks("crlf", "ping", "no_space"),
    Reply.call("get_current_weather", {"location": "Boston, MA"}),
    Reply.parallel(
        [
            ("get_current_weather", {"location": "Boston"}),
            ("get_current_weather", {"location": "Paris"}),
        ]
    ).with_quirks("index_offset", "dup_first", "null_names", "repeat_role"),
    Reply.text("Let me check.").with_finish_reason("stop").with_quirks("no_done"),
]


@pytest.mark.parametrize("reply", REPLIES)
def test_stream_and_non_stream_give_the_same_reply(kind: str, reply: Reply):
    """The chunk accumulator rebuilds exactly what a non-streamed request returns."""
    streamed = Run(kind, [reply]).answer()
    whole = Run(kind, [reply]).answer(
        ChatRequest(model="gpt-3.5-turbo-1106", messages=[UserMessage("Hi")], stream=False)
    )
    assert streamed.message == whole.message
    assert streamed.finish_reason == whole.finish_reason


def test_legacy_function_call_in_both_forms(kind: str):
    """A `functions`-style request gets a `function_call`, streamed or not, without an id."""
    request = ChatRequest(
        model="gpt-3.5-turbo",
        messages=[UserMessage("Weather in Boston?")],
        functions=[get_current_weather],
        style="functions",
    )
    run = Run(kind, [Reply.call("get_current_weather", {"location": "Boston"})] * 2)
    streamed = run.answer(request)
    whole = run.answer(dataclasses.replace(request, stream=False))
    assert streamed.message.calls[0].id is None
    assert streamed.message == whole.message
    assert run.requests[0]["functions"][0]["name"] == "get_current_weather"


def test_deltas_arrive_before_the_response(kind: str):
    """With `deliver`, text and call fragments come as they arrive, then the response."""
    run = Run(kind, [Reply.text("Hello there", chunk_size=4)])
    items = run.items(deliver=True)
    assert [i.text for i in items if isinstance(i, TextDelta)] == ["Hell", "o th", "ere"]
    assert isinstance(items[-1], ModelResponse)
    run = Run(kind, [Reply.call("get_current_weather", '{"location": "Oslo"}', chunk_size=5)])
    deltas = [i for i in run.items(deliver=True) if isinstance(i, ToolCallDelta)]
    assert deltas[0].name == "get_current_weather"
    assert "".join(d.arguments for d in deltas) == '{"location": "Oslo"}'


def test_a_server_that_ignores_stream_true_still_works(kind: str):
    """A JSON answer to a streamed request is parsed as a whole response."""

    def answer(body: dict[str, Any]) -> Fault:
        return Fault(
            200,
            b'{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},'
            b'"finish_reason":"stop"}]}',
            (("content-type", "application/json"),),
        )

    assert Run(kind, answer).answer().message.content == "ok"


def test_a_success_body_that_is_not_a_completion_is_an_error(kind: str):
    """A 200 with HTML (a captive portal, a wrong base URL) is an error quoting the body."""
    page = Fault(200, b"<html>Please log in</html>", (("content-type", "text/html"),))
    with pytest.raises(APIStatusError, match="not a chat completion") as caught:
        Run(kind, [page]).answer()
    assert caught.value.body == "<html>Please log in</html>"


# --------------------------------------------------------------------------- retries

RETRIED = [
    pytest.param(Fault.server_error(500), id="500"),
    pytest.param(Fault.server_error(502), id="502"),
    pytest.param(Fault.server_error(503), id="503"),
    pytest.param(Fault.cloudflare(520), id="cf520"),
    pytest.param(Fault.cloudflare(522), id="cf522"),
    pytest.param(Fault.cloudflare(524), id="cf524"),
    pytest.param(Fault.rate_limit(), id="429"),
    pytest.param(Fault.json_error(408, "Request timeout"), id="408"),
    pytest.param(Fault.json_error(409, "Conflict"), id="409"),
    pytest.param(Fault.dropped(), id="dropped"),
    pytest.param(Reply.text("cut short").cut(2), id="cut-stream"),
    pytest.param(Reply.text("broken").with_error_event(1), id="error-event"),
    pytest.param(
        Fault.json_error(400, "Try again", headers={"x-should-retry": "true"}),
        id="should-retry-true",
    ),
]


@pytest.mark.parametrize("fault", RETRIED)
def test_retried_failures_then_success(kind: str, fault: Any):
    """What is retried: connection errors, 408, 409, 429, 5xx, Cloudflare, broken streams."""
    run = Run(kind, [fault, Reply.text("Recovered.")])
    assert run.answer().message.content == "Recovered."
    assert len(run.requests) == 2
    assert len(run.waits) == 1


NOT_RETRIED = [
    pytest.param(Fault.json_error(400, "Invalid 'messages'"), BadRequestError, id="400"),
    pytest.param(
        Fault.json_error(401, "Incorrect API key provided"), AuthenticationError, id="401"
    ),
    pytest.param(
        Fault.json_error(403, "GPT-4 needs the Developer plan"), PermissionDeniedError, id="403"
    ),
    pytest.param(Fault.json_error(404, "The model does not exist"), NotFoundError, id="404"),
    pytest.param(Fault.insufficient_quota(), InsufficientQuotaError, id="insufficient-quota"),
    pytest.param(
        Fault.json_error(503, "Down", headers={"x-should-retry": "false"}),
        InternalServerError,
        id="should-retry-false",
    ),
]


@pytest.mark.parametrize(("fault", "error"), NOT_RETRIED)
def test_failures_not_retried(kind: str, fault: Fault, error: type[Exception]):
    """What is not retried: 400, 401, 403, 404, insufficient_quota, x-should-retry: false."""
    run = Run(kind, [fault])
    with pytest.raises(error):
        run.answer()
    assert len(run.requests) == 1
    assert run.waits == []


def test_attempts_are_counted_and_the_last_error_raised(kind: str):
    """`max_retries=2` means three attempts with 0.5 s and 1 s waits, then the error."""
    run = Run(kind, [Fault.server_error(500)] * 3)
    with pytest.raises(InternalServerError):
        run.answer()
    assert len(run.requests) == 3
    assert run.waits == [0.5, 1.0]


def test_zero_retries_raise_at_once(kind: str):
    """`max_retries=0` sends one request."""
    run = Run(kind, [Fault.server_error(502)], max_retries=0)
    with pytest.raises(InternalServerError):
        run.answer()
    assert len(run.requests) == 1


@pytest.mark.parametrize(
    ("fault", "wait"),
    [
        (Fault.rate_limit(retry_after=3), 3.0),
        (Fault.rate_limit(retry_after_ms=1500), 1.5),
        (Fault.rate_limit(retry_after=3, retry_after_ms=250), 0.25),
        (Fault.rate_limit(retry_after=3600), 60.0),
    ],
)
def test_the_servers_wait_is_honoured_up_to_the_cap(kind: str, fault: Fault, wait: float):
    """retry-after-ms beats Retry-After; both beat backoff; waits are capped at 60 s."""
    run = Run(kind, [fault, Reply.text("ok")])
    run.answer()
    assert run.waits == [wait]


def test_retry_after_as_an_http_date(kind: str):
    """Retry-After may be an HTTP date: the wait is the time until then."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    run = Run(kind, [Fault.rate_limit(retry_after=when), Reply.text("ok")])
    run.answer()
    assert 25 <= run.waits[0] <= 31


def test_a_524_without_streaming_is_retried_at_once_as_a_stream(kind: str):
    """Cloudflare cut a slow non-streamed answer: the retry streams, without waiting."""
    run = Run(kind, [Fault.cloudflare(524), Reply.text("ok")])
    request = ChatRequest(model="gpt-4", messages=[UserMessage("Long essay")], stream=False)
    assert run.answer(request).message.content == "ok"
    assert "stream" not in run.requests[0]
    assert run.requests[1]["stream"] is True
    assert run.waits == [0.0]


def test_a_broken_stream_is_not_retried_once_output_was_delivered(kind: str):
    """After a delta reached the caller, a broken stream is raised, never sent again."""
    run = Run(kind, [Reply.text("Hello there, friend", chunk_size=3).cut(3), Reply.text("x")])
    with pytest.raises(TruncatedStreamError):
        run.items(deliver=True)
    assert len(run.requests) == 1


def test_a_broken_stream_is_retried_when_nothing_was_delivered(kind: str):
    """Without `deliver`, nothing reached the caller, so the request is sent again."""
    run = Run(kind, [Reply.text("Hello there, friend", chunk_size=3).cut(3), Reply.text("Hi")])
    assert run.answer().message.content == "Hi"
    assert len(run.requests) == 2


def test_an_error_event_in_the_stream_is_a_typed_error(kind: str):
    """`data: {"error": ...}` mid-stream raises StreamEventError with the server's message."""
    run = Run(kind, [Reply.text("partial").with_error_event(1)], max_retries=0)
    with pytest.raises(StreamEventError, match="server had an error") as caught:
        run.answer()
    assert caught.value.error_type == "server_error"


# --------------------------------------------------------------------------- errors


def test_cloudflare_pages_become_gateway_errors_with_the_ray_id(kind: str):
    """An HTML 524 page: a GatewayError with the page's title, a short excerpt and cf-ray."""
    run = Run(kind, [Fault.cloudflare(524, ray="7d1f00aa-LHR")], max_retries=0)
    with pytest.raises(GatewayError) as caught:
        run.answer()
    error = caught.value
    assert error.status_code == 524
    assert error.cf_ray == "7d1f00aa-LHR"
    assert "524: A timeout occurred" in str(error)
    assert error.body is not None
    assert len(error.body) <= 500


def test_the_key_never_appears_in_an_error(kind: str):
    """A server echoing the key in its error body: the key is redacted everywhere."""
    fault = Fault.json_error(401, f"Incorrect API key provided: {KEY}. Find yours online.")
    run = Run(kind, [fault])
    with pytest.raises(AuthenticationError) as caught:
        run.answer()
    error = caught.value
    for text in (str(error), repr(error), error.message, error.body or ""):
        assert KEY not in text
    assert "Incorrect API key provided" in str(error)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/event-stream", b'data: {"error": {"message": "Bad key %s"}}\n\n'),
        ("application/json", b'{"error": {"message": "Bad key %s"}}'),
    ],
    ids=["stream-event", "json-200"],
)
def test_the_key_never_appears_in_an_error_inside_a_success(
    kind: str, content_type: str, body: bytes
):
    """An error object in a 200 (an event of a stream, or a JSON body) is scrubbed too."""
    fault = Fault(200, body % KEY.encode(), (("content-type", content_type),))
    with pytest.raises(APIError) as caught:
        Run(kind, [fault], max_retries=0).answer()
    assert "Bad key ***" in str(caught.value)
    assert KEY not in repr(caught.value)


def test_answers_are_not_scrubbed(kind: str):
    """Only errors are scrubbed: an answer that happens to contain the key's text is intact
    (with a short test key such as "x", scrubbing answers would garble them)."""
    text = f"The key was {KEY}."
    assert Run(kind, [Reply.text(text, chunk_size=100)]).answer().message.content == text
    request = ChatRequest(model="gpt-3.5-turbo-1106", messages=[UserMessage("Hi")], stream=False)
    run = Run(kind, [Reply.text(text)])
    assert complete(kind, run.client, request).message.content == text


def test_rate_limit_errors_carry_the_wait(kind: str):
    """When retries are spent, the 429's error says how long the server asked to wait."""
    run = Run(kind, [Fault.rate_limit(retry_after=2)], max_retries=0)
    with pytest.raises(RateLimitError) as caught:
        run.answer()
    assert caught.value.retry_after == 2.0


# --------------------------------------------------------------------------- timeouts


def test_no_first_byte_in_time_is_a_first_byte_timeout(kind: str):
    """A server that accepts the request but says nothing: APITimeoutError(first_byte)."""
    run = Run(kind, [Reply.text("late", stall=5.0)], timeout=Timeout(first_byte=1), max_retries=0)
    with pytest.raises(APITimeoutError) as caught:
        run.answer()
    assert caught.value.phase == "first_byte"


def test_timeouts_are_retried(kind: str):
    """A timeout is retried like a connection error."""
    run = Run(
        kind, [Reply.text("late", stall=5.0), Reply.text("ok")], timeout=Timeout(first_byte=1)
    )
    assert run.answer().message.content == "ok"


@contextlib.contextmanager
def stalled_stream(*, stall_after: tuple[int, float], **timeouts: float) -> Iterator[ChatClient]:
    """A client with these timeouts, talking to a loopback server whose stream stalls."""
    reply = Reply.text("one two three", chunk_size=4, stall_after=stall_after)
    with LoopbackServer([reply]) as server:
        yield ChatClient(
            api_key=KEY, base_url=server.base_url, max_retries=0, timeout=Timeout(**timeouts)
        )


HI = ChatRequest(model="gpt-4", messages=[UserMessage("Hi")])


@pytest.mark.parametrize(
    ("stall_after", "timeouts", "phase"),
    [
        # Each stall outlasts any test: only the limit under test can end it (the server's
        # close does, after), so a slow machine cannot make the stream finish in time.
        ((0, 60.0), {"first_byte": 0.3, "idle": 1}, "first_byte"),
        ((2, 60.0), {"idle": 0.2, "total": 30}, "idle"),
        ((2, 60.0), {"idle": 30, "total": 0.5}, "total"),
    ],
    ids=["first-byte", "idle", "total"],
)
def test_each_limit_on_the_body_is_named_after_itself(
    kind: str, stall_after: tuple[int, float], timeouts: dict[str, float], phase: str
):
    """A stream that stalls before its first event, or later, hits the limit that applies,
    over real TCP.

    (A blocking read has one limit for the whole body, so the sync driver gives a stream's
    first event `idle`, not `first_byte`.)
    """
    if kind == "sync" and phase == "first_byte":
        phase = "idle"
    with (
        stalled_stream(stall_after=stall_after, **timeouts) as client,
        pytest.raises(APITimeoutError) as caught,
    ):
        complete(kind, client, HI)
    assert caught.value.phase == phase


def test_time_the_caller_takes_between_chunks_is_not_idle_time():
    """`idle` limits the server's silence, not the caller's work between deltas."""

    async def slow_reader(client: ChatClient) -> list[Any]:
        items = []
        async with client:
            async for item in client.astream(HI, deliver=True):
                items.append(item)
                await asyncio.sleep(0.3)  # longer than idle, between reads
        return items

    with stalled_stream(stall_after=(1, 0.0), idle=0.2) as client:
        items = asyncio.run(slow_reader(client))
    assert items[-1].message.content == "one two three"


def test_cancelling_a_stream_is_a_cancellation_not_a_timeout():
    """The caller's own cancellation during a read stays a CancelledError."""

    async def cancel_midway(client: ChatClient) -> None:
        async with client:
            task = asyncio.ensure_future(client.acomplete(HI))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    with stalled_stream(stall_after=(2, 60.0), idle=30) as client:
        asyncio.run(cancel_midway(client))


def test_a_refused_connection_is_a_connection_error(kind: str):
    """Nothing listens on the port: APIConnectionError naming the host, after the retries."""
    with LoopbackServer([]) as server:
        url = server.base_url
    client = ChatClient(api_key=KEY, base_url=url, max_retries=0)
    with pytest.raises(APIConnectionError, match=r"127\.0\.0\.1"):
        complete(kind, client, HI)


# --------------------------------------------------------------------------- lifecycle


def test_the_async_pools_belong_to_their_event_loop():
    """`asyncio.run` twice on one client, never closed: each loop gets its own pools, which
    close as that loop ends (no "Event loop is closed", no unclosed sockets)."""
    with LoopbackServer([Reply.text("one"), Reply.text("two")]) as server:
        client = ChatClient(api_key=KEY, base_url=server.base_url)
        pools = []

        async def ask() -> ModelResponse:
            answer = await client.acomplete(HI)
            pools.append(client._pools)
            return answer

        answers = [asyncio.run(ask()).message.content for _ in range(2)]
        gc.collect()  # unclosed sockets would be reported (as errors) here
    assert answers == ["one", "two"]
    assert pools[0] is not pools[1]
    assert all(client is None for p in pools for client in p.clients)


def test_aclose_closes_the_pools_at_once():
    """`aclose()` inside the loop closes the pools then, not at the loop's end."""
    with LoopbackServer([Reply.text("one")]) as server:

        async def go() -> None:
            async with ChatClient(api_key=KEY, base_url=server.base_url) as client:
                await client.acomplete(HI)
                pools = client._pools
                assert pools is not None
                assert any(pools.clients)
            assert client._pools is None
            assert not any(pools.clients)  # closed before the loop ends

        asyncio.run(go())


def test_every_pool_shares_one_tls_context(monkeypatch: pytest.MonkeyPatch):
    """Loading the CA certificates costs 20 ms and 1 MiB: done once, not once per pool."""
    import ssl

    from agentkit._pools import tls_context

    made = []
    real = ssl.create_default_context
    monkeypatch.setattr(
        ssl, "create_default_context", lambda *a, **k: made.append(1) or real(*a, **k)
    )
    tls_context.cache_clear()
    replies = [Reply.text(str(n)) for n in range(7)]
    with LoopbackServer(replies, latency=0.05) as server:
        client = ChatClient(api_key=KEY, base_url=server.base_url)

        async def three_at_once() -> None:
            async with client:
                await asyncio.gather(*(client.acomplete(HI) for _ in range(3)))
                assert sum(pool is not None for pool in client._pools.clients) == 3

        asyncio.run(three_at_once())  # three pools
        asyncio.run(three_at_once())  # three more, in another event loop
        with client:
            client.complete(HI)  # and the sync pool
    assert len(made) == 1


def test_clients_passed_in_are_not_closed():
    """close() closes only the pools the ChatClient made itself."""
    mine = httpx.Client(transport=ScriptedGoAPI([Reply.text("a"), Reply.text("b")]))
    with ChatClient(api_key=KEY, base_url="http://goapi.test/v1", http_client=mine) as client:
        client.complete(HI)
    assert not mine.is_closed
    assert (
        ChatClient(api_key=KEY, base_url="http://goapi.test/v1", http_client=mine)
        .complete(HI)
        .message.content
        == "b"
    )


# --------------------------------------------------------------------------- logging


def test_events_are_logged_without_the_key(kind: str):
    """request, retry and response events carry model, attempt, status, timings, tokens."""
    run = Run(kind, [Fault.server_error(502), Reply.text("ok").with_usage(12, 3)])
    with capture_logs() as logs:
        run.answer(ChatRequest(model="gpt-4", messages=[UserMessage("Hi")], stream=False))
    events = [entry["event"] for entry in logs]
    assert events == ["agentkit.request", "agentkit.retry", "agentkit.request", "agentkit.response"]
    retry, response = logs[1], logs[3]
    assert (retry["attempt"], retry["status"], retry["reason"]) == (1, 502, "InternalServerError")
    assert (response["attempt"], response["status"], response["finish_reason"]) == (2, 200, "stop")
    assert (response["prompt_tokens"], response["completion_tokens"]) == (12, 3)
    assert response["duration"] >= 0
    assert KEY not in repr(logs)
    assert "Authorization" not in repr(logs)


def test_the_stdlib_fallback_logs_retries_without_the_key(kind: str, caplog: Any):
    """Without structlog configured, warnings reach the `agentkit` logging logger."""
    fault = Fault.json_error(500, f"echo {KEY}")
    run = Run(kind, [fault, Reply.text("ok")])
    with caplog.at_level(logging.DEBUG, logger="agentkit"):
        run.answer()
    text = caplog.text
    assert "agentkit.retry" in text
    assert "agentkit.response" in text
    assert KEY not in text
