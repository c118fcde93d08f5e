"""agentkit tools as an MCP server: `agentkit mcp serve --tools agentkit_tools.weather`.

The same `Tool` objects an agent uses: their generated schemas are listed as they are, and
each call's arguments go through `tool.validate` (pydantic's lax mode, the error text written
for a model to read) before the function runs. Served over stdio (what desktop MCP clients
start) or Streamable HTTP on 127.0.0.1, with the official SDK's low-level server.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import anyio.to_thread
import mcp_types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from ._arguments import ArgumentError
from ._exceptions import ToolRetry, UsageError
from ._log import logger
from ._tools import RunContext, Tool, format_result, index_tools
from ._version import __version__

__all__ = ["build_server", "serve"]


def build_server(
    tools: Sequence[Tool[..., Any] | Callable[..., Any]], *, name: str = "agentkit"
) -> Server[Any]:
    """An MCP server (the SDK's low-level `Server`) that lists and calls `tools`.

    A tool that takes a `RunContext` gets one with `deps=None` and `model="mcp"`: there is
    no agent run behind an MCP call.

    Raises:
        UsageError: No tools, or two with the same name.
    """
    indexed = index_tools(tools)
    if not indexed:
        raise UsageError("An MCP server needs at least one tool to serve.")
    listed = [
        mcp_types.Tool(name=t.name, description=t.description, input_schema=t.parameters)
        for t in indexed.values()
    ]

    async def list_tools(ctx: Any, params: Any) -> mcp_types.ListToolsResult:
        return mcp_types.ListToolsResult(tools=listed)

    async def call_tool(ctx: Any, params: mcp_types.CallToolRequestParams) -> Any:
        tool = indexed.get(params.name)
        if tool is None:
            return _error(f"Unknown tool {params.name!r}. The tools are: {', '.join(indexed)}.")
        return await _call(tool, params.arguments or {})

    return Server(name, version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


async def _call(tool: Tool[..., Any], arguments: dict[str, Any]) -> mcp_types.CallToolResult:
    """Validate, run and format one call; every failure is an error result, never a crash."""
    try:
        values = tool.validate(arguments)
    except ArgumentError as error:
        return _error(str(error))
    context = RunContext(deps=None, model="mcp", tool_name=tool.name)
    log = logger()
    log.info("agentkit.mcp.serve.call", tool=tool.name)
    try:
        with anyio.fail_after(tool.timeout):
            if tool.is_async:
                value = await tool.invoke(values, context)
            else:
                run = functools.partial(tool.invoke, values, context)
                value = await anyio.to_thread.run_sync(run)
    except ToolRetry as retry:
        return _error(retry.message)
    except TimeoutError:
        return _error(f"Error: {tool.name} timed out after {tool.timeout:g} s.")
    except Exception as error:
        log.warning("agentkit.mcp.serve.error", tool=tool.name, error=type(error).__name__)
        detail = str(error) or "no details"
        return _error(f"Error: {tool.name} raised {type(error).__name__}: {detail}")
    text = format_result(value)
    return mcp_types.CallToolResult(content=[mcp_types.TextContent(type="text", text=text)])


def _error(text: str) -> mcp_types.CallToolResult:
    return mcp_types.CallToolResult(
        content=[mcp_types.TextContent(type="text", text=text)], is_error=True
    )


def serve(
    tools: Sequence[Tool[..., Any] | Callable[..., Any]],
    *,
    name: str = "agentkit",
    http_port: int | None = None,
) -> None:
    """Serve `tools` as an MCP server until the client leaves (stdio) or Ctrl-C (HTTP).

    Args:
        tools: `@tool` functions or plain typed functions.
        name: The server's name, as clients show it.
        http_port: Serve Streamable HTTP on `http://127.0.0.1:<port>/mcp` instead of stdio.
    """
    server = build_server(tools, name=name)
    if http_port is None:
        anyio.run(_serve_stdio, server)
        return
    import uvicorn

    app = server.streamable_http_app(host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=http_port, log_level="warning")


async def _serve_stdio(server: Server[Any]) -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
