"""Load tools from a spec string, as the command line's `--tools` takes them.

Accepted forms:

- `package.module`: every `Tool` defined at the module's top level (or the module's
  `__tools__` list, when it has one, in that order);
- `package.module:name`: one tool (a plain typed function is made a tool);
- `path/to/file.py` or `path/to/file.py:name`: the same, from a file.

A tools file may make what a tool needs at its top level: an agent that `as_tool` turns into
a tool, a `ChatClient` agents share, an MCP server. `load_specs` returns them with the tools;
the command gives them to its agent in a `Resources` toolset that offers no tools, so the
agent starts them when it is started itself and stops them (servers stopped, HTTP pools
closed) when it stops, however the command ends.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from ._agent import Agent
from ._client import ChatClient
from ._exceptions import UsageError
from ._tools import Tool, tool

__all__ = ["Resources", "load_specs", "load_tools"]


def _import_file(path: Path) -> ModuleType:
    name = f"agentkit_user_tools_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"Cannot load tools from {str(path)!r}: not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the file's own code failed: say where, in one line
        del sys.modules[name]
        raise UsageError(
            f"Cannot load tools from {str(path)!r}: {_failure(error, path)}. "
            f"`python {path}` shows the whole traceback."
        ) from error
    return module


def _failure(error: Exception, path: Path) -> str:
    """`line N: ErrorType: message`, N the file's last line that took part in the error."""
    if isinstance(error, SyntaxError):
        line, text = error.lineno, error.msg
    else:
        file = path.resolve()
        frames = traceback.extract_tb(error.__traceback__)
        ours = [f for f in frames if Path(f.filename).resolve() == file]
        line, text = (ours[-1].lineno if ours else None), str(error)
    where = f"line {line}: " if line is not None else ""
    return f"{where}{type(error).__name__}: {' '.join(text.split())}"


def _import(target: str) -> ModuleType:
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise UsageError(f"Cannot load tools from {target!r}: no such file.")
        return _import_file(path)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        raise UsageError(
            f"Cannot load tools from {target!r}: no module named {error.name!r}. Give a "
            "module (package.module), a module and a name (package.module:name) or a file."
        ) from error


def load_specs(specs: Sequence[str]) -> tuple[list[Tool[..., Any]], list[object]]:
    """The tools the specs name, and the agents, clients and servers their modules made.

    Raises:
        UsageError: As `load_tools`.
    """
    tools: list[Tool[..., Any]] = []
    owned: dict[int, object] = {}  # by identity: two specs may name one module
    for spec in specs:
        module, named = _load(spec)
        tools += named
        owned.update((id(value), value) for value in vars(module).values() if _owned(value))
    return tools, list(owned.values())


def load_tools(spec: str) -> list[Tool[..., Any]]:
    """The tools a spec names.

    Raises:
        UsageError: The module, file or name does not exist, or names no tool.

    Examples:
        A plain function becomes a tool only if it is fully annotated:

        >>> load_tools("json:dumps")
        Traceback (most recent call last):
        ...
        agentkit._exceptions.UsageError: dumps(), parameter 'obj' has no type annotation; ...
    """
    return _load(spec)[1]


def _load(spec: str) -> tuple[ModuleType, list[Tool[..., Any]]]:
    target, colon, name = spec.rpartition(":")
    if not colon or not name.isidentifier():  # no name given (or a Windows drive's colon)
        target, name = spec, ""
    module = _import(target)
    if name:
        value = getattr(module, name, None)
        if value is None:
            raise UsageError(f"Cannot load tools from {spec!r}: {target} has no {name!r}.")
        if isinstance(value, Tool):
            return module, [value]
        if callable(value):
            return module, [tool(value)]
        raise UsageError(f"Cannot load tools from {spec!r}: {name!r} is not a function.")
    listed = getattr(module, "__tools__", None)
    tools = (
        list(listed)
        if listed is not None
        else [value for value in vars(module).values() if isinstance(value, Tool)]
    )
    if not tools:
        raise UsageError(
            f"Cannot load tools from {spec!r}: the module defines no @tool functions. "
            f"Name one with {target}:function_name."
        )
    return module, tools


def _owned(value: object) -> bool:
    """Whether a module's top-level value is an agent, a client or a toolset (a server)."""
    if isinstance(value, Agent | ChatClient):
        return True
    kind = type(value)  # looked up on the class: no property of a user's object runs
    return all(
        hasattr(kind, name)
        for name in ("name", "get_tools", "__enter__", "__exit__", "__aenter__", "__aexit__")
    )


def _entering_order(value: object) -> int:
    """Clients first (and closed last), then servers, then the agents that use them."""
    return 0 if isinstance(value, ChatClient) else 2 if isinstance(value, Agent) else 1


class Resources:
    """Agents, clients and servers, as a toolset that offers no tools.

    Entering it enters each of them (an agent starts its own servers); leaving it leaves
    them in the opposite order: agents first (their HTTP pools closed), then servers, then
    clients. Like every toolset it can be entered again while entered.
    """

    def __init__(self, name: str, values: Sequence[object]) -> None:
        self._name = name
        self._values = sorted(values, key=_entering_order)
        self._started: list[contextlib.ExitStack] = []
        self._astarted: list[contextlib.AsyncExitStack] = []

    @property
    def name(self) -> str:
        """Who made them, for messages."""
        return self._name

    def get_tools(self) -> Sequence[Tool[..., Any]]:
        """None: they serve the tools, they are none."""
        return ()

    def __enter__(self) -> Resources:
        with contextlib.ExitStack() as stack:
            for value in self._values:
                stack.enter_context(value)  # type: ignore[arg-type]
            self._started.append(stack.pop_all())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._started:
            self._started.pop().close()

    async def __aenter__(self) -> Resources:
        async with contextlib.AsyncExitStack() as stack:
            for value in self._values:
                await stack.enter_async_context(value)  # type: ignore[arg-type]
            self._astarted.append(stack.pop_all())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._astarted:
            await self._astarted.pop().aclose()
