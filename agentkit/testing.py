"""Test your agents without a network: a scripted GoAPI that speaks the exact wire format.

```python
import httpx
from agentkit import Agent, ChatClient
from agentkit.testing import Reply, ScriptedGoAPI

goapi = ScriptedGoAPI([Reply.call("get_current_weather", {"location": "Boston"}),
                       Reply.text("It is sunny in Boston.")])
client = ChatClient(api_key="test", base_url="http://goapi.test/v1",
                    http_client=httpx.Client(transport=goapi))
agent = Agent("gpt-3.5-turbo", tools=[get_current_weather], client=client)
assert agent.run("Weather in Boston?").output == "It is sunny in Boston."
goapi.assert_complete()
```

- `Reply` scripts one answer (text, a call, parallel calls, a refusal), with the quirks real
  servers and proxies produce (ping lines, CRLF, `data:` without a space, repeated roles, tool
  indexes not starting at 0, content as typed parts, empty placeholders, calls without an
  index, ...) and stream faults (a cut stream, an error event, a stall).
- `Fault` scripts an error response (JSON errors, a Cloudflare HTML page, 429s with
  `Retry-After`, a dropped connection).
- `DemoModel` is a deterministic stand-in for a model: it calls the offered function that
  fits the prompt, then answers with the result.
- `ScriptedGoAPI` is an httpx transport for sync and async clients; `LoopbackServer` serves
  the same scripts on a real socket (timeouts, stalls, resets, many connections).
- `DemoServices` answers the ready tools' web services (weather, search) with demo data.
- `offline()` is all of it at once: the demo model on a loopback server, the demo services,
  and no network (what the examples and `agentkit run --offline` use).
- `block_network()` makes any connection beyond this machine fail.

This module is independent of agentkit's own wire code on purpose: it is the oracle that code
is tested against.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

from ._demo_services import DemoServices
from ._demomodel import DemoModel
from ._netguard import NetworkBlockedError, block_network
from ._script import Fault, Reply, Script, ScriptError, _plan, _Script

__all__ = [
    "DemoModel",
    "DemoServices",
    "Fault",
    "LoopbackServer",
    "NetworkBlockedError",
    "Reply",
    "ScriptError",
    "ScriptedGoAPI",
    "block_network",
    "offline",
]


class ScriptedGoAPI(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A chat-completions server in an httpx transport, for sync and async clients alike.

    Args:
        script: The entries to serve in order (`Reply`, `Fault`), or a callable that answers
            each request body (such as `DemoModel()`).
        strict: Refuse what the real API refuses, before the script sees it: 404 for any
            method or path but `POST /v1/chat/completions`, 401 without `Authorization:
            Bearer <key>`, 400 for a body that is not valid under the chat-completions request
            schema (the message names the field) or a `tool` message that answers no call.
            `strict=False` serves anything (for testing odd servers).

    Stalls do not sleep: a stall longer than the request's read timeout raises
    `httpx.ReadTimeout` at once, as the socket would have; a shorter one passes instantly.
    Use `LoopbackServer` for real waiting.
    """

    def __init__(self, script: Script, *, strict: bool = True) -> None:
        self._script = _Script(script, strict)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body the script answered, parsed, in order."""
        return self._script.requests

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """`(status, message)` of every request refused by the strict checks, in order."""
        return self._script.rejected

    @property
    def headers(self) -> list[dict[str, str]]:
        """Every request's headers, in order."""
        return self._script.headers

    def assert_complete(self) -> None:
        """Fail if scripted entries were never requested, or a request found none."""
        self._script.assert_complete()

    def _respond(
        self, request: httpx.Request, content: bytes
    ) -> tuple[int, list[tuple[str, str]], list[bytes]]:
        status, headers, pieces, stall, disconnect = _plan(
            self._script, content, request.headers, request.method, request.url.raw_path.decode()
        )
        if disconnect:
            raise httpx.ConnectError("scripted: the connection was dropped", request=request)
        read = (request.extensions.get("timeout") or {}).get("read")
        if read is not None and stall >= read:
            raise httpx.ReadTimeout("scripted: no first byte in time", request=request)
        out: list[bytes] = []
        for piece in pieces:
            if isinstance(piece, float):
                if read is not None and piece >= read:
                    out.append(b"\x00TIMEOUT")
                    break
                continue
            out.append(piece)
        return status, headers, out

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Serve a sync client's request."""
        status, headers, pieces = self._respond(request, request.read())
        return httpx.Response(
            status, headers=headers, stream=_SyncBody(pieces, request), request=request
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve an async client's request."""
        status, headers, pieces = self._respond(request, await request.aread())
        return httpx.Response(
            status, headers=headers, stream=_AsyncBody(pieces, request), request=request
        )


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes], request: httpx.Request) -> None:
        self.pieces, self.request = pieces, request

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if piece == b"\x00TIMEOUT":
                raise httpx.ReadTimeout("scripted: the stream stalled", request=self.request)
            yield piece


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes], request: httpx.Request) -> None:
        self.pieces, self.request = pieces, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if piece == b"\x00TIMEOUT":
                raise httpx.ReadTimeout("scripted: the stream stalled", request=self.request)
            yield piece


# ----------------------------------------------------------------------- loopback server


class LoopbackServer:
    """The scripted server on a real socket at 127.0.0.1, in a background thread.

    Stalls really wait, so timeouts can be tested; `latency` is added before every response
    (for throughput benchmarks); connections are kept alive; a `Fault.dropped()` closes the
    connection without answering. `strict` checks requests as `ScriptedGoAPI` does.

    Examples:
        >>> with LoopbackServer([Reply.text("hi")]) as server:
        ...     r = httpx.post(f"{server.base_url}/chat/completions",
        ...                    headers={"Authorization": "Bearer sk-test"},
        ...                    json={"model": "gpt-4", "messages": [{"role": "user",
        ...                                                         "content": "Hello"}]})
        >>> r.json()["choices"][0]["message"]["content"]
        'hi'
    """

    def __init__(self, script: Script, *, latency: float = 0.0, strict: bool = True) -> None:
        self._script = _Script(script, strict)
        self.latency = latency
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="agentkit-loopback", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        """The server's base URL, ending in `/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body the script answered, parsed, in order."""
        return self._script.requests

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """`(status, message)` of every request refused by the strict checks, in order."""
        return self._script.rejected

    @property
    def headers(self) -> list[dict[str, str]]:
        """Every answered request's headers (names in lower case), in order."""
        return self._script.headers

    def assert_complete(self) -> None:
        """Fail if scripted entries were never requested, or a request found none."""
        self._script.assert_complete()

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close every connection."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, limit=2**20, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for writer in list(self._connections):
                writer.transport.abort()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only `close()` cancels: end quietly (asyncio would log the cancelled callback).
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection stays open."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = ([*lines[0].split(" "), "", ""])[:2]
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            try:
                status, response_headers, pieces, stall, disconnect = _plan(
                    self._script, content, headers, method, path
                )
            except ScriptError as error:
                status, response_headers = 500, [("content-type", "text/plain")]
                pieces, stall, disconnect = [f"ScriptError: {error}".encode()], 0.0, False
            if disconnect:
                writer.transport.abort()
                return False
            await asyncio.sleep(self.latency + stall)
            streaming = any(v == "text/event-stream" for _, v in response_headers)
            data = [p for p in pieces if isinstance(p, bytes)]
            head_lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
            head_lines += [f"{k}: {v}" for k, v in response_headers]
            if streaming:
                head_lines.append("transfer-encoding: chunked")
            else:
                head_lines.append(f"content-length: {sum(len(p) for p in data)}")
            writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode())
            if not streaming:
                writer.write(b"".join(data))
                await writer.drain()
                return True
            for piece in pieces:
                if isinstance(piece, float):
                    await writer.drain()
                    await asyncio.sleep(piece)
                    continue
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        finally:
            self.in_flight -= 1


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# ----------------------------------------------------------------------- offline mode


@contextlib.contextmanager
def offline() -> Iterator[LoopbackServer]:
    """Run agents with nothing leaving this machine: a demo model and demo web services.

    Starts a `LoopbackServer` with the `DemoModel` (point an agent at its `base_url`, with any
    key), routes the ready tools' web services (`agentkit_tools`: weather, search) to
    `DemoServices`, and blocks every other connection beyond loopback while the block runs.
    Answers built from demo data say so: "(demo data)".

    Examples:
        >>> from agentkit import Agent
        >>> from agentkit_tools import get_current_weather
        >>> with offline() as server, Agent(tools=[get_current_weather],
        ...                                 base_url=server.base_url, api_key="offline") as agent:
        ...     print(agent.run("What is the weather like in Boston?").output)
        Here is what I found: Boston (demo data), Massachusetts, United States: 22°C, clear sky, ...
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(block_network("offline: nothing may leave this machine"))
        try:
            from agentkit_tools import use_transport
        except ImportError:  # pragma: no cover - installed with agentkit; a custom build may not
            pass
        else:
            stack.enter_context(use_transport(DemoServices()))
        yield stack.enter_context(LoopbackServer(DemoModel()))
