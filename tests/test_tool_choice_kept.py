"""`tool_choice="required"` with a structured output given as a call: every request is forced.

The model then calls tools until it calls `final_result`, as pydantic-ai's output tools do.
Without such an output (a text answer, native structured output) a forced choice goes with
the first request only, or the model could never answer (`tests/test_agent_options.py`).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from agentkit import Agent, ChatClient, tool
from agentkit.testing import Reply, ScriptedGoAPI
from tests.helpers import Driver, scripted_agent


class City(BaseModel):
    name: str
    population: int


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def lookup(city: str) -> int:
    """The population of a city."""
    return 709_037


ANSWER = Reply.call("final_result", {"name": "Oslo", "population": 709_037})


def agent_on(script: list[Reply], model: str, **options: Any) -> tuple[Agent[Any], Any]:
    """An agent on a scripted server (bodies unchecked: `"required"` is newer than 2023-12)."""
    scripted = ScriptedGoAPI(script)
    client = ChatClient(
        api_key="sk-test",
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=scripted),
        async_http_client=httpx.AsyncClient(transport=scripted),
    )
    return Agent(model, client=client, **options), scripted


def test_required_stays_until_the_model_calls_the_output_tool(driver: Driver):
    """Tools first, a stray text reply (sent back), then the answer: all three requests
    carry `"required"`, so the model cannot end with text instead of the answer tool."""
    agent, scripted = agent_on(
        [Reply.call("lookup", {"city": "Oslo"}), Reply.text("Oslo has 709,037 people."), ANSWER],
        "gpt-4o",
        tools=[add, lookup],
        output_type=City,
        output_mode="tool",
        tool_choice="required",
    )
    assert driver.run(agent, "Tell me about Oslo.").output == City(name="Oslo", population=709_037)
    assert [body["tool_choice"] for body in scripted.requests] == ["required"] * 3
    assert scripted.requests[2]["messages"][-1]["content"] == (
        "Give your answer by calling the final_result function, not as text."
    )


def test_a_run_can_ask_for_it_and_the_agent_keeps_its_own(driver: Driver):
    """Set on one run (`RunOptions`), it holds for that run only."""
    agent, scripted = agent_on(
        [Reply.call("add", {"a": 1, "b": 2}), ANSWER, Reply.call("add", {"a": 1, "b": 2}), ANSWER],
        "gpt-4.1-mini",
        tools=[add],
        output_type=City,
        output_mode="tool",
    )
    driver.run(agent, "Oslo?", tool_choice="required")
    driver.run(agent, "Oslo?")
    assert [body.get("tool_choice") for body in scripted.requests] == [
        "required",
        "required",
        None,
        None,
    ]


def test_the_legacy_style_forces_the_answer_function_on_every_request(driver: Driver):
    """gpt-4 (2023, `functions`) with only the answer function: "required" is its name, sent
    again after an invalid answer."""
    agent, scripted = scripted_agent(
        [Reply.call("final_result", {"name": "Oslo"}), ANSWER],
        model="gpt-4",
        output_type=City,
        tool_choice="required",
    )
    assert driver.run(agent, "Oslo?").output.population == 709_037
    assert [body["function_call"] for body in scripted.requests] == [{"name": "final_result"}] * 2


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"tool_choice": "required"}, "a text answer"),
        ({"tool_choice": "required", "output_type": City}, "native structured output"),
        ({"tool_choice": "add", "output_type": City, "output_mode": "tool"}, "a named tool"),
    ],
)
def test_otherwise_a_forced_choice_goes_with_the_first_request_only(
    driver: Driver, options: dict[str, Any], why: str
):
    """With a text answer or native output the model must be free to answer; a named tool
    other than the answer tool, forced again, would be called forever."""
    last = (
        ANSWER
        if options.get("output_mode") == "tool"
        else Reply.text('{"name": "Oslo", "population": 709037}')
    )
    agent, scripted = agent_on(
        [Reply.call("add", {"a": 1, "b": 2}), last], "gpt-4o-mini", tools=[add], **options
    )
    driver.run(agent, "Oslo?")
    first, second = scripted.requests
    assert first["tool_choice"] in ("required", {"type": "function", "function": {"name": "add"}})
    assert "tool_choice" not in second, why
