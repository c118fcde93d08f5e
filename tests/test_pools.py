"""The pools' connections send a request's head and body in one write, and lose nothing."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import httpcore
import httpx
import pytest

from agentkit import Agent, ChatClient
from agentkit._joined import (
    JOIN_LIMIT,
    _JoinedAsyncStream,
    _JoinedBackend,
    _JoinedStream,
)
from agentkit._pools import sync_client
from agentkit.testing import LoopbackServer, Reply


class Recorder(httpcore.NetworkStream):
    """A connection that records what is written and read, in order."""

    def __init__(self, sock: socket.socket | None = None, fail_writes: bool = False) -> None:
        self.log: list[tuple[str, bytes]] = []
        self.sock = sock
        self.fail_writes = fail_writes
        self.tls: Recorder | None = None

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.log.append(("read", b""))
        return b"HTTP/1.1 200 OK\r\n"

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self.fail_writes:
            raise httpcore.WriteError("the server closed the connection")
        self.log.append(("write", buffer))

    def close(self) -> None:
        self.log.append(("close", b""))

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self.log.append(("start_tls", b""))
        self.tls = Recorder(self.sock)
        return self.tls

    def get_extra_info(self, info: str) -> Any:
        return self.sock if info == "socket" else f"inner {info}"


class AsyncRecorder(httpcore.AsyncNetworkStream):
    """The async twin of `Recorder`, over it."""

    def __init__(self, inner: Recorder) -> None:
        self.inner = inner

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        self.inner.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return AsyncRecorder(self.inner.start_tls(ssl_context, server_hostname, timeout))  # type: ignore[arg-type]

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class Driver:
    """Drives a joined stream, sync or async, with the same calls."""

    def __init__(self, kind: str, inner: Recorder) -> None:
        self.kind = kind
        self.stream: Any = (
            _JoinedStream(inner) if kind == "sync" else _JoinedAsyncStream(AsyncRecorder(inner))
        )

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.stream, name)
        if self.kind == "sync":
            return method
        return lambda *args: asyncio.run(method(*args))


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_head_and_its_body_go_out_in_one_write(kind: str) -> None:
    inner = Recorder()
    stream = Driver(kind, inner)
    for _ in range(2):  # the second request on the same (kept-alive) connection too
        stream.write(b"POST / HTTP/1.1\r\n\r\n")
        stream.write(b'{"a": 1}')
        stream.write(b"")  # httpcore's end of a body of known length
        stream.read(65536)
    assert inner.log == [("write", b'POST / HTTP/1.1\r\n\r\n{"a": 1}'), ("read", b"")] * 2


def test_a_request_without_a_body_goes_out_before_its_answer_is_read(kind: str) -> None:
    inner = Recorder()
    stream = Driver(kind, inner)
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert inner.log == []
    stream.read(65536)
    assert inner.log == [("write", b"GET / HTTP/1.1\r\n\r\n"), ("read", b"")]


def test_a_streamed_body_is_held_back_by_one_chunk_at_most(kind: str) -> None:
    inner = Recorder()
    stream = Driver(kind, inner)
    stream.write(b"HEAD")
    stream.write(b"chunk 1")
    assert inner.log == [("write", b"HEADchunk 1")]
    stream.write(b"chunk 2")  # as it comes, not held until the read
    stream.write(b"0\r\n\r\n")
    assert inner.log[1:] == [("write", b"chunk 2"), ("write", b"0\r\n\r\n")]


def test_a_large_body_is_not_copied_to_join_it(kind: str) -> None:
    inner = Recorder()
    stream = Driver(kind, inner)
    body = b"x" * (JOIN_LIMIT + 1)
    stream.write(b"HEAD")
    stream.write(body)
    assert [entry[1] for entry in inner.log] == [b"HEAD", body]


def test_a_failed_send_of_the_held_head_still_reads_the_servers_answer(kind: str) -> None:
    # httpcore sends a request ignoring write errors, then reads: a server that refuses
    # early (413, 401) has answered already. Holding the head must not change that.
    inner = Recorder(fail_writes=True)
    stream = Driver(kind, inner)
    stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert stream.read(65536) == b"HTTP/1.1 200 OK\r\n"
    stream.write(b"POST / HTTP/1.1\r\n\r\n")
    with pytest.raises(httpcore.WriteError):  # a write that is not held fails as before
        stream.write(b"body")


def test_tls_starts_after_what_was_held_and_its_stream_is_joined_too(kind: str) -> None:
    inner = Recorder()
    stream = Driver(kind, inner)
    stream.write(b"CONNECT example.com:443 HTTP/1.1\r\n\r\n")
    tls = stream.start_tls(ssl.create_default_context(), "example.com")
    assert [entry[0] for entry in inner.log] == ["write", "start_tls"]
    assert isinstance(tls, (_JoinedStream, _JoinedAsyncStream))


def test_is_readable_polls_the_socket_and_other_questions_go_through(kind: str) -> None:
    here, there = socket.socketpair()
    with here, there:
        stream = Driver(kind, Recorder(here)).stream
        assert stream.get_extra_info("is_readable") is False
        there.sendall(b"x")
        assert stream.get_extra_info("is_readable") is True
        assert stream.get_extra_info("ssl_object") == "inner ssl_object"
    # Without a socket it asks the stream it wraps.
    assert Driver(kind, Recorder()).stream.get_extra_info("is_readable") == "inner is_readable"


def test_the_pools_agentkit_makes_join_writes() -> None:
    # httpx has no public hook for a network backend: this notices if its internals move.
    # (The async pools on asyncio use `_h1` instead: `tests/test_h1.py`.)
    with sync_client() as client:
        assert isinstance(client._transport._pool._network_backend, _JoinedBackend)  # type: ignore[attr-defined]


def test_requests_through_joined_connections_arrive_whole() -> None:
    with LoopbackServer([Reply.text(f"answer {n}") for n in range(6)]) as server:
        client = ChatClient(api_key="sk-test", base_url=server.base_url)
        with Agent("gpt-4", client=client) as agent:
            assert [agent.run(f"question {n}").output for n in range(3)] == [
                "answer 0",
                "answer 1",
                "answer 2",
            ]

            async def three() -> list[Any]:
                runs = [agent.arun(f"question {n}") for n in range(3, 6)]
                return [result.output for result in await asyncio.gather(*runs)]

            assert sorted(asyncio.run(three())) == ["answer 3", "answer 4", "answer 5"]
        asked = [body["messages"][-1]["content"] for body in server.requests]
        assert sorted(asked) == [f"question {n}" for n in range(6)]
        client.close()
        server.assert_complete()


def test_a_streamed_request_body_goes_through_a_joined_connection() -> None:
    # A chunked upload (not something agentkit sends, but the pools must stay correct for it).
    received: list[bytes] = []

    def serve(listener: socket.socket) -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while not data.endswith(b"0\r\n\r\n"):
                data += connection.recv(65536)
            received.append(data)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")

    import threading

    with socket.create_server(("127.0.0.1", 0)) as listener:
        thread = threading.Thread(target=serve, args=(listener,), daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        with sync_client() as client:
            response = client.post(
                f"http://127.0.0.1:{port}/upload", content=iter([b"part one ", b"part two"])
            )
        thread.join(5)
    assert response.text == "ok"
    head, _, body = received[0].partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"9\r\npart one \r\n8\r\npart two\r\n0\r\n\r\n"


def test_user_clients_are_left_as_they_are() -> None:
    user = httpx.Client()
    client = ChatClient(api_key="sk-test", base_url="http://127.0.0.1:9/v1", http_client=user)
    assert not isinstance(user._transport._pool._network_backend, _JoinedBackend)  # type: ignore[attr-defined]
    client.close()
    user.close()


def test_idle_connections_are_checked_with_one_poll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # anyio hands out asyncio's wrapper of the socket, not a `socket.socket`: it must still
    # be found, or every check goes the slow way.
    from agentkit import _joined

    polled = []
    monkeypatch.setattr(_joined, "_readable", lambda sock: polled.append(sock) or False)

    async def twice(url: str) -> list[int]:
        transport = httpx.AsyncHTTPTransport()  # as under trio: httpcore's, its writes joined
        _joined.join_writes(transport)
        async with httpx.AsyncClient(transport=transport) as client:
            return [(await client.get(url)).status_code for _ in range(2)]

    with LoopbackServer([]) as server:
        assert asyncio.run(twice(f"{server.base_url}/models")) == [404, 404]
    assert polled  # the second request found the first's connection idle and checked it
    assert all(callable(getattr(sock, "fileno", None)) for sock in polled)


def test_the_async_pools_on_asyncio_are_h1_transports_sent_to_directly() -> None:
    from agentkit._h1 import AsyncH1Transport

    async def ask(client: ChatClient) -> str:
        async with Agent("gpt-4", client=client) as agent:
            output = (await agent.arun("question")).output
            assert client._pools is not None
            made = [pool for pool in client._pools.clients if pool is not None]
            assert made
            assert all(isinstance(pool, AsyncH1Transport) for pool in made)
            return output

    with LoopbackServer([Reply.text("answer")]) as server:
        client = ChatClient(api_key="sk-test", base_url=server.base_url)
        assert asyncio.run(ask(client)) == "answer"
        # What httpx's client would have added that matters: the encodings it decodes.
        sent = server.headers[0]
        assert sent["accept-encoding"] == "gzip, deflate"
        assert sent["authorization"] == "Bearer sk-test"
        assert sent["user-agent"].startswith("agentkit/")


def test_with_a_proxy_in_the_environment_the_async_pools_are_httpx_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # httpx mounts the proxy's transport on its clients; a direct send would go around it.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # httpx goes to the loopback server itself

    async def ask(client: ChatClient) -> str:
        async with Agent("gpt-4", client=client) as agent:
            output = (await agent.arun("question")).output
            assert client._pools is not None
            made = [pool for pool in client._pools.clients if pool is not None]
            assert made
            assert all(isinstance(pool, httpx.AsyncClient) for pool in made)
            return output

    with LoopbackServer([Reply.text("answer")]) as server:
        assert asyncio.run(ask(ChatClient(api_key="sk-test", base_url=server.base_url))) == "answer"


def test_the_direct_pools_keep_cookies_and_decode_gzip_as_httpx_clients_do() -> None:
    import gzip
    import json

    from agentkit.testing import Fault

    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "unzipped"},
                "finish_reason": "stop",
            }
        ],
    }
    zipped = Fault(
        200,
        gzip.compress(json.dumps(completion).encode()),
        (
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("set-cookie", "session=abc; Path=/"),
        ),
    )

    async def ask(client: ChatClient) -> list[str]:
        async with Agent("gpt-4", client=client) as agent:
            return [(await agent.arun(f"question {n}")).output for n in range(3)]

    with LoopbackServer([zipped, Reply.text("second"), Reply.text("third")]) as server:
        client = ChatClient(api_key="sk-test", base_url=server.base_url)
        assert asyncio.run(ask(client)) == ["unzipped", "second", "third"]
    assert "cookie" not in server.headers[0]
    assert [sent.get("cookie") for sent in server.headers[1:]] == ["session=abc"] * 2
