"""Realistic user code that must type-check under `mypy --strict` (see test_tools.py).

The tests here also run, so the code is known to work; the lines under `TYPE_CHECKING` are
mistakes mypy must catch (an unused `type: ignore` would fail the check).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from typing_extensions import assert_type

from agentkit import ArgumentError, RunContext, Tool, tool


@dataclasses.dataclass
class Deps:
    units: Literal["celsius", "fahrenheit"]


class Forecast(BaseModel):
    city: str
    temperatures: list[float]


@tool
def get_current_weather(city: str, days: int = 1) -> str:
    """Get the weather.

    Args:
        city: The city.
        days: How many days ahead.
    """
    return f"sunny in {city} for {days} days"


@tool(name="forecast", strict=True, retries=1, timeout=10.0)
def get_forecast(ctx: RunContext[Deps], city: str) -> Forecast:
    """Get a forecast in the user's units."""
    return Forecast(city=city, temperatures=[20.0 if ctx.deps.units == "celsius" else 68.0])


@tool
async def fetch(url: str) -> bytes:
    """Fetch a page."""
    return url.encode()


def test_tools_keep_their_signatures() -> None:
    """Calling a tool is typed like calling the function."""
    text = get_current_weather("Paris", days=2)
    assert_type(text, str)
    context = RunContext(deps=Deps(units="celsius"), model="gpt-4")
    assert_type(context.deps, Deps)
    forecast = get_forecast(context, "Oslo")
    assert_type(forecast, Forecast)
    page = asyncio.run(fetch("https://example.com"))
    assert_type(page, bytes)
    as_tool: Tool[..., str] = get_current_weather
    assert as_tool.name == "get_current_weather"


def test_the_agent_side_is_typed() -> None:
    """What the loop uses: validate, invoke, the schema and the options."""
    try:
        values: dict[str, Any] = get_current_weather.validate('{"city": "Paris"}')
    except ArgumentError as error:
        raise AssertionError(str(error)) from error
    result: Any = get_current_weather.invoke(values)
    assert result == "sunny in Paris for 1 days"
    schema: dict[str, Any] = get_forecast.schema
    assert schema["name"] == "forecast"
    retries: int | None = get_forecast.retries
    timeout: float | None = get_forecast.timeout
    assert (retries, timeout) == (1, 10.0)
    raw: Tool[..., Any] = Tool.from_schema(
        name="echo", parameters={"type": "object"}, function=lambda: "echo"
    )
    assert raw.invoke(raw.validate("")) == "echo"


if TYPE_CHECKING:
    get_current_weather(42)  # type: ignore[arg-type]
    get_current_weather("Paris", weeks=1)  # type: ignore[call-arg]
    not_text: int = get_current_weather("Paris")  # type: ignore[assignment]
    get_forecast("Oslo")  # type: ignore[call-arg, arg-type]
    tool(name=3)  # type: ignore[call-overload]
