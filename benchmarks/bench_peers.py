"""agentkit against its peers: the same conversation, the same simulator, the same clock.

Run: python benchmarks/bench_peers.py [--quick] [--no-write] [--json FILE]
     python benchmarks/bench_peers.py --profile      (agentkit only: where its time goes)

The peers are not dependencies of agentkit: install them in a separate venv inside the
checkout (git-ignored), from its root:
`python3 -m venv .venv-bench && .venv-bench/bin/pip install -e ".[bench]"`, and run
this file with that venv's python (`.venv-bench/bin/python benchmarks/bench_peers.py`). A
peer that is not installed is reported, not fatal.

The conversation (as in `bench_agent.py`): "What is the weather like in Boston?", one
`get_current_weather(location, unit)` call, its result, one final answer: two requests, in
the `tools` wire style for everyone (model "gpt-4o-mini", which agentkit sends as `tools`).
The server is `agentkit.testing.LoopbackServer(DemoModel())` in a process of its own, so the
client's CPU is measured alone. It counts the bytes of every request it reads (the same count
for every implementation) and, on every measured run, that exactly two requests per
conversation came.

Implementations, each in a worker process of its own:

- agentkit: `Agent.run` and `Agent.arun` one at a time, `Agent.arun` 64 at once; `stream=` on
  the agent.
- httpx floor: a minimal hand-written loop on `httpx.Client` / `httpx.AsyncClient`, SSE
  parsed by hand (`bench_agent.py`'s, in the tools style). Ratios are to this floor...
- httpx floor, 16 pools: ...except at c=64, where they are to this one: the same loop with
  its async requests spread over 16 httpx pools, as agentkit's are. One httpcore pool with 64
  requests in flight costs several times more CPU, and varies from run to run (3 to 17 ms
  per conversation here), so the one-pool floor is no floor at c=64. Measured at c=64 only.
- openai loop: the same loop on the official client, `OpenAI` (one at a time) and
  `AsyncOpenAI` (64 at once), `chat.completions.create`, stream accumulated by hand.
- pydantic-ai: `Agent(OpenAIChatModel(..., provider=OpenAIProvider(base_url=...)))`;
  `run_sync` / `run_stream_sync` one at a time, `run` / `run_stream` 64 at once.
- Agents SDK: `Agent(model=OpenAIChatCompletionsModel(...AsyncOpenAI(base_url=...)))`,
  tracing disabled; `Runner.run_sync` one at a time (streamed: `Runner.run_streamed` drained
  on the worker's event loop, as there is no sync form), `Runner.run` / `run_streamed` 64 at
  once.

Measured: client CPU (`time.process_time`, whole worker process) and wall time per
conversation, medians of R runs alternating between the implementations (the order rotates
every run); peak memory (max RSS delta over a bare interpreter, fresh process each);
import time (`python -c "import ..."` minus `python -c "pass"`, fresh processes, median);
time to define one tool (first definition in a fresh process, and the mean of many after it);
request bytes per conversation. The table and the machine go to docs/pages/performance.md;
text between the markers there is regenerated, anything else in the file is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import ipaddress
import json
import os
import platform
import re
import resource
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "pages" / "performance.md"
QUESTION = "What is the weather like in Boston?"
MODEL = "gpt-4o-mini"  # not in agentkit's catalog: api_style="tools" says how it takes functions
KEY = "sk-bench"

IMPLS = ("agentkit", "floor", "floor-pools", "openai", "pydantic-ai", "agents-sdk")
LABELS = {
    "agentkit": "agentkit",
    "floor": "httpx floor",
    "floor-pools": "httpx floor, 16 pools",
    "openai": "openai loop",
    "pydantic-ai": "pydantic-ai",
    "agents-sdk": "Agents SDK",
}
# Distributions each implementation needs (any one of a tuple), checked without importing.
NEEDS = {
    "agentkit": (("goapi-agentkit",),),
    "floor": (("httpx",),),
    "floor-pools": (("httpx",),),
    "openai": (("openai",),),
    "pydantic-ai": (("pydantic-ai-slim", "pydantic-ai"), ("openai",)),
    "agents-sdk": (("openai-agents",),),
}
# What a user of each writes at the top of the file (timed as a fresh interpreter's import).
IMPORTS = {
    "agentkit": "import agentkit",
    "floor": "import httpx",
    "openai": "import openai",
    "pydantic-ai": "import pydantic_ai, pydantic_ai.models.openai, pydantic_ai.providers.openai",
    "agents-sdk": "import agents",
}
# (streamed, concurrency, driver): c=1 through the sync entry points and the async ones
# (agentkit's `arun` has its own costs: the event loop, its pools, a thread for a sync tool).
MODES = (
    (False, 1, "sync"),
    (True, 1, "sync"),
    (False, 1, "async"),
    (True, 1, "async"),
    (False, 64, "async"),
    (True, 64, "async"),
)
# Measured at c=64 only: at c=1 it is the floor (the same sync code), and so it is elsewhere.
CONCURRENT_ONLY = {"floor-pools"}

SERVER = r"""
import json, sys
from agentkit.testing import DemoModel, LoopbackServer

STATS = {"requests": 0, "head": 0, "body": 0, "response": 0}


class Reader:  # counts what the server reads: the request heads and bodies
    def __init__(self, reader):
        self.reader = reader

    async def readuntil(self, separator):
        data = await self.reader.readuntil(separator)
        STATS["requests"] += 1
        STATS["head"] += len(data)
        return data

    async def readexactly(self, n):
        data = await self.reader.readexactly(n)
        STATS["body"] += len(data)
        return data


class Writer:  # counts what it writes back
    def __init__(self, writer):
        self.writer = writer

    def write(self, data):
        STATS["response"] += len(data)
        self.writer.write(data)

    def __getattr__(self, name):
        return getattr(self.writer, name)


class CountingServer(LoopbackServer):
    async def _connection(self, reader, writer):
        await super()._connection(Reader(reader), Writer(writer))


counting = hasattr(LoopbackServer, "_connection")
with (CountingServer if counting else LoopbackServer)(DemoModel()) as server:
    print(json.dumps({"base_url": server.base_url, "counting": counting}), flush=True)
    for line in sys.stdin:
        if line.strip() == "reset":
            for key in STATS:
                STATS[key] = 0
        elif line.strip() == "stats":
            print(json.dumps(STATS), flush=True)
"""


# --------------------------------------------------------------------------- the tool


def define_weather() -> Callable[..., str]:
    """A new function object each call (decorators may cache by identity)."""

    def get_current_weather(
        location: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
    ) -> str:
        """Get the current weather in a given location.

        Args:
            location: The city and state, e.g. San Francisco, CA
            unit: Temperature unit.
        """
        return json.dumps({"location": location, "temperature": "22", "unit": unit})

    return get_current_weather


get_current_weather = define_weather()


def weather_schema() -> dict[str, Any]:
    """The hand-written schema of the floor and the openai loop (what agentkit generates)."""
    return {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "enum": ["celsius", "fahrenheit"],
                        "default": "celsius",
                        "description": "Temperature unit.",
                    },
                },
                "required": ["location"],
            },
        },
    }


TOOLS = [weather_schema()]
HANDLERS = {"get_current_weather": get_current_weather}


def run_calls(messages: list[dict[str, Any]], message: dict[str, Any]) -> bool:
    """Append the reply and its calls' results; whether the conversation goes on."""
    messages.append(message)
    calls = message.get("tool_calls")
    if not calls:
        return False
    for call in calls:
        function = call["function"]
        result = HANDLERS[function["name"]](**json.loads(function["arguments"]))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    return True


def accumulate(deltas: list[Any]) -> dict[str, Any]:
    """An assistant message from stream deltas (dicts, or the openai SDK's objects)."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}

    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    for delta in deltas:
        text = get(delta, "content")
        if text:
            content.append(text)
        for call in get(delta, "tool_calls") or ():
            entry = calls.setdefault(get(call, "index"), {"id": None, "name": None, "args": []})
            entry["id"] = entry["id"] or get(call, "id")
            function = get(call, "function")
            if function is not None:
                entry["name"] = entry["name"] or get(function, "name")
                entry["args"].append(get(function, "arguments") or "")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": "".join(c["args"])},
            }
            for _, c in sorted(calls.items())
        ]
    return message


# --------------------------------------------------------------------------- implementations


class Floor:
    """The minimal hand-written loop on httpx (tools style)."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.url = f"{base_url}/chat/completions"
        self.headers = {"Authorization": f"Bearer {KEY}"}
        self.http = httpx.Client(limits=httpx.Limits(max_connections=256))
        self.ahttp = httpx.AsyncClient(limits=httpx.Limits(max_connections=256))
        self.busy = [0]

    @staticmethod
    def body(messages: list[dict[str, Any]], stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {"model": MODEL, "messages": messages, "tools": TOOLS}
        if stream:
            body["stream"] = True
        return body

    @staticmethod
    def deltas(lines: list[str]) -> list[dict[str, Any]]:
        out = []
        for line in lines:
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            choices = json.loads(data)["choices"]
            if choices:
                out.append(choices[0]["delta"])
        return out

    def run(self, stream: bool) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
        while True:
            body = self.body(messages, stream)
            if stream:
                with self.http.stream("POST", self.url, json=body, headers=self.headers) as r:
                    message = accumulate(self.deltas(list(r.iter_lines())))
            else:
                r = self.http.post(self.url, json=body, headers=self.headers)
                message = r.json()["choices"][0]["message"]
            if not run_calls(messages, message):
                return message["content"]

    async def arun(self, stream: bool) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
        while True:
            body = self.body(messages, stream)
            index, http = self.acquire()
            try:
                if stream:
                    async with http.stream("POST", self.url, json=body, headers=self.headers) as r:
                        lines = [line async for line in r.aiter_lines()]
                    message = accumulate(self.deltas(lines))
                else:
                    r = await http.post(self.url, json=body, headers=self.headers)
                    message = r.json()["choices"][0]["message"]
            finally:
                self.busy[index] -= 1
            if not run_calls(messages, message):
                return message["content"]

    def acquire(self) -> tuple[int, Any]:
        return 0, self.ahttp


class PooledFloor(Floor):
    """The floor with its async requests spread over 16 pools, as agentkit's are.

    httpcore's pool gets slow with many connections in flight (see `AsyncPools` in
    agentkit/_pools.py): this is the floor for 64 at once with agentkit's pool settings.
    """

    def __init__(self, base_url: str) -> None:
        import httpx

        super().__init__(base_url)
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=8, keepalive_expiry=30)
        self.pools = [httpx.AsyncClient(limits=limits) for _ in range(16)]
        self.busy = [0] * len(self.pools)

    def acquire(self) -> tuple[int, Any]:
        index = self.busy.index(min(self.busy))  # the least busy
        self.busy[index] += 1
        return index, self.pools[index]


class OpenAILoop:
    """The same loop on the official client: `OpenAI` one at a time, `AsyncOpenAI` for 64."""

    def __init__(self, base_url: str) -> None:
        import openai

        self.client = openai.OpenAI(api_key=KEY, base_url=base_url)
        self.aclient = openai.AsyncOpenAI(api_key=KEY, base_url=base_url)

    @staticmethod
    def message(reply: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in reply.tool_calls
            ]
        return message

    def run(self, stream: bool) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
        create = self.client.chat.completions.create
        while True:
            if stream:
                chunks = create(model=MODEL, messages=messages, tools=TOOLS, stream=True)
                message = accumulate([c.choices[0].delta for c in chunks if c.choices])
            else:
                reply = create(model=MODEL, messages=messages, tools=TOOLS)
                message = self.message(reply.choices[0].message)
            if not run_calls(messages, message):
                return message["content"]

    async def arun(self, stream: bool) -> str:
        messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
        create = self.aclient.chat.completions.create
        while True:
            if stream:
                chunks = await create(model=MODEL, messages=messages, tools=TOOLS, stream=True)
                message = accumulate([c.choices[0].delta async for c in chunks if c.choices])
            else:
                reply = await create(model=MODEL, messages=messages, tools=TOOLS)
                message = self.message(reply.choices[0].message)
            if not run_calls(messages, message):
                return message["content"]


class Agentkit:
    def __init__(self, base_url: str) -> None:
        from agentkit import Agent, ChatClient, tool

        client = ChatClient(api_key=KEY, base_url=base_url)
        weather = tool(get_current_weather)
        self.agents = {
            s: Agent(MODEL, tools=[weather], stream=s, client=client, api_style="tools")
            for s in (False, True)
        }
        assert self.agents[False].style == "tools", "agentkit does not send gpt-4o-mini as tools"

    def run(self, stream: bool) -> str:
        return self.agents[stream].run(QUESTION).output

    async def arun(self, stream: bool) -> str:
        return (await self.agents[stream].arun(QUESTION)).output


class PydanticAI:
    def __init__(self, base_url: str) -> None:
        from pydantic_ai import Agent
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        provider = OpenAIProvider(base_url=base_url, api_key=KEY)
        self.agent = Agent(OpenAIChatModel(MODEL, provider=provider), tools=[get_current_weather])

    def run(self, stream: bool) -> str:
        if stream and not hasattr(self.agent, "run_stream_sync"):  # older: no sync stream
            return asyncio.get_event_loop().run_until_complete(self.arun(True))
        if stream:
            with self.agent.run_stream_sync(QUESTION) as result:
                return result.get_output()
        return self.agent.run_sync(QUESTION).output

    async def arun(self, stream: bool) -> str:
        if stream:
            async with self.agent.run_stream(QUESTION) as result:
                return await result.get_output()
        return (await self.agent.run(QUESTION)).output


class AgentsSDK:
    def __init__(self, base_url: str) -> None:
        from agents import (
            Agent,
            OpenAIChatCompletionsModel,
            Runner,
            function_tool,
            set_tracing_disabled,
        )
        from openai import AsyncOpenAI

        set_tracing_disabled(True)
        model = OpenAIChatCompletionsModel(
            model=MODEL, openai_client=AsyncOpenAI(api_key=KEY, base_url=base_url)
        )
        self.runner = Runner
        self.agent = Agent(name="weather", model=model, tools=[function_tool(get_current_weather)])

    def run(self, stream: bool) -> str:
        if stream:  # no sync form: drain the stream on the (persistent) event loop
            return asyncio.get_event_loop().run_until_complete(self.arun(True))
        return self.runner.run_sync(self.agent, QUESTION).final_output

    async def arun(self, stream: bool) -> str:
        if stream:
            result = self.runner.run_streamed(self.agent, QUESTION)
            async for _ in result.stream_events():
                pass
            return result.final_output
        return (await self.runner.run(self.agent, QUESTION)).final_output


CLASSES: dict[str, Callable[[str], Any]] = {
    "agentkit": Agentkit,
    "floor": Floor,
    "floor-pools": PooledFloor,
    "openai": OpenAILoop,
    "pydantic-ai": PydanticAI,
    "agents-sdk": AgentsSDK,
}


def tool_definer(name: str) -> Callable[[], Any]:
    """Import what defining a tool takes (not timed); a function that defines one."""
    if name == "agentkit":
        from agentkit import tool

        return lambda: tool(define_weather())
    if name == "pydantic-ai":
        from pydantic_ai import Tool

        return lambda: Tool(define_weather())
    if name == "agents-sdk":
        from agents import function_tool

        return lambda: function_tool(define_weather())
    return lambda: (define_weather(), weather_schema())  # the floor and the openai loop


# --------------------------------------------------------------------------- in the child


def block_network() -> None:
    """Any connection or name look-up beyond loopback fails at once (nothing goes out).

    Not `agentkit.testing.block_network`: importing agentkit (and httpx) here, before the
    bare memory reading, would count them in every implementation's baseline.
    """

    def local(host: Any) -> bool:
        if host in (None, "", "localhost", b"localhost"):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not local(address[0]):
            raise OSError(f"bench_peers: no network beyond loopback ({address!r})")
        real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not local(host.decode() if isinstance(host, bytes) else host):
            raise OSError(f"bench_peers: no network beyond loopback ({host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo


def run_batch(
    impl: Any, stream: bool, concurrency: int, conversations: int, driver: str = "async"
) -> dict[str, Any]:
    """Run `conversations` conversations; CPU and wall seconds per conversation."""
    gc.collect()
    loop = asyncio.get_event_loop()
    wall, cpu = time.perf_counter(), time.process_time()
    if driver == "sync":
        outputs = [impl.run(stream) for _ in range(conversations)]
    elif concurrency == 1:

        async def one_by_one() -> list[str]:
            return [await impl.arun(stream) for _ in range(conversations)]

        outputs = loop.run_until_complete(one_by_one())
    else:

        async def many() -> list[str]:
            gate = asyncio.Semaphore(concurrency)

            async def one() -> str:
                async with gate:
                    return await impl.arun(stream)

            return await asyncio.gather(*(one() for _ in range(conversations)))

        outputs = loop.run_until_complete(many())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    wrong = [o for o in outputs if '"22"' not in str(o)]
    if wrong:
        raise RuntimeError(f"{len(wrong)} wrong answers, e.g. {wrong[0]!r}")
    return {"cpu": cpu / conversations, "wall": wall / conversations}


def child_setup() -> Any:
    """Protocol on the real stdout; anything a library prints goes to stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")
    block_network()
    asyncio.set_event_loop(asyncio.new_event_loop())
    return out


def worker(name: str, base_url: str) -> None:
    out = child_setup()
    try:
        impl = CLASSES[name](base_url)
    except ImportError as error:
        out.write(json.dumps({"error": f"not installed ({error})"}) + "\n")
        return
    out.write(json.dumps({"ok": True}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        try:
            reply = run_batch(
                impl, command["stream"], command["concurrency"], command["n"], command["driver"]
            )
        except Exception as error:  # reported; the others go on
            reply = {"error": f"{type(error).__name__}: {error}"[:300]}
        out.write(json.dumps(reply) + "\n")


def memory(name: str, base_url: str, conversations: int) -> None:
    """Max RSS: bare, after imports and setup, after c=1 and c=64 runs (fresh process)."""
    out = child_setup()
    gc.collect()
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731
    bare = rss()
    try:
        impl = CLASSES[name](base_url)
    except ImportError as error:
        out.write(json.dumps({"error": f"not installed ({error})"}) + "\n")
        return
    setup = rss()
    for stream in (False, True):
        run_batch(impl, stream, 1, max(conversations // 8, 4), "sync")
        run_batch(impl, stream, 64, conversations)
    out.write(json.dumps({"bare": bare, "setup": setup, "peak": rss()}) + "\n")


def tooldef(name: str, repeats: int) -> None:
    """Seconds for the first tool definition in this fresh process, and the mean after it."""
    out = child_setup()
    try:
        define = tool_definer(name)
    except ImportError as error:
        out.write(json.dumps({"error": f"not installed ({error})"}) + "\n")
        return
    start = time.perf_counter()
    define()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        define()
    warm = (time.perf_counter() - start) / repeats
    out.write(json.dumps({"cold": cold, "warm": warm}) + "\n")


# --------------------------------------------------------------------------- the conductor


def read_line(process: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        return {"error": "timed out" if not ready else f"exited ({process.wait()})"}
    return json.loads(line)


# Every child process reads and writes its bytecode cache in one place outside the source
# trees, even where PYTHONDONTWRITEBYTECODE is set (else a package installed in editable mode,
# such as agentkit here, would be compiled again by every fresh interpreter, and the others
# not). The first pass over the imports fills it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "bench_peers-pycache")


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=ENV,
    )


def child(*args: str, timeout: float = 300) -> dict[str, Any]:
    process = spawn(*args)
    try:
        return read_line(process, timeout)
    finally:
        process.kill()
        process.wait()


class Server:
    def __init__(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        hello = read_line(self.process, 30)
        self.base_url, self.counting = hello["base_url"], hello["counting"]

    def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stats(self) -> dict[str, int]:
        self.command("stats")
        return read_line(self.process, 30)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


class Worker:
    def __init__(self, name: str, base_url: str) -> None:
        self.process = spawn("--worker", name, "--base-url", base_url)
        self.error: str | None = None

    def started(self) -> Worker:
        """Wait for the worker's imports and setup (several start at once)."""
        self.error = read_line(self.process, 120).get("error")
        return self

    def run(self, stream: bool, concurrency: int, driver: str, n: int) -> dict[str, Any]:
        assert self.process.stdin is not None
        command = {"stream": stream, "concurrency": concurrency, "driver": driver, "n": n}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return read_line(self.process, 600)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def modes_of(name: str) -> tuple[tuple[bool, int, str], ...]:
    return tuple(m for m in MODES if name not in CONCURRENT_ONLY or m[1] > 1)


def rotated(items: list[str], by: int) -> list[str]:
    by %= max(len(items), 1)
    return items[by:] + items[:by]


def mode_name(stream: bool, concurrency: int, driver: str = "sync") -> str:
    """`non-streamed, c=1` (sync), `non-streamed, c=1, async`, `non-streamed, c=64` (async)."""
    name = f"{'streamed' if stream else 'non-streamed'}, c={concurrency}"
    return f"{name}, async" if concurrency == 1 and driver == "async" else name


def measure_runs(
    server: Server, impls: list[str], repeats: int, sizes: dict[int, int], log: Callable[..., None]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """CPU, wall and bytes per conversation, per implementation and mode (samples)."""
    workers = {name: Worker(name, server.base_url) for name in impls}
    workers = {name: w.started() for name, w in workers.items()}
    failed = {name: w.error for name, w in workers.items() if w.error}
    live = [name for name in impls if name not in failed]
    samples: dict[str, dict[str, Any]] = {name: {} for name in live}
    try:
        for name in live:  # warm up: connections, imports, caches, lazy schemas
            for stream, concurrency, driver in modes_of(name):
                n = 4 if concurrency == 1 else 64
                reply = workers[name].run(stream, concurrency, driver, n)
                if "error" in reply:
                    failed[name] = f"{mode_name(stream, concurrency, driver)}: {reply['error']}"
                    break
        live = [name for name in live if name not in failed]
        for repeat in range(repeats):
            for index, (stream, concurrency, driver) in enumerate(MODES):
                mode, n = mode_name(stream, concurrency, driver), sizes[concurrency]
                for name in rotated(live, repeat + index):
                    if (stream, concurrency, driver) not in modes_of(name):
                        continue
                    server.command("reset")
                    reply = workers[name].run(stream, concurrency, driver, n)
                    if "error" in reply:
                        failed.setdefault(name, f"{mode}: {reply['error']}")
                        continue
                    stats = server.stats()
                    entry = samples[name].setdefault(mode, {"cpu": [], "wall": [], "stats": []})
                    entry["cpu"].append(reply["cpu"])
                    entry["wall"].append(reply["wall"])
                    entry["stats"].append({k: v / n for k, v in stats.items()})
            log(f"  run {repeat + 1}/{repeats} done")
    finally:
        for w in workers.values():
            w.close()
    return samples, failed


def measure_imports(impls: list[str], repeats: int) -> dict[str, list[float]]:
    """Seconds of `python -c "import ..."` minus `python -c "pass"`, per repeat."""

    def seconds(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=ENV)  # noqa: S603 - ours
        return time.perf_counter() - start

    codes = {"bare": "pass", **{name: IMPORTS[name] for name in impls}}
    warming = [  # compile the bytecode caches first (untimed, so all at once)
        subprocess.Popen([sys.executable, "-c", code], env=ENV)  # noqa: S603 - ours
        for code in codes.values()
    ]
    for process in warming:
        process.wait()
    times: dict[str, list[float]] = {name: [] for name in codes}
    for repeat in range(repeats):
        for name in rotated(list(codes), repeat):
            times[name].append(seconds(codes[name]))
    bare = statistics.median(times.pop("bare"))
    return {name: [t - bare for t in ts] for name, ts in times.items()}


def measure_tooldefs(impls: list[str], repeats: int) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {name: {"cold": [], "warm": []} for name in impls}
    for repeat in range(repeats):
        for name in rotated(impls, repeat):
            reply = child("--tooldef", name)
            if "error" not in reply:
                out[name]["cold"].append(reply["cold"])
                out[name]["warm"].append(reply["warm"])
    return out


# --------------------------------------------------------------------------- report


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        total = int(info.readline().split()[1]) * 1024
    dists = ("goapi-agentkit", "httpx", "openai", "pydantic-ai-slim", "openai-agents")
    dists += ("pydantic", "pydantic-core", "httpx2")
    versions = {dist: version(dist) for dist in dists if version(dist)}
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "Memory": f"{total / 2**30:.1f} GiB",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def installed(name: str) -> bool:
    return all(any(version(dist) for dist in choices) for choices in NEEDS[name])


# Each row: (key, label, unit, scale, digits); values are medians of the samples.
ROWS = (
    *(
        (f"cpu {mode_name(*m)}", f"CPU / conversation, {mode_name(*m)}", "ms", 1e3, 3)
        for m in MODES
    ),
    *(
        (f"wall {mode_name(*m)}", f"wall / conversation, {mode_name(*m)}", "ms", 1e3, 3)
        for m in MODES
    ),
    ("rss setup", "max RSS after import + setup (delta over bare)", "MiB", 2**-20, 1),
    ("rss peak", "max RSS after all runs (delta over bare)", "MiB", 2**-20, 1),
    ("import", "import time (fresh interpreter, minus bare start)", "ms", 1e3, 1),
    ("tool cold", "define one tool, first in a fresh process", "µs", 1e6, 1),
    ("tool warm", "define one tool, mean of later ones", "µs", 1e6, 2),
    ("body non-streamed, c=1", "request body bytes / conversation, non-streamed", "B", 1, 0),
    ("body streamed, c=1", "request body bytes / conversation, streamed", "B", 1, 0),
    ("head non-streamed, c=1", "request head bytes / conversation, non-streamed", "B", 1, 0),
    ("requests", "requests / conversation (all modes)", "", 1, 2),
)
NO_RATIO = {"tool cold", "tool warm", "requests"}  # the floor's tool is a dict literal


def summarize(
    samples: dict[str, dict[str, Any]],
    imports: dict[str, list[float]],
    tools: dict[str, dict[str, list[float]]],
    mem: dict[str, dict[str, Any]],
) -> dict[str, dict[str, tuple[float, float]]]:
    """{row key: {impl: (median, interquartile range of the samples / median)}}."""
    table: dict[str, dict[str, tuple[float, float]]] = {}

    def put(key: str, name: str, values: list[float]) -> None:
        if values:
            middle = statistics.median(values)
            low, _, high = statistics.quantiles(values, n=4) if len(values) > 1 else (0, 0, 0)
            spread = (high - low) / middle if middle else 0.0
            table.setdefault(key, {})[name] = (middle, spread)

    for name, modes in samples.items():
        requests = []
        for mode, entry in modes.items():
            put(f"cpu {mode}", name, entry["cpu"])
            put(f"wall {mode}", name, entry["wall"])
            put(f"body {mode}", name, [s["body"] for s in entry["stats"]])
            put(f"head {mode}", name, [s["head"] for s in entry["stats"]])
            requests += [s["requests"] for s in entry["stats"]]
        put("requests", name, requests)
    for name, values in imports.items():
        put("import", name, values)
    for name, entry in tools.items():
        put("tool cold", name, entry["cold"])
        put("tool warm", name, entry["warm"])
    for name, entry in mem.items():
        if "error" not in entry:
            put("rss setup", name, [entry["setup"] - entry["bare"]])
            put("rss peak", name, [entry["peak"] - entry["bare"]])
    return table


def reference(key: str) -> str:
    """What a row's ratios are to: the floor, and at c=64 the floor with 16 pools."""
    return "floor-pools" if key.endswith("c=64") else "floor"


def render_table(table: dict[str, dict[str, tuple[float, float]]], impls: list[str]) -> str:
    lines = [
        "| measure | " + " | ".join(LABELS[n] for n in impls) + " |",
        "| --- |" + " ---: |" * len(impls),
    ]
    for key, label, unit, scale, digits in ROWS:
        values = table.get(key, {})
        floor = values.get(reference(key), values.get("floor", (0.0, 0.0)))[0]
        cells = []
        for name in impls:
            if name not in values:
                cells.append("—")
                continue
            value = values[name][0]
            cell = f"{value * scale:,.{digits}f}"
            if key not in NO_RATIO and floor > 0 and name != reference(key):
                cell += f" ({value / floor:.2f}x)"
            cells.append(cell)
        title = f"{label} ({unit})" if unit else label
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def losses(table: dict[str, dict[str, tuple[float, float]]]) -> list[str]:
    """Every measure on which some implementation has a lower median than agentkit."""
    facts: list[str] = []
    for key, label, unit, scale, digits in ROWS:
        values = table.get(key, {})
        if "agentkit" not in values or key == "requests":
            continue
        ours, spread = values["agentkit"]
        hand = ("floor", "openai") if key in NO_RATIO else ()  # their tool is a dict literal
        better = sorted(
            (v[0], name) for name, v in values.items() if name != "agentkit" and v[0] < ours
        )
        if not better:
            continue
        show = ", ".join(
            f"{LABELS[name]} {value * scale:,.{digits}f}"
            + (f" (agentkit {ours / value:.2f}x)" if value > 0 and name not in hand else "")
            for value, name in better
        )
        noise = (
            f"; interquartile range of agentkit's runs {spread:.0%} of the median" if spread else ""
        )
        facts.append(f"- {label}: agentkit {ours * scale:,.{digits}f} {unit} vs {show}{noise}")
    return facts


def document(
    table_md: str, facts: list[str], info: dict[str, str], notes: list[str], settings: str
) -> str:
    results = "\n".join(
        [
            "<!-- bench_peers: results start (regenerated by benchmarks/bench_peers.py) -->",
            f"Measured {datetime.date.today().isoformat()}, {settings}.",
            "",
            "Machine:",
            "",
            *(f"- {k}: {v}" for k, v in info.items()),
            "",
            table_md,
            "",
            *notes,
            "<!-- bench_peers: results end -->",
        ]
    )
    raw = "\n".join(
        [
            "<!-- bench_peers: facts start (regenerated by benchmarks/bench_peers.py) -->",
            "Measures on which another implementation's median is lower than agentkit's",
            "(the ratio is agentkit's value over the other's):",
            "",
            *(facts or ["- none"]),
            "<!-- bench_peers: facts end -->",
        ]
    )
    old = DOC.read_text() if DOC.exists() else ""
    pattern = "<!-- bench_peers: {0} start.*?<!-- bench_peers: {0} end -->"
    if all(re.search(pattern.format(p), old, re.S) for p in ("results", "facts")):
        new = re.sub(pattern.format("results"), lambda _: results, old, flags=re.S)
        return re.sub(pattern.format("facts"), lambda _: raw, new, flags=re.S)
    return TEMPLATE.format(results=results, facts=raw)


TEMPLATE = """# Performance

How much an agent framework costs on top of the HTTP it does: agentkit, a minimal
hand-written loop on httpx (the floor), the same loop on the official `openai` client,
pydantic-ai and the OpenAI Agents SDK, all running the same conversation against the same
local simulator.

Ratios in the table are to the httpx floor; in the rows for 64 conversations at once (c=64)
they are to "httpx floor, 16 pools", the same loop with its requests spread over 16 httpx
connection pools as agentkit's are. With one pool and 64 requests in flight httpcore spends
several times more CPU per request, and by an amount that changes from run to run (see
`AsyncPools` in `agentkit/_pools.py`), so the one-pool loop is no floor at c=64; its figures
are shown as they are.

The conversation: "What is the weather like in Boston?", one `get_current_weather(location,
unit)` call, its result, one final answer, so two requests, in the `tools` wire style for
every implementation (model name `gpt-4o-mini`). The server is
`agentkit.testing.LoopbackServer(DemoModel())` in a process of its own on 127.0.0.1, so the
client's CPU is measured alone; it checks that every implementation sent exactly two
requests per conversation, and the client checks every answer.

How to reproduce, from the root of the checkout (`.venv-bench/` is git-ignored):

```bash
python3 -m venv .venv-bench && .venv-bench/bin/pip install -e ".[bench]"
.venv-bench/bin/python benchmarks/bench_peers.py          # about 23 minutes on 2 cores
.venv-bench/bin/python benchmarks/bench_peers.py --quick  # about 3 minutes, noisier
```

## Results

{results}

## How it is measured

- **CPU / conversation**: `time.process_time()` of the client's worker process (all its
  threads) around a batch of conversations, divided by their number. **Wall**: the same batch
  by `time.perf_counter()`. Each implementation runs in a worker process of its own, warmed
  up first (connections, caches); runs alternate between the implementations, the order
  rotating every run, and the median of the runs is shown.
- **c=1**: one conversation after another, twice: through the implementation's sync entry
  point (agentkit `Agent.run`; httpx `Client`; `OpenAI`; pydantic-ai `run_sync` and
  `run_stream_sync`; Agents SDK `Runner.run_sync`, and for streams `Runner.run_streamed`
  drained on the process's event loop, as it has no sync form), and, in the rows marked
  "c=1, async", through its async entry point awaited one at a time (agentkit `Agent.arun`;
  httpx `AsyncClient`; `AsyncOpenAI`; pydantic-ai `run` and `run_stream`; Agents SDK
  `Runner.run` and `Runner.run_streamed`). **c=64**: the async entry points, 64
  conversations in flight under `asyncio.gather` and a semaphore. All async runs share one
  event loop that lives as long as the worker.
- **Connections** are pooled and kept as each implementation does by default. The runs of
  the others take several seconds, and idle connections close after 5 s by default in httpx
  and httpx2 (which the openai SDK, and so pydantic-ai and the Agents SDK, use), so those
  implementations open theirs again at the start of a run; agentkit and the 16-pool floor
  keep idle connections 30 s.
- **Streamed**: every request asks for server-sent events, and the final answer is
  assembled from them (agentkit `Agent(stream=True).run`, pydantic-ai `run_stream` and
  `get_output`, Agents SDK draining `stream_events()`; the hand-written loops parse or
  iterate the chunks themselves).
- **Memory**: maximum resident set size (`ru_maxrss`) of a fresh process, minus its value
  before the implementation was imported: once after import and setup, once after
  conversations one at a time and 64 at once, streamed and not. Not tracemalloc: it counts
  everything, C extensions and interpreter included. A first, unmeasured pass in a fresh
  process of the same kind fills the bytecode cache for every module the runs import
  (pydantic-ai imports much of itself only when it first runs; compiling that in the
  measured process added some 65 MiB to its max RSS).
- **Import time**: wall time of `python -c "import ..."` (what the implementation needs)
  minus that of `python -c "pass"`, fresh interpreters, median. Bytecode is cached for
  every package alike (in a `PYTHONPYCACHEPREFIX` directory, filled by a first untimed pass).
- **Tool definition**: in a fresh process, after the imports, the first definition of the
  tool (agentkit `@tool`, pydantic-ai `Tool(fn)`, Agents SDK `function_tool(fn)`; the floor
  and the openai loop build the schema dict by hand), and the mean of many definitions after
  it. Medians over fresh processes. No ratio: the floor writes a dict.
- **Bytes**: counted by the server as it reads them (request line and headers; body), for
  every implementation alike, per conversation.

## Where agentkit does not win

<!-- Prose to be written. The list between the markers below is regenerated by every run. -->

{facts}
"""


WAITS = {"read", "_read", "wait", "select"}  # pyinstrument: Python frames that block on I/O


def print_profile(base_url: str, conversations: int) -> None:
    """Profile agentkit's c=1 conversation (non-streamed, streamed) and `@tool`.

    cProfile (deterministic, with call counts; its per-call cost inflates small Python
    functions) and, if installed, pyinstrument (sampling; no such bias). Both use the wall
    clock, so socket reads include waiting for the server: they are marked. Self time is a
    function's own time, without what it calls.
    """
    import cProfile
    import pstats

    try:
        from pyinstrument import Profiler as sampler
    except ImportError:
        sampler = None
    impl = Agentkit(base_url)
    stdlib = str(Path(json.__file__).parent.parent)

    def where(path: str) -> str:
        if path == "~":
            return ""
        for marker in ("/site-packages/", f"{ROOT}/"):
            if marker in path:
                return path.split(marker, 1)[1]
        return path.replace(stdlib, "<stdlib>")

    def bucket(path: str, func: str) -> str:
        if path == "<built-in>":  # pyinstrument names C functions `module.function`
            return f"C: {func.split('.')[0] if '.' in func else 'builtins'}"
        if path == "<string>":
            return "generated code (dataclasses)"
        if path == "~":  # a C function: name its module where cProfile says it
            found = re.search(r"of '([\w.]+)\.", func) or re.search(
                r"<built-in method ([\w.]+)\.", func
            )
            return f"C: {found.group(1).lstrip('_')}" if found else "C: builtins"
        name = where(path)
        if name.startswith("<stdlib>"):
            return "stdlib " + name.split("/")[1].removesuffix(".py")
        return name.split("/")[0]

    def show(
        title: str, entries: dict[tuple[str, int, str], tuple[int, float]], count: int
    ) -> None:
        """Top self times, then self time by package; `entries`: (path, line, func) -> (calls,
        seconds)."""
        total = sum(seconds for _, seconds in entries.values())
        print(f"-- {title}: {total / count * 1e6:.0f} µs each")
        print(f"{'self':>6} {'µs each':>8} {'calls':>7}  function")
        rows = sorted(entries.items(), key=lambda kv: kv[1][1], reverse=True)
        for (path, line, func), (calls, seconds) in rows[:15]:
            name = f"{where(path)}:{line}:{func}" if path != "~" else func
            if func.startswith(("<method 'recv", "<method 'poll")) or func in WAITS:
                name += "  (includes waiting for the server)"
            each = f"{calls / count:7.1f}" if calls else f"{'':7}"
            print(f"{seconds / total:6.1%} {seconds / count * 1e6:8.1f} {each}  {name}")
        ours = [row for row in rows if where(row[0][0]).startswith("agentkit/")][:8]
        print("inside agentkit:", ", ".join(
            f"{where(p)}:{f} {v[1] / count * 1e6:.1f}" for (p, _, f), v in ours
        ))  # fmt: skip
        groups: dict[str, float] = {}
        for (path, _, func), (_, seconds) in entries.items():
            groups[bucket(path, func)] = groups.get(bucket(path, func), 0.0) + seconds
        ranked = sorted(groups.items(), key=lambda kv: kv[1], reverse=True)[:12]
        print("by package:", ", ".join(f"{k} {v / total:.1%}" for k, v in ranked))

    def report(title: str, run: Callable[[], Any], count: int) -> None:
        for _ in range(max(count // 10, 5)):  # warm
            run()
        cpu = time.process_time()
        for _ in range(count):
            run()
        print(f"\n== {title}: {count} times, CPU {(time.process_time() - cpu) / count * 1e6:.0f} "
              "µs each unprofiled")  # fmt: skip
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(count):
            run()
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        show("cProfile (wall clock)", {k: (v[1], v[2]) for k, v in stats.items()}, count)
        if sampler is None:
            return
        profiler = sampler(interval=0.0001, async_mode="disabled")
        profiler.start()
        for _ in range(count):
            run()
        profiler.stop()
        entries: dict[tuple[str, int, str], tuple[int, float]] = {}
        stack = [profiler.last_session.root_frame(trim_stem=False)]
        while stack:
            frame = stack.pop()
            if frame is None:
                continue
            stack.extend(frame.children)
            if frame.is_synthetic:
                continue
            key = (frame.file_path or "~", frame.line_no or 0, frame.function)
            entries[key] = (0, entries.get(key, (0, 0.0))[1] + frame.total_self_time)
        show("pyinstrument (sampling every 0.1 ms, wall clock; C time goes to its caller)",
             entries, count)  # fmt: skip

    for stream in (False, True):
        report(f"conversation, {mode_name(stream, 1)}", lambda s=stream: impl.run(s), conversations)
    report("tool definition, agentkit @tool", tool_definer("agentkit"), conversations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller runs (about 3 min)")
    parser.add_argument("--no-write", action="store_true", help="do not write performance.md")
    parser.add_argument("--json", help="also write the raw samples to this file")
    parser.add_argument("--profile", action="store_true", help="profile agentkit's path only")
    parser.add_argument("--only", help="comma-separated implementations (default: all)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--memory", help=argparse.SUPPRESS)
    parser.add_argument("--tooldef", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, default=128, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.base_url)
    elif args.memory:
        memory(args.memory, args.base_url, args.n)
    elif args.tooldef:
        tooldef(args.tooldef, args.n)
    elif args.profile:
        server = Server()
        try:
            print_profile(server.base_url, 100 if args.quick else 500)
        finally:
            server.close()
    else:
        conduct(args)


def conduct(args: argparse.Namespace) -> None:
    """Measure everything, print the table, write performance.md."""

    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    repeats, sizes = (3, {1: 20, 64: 64}) if args.quick else (9, {1: 150, 64: 256})
    small_repeats = 3 if args.quick else 9
    wanted = args.only.split(",") if args.only else list(IMPLS)
    impls = [name for name in wanted if installed(name)]
    missing = {name: "not installed" for name in wanted if name not in impls}
    settings = (
        f"{'--quick' if args.quick else 'full'} run: CPU and wall medians of {repeats} "
        f"alternating runs of {sizes[1]} conversations one at a time and {sizes[64]} with 64 "
        f"in flight; imports and tool definitions medians of {small_repeats} fresh processes"
    )
    log(f"implementations: {', '.join(impls)}; not installed: {', '.join(missing) or 'none'}")

    alone = [name for name in impls if name not in CONCURRENT_ONLY]
    log("import times")
    imports = measure_imports(alone, small_repeats)
    log("tool definitions")
    tools = measure_tooldefs(alone, small_repeats)
    server = Server()
    try:
        # Fill the bytecode cache with all the runs import, not only the imports timed above:
        # pydantic-ai imports much of itself on its first run, and compiling it in the
        # measured process raised its max RSS by some 65 MiB (121 MiB against 56 warm).
        log("memory: a first pass for the bytecode cache (not measured)")
        for name in alone:
            child("--memory", name, "--base-url", server.base_url, "-n", "8")
        log("memory (a fresh process each)")
        mem = {
            name: child("--memory", name, "--base-url", server.base_url, "-n", str(sizes[64]))
            for name in alone
        }
        log("CPU and wall time")
        samples, failed = measure_runs(server, impls, repeats, sizes, log)
    finally:
        server.close()
    failed = {**missing, **failed}
    failed.update({n: str(e["error"]) for n, e in mem.items() if "error" in e and n not in failed})

    shown = [name for name in wanted if name not in missing]
    table = summarize(samples, imports, tools, mem)
    table_md = render_table(table, shown)
    notes = [f"- {LABELS[name]}: {why}" for name, why in failed.items()]
    if not server.counting:
        notes.append("- bytes: not counted (LoopbackServer has no `_connection` to wrap)")
    notes = (["Not measured:", "", *notes, ""]) if notes else []
    facts = losses(table)
    info = machine()
    print(f"\n{settings}\n")
    for key, value in info.items():
        print(f"{key}: {value}")
    print()
    print(table_md)
    print()
    print("\n".join(notes))
    print("Where agentkit does not win:")
    print("\n".join(facts or ["- nowhere"]))
    if args.json:
        raw = {"samples": samples, "imports": imports, "tools": tools, "memory": mem}
        Path(args.json).write_text(json.dumps(raw, indent=1))
    if not args.no_write:
        DOC.write_text(document(table_md, facts, info, notes, settings))
        log(f"wrote {DOC.relative_to(ROOT)}")
    log("done")


if __name__ == "__main__":
    main()
