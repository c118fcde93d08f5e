"""The test kit speaks GoAPI's exact wire format, and fails loudly when a script is wrong."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import httpx
import pytest

from agentkit import Agent, ChatClient, NotFoundError
from agentkit.testing import (
    DemoModel,
    DemoServices,
    Fault,
    LoopbackServer,
    Reply,
    ScriptedGoAPI,
    ScriptError,
    offline,
)
from tests.spec import assert_valid

URL = "http://goapi.test/v1/chat/completions"
AUTH = {"Authorization": "Bearer sk-test"}
LEGACY = {
    "model": "gpt-3.5-turbo",
    "messages": [{"role": "user", "content": "What is the weather like in Boston?"}],
    "functions": [{"name": "get_current_weather", "parameters": {"type": "object"}}],
}
TOOLS = {
    "model": "gpt-3.5-turbo-1106",
    "messages": [{"role": "user", "content": "Weather in Boston and Paris?"}],
    "tools": [{"type": "function", "function": {"name": "get_current_weather"}}],
}


def post(transport: ScriptedGoAPI, body: dict[str, Any]) -> httpx.Response:
    with httpx.Client(headers=AUTH, transport=transport) as client:
        return client.post(URL, json=body)


def events(response: httpx.Response) -> list[Any]:
    """The data of each SSE event, parsed (`[DONE]` kept as the string)."""
    out = []
    for block in response.text.replace("\r\n", "\n").split("\n\n"):
        data = [
            line.split(":", 1)[1].lstrip() for line in block.split("\n") if line.startswith("data:")
        ]
        if data:
            out.append("[DONE]" if data[0] == "[DONE]" else json.loads("\n".join(data)))
    return out


class TestNonStreamed:
    def test_text_reply_is_a_valid_chat_completion(self):
        response = post(ScriptedGoAPI([Reply.text("Hello!")]), {**LEGACY, "stream": False})
        body = response.json()
        assert_valid("response", body)
        assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello!"}
        assert body["choices"][0]["finish_reason"] == "stop"
        assert response.headers["x-request-id"] == "req_00000001"

    def test_legacy_call_comes_back_as_function_call(self):
        """GoAPI's own example: `content: null`, `function_call`, finish `function_call`."""
        reply = Reply.call("get_current_weather", {"location": "Boston, MA"})
        body = post(ScriptedGoAPI([reply]), LEGACY).json()
        assert_valid("response", body)
        choice = body["choices"][0]
        assert choice["message"]["content"] is None
        assert choice["message"]["function_call"] == {
            "name": "get_current_weather",
            "arguments": '{"location": "Boston, MA"}',
        }
        assert choice["finish_reason"] == "function_call"

    def test_tools_request_gets_tool_calls_with_ids(self):
        reply = Reply.parallel(
            [
                ("get_current_weather", {"location": "Boston"}),
                ("get_current_weather", {"location": "Paris"}),
            ]
        )
        body = post(ScriptedGoAPI([reply]), TOOLS).json()
        assert_valid("response", body)
        calls = body["choices"][0]["message"]["tool_calls"]
        assert [c["function"]["arguments"] for c in calls] == [
            '{"location": "Boston"}',
            '{"location": "Paris"}',
        ]
        assert len({c["id"] for c in calls}) == 2
        assert body["choices"][0]["finish_reason"] == "tool_calls"

    def test_usage_is_scripted_estimated_or_absent(self):
        transport = ScriptedGoAPI(
            [Reply.text("a").with_usage(82, 18), Reply.text("b"), Reply.text("c").with_usage(None)]
        )
        first, second, third = (post(transport, LEGACY).json() for _ in range(3))
        assert first["usage"] == {"prompt_tokens": 82, "completion_tokens": 18, "total_tokens": 100}
        assert second["usage"]["prompt_tokens"] > 0
        assert "usage" not in third

    def test_a_lying_finish_reason_is_sent_as_scripted(self):
        body = post(ScriptedGoAPI([Reply.text("x").with_finish_reason("tool_calls")]), TOOLS).json()
        assert body["choices"][0]["finish_reason"] == "tool_calls"


class TestStreamed:
    def test_stream_has_goapi_shape(self):
        """First delta role + "", fragments, an empty delta with the finish, then [DONE]."""
        response = post(
            ScriptedGoAPI([Reply.text("Hello! How can I help?", chunk_size=5)]),
            {**LEGACY, "stream": True},
        )
        assert response.headers["content-type"] == "text/event-stream"
        data = events(response)
        assert data[-1] == "[DONE]"
        chunks = data[:-1]
        for chunk in chunks:
            assert_valid("chunk", chunk)
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == (
            "Hello! How can I help?"
        )
        assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop"}

    def test_legacy_call_streams_name_first_then_argument_fragments(self):
        reply = Reply.call("get_current_weather", {"location": "Boston, MA"}, chunk_size=4)
        chunks = events(post(ScriptedGoAPI([reply]), {**LEGACY, "stream": True}))[:-1]
        calls = [c["choices"][0]["delta"]["function_call"] for c in chunks[1:-1]]
        assert calls[0] == {"name": "get_current_weather", "arguments": ""}
        assert all(set(c) == {"arguments"} for c in calls[1:])
        assert "".join(c["arguments"] for c in calls) == '{"location": "Boston, MA"}'

    def test_tool_call_quirks(self):
        """Indexes from 3, two entries for one index in the first chunk, "null" names later."""
        reply = Reply.call("f", {"a": 1}, chunk_size=3).with_quirks(
            "index_offset", "dup_first", "null_names"
        )
        chunks = events(post(ScriptedGoAPI([reply]), {**TOOLS, "stream": True}))[:-1]
        first = chunks[1]["choices"][0]["delta"]["tool_calls"]
        assert [entry["index"] for entry in first] == [3, 3]
        later = chunks[2]["choices"][0]["delta"]["tool_calls"][0]
        assert later["function"]["name"] == "null"
        for chunk in chunks:
            assert_valid("chunk", chunk)

    def test_line_quirks(self):
        reply = Reply.text("hi").with_quirks("ping", "crlf", "no_space", "repeat_role", "no_done")
        text = post(ScriptedGoAPI([reply]), {**LEGACY, "stream": True}).text
        assert ": ping\r\n\r\n" in text
        assert "data:{" in text
        assert "\n\n" not in text.replace("\r\n", "")
        assert "[DONE]" not in text
        assert all(
            c["choices"][0]["delta"]["role"] == "assistant"
            for c in events(post(ScriptedGoAPI([reply]), {**LEGACY, "stream": True}))
        )

    def test_usage_chunk_only_when_asked(self):
        body = {**TOOLS, "stream": True, "stream_options": {"include_usage": True}}
        chunks = events(post(ScriptedGoAPI([Reply.text("x").with_usage(5, 1)]), body))
        assert chunks[-2]["choices"] == []
        assert chunks[-2]["usage"]["total_tokens"] == 6
        plain = events(post(ScriptedGoAPI([Reply.text("x")]), {**TOOLS, "stream": True}))
        assert all("usage" not in c for c in plain[:-1])

    def test_cut_stream_has_no_finish_and_no_done(self):
        data = events(
            post(
                ScriptedGoAPI([Reply.text("a long answer", chunk_size=2).cut(3)]),
                {**LEGACY, "stream": True},
            )
        )
        assert len(data) == 3
        assert all(c["choices"][0]["finish_reason"] is None for c in data)

    def test_error_event_mid_stream(self):
        data = events(
            post(ScriptedGoAPI([Reply.text("abc").with_error_event(2)]), {**LEGACY, "stream": True})
        )
        assert data[-1]["error"]["type"] == "server_error"
        assert len(data) == 3

    def test_reads_can_be_split_anywhere(self):
        """`read_size` cuts the body into reads of that many bytes, inside characters too."""
        reply = Reply.text("Zürich ☀️", read_size=3)
        with (
            httpx.Client(headers=AUTH, transport=ScriptedGoAPI([reply])) as client,
            client.stream("POST", URL, json={**LEGACY, "stream": True}) as response,
        ):
            reads = list(response.iter_raw())
        assert {len(r) for r in reads[:-1]} == {3}
        assert "Zürich ☀️" in b"".join(reads).decode()

    def test_a_stall_past_the_read_timeout_times_out_without_sleeping(self):
        with (
            httpx.Client(
                headers=AUTH, transport=ScriptedGoAPI([Reply.text("x", stall=30)]), timeout=1
            ) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.post(URL, json=LEGACY)


class TestFaults:
    def test_json_error(self):
        response = post(
            ScriptedGoAPI(
                [Fault.json_error(400, "bad", "invalid_request_error", "context_length_exceeded")]
            ),
            LEGACY,
        )
        assert response.status_code == 400
        assert_valid("error", response.json())
        assert response.json()["error"]["code"] == "context_length_exceeded"

    def test_cloudflare_page(self):
        response = post(ScriptedGoAPI([Fault.cloudflare(524)]), LEGACY)
        assert response.status_code == 524
        assert response.headers["server"] == "cloudflare"
        assert response.headers["cf-ray"].endswith("-SJC")
        assert "<title>api.goapi.xyz | 524: A timeout occurred</title>" in response.text

    def test_rate_limit_headers(self):
        response = post(
            ScriptedGoAPI([Fault.rate_limit(retry_after=2, retry_after_ms=1500)]), LEGACY
        )
        assert (response.status_code, response.headers["retry-after"]) == (429, "2")
        assert response.headers["retry-after-ms"] == "1500"
        quota = post(ScriptedGoAPI([Fault.insufficient_quota()]), LEGACY).json()
        assert quota["error"]["code"] == "insufficient_quota"

    def test_dropped_connection_is_a_connect_error(self):
        with pytest.raises(httpx.ConnectError):
            post(ScriptedGoAPI([Fault.dropped()]), LEGACY)


class TestScript:
    def test_requests_are_recorded(self):
        transport = ScriptedGoAPI([Reply.text("a")])
        post(transport, LEGACY)
        assert transport.requests == [LEGACY]
        assert transport.headers[0]["content-type"] == "application/json"

    def test_running_out_fails_readably(self):
        transport = ScriptedGoAPI([])
        with pytest.raises(ScriptError, match="the script has 0 entries but request 1 came"):
            post(transport, LEGACY)
        with pytest.raises(ScriptError):
            transport.assert_complete()

    def test_unused_entries_fail_assert_complete(self):
        transport = ScriptedGoAPI([Reply.text("a"), Reply.text("b")])
        post(transport, LEGACY)
        with pytest.raises(ScriptError, match="1 of 2 scripted entries were never requested"):
            transport.assert_complete()

    def test_parallel_calls_cannot_answer_a_legacy_request(self):
        with pytest.raises(ScriptError, match="legacy functions style"):
            post(ScriptedGoAPI([Reply.parallel([("a", {}), ("b", {})])]), LEGACY)

    def test_unknown_quirk_is_refused(self):
        with pytest.raises(ValueError, match="unknown quirks"):
            Reply.text("x").with_quirks("sparkles")

    @pytest.mark.anyio
    async def test_async_clients_are_served_too(self):
        transport = ScriptedGoAPI([Reply.text("async hello", chunk_size=3)])
        async with httpx.AsyncClient(headers=AUTH, transport=transport) as client:
            response = await client.post(URL, json={**LEGACY, "stream": True})
        assert (
            "".join(c["choices"][0]["delta"].get("content", "") for c in events(response)[:-1])
            == "async hello"
        )


class TestDemoModel:
    def test_calls_the_fitting_function_with_the_place(self):
        body = {
            "messages": [{"role": "user", "content": "What is the weather like in Boston?"}],
            "functions": [
                {
                    "name": "search",
                    "description": "Search the web",
                    "parameters": {
                        "type": "object",
                        "properties": {"query": {"type": "string"}},
                        "required": ["query"],
                    },
                },
                {
                    "name": "get_current_weather",
                    "description": "Get the current weather",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "location": {"type": "string"},
                            "unit": {"enum": ["celsius", "fahrenheit"]},
                        },
                        "required": ["location"],
                    },
                },
            ],
        }
        reply = DemoModel()(body)
        assert reply.calls == (("get_current_weather", '{"location": "Boston"}'),)

    def test_answers_with_the_function_result(self):
        body = {"messages": [{"role": "function", "name": "f", "content": "22 C, sunny"}]}
        assert DemoModel()(body).content == "Here is what I found: 22 C, sunny"

    def test_fills_required_parameters_by_type(self):
        body = {
            "messages": [{"role": "user", "content": "Add things"}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "add",
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "a": {"type": "integer"},
                                "on": {"type": "boolean"},
                                "xs": {"type": "array"},
                            },
                            "required": ["a", "on", "xs"],
                        },
                    },
                }
            ],
        }
        assert json.loads(DemoModel()(body).calls[0][1]) == {"a": 1, "on": True, "xs": []}


class TestLoopbackServer:
    def test_serves_streams_over_a_real_socket_with_keep_alive(self):
        with LoopbackServer([Reply.text("one"), Reply.text("two", chunk_size=1)]) as server:
            with httpx.Client(headers=AUTH, base_url=server.base_url) as client:
                first = client.post("/chat/completions", json=LEGACY)
                second = client.post("/chat/completions", json={**LEGACY, "stream": True})
            server.assert_complete()
        assert first.json()["choices"][0]["message"]["content"] == "one"
        assert (
            "".join(c["choices"][0]["delta"].get("content", "") for c in events(second)[:-1])
            == "two"
        )

    def test_many_concurrent_requests(self):
        async def run(base_url: str) -> list[int]:
            async with httpx.AsyncClient(headers=AUTH, base_url=base_url) as client:
                responses = await asyncio.gather(
                    *(client.post("/chat/completions", json=LEGACY) for _ in range(100))
                )
            return [r.status_code for r in responses]

        with LoopbackServer(lambda body: Reply.text("ok"), latency=0.05) as server:
            assert asyncio.run(run(server.base_url)) == [200] * 100
            assert server.max_in_flight > 10  # they really overlapped
            assert len(server.requests) == 100

    def test_a_stall_really_waits(self):
        with (
            LoopbackServer([Reply.text("late", stall=60.0)]) as server,  # closing ends it
            httpx.Client(headers=AUTH, base_url=server.base_url, timeout=0.1) as client,
            pytest.raises(httpx.ReadTimeout),
        ):
            client.post("/chat/completions", json=LEGACY)

    def test_a_mid_stream_stall(self):
        reply = Reply.text("abcdef", chunk_size=1, stall_after=(3, 60.0))  # closing ends it
        with (
            LoopbackServer([reply]) as server,
            httpx.Client(headers=AUTH, base_url=server.base_url, timeout=0.1) as client,
            client.stream("POST", "/chat/completions", json={**LEGACY, "stream": True}) as response,
            pytest.raises(httpx.ReadTimeout),
        ):
            for _ in response.iter_bytes():
                pass

    def test_dropped_connection(self):
        with (
            LoopbackServer([Fault.dropped()]) as server,
            httpx.Client(headers=AUTH, base_url=server.base_url) as client,
            pytest.raises(httpx.RemoteProtocolError),
        ):
            client.post("/chat/completions", json=LEGACY)

    def test_faults_over_the_socket(self):
        with (
            LoopbackServer([Fault.cloudflare(524)]) as server,
            httpx.Client(headers=AUTH, base_url=server.base_url) as client,
        ):
            response = client.post("/chat/completions", json=LEGACY)
        assert response.status_code == 524
        assert response.headers["cf-ray"]

    def test_script_errors_surface_in_assert_complete(self):
        with (
            LoopbackServer([]) as server,
            httpx.Client(headers=AUTH, base_url=server.base_url) as client,
        ):
            response = client.post("/chat/completions", json=LEGACY)
        assert response.status_code == 500
        with pytest.raises(ScriptError, match="request 1 came"):
            server.assert_complete()


# --------------------------------------------------------------------------- strictness


def send(
    transport: ScriptedGoAPI,
    body: Any = LEGACY,
    *,
    method: str = "POST",
    url: str = URL,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with httpx.Client(transport=transport) as client:
        return client.request(
            method, url, content=content, headers=AUTH if headers is None else headers
        )


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert_valid("error", body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


class TestStrict:
    """By default the test kit refuses what the real API refuses, before the script sees it."""

    @pytest.mark.parametrize(
        ("method", "url", "says"),
        [
            ("POST", "http://goapi.test/chat/completions", "Invalid URL (POST /chat/completions)"),
            (
                "POST",
                "http://goapi.test/v1/chat/completion",
                "Invalid URL (POST /v1/chat/completion)",
            ),
            ("POST", "http://goapi.test/v1/completions", "Invalid URL (POST /v1/completions)"),
            ("GET", URL, "Invalid URL (GET /v1/chat/completions)"),
            ("PUT", URL, "Invalid URL (PUT /v1/chat/completions)"),
        ],
    )
    def test_an_unknown_path_or_method_is_404(self, method: str, url: str, says: str):
        transport = ScriptedGoAPI([Reply.text("never")])
        response = send(transport, method=method, url=url)
        assert response.status_code == 404
        error = error_of(response)
        assert error["message"] == says
        assert error["type"] == "invalid_request_error"
        assert transport.requests == []  # the script was not asked
        assert transport.rejected == [(404, says)]

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "sk-test"},
            {"Authorization": "Bearer "},
            {"Authorization": "Basic x"},
        ],
    )
    def test_a_missing_or_malformed_key_is_401(self, headers: dict[str, str]):
        response = send(ScriptedGoAPI([Reply.text("never")]), headers=headers)
        assert response.status_code == 401
        assert error_of(response)["message"].startswith("You didn't provide an API key.")

    @pytest.mark.parametrize(
        ("body", "param", "says"),
        [
            ({"messages": [{"role": "user", "content": "hi"}]}, None, "'model' is a required"),
            ({"model": "gpt-4"}, None, "'messages' is a required property"),
            ({**LEGACY, "temperature": "hot"}, "temperature", "'hot' is not of type 'number' or"),
            ({**LEGACY, "temperature": 7}, "temperature", "7 is greater than the maximum of 2"),
            (
                {**LEGACY, "messages": [{"role": "wizard", "content": "hi"}]},
                "messages[0].role",
                "'wizard' is not one of the roles: developer, system, user, assistant, tool",
            ),
            (
                {**LEGACY, "messages": [{"role": "user"}]},
                "messages[0]",
                "'content' is a required property",
            ),
            (
                {**LEGACY, "messages": [{"content": "hi"}]},
                "messages[0]",
                "'role' is a required property",
            ),
            (
                {**LEGACY, "messages": [{"role": "user", "content": 5}]},
                "messages[0].content",
                "5 is not of type 'string' or 'array'",
            ),
            (
                {**LEGACY, "functions": [{"name": "f", "parameters": []}]},
                "functions[0].parameters",
                "[] is not of type 'object'",
            ),
            ({**LEGACY, "stream": "yes"}, "stream", "'yes' is not of type 'boolean'"),
            ([LEGACY], None, "is not of type 'object'"),
        ],
    )
    def test_a_body_off_the_schema_is_400_naming_the_field(
        self, body: Any, param: str | None, says: str
    ):
        response = send(ScriptedGoAPI([Reply.text("never")]), body)
        assert response.status_code == 400
        error = error_of(response)
        assert says in error["message"]
        assert error["param"] == param
        if param is not None:
            assert error["message"].startswith(f"Invalid value for '{param}")

    def test_a_body_that_is_not_json_is_400(self):
        response = send(ScriptedGoAPI([Reply.text("never")]), b'{"model": "gpt-4",')
        assert response.status_code == 400
        assert error_of(response)["message"].startswith("We could not parse the JSON body")

    def test_a_tool_message_that_answers_no_call_is_400(self):
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "call_1", "content": "22 C"},
        ]
        response = send(ScriptedGoAPI([Reply.text("never")]), {**TOOLS, "messages": messages})
        assert response.status_code == 400
        error = error_of(response)
        assert (
            "messages with role 'tool' must be a response to a preceding message"
            in (error["message"])
        )
        assert error["param"] == "messages[1].role"

    def test_a_tool_message_with_the_wrong_id_is_400(self):
        call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_2", "content": "22 C"},
        ]
        response = send(ScriptedGoAPI([Reply.text("never")]), {**TOOLS, "messages": messages})
        assert response.status_code == 400
        assert "'call_2'" in error_of(response)["message"]

    def test_a_call_left_without_its_answer_is_400(self):
        calls = [
            {"id": f"call_{n}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            for n in (1, 2)
        ]
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_1", "content": "22 C"},
            {"role": "user", "content": "and?"},
        ]
        response = send(ScriptedGoAPI([Reply.text("never")]), {**TOOLS, "messages": messages})
        assert response.status_code == 400
        assert error_of(response)["message"].endswith("did not have response messages: call_2")

    def test_a_function_message_without_a_function_call_is_400(self):
        messages = [
            {"role": "user", "content": "hi"},
            {"role": "function", "name": "get_current_weather", "content": "22 C"},
        ]
        response = send(ScriptedGoAPI([Reply.text("never")]), {**LEGACY, "messages": messages})
        assert response.status_code == 400
        assert "role 'function' must be a response" in error_of(response)["message"]

    def test_answered_calls_in_both_styles_pass(self):
        call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        tools = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "22 C"},
        ]
        legacy = [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "function_call": call["function"]},
            {"role": "function", "name": "f", "content": "22 C"},
        ]
        transport = ScriptedGoAPI([Reply.text("a"), Reply.text("b")])
        assert send(transport, {**TOOLS, "messages": tools}).status_code == 200
        assert send(transport, {**LEGACY, "messages": legacy}).status_code == 200
        transport.assert_complete()
        assert transport.rejected == []

    def test_strict_false_serves_anything(self):
        transport = ScriptedGoAPI([Reply.text("a"), Reply.text("b")], strict=False)
        odd = send(transport, {"model": "x", "messages": [], "temperature": "hot"}, headers={})
        assert odd.status_code == 200
        assert send(transport, method="PUT", url="http://odd.test/generate").status_code == 200
        transport.assert_complete()

    def test_the_loopback_server_is_strict_too(self):
        with LoopbackServer([Reply.text("ok")]) as server:
            with httpx.Client(base_url=server.base_url) as client:
                keyless = client.post("/chat/completions", json=LEGACY)
                wrong = client.post("/chat", json=LEGACY, headers=AUTH)
                bad = client.post("/chat/completions", json={"model": 4}, headers=AUTH)
                good = client.post("/chat/completions", json=LEGACY, headers=AUTH)
            server.assert_complete()
        assert [r.status_code for r in (keyless, wrong, bad, good)] == [401, 404, 400, 200]
        assert error_of(wrong)["message"] == "Invalid URL (POST /v1/chat)"
        assert [status for status, _ in server.rejected] == [401, 404, 400]

    def test_an_agent_with_a_wrong_base_url_gets_not_found(self):
        """What the strictness is for: a mistake in a user's setup fails the test."""
        transport = ScriptedGoAPI([Reply.text("never")])
        client = ChatClient(
            api_key="sk-test",
            base_url="http://goapi.test",  # without /v1
            http_client=httpx.Client(transport=transport),
            max_retries=0,
        )
        with Agent(client=client) as agent, pytest.raises(NotFoundError) as raised:
            agent.run("Hello")
        assert raised.value.status_code == 404
        assert "Invalid URL (POST /chat/completions)" in str(raised.value)


# --------------------------------------------------------------------------- offline


def is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    return host in ("127.0.0.1", "::1", "localhost")


class TestOffline:
    def test_nothing_leaves_the_machine(self, monkeypatch: pytest.MonkeyPatch):
        """Every look-up and connection of an offline run, recorded before any guard sees
        it, goes to loopback: the model, the weather service and the search service."""
        from agentkit_tools import get_current_weather, web_search

        attempts: list[Any] = []
        with offline() as server:
            real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

            def connect(self: socket.socket, address: Any) -> None:
                attempts.append(address)
                real_connect(self, address)

            def lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
                attempts.append(host)
                return real_lookup(host, *args, **kwargs)

            monkeypatch.setattr(socket.socket, "connect", connect)
            monkeypatch.setattr(socket, "getaddrinfo", lookup)
            with Agent(
                tools=[get_current_weather, web_search], base_url=server.base_url, api_key="x"
            ) as agent:
                weather = agent.run("What is the current weather like in Boston?").output
                found = agent.run("Search the web for the Python programming language").output
            monkeypatch.undo()
        assert "Boston (demo data), Massachusetts, United States: 22°C, clear sky" in weather
        assert "1. Python (programming language)" in found
        assert attempts  # the recording saw the model's connections
        assert all(is_loopback(a) for a in attempts), attempts

    def test_any_other_host_is_unreachable(self):
        transport = DemoServices()
        with httpx.Client(transport=transport) as client, pytest.raises(httpx.ConnectError) as e:
            client.get("https://example.com/")
        assert "offline: example.com is not reachable" in str(e.value)
        assert [str(u) for u in transport.requests] == ["https://example.com/"]

    def test_the_weather_tools_on_demo_data(self):
        from agentkit_tools import get_current_weather as now
        from agentkit_tools import get_forecast, use_transport

        with use_transport(DemoServices()):
            boston = now("Boston, MA")
            fahrenheit = now("Boston", unit="fahrenheit")
            forecast = get_forecast("Paris, France", days=3)
            made_up = now("Springfield")
        assert boston.startswith(
            "Boston (demo data), Massachusetts, United States: 22°C, clear sky, wind 11.2 km/h"
        )
        assert "71.6°F" in fahrenheit
        assert "mp/h" in fahrenheit
        lines = forecast.splitlines()
        assert lines[0] == "Forecast for Paris (demo data), Île-de-France, France:"
        assert [line[:10] for line in lines[1:]] == ["2025-06-02", "2025-06-03", "2025-06-04"]
        assert made_up.startswith("Springfield (demo data): ")
        with use_transport(DemoServices()):
            assert now("Springfield") == made_up  # the same every time

    def test_the_search_tools_on_demo_data(self):
        from agentkit_tools import use_transport, web_search, wikipedia_summary

        from agentkit import ToolRetry

        with use_transport(DemoServices()):
            hits = web_search("Guido van Rossum", limit=1)
            summary = wikipedia_summary("Alan Turing")
            none = web_search("quantum chromodynamics")
            with pytest.raises(ToolRetry, match="no article titled"):
                wikipedia_summary("No Such Page")
        assert hits.splitlines()[0] == (
            "1. Guido van Rossum <https://en.wikipedia.org/wiki/Guido_van_Rossum>"
        )
        assert summary.startswith("Alan Turing <https://en.wikipedia.org/wiki/Alan_Turing>")
        assert summary.endswith("(demo data)")
        assert none == "No results for 'quantum chromodynamics'. Try fewer or different keywords."

    @pytest.mark.parametrize(
        ("params", "status"),
        [
            ({"latitude": "x", "longitude": "1"}, 400),
            ({"latitude": "91", "longitude": "1"}, 400),
            ({"latitude": "nan", "longitude": "1"}, 400),
            ({"latitude": "1", "longitude": "1", "forecast_days": "99"}, 400),
            ({"latitude": "1", "longitude": "1", "current": "temperature_2m"}, 200),
        ],
    )
    def test_the_forecast_service_checks_its_input(self, params: dict[str, str], status: int):
        with httpx.Client(transport=DemoServices()) as client:
            response = client.get("https://api.open-meteo.com/v1/forecast", params=params)
        assert response.status_code == status
        assert isinstance(response.json(), dict)
