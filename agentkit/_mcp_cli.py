"""The command line's MCP parts: `--mcp` / `--mcp-url` for agents, and `agentkit mcp serve`.

`cli.py` registers these with a few lines; the MCP SDK is imported only when one is used, so
`agentkit run` without them starts as fast as before.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._toolset import Toolset

__all__ = ["add_agent_options", "register", "toolsets"]


def add_agent_options(parser: argparse.ArgumentParser) -> None:
    """`--mcp "command args"` and `--mcp-url URL`, each repeatable."""
    parser.add_argument(
        "--mcp",
        action="append",
        default=[],
        metavar="COMMAND",
        help='an MCP server to start and use the tools of, e.g. "npx -y @scope/server" '
        "(repeatable)",
    )
    parser.add_argument(
        "--mcp-url",
        action="append",
        default=[],
        metavar="URL",
        help="an MCP server to use over Streamable HTTP, e.g. http://127.0.0.1:8000/mcp "
        "(repeatable)",
    )


def toolsets(args: argparse.Namespace) -> list[Toolset]:
    """The MCP servers the options name (not started: the agent's `with` starts them).

    Two tools with one name are refused when the agent starts, naming both servers.
    """
    commands: list[str] = getattr(args, "mcp", []) or []
    urls: list[str] = getattr(args, "mcp_url", []) or []
    if not commands and not urls:
        return []
    from .mcp import MCPServerHTTP, MCPServerStdio

    servers: list[Toolset] = [MCPServerStdio(command) for command in commands]
    servers += [MCPServerHTTP(url) for url in urls]
    return servers


def register(commands: Any) -> None:
    """Add `agentkit mcp serve` to the command's subparsers."""
    mcp = commands.add_parser("mcp", help="Model Context Protocol: serve tools to MCP clients")
    actions = mcp.add_subparsers(dest="mcp_command", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve",
        help="serve @tool functions as an MCP server (stdio, or HTTP on 127.0.0.1)",
        description="Serve @tool functions as an MCP server: over stdio for desktop clients "
        "(the default), or Streamable HTTP at http://127.0.0.1:PORT/mcp.",
    )
    serve.add_argument(
        "--tools",
        action="append",
        required=True,
        metavar="SPEC",
        help="module, module:name or path/to/file.py[:name] (repeatable), "
        "e.g. agentkit_tools.weather",
    )
    serve.add_argument("--http", type=int, metavar="PORT", help="serve HTTP on 127.0.0.1:PORT")
    serve.add_argument("--name", default="agentkit", help="the name clients show")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from ._exceptions import UsageError
    from ._toolspec import Resources, load_specs

    if args.http is not None and not 0 < args.http < 65536:
        raise UsageError(f"--http takes a port number from 1 to 65535, not {args.http}.")
    tools, made = load_specs(args.tools)
    from .mcp import serve

    with Resources("the tools files' agents", made):  # started while served, then closed
        serve(tools, name=args.name, http_port=args.http)
    return 0
