"""Hand-offs: a triage agent passes each question to the specialist agent that fits.

The triage agent's tools are two other agents, made tools with `Agent.as_tool`: a weather
agent (with the weather tool) and a search agent (with the search tools). Each specialist
runs its own loop; its requests, tokens and cost count as the triage run's, its budget is
what is left of the triage run's limits, and its chat is kept on the call's result, which is
how this script shows what each specialist did.

Offline (without `GOAPI_KEY`) the three agents talk to agentkit's bundled simulator, and the
specialists' tools, which need the internet, report their errors to the model.

    python examples/triage_agent.py ["your question"]
"""

from __future__ import annotations

import sys

from _goapi import connect
from agentkit_tools.search import web_search, wikipedia_summary
from agentkit_tools.weather import get_current_weather

from agentkit import Agent, ChatClient, RunResult, ToolResult, UsageLimits

MODEL = "gpt-3.5-turbo-1106"
QUESTIONS = [
    "What is the weather like in Boston?",
    "Search the web: who designed the Python programming language?",
]


def show(result: RunResult[str]) -> None:
    """Print who answered, what the specialist did, and what it all used."""
    for message in result.new_messages:
        if not isinstance(message, ToolResult):
            continue
        print(f"[triage -> {message.name}]")
        for step in message.messages:  # the specialist's own chat
            if isinstance(step, ToolResult):
                print(f"  [{message.name} -> {step.name}: {step.content[:70]}]")
    print(result.output)
    usage, own = result.usage, result.usage.requests - result.delegated.requests
    print(
        f"({usage.requests} requests: {own} by triage, {result.delegated.requests} by specialists)"
    )


def main(argv: list[str]) -> int:
    questions = [" ".join(argv)] if argv else QUESTIONS
    with connect(MODEL) as goapi, ChatClient(**goapi) as client:  # one HTTP pool for all three
        weather = Agent(
            MODEL,
            tools=[get_current_weather],
            system="You answer questions about the weather, with the weather tool.",
            client=client,
        )
        search = Agent(
            MODEL,
            tools=[web_search, wikipedia_summary],
            system="Answer from what the tools return, and name your sources.",
            client=client,
        )
        triage = Agent(
            MODEL,
            tools=[
                weather.as_tool(
                    name="weather_agent",
                    description="Ask the weather specialist: weather now and forecasts.",
                ),
                search.as_tool(
                    name="search_agent",
                    description="Ask the research specialist: it searches the web and Wikipedia.",
                ),
            ],
            system="Pass each question to the specialist that fits, and relay its answer.",
            limits=UsageLimits(requests=8),  # for the whole hand-off, specialists included
            client=client,
        )
        for question in questions:
            print(f"> {question}")
            show(triage.run(question))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
