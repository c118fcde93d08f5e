"""An MCP server that lists tools agentkit must refuse or repair, and odd results.

Written with the SDK's low-level server, so the schemas and results are exactly as given.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

OBJECT: dict[str, Any] = {"type": "object", "properties": {}}

TOOLS = [
    mcp_types.Tool(
        name="remote_ref",
        input_schema={
            "type": "object",
            "properties": {"a": {"$ref": "http://127.0.0.1:9/evil.json"}},
        },
    ),
    mcp_types.Tool(
        name="dangling_ref",
        input_schema={"type": "object", "properties": {"a": {"$ref": "#/$defs/nothing"}}},
    ),
    mcp_types.Tool(
        name="bad_schema",
        input_schema={"type": "object", "properties": {"a": {"type": "no such type"}}},
    ),
    mcp_types.Tool(name="x" * 80, input_schema=OBJECT),
    mcp_types.Tool(name="a.b", input_schema=OBJECT),
    mcp_types.Tool(name="a_b", input_schema=OBJECT),
    mcp_types.Tool(name="odd_results", description="Odd content.", input_schema=OBJECT),
    mcp_types.Tool(name="structured", input_schema=OBJECT),
]


async def list_tools(ctx: Any, params: Any) -> mcp_types.ListToolsResult:
    return mcp_types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx: Any, params: mcp_types.CallToolRequestParams) -> Any:
    if params.name == "structured":
        return mcp_types.CallToolResult(content=[], structured_content={"temp": 21})
    return mcp_types.CallToolResult(
        content=[
            mcp_types.AudioContent(type="audio", data="AAAA", mime_type="audio/wav"),
            mcp_types.ImageContent(type="image", data="not base64!", mime_type="image/png"),
            mcp_types.ResourceLink(type="resource_link", uri="file:///a.txt", name="a.txt"),
            mcp_types.EmbeddedResource(
                type="resource",
                resource=mcp_types.BlobResourceContents(
                    uri="file:///b.bin", blob="AAAA", mime_type="application/octet-stream"
                ),
            ),
        ]
    )


server = Server("hostile", on_list_tools=list_tools, on_call_tool=call_tool)


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
