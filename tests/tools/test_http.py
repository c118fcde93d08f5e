"""`agentkit_tools._http`: the one client factory, its errors, and the test seam."""

import httpx
import pytest
from agentkit_tools import ServiceError, use_transport
from agentkit_tools import _http as http
from agentkit_tools._http import USER_AGENT, get_json, make_client


def test_clients_have_timeouts_a_user_agent_and_no_redirects():
    with make_client() as client:
        assert client.headers["user-agent"] == USER_AGENT
        assert client.timeout == httpx.Timeout(10.0, connect=5.0)
        assert not client.follow_redirects


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
