"""What counting tokens costs: agentkit's CPU per conversation with and without the counter.

Run: python benchmarks/bench_tokens.py [--conversations N] [--repeats R]

The conversation is `bench_agent.py`'s: one question, one `get_current_weather` call, one
answer (two streamed requests, which report no usage, so both are counted), one at a time
through the sync `run` (concurrency 1). A second mode continues a 20-message history, so
each request re-sends (and the counter re-meets) a longer chat. The simulator runs in a
separate process, so the CPU time measured is the client's alone. Every conversation asks a
question of its own (so its messages are counted afresh, not found in the counter's memory).

Two figures per mode, because the machine may be loaded and a difference of two noisy
totals is mostly noise: the CPU time of the counter's own work (the calls the loop made,
recorded, then replayed on a fresh counter in one tight loop) as a share of the
conversation's CPU, and the same agent with its counter removed, alternating with it, `R`
times (medians). Also printed: what loading the encoding costs, once
per process.

The goal (issue 15): counting costs under 5 % of agentkit's CPU per conversation at c=1.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, ClassVar

from bench_agent import MODEL, QUESTION, SERVER, get_current_weather

from agentkit import Agent, AssistantMessage, ChatClient, Message, ModelResponse, UserMessage
from agentkit._tokens import TokenCounter, _load

HISTORY: list[Message] = []
for turn in range(10):
    HISTORY.append(UserMessage(f"Question {turn}: what should I pack for a trip to Boston?"))
    HISTORY.append(AssistantMessage(f"Answer {turn}: a coat, an umbrella and good shoes. " * 4))


def cpu_per_conversation(run: Callable[[], None], conversations: int) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) / conversations


class RecordingCounter(TokenCounter):
    """A counter that records each call the loop makes, to replay them on a fresh counter."""

    calls: ClassVar[list[tuple[str, tuple[Any, ...]]]] = []

    def prompt(self, messages: Any, *args: Any) -> int:
        RecordingCounter.calls.append(("prompt", (tuple(messages), *args)))
        return super().prompt(messages, *args)

    def check(self, prompt_tokens: int) -> None:
        RecordingCounter.calls.append(("check", (prompt_tokens,)))
        super().check(prompt_tokens)

    def fill(self, response: ModelResponse, prompt_tokens: int) -> ModelResponse:
        RecordingCounter.calls.append(("fill", (response, prompt_tokens)))
        return super().fill(response, prompt_tokens)


def replay(counter: TokenCounter, conversations: int) -> float:
    """CPU per conversation of the recorded calls, replayed on a counter with empty memory."""
    fresh = TokenCounter(counter.encoding, context_window=counter.context_window)
    calls = [(getattr(fresh, name), args) for name, args in RecordingCounter.calls]
    started = time.process_time()
    for method, args in calls:
        method(*args)
    return (time.process_time() - started) / conversations


def conversations_of(agent: Agent[str], conversations: int, history: list[Message]) -> None:
    for number in range(conversations):
        agent.run(f"{QUESTION} ({next(QUESTIONS)}, {number})", history=history)


QUESTIONS = itertools.count()


def measure(
    base_url: str, conversations: int, repeats: int
) -> list[tuple[str, float, float, float]]:
    rows = []
    for mode, history in (("2 requests", []), ("2 requests after 20 messages", HISTORY)):
        client = ChatClient(api_key="sk-bench", base_url=base_url)
        counting = Agent(MODEL, tools=[get_current_weather], client=client)
        counter = counting._plan.counter
        assert counter is not None, 'pip install "goapi-agentkit[tokens]"'
        recording = RecordingCounter(counter.encoding, context_window=counter.context_window)
        counting._plan = dataclasses.replace(counting._plan, counter=recording)
        plain = Agent(MODEL, tools=[get_current_weather], client=client)
        plain._plan = dataclasses.replace(plain._plan, counter=None)
        with_counter = functools.partial(conversations_of, counting, conversations, history)
        without = functools.partial(conversations_of, plain, conversations, history)
        with_counter()  # warm up: pools, the encoding, caches
        without()
        on, off, inside = [], [], []
        for _ in range(repeats):  # alternating, so drifts of the machine hit both alike
            RecordingCounter.calls.clear()
            on.append(cpu_per_conversation(with_counter, conversations))
            inside.append(replay(recording, conversations))
            off.append(cpu_per_conversation(without, conversations))
        rows.append(
            (mode, statistics.median(on), statistics.median(off), statistics.median(inside))
        )
        client.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    started = time.process_time()
    _load("cl100k_base")
    load = time.process_time() - started
    counter = TokenCounter("cl100k_base")
    started = time.process_time()
    counter.prompt([UserMessage(QUESTION)], [get_current_weather])
    first = time.process_time() - started

    server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        rows = measure(base_url, args.conversations, args.repeats)
    finally:
        server.kill()
    print(f"loading cl100k_base, once per process: {load * 1e3:.0f} ms CPU")
    print(f"first prompt counted (rendering the tool, no cache): {first * 1e6:.0f} us CPU")
    print(f"CPU per conversation (median of {args.repeats}, {args.conversations} conversations)")
    print(f"{'mode':<30} {'counting':>10} {'in counter':>11} {'share':>6} {'not':>10}")
    for mode, on, off, inside in rows:
        print(
            f"{mode:<30} {on * 1e3:>8.3f}ms {inside * 1e6:>9.1f}us {inside / on:>6.1%}"
            f" {off * 1e3:>8.3f}ms"
        )


if __name__ == "__main__":
    main()
