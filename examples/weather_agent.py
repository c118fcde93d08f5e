"""GoAPI's own example, end to end: what is the weather like in Boston?

With `GOAPI_KEY` set, this talks to GoAPI and the weather tool to Open-Meteo (no key needed).
Without it, nothing leaves this machine: the demo model and demo weather data answer, and the
whole loop still runs for real. A weather service that cannot be reached ends the example
with a one-line error.

    python examples/weather_agent.py ["another question"]
"""

from __future__ import annotations

import sys

from _goapi import connect
from agentkit_tools import ServiceError
from agentkit_tools.weather import get_current_weather

from agentkit import Agent, RunFinished, TextDelta, ToolCallFinished, ToolCallStarted

QUESTION = "What is the weather like in Boston?"


def main(argv: list[str]) -> int:
    question = " ".join(argv) or QUESTION
    with (
        connect() as goapi,
        # A failing weather service is not the model's to fix: end the run with the error.
        Agent(
            "gpt-3.5-turbo", tools=[get_current_weather], on_tool_error="raise", **goapi
        ) as agent,
    ):
        print(f"> {question}")
        try:
            for event in agent.stream(question):
                if isinstance(event, ToolCallStarted):
                    print(f"[calling {event.call.name}({event.call.arguments})]")
                elif isinstance(event, ToolCallFinished):
                    print(f"[{event.result.name} returned: {event.result.content}]")
                elif isinstance(event, TextDelta):
                    print(event.text, end="", flush=True)
                elif isinstance(event, RunFinished):
                    turns, calls = event.result.turns, event.result.usage.tool_calls
                    print(f"\n({turns} requests, {calls} tool call{'s' * (calls != 1)})")
        except ServiceError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
