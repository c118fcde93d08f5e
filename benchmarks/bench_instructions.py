"""Instructions per conversation, agentkit against the httpx floor: a measure load cannot move.

Run: python benchmarks/bench_instructions.py [--conversations N] [--only TEXT]

CPU seconds on a shared machine vary by tens of percent from run to run; the number of
instructions the client executes does not. This runs the client under valgrind's callgrind
(installed separately: `apt-get install valgrind`) and reads its counters between the phases
of one process: for each mode, agentkit and the floor each run `N` conversations after a
warm-up, and the instructions of those `N` are divided by `N`. The simulator runs in a
process of its own, not counted.

The conversation and the floor are `bench_peers.py`'s (one `get_current_weather` call, two
requests), in both wire styles (`tools` with model "gpt-4o-mini", legacy `functions` with
"gpt-3.5-turbo"), streamed and not, through the sync (`Agent.run`, `httpx.Client`) and async
(`Agent.arun`, `httpx.AsyncClient`) entry points, one conversation at a time. It takes a few
minutes (callgrind runs Python some 50 times slower). Instructions are not time: a cache miss
or a system call costs more than its instructions say, so compare ratios, not milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_peers as peers  # the shared conversation, tool and floor

MARK = "math_gcd"  # callgrind dumps its counters when this C function is entered
MODELS = {"tools": "gpt-4o-mini", "functions": "gpt-3.5-turbo"}


def mark() -> None:
    """A phase boundary: callgrind (`--dump-before=math_gcd`) writes its counters out."""
    math.gcd(4, 6)


def floor_loops(base_url: str, style: str, stream: bool) -> tuple[Callable[[], Any], Any]:
    """The hand-written loop in `style`: a sync function and an async one."""
    import httpx

    url, headers = f"{base_url}/chat/completions", {"Authorization": f"Bearer {peers.KEY}"}
    http, ahttp = httpx.Client(), httpx.AsyncClient()
    offer = (
        {"tools": peers.TOOLS} if style == "tools" else {"functions": [peers.TOOLS[0]["function"]]}
    )

    def body(messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "model": MODELS[style],
            "messages": messages,
            **offer,
            **({"stream": True} if stream else {}),
        }

    def reply(lines: list[str]) -> dict[str, Any]:
        deltas = peers.Floor.deltas(lines)
        if style == "tools":
            return peers.accumulate(deltas)
        content, name, arguments = [], None, []
        for delta in deltas:
            content.append(delta.get("content") or "")
            call = delta.get("function_call")
            if call:
                name = name or call.get("name")
                arguments.append(call.get("arguments") or "")
        message = {"role": "assistant", "content": "".join(content) or None}
        if name:
            message["function_call"] = {"name": name, "arguments": "".join(arguments)}
        return message

    def step(messages: list[dict[str, Any]], message: dict[str, Any]) -> bool:
        if style == "tools":
            return peers.run_calls(messages, message)
        messages.append(message)
        call = message.get("function_call")
        if call:
            result = peers.get_current_weather(**json.loads(call["arguments"]))
            messages.append({"role": "function", "name": call["name"], "content": result})
        return bool(call)

    def run() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": peers.QUESTION}]
        while True:
            if stream:
                with http.stream("POST", url, json=body(messages), headers=headers) as r:
                    message = reply(list(r.iter_lines()))
            else:
                r = http.post(url, json=body(messages), headers=headers)
                message = r.json()["choices"][0]["message"]
            if not step(messages, message):
                return str(message["content"])

    async def arun() -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": peers.QUESTION}]
        while True:
            if stream:
                async with ahttp.stream("POST", url, json=body(messages), headers=headers) as r:
                    message = reply([line async for line in r.aiter_lines()])
            else:
                r = await ahttp.post(url, json=body(messages), headers=headers)
                message = r.json()["choices"][0]["message"]
            if not step(messages, message):
                return str(message["content"])

    return run, arun


def measured(base_url: str, conversations: int, only: str) -> list[str]:
    """Under callgrind: every mode's phases, marked; the labels of the measured phases."""
    from agentkit import Agent, ChatClient, tool

    client = ChatClient(api_key=peers.KEY, base_url=base_url)
    weather = tool(peers.get_current_weather)
    loop = asyncio.new_event_loop()
    labels = []
    for style in ("tools", "functions"):
        for stream in (False, True):
            agent = Agent(
                MODELS[style], tools=[weather], stream=stream, client=client, api_style=style
            )
            assert agent.style == style, f"agentkit sends {MODELS[style]} as {agent.style}"
            floor_run, floor_arun = floor_loops(base_url, style, stream)

            async def agentkit_arun(agent: Agent[str] = agent) -> str:
                return (await agent.arun(peers.QUESTION)).output

            loops = {
                ("sync", "floor"): floor_run,
                ("sync", "agentkit"): lambda agent=agent: agent.run(peers.QUESTION).output,
                ("async", "floor"): floor_arun,
                ("async", "agentkit"): agentkit_arun,
            }
            for (driver, name), once in loops.items():
                label = f"{style}, {'streamed' if stream else 'non-streamed'}, {driver}, {name}"
                if only not in label:
                    continue

                async def many(once: Callable[[], Any], n: int) -> list[str]:
                    return [await once() for _ in range(n)]

                def batch(
                    n: int, once: Callable[[], Any] = once, driver: str = driver
                ) -> list[str]:
                    if driver == "sync":
                        return [once() for _ in range(n)]
                    return loop.run_until_complete(many(once, n))

                assert all('"22"' in answer for answer in batch(5)), f"{label}: wrong answer"
                mark()  # the warm-up ends
                batch(conversations)
                mark()  # the measured phase ends
                labels.append(label)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10)
    parser.add_argument("--only", default="", help="modes whose label contains this text")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measured(args.child, args.conversations, args.only)))
        return
    if shutil.which("valgrind") is None:
        sys.exit("bench_instructions: valgrind is not installed")
    server = peers.Server()
    try:
        with tempfile.TemporaryDirectory() as out:
            command = [
                "valgrind", "--tool=callgrind", f"--dump-before={MARK}", "--dump-instr=no",
                f"--callgrind-out-file={out}/cg.%p", sys.executable, __file__,
                "--child", server.base_url, "--conversations", str(args.conversations),
                "--only", args.only,
            ]  # fmt: skip
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)  # noqa: S603
            labels = json.loads(done.stdout.strip().splitlines()[-1])
            dumps = sorted(Path(out).glob("cg.*.*"), key=lambda p: int(p.suffix[1:]))
            totals = [int(re.search(r"^totals: (\d+)", d.read_text(), re.M)[1]) for d in dumps]  # type: ignore[index]
    finally:
        server.close()
    # Dump 2k+1 ends a warm-up, dump 2k+2 a measured phase.
    counts = dict(zip(labels, totals[1::2], strict=False))
    print(f"Instructions per conversation (callgrind, {args.conversations} conversations a mode)")
    print(f"{'mode':<36} {'agentkit':>10} {'floor':>10} {'ratio':>6}")
    for label, count in counts.items():
        if label.endswith(", agentkit"):
            mode = label.removesuffix(", agentkit")
            floor = counts.get(f"{mode}, floor")
            ours = count / args.conversations
            theirs = f"{floor / args.conversations / 1e6:9.3f}M" if floor else f"{'—':>10}"
            ratio = f"{count / floor:6.2f}" if floor else ""
            print(f"{mode:<36} {ours / 1e6:9.3f}M {theirs} {ratio}")


if __name__ == "__main__":
    main()
