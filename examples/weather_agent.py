"""GoAPI's own example, end to end: what is the weather like in Boston?

With `GOAPI_KEY` set, this talks to GoAPI. Without it, the whole loop still runs for real
against agentkit's bundled simulator. The weather tool always runs for real (Open-Meteo, no
key needed); on a machine without internet its error is what goes back to the model.

    python examples/weather_agent.py ["another question"]
"""

from __future__ import annotations

import sys

from _goapi import connect
from agentkit_tools.weather import get_current_weather

from agentkit import Agent, RunFinished, TextDelta, ToolCallFinished, ToolCallStarted

QUESTION = "What is the weather like in Boston?"


def main(argv: list[str]) -> int:
    question = " ".join(argv) or QUESTION
    with connect() as goapi, Agent("gpt-3.5-turbo", tools=[get_current_weather], **goapi) as agent:
        print(f"> {question}")
        for event in agent.stream(question):
            if isinstance(event, ToolCallStarted):
                print(f"[calling {event.call.name}({event.call.arguments})]")
            elif isinstance(event, ToolCallFinished):
                print(f"[{event.result.name} returned: {event.result.content}]")
            elif isinstance(event, TextDelta):
                print(event.text, end="", flush=True)
            elif isinstance(event, RunFinished):
                calls = event.result.usage.tool_calls
                print(f"\n({event.result.turns} requests, {calls} tool call{'s' * (calls != 1)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
