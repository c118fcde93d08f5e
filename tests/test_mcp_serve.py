"""agentkit tools as an MCP server, and the command line's MCP options, checked with the
official SDK's client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import mcp_types
from mcp import Client, StdioServerParameters

from agentkit import RunContext, ToolRetry, UsageError, tool
from agentkit._mcp_serve import build_server
from agentkit.testing import DemoModel, LoopbackServer
from tests.helpers import mcp_over_http

DEMO = str(Path(__file__).parent / "mcp_servers" / "demo.py")


@tool
def add(a: int, b: int = 2) -> int:
    """Add two numbers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool
def picky(word: str) -> str:
    """Refuses short words."""
    if len(word) < 4:
        raise ToolRetry("Give a word of four letters or more.")
    return word.upper()


@tool
def explode() -> str:
    """Raises."""
    raise ValueError("boom")


@tool(timeout=1)  # room for `seconds=0` to answer in time on a loaded machine
async def sleepy(seconds: float) -> str:
    """Sleeps."""
    await asyncio.sleep(seconds)
    return "awake"


@tool
def whoami(ctx: RunContext[None]) -> str:
    """Says what context it got."""
    return f"{ctx.model}/{ctx.tool_name}"


def text(result: mcp_types.CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, mcp_types.TextContent))


async def call(name: str, arguments: dict[str, Any]) -> mcp_types.CallToolResult:
    async with Client(build_server([add, picky, explode, sleepy, whoami])) as client:
        return await client.call_tool(name, arguments)


@pytest.mark.anyio
async def test_tools_are_listed_with_their_own_schemas() -> None:
    """The SDK client sees each tool's generated schema and description, unchanged."""
    async with Client(build_server([add, picky])) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert listed["add"].input_schema == add.parameters
    assert listed["add"].description == "Add two numbers."
    assert set(listed) == {"add", "picky"}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "arguments", "error", "expected"),
    [
        ("add", {"a": "40"}, False, "42"),  # lax validation, as for a model's call
        ("add", {"a": "forty"}, True, "Invalid arguments for add: 'a'"),
        ("add", {"a": 1, "c": 2}, True, "Invalid arguments for add: 'c' is not a parameter"),
        ("picky", {"word": "ok"}, True, "Give a word of four letters or more."),
        ("picky", {"word": "fine"}, False, "FINE"),
        ("explode", {}, True, "Error: explode raised ValueError: boom"),
        ("sleepy", {"seconds": 600}, True, "Error: sleepy timed out after 1 s."),
        ("sleepy", {"seconds": 0}, False, "awake"),
        ("whoami", {}, False, "mcp/whoami"),
        ("nope", {}, True, "Unknown tool 'nope'. The tools are: add, picky"),
    ],
)
async def test_calls(name: str, arguments: dict[str, Any], error: bool, expected: str) -> None:
    """Arguments are validated like a model's; every failure is an isError result."""
    result = await call(name, arguments)
    assert result.is_error is error
    assert text(result).startswith(expected)


def test_a_server_needs_tools() -> None:
    """No tools, or two with one name, is a usage error before anything is served."""
    with pytest.raises(UsageError, match="at least one tool"):
        build_server([])
    with pytest.raises(UsageError, match="Two tools are named 'add'"):
        build_server([add, tool(add.function)])


# ---------------------------------------------------------------------- the command


def agentkit(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GOAPI_KEY"}
    env["GOAPI_KEY"] = "sk-cli-test"
    return subprocess.run(
        [sys.executable, "-m", "agentkit.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.mark.anyio
async def test_serve_over_stdio() -> None:
    """`agentkit mcp serve --tools agentkit_tools.calculator` speaks MCP on stdin/stdout."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agentkit.cli", "mcp", "serve", "--tools", "agentkit_tools.calculator"],
    )
    async with Client(params) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        result = await client.call_tool("calculate", {"expression": "6 * 7"})
    assert names == ["calculate"]
    assert not result.is_error
    assert "42" in text(result)


@pytest.fixture
def http_server() -> Iterator[str]:
    command = [sys.executable, "-m", "agentkit.cli", "mcp", "serve"]
    argv = [*command, "--tools", "agentkit_tools.calculator", "--name", "calc"]
    with mcp_over_http(argv, "agentkit mcp serve --http") as url:
        yield url


@pytest.mark.anyio
async def test_serve_over_http(http_server: str) -> None:
    """`--http PORT` serves Streamable HTTP on 127.0.0.1."""
    async with Client(http_server) as client:
        assert client.server_info is not None
        assert client.server_info.name == "calc"
        result = await client.call_tool("calculate", {"expression": "2 ** 10"})
    assert "1024" in text(result)


def test_serve_refuses_bad_options() -> None:
    """A bad tool spec or port is one clear line and exit status 2, not a traceback."""
    missing = agentkit("mcp", "serve", "--tools", "no_such_module_here")
    assert missing.returncode == 2
    assert "no module named 'no_such_module_here'" in missing.stderr
    assert "Traceback" not in missing.stderr
    port = agentkit("mcp", "serve", "--tools", "agentkit_tools.calculator", "--http", "70000")
    assert port.returncode == 2
    assert "--http takes a port number" in port.stderr


@pytest.fixture
def model() -> Iterator[LoopbackServer]:
    with LoopbackServer(DemoModel()) as running:
        yield running


def test_run_with_an_mcp_server(model: LoopbackServer) -> None:
    """`agentkit run --mcp "command args"` starts the server and offers its tools."""
    done = agentkit(
        "run",
        "Add two numbers",
        "--model",
        "gpt-3.5-turbo-1106",
        "--base-url",
        model.base_url,
        "--mcp",
        f"{sys.executable} {DEMO}",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Here is what I found: 3"


def test_run_with_an_mcp_url(model: LoopbackServer, http_server: str) -> None:
    """`agentkit run --mcp-url URL` uses a server over Streamable HTTP."""
    done = agentkit(
        "run",
        "Calculate 6 * 7",
        "--model",
        "gpt-3.5-turbo-1106",
        "--base-url",
        model.base_url,
        "--mcp-url",
        http_server,
    )
    assert done.returncode == 0, done.stderr
    assert "42" in done.stdout


def test_run_with_a_broken_mcp_server(model: LoopbackServer) -> None:
    """A server command that fails is one clear error line, exit status 2."""
    done = agentkit("run", "Hi", "--base-url", model.base_url, "--mcp", "false")
    assert done.returncode == 2
    assert "MCP server 'false' stopped working: could not connect" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_batch_with_an_mcp_server(model: LoopbackServer, tmp_path: Path, workers: str) -> None:
    """`agentkit batch --mcp ...` starts the server once in each worker; every item uses it."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(f'{{"id": "q{n}", "prompt": "Add two numbers"}}\n' for n in range(6)))
    done = agentkit(
        "batch",
        str(source),
        "--out",
        str(out),
        "--model",
        "gpt-3.5-turbo-1106",
        "--base-url",
        model.base_url,
        "--concurrency",
        "3",
        "--workers",
        workers,
        "--mcp",
        f"{sys.executable} {DEMO}",
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in lines) == [f"q{n}" for n in range(6)]
    assert all(r["ok"] and r["output"] == "Here is what I found: 3" for r in lines)
