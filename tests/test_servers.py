"""The shapes of other OpenAI-compatible servers (issue 18), end to end.

Each shape is scripted with `agentkit.testing` (`Reply` quirks and options), served in both
wire styles, streamed and not, and read through every entry point: `ChatClient.complete`,
`acomplete`, `stream` and `astream` (with deltas delivered), and `Agent.run`, `arun`,
`stream` and `astream`. Nothing but an `AgentkitError` may come out.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from agentkit import (
    Agent,
    AgentkitError,
    AssistantMessage,
    Backoff,
    ChatClient,
    ChatRequest,
    InternalServerError,
    ModelRefusal,
    ModelResponse,
    RunFinished,
    StreamEventError,
    TextDelta,
    ToolCallDelta,
    ToolCallFinished,
    UserMessage,
    tool,
)
from agentkit.testing import Reply, ScriptedGoAPI
from tests.helpers import ValidatingTransport

KEY = "sk-test-0123456789abcdef"
MODELS = {"functions": "gpt-3.5-turbo", "tools": "gpt-3.5-turbo-1106"}
ENTRIES = ["complete", "acomplete", "stream", "astream"]


@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a given location."""
    return f"Sunny in {location}"


def make_client(script: Any, **options: Any) -> tuple[ChatClient, ScriptedGoAPI]:
    scripted = ScriptedGoAPI(script)
    transport = ValidatingTransport(scripted)

    async def asleep(seconds: float) -> None:
        return None

    client = ChatClient(
        api_key=KEY,
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        backoff=Backoff(sleep=lambda seconds: None, asleep=asleep),
        **options,
    )
    return client, scripted


def ask(
    entry: str, script: Any, *, style: str = "tools", stream: bool = True, **options: Any
) -> tuple[ModelResponse, list[Any], ScriptedGoAPI]:
    """The answer (and the deltas delivered, for the stream entries) of one ChatClient call."""
    client, scripted = make_client(script, **options)
    request = ChatRequest(
        model=MODELS[style],
        messages=[UserMessage("Weather in Boston?")],
        functions=[get_current_weather],
        style=style,  # type: ignore[arg-type]
        stream=stream,
    )
    if entry == "complete":
        return client.complete(request), [], scripted
    if entry == "acomplete":
        return asyncio.run(client.acomplete(request)), [], scripted
    if entry == "stream":
        items = list(client.stream(request, deliver=True))
    else:

        async def collect() -> list[Any]:
            return [item async for item in client.astream(request, deliver=True)]

        items = asyncio.run(collect())
    *deltas, final = items
    assert isinstance(final, ModelResponse)
    return final, deltas, scripted


def agent_for(script: Any, *, style: str = "tools", stream: bool = True, **options: Any):
    client, scripted = make_client(script, max_retries=options.pop("max_retries", 2))
    agent = Agent(
        MODELS[style], tools=[get_current_weather], client=client, stream=stream, **options
    )
    return agent, scripted


def run_agent(agent: Agent[Any], how: str) -> tuple[Any, list[Any]]:
    """`run`, `arun`, `stream` or `astream`: the result, and the events (for the streams)."""
    if how == "run":
        return agent.run("Weather in Boston?"), []
    if how == "arun":
        return asyncio.run(agent.arun("Weather in Boston?")), []
    if how == "stream":
        events = list(agent.stream("Weather in Boston?"))
    else:

        async def collect() -> list[Any]:
            return [event async for event in agent.astream("Weather in Boston?")]

        events = asyncio.run(collect())
    assert isinstance(events[-1], RunFinished)
    return events[-1].result, events


def texts(events: list[Any]) -> list[Any]:
    return [event.text for event in events if isinstance(event, TextDelta)]


style_param = pytest.mark.parametrize("style", ["functions", "tools"])
stream_param = pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
entry_param = pytest.mark.parametrize("entry", ENTRIES)
how_param = pytest.mark.parametrize("how", ["run", "arun", "stream", "astream"])


# --------------------------------------------------------------------------- 1. content parts


@style_param
@stream_param
@entry_param
def test_content_as_parts_is_the_text_and_the_thinking_is_reasoning(entry, stream, style):
    """Text parts are the answer; thinking parts become `reasoning`, never text deltas."""
    reply = Reply.text("The answer is 4.", reasoning="2 + 2 = 4", chunk_size=5)
    answer, deltas, _ = ask(entry, [reply.with_quirks("content_parts")], style=style, stream=stream)
    assert answer.message.content == "The answer is 4."
    assert answer.message.reasoning == "2 + 2 = 4"
    assert all(isinstance(d, TextDelta) and isinstance(d.text, str) for d in deltas)
    assert "".join(d.text for d in deltas) == ("The answer is 4." if deltas else "")


@stream_param
@entry_param
def test_reasoning_content_is_kept_apart_from_the_answer(entry, stream):
    """DeepSeek's `reasoning_content` (message or delta) becomes `reasoning`, not text."""
    reply = Reply.text("4", reasoning="Two and two make four.", chunk_size=6)
    answer, deltas, _ = ask(entry, [reply], stream=stream)
    assert (answer.message.content, answer.message.reasoning) == ("4", "Two and two make four.")
    assert texts(deltas) == (["4"] if deltas else [])


@style_param
@stream_param
@how_param
def test_an_agent_answers_with_the_text_parts(how, stream, style):
    """Through the agent, `output` is the text; the reply keeps its reasoning; deltas are str."""
    script = [
        Reply.call("get_current_weather", {"location": "Boston"}).with_quirks("content_parts"),
        Reply.text("Sunny.", reasoning="The tool said so.").with_quirks("content_parts"),
    ]
    agent, scripted = agent_for(script, style=style, stream=stream)
    result, events = run_agent(agent, how)
    assert result.output == "Sunny."
    assert result.messages[-1].reasoning == "The tool said so."
    assert "".join(texts(events)) == ("Sunny." if how.endswith("stream") and stream else "")
    assert all(isinstance(text, str) for text in texts(events))
    # the reasoning is never sent back to the server
    assert "The tool said so" not in str(scripted.requests)
    scripted.assert_complete()


# --------------------------------------------------------------------------- 2. placeholders


@style_param
@stream_param
@entry_param
def test_empty_placeholders_are_no_calls(entry, stream, style):
    """`function_call: {"name": "", "arguments": ""}`, `tool_calls: []`, `finish_reason: ""`."""
    answer, deltas, _ = ask(
        entry, [Reply.text("Hello!").with_quirks("placeholders")], style=style, stream=stream
    )
    assert answer.message == AssistantMessage("Hello!")
    assert answer.finish_reason == "stop"
    assert not any(isinstance(d, ToolCallDelta) for d in deltas)


@style_param
@stream_param
@entry_param
def test_a_real_call_among_placeholders_is_the_only_call(entry, stream, style):
    """A reply with one real call and placeholders beside it has exactly that call."""
    reply = Reply.call("get_current_weather", {"location": "Boston"}).with_quirks("placeholders")
    answer, deltas, _ = ask(entry, [reply], style=style, stream=stream)
    (call,) = answer.message.calls
    assert (call.name, call.arguments) == ("get_current_weather", '{"location": "Boston"}')
    assert {d.index for d in deltas if isinstance(d, ToolCallDelta)} <= {0}


@style_param
@stream_param
@how_param
def test_an_agent_is_not_fooled_by_placeholders(how, stream, style):
    """One real call runs once; the text answer ends the run after two requests."""
    script = [
        Reply.call("get_current_weather", {"location": "Boston"}).with_quirks("placeholders"),
        Reply.text("Sunny in Boston.").with_quirks("placeholders"),
    ]
    agent, scripted = agent_for(script, style=style, stream=stream)
    result, _ = run_agent(agent, how)
    assert result.output == "Sunny in Boston."
    assert result.usage.requests == 2
    assert result.usage.tool_calls == 1
    scripted.assert_complete()


# --------------------------------------------------------------------------- 3. errors in chunks


@style_param
@pytest.mark.parametrize("entry", ENTRIES)
def test_an_error_beside_choices_ends_the_stream_with_the_partial_text(entry, style):
    """OpenRouter's error chunk (`error` and `choices`, `finish_reason: "error"`) is an error."""
    reply = Reply.text("The weather in Boston is", chunk_size=4).with_error_event(
        3, beside_choices=True
    )
    with pytest.raises(StreamEventError) as caught:
        ask(entry, [reply], style=style, max_retries=0)
    assert caught.value.partial_text == "The weather"[:8]  # two pieces of four characters
    assert caught.value.error_type == "server_error"
    assert caught.value.retryable


@pytest.mark.parametrize("entry", ["complete", "acomplete"])
def test_an_error_beside_choices_is_retried_like_an_error_event(entry):
    """Nothing had reached the caller: the request is sent again and the answer comes."""
    broken = Reply.text("Partial", chunk_size=3).with_error_event(2, beside_choices=True)
    answer, _, scripted = ask(entry, [broken, Reply.text("Whole answer.")], max_retries=1)
    assert answer.message.content == "Whole answer."
    assert len(scripted.requests) == 2


@pytest.mark.parametrize("entry", ["stream", "astream"])
def test_an_error_after_delivered_text_is_raised_not_retried(entry):
    """Text had reached the caller: the error is raised, with the partial text on it."""
    broken = Reply.text("Partial", chunk_size=3).with_error_event(2, beside_choices=True)
    with pytest.raises(StreamEventError) as caught:
        ask(entry, [broken, Reply.text("never sent")], max_retries=1)
    assert caught.value.partial_text == "Par"


@stream_param
@entry_param
def test_finish_reason_error_is_an_error(entry, stream):
    """`finish_reason: "error"` without an error object is an error too, streamed or not."""
    reply = Reply.text("Half an ans").with_finish_reason("error")
    expected = StreamEventError if stream else InternalServerError
    with pytest.raises(expected) as caught:
        ask(entry, [reply], stream=stream, max_retries=0)
    assert "finish_reason 'error'" in str(caught.value)
    if stream:
        assert caught.value.partial_text == "Half an ans"


@pytest.mark.parametrize("entry", ["complete", "acomplete"])
def test_an_error_beside_choices_in_a_whole_answer_is_an_error(entry):
    """A non-streamed body with an `error` object beside its choices is not an answer."""
    reply = Reply.text("Partial").with_error_event(0, beside_choices=True)
    with pytest.raises(InternalServerError, match="error while processing"):
        ask(entry, [reply], stream=False, max_retries=0)


@pytest.mark.parametrize("how", ["run", "arun", "stream", "astream"])
def test_an_agent_run_ends_with_the_stream_error_and_the_chat(how):
    """Through the agent, the error carries the chat so far; no answer is made up."""
    broken = Reply.text("Partial", chunk_size=3).with_error_event(2, beside_choices=True)
    agent, _ = agent_for([broken], max_retries=0)
    with pytest.raises(StreamEventError) as caught:
        run_agent(agent, how)
    assert caught.value.messages is not None
    assert caught.value.messages[-1] == UserMessage("Weather in Boston?")


# --------------------------------------------------------------------------- 4. refusals


@style_param
@stream_param
@entry_param
def test_a_refusal_is_kept_on_the_message(entry, stream, style):
    """`message.refusal` / `delta.refusal` land in `AssistantMessage.refusal`, with no text."""
    refusal = "I'm sorry, I can't help with that request."
    answer, deltas, _ = ask(
        entry, [Reply.refuse(refusal, chunk_size=7)], style=style, stream=stream
    )
    assert answer.message.refusal == refusal
    assert answer.message.content is None
    assert deltas == []


@style_param
@stream_param
@how_param
def test_a_refusal_ends_the_run_with_model_refusal(how, stream, style):
    """The run does not return `""` as if the model answered: it raises `ModelRefusal`."""
    agent, _ = agent_for([Reply.refuse("I can't help with that.")], style=style, stream=stream)
    with pytest.raises(ModelRefusal) as caught:
        run_agent(agent, how)
    assert caught.value.refusal == "I can't help with that."
    assert "refused" in str(caught.value)
    assert caught.value.messages[-1].refusal == "I can't help with that."


@how_param
def test_a_refusal_can_be_the_output(how):
    """With `on_refusal="output"` the refusal's text is the run's output."""
    agent, _ = agent_for([Reply.refuse("No.")], on_refusal="output")
    result, _ = run_agent(agent, how)
    assert result.output == "No."
    assert result.messages[-1].refusal == "No."


def test_a_refused_message_goes_back_as_its_text():
    """In the history, a refusal is sent as the assistant's content (valid in both schemas)."""
    agent, scripted = agent_for([Reply.refuse("No."), Reply.text("Fine.")], on_refusal="output")
    first = agent.run("Weather in Boston?")
    agent.run("Please?", history=first.messages)
    assert {"role": "assistant", "content": "No."} in scripted.requests[1]["messages"]


def test_on_refusal_must_be_raise_or_output():
    """A wrong `on_refusal` is a UsageError at construction."""
    from agentkit import UsageError

    with pytest.raises(UsageError, match="on_refusal"):
        Agent("gpt-3.5-turbo", api_key=KEY, on_refusal="ignore")  # type: ignore[call-overload]


# --------------------------------------------------------------------------- 5. Groq's usage


@pytest.mark.parametrize("entry", ENTRIES)
def test_usage_under_x_groq_is_counted(entry):
    """Groq's older streams put usage under `x_groq.usage`; it counts when `usage` is absent."""
    reply = Reply.text("Hi").with_usage(17, 3).with_quirks("groq_usage")
    answer, _, _ = ask(entry, [reply])
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (17, 3)
    assert answer.usage.complete


@how_param
def test_an_agent_counts_groq_usage(how):
    """The run's usage adds up what `x_groq.usage` reported."""
    script = [
        Reply.call("get_current_weather", {"location": "Boston"})
        .with_usage(10, 5)
        .with_quirks("groq_usage"),
        Reply.text("Sunny.").with_usage(20, 2).with_quirks("groq_usage"),
    ]
    agent, _ = agent_for(script)
    result, _ = run_agent(agent, how)
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (30, 7)


# --------------------------------------------------------------------------- 6. index-less calls


@pytest.mark.parametrize("quirk", ["no_index", "null_index"])
@entry_param
def test_parallel_calls_without_index_stay_apart(entry, quirk):
    """Gemini and Mistral stream parallel calls without an index: each stays its own call."""
    reply = Reply.parallel(
        [
            ("get_current_weather", {"location": "Boston"}),
            ("get_current_weather", {"location": "Paris"}),
        ],
        chunk_size=7,
    ).with_quirks(quirk)
    answer, deltas, _ = ask(entry, [reply])
    assert [c.arguments for c in answer.message.calls] == [
        '{"location": "Boston"}',
        '{"location": "Paris"}',
    ]
    assert len({c.id for c in answer.message.calls}) == 2
    if deltas:
        assert {d.index for d in deltas if isinstance(d, ToolCallDelta)} == {0, 1}


@pytest.mark.parametrize("how", ["run", "arun", "stream", "astream"])
def test_an_agent_runs_each_index_less_call(how):
    """Both calls run, each with its own arguments, and each gets its result."""
    script = [
        Reply.parallel(
            [
                ("get_current_weather", {"location": "Boston"}),
                ("get_current_weather", {"location": "Paris"}),
            ],
            chunk_size=5,
        ).with_quirks("no_index"),
        Reply.text("Sunny in both."),
    ]
    agent, _ = agent_for(script)
    result, events = run_agent(agent, how)
    assert result.output == "Sunny in both."
    results = [m.content for m in result.messages if m.role == "tool"]
    assert results == ["Sunny in Boston", "Sunny in Paris"]
    if events:
        assert len([e for e in events if isinstance(e, ToolCallFinished)]) == 2


# --------------------------------------------------------------------------- 7. dataless events


@style_param
@pytest.mark.parametrize("entry", ENTRIES)
def test_dataless_events_are_ignored(entry, style):
    """`event: ping` with no `data:` line is no chunk, no error, no text."""
    reply = Reply.call("get_current_weather", {"location": "Boston"}).with_quirks("ping_event")
    answer, _, _ = ask(entry, [reply], style=style)
    assert answer.message.calls[0].arguments == '{"location": "Boston"}'


@how_param
def test_an_agent_ignores_dataless_events(how):
    """Through the agent too: the call runs and the answer comes, pings or not."""
    script = [
        Reply.call("get_current_weather", {"location": "Boston"}).with_quirks("ping_event"),
        Reply.text("Sunny.").with_quirks("ping_event"),
    ]
    agent, scripted = agent_for(script)
    result, _ = run_agent(agent, how)
    assert result.output == "Sunny."
    scripted.assert_complete()


# --------------------------------------------------------------------------- all at once


@pytest.mark.parametrize("how", ["run", "astream"])
def test_every_shape_at_once(how):
    """Parts, placeholders, index-less calls and Groq usage in one conversation."""
    quirks = ("content_parts", "placeholders", "no_index", "groq_usage", "ping_event")
    script = [
        Reply.parallel(
            [
                ("get_current_weather", {"location": "Boston"}),
                ("get_current_weather", {"location": "Paris"}),
            ],
            chunk_size=6,
        )
        .with_usage(10, 5)
        .with_quirks(*quirks),
        Reply.text("Sunny in both.", reasoning="Both said sunny.")
        .with_usage(20, 2)
        .with_quirks(*quirks),
    ]
    agent, scripted = agent_for(script)
    result, _ = run_agent(agent, how)
    assert result.output == "Sunny in both."
    assert result.usage.tool_calls == 2
    assert result.usage.prompt_tokens == 30
    scripted.assert_complete()


def test_errors_are_agentkit_errors():
    """The errors these shapes raise are all in agentkit's tree."""
    assert issubclass(ModelRefusal, AgentkitError)
    assert issubclass(StreamEventError, AgentkitError)


# --------------------------------------------------------------------------- the kit itself


def rendered(reply: Reply, *, stream: bool, tools: bool = True) -> str:
    """The raw body the scripted server sends for `reply`."""
    scripted = ScriptedGoAPI([reply])
    body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    body["tools" if tools else "functions"] = (
        [{"type": "function", "function": {"name": "f", "parameters": {}}}]
        if tools
        else [{"name": "f", "parameters": {}}]
    )
    if stream:
        body["stream"] = True
    with httpx.Client(transport=scripted) as http:
        return http.post(
            "http://goapi.test/v1/chat/completions",
            json=body,
            headers={"Authorization": "Bearer sk-test"},  # the kit is as strict as the API
        ).text


@pytest.mark.parametrize(
    ("reply", "stream", "marker"),
    [
        (Reply.text("4", reasoning="hm").with_quirks("content_parts"), False, '"type": "thinking"'),
        (Reply.text("4").with_quirks("content_parts"), True, '"content": [{"type": "text"'),
        (Reply.text("4", reasoning="hm"), True, '"reasoning_content": "hm"'),
        (Reply.text("4").with_quirks("placeholders"), True, '"finish_reason": ""'),
        (Reply.text("4").with_quirks("placeholders"), False, '"tool_calls": []'),
        (Reply.refuse("No."), False, '"refusal": "No."'),
        (Reply.refuse("No."), True, '"refusal": "No."'),
        (
            Reply.text("4").with_error_event(1, beside_choices=True),
            True,
            '"finish_reason": "error"',
        ),
        (Reply.text("4").with_error_event(1, beside_choices=True), False, '"error": {'),
        (Reply.text("4").with_usage(3, 1).with_quirks("groq_usage"), True, '"x_groq": {'),
        (Reply.call("f", {"a": 1}).with_quirks("null_index"), True, '"index": null'),
        (Reply.text("4").with_quirks("ping_event"), True, "event: ping\n\n"),
    ],
)
def test_the_kit_sends_each_shape(reply: Reply, stream: bool, marker: str):
    """What `Reply` promises to script is on the wire, as the servers send it."""
    assert marker in rendered(reply, stream=stream)


def test_no_index_leaves_the_index_out():
    """`no_index` drops the key itself, not only its value."""
    body = rendered(Reply.call("f", {"a": 1}, chunk_size=3).with_quirks("no_index"), stream=True)
    chunks = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {")]
    entries = [e for c in chunks for e in c["choices"][0]["delta"].get("tool_calls", [])]
    assert len(entries) > 2
    assert not any("index" in entry for entry in entries)


def test_a_refusal_with_structured_output_always_raises():
    """A refusal cannot be an `output_type` value: even `on_refusal="output"` raises."""
    from pydantic import BaseModel

    class Forecast(BaseModel):
        summary: str

    client, _ = make_client([Reply.refuse("No.")])
    agent = Agent(MODELS["tools"], client=client, output_type=Forecast, on_refusal="output")
    with pytest.raises(ModelRefusal):
        agent.run("Weather?")
