"""A tool that needs a yes: the agent asks before it writes a file.

The approval is bound to the exact call (name and arguments) the model made. On a terminal
you are asked; piped or in CI, the call is refused with a reason the model sees.

    python examples/approval_agent.py
"""

from __future__ import annotations

import sys
import tempfile

from _goapi import connect

from agentkit import Agent, ToolCall, tool

QUESTION = "Please save a note that says: water the plants"


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:

        @tool(requires_approval=True)
        def save_note(text: str) -> str:
            """Save a note to the user's notes file.

            Args:
                text: The note.
            """
            with open(f"{folder}/notes.txt", "a", encoding="utf-8") as notes:
                notes.write(text + "\n")
            return "Saved."

        def approve(call: ToolCall) -> bool | str:
            print(f"The agent wants to call {call.name}({call.arguments}).")
            if not sys.stdin.isatty():
                return "Not approved: nobody is at the terminal to say yes."
            return input("Allow it? [y/N] ").strip().lower() == "y"

        with (
            connect() as goapi,
            Agent("gpt-3.5-turbo", tools=[save_note], approve=approve, **goapi) as agent,
        ):
            result = agent.run(QUESTION)
        print(result.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
