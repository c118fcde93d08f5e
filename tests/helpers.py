"""Helpers shared by the agent tests: one behaviour test, two drivers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from agentkit import Agent, ChatClient
from agentkit.testing import ScriptedGoAPI
from tests.spec import assert_valid_request


class ValidatingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Checks every request body against both chat-completions schemas, then passes it on."""

    def __init__(self, inner: ScriptedGoAPI) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert_valid_request(json.loads(request.content))
        return self.inner.handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert_valid_request(json.loads(request.content))
        return await self.inner.handle_async_request(request)


class Driver:
    """Runs an agent through the sync (`run`, `stream`) or the async (`arun`, `astream`) API."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind

    def run(self, agent: Agent[Any], prompt: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            return agent.run(prompt, **kwargs)
        return asyncio.run(agent.arun(prompt, **kwargs))

    def stream(self, agent: Agent[Any], prompt: Any, **kwargs: Any) -> list[Any]:
        if self.kind == "sync":
            return list(agent.stream(prompt, **kwargs))

        async def collect() -> list[Any]:
            return [event async for event in agent.astream(prompt, **kwargs)]

        return asyncio.run(collect())


def scripted_agent(
    script: Sequence[Any] | Callable[..., Any],
    *,
    model: str = "gpt-3.5-turbo",
    **kwargs: Any,
) -> tuple[Agent[Any], ScriptedGoAPI]:
    """An agent whose every request is answered by a `ScriptedGoAPI`.

    Every request body is validated against both schema files on its way out.
    """
    scripted = ScriptedGoAPI(script)
    transport = ValidatingTransport(scripted)
    client = ChatClient(
        api_key="sk-test-key",
        base_url="http://goapi.test/v1",
        http_client=httpx.Client(transport=transport),
        async_http_client=httpx.AsyncClient(transport=transport),
        max_retries=kwargs.pop("max_retries", 2),
    )
    return Agent(model, client=client, **kwargs), scripted


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def mcp_over_http(argv: Sequence[str], what: str) -> Iterator[str]:
    """`argv --http PORT` in a subprocess on 127.0.0.1; yields its MCP URL once it listens."""
    port = free_port()
    process = subprocess.Popen(
        [*argv, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{what} did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
