"""The wire: request bodies, message dumps, responses, stream chunks and error responses."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit import (
    APIStatusError,
    AssistantMessage,
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    GatewayError,
    ImagePart,
    InsufficientQuotaError,
    InternalServerError,
    ModelResponse,
    ModelSettings,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamEventError,
    SystemMessage,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    TruncatedStreamError,
    Usage,
    UsageError,
    UserMessage,
    tool,
)
from agentkit._replies import ChunkAccumulator, parse_error, parse_response, retry_after
from agentkit._script import _Renderer
from agentkit._sse import SSEDecoder
from agentkit._wire import build_request, dump_messages, load_messages
from agentkit.testing import Fault, Reply
from tests.spec import assert_valid, assert_valid_request, spec_errors


@tool
def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
        unit: Temperature unit.
    """
    return f"20 degrees {unit} in {location}"


@tool(strict=True)
def lookup(query: str) -> str:
    """Look a word up."""
    return query


TOOLS = [get_current_weather, lookup]
WEATHER = get_current_weather.name
BOSTON = '{"location": "Boston, MA"}'
PARIS = '{"location": "Paris", "unit": "celsius"}'


def request(**kwargs: Any) -> dict[str, Any]:
    """`build_request` with a short chat, checked against both OpenAI schemas."""
    kwargs.setdefault("model", "gpt-3.5-turbo-1106")
    kwargs.setdefault("messages", [UserMessage("Weather in Boston?")])
    body = build_request(**kwargs)
    assert_valid_request(body)
    return body


# --------------------------------------------------------------------------- requests


def test_functions_style_sends_functions_and_function_call():
    """The legacy style offers `functions` (the bare schemas) and no `tools`."""
    body = request(functions=TOOLS, style="functions", stream=False)
    assert body["functions"] == [get_current_weather.schema, lookup.schema]
    assert "tools" not in body
    assert "tool_choice" not in body
    assert "function_call" not in body


def test_tools_style_sends_tools_with_strict_flag():
    """The tools style wraps each schema in `{"type": "function"}`; strict tools say so."""
    body = request(functions=TOOLS, style="tools", stream=False)
    assert body["tools"] == [
        {"type": "function", "function": get_current_weather.schema},
        {"type": "function", "function": {**lookup.schema, "strict": True}},
    ]
    assert "functions" not in body
    assert "function_call" not in body


def test_no_functions_means_neither_field():
    """Without tools the body names neither `functions` nor `tools`."""
    for style in ("functions", "tools"):
        body = request(style=style, stream=False)
        assert set(body) == {"model", "messages"}


@pytest.mark.parametrize(
    ("style", "choice", "field", "value"),
    [
        ("functions", "auto", "function_call", "auto"),
        ("functions", "none", "function_call", "none"),
        ("functions", WEATHER, "function_call", {"name": WEATHER}),
        ("tools", "auto", "tool_choice", "auto"),
        ("tools", "none", "tool_choice", "none"),
        ("tools", WEATHER, "tool_choice", {"type": "function", "function": {"name": WEATHER}}),
    ],
)
def test_tool_choice_forms(style, choice, field, value):
    """`tool_choice` becomes `function_call` or `tool_choice` in the style's own form."""
    body = request(functions=TOOLS, style=style, tool_choice=choice)
    assert body[field] == value
    assert ({"function_call", "tool_choice"} - {field}).isdisjoint(body)


def test_required_tool_choice_is_sent_as_is():
    """`"required"` passes through in the tools style (a field of 2024: the 2023 schema and
    GoAPI-era servers refuse it, so only the current schema is checked)."""
    body = build_request(
        model="gpt-4o", messages=[UserMessage("Hi")], functions=TOOLS, tool_choice="required"
    )
    assert body["tool_choice"] == "required"
    assert spec_errors("request", body) == [
        "openai_chat_schema_2023-12-14.json: tool_choice: 'required' is not valid under any of"
        " the given schemas"
    ]


def test_every_setting_is_sent():
    """Each setting given goes into the body under its wire name."""
    settings_ = ModelSettings(
        temperature=0.2,
        top_p=0.9,
        max_tokens=300,
        stop=("END", "STOP"),
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        logit_bias={"50256": -100},
        seed=7,
        user="user-1",
        response_format="json_object",
        extra_body={"n": 1},
    )
    body = request(settings=settings_, stream=False)
    assert body == {
        "model": "gpt-3.5-turbo-1106",
        "messages": [{"role": "user", "content": "Weather in Boston?"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 300,
        "stop": ["END", "STOP"],
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100},
        "seed": 7,
        "user": "user-1",
        "response_format": {"type": "json_object"},
        "n": 1,
    }


def test_unset_settings_are_left_out():
    """`None` settings leave their fields out, so the server's defaults apply."""
    body = request(settings=ModelSettings(), stream=False)
    assert set(body) == {"model", "messages"}


@pytest.mark.parametrize(
    ("stop", "sent"), [("END", "END"), (["a"], ["a"]), (("a", "b"), ["a", "b"])]
)
def test_stop_as_string_or_list(stop, sent):
    """`stop` is sent as a string or as a JSON list."""
    assert request(settings=ModelSettings(stop=stop))["stop"] == sent


def test_an_empty_stop_list_is_left_out():
    """`stop=[]` means no stop sequences: the body stays valid."""
    body = build_request(model="m", messages=[UserMessage("Hi")], settings=ModelSettings(stop=[]))
    assert_valid_request(body)


def test_text_response_format():
    """`response_format="text"` is sent as `{"type": "text"}`."""
    body = request(settings=ModelSettings(response_format="text"))
    assert body["response_format"] == {"type": "text"}


@pytest.mark.parametrize(
    ("stream", "include_usage", "expected"),
    [
        (True, False, {"stream": True}),
        (True, True, {"stream": True, "stream_options": {"include_usage": True}}),
        (False, False, {}),
        (False, True, {}),
    ],
)
def test_stream_and_include_usage(stream, include_usage, expected):
    """`stream` is sent only when streaming; `stream_options` only when usage is asked for."""
    body = request(stream=stream, settings=ModelSettings(include_usage=include_usage))
    assert {k: v for k, v in body.items() if k.startswith("stream")} == expected


def test_streaming_without_settings_asks_for_no_usage():
    """By default a stream is requested without `stream_options` (2023 servers refuse it)."""
    assert "stream_options" not in request()


def test_user_content_with_text_and_image_parts():
    """Parts become `text` and `image_url` entries; `detail` only when set."""
    message = UserMessage(
        [
            TextPart("What is in these images?"),
            ImagePart("https://example.com/a.png", "high"),
            ImagePart("data:image/png;base64,iVBORw0KGgo="),
        ],
        name="alice",
    )
    body = request(model="gpt-4-vision-preview", messages=[message])
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these images?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://example.com/a.png", "detail": "high"},
                },
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
            "name": "alice",
        }
    ]


def test_system_message_with_a_name():
    """A system message keeps its optional name; without one, no `name` field."""
    body = request(messages=[SystemMessage("Be brief.", name="rules"), SystemMessage("x")])
    assert body["messages"] == [
        {"role": "system", "content": "Be brief.", "name": "rules"},
        {"role": "system", "content": "x"},
    ]


# --------------------------------------------------------------------------- histories

LEGACY_HISTORY = [
    SystemMessage("You report the weather."),
    UserMessage("Weather in Boston?"),
    AssistantMessage(None, [ToolCall(WEATHER, BOSTON)]),
    ToolResult(WEATHER, "sunny"),
    AssistantMessage("It is sunny in Boston."),
    UserMessage("And in Paris?"),
    AssistantMessage(None, [ToolCall(WEATHER, PARIS)]),
    ToolResult(WEATHER, "rainy"),
]

TOOLS_HISTORY = [
    UserMessage("Weather in Boston and Paris?"),
    AssistantMessage(
        "Let me check both.",
        [ToolCall(WEATHER, BOSTON, "call_b"), ToolCall(WEATHER, PARIS, "call_p")],
    ),
    ToolResult(WEATHER, "rainy", "call_p"),  # results may come in any order
    ToolResult(WEATHER, "sunny", "call_b"),
    AssistantMessage("Sunny in Boston, rainy in Paris."),
]


def test_a_legacy_history_sent_in_the_tools_style_gets_made_up_ids():
    """Calls without ids get stable made-up ids that the following results reuse."""
    body = request(messages=LEGACY_HISTORY, functions=TOOLS, style="tools")
    messages = body["messages"]
    first, second = messages[2]["tool_calls"][0], messages[6]["tool_calls"][0]
    assert first["id"] != second["id"]
    assert messages[3] == {"role": "tool", "tool_call_id": first["id"], "content": "sunny"}
    assert messages[7] == {"role": "tool", "tool_call_id": second["id"], "content": "rainy"}
    assert first["function"] == {"name": WEATHER, "arguments": BOSTON}
    assert request(messages=LEGACY_HISTORY, style="tools")["messages"] == messages  # stable


def test_two_legacy_calls_of_one_name_are_answered_in_order():
    """Legacy results answer the open calls of their name in the order of the calls."""
    history = [
        UserMessage("Weather?"),
        AssistantMessage(None, [ToolCall(WEATHER, BOSTON)]),
        AssistantMessage(None, [ToolCall(WEATHER, PARIS)]),
        ToolResult(WEATHER, "sunny"),
        ToolResult(WEATHER, "rainy"),
    ]
    messages = request(messages=history, style="tools")["messages"]
    ids = [messages[1]["tool_calls"][0]["id"], messages[2]["tool_calls"][0]["id"]]
    assert [messages[3]["tool_call_id"], messages[4]["tool_call_id"]] == ids


def test_a_legacy_result_without_its_call_is_a_usage_error():
    """A result that answers no earlier call cannot be given an id."""
    with pytest.raises(UsageError, match="answers no call"):
        dump_messages([UserMessage("Hi"), ToolResult(WEATHER, "sunny")], "tools")


def test_a_tools_history_sent_in_the_functions_style_is_split():
    """An assistant message with 2 calls becomes 2 legacy messages, each followed by its result."""
    body = request(messages=TOOLS_HISTORY, functions=TOOLS, style="functions")
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Boston and Paris?"},
        {
            "role": "assistant",
            "content": "Let me check both.",
            "function_call": {"name": WEATHER, "arguments": BOSTON},
        },
        {"role": "function", "name": WEATHER, "content": "sunny"},
        {
            "role": "assistant",
            "content": None,
            "function_call": {"name": WEATHER, "arguments": PARIS},
        },
        {"role": "function", "name": WEATHER, "content": "rainy"},
        {"role": "assistant", "content": "Sunny in Boston, rainy in Paris."},
    ]


def test_a_tools_history_keeps_its_ids_in_the_tools_style():
    """Ids the server gave are sent back unchanged."""
    messages = request(messages=TOOLS_HISTORY, style="tools")["messages"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["call_b", "call_p"]
    assert [messages[2]["tool_call_id"], messages[3]["tool_call_id"]] == ["call_p", "call_b"]


def test_split_calls_without_results_stay_valid():
    """Parallel calls still waiting for results are split too."""
    history = TOOLS_HISTORY[:2]
    messages = request(messages=history, style="functions")["messages"]
    assert [m.get("function_call", {}).get("arguments") for m in messages] == [None, BOSTON, PARIS]


@pytest.mark.parametrize("history", [LEGACY_HISTORY, TOOLS_HISTORY], ids=["legacy", "tools"])
@pytest.mark.parametrize("style", ["functions", "tools"])
@pytest.mark.parametrize("stream", [True, False])
def test_every_built_body_is_valid(history, style, stream):
    """Both histories in both styles, with tools and settings, pass both OpenAI schemas."""
    request(
        messages=history,
        functions=TOOLS,
        style=style,
        stream=stream,
        tool_choice=WEATHER,
        settings=ModelSettings(temperature=0, max_tokens=100, stop="x", seed=1, include_usage=True),
    )


# --------------------------------------------------------------------------- dump / load


def test_tools_dump_loads_back_to_the_same_messages():
    """`load_messages(dump_messages(h))` is `h` in the tools style, through JSON too."""
    dumped = json.loads(json.dumps(dump_messages(TOOLS_HISTORY)))
    assert load_messages(dumped) == TOOLS_HISTORY


def test_functions_dump_loads_back_to_the_same_messages():
    """A legacy history round-trips in the functions style."""
    history = [
        *LEGACY_HISTORY,
        UserMessage([TextPart("Look"), ImagePart("https://x.y/z.png", "low")]),
    ]
    dumped = json.loads(json.dumps(dump_messages(history, "functions")))
    assert load_messages(dumped) == history


def test_a_tool_result_loads_its_name_from_the_call():
    """`role: tool` carries no name: it comes from the call with that id."""
    loaded = load_messages(dump_messages(TOOLS_HISTORY))
    assert [m.name for m in loaded if isinstance(m, ToolResult)] == [WEATHER, WEATHER]


def test_load_accepts_an_image_url_given_as_a_string():
    """Some clients put the URL straight into `image_url`."""
    (message,) = load_messages(
        [{"role": "user", "content": [{"type": "image_url", "image_url": "https://x.y/z.png"}]}]
    )
    assert message == UserMessage([ImagePart("https://x.y/z.png")])


_WORDS = st.text(max_size=20)


@st.composite
def histories(draw: st.DrawFn) -> list[Any]:
    """Chats in the tools style: text turns and parallel calls answered by id."""
    messages: list[Any] = []
    for turn in range(draw(st.integers(0, 4))):
        messages.append(UserMessage(draw(_WORDS), draw(st.none() | st.just("bob"))))
        names = draw(st.lists(st.sampled_from(["a", "b_c", "d-1"]), max_size=3))
        calls = [ToolCall(n, draw(_WORDS), f"call_{turn}_{i}") for i, n in enumerate(names)]
        messages.append(
            AssistantMessage(draw(st.none() | _WORDS) if calls else draw(_WORDS), calls)
        )
        messages += [ToolResult(c.name, draw(_WORDS), c.id) for c in calls]
    return messages


@settings(max_examples=100, deadline=None)
@given(history=histories())
def test_any_tools_history_round_trips(history):
    """Dumped, written as JSON and loaded again, any tools-style chat is unchanged."""
    assert load_messages(json.loads(json.dumps(dump_messages(history)))) == history


@pytest.mark.parametrize(
    ("item", "match"),
    [
        ({"role": "robot", "content": "x"}, r"messages\[1\]: unknown role 'robot'"),
        ("not a message", r"messages\[1\]: a message must be an object, got str"),
        (None, r"messages\[1\]: a message must be an object"),
        ({"role": "system", "content": 5}, r"messages\[1\]: 'content' must be a string"),
        ({"role": "tool", "content": "x"}, r"messages\[1\]: 'tool_call_id' must be a string"),
        ({"role": "function", "content": "x"}, r"messages\[1\]: 'name' must be a string"),
        ({"role": "user", "content": [{"type": "audio"}]}, r"messages\[1\]: unknown content part"),
        ({"role": "user", "content": ["x"]}, r"messages\[1\]: a content part must be an object"),
        ({"role": "user", "content": [{"type": "image_url"}]}, r"messages\[1\]: 'image_url'"),
        ({"role": "assistant", "content": 3}, r"messages\[1\]: 'content' must be a string"),
    ],
)
def test_load_errors_name_the_index(item, match):
    """A malformed message is a `UsageError` that says which one and why."""
    with pytest.raises(UsageError, match=match):
        load_messages([{"role": "user", "content": "Hi"}, item])


@pytest.mark.parametrize(
    "item",
    [
        {"role": "assistant", "content": None, "tool_calls": [5]},
        {"role": "assistant", "content": None, "tool_calls": "call"},
        {"role": "assistant", "content": None, "function_call": "get_current_weather"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}
            ],
        },
    ],
)
def test_load_errors_for_malformed_calls_name_the_index(item):
    """Calls that are not objects, or arguments that are not text, are a `UsageError`."""
    with pytest.raises(UsageError, match=r"messages\[1\]"):
        load_messages([{"role": "user", "content": "Hi"}, item])


# --------------------------------------------------------------------------- responses

TOOLS_BODY: dict[str, Any] = {
    "model": "gpt-3.5-turbo-1106",
    "messages": [{"role": "user", "content": "Weather in Boston?"}],
    "tools": [{"type": "function", "function": get_current_weather.schema}],
    "stream": True,
    "stream_options": {"include_usage": True},
}
LEGACY_BODY: dict[str, Any] = {
    "model": "gpt-3.5-turbo-0613",
    "messages": [{"role": "user", "content": "Weather in Boston?"}],
    "functions": [get_current_weather.schema],
    "stream": True,
    "stream_options": {"include_usage": True},
}


def render(reply: Reply, body: dict[str, Any] = TOOLS_BODY) -> _Renderer:
    return _Renderer(body, reply, 1)


def accumulate(chunks: list[dict[str, Any]]) -> ChunkAccumulator:
    accumulator = ChunkAccumulator()
    for chunk in chunks:
        accumulator.add(chunk)
    return accumulator


def test_parse_a_text_completion():
    """A text answer gives the text, the finish reason, the usage, the model and the id."""
    completion = render(Reply.text("Hello there").with_usage(9, 3)).completion()
    assert_valid("response", completion)
    assert parse_response(completion) == ModelResponse(
        AssistantMessage("Hello there"),
        "stop",
        Usage(requests=1, prompt_tokens=9, completion_tokens=3),
        "gpt-3.5-turbo-1106",
        "chatcmpl-00000000000000000000000000001",
    )


def test_parse_a_legacy_function_call():
    """A `function_call` becomes one call without an id."""
    completion = render(Reply.call(WEATHER, {"location": "Boston"}), LEGACY_BODY).completion()
    response = parse_response(completion)
    assert response.message == AssistantMessage(None, [ToolCall(WEATHER, '{"location": "Boston"}')])
    assert response.finish_reason == "function_call"


def test_parse_tool_calls():
    """`tool_calls` become calls with their ids, in order."""
    reply = Reply.parallel([(WEATHER, {"location": "Boston"}), ("lookup", "{not json")])
    renderer = render(reply)
    response = parse_response(renderer.completion())
    first, second = renderer.call_ids
    assert response.message == AssistantMessage(
        None,
        [
            ToolCall(WEATHER, '{"location": "Boston"}', first),
            ToolCall("lookup", "{not json", second),
        ],
    )
    assert response.finish_reason == "tool_calls"


def test_missing_usage_is_unreported_not_zero():
    """A completion without `usage` counts one unreported request and no tokens."""
    response = parse_response(render(Reply.text("Hi").with_usage(None)).completion())
    assert response.usage == Usage(requests=1, unreported_requests=1)
    assert response.usage.prompt_tokens is None
    assert response.usage.completion_tokens is None


@pytest.mark.parametrize(
    "usage", [None, {}, {"prompt_tokens": 3}, {"prompt_tokens": "3", "completion_tokens": 1}]
)
def test_partial_usage_is_unreported(usage):
    """Usage without both integer counts is treated as unreported."""
    completion = render(Reply.text("Hi").with_usage(None)).completion()
    completion["usage"] = usage
    assert parse_response(completion).usage == Usage(requests=1, unreported_requests=1)


def test_an_error_object_with_a_success_status_is_an_api_error():
    """`{"error": {...}}` sent with HTTP 200 raises the matching status error."""
    body = {"error": {"message": "The server is overloaded", "type": "server_error", "code": None}}
    with pytest.raises(APIStatusError, match="The server is overloaded") as caught:
        parse_response(body)
    assert caught.value.retryable


@pytest.mark.parametrize(
    "body",
    [
        [],
        "chat",
        None,
        {},
        {"object": "list", "data": []},
        {"choices": []},
        {"choices": {}},
        {"choices": ["x"]},
        {"choices": [{"index": 0, "finish_reason": "stop"}]},
        {"choices": [{"index": 0, "message": "Hi"}]},
    ],
)
def test_a_body_that_is_no_completion_is_a_value_error(body):
    """Anything but a chat completion is a `ValueError` (the client quotes the body)."""
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the shape
        parse_response(body)


def test_a_tool_call_without_a_name_is_kept_with_an_empty_name():
    """A server's nameless call is no error of the developer's: as in a stream, it comes back
    with the name "" and the loop answers it as an unknown function."""
    completion = render(Reply.call(WEATHER, "{}")).completion()
    del completion["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
    assert parse_response(completion).message.calls[0].name == ""


# --------------------------------------------------------------------------- streams


def test_text_deltas_follow_the_text():
    """Each content fragment comes out as one `TextDelta`; the empty first one does not."""
    renderer = render(Reply.text("Hello, how are you today?", chunk_size=5))
    deltas = [d for chunk in renderer.chunks() for d in ChunkAccumulator().add(chunk)]
    assert deltas == [TextDelta(t) for t in ("Hello", ", how", " are ", "you t", "oday?")]


@pytest.mark.parametrize(
    "quirks", [(), ("index_offset",), ("dup_first",), ("null_names",), ("repeat_role",)]
)
def test_tool_call_deltas_index_from_zero_and_name_only_first(quirks):
    """Deltas number calls 0, 1, ...; the name and id come once, then argument fragments."""
    reply = Reply.parallel([(WEATHER, BOSTON), ("lookup", '{"query": "x"}')], chunk_size=7)
    renderer = render(reply.with_quirks(*quirks))
    accumulator = ChunkAccumulator()
    deltas = [d for chunk in renderer.chunks() for d in accumulator.add(chunk)]
    assert all(isinstance(d, ToolCallDelta) for d in deltas)
    assert [d.index for d in deltas] == sorted(d.index for d in deltas)
    for index, (name, arguments) in enumerate(reply.calls):
        mine = [d for d in deltas if d.index == index]
        assert [d.name for d in mine] == [name] + [None] * (len(mine) - 1)
        assert [d.id for d in mine] == [renderer.call_ids[index]] + [None] * (len(mine) - 1)
        assert "".join(d.arguments for d in mine) == arguments
        assert all(d.arguments for d in mine[1:])  # no empty pieces after the first
    assert {d.index for d in deltas} == {0, 1}


def test_legacy_function_call_deltas():
    """A streamed `function_call` gives index 0, its name first, then the fragments."""
    renderer = render(Reply.call(WEATHER, BOSTON, chunk_size=10), LEGACY_BODY)
    accumulator = ChunkAccumulator()
    deltas = [d for chunk in renderer.chunks() for d in accumulator.add(chunk)]
    assert deltas[0] == ToolCallDelta(0, WEATHER, "", None)
    assert all(d.index == 0 and d.name is None and d.id is None for d in deltas[1:])
    assert "".join(d.arguments for d in deltas) == BOSTON
    assert accumulator.finish().message.calls == (ToolCall(WEATHER, BOSTON),)


SCRIPTS = [
    Reply.text("Hello! How can I help you today? é 日本 🎉"),
    Reply.text("", usage=(5, 0)),
    Reply.text("x" * 100, chunk_size=1).with_finish_reason("length"),
    Reply.call(WEATHER, {"location": "Boston, MA", "unit": "fahrenheit"}),
    Reply.call(WEATHER, "{broken", chunk_size=3),
    Reply.call("lookup", ""),
    Reply(content="Let me check.", calls=((WEATHER, BOSTON),)),
    Reply.text("Hi").with_usage(None),
]
PARALLEL = [
    Reply.parallel([(WEATHER, BOSTON), (WEATHER, PARIS), ("lookup", '{"query": "é"}')]),
    Reply.parallel([(WEATHER, BOSTON), ("lookup", "")], chunk_size=2),
]
QUIRKS = [(), ("repeat_role",), ("index_offset",), ("dup_first",), ("null_names",)]
CASES = [
    pytest.param(reply, body, quirks, id=f"{n}-{style}-{'+'.join(quirks) or 'plain'}")
    for n, reply in enumerate(SCRIPTS + PARALLEL)
    for style, body in (("tools", TOOLS_BODY), ("functions", LEGACY_BODY))
    if not (style == "functions" and reply in PARALLEL)
    for quirks in QUIRKS
]


def same_answer(streamed: ModelResponse, whole: ModelResponse) -> None:
    assert streamed.message == whole.message
    assert streamed.finish_reason == whole.finish_reason
    assert streamed.usage == whole.usage
    assert (streamed.model, streamed.id) == (whole.model, whole.id)


@pytest.mark.parametrize(("reply", "body", "quirks"), CASES)
def test_stream_equals_non_stream(reply, body, quirks):
    """Accumulated chunks give the reply the non-streamed completion gives."""
    renderer = render(reply.with_quirks(*quirks), body)
    for chunk in renderer.chunks():
        assert_valid("chunk", chunk)
    streamed = accumulate(renderer.chunks()).finish(done=True)
    same_answer(streamed, parse_response(renderer.completion()))


def test_usage_in_a_final_chunk_without_choices():
    """With `include_usage`, the usage arrives in a last chunk whose `choices` is empty."""
    chunks = render(Reply.text("Hi").with_usage(12, 4)).chunks()
    assert chunks[-1]["choices"] == []
    accumulator = accumulate(chunks[:-1])
    assert accumulator.finish().usage == Usage(requests=1, unreported_requests=1)
    assert accumulator.add(chunks[-1]) == []
    assert accumulator.finish().usage == Usage(requests=1, prompt_tokens=12, completion_tokens=4)


def test_a_stream_without_usage_is_unreported():
    """Streams of 2023 report no usage: one unreported request."""
    body = {k: v for k, v in TOOLS_BODY.items() if k != "stream_options"}
    response = accumulate(render(Reply.text("Hi"), body).chunks()).finish()
    assert response.usage == Usage(requests=1, unreported_requests=1)


def test_an_error_event_is_a_stream_event_error():
    """`{"error": {...}}` in the stream raises with the server's message, type and code."""
    accumulator = accumulate(render(Reply.text("Hello there")).chunks()[:2])
    error = {"message": "The server had an error", "type": "server_error", "code": 502}
    with pytest.raises(StreamEventError, match="The server had an error") as caught:
        accumulator.add({"error": error})
    assert (caught.value.code, caught.value.error_type) == (502, "server_error")
    assert caught.value.retryable


def test_an_error_event_that_is_not_an_object():
    """A bare error value still raises, quoting it."""
    with pytest.raises(StreamEventError, match="overloaded"):
        ChunkAccumulator().add({"error": "overloaded"})


def test_a_cut_stream_is_truncated():
    """No `finish_reason` and no `[DONE]`: `finish()` raises `TruncatedStreamError`."""
    chunks = render(Reply.text("Hello there, friend", chunk_size=4)).chunks()[:3]
    with pytest.raises(TruncatedStreamError, match="2 text pieces and 0 calls"):
        accumulate(chunks).finish()


def test_done_without_a_finish_reason_is_complete():
    """`[DONE]` alone ends a stream properly; the finish reason stays unknown."""
    chunks = render(Reply.text("Hello")).chunks()
    chunks = [c for c in chunks if not (c["choices"] and c["choices"][0]["finish_reason"])]
    response = accumulate(chunks).finish(done=True)
    assert response.message == AssistantMessage("Hello")
    assert response.finish_reason is None


def test_other_choices_are_ignored():
    """With `n > 1`, only the first choice is kept."""
    accumulator = ChunkAccumulator()
    accumulator.add({"choices": [{"index": 1, "delta": {"content": "B"}, "finish_reason": None}]})
    accumulator.add({"choices": [{"index": 0, "delta": {"content": "A"}, "finish_reason": "stop"}]})
    assert accumulator.finish().message.content == "A"


def sse_answer(reads: list[bytes]) -> ModelResponse:
    """What a client does with a streamed body: decode, parse each event, accumulate."""
    decoder, accumulator, done = SSEDecoder(), ChunkAccumulator(), False
    for read in [*reads, None]:
        for event in decoder.feed(read) if read is not None else decoder.flush():
            if event.data == "[DONE]":
                done = True
            else:
                accumulator.add(json.loads(event.data))
    return accumulator.finish(done=done)


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    case=st.sampled_from([p.values for p in CASES]),
    lines=st.sets(st.sampled_from(["ping", "crlf", "no_space", "no_done"])),
)
def test_any_split_stream_equals_non_stream(data, case, lines):
    """SSE bytes cut anywhere, decoded and accumulated, give the non-streamed reply."""
    reply, body, quirks = case
    renderer = render(reply.with_quirks(*quirks, *lines), body)
    stream = b"".join(e for e in renderer.events() if isinstance(e, bytes))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    reads = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    same_answer(sse_answer(reads), parse_response(renderer.completion()))


def test_an_error_event_in_sse_bytes():
    """An error event in the byte stream surfaces as `StreamEventError`."""
    renderer = render(Reply.text("Hello there").with_error_event(2).with_quirks("crlf"))
    stream = b"".join(e for e in renderer.events() if isinstance(e, bytes))
    with pytest.raises(StreamEventError):
        sse_answer([stream])


def test_a_cut_sse_stream_is_truncated():
    """A body that ends mid-answer, without `[DONE]`, is a `TruncatedStreamError`."""
    renderer = render(Reply.call(WEATHER, BOSTON).cut(3))
    stream = b"".join(e for e in renderer.events() if isinstance(e, bytes))
    with pytest.raises(TruncatedStreamError):
        sse_answer([stream[:-7]])


# --------------------------------------------------------------------------- errors

KEY = "sk-live0123456789abcdefGHIJ"


def error_body(
    message: str = "Something went wrong", code: object = None, type_: object = None
) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": type_, "param": None, "code": code}}
    ).encode()


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (
            400,
            error_body("Invalid 'messages'", type_="invalid_request_error"),
            BadRequestError,
            False,
        ),
        (
            400,
            error_body(
                "This model's maximum context length is 4097 tokens.", "context_length_exceeded"
            ),
            ContextLengthExceededError,
            False,
        ),
        (
            401,
            error_body("Incorrect API key provided", "invalid_api_key"),
            AuthenticationError,
            False,
        ),
        (403, error_body("You are not allowed to use gpt-4"), PermissionDeniedError, False),
        (
            404,
            error_body("The model `gpt-5` does not exist", "model_not_found"),
            NotFoundError,
            False,
        ),
        (408, error_body("Request timed out"), APIStatusError, True),
        (409, error_body("Conflict"), APIStatusError, True),
        (422, error_body("Unprocessable"), APIStatusError, False),
        (
            429,
            error_body("Rate limit reached", "rate_limit_exceeded", "requests"),
            RateLimitError,
            True,
        ),
        (
            429,
            error_body("You exceeded your current quota", "insufficient_quota"),
            InsufficientQuotaError,
            False,
        ),
        (429, error_body("No credit", None, "insufficient_quota"), InsufficientQuotaError, False),
        (500, error_body("The server had an error"), InternalServerError, True),
        (503, error_body("The engine is currently overloaded"), InternalServerError, True),
        (502, error_body("Bad gateway"), InternalServerError, True),
    ],
)
def test_json_errors_by_status(status, body, cls, retryable):
    """Each status (and code) maps to its error class and retry decision."""
    error = parse_error(status, body, {"x-request-id": "req_123"})
    assert type(error) is cls
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.message == json.loads(body)["error"]["message"]
    assert error.request_id == "req_123"
    assert str(error).startswith(f"HTTP {status}: {error.message}")


def test_error_fields_are_kept():
    """`code`, `type` and `param` are taken from the body."""
    body = json.dumps(
        {
            "error": {
                "message": "bad",
                "type": "invalid_request_error",
                "param": "messages",
                "code": "x",
            }
        }
    )
    error = parse_error(400, body.encode(), {})
    assert (error.code, error.error_type, error.param) == ("x", "invalid_request_error", "messages")
    assert str(error) == "HTTP 400: bad (code=x, param=messages)"


def test_an_int_code_is_kept_as_an_int():
    """Some servers send `code` as a number."""
    error = parse_error(500, error_body("oops", code=1234), {})
    assert error.code == 1234


def test_an_error_given_as_a_string():
    """`{"error": "text"}` gives that text."""
    error = parse_error(401, b'{"error": "Invalid token"}', {})
    assert isinstance(error, AuthenticationError)
    assert error.message == "Invalid token"


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_429_retry_after(headers, wait):
    """`retry-after-ms` wins over `Retry-After`; bad values are ignored, negatives are 0."""
    error = parse_error(429, error_body("Slow down"), headers)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == wait


def test_429_retry_after_as_an_http_date():
    """`Retry-After` may be an HTTP date: the seconds until then."""
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    error = parse_error(429, error_body("Slow down"), {"Retry-After": date})
    assert 25 <= error.retry_after <= 31
    now = 1_700_000_000.0
    assert retry_after({"retry-after": email.utils.formatdate(now + 7, usegmt=True)}, now) == 7.0
    assert retry_after({"retry-after": email.utils.formatdate(now - 7, usegmt=True)}, now) == 0.0


@pytest.mark.parametrize(
    "headers", [{"retry-after": "nan"}, {"retry-after": "inf"}, {"retry-after-ms": "NaN"}]
)
def test_non_finite_retry_after_is_ignored(headers):
    """A wait that is not a finite number is no wait at all."""
    assert retry_after(headers) is None


NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


def cloudflare_page(status: int = 524, title: str = "A timeout occurred") -> bytes:
    """A Cloudflare error page as it really is: several KB of markup around a title."""
    styles = "".join(f".cf-{i} {{ margin: {i}px; padding: 0 {i}px; }}\n" for i in range(200))
    return (
        "<!DOCTYPE html>\n"
        '<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->\n'
        f"<head>\n<title>api.goapi.xyz | {status}: {title}</title>\n"
        f'<meta charset="UTF-8" />\n<style>{styles}</style>\n</head>\n<body>\n'
        f'<div id="cf-error-details"><h1>{title}</h1><span>Error code {status}</span>\n'
        "<p>Cloudflare Ray ID: <strong>8a1b2c3d4e5f6a7b</strong></p></div>\n</body>\n</html>\n"
    ).encode()


def test_a_502_html_page_is_a_gateway_error():
    """A 5xx with an HTML page came from a proxy: `GatewayError`, message from `<title>`."""
    error = parse_error(502, NGINX_502, {"content-type": "text/html", "server": "nginx"})
    assert type(error) is GatewayError
    assert error.retryable
    assert error.message == "502 Bad Gateway"


def test_a_cloudflare_524_page():
    """Cloudflare's 524: message from the title, `cf_ray` set, only a short excerpt kept."""
    page = cloudflare_page()
    headers = {
        "Content-Type": "text/html",
        "Server": "cloudflare",
        "CF-RAY": "8a1b2c3d4e5f6a7b-SJC",
    }
    error = parse_error(524, page, headers)
    assert type(error) is GatewayError
    assert error.retryable
    assert error.message == "Cloudflare: api.goapi.xyz | 524: A timeout occurred"
    assert error.cf_ray == "8a1b2c3d4e5f6a7b-SJC"
    assert len(page) > 5_000
    assert error.body is not None
    assert len(error.body) <= 500
    assert "cf_ray=8a1b2c3d4e5f6a7b-SJC" in str(error)


@pytest.mark.parametrize("status", [520, 521, 522, 523, 524])
def test_cloudflare_statuses_from_the_test_kit(status):
    """Every Cloudflare origin error is a retryable `GatewayError`."""
    fault = Fault.cloudflare(status)
    error = parse_error(fault.status, fault.body, dict(fault.headers))
    assert type(error) is GatewayError
    assert f"{status}:" in error.message
    assert error.cf_ray == "8a1b2c3d4e5f6a7b-SJC"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the server answered 500 without an error message"),
        (b"   \n", "the server answered 500 without an error message"),
        (b"<html><body>oops</body></html>", "the server answered 500 without an error message"),
        (b"upstream connect error or disconnect/reset before headers", "upstream connect error"),
        (b'{"detail": "Not Found"}', '{"detail": "Not Found"}'),
    ],
)
def test_bodies_without_an_error_object(body, message):
    """Empty, HTML and plain-text bodies still give a readable one-line message."""
    error = parse_error(500, body, {})
    assert isinstance(error, InternalServerError)
    assert error.message.startswith(message)


@pytest.mark.parametrize(
    ("status", "header", "retryable"),
    [
        (400, "true", True),
        (500, "false", False),
        (429, "false", False),
        (401, "true", True),
        (500, "maybe", True),
    ],
)
def test_x_should_retry_overrides(status, header, retryable):
    """`x-should-retry: true|false` decides over the status; other values are ignored."""
    error = parse_error(status, error_body(), {"X-Should-Retry": header})
    assert error.retryable is retryable


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        (401, error_body(f"Incorrect API key provided: {KEY}.", "invalid_api_key"), {}),
        (401, f'{{"detail": "bad key {KEY}"}}'.encode(), {}),
        (502, f"<html><body>Authorization: Bearer {KEY}</body></html>".encode(), {}),
        (500, f"upstream said api_key={KEY} is wrong".encode(), {}),
        (524, cloudflare_page(title=f"Bearer {KEY}"), {"server": "cloudflare"}),
    ],
)
def test_a_key_in_the_body_never_shows(status, body, headers):
    """Neither the message, `str(error)` nor the kept body excerpt holds the key."""
    error = parse_error(status, body, headers)
    assert KEY not in str(error)
    assert KEY not in (error.body or "")
    assert KEY not in error.message


def test_a_key_in_code_or_param_never_shows():
    """A key echoed in `param` or `code` is redacted too."""
    body = json.dumps({"error": {"message": "bad", "type": None, "param": KEY, "code": KEY}})
    error = parse_error(401, body.encode(), {})
    assert KEY not in str(error)


# --------------------------------------------------------------------------- other servers
# Responses written out by hand, as the servers named send them (issue 18; goapi.md).


def chunk_of(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def test_mistral_thinking_parts_in_a_stream():
    """Mistral's reasoning models stream `content` as parts: text is text, thinking is not."""
    acc = ChunkAccumulator()
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "2 and 2 "}]}
    more = {"type": "thinking", "thinking": [{"type": "text", "text": "make 4."}]}
    deltas = acc.add(chunk_of({"role": "assistant", "content": [thinking]}))
    deltas += acc.add(chunk_of({"content": [more]}))
    deltas += acc.add(chunk_of({"content": [{"type": "text", "text": "4"}]}))
    deltas += acc.add(chunk_of({"content": "."}, "stop"))
    assert deltas == [TextDelta("4"), TextDelta(".")]
    message = acc.finish().message
    assert (message.content, message.reasoning) == ("4.", "2 and 2 make 4.")


@pytest.mark.parametrize(
    "content",
    [
        [
            {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            {"type": "text", "text": "4"},
        ],
        [{"type": "reference", "reference_ids": [1]}, 7, None, {"type": "text", "text": "4"}],
        [{"type": "text", "text": 5}, {"type": "text", "text": "4"}, {"no": "type"}],
        [{"type": "thinking", "thinking": {"odd": "shape"}}, {"type": "text", "text": "4"}],
        {"type": "text", "text": "4"},
    ],
)
def test_unknown_parts_never_crash(content):
    """Parts of unknown types or shapes are skipped, streamed or not; the text stays."""
    acc = ChunkAccumulator()
    acc.add(chunk_of({"content": content}, "stop"))
    assert acc.finish().message.content == "4"
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
    assert parse_response(body).message.content == "4"


def test_a_refusal_part_is_a_refusal():
    """`{"type": "refusal", "refusal": ...}` parts are the refusal, not the answer."""
    part = {"type": "refusal", "refusal": "I can't."}
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": [part]}}]}
    assert parse_response(body).message.refusal == "I can't."


def test_placeholders_in_a_whole_answer():
    """Empty `function_call`, `tool_calls: []`, `finish_reason: ""` and empty ids mean nothing."""
    message = {
        "role": "assistant",
        "content": "Hello",
        "function_call": {"name": "", "arguments": ""},
        "tool_calls": [{"id": "", "type": "function", "function": {"name": "", "arguments": ""}}],
    }
    answer = parse_response({"choices": [{"index": 0, "message": message, "finish_reason": ""}]})
    assert answer.message == AssistantMessage("Hello")
    assert answer.finish_reason is None


def test_placeholders_in_a_stream_start_no_call():
    """A placeholder delta before a real call does not shift the real call's index."""
    acc = ChunkAccumulator()
    empty = {"function_call": {"name": "", "arguments": ""}, "tool_calls": []}
    acc.add(chunk_of({"role": "assistant", "content": "", **empty}, ""))
    first = {"index": 0, "id": "call_1", "function": {"name": WEATHER, "arguments": ""}}
    deltas = acc.add(chunk_of({**empty, "tool_calls": [first]}, ""))
    deltas += acc.add(chunk_of({"tool_calls": [{"index": 0, "function": {"arguments": BOSTON}}]}))
    acc.add(chunk_of(empty, "tool_calls"))
    assert [d.index for d in deltas] == [0, 0]
    assert acc.finish().message.calls == (ToolCall(WEATHER, BOSTON, "call_1"),)


def test_openrouter_error_chunk_with_choices():
    """OpenRouter ends a failing stream with `error` and `choices` in one chunk."""
    acc = ChunkAccumulator()
    acc.add(chunk_of({"role": "assistant", "content": "The weather "}))
    acc.add(chunk_of({"content": "in Boston"}))
    last = chunk_of(
        {"content": ""}, "error", error={"code": 502, "message": "Provider disconnected"}
    )
    with pytest.raises(StreamEventError) as caught:
        acc.add(last)
    error = caught.value
    assert (error.code, error.partial_text) == (502, "The weather in Boston")
    assert "Provider disconnected" in str(error)
    assert error.retryable


def test_an_error_null_beside_choices_is_no_error():
    """`"error": null` in an ordinary chunk is not an error."""
    acc = ChunkAccumulator()
    assert acc.add(chunk_of({"content": "Hi"}, "stop", error=None)) == [TextDelta("Hi")]
    assert acc.finish().message.content == "Hi"


def test_an_error_object_in_a_whole_answer_keeps_its_numeric_code_as_status():
    """A 200 body with `error.code: 429` beside its choices is a rate-limit error."""
    body = {
        "error": {"code": 429, "message": "Slow down"},
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "error"}
        ],
    }
    with pytest.raises(RateLimitError, match="Slow down"):
        parse_response(body)


def test_groq_usage_in_x_groq():
    """`x_groq.usage` counts when there is no `usage`; `usage` wins when both are there."""
    acc = ChunkAccumulator()
    acc.add(chunk_of({"content": "Hi"}))
    usage = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
    acc.add(chunk_of({}, "stop", x_groq={"id": "req_1", "usage": usage}))
    assert acc.finish().usage == Usage(requests=1, prompt_tokens=9, completion_tokens=1)
    both = ChunkAccumulator()
    both.add(
        chunk_of(
            {}, "stop", usage={"prompt_tokens": 1, "completion_tokens": 2}, x_groq={"usage": usage}
        )
    )
    assert both.finish().usage.prompt_tokens == 1


def test_gemini_parallel_calls_whole_and_without_index():
    """Gemini sends each parallel call whole, without `index`: each is its own call."""
    acc = ChunkAccumulator()
    calls = [
        {"id": "a", "type": "function", "function": {"name": WEATHER, "arguments": BOSTON}},
        {"id": "b", "type": "function", "function": {"name": WEATHER, "arguments": PARIS}},
    ]
    deltas = acc.add(chunk_of({"role": "assistant", "tool_calls": calls}, "tool_calls"))
    assert [d.index for d in deltas] == [0, 1]
    assert acc.finish().message.calls == (
        ToolCall(WEATHER, BOSTON, "a"),
        ToolCall(WEATHER, PARIS, "b"),
    )


def test_index_less_calls_without_ids_split_on_a_name_after_whole_arguments():
    """No index, no id: a name after complete JSON arguments starts the next call;
    fragments in between continue the call they follow."""
    acc = ChunkAccumulator()
    acc.add(
        chunk_of(
            {
                "tool_calls": [
                    {"index": None, "function": {"name": WEATHER, "arguments": '{"location": '}}
                ]
            }
        )
    )
    acc.add(chunk_of({"tool_calls": [{"function": {"arguments": '"Boston, MA"}'}}]}))
    acc.add(chunk_of({"tool_calls": [{"function": {"name": WEATHER, "arguments": PARIS}}]}))
    acc.add(chunk_of({}, "tool_calls"))
    calls = acc.finish().message.calls
    assert [(c.name, c.arguments) for c in calls] == [(WEATHER, BOSTON), (WEATHER, PARIS)]


def test_a_name_repeated_on_every_fragment_is_one_call():
    """Servers that repeat the name on each fragment of one call still give one call."""
    acc = ChunkAccumulator()
    for fragment in ('{"location": ', '"Boston, MA"}'):
        acc.add(
            chunk_of(
                {"tool_calls": [{"index": 0, "function": {"name": WEATHER, "arguments": fragment}}]}
            )
        )
    acc.add(chunk_of({}, "tool_calls"))
    assert acc.finish().message.calls == (ToolCall(WEATHER, BOSTON),)


def test_one_index_for_every_call_with_new_ids():
    """Servers that number every parallel call 0 but give each its id: two calls."""
    acc = ChunkAccumulator()
    for call_id, arguments in (("a", BOSTON), ("b", PARIS)):
        entry = {"index": 0, "id": call_id, "function": {"name": WEATHER, "arguments": arguments}}
        acc.add(chunk_of({"tool_calls": [entry]}))
    acc.add(chunk_of({}, "tool_calls"))
    assert [c.id for c in acc.finish().message.calls] == ["a", "b"]


JSON_KEYS = st.sampled_from(
    [
        "choices",
        "delta",
        "message",
        "content",
        "tool_calls",
        "function_call",
        "index",
        "id",
        "function",
        "name",
        "arguments",
        "error",
        "finish_reason",
        "usage",
        "x_groq",
        "refusal",
        "reasoning_content",
        "type",
        "text",
        "thinking",
        "prompt_tokens",
        "code",
    ]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=5)
    | st.sampled_from(["text", "thinking", "stop", "error", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(JSON, min_size=1, max_size=4), st.booleans())
def test_no_chunk_or_body_raises_anything_but_an_agentkit_error(values, sse):
    """Hostile chunks and bodies of any shape: an answer or an AgentkitError, nothing else."""
    import httpx

    from agentkit import AgentkitError
    from agentkit._body import BodyReader

    kind = "text/event-stream" if sse else "application/json"
    reader = BodyReader(200, httpx.Headers({"content-type": kind}), "sk-key")
    try:
        if sse:
            for value in values:
                reader.feed(b"data: " + json.dumps(value).encode() + b"\n\n")
        else:
            reader.feed(json.dumps(values[0]).encode())
        answer = reader.finish()
    except AgentkitError:
        return
    assert isinstance(answer, ModelResponse)
    assert answer.message.content is None or isinstance(answer.message.content, str)


def test_arguments_sent_as_an_object_are_kept_as_their_json_text():
    """Some servers send `arguments` as a JSON object, not a string: nothing is lost."""
    entry = {
        "id": "a",
        "type": "function",
        "function": {"name": WEATHER, "arguments": {"location": "Boston, MA"}},
    }
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "tool_calls": [entry]}}]}
    assert parse_response(body).message.calls == (ToolCall(WEATHER, BOSTON, "a"),)
    acc = ChunkAccumulator()
    acc.add(chunk_of({"tool_calls": [{"index": 0, **entry}]}, "tool_calls"))
    assert acc.finish().message.calls == (ToolCall(WEATHER, BOSTON, "a"),)


def test_an_error_beside_choices_with_a_null_finish_reason_is_an_error_too():
    """Some servers send the error chunk with `finish_reason: null`: still an error."""
    acc = ChunkAccumulator()
    acc.add(chunk_of({"content": "Half"}))
    with pytest.raises(StreamEventError) as caught:
        acc.add(chunk_of({"content": " an"}, None, error={"message": "Upstream timed out"}))
    assert caught.value.partial_text == "Half an"
    assert "Upstream timed out" in str(caught.value)
