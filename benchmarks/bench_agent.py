"""Framework CPU per conversation: agentkit against a minimal hand-written httpx loop.

Run: python benchmarks/bench_agent.py [--conversations N] [--repeats R]

The conversation is the seed's: one question, one `get_current_weather` call, one answer
(two requests). The simulator (`agentkit.testing.LoopbackServer` with `DemoModel`) runs in
a separate process, so the CPU time measured here is the client's alone: building requests,
HTTP, decoding, validation, dispatch. Each mode is measured for agentkit and for the floor,
alternating, `R` times; the median CPU time per conversation and the ratio are printed.

Modes: streamed and non-streamed, one conversation at a time (sync `run`) and 64 at once
(async `arun` under `asyncio.gather` with a bound).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

import httpx

from agentkit import Agent, ChatClient, tool

SERVER = """
import sys, time
from agentkit.testing import DemoModel, LoopbackServer
with LoopbackServer(DemoModel()) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""

QUESTION = "What is the weather like in Boston?"
MODEL = "gpt-3.5-turbo"  # the legacy `functions` style, as in GoAPI's own example


@tool
def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
        unit: Temperature unit.
    """
    return json.dumps({"location": location, "temperature": "22", "unit": unit})


FUNCTIONS = [get_current_weather.schema]
HEADERS = {"Authorization": "Bearer sk-bench"}


# --------------------------------------------------------------------------- the floor


def _floor_body(messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODEL, "messages": messages, "functions": FUNCTIONS}
    if stream:
        body["stream"] = True
    return body


def _floor_stream_reply(lines: list[str]) -> dict[str, Any]:
    content, name, arguments = [], None, []
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        delta = json.loads(data)["choices"][0]["delta"]
        if delta.get("content"):
            content.append(delta["content"])
        call = delta.get("function_call")
        if call:
            name = name or call.get("name")
            arguments.append(call.get("arguments", ""))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if name:
        message["function_call"] = {"name": name, "arguments": "".join(arguments)}
    return message


def _floor_step(messages: list[dict[str, Any]], message: dict[str, Any]) -> bool:
    """Append the reply (and the call's result); whether the conversation goes on."""
    messages.append(message)
    call = message.get("function_call")
    if not call:
        return False
    result = get_current_weather(**json.loads(call["arguments"]))
    messages.append({"role": "function", "name": call["name"], "content": result})
    return True


def floor_sync(client: httpx.Client, url: str, stream: bool) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    while True:
        body = _floor_body(messages, stream)
        if stream:
            with client.stream("POST", url, json=body, headers=HEADERS) as response:
                message = _floor_stream_reply(list(response.iter_lines()))
        else:
            message = client.post(url, json=body, headers=HEADERS).json()["choices"][0]["message"]
        if not _floor_step(messages, message):
            return


async def floor_async(client: httpx.AsyncClient, url: str, stream: bool) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    while True:
        body = _floor_body(messages, stream)
        if stream:
            async with client.stream("POST", url, json=body, headers=HEADERS) as response:
                message = _floor_stream_reply([line async for line in response.aiter_lines()])
        else:
            response = await client.post(url, json=body, headers=HEADERS)
            message = response.json()["choices"][0]["message"]
        if not _floor_step(messages, message):
            return


# --------------------------------------------------------------------------- measuring


def cpu_per_conversation(run: Callable[[], None], conversations: int) -> float:
    started = time.process_time()
    run()
    return (time.process_time() - started) / conversations


async def bounded(tasks: list[Callable[[], Any]], limit: int) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(task: Callable[[], Any]) -> None:
        async with gate:
            await task()

    await asyncio.gather(*(one(task) for task in tasks))


def run_agentkit(agent: Agent[str], conversations: int, concurrency: int) -> None:
    if concurrency == 1:
        for _ in range(conversations):
            agent.run(QUESTION)
        return

    async def many() -> None:
        await bounded([lambda: agent.arun(QUESTION)] * conversations, concurrency)
        await agent.client.aclose()

    asyncio.run(many())


def run_floor(
    http: httpx.Client, url: str, stream: bool, conversations: int, concurrency: int
) -> None:
    if concurrency == 1:
        for _ in range(conversations):
            floor_sync(http, url, stream)
        return

    async def many() -> None:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=256)) as client:
            tasks = [lambda: floor_async(client, url, stream)] * conversations
            await bounded(tasks, concurrency)

    asyncio.run(many())


def measure(base_url: str, conversations: int, repeats: int) -> list[tuple[str, float, float]]:
    url = f"{base_url}/chat/completions"
    rows = []
    for stream in (True, False):
        for concurrency in (1, 64):
            client = ChatClient(api_key="sk-bench", base_url=base_url)
            agent = Agent(MODEL, tools=[get_current_weather], stream=stream, client=client)
            http = httpx.Client(limits=httpx.Limits(max_connections=256))
            ours = functools.partial(run_agentkit, agent, conversations, concurrency)
            floor = functools.partial(run_floor, http, url, stream, conversations, concurrency)
            ours()  # warm up: pools, imports, caches
            floor()
            ours_cpu, floor_cpu = [], []
            for _ in range(repeats):  # alternating, so drifts of the machine hit both alike
                ours_cpu.append(cpu_per_conversation(ours, conversations))
                floor_cpu.append(cpu_per_conversation(floor, conversations))
            mode = f"{'streamed' if stream else 'non-streamed'}, concurrency {concurrency}"
            rows.append((mode, statistics.median(ours_cpu), statistics.median(floor_cpu)))
            client.close()
            http.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        rows = measure(base_url, args.conversations, args.repeats)
    finally:
        server.kill()
    print(f"CPU per conversation (median of {args.repeats}, {args.conversations} conversations)")
    print(f"{'mode':<32} {'agentkit':>10} {'httpx floor':>12} {'ratio':>7}")
    for mode, ours, floor in rows:
        print(f"{mode:<32} {ours * 1e3:>8.3f}ms {floor * 1e3:>10.3f}ms {ours / floor:>7.2f}")


if __name__ == "__main__":
    main()
