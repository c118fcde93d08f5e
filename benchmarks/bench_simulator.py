"""The simulator's own CPU per request, with the strict request checks on and off.

Run: python benchmarks/bench_simulator.py [--conversations N] [--repeats R]

Each conversation is the seed's (a question, a `get_current_weather` call, the answer: two
requests), with a different city each time, so every request has new texts. The time spent
inside `ScriptedGoAPI.handle_request` (checking the request, asking `DemoModel`, rendering
the stream) is the simulator's; the client's time is left out. Strict and lax alternate, `R`
times; the medians per request and their ratio are printed. Benchmarks that use
`LoopbackServer` pay the same per request, in the server's thread or process.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from agentkit import Agent, ChatClient, tool
from agentkit.testing import DemoModel, ScriptedGoAPI


@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a given location.

    Args:
        location: The city, e.g. Boston
    """
    return f"22 degrees and sunny in {location}"


class Timed(httpx.BaseTransport):
    """Adds up the CPU time spent answering requests."""

    def __init__(self, inner: ScriptedGoAPI) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.process_time()
        response = self.inner.handle_request(request)
        self.seconds += time.process_time() - started
        self.requests += 1
        return response


def per_request(strict: bool, conversations: int, offset: int) -> float:
    timed = Timed(ScriptedGoAPI(DemoModel(), strict=strict))
    client = ChatClient(
        api_key="sk-bench",
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=timed),
    )
    with Agent("gpt-3.5-turbo", tools=[get_current_weather], client=client) as agent:
        for number in range(conversations):
            agent.run(f"What is the weather like in Town{offset + number}?")
    client.close()
    return timed.seconds / timed.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    per_request(True, 20, -100)  # warm up: compile the schemas, import what is imported once
    strict, lax = [], []
    for repeat in range(args.repeats):
        offset = repeat * args.conversations
        strict.append(per_request(True, args.conversations, offset))
        lax.append(per_request(False, args.conversations, offset))
    s, lx = statistics.median(strict), statistics.median(lax)
    print(f"simulator CPU per request, median of {args.repeats} x {args.conversations} convs:")
    print(f"  strict (default) {s * 1e6:8.1f} us")
    print(f"  strict=False     {lx * 1e6:8.1f} us")
    print(f"  ratio            {s / lx:8.2f}x  (+{(s - lx) * 1e6:.1f} us per request)")


if __name__ == "__main__":
    main()
