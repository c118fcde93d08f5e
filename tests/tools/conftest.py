"""A fake web for the tools (answers by host and path, records what was asked), and a
raw loopback server for the hostile ones."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from agentkit_tools import _guard as guard_module
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


class RawServer:
    """A TCP server on 127.0.0.1 that answers each connection with `handler(connection)`:
    raw bytes, so a test can be the hostile server (bombs, drips, odd headers)."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.stop = self.stop  # for `idle()` in a handler

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with connection:
                connection.settimeout(5)
                try:
                    self.requests.append(connection.recv(65536))
                    self.handler(connection)
                except OSError:  # the client hung up: what a cut-off fetch does
                    pass

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.listener.close()


def idle() -> None:
    """In a `RawServer` handler: hold the connection, saying nothing, until the server stops."""
    threading.current_thread().stop.wait(30)  # type: ignore[attr-defined]


def answer(head: str, body: bytes = b"") -> Callable[[socket.socket], None]:
    """A handler that sends `head` (status line and headers, `\\n`-separated) and `body`."""

    def handler(connection: socket.socket) -> None:
        lines = head.strip().split("\n")
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    return handler


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the guard connect to 127.0.0.1 (and only that), so that the tools can be run
    against a `RawServer`; every other check stays."""
    real = guard_module.blocked_reason

    def blocked_reason(address: Any) -> str | None:
        return None if str(address) == "127.0.0.1" else real(address)

    monkeypatch.setattr(guard_module, "blocked_reason", blocked_reason)
