"""Instructions and system calls per conversation, agentkit against the httpx floor.

Run: python benchmarks/bench_instructions.py [--conversations N] [--only TEXT] [--syscalls]

CPU seconds on a shared machine vary by tens of percent from run to run; the number of
instructions the client executes does not. This runs the client under valgrind's callgrind
(installed separately: `apt-get install valgrind`) and reads its counters between the phases
of one process: for each mode, agentkit and the floor each run `N` conversations after a
warm-up, and the instructions of those `N` are divided by `N`. The simulator runs in a
process of its own, not counted.

The conversation and the floor are `bench_peers.py`'s (one `get_current_weather` call, two
requests), in both wire styles (`tools` with model "gpt-4o-mini", legacy `functions` with
"gpt-3.5-turbo"), streamed and not, through the sync (`Agent.run`, `httpx.Client`) and async
(`Agent.arun`, `httpx.AsyncClient`) entry points one conversation at a time, and through the
async ones 64 at once (`c=64`: 64 conversations in flight under `asyncio.gather`, after a
warm-up of as many, against the floor with its requests spread over 16 httpx pools, as
agentkit's are: `bench_peers.py`'s "httpx floor, 16 pools"; the floor's go through httpx's
own transport, agentkit's async ones through `agentkit._h1`). All modes take some 20 minutes
(callgrind runs Python some 50 times slower); `--only` picks modes by their label, e.g.
`--only "c=64"` or `--only "tools, streamed"`. Instructions are not time: a cache miss, a
system call or a switch between threads costs more than its instructions say, so compare
ratios, not milliseconds.

`--syscalls` runs the same phases under `strace -f` (`apt-get install strace`) instead and
counts the system calls of every thread between the phase marks: the kernel's share of the
CPU, which callgrind does not see (a sync tool's hop to a worker thread and back, wake-ups of
the event loop). It prints the calls per conversation and the kinds that differ most.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
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
MARK_PATH = "/agentkit-bench-instructions-mark"  # strace sees this path at every mark
MODELS = {"tools": "gpt-4o-mini", "functions": "gpt-3.5-turbo"}
CONCURRENCY = 64  # the conversations in flight in the c=64 modes
DRIVERS = ("sync", "async", f"c={CONCURRENCY}")


def mark() -> None:
    """A phase boundary: callgrind (`--dump-before=math_gcd`) writes its counters out, and
    strace records a `stat` of `MARK_PATH`."""
    math.gcd(4, 6)
    with contextlib.suppress(OSError):
        os.stat(MARK_PATH)


def floor_loops(
    base_url: str, style: str, stream: bool, pools: int = 1
) -> tuple[Callable[[], Any], Any]:
    """The hand-written loop in `style`: a sync function and an async one.

    The async one sends each request through the least busy of `pools` clients: one for
    conversations one at a time, 16 with `bench_peers.py`'s `PooledFloor` limits at c=64.
    """
    import httpx

    url, headers = f"{base_url}/chat/completions", {"Authorization": f"Bearer {peers.KEY}"}
    http = httpx.Client()
    if pools == 1:
        clients = [httpx.AsyncClient()]
    else:  # under callgrind 64 conversations at once run slowly enough to pass httpx's 5 s
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30)
        clients = [httpx.AsyncClient(limits=limits, timeout=60) for _ in range(pools)]
    busy = [0] * pools
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
            index = busy.index(min(busy))  # the least busy pool
            busy[index] += 1
            ahttp = clients[index]
            try:
                if stream:
                    async with ahttp.stream("POST", url, json=body(messages), headers=headers) as r:
                        lines = [line async for line in r.aiter_lines()]
                    message = reply(lines)
                else:
                    r = await ahttp.post(url, json=body(messages), headers=headers)
                    message = r.json()["choices"][0]["message"]
            finally:
                busy[index] -= 1
            if not step(messages, message):
                return str(message["content"])

    return run, arun


def measured(base_url: str, conversations: int, only: str) -> list[str]:
    """Under callgrind or strace: every mode's phases, marked; the labels of the measured ones."""
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
            _, floor_pooled = floor_loops(base_url, style, stream, pools=16)

            async def agentkit_arun(agent: Agent[str] = agent) -> str:
                return (await agent.arun(peers.QUESTION)).output

            loops = {
                ("sync", "floor"): floor_run,
                ("sync", "agentkit"): lambda agent=agent: agent.run(peers.QUESTION).output,
                ("async", "floor"): floor_arun,
                ("async", "agentkit"): agentkit_arun,
                (DRIVERS[2], "floor"): floor_pooled,
                (DRIVERS[2], "agentkit"): agentkit_arun,
            }
            for (driver, name), once in loops.items():
                label = f"{style}, {'streamed' if stream else 'non-streamed'}, {driver}, {name}"
                if only not in label:
                    continue
                concurrent = driver == DRIVERS[2]

                async def many(once: Callable[[], Any], n: int, concurrent: bool) -> list[str]:
                    if not concurrent:
                        return [await once() for _ in range(n)]
                    gate = asyncio.Semaphore(CONCURRENCY)

                    async def one() -> str:
                        async with gate:
                            return str(await once())

                    return await asyncio.gather(*(one() for _ in range(n)))

                def batch(
                    n: int,
                    once: Callable[[], Any] = once,
                    driver: str = driver,
                    concurrent: bool = concurrent,
                ) -> list[str]:
                    if driver == "sync":
                        return [once() for _ in range(n)]
                    return loop.run_until_complete(many(once, n, concurrent))

                size = CONCURRENCY if concurrent else conversations
                warm = CONCURRENCY if concurrent else 5  # c=64 opens its connections first
                assert all('"22"' in answer for answer in batch(warm)), f"{label}: wrong answer"
                gc.collect()  # as bench_peers.py does before every batch: no debt carried over
                mark()  # the warm-up ends
                batch(size)
                mark()  # the measured phase ends
                labels.append(f"{label}, {size}")
    return labels


def child_command(base_url: str, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable, __file__, "--child", base_url,
        "--conversations", str(args.conversations), "--only", args.only,
    ]  # fmt: skip


def checked(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """`done`, or exit with the end of what the measured process wrote to stderr."""
    if done.returncode != 0:
        sys.exit(f"bench_instructions: the measured process failed:\n{done.stderr[-3000:]}")
    return done


def count_instructions(base_url: str, args: argparse.Namespace) -> dict[str, float]:
    """{label: instructions per conversation}, under callgrind."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            "valgrind", "--tool=callgrind", f"--dump-before={MARK}", "--dump-instr=no",
            f"--callgrind-out-file={out}/cg.%p", *child_command(base_url, args),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, capture_output=True, text=True, env=env)  # noqa: S603
        labels = json.loads(checked(done).stdout.strip().splitlines()[-1])
        dumps = sorted(Path(out).glob("cg.*.*"), key=lambda p: int(p.suffix[1:]))
        totals = [int(re.search(r"^totals: (\d+)", d.read_text(), re.M)[1]) for d in dumps]  # type: ignore[index]
    # Dump 2k+1 ends a warm-up, dump 2k+2 a measured phase.
    return {
        label.rsplit(", ", 1)[0]: count / int(label.rsplit(", ", 1)[1])
        for label, count in zip(labels, totals[1::2], strict=False)
    }


SYSCALL = re.compile(r"^\d+\s+([a-z_0-9]+)\(")


def count_syscalls(base_url: str, args: argparse.Namespace) -> dict[str, collections.Counter[str]]:
    """{label: {system call: calls per conversation}}, every thread's, under strace."""
    with tempfile.TemporaryDirectory() as out:
        trace = Path(out) / "trace"
        command = ["strace", "-f", "-qq", "-o", str(trace), *child_command(base_url, args)]
        done = subprocess.run(command, capture_output=True, text=True)  # noqa: S603
        labels = json.loads(checked(done).stdout.strip().splitlines()[-1])
        phases: list[collections.Counter[str]] = [collections.Counter()]
        with trace.open() as lines:
            for line in lines:
                if MARK_PATH in line:
                    phases.append(collections.Counter())
                    continue
                call = SYSCALL.match(line)
                if call:  # "<... x resumed>" lines finish a call already counted
                    phases[-1][call[1]] += 1
    # Phase 2k (0-based) ends with a mode's warm-up, phase 2k+1 is its measured conversations.
    counts = {}
    for label, phase in zip(labels, phases[1::2], strict=False):
        mode, size = label.rsplit(", ", 1)
        counts[mode] = collections.Counter({k: v / int(size) for k, v in phase.items()})
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=10, help="measured at c=1")
    parser.add_argument("--only", default="", help="modes whose label contains this text")
    parser.add_argument("--syscalls", action="store_true", help="count system calls (strace)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measured(args.child, args.conversations, args.only)))
        return
    tool = "strace" if args.syscalls else "valgrind"
    if shutil.which(tool) is None:
        sys.exit(f"bench_instructions: {tool} is not installed")
    server = peers.Server()
    try:
        if args.syscalls:
            syscalls = count_syscalls(server.base_url, args)
        else:
            instructions = count_instructions(server.base_url, args)
    finally:
        server.close()
    c1, c64 = args.conversations, CONCURRENCY
    if args.syscalls:
        print(f"System calls per conversation (strace -f, all threads; {c1} conversations a")
        print(f"mode one at a time, {c64} at c={c64}); the kinds where agentkit differs most")
        print(f"{'mode':<36} {'agentkit':>9} {'floor':>7} {'ratio':>6}  agentkit - floor")
        for label, ours in syscalls.items():
            if not label.endswith(", agentkit"):
                continue
            mode = label.removesuffix(", agentkit")
            theirs = syscalls.get(f"{mode}, floor", collections.Counter())
            ours_all, theirs_all = sum(ours.values()), sum(theirs.values())
            ratio = f"{ours_all / theirs_all:6.2f}" if theirs_all else ""
            kinds = sorted(ours.keys() | theirs.keys(), key=lambda k: -abs(ours[k] - theirs[k]))
            differ = ", ".join(
                f"{k} {ours[k] - theirs[k]:+.1f}"
                for k in kinds[:5]
                if abs(ours[k] - theirs[k]) >= 0.5
            )
            print(f"{mode:<36} {ours_all:9.1f} {theirs_all:7.1f} {ratio}  {differ}")
        return
    print(
        f"Instructions per conversation (callgrind, {c1} conversations a mode one at a time, "
        f"{c64} at c={c64})"
    )
    print(f"{'mode':<36} {'agentkit':>10} {'floor':>10} {'ratio':>6}")
    for label, count in instructions.items():
        if label.endswith(", agentkit"):
            mode = label.removesuffix(", agentkit")
            floor = instructions.get(f"{mode}, floor")
            theirs = f"{floor / 1e6:9.3f}M" if floor else f"{'—':>10}"
            ratio = f"{count / floor:6.2f}" if floor else ""
            print(f"{mode:<36} {count / 1e6:9.3f}M {theirs} {ratio}")


if __name__ == "__main__":
    main()
