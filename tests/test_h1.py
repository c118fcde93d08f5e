"""The async pools' HTTP/1.1 transport against servers that misbehave, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from agentkit import _h1conn
from agentkit._body import set_read_timeout
from agentkit._h1 import AsyncH1Transport
from agentkit._h1wire import request_head
from agentkit._joined import _JoinedAsyncBackend
from agentkit._netguard import NetworkBlockedError
from agentkit._pools import ASYNC_POOL_LIMITS, async_client, sync_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Server:
    """An asyncio server on 127.0.0.1 that runs `handler` for each connection it accepts."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.accepted = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.writers.append(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def serving(handler: Handler, **options: Any) -> AsyncIterator[Server]:
    server = Server(handler)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, **options)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"{'https' if options.get('ssl') else 'http'}://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()
        for writer in server.writers:
            writer.transport.abort()
        await asyncio.sleep(0)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and its body (by its Content-Length), as received."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def answering(*replies: bytes, then_close: bool = False) -> Handler:
    """A handler that answers each request on a connection with the next reply."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            await read_request(reader)
            writer.write(reply)
            await writer.drain()
        if not then_close:
            await reader.read()  # until the client closes

    return handler


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def always_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A handler that answers every request on a connection with `OK`."""
    while True:
        await read_request(reader)
        writer.write(OK)


def client(limits: httpx.Limits = ASYNC_POOL_LIMITS, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=AsyncH1Transport(limits=limits, ssl_context=None), **options)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def test_requests_reuse_one_kept_alive_connection() -> None:
    async def scenario() -> None:
        async with serving(answering(OK, OK, OK)) as server, client() as http:
            for _ in range(3):
                response = await http.post(f"{server.url}/v1", content=b'{"a": 1}')
                assert response.text == "ok"
            assert server.accepted == 1

    run(scenario)


def test_the_raw_exchange_below_httpx() -> None:
    # What `handle_async_request` is built on: a head as bytes in, the response as it came.
    packed = gzip.compress(b"unpacked")
    reply = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed)
    )

    async def scenario() -> None:
        async with serving(answering(reply, OK)) as server:
            transport = AsyncH1Transport(limits=ASYNC_POOL_LIMITS, ssl_context=None)
            origin = transport.origin(httpx.URL(server.url))
            head = request_head(b"POST", b"/v1", [(b"Host", b"x"), (b"Content-Length", b"2")])
            raw = await transport.exchange(origin, head, b"{}", timeouts={"read": 5})
            assert raw.status == 200
            cookies = [value for name, value in raw.head.headers if name.lower() == b"set-cookie"]
            assert cookies == [b"a=1", b"b=2"]  # each field as it came
            assert b"".join([data async for data in raw]) == packed  # de-chunked, not decoded
            await raw.aclose()
            again = await transport.exchange(origin, head, b"{}", timeouts={})
            assert b"".join([data async for data in again]) == b"ok"
            await again.aclose()
            assert server.accepted == 1
            await transport.aclose()

    run(scenario)


def test_a_head_and_its_body_leave_in_one_write(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio.selector_events as events

    calls: list[bytes] = []
    transport_class: Any = events._SelectorSocketTransport  # type: ignore[attr-defined]
    original = transport_class.write

    def spy(self: Any, data: Any) -> None:
        calls.append(bytes(data))
        original(self, data)

    monkeypatch.setattr(transport_class, "write", spy)

    async def scenario() -> None:
        async with serving(answering(OK)) as server, client() as http:
            response = await http.post(f"{server.url}/v1/chat", content=b'{"hello": "world"}')
            assert response.text == "ok"

    run(scenario)
    (sent,) = [c for c in calls if c.startswith(b"POST")]
    assert sent.startswith(b"POST /v1/chat HTTP/1.1\r\n")
    assert sent.endswith(b'\r\n\r\n{"hello": "world"}')


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def scenario() -> None:
        async with serving(answering(OK, then_close=True)) as server, client() as http:
            assert (await http.get(server.url)).text == "ok"
            await asyncio.sleep(0.05)  # the server's close arrives while the connection idles
            transport: AsyncH1Transport = http._transport  # type: ignore[assignment]
            (origin,) = transport._origins.values()
            assert not origin.idle  # known at once, its slot freed
            assert origin.count == 0
            assert (await http.get(server.url)).text == "ok"
            assert server.accepted == 2

    run(scenario)


def test_idle_connections_are_kept_up_to_the_limits() -> None:
    async def scenario() -> None:
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=1, keepalive_expiry=0.1)
        async with serving(always_ok) as server, client(limits) as http:
            responses = [await http.send(http.build_request("GET", server.url)) for _ in range(3)]
            assert server.accepted == 1  # one at a time: one connection, reused
            opened = [await http.send(http.build_request("GET", server.url), stream=True)]
            opened.append(await http.send(http.build_request("GET", server.url), stream=True))
            for response in opened:
                await response.aread()
                await response.aclose()
            transport: AsyncH1Transport = http._transport  # type: ignore[assignment]
            (origin,) = transport._origins.values()
            assert len(origin.idle) == 1  # the other one was closed, not kept
            assert origin.count == 1
            await asyncio.sleep(0.15)  # past the expiry: the next request opens a new one
            before = server.accepted
            assert (await http.get(server.url)).text == "ok"
            assert server.accepted == before + 1
            assert len(transport._connections) == 1
            assert all(response.text == "ok" for response in responses)

    run(scenario)


def test_a_connection_that_receives_bytes_while_idle_is_closed_at_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await asyncio.sleep(0.02)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale")  # unasked for
        await reader.read()

    async def scenario() -> None:
        async with serving(handler) as server, client() as http:
            assert (await http.get(server.url)).text == "ok"
            await asyncio.sleep(0.1)
            transport: AsyncH1Transport = http._transport  # type: ignore[assignment]
            (origin,) = transport._origins.values()
            assert not origin.idle
            assert origin.count == 0
            assert not transport._connections

    run(scenario)


def test_a_connection_found_dead_on_reuse_fails_as_httpcore_does() -> None:
    # The server reads the second request and closes without a word: nothing was read, so
    # this is httpcore's "disconnected without sending a response" (the retry policy decides).
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await read_request(reader)

    async def scenario() -> None:
        async with serving(handler) as server, client() as http:
            assert (await http.get(server.url)).text == "ok"
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await http.get(server.url)

    run(scenario)


@pytest.mark.parametrize(
    ("reply", "error", "says"),
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            httpx.RemoteProtocolError,
            "unsent",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            httpx.RemoteProtocolError,
            "chunked",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Le", httpx.RemoteProtocolError, "head was complete"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            httpx.RemoteProtocolError,
            "conflicting",
        ),
        (b"SSH-2.0-OpenSSH\r\n\r\n", httpx.RemoteProtocolError, "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000, httpx.RemoteProtocolError, "larger than"),
    ],
)
def test_a_broken_reply_is_an_httpx_error_and_its_connection_is_closed(
    reply: bytes, error: type[Exception], says: str
) -> None:
    async def scenario() -> None:
        async with serving(answering(reply, then_close=True)) as server, client() as http:
            with pytest.raises(error, match=says):
                await http.get(server.url)
            transport: AsyncH1Transport = http._transport  # type: ignore[assignment]
            assert not transport._connections
            (origin,) = transport._origins.values()
            assert origin.count == 0

    run(scenario)


def test_a_reset_while_reading_is_a_read_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")  # a reset, not a close: linger 0
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def scenario() -> None:
        async with (
            serving(handler) as server,
            client() as http,
            http.stream("GET", server.url) as response,
        ):
            with pytest.raises(httpx.ReadError):
                await response.aread()

    run(scenario)


def test_a_stall_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reader.read()

    async def scenario() -> None:
        async with serving(handler) as server, client(timeout=httpx.Timeout(5, read=0.05)) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(server.url)

    run(scenario)


def test_the_body_reads_take_the_read_limit_set_after_the_head() -> None:
    # `_body.set_read_timeout` changes the request's timeout extension between the head and
    # the body: every later read takes the new limit.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
        await reader.read()

    async def scenario() -> None:
        async with (
            serving(handler) as server,
            client(timeout=httpx.Timeout(30)) as http,
            http.stream("GET", server.url) as response,
        ):
            set_read_timeout(response, 0.05)
            with pytest.raises(httpx.ReadTimeout, match=r"0\.05 s"):
                await response.aread()

    run(scenario)


def test_a_large_body_read_slowly_pauses_the_socket_and_arrives_whole() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB, 8 times the read limit
    paused: list[bool] = []

    async def scenario() -> None:
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        async with serving(answering(reply, OK)) as server, client() as http:
            async with http.stream("GET", server.url) as response:
                received = bytearray()
                async for data in response.aiter_raw():
                    received += data
                    connection = next(iter(http._transport._connections))  # type: ignore[attr-defined]
                    paused.append(connection.reading_paused)
                    assert len(connection.reader.buffer) <= _h1conn.READ_LIMIT + 65536 * 4
                    await asyncio.sleep(0.001)
            assert received == body
            assert (await http.get(server.url)).text == "ok"  # and the connection was kept
            assert server.accepted == 1

    run(scenario)
    assert any(paused)


def test_a_task_cancelled_mid_body_leaves_no_connection_behind() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await reader.read()  # and never the rest

    async def scenario() -> None:
        async with serving(handler) as server, client() as http:

            async def read_all() -> None:
                async with http.stream("GET", server.url) as response:
                    async for _ in response.aiter_raw():
                        pass

            task = asyncio.create_task(read_all())
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            transport: AsyncH1Transport = http._transport  # type: ignore[assignment]
            (origin,) = transport._origins.values()
            assert not transport._connections
            assert not origin.idle
            assert origin.count == 0

    run(scenario)


def test_requests_over_the_limit_wait_for_a_connection_within_the_pool_timeout() -> None:
    async def scenario() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with serving(answering(OK, OK, OK)) as server, client(limits) as http:
            async with http.stream("GET", server.url) as first:
                with pytest.raises(httpx.PoolTimeout):
                    await http.get(server.url, timeout=httpx.Timeout(5, pool=0.05))
                waiting = asyncio.create_task(http.get(server.url))
                await asyncio.sleep(0.02)
                assert not waiting.done()
                await first.aread()
            assert (await waiting).text == "ok"  # given the first one's connection
            assert server.accepted == 1

    run(scenario)


def test_a_waiting_request_cancelled_as_it_is_given_a_connection_passes_it_on() -> None:
    async def scenario() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with serving(answering(OK, OK)) as server, client(limits) as http:
            first = await http.send(http.build_request("GET", server.url), stream=True)
            doomed = asyncio.create_task(http.get(server.url))
            later = asyncio.create_task(http.get(server.url))
            await asyncio.sleep(0.02)
            await first.aread()
            await first.aclose()  # gives the connection to `doomed`...
            doomed.cancel()  # ...which is cancelled before it runs
            with pytest.raises(asyncio.CancelledError):
                await doomed
            assert (await later).text == "ok"
            assert server.accepted == 1

    run(scenario)


def test_closing_the_pool_ends_its_connections_and_the_requests_waiting() -> None:
    async def scenario() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with serving(answering(OK, OK)) as server:
            http = client(limits)
            open_body = await http.send(http.build_request("GET", server.url), stream=True)
            waiting = asyncio.create_task(http.get(server.url))
            await asyncio.sleep(0.02)
            transport: AsyncH1Transport = http._transport  # type: ignore[assignment]
            (origin,) = transport._origins.values()
            await http.aclose()
            with pytest.raises(httpx.ConnectError, match="closed"):
                await waiting
            assert not transport._connections
            await open_body.aclose()  # after the close: nothing is kept
            assert not origin.idle
            assert origin.count == 0

    run(scenario)


def test_a_refused_connection_is_a_connect_error() -> None:
    async def scenario() -> None:
        async with serving(answering()) as server:
            url = server.url
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(url)
            (origin,) = http._transport._origins.values()  # type: ignore[attr-defined]
            assert origin.count == 0

    run(scenario)


def test_the_network_guard_blocks_the_transports_connections() -> None:
    # conftest's guard patches `socket`; asyncio's connections go through it too.
    async def scenario() -> None:
        async with client() as http:
            with pytest.raises(NetworkBlockedError):
                await http.get("http://192.0.2.1:80/")
            with pytest.raises(NetworkBlockedError):
                await http.get("https://api.goapi.xyz/v1/models")

    run(scenario)


def test_a_body_that_the_server_stops_reading_is_a_write_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2)

    async def scenario() -> None:
        async with (
            serving(handler, limit=1024) as server,
            client(timeout=httpx.Timeout(5, write=0.1)) as http,
        ):
            with pytest.raises(httpx.WriteTimeout):
                await http.post(server.url, content=b"x" * (64 << 20))

    run(scenario)


def test_streamed_and_large_bodies_arrive_whole() -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await read_request(reader))
        writer.write(OK)
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.readuntil(b"0\r\n\r\n")
        received.append(head + body)
        writer.write(OK)
        await reader.read()

    async def parts() -> AsyncIterator[bytes]:
        yield b"part one "
        yield b""
        yield b"part two"

    big = b"y" * (3 << 20)

    async def scenario() -> None:
        async with serving(handler) as server, client() as http:
            assert (await http.post(server.url, content=big)).text == "ok"
            assert (await http.post(server.url, content=parts())).text == "ok"

    run(scenario)
    assert received[0].endswith(b"\r\n\r\n" + big)
    head, _, body = received[1].partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"9\r\npart one \r\n8\r\npart two\r\n0\r\n\r\n"


def test_content_is_decoded_by_httpx_above_the_transport() -> None:
    packed = gzip.compress(b"unpacked")
    reply = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (
        len(packed),
        packed,
    )

    async def scenario() -> None:
        async with serving(answering(reply)) as server, client() as http:
            assert (await http.get(server.url)).text == "unpacked"

    run(scenario)


def test_a_response_without_framing_is_read_to_the_close_and_not_kept() -> None:
    async def scenario() -> None:
        reply = b"HTTP/1.0 200 OK\r\n\r\nthe whole thing"
        async with serving(answering(reply, then_close=True)) as server, client() as http:
            response = await http.get(server.url)
            assert response.text == "the whole thing"
            assert response.http_version == "HTTP/1.0"
            assert not http._transport._connections  # type: ignore[attr-defined]

    run(scenario)


def test_async_client_uses_this_transport_on_asyncio_and_httpcore_elsewhere() -> None:
    async def on_asyncio() -> None:
        async with async_client() as http:
            assert isinstance(http._transport, AsyncH1Transport)

    run(on_asyncio)
    # No asyncio loop running (as under trio): httpx's transport, its writes joined.
    outside = async_client()
    backend = outside._transport._pool._network_backend  # type: ignore[attr-defined]
    assert isinstance(backend, _JoinedAsyncBackend)
    asyncio.run(outside.aclose())


def test_proxies_from_the_environment_go_through_httpxs_proxy_transports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(OK)

    async def scenario() -> None:
        async with serving(proxy) as server:
            monkeypatch.setenv("HTTP_PROXY", server.url)
            monkeypatch.setenv("NO_PROXY", "localhost")
            async with async_client() as http:
                assert (await http.get("http://127.0.0.2:9/v1/models")).text == "ok"
            with sync_client() as sync:  # the sync pool too (in a thread: the proxy runs here)
                response = await asyncio.to_thread(sync.get, "http://127.0.0.2:9/v1/sync")
                assert response.text == "ok"
            monkeypatch.setenv("NO_PROXY", "127.0.0.2")
            async with async_client() as http:  # not proxied: this transport, refused
                with pytest.raises(httpx.ConnectError):
                    await http.get("http://127.0.0.2:9/v1/models")

    run(scenario)
    assert [request.split(b"\r\n")[0] for request in seen] == [
        b"GET http://127.0.0.2:9/v1/models HTTP/1.1",
        b"GET http://127.0.0.2:9/v1/sync HTTP/1.1",
    ]


def test_tls_connections_check_the_servers_certificate(tmp_path: Any) -> None:
    x509 = pytest.importorskip("cryptography.x509")
    import datetime
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    trusting = ssl.create_default_context(cafile=str(cert_file))

    async def scenario() -> None:
        async with serving(answering(OK, OK), ssl=server_tls) as server:
            transport = AsyncH1Transport(limits=ASYNC_POOL_LIMITS, ssl_context=trusting)
            async with httpx.AsyncClient(transport=transport) as http:
                for _ in range(2):
                    assert (await http.get(server.url)).text == "ok"
                assert server.accepted == 1
            strict = AsyncH1Transport(
                limits=ASYNC_POOL_LIMITS, ssl_context=ssl.create_default_context()
            )
            async with httpx.AsyncClient(transport=strict) as http:
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await http.get(server.url)

    run(scenario)
