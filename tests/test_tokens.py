"""Token counts: the tokenizer, the prompt formula against figures servers reported, and the
counts' uses (usage, cost, the context window check, budgets).

The recorded figures are the `prompt_tokens` OpenAI's servers reported for these requests:
the `functions`-style ones for `gpt-3.5-turbo-0613` (collected by the openai-chat-tokens
project), the `tools`-style and plain ones from OpenAI's cookbook ("How to count tokens with
tiktoken") for `gpt-3.5-turbo`/`gpt-4` (cl100k_base) and `gpt-4o` (o200k_base).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from agentkit import (
    AssistantMessage,
    ContextLengthExceededError,
    ImagePart,
    ModelSettings,
    SystemMessage,
    TextPart,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    tool,
)
from agentkit._tokens import TokenCounter, counter_for, encoding_for, render_functions
from agentkit.testing import Reply
from tests.helpers import Driver, scripted_agent

CL100K = TokenCounter("cl100k_base")
O200K = TokenCounter("o200k_base")


def raw_tool(name: str, parameters: dict[str, Any], description: str | None = None) -> Tool:
    return Tool.from_schema(
        name=name, parameters=parameters, description=description, function=lambda **_: ""
    )


NO_PARAMETERS = {"type": "object", "properties": {}}
WEATHER = raw_tool(
    "get_current_weather",
    {
        "type": "object",
        "properties": {
            "location": {
                "type": "string",
                "description": "The city and state, e.g. San Francisco, CA",
            },
            "unit": {
                "type": "string",
                "description": "The unit of temperature to return",
                "enum": ["celsius", "fahrenheit"],
            },
        },
        "required": ["location"],
    },
    "Get the current weather in a given location",
)
WEATHER_CHAT = [
    SystemMessage("You are a helpful assistant that can answer to questions about the weather."),
    UserMessage("What's the weather like in San Francisco?"),
]
JARGON_CHAT = [
    SystemMessage(
        "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English."
    ),
    SystemMessage("New synergies will help drive top-line growth.", name="example_user"),
    SystemMessage("Things working well together will increase revenue.", name="example_assistant"),
    SystemMessage(
        "Let's circle back when we have more bandwidth to touch base on opportunities for "
        "increased leverage.",
        name="example_user",
    ),
    SystemMessage(
        "Let's talk later when we're less busy about how to do better.", name="example_assistant"
    ),
    UserMessage(
        "This late pivot means we don't have time to boil the ocean for the client deliverable."
    ),
]


# ---------------------------------------------------------------- the tokenizer


@pytest.mark.parametrize(
    ("text", "cl100k", "o200k"),
    [  # tiktoken's published counts (OpenAI cookbook)
        ("tiktoken is great!", 6, 6),
        ("antidisestablishmentarianism", 6, 6),
        ("2 + 2 = 4", 7, 7),
        ("お誕生日おめでとう", 9, 8),
        ("hello world", 2, 2),
        ("", 0, 0),
    ],
)
def test_text_counts_match_tiktoken(text: str, cl100k: int, o200k: int):
    assert (CL100K.text(text), O200K.text(text)) == (cl100k, o200k)


def test_special_tokens_and_hostile_text_are_counted_as_text():
    """Text that spells a special token, a lone surrogate (JSON can carry one) and a long
    text are counted, never refused."""
    assert CL100K.text("<|endoftext|>") == 7
    assert CL100K.text("\ud800 lone") > 0
    assert CL100K.text("word " * 200_000) == 200_001  # the last space is a token


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-16k-0613", "cl100k_base"),
        ("gpt-4-1106-preview", "cl100k_base"),
        ("gpt-4-vision-preview", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("GPT-4.1", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("llama-3-70b", None),
        ("mistral-large-latest", None),
    ],
)
def test_encoding_by_model_family(model: str, encoding: str | None):
    assert encoding_for(model) == encoding


def test_the_extra_is_imported_only_when_counting_and_works_offline(tmp_path):
    """`import agentkit` does not load the tokenizer; counting works with every socket
    refused and an empty home (nothing is downloaded, nothing cached is needed)."""
    script = textwrap.dedent(
        """
        import socket, sys
        def refuse(*args, **kwargs):
            raise OSError("network is blocked in this test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import agentkit
        from agentkit._tokens import TokenCounter
        assert "quicktok" not in sys.modules
        agent = agentkit.Agent("gpt-4o", api_key="sk-test", api_style="tools")
        assert "quicktok" not in sys.modules  # an agent loads it when it first counts
        print(TokenCounter("cl100k_base").text("tiktoken is great!"),
              TokenCounter("o200k_base").text("tiktoken is great!"))
        """
    )
    env = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["6", "6"]


def test_without_the_extra_nothing_is_counted(monkeypatch: pytest.MonkeyPatch, driver: Driver):
    """Without the `tokens` extra the run reports what the server reported, nothing more."""
    monkeypatch.setattr("agentkit._tokens.installed", lambda: False)
    agent, _ = scripted_agent([Reply.text("hi").with_usage(None)], model="gpt-4")
    result = driver.run(agent, "hi")
    assert result.usage == Usage(requests=1, unreported_requests=1)
    assert result.cost is None


# ---------------------------------------------------------------- prompts: recorded figures


def test_function_definitions_render_as_the_model_reads_them():
    """Types, enums, optional marks, nested objects and unions, as TypeScript."""
    text = render_functions(
        [
            {
                "name": "f",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "n": {"type": ["integer", "null"], "description": "A count."},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "any": {"type": "array"},
                        "mode": {"enum": [1, 2]},
                        "inner": {
                            "type": "object",
                            "properties": {"x": {"type": "number", "description": "not shown"}},
                            "required": ["x"],
                        },
                        "either": {"anyOf": [{"type": "boolean"}, {"const": "a"}]},
                        "odd": "not a schema",
                    },
                    "required": ["n"],
                },
            }
        ]
    )
    assert text == textwrap.dedent(
        """\
        namespace functions {

        type f = (_: {
        // A count.
        n: number | null,
        tags?: string[],
        any?: any[],
        mode?: 1 | 2,
        inner?: {
          x: number,
        },
        either?: boolean | any,
        }) => any;

        } // namespace functions"""
    )


FUNCTIONS_STYLE_RECORDS: list[tuple[list[Any], list[Tool], str | None, int]] = [
    ([UserMessage("hello")], [], None, 8),
    ([UserMessage("hello world")], [], None, 9),
    ([SystemMessage("hello")], [], None, 8),
    ([SystemMessage("hello:")], [], None, 9),
    (
        [
            SystemMessage("# Important: you're the best robot"),
            UserMessage("hello robot"),
            AssistantMessage("hello world"),
        ],
        [],
        None,
        27,
    ),
    ([UserMessage("hello")], [raw_tool("foo", NO_PARAMETERS)], None, 31),
    ([UserMessage("hello")], [raw_tool("foo", NO_PARAMETERS)], "none", 32),
    ([UserMessage("hello")], [raw_tool("foo", NO_PARAMETERS)], "auto", 31),
    ([UserMessage("hello")], [raw_tool("foo", NO_PARAMETERS)], "foo", 36),
    ([UserMessage("hello")], [raw_tool("foo", NO_PARAMETERS, "Do a foo")], None, 36),
    (
        [UserMessage("hello")],
        [
            raw_tool(
                "bing_bong",
                {
                    "type": "object",
                    "properties": {
                        "foo": {"type": "string"},
                        "bar": {"type": "number", "description": "A number"},
                    },
                },
                "Do a bing bong",
            )
        ],
        None,
        57,
    ),
    (
        [UserMessage("hello")],
        [
            raw_tool(
                "bing_bong",
                {
                    "type": "object",
                    "properties": {
                        "foo": {
                            "type": "object",
                            "properties": {
                                "bar": {"type": "string", "enum": ["a", "b", "c"]},
                                "baz": {"type": "boolean"},
                            },
                        }
                    },
                },
                "Do a bing bong",
            )
        ],
        None,
        68,
    ),
    ([UserMessage("hello world"), ToolResult("do_stuff", "{}")], [], None, 15),
    (
        [UserMessage("hello world"), ToolResult("do_stuff", '{"foo": "bar", "baz": 1.5}')],
        [],
        None,
        28,
    ),
    ([ToolResult("dance_the_tango", '{"a": { "b" : { "c": false}}}')], [], None, 24),
    (
        [AssistantMessage("", [ToolCall("do_stuff", '{"foo": "bar", "baz": 1.5}')])],
        [],
        None,
        26,
    ),
    (
        [AssistantMessage("", [ToolCall("do_stuff", '{"foo":"bar", "baz":\n\n 1.5}')])],
        [],
        None,
        25,
    ),
    (
        [SystemMessage("Hello"), UserMessage("Hi there")],
        [raw_tool("do_stuff", NO_PARAMETERS)],
        None,
        35,
    ),
    (
        [SystemMessage("Hello:"), SystemMessage("Hello"), UserMessage("Hi there")],
        [raw_tool("do_stuff", NO_PARAMETERS), raw_tool("do_other_stuff", NO_PARAMETERS)],
        "do_stuff",
        55,
    ),
    (
        [SystemMessage("Hello"), UserMessage("Hi there")],
        [
            raw_tool(
                "do_stuff",
                {
                    "type": "object",
                    "properties": {
                        "foo": {"anyOf": [{"type": "string", "const": "a"}, {"type": "number"}]}
                    },
                },
            )
        ],
        None,
        44,
    ),
    (
        [UserMessage("hello")],
        [
            raw_tool(
                "get_recipe",
                {
                    "type": "object",
                    "required": ["ingredients", "instructions", "time_to_cook"],
                    "properties": {
                        "ingredients": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "unit", "amount"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "unit": {
                                        "enum": ["grams", "ml", "cups", "pieces", "teaspoons"],
                                        "type": "string",
                                    },
                                    "amount": {"type": "number"},
                                },
                            },
                        },
                        "instructions": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Steps to prepare the recipe (no numbering)",
                        },
                        "time_to_cook": {
                            "type": "number",
                            "description": "Total time to prepare the recipe in minutes",
                        },
                    },
                },
            )
        ],
        None,
        106,
    ),
]


@pytest.mark.parametrize(("messages", "tools", "choice", "reported"), FUNCTIONS_STYLE_RECORDS)
def test_prompt_counts_match_what_the_server_reported_functions_style(
    messages, tools, choice, reported
):
    assert CL100K.prompt(messages, tools, choice) == reported


@pytest.mark.parametrize(
    ("counter", "messages", "tools", "reported"),
    [
        (CL100K, JARGON_CHAT, [], 129),
        (O200K, JARGON_CHAT, [], 124),
        (CL100K, WEATHER_CHAT, [WEATHER], 105),
        (O200K, WEATHER_CHAT, [WEATHER], 101),
    ],
    ids=["gpt-4", "gpt-4o", "gpt-4-tools", "gpt-4o-tools"],
)
def test_prompt_counts_match_what_the_server_reported_tools_style(
    counter, messages, tools, reported
):
    assert counter.prompt(messages, tools) == reported


def test_images_and_text_parts():
    """An image of unknown size costs what OpenAI charges for one at its detail level."""
    parts = UserMessage((TextPart("hello"), ImagePart("https://x.test/a.png", detail="low")))
    assert CL100K.message(parts) == CL100K.message(UserMessage("hello")) + 85
    high = UserMessage((ImagePart("https://x.test/a.png"),))
    assert CL100K.message(high) == 3 + 1 + 765


def test_completion_counts_text_and_calls():
    reply = AssistantMessage(
        "hello world", [ToolCall("do_stuff", '{"a": 1}', "call_1"), ToolCall("x", "", "call_2")]
    )
    expected = 2 + (2 + 6 + 3) + (1 + 0 + 3)  # "do_stuff" is 2 tokens, '{"a": 1}' 6
    assert CL100K.completion(reply) == expected


# ---------------------------------------------------------------- end to end


@tool
def foo() -> str:
    """Do a foo"""
    return "done"


def test_a_streamed_run_counts_usage_functions_style(driver: Driver):
    """GoAPI's streams report no usage: each request is counted, equal to what the server
    reported for the same request, and the cost is known (and marked as estimated)."""
    agent, scripted = scripted_agent(
        [Reply.call("foo").with_usage(None), Reply.text("hello world").with_usage(None)],
        model="gpt-3.5-turbo-0613",
        tools=[foo],
    )
    result = driver.run(agent, "hello")
    assert "functions" in scripted.requests[0]
    first = CL100K.prompt([UserMessage("hello")], [foo])
    assert first == 36  # what the server reported for this request
    reply, done = result.messages[1], result.messages[2]
    second = first + CL100K.message(reply) + CL100K.message(done)
    assert result.usage == Usage(
        requests=2,
        prompt_tokens=first + second,
        completion_tokens=CL100K.completion(reply) + 2,
        tool_calls=1,
        counted_requests=2,
    )
    assert result.usage.estimated
    assert result.usage.complete
    assert result.cost == pytest.approx(result.model.cost(result.usage))
    assert result.cost is not None


def test_a_streamed_run_counts_usage_tools_style(driver: Driver):
    agent, scripted = scripted_agent(
        [Reply.text("Sunny.").with_usage(None)],
        model="gpt-3.5-turbo-1106",
        tools=[WEATHER],
        system=WEATHER_CHAT[0].content,
    )
    result = driver.run(agent, WEATHER_CHAT[1].content)
    assert "tools" in scripted.requests[0]
    assert result.usage.prompt_tokens == 105  # what the server reported for this request
    assert result.usage.completion_tokens == CL100K.text("Sunny.")
    assert result.usage.counted_requests == 1


def test_reported_usage_is_kept_and_mixed_runs_say_so(driver: Driver):
    """A server's figures win; a run with both kinds adds them and counts the counted ones."""
    agent, _ = scripted_agent(
        [Reply.call("foo").with_usage(40, 7), Reply.text("ok").with_usage(None)],
        model="gpt-4",
        tools=[foo],
        stream=False,
    )
    result = driver.run(agent, "hello")
    assert result.usage.counted_requests == 1
    assert result.usage.prompt_tokens is not None
    assert result.usage.prompt_tokens > 40
    assert result.usage.completion_tokens == 7 + 1


# ---------------------------------------------------------------- the context window


def test_a_prompt_over_the_window_is_refused_before_sending(driver: Driver):
    agent, scripted = scripted_agent(
        [Reply.text("never")], model="gpt-4", settings=ModelSettings(max_tokens=500)
    )
    prompt = "word " * 7_800
    with pytest.raises(ContextLengthExceededError) as caught:
        driver.run(agent, prompt)
    error = caught.value
    assert scripted.requests == []
    assert (error.max_tokens, error.context_window) == (500, 8_192)
    assert error.prompt_tokens == CL100K.prompt([UserMessage(prompt)])
    assert f"{error.prompt_tokens} tokens" in str(error)
    assert "8192" in str(error)
    assert str(error).startswith("The prompt has")  # not "HTTP 400": nothing was sent
    assert error.status_code == 400
    assert error.code == "context_length_exceeded"
    clone = pickle.loads(pickle.dumps(error))  # batch runs send errors across processes
    assert (clone.prompt_tokens, str(clone)) == (error.prompt_tokens, str(error))
    assert error.messages is not None
    assert error.messages[-1] == UserMessage(prompt)


def test_the_window_check_can_be_turned_off(driver: Driver):
    agent, scripted = scripted_agent(
        [Reply.text("fits after all")],
        model="gpt-4",
        settings=ModelSettings(max_tokens=500, check_context_window=False),
    )
    assert driver.run(agent, "word " * 7_800).output == "fits after all"
    assert len(scripted.requests) == 1


def test_a_prompt_that_fits_is_sent(driver: Driver):
    agent, _scripted = scripted_agent(
        [Reply.text("ok")], model="gpt-4", settings=ModelSettings(max_tokens=500)
    )
    assert driver.run(agent, "word " * 7_000).output == "ok"


# ---------------------------------------------------------------- budgets


def test_token_budgets_use_exact_counts(driver: Driver):
    prompt_tokens = CL100K.prompt([UserMessage("hello world")])
    agent, scripted = scripted_agent(
        [Reply.text("ok")], model="gpt-4", limits=UsageLimits(total_tokens=prompt_tokens - 1)
    )
    with pytest.raises(UsageLimitExceeded) as caught:
        driver.run(agent, "hello world")
    assert (caught.value.value, caught.value.estimated) == (prompt_tokens, False)
    assert "estimated" not in str(caught.value)
    assert scripted.requests == []


def test_token_budgets_fall_back_to_the_marked_estimate(driver: Driver):
    agent, _ = scripted_agent(
        [Reply.text("ok")],
        model="llama-3-70b",
        api_style="tools",
        limits=UsageLimits(total_tokens=3),
    )
    with pytest.raises(UsageLimitExceeded) as caught:
        driver.run(agent, "hello world, a prompt of some length")
    assert caught.value.estimated
    assert "estimated at about four characters a token" in str(caught.value)


def test_counter_for_reads_the_catalog_and_settings():
    from agentkit import ModelInfo

    counter = counter_for(ModelInfo("gpt-4", context_window=8_192), ModelSettings(max_tokens=9))
    assert counter is not None
    assert counter.encoding == "cl100k_base"
    assert (counter.context_window, counter.max_tokens) == (8_192, 9)
    assert counter_for(ModelInfo("llama-3-70b")) is None


def test_per_run_settings_reach_the_window_check(driver: Driver):
    """A run's own max_tokens is checked; it does not undo the agent's opt-out."""
    checked, scripted = scripted_agent([Reply.text("never")], model="gpt-4")
    with pytest.raises(ContextLengthExceededError) as caught:
        driver.run(checked, "word " * 7_800, settings=ModelSettings(max_tokens=500))
    assert caught.value.max_tokens == 500
    assert scripted.requests == []
    opted_out, _ = scripted_agent(
        [Reply.text("sent")],
        model="gpt-4",
        settings=ModelSettings(check_context_window=False),
    )
    run = driver.run(opted_out, "word " * 7_800, settings=ModelSettings(max_tokens=500))
    assert run.output == "sent"
