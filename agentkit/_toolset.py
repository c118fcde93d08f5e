"""`Toolset`: tools that come from elsewhere (an MCP server), known only once connected.

An agent takes toolsets next to plain tools: `Agent(tools=[add, server])`. It starts them in
its `with` / `async with` block and asks each for its current tools when a run starts, so a
server that changes its list is seen by the next run. `merge_tools` is the one place where
local and toolset tools meet, and where a clash of names is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._exceptions import UsageError

if TYPE_CHECKING:
    from ._tools import Tool

__all__ = ["Toolset", "merge_tools"]


@runtime_checkable
class Toolset(Protocol):
    """A source of tools with a lifetime: listed once started, stopped when done.

    `agentkit.mcp.MCPServerStdio` and `MCPServerHTTP` are toolsets. The agent enters each
    toolset when it is entered itself (`with agent:` or `async with agent:`); entering must be
    re-entrant, so one toolset can serve several agents.
    """

    @property
    def name(self) -> str:
        """A short name for messages (the server's command or URL)."""
        ...

    def get_tools(self) -> Sequence[Tool[..., Any]]:
        """The tools offered now.

        Raises:
            UsageError: The toolset is not started.
            ToolsetError: The toolset stopped working (its server died).
        """
        ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any: ...


def merge_tools(
    local: Mapping[str, Tool[..., Any]], toolsets: Sequence[Toolset]
) -> dict[str, Tool[..., Any]]:
    """The agent's own tools plus each toolset's current ones, by name.

    Raises:
        UsageError: Two tools would have the same name; the message says which toolsets and
            how to tell them apart.
    """
    merged = dict(local)
    owner: dict[str, str] = dict.fromkeys(local, "the agent's own tools")
    for toolset in toolsets:
        for tool in toolset.get_tools():
            clash = owner.get(tool.name)
            if clash is not None:
                raise UsageError(
                    f"Two tools are named {tool.name!r}: one from {clash} and one from "
                    f"{toolset.name}. Give the server a prefix (prefix='...') so its tools are "
                    "named '<prefix>_<tool>', or rename the local tool with @tool(name=...)."
                )
            owner[tool.name] = toolset.name
            merged[tool.name] = tool
    return merged
