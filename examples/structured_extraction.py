"""Structured output: the run ends with a validated pydantic object, not free text.

The model is offered a final-answer function whose parameters are the model's schema; an
answer that does not validate goes back to the model with the errors, within the retry
budget.

    python examples/structured_extraction.py ["text to extract from"]
"""

from __future__ import annotations

import sys

from _goapi import connect
from pydantic import BaseModel, Field

from agentkit import Agent

TEXT = "Ada Lovelace (ada@analytical.example) wrote the first program, for Babbage's engine."


class Contact(BaseModel):
    """A person mentioned in the text."""

    name: str = Field(description="The person's full name.")
    email: str = Field(description="Their email address.")
    known_for: str = Field(description="What the text says they did, in a few words.")


def main(argv: list[str]) -> int:
    text = " ".join(argv) or TEXT
    with (
        connect() as goapi,
        Agent(
            "gpt-3.5-turbo",
            output_type=Contact,
            system="Extract the contact described in the user's text.",
            **goapi,
        ) as agent,
    ):
        result = agent.run(text)
    contact: Contact = result.output
    print(contact.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
