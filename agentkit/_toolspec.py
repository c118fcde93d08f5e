"""Load tools from a spec string, as the command line's `--tools` takes them.

Accepted forms:

- `package.module`: every `Tool` defined at the module's top level (or the module's
  `__tools__` list, when it has one, in that order);
- `package.module:name`: one tool (a plain typed function is made a tool);
- `path/to/file.py` or `path/to/file.py:name`: the same, from a file.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ._exceptions import UsageError
from ._tools import Tool, tool

__all__ = ["load_tools"]


def _import_file(path: Path) -> ModuleType:
    name = f"agentkit_user_tools_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"Cannot load tools from {str(path)!r}: not a Python file.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
    target, colon, name = spec.rpartition(":")
    if not colon or not name.isidentifier():  # no name given (or a Windows drive's colon)
        target, name = spec, ""
    module = _import(target)
    if name:
        value = getattr(module, name, None)
        if value is None:
            raise UsageError(f"Cannot load tools from {spec!r}: {target} has no {name!r}.")
        if isinstance(value, Tool):
            return [value]
        if callable(value):
            return [tool(value)]
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
    return tools
