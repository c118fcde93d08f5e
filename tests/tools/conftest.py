"""A fake web for the tools: answers by host and path, records what was asked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from agentkit_tools import use_transport

Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class FakeWeb:
    """An `httpx.MockTransport` handler: routes `(host, path)` to a response (or a function
    of the request). The host is the `Host` header's, so requests that `fetch_url` sends to
    a checked IP address are routed by the name they were meant for."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Answer] = {}
        self.requests: list[httpx.Request] = []

    def route(self, url: str, answer: Answer) -> None:
        parsed = httpx.URL(url)
        self.routes[(parsed.netloc.decode(), parsed.path)] = answer

    def json(self, url: str, body: Any, status: int = 200) -> None:
        self.route(url, httpx.Response(status, json=body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        key = (request.headers["host"], request.url.path)
        if key not in self.routes:
            raise AssertionError(f"unexpected request: {request.method} {key}")
        answer = self.routes[key]
        return answer(request) if callable(answer) else answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def params(self, index: int = -1) -> dict[str, str]:
        return dict(self.requests[index].url.params)


@pytest.fixture
def web() -> Iterator[FakeWeb]:
    """Every tool's HTTP goes to a `FakeWeb` for the test."""
    fake = FakeWeb()
    with use_transport(httpx.MockTransport(fake)):
        yield fake
