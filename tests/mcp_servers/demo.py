"""A small MCP server written with the official SDK, for agentkit's MCP client tests.

`python demo.py` serves over stdio; `python demo.py --http PORT` serves Streamable HTTP on
127.0.0.1:PORT/mcp.
"""

from __future__ import annotations

import asyncio
import base64
import os
import sys

import mcp_types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("demo")


@server.tool()
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Always fails, with this reason."""
    raise ToolError(f"cannot do it: {reason}")


@server.tool(name="math.mul")
def mul(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


@server.tool()
def picture() -> list[mcp_types.ContentBlock]:
    """A picture and a resource."""
    png = base64.b64encode(b"\x89PNG" + bytes(96)).decode()
    return [
        mcp_types.TextContent(type="text", text="Here it is."),
        mcp_types.ImageContent(type="image", data=png, mime_type="image/png"),
        mcp_types.EmbeddedResource(
            type="resource",
            resource=mcp_types.TextResourceContents(uri="file:///notes.txt", text="a note"),
        ),
    ]


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool 'extra' and tell the client its list changed."""

    def extra() -> str:
        """Say extra."""
        return "extra!"

    server.add_tool(extra)
    await ctx.notify_tools_changed()  # 2026-era clients listen for this
    await ctx.session.send_tool_list_changed()  # older clients get it unasked
    return "grown"


@server.tool()
def whoami(ctx: Context) -> str:
    """Say which Authorization header came with the request (over HTTP)."""
    request = ctx.request_context.request
    headers = getattr(request, "headers", None)
    return (headers or {}).get("authorization", "nobody")


@server.tool()
def crash() -> str:
    """End the server's process at once."""
    os._exit(3)


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "done"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        import uvicorn

        uvicorn.run(
            server.streamable_http_app(),
            host="127.0.0.1",
            port=int(sys.argv[2]),
            log_level="warning",
        )
    else:
        server.run()
