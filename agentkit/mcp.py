"""Model Context Protocol: any MCP server's tools in an agent, and agentkit tools as a server.

Needs the `mcp` extra (`pip install "goapi-agentkit[mcp]"`), the official MCP Python SDK.

```python
from agentkit import Agent
from agentkit.mcp import MCPServerStdio

files = MCPServerStdio("npx", ["-y", "@modelcontextprotocol/server-filesystem", "."])
with Agent("gpt-4-1106-preview", tools=[files]) as agent:
    print(agent.run("Which files are here?").output)
```

A server object is a *toolset*: the agent starts it in its `with` / `async with` block,
lists its tools, and turns each into an agentkit `Tool` through the same path as raw-schema
tools (`Tool.from_schema`: lean schema, arguments checked with jsonschema before the call).

How it works: the MCP session lives on an event loop of its own, in a background thread
(an anyio blocking portal). `run` (sync, even inside a notebook's running loop), `arun` from
any event loop, and batch workers all reach the same session, and the session's own task
structure never crosses the caller's.

```
MCPServerStdio / MCPServerHTTP   the connection: start, list, call, re-list, stop
  └── _Session                   what runs on the portal's loop (mcp.Client, the listener)
_result_text                     CallToolResult -> the text the model reads
serve (in _mcp_serve)            agentkit tools as an MCP server: `agentkit mcp serve`
```
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import re
import shlex
import sys
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._exceptions import ToolRetry, ToolsetError, UsageError
from ._log import logger
from ._tools import Tool

try:
    import anyio
    import anyio.from_thread
    import httpx2  # the SDK's HTTP client (the `httpx` successor), not agentkit's transport
    import mcp_types
    from mcp import Client, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError
    from opentelemetry import context as otel_context  # the SDK's own dependency
except ImportError as exc:  # pragma: no cover - the extra is installed in CI
    raise ImportError("agentkit.mcp needs the MCP SDK: pip install 'goapi-agentkit[mcp]'") from exc

if TYPE_CHECKING:
    from mcp.client.session import IncomingMessage

__all__ = ["MCPServer", "MCPServerHTTP", "MCPServerStdio", "serve"]

#: The most pages of `tools/list` read at once: a server that pages forever cannot hang us.
MAX_LIST_PAGES = 100

#: The SDK's own choice: 30 s to connect or write, 300 s between reads of a held-open stream.
_HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)

_BAD_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]")


class MCPServer:
    """An MCP server whose tools an agent can call: the common part of both transports.

    Use `MCPServerStdio` (a command) or `MCPServerHTTP` (a URL). Start it with `with` /
    `async with` on the agent that uses it, or on the server itself; entering is re-entrant,
    so one server can serve several agents.

    Attributes:
        prefix: When set, every tool is offered as `<prefix>_<name>`: tell apart servers whose
            tools share names.
        timeout: Seconds one tool call (and each list request) may take; `None`: no limit.
    """

    def __init__(self, *, prefix: str | None = None, timeout: float | None = 60.0) -> None:
        if prefix is not None and not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", prefix):
            raise UsageError(
                f"MCP prefix {prefix!r} must be 1 to 40 letters, digits, '_' or '-'; it is put "
                "in front of each tool name."
            )
        if timeout is not None and not timeout > 0:
            raise UsageError(f"MCP timeout must be a number of seconds above 0, not {timeout!r}.")
        self.prefix = prefix
        self.timeout = timeout
        self._lock = threading.Lock()
        self._users = 0
        self._portal_cm: contextlib.AbstractContextManager[anyio.from_thread.BlockingPortal]
        self._portal: anyio.from_thread.BlockingPortal | None = None
        self._session: contextlib.AbstractContextManager[_Session] | None = None
        self._live: _Session | None = None

    # ------------------------------------------------------------------ what subclasses say

    @property
    def name(self) -> str:
        """How messages name this server."""
        raise NotImplementedError

    def _transport(self) -> Any:
        """The SDK transport (an async context manager of two streams)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect (start the process or open the session) and list the tools; blocks.

        Raises:
            ToolsetError: The server could not be started or did not answer.
        """
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
            try:
                self._open()
            except BaseException:
                self._users = 0
                self._close()
                raise

    def stop(self) -> None:
        """Close the session (and end the server's process) once the last user stops."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                self._close()

    def __enter__(self) -> MCPServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> MCPServer:
        await asyncio.to_thread(self.start)  # the caller's loop goes on while we connect
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _open(self) -> None:
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        session = _Session(self)
        self._session = self._portal.wrap_async_context_manager(session.running())
        try:
            self._live = self._session.__enter__()
        except ToolsetError:
            raise
        except Exception as exc:
            raise ToolsetError(self.name, f"could not connect: {_describe(exc)}") from exc
        logger().info("agentkit.mcp.start", server=self.name, tools=len(self._live.tools))

    def _close(self) -> None:
        session, portal = self._session, self._portal
        self._session = self._live = self._portal = None
        try:
            if session is not None:
                with contextlib.suppress(Exception):  # a dead server cannot be closed cleanly
                    session.__exit__(None, None, None)
        finally:
            if portal is not None:
                self._portal_cm.__exit__(None, None, None)
                logger().info("agentkit.mcp.stop", server=self.name)

    # ------------------------------------------------------------------ tools

    def get_tools(self) -> Sequence[Tool[..., Any]]:
        """The server's tools as agentkit `Tool`s, as last listed.

        The list is fetched again when the server says it changed (`tools/list_changed`); an
        agent uses the list current when each run starts.

        Raises:
            UsageError: The server is not started.
            ToolsetError: The server died.
        """
        live = self._live
        if live is None:
            raise UsageError(
                f"{self.name} is not started. Use the agent (or the server) as a context "
                "manager: `with agent:` / `async with agent:` starts it and stops it after."
            )
        if live.dead is not None:
            raise ToolsetError(self.name, live.dead)
        return live.tools

    async def _call(self, name: str, arguments: dict[str, Any]) -> str:
        """Call tool `name` on the portal's loop, from any thread or event loop."""
        portal, live = self._portal, self._live
        if portal is None or live is None:
            raise ToolsetError(self.name, "the server was stopped while the run was going on")
        # The caller's trace context goes along, so the SDK's own span of the request nests
        # under the agent's `execute_tool` span (and reaches the server in `_meta`).
        future = portal.start_task_soon(live.call, name, arguments, otel_context.get_current())
        return await asyncio.wrap_future(future)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class MCPServerStdio(MCPServer):
    """An MCP server started as a subprocess, spoken to over its stdin and stdout.

    Args:
        command: The program, e.g. `"npx"` or `"python"`; or a whole command line
            (`"python -m my_server"`) when `args` is not given.
        args: Its arguments.
        env: Environment variables to set for it, over a safe default set (the SDK's:
            `PATH`, `HOME`, ...; never `GOAPI_KEY` unless you pass it).
        cwd: Its working directory.
        prefix: Offer each tool as `<prefix>_<name>`.
        timeout: Seconds one tool call may take (`None`: no limit).

    Examples:
        >>> server = MCPServerStdio("python -m my_tools", prefix="mine")
        >>> server.name
        "MCP server 'python -m my_tools'"
    """

    def __init__(
        self,
        command: str,
        args: Sequence[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        prefix: str | None = None,
        timeout: float | None = 60.0,
    ) -> None:
        super().__init__(prefix=prefix, timeout=timeout)
        if args is None:
            parts = shlex.split(command)
            if not parts:
                raise UsageError("MCPServerStdio needs a command to run, not an empty string.")
            command, args = parts[0], parts[1:]
        self.command = command
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd

    @property
    def name(self) -> str:
        """`MCP server '<command line>'`."""
        return f"MCP server {shlex.join([self.command, *self.args])!r}"

    def _transport(self) -> Any:
        params = StdioServerParameters(
            command=self.command, args=self.args, env=self.env, cwd=self.cwd
        )
        return stdio_client(params, errlog=_errlog())


def _errlog() -> Any:
    """Where a stdio server's stderr goes: ours, if it is a file.

    Else the process's own standard error (a batch worker's `sys.stderr` forwards lines to
    the parent and has no file descriptor to give a subprocess).
    """
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return sys.__stderr__
    return sys.stderr


class MCPServerHTTP(MCPServer):
    """An MCP server reached over Streamable HTTP.

    Args:
        url: The endpoint, e.g. `"http://127.0.0.1:8000/mcp"`.
        headers: Headers sent with every request (e.g. `Authorization`); never logged.
        prefix: Offer each tool as `<prefix>_<name>`.
        timeout: Seconds one tool call may take (`None`: no limit).
    """

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        prefix: str | None = None,
        timeout: float | None = 60.0,
    ) -> None:
        super().__init__(prefix=prefix, timeout=timeout)
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"MCP URL {url!r} must start with http:// or https://.")
        self.url = url
        self.headers = dict(headers or {})

    @property
    def name(self) -> str:
        """`MCP server '<url>'`, without a query string or a password (they may hold one)."""
        url = urllib.parse.urlsplit(self.url)
        where = url.hostname or ""
        if url.port is not None:
            where += f":{url.port}"
        return f"MCP server {f'{url.scheme}://{where}{url.path}'!r}"

    @contextlib.asynccontextmanager
    async def _transport(self) -> Any:
        # The SDK leaves a client it was given open: this one is ours to close.
        async with (
            httpx2.AsyncClient(headers=self.headers, timeout=_HTTP_TIMEOUT) as http,
            streamable_http_client(self.url, http_client=http) as streams,
        ):
            yield streams


# ---------------------------------------------------------------------- on the portal's loop


class _Session:
    """The MCP client session and its listener; every method runs on the portal's loop."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self.tools: tuple[Tool[..., Any], ...] = ()
        self.dead: str | None = None
        self._client: Client | None = None
        self._names: dict[str, str] = {}  # agentkit name -> the server's name
        self._tasks: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        server = self.server
        client = Client(
            server._transport(),
            message_handler=self._on_message,
            read_timeout_seconds=server.timeout,
            cache=None,  # a list must be fresh when the server says it changed
        )
        async with client, anyio.create_task_group() as group:
            self._client = client
            await self.relist()
            tools = client.server_capabilities.tools
            if tools is not None and tools.list_changed:
                # On 2026-era connections change notices come on a `listen` stream (they reach
                # `_on_message` too); older servers send them unasked.
                group.start_soon(self._listen)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()
                for task in self._tasks:
                    task.cancel()

    async def _listen(self) -> None:
        client = self._client
        assert client is not None  # noqa: S101  (set before the listener starts)
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _ in subscription:
                    pass  # `_on_message` saw the notice already and re-lists
        except Exception as exc:  # not a 2026 connection, or the stream dropped
            logger().debug("agentkit.mcp.listen_end", server=self.server.name, reason=repr(exc))

    async def _on_message(self, message: IncomingMessage) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            task = asyncio.get_running_loop().create_task(self._relist_quietly())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif isinstance(message, Exception):
            logger().debug(
                "agentkit.mcp.message_error", server=self.server.name, error=repr(message)
            )

    async def _relist_quietly(self) -> None:
        try:
            await self.relist()
        except Exception as exc:
            self._broken(exc)

    async def relist(self) -> None:
        """Fetch every page of the tool list and replace `tools` in one step."""
        client = self._client
        assert client is not None  # noqa: S101
        listed: list[mcp_types.Tool] = []
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            listed.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        tools: list[Tool[..., Any]] = []
        names: dict[str, str] = {}
        for listed_tool in listed:
            converted = self._convert(listed_tool, names)
            if converted is not None:
                tools.append(converted)
                names[converted.name] = listed_tool.name
        self.tools, self._names = tuple(tools), names
        logger().info("agentkit.mcp.tools", server=self.server.name, tools=[t.name for t in tools])

    def _convert(self, listed: mcp_types.Tool, taken: Mapping[str, str]) -> Tool[..., Any] | None:
        """The listed tool as an agentkit `Tool`, or `None` (logged) if it cannot be offered."""
        server = self.server
        name = _BAD_NAME_CHARS.sub("_", listed.name)
        if server.prefix:
            name = f"{server.prefix}_{name}"
        skip = None
        if name in taken:
            skip = f"its name becomes {name!r}, like the tool {taken[name]!r}"
        else:
            try:
                parameters = lean_input_schema(listed.input_schema)
                _check_refs(parameters)
                tool = Tool.from_schema(
                    name=name,
                    parameters=parameters,
                    function=_Caller(server, listed.name),
                    description=listed.description or None,
                    timeout=server.timeout,
                )
            except UsageError as exc:
                skip = str(exc)
            except Exception as exc:  # a hostile schema (too deep, ...): skip the tool
                skip = f"its schema cannot be used ({type(exc).__name__})"
            else:
                return tool
        logger().warning(
            "agentkit.mcp.tool_skipped", server=server.name, tool=listed.name, reason=skip
        )
        return None

    async def call(self, name: str, arguments: dict[str, Any], trace: Any = None) -> str:
        """Call a tool; its text, or `ToolRetry` (the model reads why), or `ToolsetError`."""
        client = self._client
        if client is None or self.dead is not None:
            raise ToolsetError(self.server.name, self.dead or "not connected")
        token = otel_context.attach(trace) if trace is not None else None
        try:
            return await self._call(client, name, arguments)
        finally:
            if token is not None:
                otel_context.detach(token)

    async def _call(self, client: Client, name: str, arguments: dict[str, Any]) -> str:
        try:
            result = await client.call_tool(
                self._names.get(name, name), arguments, read_timeout_seconds=self.server.timeout
            )
        except MCPError as exc:
            if exc.code == mcp_types.REQUEST_TIMEOUT:
                raise TimeoutError(f"no answer within {self.server.timeout:g} s") from exc
            if exc.code == mcp_types.CONNECTION_CLOSED:
                raise self._broken(exc) from exc
            # The server refused this call (unknown tool, bad params): the model can fix it.
            raise ToolRetry(f"The MCP server refused the call: {exc.message}") from exc
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise self._broken(exc) from exc
        text = _result_text(result)
        if result.is_error:
            raise ToolRetry(text or "The tool failed and said nothing more.")
        return text

    def _broken(self, exc: BaseException) -> ToolsetError:
        self.dead = self.dead or f"the connection was lost ({_describe(exc)})"
        logger().warning("agentkit.mcp.lost", server=self.server.name, reason=self.dead)
        return ToolsetError(self.server.name, self.dead)


class _Caller:
    """The function of one MCP tool: `await caller(**arguments)` calls it on the server."""

    def __init__(self, server: MCPServer, name: str) -> None:
        self.server = server
        self.__name__ = self.__qualname__ = name
        self.__module__ = __name__
        self.__doc__ = None

    async def __call__(self, **arguments: Any) -> str:
        return await self.server._call(self.__name__, arguments)


# ---------------------------------------------------------------------- conversions


def lean_input_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An MCP tool's `inputSchema` as agentkit sends schemas: no titles, no needless keys.

    Examples:
        >>> lean_input_schema({"type": "object", "title": "addArguments", "required": [],
        ...     "properties": {"a": {"title": "A", "type": "integer"}},
        ...     "$schema": "http://json-schema.org/draft-07/schema#"})
        {'type': 'object', 'properties': {'a': {'type': 'integer'}}}
    """
    from ._schema import lean_schema

    lean = lean_schema(copy.deepcopy(dict(schema)))
    lean.pop("$schema", None)
    if lean.get("required") == []:
        del lean["required"]
    lean.setdefault("type", "object")
    return lean


def _check_refs(schema: dict[str, Any]) -> None:
    """Refuse `$ref`s that do not point inside the schema (validation would fail on them).

    Raises:
        UsageError: A reference is remote, or points to nothing.
    """
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref")
            if ref is not None and not _resolves(schema, ref):
                raise UsageError(f"its schema refers to {ref!r}, which is not inside it")
            stack.extend(node.values())


def _resolves(schema: dict[str, Any], ref: object) -> bool:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return False
    target: Any = schema
    for part in filter(None, ref[1:].split("/")):
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            target = target[int(key)]
        else:
            return False
    return isinstance(target, (dict, bool))


def _size(data: str) -> str:
    try:
        count = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return "undecodable base64"
    return f"{count} bytes"


def _block_text(block: Any) -> str:
    """One content block in words: text as it is, anything else described, never dropped."""
    if isinstance(block, mcp_types.TextContent):
        return block.text
    if isinstance(block, mcp_types.ImageContent):
        return f"[image: {block.mime_type}, {_size(block.data)}; not shown to the model]"
    if isinstance(block, mcp_types.AudioContent):
        return f"[audio: {block.mime_type}, {_size(block.data)}; not shown to the model]"
    if isinstance(block, mcp_types.ResourceLink):
        about = f": {block.description}" if block.description else ""
        return f"[resource link {block.uri} ({block.name}){about}]"
    if isinstance(block, mcp_types.EmbeddedResource):
        resource = block.resource
        if isinstance(resource, mcp_types.TextResourceContents):
            return f"[resource {resource.uri}]\n{resource.text}"
        mime = resource.mime_type or "binary"
        return f"[resource {resource.uri}: {mime}, {_size(getattr(resource, 'blob', ''))}]"
    return f"[{getattr(block, 'type', type(block).__name__)} content, not shown to the model]"


def _result_text(result: mcp_types.CallToolResult) -> str:
    """The text the model reads for a tool result.

    Text blocks are joined by newlines; images, audio and resources are described (the chat
    API takes only text in tool results); with no content, the structured content as JSON.
    """
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        import json

        return json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)
    return "\n".join(parts)


def _describe(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)  # anyio task groups wrap the real error
    if isinstance(inner, tuple) and inner:
        return "; ".join(_describe(e) for e in inner)
    if isinstance(exc, MCPError):
        return exc.message
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


from ._mcp_serve import serve  # noqa: E402  (the server side, in its own module)
