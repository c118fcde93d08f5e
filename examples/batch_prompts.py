"""Many prompts at once, never more than a bound in flight, results as they finish.

    python examples/batch_prompts.py [concurrency]

The command-line form, with a resumable JSONL file: `agentkit batch --help`.
"""

from __future__ import annotations

import sys

from _goapi import connect
from agentkit_tools.calculator import calculate

from agentkit import Agent, BatchItem, Usage, batch

PROMPTS = [f"Please calculate {n} * {n + 1}" for n in range(1, 21)]


def main(argv: list[str]) -> int:
    concurrency = int(argv[0]) if argv else 8
    items = (BatchItem(str(number), prompt) for number, prompt in enumerate(PROMPTS))
    total, failed = Usage(), 0
    with connect() as goapi, Agent("gpt-3.5-turbo-1106", tools=[calculate], **goapi) as agent:
        for result in batch(agent, items, concurrency=concurrency):
            total = total + result.usage
            if result.ok:
                print(f"{result.id:>3}  {result.output}")
            else:
                failed += 1
                print(f"{result.id:>3}  failed: {result.error}")
    print(
        f"{len(PROMPTS)} prompts, {failed} failed, {total.requests} requests, "
        f"{total.tool_calls} tool calls, at most {concurrency} at once"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
