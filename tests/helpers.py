"""Helpers shared by the agent tests: one behaviour test, two drivers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
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
