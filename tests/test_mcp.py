"""MCP client: real SDK servers (tests/mcp_servers/demo.py) over stdio and Streamable HTTP.

Starting a server costs seconds on a loaded machine (the SDK is a large import), so one stdio
server and one HTTP server serve the read-only tests; tests that change or kill a server
start their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from agentkit import (
    Agent,
    AgentkitError,
    RunError,
    ToolResult,
    ToolsetError,
    UsageError,
    tool,
)
from agentkit._bookkeeping import check_history
from agentkit.mcp import MCPServer, MCPServerHTTP, MCPServerStdio
from agentkit.testing import Reply
from tests.helpers import Driver, free_port, mcp_over_http, scripted_agent

DEMO = str(Path(__file__).parent / "mcp_servers" / "demo.py")


def demo_stdio(**options: Any) -> MCPServerStdio:
    return MCPServerStdio(sys.executable, [DEMO], **options)


@pytest.fixture(scope="module")
def stdio_server() -> Iterator[MCPServerStdio]:
    with demo_stdio(timeout=5) as server:
        yield server


@contextlib.contextmanager
def http_demo() -> Iterator[str]:
    """The demo server over Streamable HTTP in a subprocess; yields its URL."""
    with mcp_over_http([sys.executable, DEMO], "the demo MCP server") as url:
        yield url


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    with http_demo() as url:
        yield url


def results(messages: Any) -> list[ToolResult]:
    return [m for m in messages if isinstance(m, ToolResult)]


# ---------------------------------------------------------------------- listing


def test_tools_are_listed_with_lean_schemas(stdio_server: MCPServerStdio) -> None:
    """Each MCP tool becomes a Tool whose schema has no titles and no needless keys."""
    tools = {t.name: t for t in stdio_server.get_tools()}
    assert {"add", "fail", "math_mul", "picture", "grow", "crash", "slow"} <= set(tools)
    assert tools["add"].schema == {
        "name": "add",
        "description": "Add two numbers.",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"default": 2, "type": "integer"}},
            "required": ["a"],
        },
    }
    assert tools["picture"].schema["parameters"] == {"type": "object", "properties": {}}
    assert "title" not in repr(tools["math_mul"].schema)


def test_arguments_are_validated_before_the_call(stdio_server: MCPServerStdio) -> None:
    """Bad arguments are refused by the schema, as for any raw-schema tool."""
    add = next(t for t in stdio_server.get_tools() if t.name == "add")
    with pytest.raises(ValueError, match="'a' is required"):
        add.validate("{}")


def test_prefix_renames_every_tool(stdio_server: MCPServerStdio) -> None:
    """A prefixed server offers `<prefix>_<name>` and calls the server's own name."""
    with demo_stdio(prefix="demo") as server:
        names = [t.name for t in server.get_tools()]
        assert "demo_add" in names
        assert "demo_math_mul" in names
        agent, _ = scripted_agent(
            [Reply.call("demo_math_mul", {"a": 3, "b": 4}), Reply.text("12")],
            model="gpt-3.5-turbo-1106",
            tools=[server],
        )
        result = agent.run("3 times 4?")
    assert results(result.messages)[0].content == "12.0"


def test_a_runs_tools_replace_the_agents_servers_too(stdio_server: MCPServerStdio) -> None:
    """A run's `tools=` replaces the agent's tools and servers; listing them keeps them."""

    def shout(text: str) -> str:
        """Say it louder."""
        return text.upper()

    agent, scripted = scripted_agent(
        [Reply.text("a"), Reply.text("b")],
        model="gpt-3.5-turbo-1106",
        tools=[stdio_server, shout],
    )
    assert agent.toolsets == (stdio_server,)
    agent.run("local only", tools=[shout])
    agent.run("both", tools=[*agent.tools, *agent.toolsets])
    offered = [[t["function"]["name"] for t in r["tools"]] for r in scripted.requests]
    assert offered[0] == ["shout"]
    assert {"shout", "add", "math_mul"} <= set(offered[1])
    with pytest.raises(UsageError, match="not started"):
        agent.run("a server nobody started", tools=[demo_stdio()])


# ---------------------------------------------------------------------- calls through a run


def test_a_run_calls_the_server(stdio_server: MCPServerStdio, driver: Driver) -> None:
    """The model's call goes to the server; its text content is the result."""
    agent, scripted = scripted_agent(
        [Reply.call("add", {"a": 2, "b": 40}), Reply.text("42")],
        model="gpt-3.5-turbo-1106",
        tools=[stdio_server],
    )
    result = driver.run(agent, "2 + 40?")
    assert result.output == "42"
    assert results(result.messages)[0].content == "42"
    offered = [t["function"]["name"] for t in scripted.requests[0]["tools"]]
    assert "add" in offered
    scripted.assert_complete()


def test_legacy_functions_style(stdio_server: MCPServerStdio, driver: Driver) -> None:
    """MCP tools work in the legacy `functions` style; every body validates against the spec."""
    agent, scripted = scripted_agent(
        [Reply.call("math_mul", {"a": 2, "b": 3}), Reply.text("6")],
        model="gpt-3.5-turbo",
        tools=[stdio_server],
    )
    result = driver.run(agent, "2 * 3?")
    assert agent.style == "functions"
    assert results(result.messages)[0].content == "6.0"
    functions = {f["name"]: f for f in scripted.requests[0]["functions"]}
    assert functions["math_mul"]["parameters"]["required"] == ["a", "b"]


def test_error_result_goes_back_to_the_model(stdio_server: MCPServerStdio, driver: Driver) -> None:
    """`isError` becomes a tool error the model reads, and the run goes on."""
    agent, _ = scripted_agent(
        [Reply.call("fail", {"reason": "no fuel"}), Reply.text("Sorry.")],
        model="gpt-3.5-turbo-1106",
        tools=[stdio_server],
    )
    result = driver.run(agent, "Go")
    error = results(result.messages)[0]
    assert error.is_error
    assert "cannot do it: no fuel" in error.content
    assert result.output == "Sorry."


def test_images_and_resources_are_described(stdio_server: MCPServerStdio) -> None:
    """Content the chat API cannot take in a tool result is described, never dropped."""
    agent, _ = scripted_agent(
        [Reply.call("picture"), Reply.text("ok")],
        model="gpt-3.5-turbo-1106",
        tools=[stdio_server],
    )
    content = results(agent.run("Show me").messages)[0].content
    assert content.splitlines() == [
        "Here it is.",
        "[image: image/png, 100 bytes; not shown to the model]",
        "[resource file:///notes.txt]",
        "a note",
    ]


def test_slow_call_times_out(driver: Driver) -> None:
    """A call past the server's timeout is an error result; the server stays usable."""
    with demo_stdio(timeout=0.5) as server:
        agent, _ = scripted_agent(
            [Reply.call("slow", {"seconds": 10}), Reply.call("add", {"a": 1}), Reply.text("3")],
            model="gpt-3.5-turbo-1106",
            tools=[server],
        )
        started = time.monotonic()
        result = driver.run(agent, "Wait")
    assert time.monotonic() - started < 8
    slow, add = results(result.messages)
    assert slow.is_error
    assert "timed out after 0.5 s" in slow.content
    assert add.content == "3"


# ---------------------------------------------------------------------- lifecycle


def test_not_started_is_a_clear_error() -> None:
    """Running an agent whose server was never started says how to start it."""
    agent, _ = scripted_agent([], model="gpt-3.5-turbo-1106", tools=[demo_stdio()])
    with pytest.raises(UsageError, match=r"is not started.*with agent"):
        agent.run("hi")


def test_agent_with_block_starts_and_stops_the_server(driver: Driver) -> None:
    """`with agent` / `async with agent` starts the server and stops it at the end."""
    server = demo_stdio()
    agent, _ = scripted_agent(
        [Reply.call("add", {"a": 1, "b": 1}), Reply.text("2")],
        model="gpt-3.5-turbo-1106",
        tools=[server],
    )
    if driver.kind == "sync":
        with agent:
            with agent:  # a nested block stops nothing early
                pass
            assert agent.run("1 + 1?").output == "2"
    else:

        async def main() -> str:
            async with agent:
                return (await agent.arun("1 + 1?")).output

        assert asyncio.run(main()) == "2"
    with pytest.raises(UsageError, match="not started"):
        server.get_tools()


def test_name_clash_is_refused_at_start(stdio_server: MCPServerStdio) -> None:
    """A local tool and a server tool with one name: a clear error when the agent starts."""

    @tool
    def add(a: int, b: int) -> int:
        """Add locally."""
        return a + b

    agent = Agent("gpt-3.5-turbo-1106", tools=[add, stdio_server], api_key="sk-test")
    with pytest.raises(UsageError, match=r"Two tools are named 'add'.*prefix="), agent:
        pass


def test_bad_command_is_a_toolset_error() -> None:
    """A server that cannot start raises ToolsetError naming it."""
    server = MCPServerStdio(sys.executable, ["-c", "import sys; sys.exit(2)"], timeout=10)
    with pytest.raises(ToolsetError, match="could not connect"), server:
        pass
    with pytest.raises(UsageError):
        MCPServerStdio("")


def test_server_crash_ends_the_run_with_its_messages(driver: Driver) -> None:
    """A server that dies mid-run ends it with ToolsetError; the chat so far is a valid history."""
    with demo_stdio() as server:
        agent, scripted = scripted_agent(
            [Reply.call("crash"), Reply.text("never sent")],
            model="gpt-3.5-turbo-1106",
            tools=[server],
        )
        with pytest.raises(ToolsetError) as caught:
            driver.run(agent, "Crash it")
        error = caught.value
        assert isinstance(error, RunError)
        assert isinstance(error, AgentkitError)
        assert "connection was lost" in str(error)
        assert [m.name for m in results(error.messages)] == ["crash"]
        assert results(error.messages)[0].is_error
        check_history(error.messages)  # every call has its result: the user can go on
        assert len(scripted.requests) == 1
        with pytest.raises(ToolsetError):  # the next run fails at once
            agent.run("again")


def test_list_changed_is_seen_by_the_next_run(driver: Driver) -> None:
    """After `tools/list_changed` the tools are listed again; the next run offers the new one."""
    with demo_stdio() as server:
        agent, scripted = scripted_agent(
            [Reply.call("grow"), Reply.text("grown"), Reply.call("extra"), Reply.text("done")],
            model="gpt-3.5-turbo-1106",
            tools=[server],
        )
        driver.run(agent, "Grow")
        deadline = time.monotonic() + 10
        while "extra" not in [t.name for t in server.get_tools()]:
            assert time.monotonic() < deadline, "the tool list was not refreshed"
            time.sleep(0.05)
        result = driver.run(agent, "Use the new tool")
    assert results(result.messages)[0].content == "extra!"
    offered = [t["function"]["name"] for t in scripted.requests[2]["tools"]]
    assert "extra" in offered


def test_one_server_serves_two_agents(stdio_server: MCPServerStdio) -> None:
    """Entering is re-entrant: an agent's `with` does not stop a server started before it."""
    agent = Agent("gpt-3.5-turbo-1106", tools=[stdio_server], api_key="sk-test")
    other = Agent("gpt-3.5-turbo-1106", tools=[stdio_server], api_key="sk-test")
    with agent, other:
        assert stdio_server.get_tools()
    assert stdio_server.get_tools()


# ---------------------------------------------------------------------- Streamable HTTP


def test_http_list_and_call(http_url: str, driver: Driver) -> None:
    """Over Streamable HTTP: list on start, call, headers sent with each request."""
    server = MCPServerHTTP(http_url, headers={"Authorization": "Bearer mcp-token"})
    agent, _ = scripted_agent(
        [
            Reply.parallel([("add", {"a": 5}), ("whoami", {})]),
            Reply.text("7, and I am known"),
        ],
        model="gpt-3.5-turbo-1106",
        tools=[server],
    )
    if driver.kind == "sync":
        with agent:
            result = agent.run("5 + 2, and who am I?")
    else:

        async def main() -> Any:
            async with agent:
                return await agent.arun("5 + 2, and who am I?")

        result = asyncio.run(main())
    assert [r.content for r in results(result.messages)] == ["7", "Bearer mcp-token"]
    assert "mcp-token" not in server.name


def test_http_error_result_and_crash() -> None:
    """Over HTTP too: isError goes back to the model; a server that dies ends the run."""
    with http_demo() as url:
        agent, _ = scripted_agent(
            [Reply.call("fail", {"reason": "no fuel"}), Reply.call("crash"), Reply.text("-")],
            model="gpt-3.5-turbo-1106",
            tools=[MCPServerHTTP(url, timeout=10)],
        )

        async def main() -> None:
            async with agent:
                await agent.arun("Go")

        with pytest.raises(ToolsetError, match="connection was lost") as caught:
            asyncio.run(main())
    failed, crashed = results(caught.value.messages)
    assert failed.is_error
    assert "cannot do it: no fuel" in failed.content
    assert crashed.is_error
    check_history(caught.value.messages)


def test_http_unreachable_is_a_toolset_error() -> None:
    """A URL where nothing listens fails at start with ToolsetError."""
    server = MCPServerHTTP(f"http://127.0.0.1:{free_port()}/mcp", timeout=5)
    with pytest.raises(ToolsetError, match="could not connect"), server:
        pass
    with pytest.raises(UsageError, match="http"):
        MCPServerHTTP("ftp://example.org")


def test_servers_are_toolsets() -> None:
    """Both server kinds satisfy the Toolset protocol the agent looks for."""
    from agentkit._toolset import Toolset

    assert isinstance(demo_stdio(), Toolset)
    assert isinstance(MCPServerHTTP("http://127.0.0.1:1/mcp"), Toolset)
    assert issubclass(MCPServerStdio, MCPServer)


# ---------------------------------------------------------------------- a hostile server


def test_hostile_server_tools_are_skipped_or_repaired() -> None:
    """Tools whose schemas cannot work are skipped with a warning, never a crash; odd
    results are described."""
    hostile = MCPServerStdio(sys.executable, [str(Path(DEMO).parent / "hostile.py")])
    with hostile:
        names = sorted(t.name for t in hostile.get_tools())
        agent, _ = scripted_agent(
            [Reply.parallel([("odd_results", {}), ("structured", {})]), Reply.text("ok")],
            model="gpt-3.5-turbo-1106",
            tools=[hostile],
        )
        result = agent.run("Go")
    # 'a.b' becomes 'a_b'; the real 'a_b' then clashes and is skipped.
    assert names == ["a_b", "odd_results", "structured"]
    odd, structured = results(result.messages)
    assert odd.content.splitlines() == [
        "[audio: audio/wav, 3 bytes; not shown to the model]",
        "[image: image/png, undecodable base64; not shown to the model]",
        "[resource link file:///a.txt (a.txt)]",
        "[resource file:///b.bin: application/octet-stream, 3 bytes]",
    ]
    assert structured.content == '{"temp":21}'


def test_mcp_requests_run_in_the_tool_span(
    stdio_server: MCPServerStdio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tracing on, the MCP request runs in the caller's trace context (the portal's
    loop gets it), so the SDK's own span of the request nests under execute_tool."""
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentkit import mcp, otel

    seen: list[Any] = []
    original = mcp._Session._call

    async def spy(self: Any, client: Any, name: str, arguments: dict[str, Any]) -> str:
        seen.append(trace.get_current_span().get_span_context())
        return await original(self, client, name, arguments)

    monkeypatch.setattr(mcp._Session, "_call", spy)
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    try:
        agent, _ = scripted_agent(
            [Reply.call("add", {"a": 1}), Reply.text("3")],
            model="gpt-3.5-turbo-1106",
            tools=[stdio_server],
        )
        asyncio.run(agent.arun("1 + 2?"))
    finally:
        otel.uninstrument()
    (tool_span,) = [s for s in exporter.get_finished_spans() if s.name == "execute_tool add"]
    assert seen == [tool_span.context]
