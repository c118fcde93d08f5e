"""What a run can set (overrides, tool_choice, structured output) and agents as tools.

Each behaviour test runs through the sync and the async driver; request bodies are checked
against both chat-completions schemas, except the fields that the 2023-12 schema predates
(`tool_choice: "required"`, `response_format: json_schema`), which are checked against
today's schema and shown to be the only difference.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    BatchItem,
    ChatClient,
    ModelInfo,
    ModelSettings,
    RunFinished,
    SystemMessage,
    TextDelta,
    ToolResult,
    ToolRetriesExceeded,
    UsageError,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    batch,
    tool,
)
from agentkit.testing import Reply, ScriptedGoAPI
from tests.helpers import Driver, scripted_agent
from tests.spec import spec_errors

NATIVE = ModelInfo(
    "gpt-4o-2024-08-06",
    style="tools",
    context_window=128_000,
    structured_output=True,
    tool_choice_required=True,
    input_price=0.0025,
    output_price=0.01,
)


@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a given location."""
    return f"22 degrees and sunny in {location}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class City(BaseModel):
    name: str
    population: int
    country: str | None = None


def unchecked_agent(script: Any, model: str | ModelInfo, **kwargs: Any) -> tuple[Agent[Any], Any]:
    """An agent on a scripted server whose bodies the test checks itself."""
    scripted = ScriptedGoAPI(script)
    client = ChatClient(
        api_key="sk-test-key",
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=scripted),
        async_http_client=httpx.AsyncClient(transport=scripted),
    )
    return Agent(model, client=client, **kwargs), scripted


def assert_valid_today(body: dict[str, Any], newer_field: str) -> None:
    """Valid under today's schema; the 2023-12 schema refuses only `newer_field`."""
    problems = spec_errors("request", body)
    assert problems, "expected the 2023-12 schema to refuse the newer field"
    for problem in problems:
        assert problem.startswith("openai_chat_schema_2023-12-14.json: " + newer_field), problem


def echo(body: dict[str, Any]) -> Reply:
    """Answers with what the request asked for: model, temperature, seed, tools, system."""
    names = sorted(
        [t["function"]["name"] for t in body.get("tools", [])]
        + [f["name"] for f in body.get("functions", [])]
    )
    first = body["messages"][0]
    system = first["content"] if first["role"] == "system" else None
    return Reply.text(
        json.dumps(
            [body["model"], body.get("temperature"), body.get("seed"), names, system],
        )
    )


# --------------------------------------------------------------------------- overrides


class TestOverrides:
    def test_a_run_overrides_model_settings_tools_and_system(self, driver: Driver):
        """One agent serves a run with another model, settings, tools and system text."""
        agent, scripted = scripted_agent(
            echo,
            model="gpt-3.5-turbo",
            tools=[get_current_weather],
            system="Be brief.",
            settings=ModelSettings(temperature=0.5),
        )
        result = driver.run(
            agent,
            "hi",
            model="gpt-4-1106-preview",
            settings=ModelSettings(seed=7),
            tools=[add],
            system="Be thorough.",
        )
        assert json.loads(result.output) == ["gpt-4-1106-preview", 0.5, 7, ["add"], "Be thorough."]
        assert "tools" in scripted.requests[0]  # the style follows the run's model
        assert result.model.name == "gpt-4-1106-preview"
        # ...and the agent is as it was:
        plain = driver.run(agent, "hi")
        assert json.loads(plain.output) == [
            "gpt-3.5-turbo",
            0.5,
            None,
            ["get_current_weather"],
            "Be brief.",
        ]
        assert "functions" in scripted.requests[1]
        assert (agent.model.name, agent.style, agent.system) == (
            "gpt-3.5-turbo",
            "functions",
            "Be brief.",
        )

    def test_system_none_leaves_the_instructions_out(self, driver: Driver):
        agent, scripted = scripted_agent([Reply.text("ok")], system="Be brief.")
        driver.run(agent, "hi", system=None)
        assert [m["role"] for m in scripted.requests[0]["messages"]] == ["user"]

    def test_a_run_overrides_the_output_type(self, driver: Driver):
        """`output_type=` on a run gives that run a structured answer; the agent stays text."""
        answer = Reply.call("final_result", {"name": "Boston", "population": 650706})
        agent, scripted = scripted_agent([answer, Reply.text("Just text.")])
        city = driver.run(agent, "Boston?", output_type=City).output
        assert city == City(name="Boston", population=650706)
        assert driver.run(agent, "And now?").output == "Just text."
        assert "functions" not in scripted.requests[1]

    def test_a_run_overrides_the_limits(self, driver: Driver):
        agent, scripted = scripted_agent(
            [Reply.call("add", {"a": 1, "b": 2})], tools=[add], limits=UsageLimits(requests=5)
        )
        with pytest.raises(UsageLimitExceeded) as caught:
            driver.run(agent, "1 + 2?", limits=UsageLimits(requests=1))
        assert (caught.value.limit, caught.value.maximum) == ("requests", 1)
        assert len(scripted.requests) == 1

    def test_streams_take_overrides_too(self, driver: Driver):
        agent, _ = scripted_agent(echo)
        events = driver.stream(agent, "hi", model="gpt-4", settings=ModelSettings(seed=3))
        assert any(isinstance(e, TextDelta) for e in events)
        finished = events[-1]
        assert isinstance(finished, RunFinished)
        assert json.loads(finished.result.output)[:3] == ["gpt-4", None, 3]

    def test_a_bad_override_is_refused_before_anything_is_sent(self, driver: Driver):
        agent, scripted = scripted_agent([Reply.text("never")], tools=[add])
        with pytest.raises(UsageError, match="Unknown model 'gpt-4-turbo-previw'"):
            driver.run(agent, "hi", model="gpt-4-turbo-previw")
        with pytest.raises(UsageError, match="cannot call functions"):
            driver.run(agent, "hi", model="gpt-3.5-turbo-0301")
        with pytest.raises(TypeError, match="Unexpected keyword argument 'modle'"):
            driver.run(agent, "hi", modle="gpt-4")
        assert scripted.requests == []

    def test_overrides_never_leak_between_concurrent_runs(self):
        """Forty runs at once, each with its own model, settings, tools and system text: each
        request carries its own run's, and the agent keeps its own."""
        agent, scripted = scripted_agent(echo, model="gpt-3.5-turbo", system="Agent.")
        choices = [
            ("gpt-4", [add], "A."),
            ("gpt-3.5-turbo-1106", [get_current_weather], "B."),
            ("gpt-4-1106-preview", [add, get_current_weather], None),
            ("gpt-3.5-turbo-16k", [], "D."),
        ]

        async def one(number: int) -> tuple[list[Any], list[Any]]:
            model, tools, system = choices[number % 4]
            result = await agent.arun(
                f"run {number}",
                model=model,
                tools=tools,
                system=system,
                settings=ModelSettings(seed=number, temperature=number / 100),
            )
            names = sorted(t.name for t in tools)
            return json.loads(result.output), [model, number / 100, number, names, system]

        async def main() -> list[tuple[list[Any], list[Any]]]:
            return await asyncio.gather(*(one(n) for n in range(40)))

        for got, expected in asyncio.run(main()):
            assert got == expected
        assert len(scripted.requests) == 40
        assert (agent.model.name, agent.system, agent.tools, agent.settings) == (
            "gpt-3.5-turbo",
            "Agent.",
            (),
            ModelSettings(),
        )

    def test_the_agents_configuration_is_read_only(self):
        """A run changes the configuration with overrides, never by changing the agent."""
        agent = Agent("gpt-4", system="Be brief.", api_key="k")
        with pytest.raises(AttributeError):
            agent.system = "Be thorough."  # type: ignore[misc]
        assert agent.system == "Be brief."

    def test_settings_merge_keeps_the_agents_fields(self):
        merged = ModelSettings(temperature=0, max_tokens=10, extra_body={"a": 1}).merge(
            ModelSettings(max_tokens=20, extra_body={"b": 2})
        )
        assert (merged.temperature, merged.max_tokens) == (0, 20)
        assert merged.extra_body == {"a": 1, "b": 2}


def test_batch_items_carry_their_own_overrides():
    """A batch item's `options` apply to its run only."""
    agent, _ = scripted_agent(echo)
    items = [
        BatchItem("a", "hi"),
        BatchItem("b", "hi", options={"model": "gpt-4", "settings": ModelSettings(seed=1)}),
    ]
    outputs = {r.id: json.loads(r.output) for r in batch(agent, items, concurrency=2)}
    assert outputs["a"][:3] == ["gpt-3.5-turbo", None, None]
    assert outputs["b"][:3] == ["gpt-4", None, 1]


# --------------------------------------------------------------------------- tool_choice


class TestToolChoice:
    def test_a_named_choice_goes_with_the_first_request_only(self, driver: Driver):
        """Forced on every request, the model could never answer: only the first is forced."""
        agent, scripted = scripted_agent(
            [Reply.call("add", {"a": 1, "b": 2}), Reply.text("3")],
            model="gpt-3.5-turbo-1106",
            tools=[add, get_current_weather],
            tool_choice="add",
        )
        assert driver.run(agent, "1 + 2?").output == "3"
        first, second = scripted.requests
        assert first["tool_choice"] == {"type": "function", "function": {"name": "add"}}
        assert "tool_choice" not in second

    def test_the_legacy_style_sends_function_call(self, driver: Driver):
        agent, scripted = scripted_agent(
            [Reply.call("add", {"a": 1, "b": 2}), Reply.text("3")],
            model="gpt-3.5-turbo",
            tools=[add, get_current_weather],
        )
        driver.run(agent, "1 + 2?", tool_choice="add")
        assert scripted.requests[0]["function_call"] == {"name": "add"}
        assert "function_call" not in scripted.requests[1]
        assert "tool_choice" not in scripted.requests[0]

    @pytest.mark.parametrize(
        ("model", "key"), [("gpt-4", "function_call"), ("gpt-4-1106-preview", "tool_choice")]
    )
    def test_none_goes_with_every_request(self, driver: Driver, model: str, key: str):
        agent, scripted = scripted_agent([Reply.text("No tools today.")], model=model, tools=[add])
        driver.run(agent, "1 + 2?", tool_choice="none")
        assert scripted.requests[0][key] == "none"

    @pytest.mark.parametrize(
        ("model", "key", "sent"),
        [
            ("gpt-4", "function_call", {"name": "add"}),
            (
                "gpt-4-1106-preview",
                "tool_choice",
                {"type": "function", "function": {"name": "add"}},
            ),
        ],
    )
    def test_required_with_one_tool_is_the_one_name_form(
        self, driver: Driver, model: str, key: str, sent: Any
    ):
        """The 2023 API has no "required"; with one tool, naming it says the same."""
        agent, scripted = scripted_agent(
            [Reply.call("add", {"a": 1, "b": 2}), Reply.text("3")],
            model=model,
            tools=[add],
            tool_choice="required",
        )
        driver.run(agent, "1 + 2?")
        assert scripted.requests[0][key] == sent

    @pytest.mark.parametrize("model", ["gpt-4", "gpt-4-1106-preview"])
    def test_required_with_several_tools_is_refused_where_it_cannot_be_sent(self, model: str):
        with pytest.raises(UsageError) as caught:
            Agent(model, tools=[add, get_current_weather], tool_choice="required", api_key="k")
        text = str(caught.value)
        assert f"tool_choice='required' cannot be sent to {model!r}" in text
        assert "add, get_current_weather" in text
        assert "tool_choice='<name>'" in text

    def test_required_is_sent_to_models_that_take_it(self, driver: Driver):
        agent, scripted = unchecked_agent(
            [Reply.call("add", {"a": 1, "b": 2}), Reply.text("3")],
            NATIVE,
            tools=[add, get_current_weather],
            tool_choice="required",
        )
        driver.run(agent, "1 + 2?")
        first, second = scripted.requests
        assert first["tool_choice"] == "required"
        assert_valid_today(first, "tool_choice")
        assert "tool_choice" not in second
        assert not spec_errors("request", second)

    def test_forcing_the_output_function_ends_the_run_at_once(self, driver: Driver):
        answer = Reply.call("final_result", {"name": "Oslo", "population": 709037})
        agent, scripted = scripted_agent(
            [answer], model="gpt-4", output_type=City, tool_choice="final_result"
        )
        assert driver.run(agent, "Oslo?").output.name == "Oslo"
        assert scripted.requests[0]["function_call"] == {"name": "final_result"}

    def test_bad_choices_are_refused(self):
        with pytest.raises(UsageError, match=r"names no tool of this run; the tools: add\."):
            Agent("gpt-4", tools=[add], tool_choice="multiply", api_key="k")
        with pytest.raises(UsageError, match="needs tools, but this run offers none"):
            Agent("gpt-4", tool_choice="required", api_key="k")
        with pytest.raises(UsageError, match="no way to give the structured output"):
            Agent("gpt-4", output_type=City, tool_choice="none", api_key="k")

    def test_auto_without_tools_is_left_out(self, driver: Driver):
        agent, scripted = scripted_agent([Reply.text("hi")], tool_choice="auto")
        driver.run(agent, "hi")
        assert "tool_choice" not in scripted.requests[0]
        assert "function_call" not in scripted.requests[0]


# --------------------------------------------------------------------------- native output


class TestNativeOutput:
    def test_a_model_that_takes_json_schema_gets_a_strict_response_format(self, driver: Driver):
        agent, scripted = unchecked_agent(
            [Reply.text('{"name": "Boston", "population": 650706, "country": null}')],
            NATIVE,
            output_type=City,
        )
        result = driver.run(agent, "Boston?")
        assert result.output == City(name="Boston", population=650706)
        body = scripted.requests[0]
        assert "tools" not in body
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {
                "name": "final_result",
                "schema": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "population": {"type": "integer"},
                        "country": {"type": ["string", "null"]},
                    },
                    "required": ["name", "population", "country"],
                    "additionalProperties": False,
                },
                "strict": True,
            },
        }
        assert_valid_today(body, "response_format")

    def test_a_bad_answer_is_fed_back(self, driver: Driver):
        agent, scripted = unchecked_agent(
            [
                Reply.text('{"name": "Boston"}'),
                Reply.text("not json"),
                Reply.text('{"name": "Boston", "population": "650706", "country": null}'),
            ],
            NATIVE,
            output_type=City,
        )
        result = driver.run(agent, "Boston?")
        assert result.output.population == 650706
        assert result.turns == 3
        feedback = scripted.requests[1]["messages"][-1]
        assert feedback["role"] == "user"
        assert feedback["content"].startswith("Your answer is not valid: ")
        assert "'population' is required" in feedback["content"]
        assert "invalid JSON" in scripted.requests[2]["messages"][-1]["content"]

    def test_bad_answers_past_the_budget_end_the_run(self, driver: Driver):
        agent, _ = unchecked_agent([Reply.text("{}")] * 3, NATIVE, output_type=City)
        with pytest.raises(ToolRetriesExceeded) as caught:
            driver.run(agent, "Boston?")
        assert caught.value.tool_name == "final_result"

    def test_fields_with_defaults_may_be_null_for_the_default(self, driver: Driver):
        """Strict mode has no optional fields: a field with a default becomes nullable, and
        null stands for the default; a field that takes null keeps null as its value."""

        class Query(BaseModel):
            city: str
            days: int = 1
            unit: Literal["celsius", "fahrenheit"] = "celsius"
            note: str | None = "none"

        agent, scripted = unchecked_agent(
            [
                Reply.text('{"city": "Oslo", "days": "two", "unit": null, "note": null}'),
                Reply.text('{"city": "Oslo", "days": null, "unit": null, "note": null}'),
            ],
            NATIVE,
            output_type=Query,
        )
        result = driver.run(agent, "Oslo?")
        assert result.output == Query(city="Oslo", days=1, unit="celsius", note=None)
        schema = scripted.requests[0]["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["days"] == {"type": ["integer", "null"]}
        assert schema["properties"]["unit"] == {
            "anyOf": [{"enum": ["celsius", "fahrenheit"], "type": "string"}, {"type": "null"}]
        }
        assert schema["properties"]["note"] == {"type": ["string", "null"]}
        assert schema["required"] == ["city", "days", "unit", "note"]
        feedback = scripted.requests[1]["messages"][-1]["content"]
        assert feedback.startswith("Your answer is not valid: ")
        assert "days" in feedback
        assert_valid_today(scripted.requests[0], "response_format")

    def test_non_object_types_are_wrapped(self, driver: Driver):
        agent, scripted = unchecked_agent(
            [Reply.text('{"response": [1, 2]}')], NATIVE, output_type=list[int]
        )
        assert driver.run(agent, "Two numbers?").output == [1, 2]
        schema = scripted.requests[0]["response_format"]["json_schema"]["schema"]
        assert schema["required"] == ["response"]

    def test_tools_and_native_output_go_together(self, driver: Driver):
        agent, scripted = unchecked_agent(
            [
                Reply.call("add", {"a": 1, "b": 2}),
                Reply.text('{"response": 3}'),
            ],
            NATIVE,
            tools=[add],
            output_type=int,
        )
        assert driver.run(agent, "1 + 2?").output == 3
        assert [t["function"]["name"] for t in scripted.requests[0]["tools"]] == ["add"]

    def test_tool_mode_and_fallbacks(self, driver: Driver):
        """`output_mode="tool"` keeps the function; `"auto"` falls back to it for models
        without the flag and for types a strict schema cannot express."""
        answer = Reply.call("final_result", {"response": {"a": 1}})
        for model, output_type, mode in [
            (NATIVE, City, "tool"),
            ("gpt-4-1106-preview", City, "auto"),
            (NATIVE, dict[str, int], "auto"),
        ]:
            agent, scripted = unchecked_agent(
                [
                    answer
                    if output_type is not City
                    else Reply.call("final_result", {"name": "X", "population": 1})
                ],
                model,
                output_type=output_type,
                output_mode=mode,
            )
            driver.run(agent, "?")
            body = scripted.requests[0]
            assert "response_format" not in body
            assert body["tools"][0]["function"]["name"] == "final_result"

    def test_native_where_it_cannot_be_is_refused(self):
        with pytest.raises(UsageError, match="does not take native structured output"):
            Agent("gpt-4-1106-preview", output_type=City, output_mode="native", api_key="k")
        with pytest.raises(UsageError, match="open map"):
            Agent(NATIVE, output_type=dict[str, int], output_mode="native", api_key="k")
        with pytest.raises(UsageError, match="output_mode must be"):
            Agent(NATIVE, output_type=City, output_mode="json", api_key="k")  # type: ignore[call-overload]

    def test_a_run_can_choose_the_mode(self, driver: Driver):
        agent, scripted = unchecked_agent(
            [Reply.call("final_result", {"name": "X", "population": 1})], NATIVE, output_type=City
        )
        driver.run(agent, "?", output_mode="tool")
        assert "response_format" not in scripted.requests[0]


# --------------------------------------------------------------------------- agents as tools


def two_agents(script: Any, **outer: Any) -> tuple[Agent[Any], Agent[Any], Any]:
    """A weather agent (gpt-4-1106-preview) used as a tool by a triage agent (gpt-3.5-turbo),
    both on one scripted server."""
    scripted = ScriptedGoAPI(script)
    client = ChatClient(
        api_key="sk-test-key",
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=scripted),
        async_http_client=httpx.AsyncClient(transport=scripted),
    )
    # Not streamed, so the server reports usage.
    weather = Agent("gpt-4-1106-preview", tools=[get_current_weather], client=client, stream=False)
    triage = Agent(
        "gpt-3.5-turbo",
        stream=False,
        tools=[weather.as_tool(name="weather_agent", description="Answers weather questions.")],
        client=client,
        **outer,
    )
    return triage, weather, scripted


class TestAsTool:
    def test_the_inner_run_counts_as_the_outer_runs(self, driver: Driver):
        triage, weather, scripted = two_agents(
            [
                Reply.call("weather_agent", {"prompt": "Weather in Oslo?"}).with_usage(50, 10),
                Reply.call("get_current_weather", {"location": "Oslo"}).with_usage(40, 8),
                Reply.text("Sunny in Oslo.").with_usage(60, 5),
                Reply.text("It is sunny in Oslo.").with_usage(80, 7),
            ]
        )
        result = driver.run(triage, "How is Oslo?")
        assert result.output == "It is sunny in Oslo."
        assert result.usage.requests == 4
        assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (230, 30)
        assert result.usage.tool_calls == 2  # weather_agent, and get_current_weather inside it
        assert scripted.requests[1]["model"] == "gpt-4-1106-preview"
        # The outer model's tokens at its prices, the inner's at the weather model's:
        outer = triage.model.cost(type(result.usage)(2, 130, 17))
        inner = weather.model.cost(type(result.usage)(2, 100, 13))
        assert result.cost == pytest.approx(outer + inner)
        (answer,) = [m for m in result.messages if isinstance(m, ToolResult)]
        assert answer.content == "Sunny in Oslo."
        assert [m.role for m in answer.messages] == ["user", "assistant", "tool", "assistant"]
        assert answer.messages[0] == UserMessage("Weather in Oslo?")

    def test_the_inner_run_spends_only_what_is_left_of_the_outer_limits(self, driver: Driver):
        """The outer run may send 2 requests; the inner one may then send 1, needs 2, and
        stops; the outer run stops before a third request."""
        triage, _, scripted = two_agents(
            [
                Reply.call("weather_agent", {"prompt": "Weather in Oslo?"}),
                Reply.call("get_current_weather", {"location": "Oslo"}),
            ],
            limits=UsageLimits(requests=2),
        )
        with pytest.raises(UsageLimitExceeded) as caught:
            driver.run(triage, "How is Oslo?")
        assert len(scripted.requests) == 2
        assert caught.value.usage.requests == 2
        failed = caught.value.messages[-1]
        assert isinstance(failed, ToolResult)
        assert failed.is_error
        assert "UsageLimitExceeded" in failed.content

    def test_bad_arguments_go_back_to_the_calling_model(self, driver: Driver):
        """A call without a prompt is the caller's model's mistake: it reads why, and the
        specialist is never run."""
        triage, _, scripted = two_agents(
            [
                Reply.call("weather_agent", {"question": "Oslo?"}),
                Reply.text("Sorry."),
            ]
        )
        result = driver.run(triage, "How is Oslo?")
        failed = result.messages[-2]
        assert failed.is_error
        assert "'prompt' is required" in failed.content
        assert [body["model"] for body in scripted.requests] == ["gpt-3.5-turbo"] * 2

    def test_an_input_model(self, driver: Driver):
        @dataclass
        class Query:
            city: str
            days: int = 1

        scripted = ScriptedGoAPI(
            [
                Reply.call("forecast", {"request": {"city": "Oslo", "days": "2"}}),
                Reply.text("Two sunny days."),
                Reply.text("Sunny for two days."),
            ]
        )
        client = ChatClient(
            api_key="k",
            base_url="http://goapi.test/v1",
            http_client=httpx.Client(transport=scripted),
            async_http_client=httpx.AsyncClient(transport=scripted),
        )
        inner = Agent("gpt-4", client=client, system="You forecast.")
        ask = inner.as_tool(name="forecast", description="Forecasts.", input_type=Query)
        assert ask.parameters["required"] == ["request"]
        assert ask.parameters["$defs"]["Query"]["required"] == ["city"]
        outer = Agent("gpt-4", tools=[ask], client=client)
        assert driver.run(outer, "Oslo, 2 days?").output == "Sunny for two days."
        assert scripted.requests[1]["messages"] == [
            {"role": "system", "content": "You forecast."},
            {"role": "user", "content": '{"city":"Oslo","days":2}'},
        ]


# --------------------------------------------------------------------------- model names


def test_an_unknown_model_is_refused_with_close_matches():
    with pytest.raises(UsageError) as caught:
        Agent("gpt-3.5-turb", api_key="k")
    text = str(caught.value)
    assert "Unknown model 'gpt-3.5-turb'" in text
    assert "Did you mean 'gpt-3.5-turbo'" in text
    assert "api_style='tools'" in text
    assert "ModelInfo" in text


def test_an_unknown_model_works_when_told_how(driver: Driver):
    """`api_style=`, a `ModelInfo`, or a family rule say how the model takes functions."""
    for model, style, expected in [
        ("my-finetune", "functions", "functions"),
        (ModelInfo("my-finetune", style="tools"), None, "tools"),
        ("gpt-4-0613-custom", None, "functions"),
    ]:
        agent, scripted = scripted_agent(
            [Reply.text("ok")], model=model, api_style=style, tools=[add]
        )
        driver.run(agent, "hi")
        assert expected in scripted.requests[0]
        assert agent.model.known is isinstance(model, ModelInfo)


def test_the_system_message_of_a_history_wins(driver: Driver):
    agent, scripted = scripted_agent([Reply.text("ok")], system="Agent.")
    driver.run(agent, "hi", history=[SystemMessage("History.")], system="Run.")
    assert scripted.requests[0]["messages"][0] == {"role": "system", "content": "History."}


# --------------------------------------------------------------------------- typing

TYPING = Path(__file__).parent / "typing"


def test_agent_code_type_checks_with_mypy():
    """tests/typing/test_agent_typing.py passes `mypy --strict`: `Agent(..., output_type=City)`
    is an `Agent[City]` with no annotation, and the mistakes there are caught."""
    from mypy import api

    stdout, stderr, status = api.run(
        ["--strict", "--warn-unused-ignores", str(TYPING / "test_agent_typing.py")]
    )
    assert status == 0, stdout + stderr


@pytest.mark.timeout(300)  # pyright starts node: slow on a loaded machine
def test_user_code_type_checks_with_pyright(tmp_path: Path):
    """Every file of tests/typing passes pyright (basedpyright's build, which ships its own
    node), with each `type: ignore` there needed."""
    pytest.importorskip("basedpyright")
    config = tmp_path / "pyrightconfig.json"
    config.write_text(
        json.dumps(
            {
                "typeCheckingMode": "standard",
                "enableTypeIgnoreComments": True,
                "reportUnnecessaryTypeIgnoreComment": "error",
                "pythonVersion": "3.10",
            }
        )
    )
    checked = subprocess.run(
        [sys.executable, "-m", "basedpyright", "-p", str(config), "--pythonpath", sys.executable]
        + [str(path) for path in sorted(TYPING.glob("*.py"))],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 errors" in checked.stdout
