"""An agent that looks things up: Wikipedia search and summaries, no key needed.

python examples/search_agent.py ["your question"]
"""

from __future__ import annotations

import sys

from _goapi import connect
from agentkit_tools.search import web_search, wikipedia_summary

from agentkit import Agent

QUESTION = "Search the web: who designed the Python programming language?"


def main(argv: list[str]) -> int:
    question = " ".join(argv) or QUESTION
    with (
        connect("gpt-3.5-turbo-1106") as goapi,
        Agent(
            "gpt-3.5-turbo-1106",
            tools=[web_search, wikipedia_summary],
            system="Answer from what the tools return, and name your sources.",
            **goapi,
        ) as agent,
    ):
        result = agent.run(question)
    print(f"> {question}")
    for message in result.new_messages:
        if message.role == "tool":
            print(f"[{message.name}: {message.content[:200]}]")
    print(result.output)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
