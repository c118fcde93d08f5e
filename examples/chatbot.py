r"""A streaming chat with memory: each answer sees the whole conversation so far.

Type a message and press Enter; an empty line or Ctrl-D ends the chat. Piped input works too:

    printf 'What is 12 * 7?\nAnd what time is it in Tokyo?\n' | python examples/chatbot.py
"""

from __future__ import annotations

import sys

from _goapi import connect
from agentkit_tools.calculator import calculate
from agentkit_tools.clock import current_time

from agentkit import Agent, Message, RunFinished, TextDelta, ToolCallStarted


def main() -> int:
    history: list[Message] = []
    with (
        connect() as goapi,
        Agent(
            "gpt-3.5-turbo",
            tools=[calculate, current_time],
            system="You are a friendly assistant. Use the tools for sums and the time.",
            **goapi,
        ) as agent,
    ):
        for line in sys.stdin:
            if not line.strip():
                break
            print(f"you> {line.strip()}\nbot> ", end="", flush=True)
            for event in agent.stream(line.strip(), history=history):
                if isinstance(event, ToolCallStarted):
                    print(f"[{event.call.name}({event.call.arguments})] ", end="", flush=True)
                elif isinstance(event, TextDelta):
                    print(event.text, end="", flush=True)
                elif isinstance(event, RunFinished):
                    history = list(event.result.messages)  # the memory: the whole chat
                    print()
    print(f"({len(history)} messages in the conversation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
