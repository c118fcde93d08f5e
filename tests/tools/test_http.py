"""`agentkit_tools._http`: the one client factory, its errors, and the test seam."""

import time

import httpx
import pytest
from agentkit_tools import ServiceError, use_transport
from agentkit_tools import _http as http
from agentkit_tools._guard import Guard
from agentkit_tools._http import USER_AGENT, get_json

from agentkit.testing import NetworkBlockedError

from .conftest import RawServer, answer


def test_requests_have_timeouts_a_user_agent_and_ask_only_for_gzip_and_deflate():
    seen = []

    def record(request):
        seen.append(request)
        return httpx.Response(200, json={})

    with use_transport(httpx.MockTransport(record)):
        get_json("https://api.test/v1", {"q": "x"}, service="Test")
    (request,) = seen
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert request.headers["accept"] == "application/json"
    assert str(request.url) == "https://api.test/v1?q=x"
    timeouts = request.extensions["timeout"]
    assert timeouts["connect"] <= 5.0
    assert 9.0 < timeouts["read"] <= 10.0


def test_use_transport_is_undone_after_the_block():
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    assert http._transport is None
    with use_transport(transport):
        assert http._transport is transport
        inner = httpx.MockTransport(lambda request: httpx.Response(204))
        with use_transport(inner):
            assert http._transport is inner
        assert http._transport is transport
    assert http._transport is None


def answering(response):
    return use_transport(httpx.MockTransport(lambda request: response))


def test_get_json():
    with answering(httpx.Response(200, json={"results": [1, 2]})):
        assert get_json("https://api.test/v1", {"q": "x"}, service="Test") == {"results": [1, 2]}


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(503, text="<html>Service Unavailable</html>"),
         r"^Test answered HTTP 503 Service Unavailable\.$"),
        (httpx.Response(400, json={"error": True, "reason": "Parameter 'x' is invalid"}),
         r"^Test answered HTTP 400 Bad Request: Parameter 'x' is invalid\.$"),
        (httpx.Response(429, json={"detail": "Too many requests, slow down"}),
         "HTTP 429 Too Many Requests: Too many requests, slow down"),
        (httpx.Response(200, text="<html>captive portal</html>"),
         r"^Test sent a reply that is not JSON\.$"),
    ],
)  # fmt: skip
def test_bad_replies_are_service_errors(response, message):
    with answering(response), pytest.raises(ServiceError, match=message):
        get_json("https://api.test/v1", {}, service="Test")


def test_a_known_error_status_is_left_to_the_caller():
    with answering(httpx.Response(404, json={"title": "Not found."})):
        assert get_json("https://api.test/v1", {}, service="Test", ok_statuses=(404,)) == {
            "title": "Not found."
        }


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ConnectTimeout("timed out"), "^Test did not answer in time; try again later.$"),
        (httpx.ConnectError("[Errno -2] Name or service not known"),
         r"^Test could not be reached: no network\? \(\[Errno -2\] Name or service not known\)$"),
    ],
)  # fmt: skip
def test_transport_errors_are_service_errors(error, message):
    def fail(request):
        raise error

    with use_transport(httpx.MockTransport(fail)), pytest.raises(ServiceError, match=message):
        get_json("https://api.test/v1", {}, service="Test")


# --------------------------------------------------------------------------- the guard, on loopback


def loopback_guard(server):
    return Guard(resolver=lambda host, port: ["127.0.0.1"], ports={server.port})


JSON_HEAD = "HTTP/1.1 200 OK\ncontent-type: application/json"


def test_get_json_over_a_real_socket(loopback_allowed):
    body = b'{"temperature": 21}'
    with RawServer(answer(f"{JSON_HEAD}\ncontent-length: {len(body)}", body)) as server:
        url = f"http://api.test:{server.port}/v1"
        assert get_json(url, {"q": "x"}, service="Test", guard=loopback_guard(server)) == {
            "temperature": 21
        }
    request = server.requests[0].decode()
    assert request.startswith("GET /v1?q=x HTTP/1.1\r\n")
    assert f"host: api.test:{server.port}\r\n" in request.lower()


def test_get_json_checks_addresses_by_default(monkeypatch):
    """Without a transport installed, every address is checked: loopback is refused before
    any connection, and names go to the system's resolver (which tests block)."""
    with RawServer(answer(JSON_HEAD, b"{}")) as server:
        guard = Guard(resolver=lambda host, port: ["127.0.0.1"], ports={server.port})
        with pytest.raises(ServiceError, match=r"Test could not be asked: Refusing .* loopback"):
            get_json(f"http://api.test:{server.port}/", {}, service="Test", guard=guard)
        with pytest.raises(ServiceError, match=rf"Refusing to connect to port {server.port}"):
            get_json(f"{server.url}/", {}, service="Test")
    assert server.connections == 0
    with pytest.raises(NetworkBlockedError):
        get_json("https://api.open-meteo.com/v1/forecast", {}, service="Open-Meteo")


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://api.test:6379/"],
)
def test_get_json_checks_every_redirect(loopback_allowed, location):
    head = f"HTTP/1.1 302 Found\nlocation: {location}\ncontent-length: 0"
    with (
        RawServer(answer(head)) as server,
        pytest.raises(ServiceError, match=r"Test could not be asked: .* redirects to .*"),
    ):
        get_json(server.url.replace("127.0.0.1", "api.test"), {}, service="Test",
                 guard=loopback_guard(server))  # fmt: skip
    assert server.connections == 1


def test_get_json_caps_the_decoded_body(loopback_allowed):
    """A gzip bomb dressed as JSON stops at `max_bytes`, in memory too."""
    import gzip
    import tracemalloc

    body = gzip.compress(b"[" + b"0," * 15_000_000 + b"0]", 1)
    head = f"{JSON_HEAD}\ncontent-encoding: gzip\ncontent-length: {len(body)}"
    with RawServer(answer(head, body)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ServiceError, match="sent a reply of more than 100000 bytes"):
                get_json(server.url, {}, service="Test", max_bytes=100_000,
                         guard=loopback_guard(server))  # fmt: skip
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 20 * 100_000


def test_get_json_has_one_deadline(loopback_allowed):
    """A server dripping its headers is cut at the call's timeout."""

    def drip(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        while True:
            time.sleep(0.25)
            connection.sendall(b"a")

    with RawServer(drip) as server:
        started = time.monotonic()
        with pytest.raises(ServiceError, match="Test did not answer in time"):
            get_json(server.url, {}, service="Test", timeout=1, guard=loopback_guard(server))
        assert time.monotonic() - started < 4


@pytest.mark.parametrize("body", [b"[" * 100_000, b"\xff\xfe not json", b""])
def test_odd_json_is_a_service_error(body):
    with (
        answering(httpx.Response(200, content=body)),
        pytest.raises(ServiceError, match="sent a reply that is not JSON"),
    ):
        get_json("https://api.test/v1", {}, service="Test")
