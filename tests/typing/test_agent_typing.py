"""Realistic agent code that must type-check, under `mypy --strict` and pyright alike.

An agent's output type is inferred from `output_type=` with no annotation, and a run's
result carries it; a run's own `output_type=` gives that run's result its type. The tests
here also run (against the scripted server), so the code is known to work; the lines under
`TYPE_CHECKING` are mistakes the checkers must catch.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Literal

import httpx
from pydantic import BaseModel
from typing_extensions import assert_type

from agentkit import (
    Agent,
    ChatClient,
    ModelSettings,
    RunFinished,
    RunResult,
    Tool,
    UsageLimits,
    tool,
)
from agentkit.testing import Reply, ScriptedGoAPI


class City(BaseModel):
    name: str
    population: int


class Weather(BaseModel):
    summary: str


@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a given location."""
    return f"sunny in {location}"


def client(*replies: Reply) -> ChatClient:
    scripted = ScriptedGoAPI(list(replies))
    return ChatClient(
        api_key="sk-test",
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=scripted),
        async_http_client=httpx.AsyncClient(transport=scripted),
    )


CITY = Reply.call("final_result", {"name": "Boston", "population": 650706})
WEATHER = Reply.call("final_result", {"summary": "sunny"})


def test_the_output_type_is_inferred() -> None:
    """`Agent(..., output_type=City)` is an `Agent[City]`; without it, an `Agent[str]`."""
    text_agent = Agent("gpt-3.5-turbo", client=client(Reply.text("Hi!")))
    assert_type(text_agent, Agent[str])
    assert_type(text_agent.run("Hello").output, str)

    city_agent = Agent("gpt-4-1106-preview", output_type=City, client=client(CITY))
    assert_type(city_agent, Agent[City])
    result = city_agent.run("Tell me about Boston")
    assert_type(result, RunResult[City])
    assert_type(result.output, City)
    assert result.output.population == 650706

    numbers = Agent(
        "gpt-4", output_type=list[int], client=client(Reply.call("final_result", {"response": [1]}))
    )
    assert_type(numbers, Agent[list[int]])
    assert numbers.run("One number?").output == [1]

    # A type form that is not a class (a Literal, a union) gives an Agent[Any].
    mood = Agent(
        "gpt-4",
        output_type=Literal["good", "bad"],
        client=client(Reply.call("final_result", {"response": "good"})),
    )
    assert_type(mood, Agent[Any])
    assert mood.run("How are you?").output == "good"


def test_a_run_can_change_the_output_type() -> None:
    agent = Agent("gpt-4", tools=[get_current_weather], client=client(WEATHER, Reply.text("ok")))
    weather = agent.run(
        "Weather in Boston?",
        output_type=Weather,
        model="gpt-4-1106-preview",
        settings=ModelSettings(temperature=0),
        limits=UsageLimits(requests=3),
        tool_choice="auto",
    )
    assert_type(weather, RunResult[Weather])
    assert weather.output.summary == "sunny"
    assert_type(agent.run("Hi", history=weather.messages, deps=None).output, str)


def test_the_async_drivers_are_typed_alike() -> None:
    agent = Agent("gpt-4", output_type=City, client=client(CITY, WEATHER, CITY))

    async def main() -> tuple[City, Weather]:
        city = await agent.arun("Boston?")
        assert_type(city, RunResult[City])
        weather = await agent.arun("Weather?", output_type=Weather)
        assert_type(weather, RunResult[Weather])
        events = [event async for event in agent.astream("Hi", system="Be brief.")]
        assert isinstance(events[-1], RunFinished)
        return city.output, weather.output

    city, weather = asyncio.run(main())
    assert (city.name, weather.summary) == ("Boston", "sunny")


def test_an_agent_as_a_tool() -> None:
    weather = Agent("gpt-4", client=client())
    ask: Tool[..., Any] = weather.as_tool(name="weather_agent", description="Weather.")
    triage = Agent("gpt-4", tools=[ask], client=client())
    assert_type(triage, Agent[str])


if TYPE_CHECKING:
    city_agent = Agent("gpt-4", output_type=City)
    not_a_city: str = city_agent.run("Boston?").output  # type: ignore[assignment]
    Agent("gpt-4").run("Hi", modle="gpt-4")  # type: ignore[call-overload]
    Agent("gpt-4").run("Hi", settings={"temperature": 0})  # type: ignore[call-overload]
    Agent("gpt-4", output_mode="json")  # type: ignore[call-overload]
