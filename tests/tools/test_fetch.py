"""`fetch_url`: readable text from public pages, and the guard against server-side request
forgery (every address class, every redirect, the size and time caps)."""

import itertools
import socket
import time

import httpx
import pytest
from agentkit_tools import ServiceError, UnsafeURL
from agentkit_tools import _http as http_module
from agentkit_tools.fetch import blocked_reason, fetch_url, html_to_text, make_fetch_url

from agentkit import ArgumentError, ToolRetry, UsageError
from agentkit.testing import NetworkBlockedError

from .conftest import RawServer, answer, idle

PUBLIC = "93.184.215.14"  # example.com
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"

DNS = {
    "example.com": [PUBLIC, PUBLIC_V6],
    "news.example.com": [PUBLIC],
    "xn--bcher-kva.example": [PUBLIC],
    "localhost": ["127.0.0.1", "::1"],
    "intranet.corp": ["10.1.2.3"],
    "metadata.google.internal": ["169.254.169.254"],
    "half-private.example": [PUBLIC, "192.168.0.10"],
    "rebind.example": ["127.0.0.1"],
}

PAGE = b"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Example Domain</title>
  <style type="text/css">body { background-color: #f0f0f2; }</style>
  <script>var secret = "do not show";</script>
</head>
<body>
<div>
    <h1>Example Domain</h1>
    <p>This domain is for use in illustrative examples in documents. You may use this
    domain in literature without prior coordination or asking for permission.</p>
    <noscript>Enable JavaScript</noscript>
    <p><a href="https://www.iana.org/domains/example">More information...</a></p>
</div>
</body>
</html>
"""


class Resolver:
    """A DNS that answers from `DNS` and records what it was asked."""

    def __init__(self, table=None):
        self.table = DNS if table is None else table
        self.asked = []

    def __call__(self, host, port):
        self.asked.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.table[host]


@pytest.fixture
def dns():
    return Resolver()


@pytest.fixture
def fetch(dns):
    return make_fetch_url(resolver=dns)


def html(body=PAGE, **headers):
    return httpx.Response(200, headers={"content-type": "text/html; charset=UTF-8", **headers},
                          content=body)  # fmt: skip


# --------------------------------------------------------------------------- reading pages


def test_a_page_as_readable_text(web, fetch, dns):
    """Title and text; scripts, styles, noscript and tags left out."""
    web.route("https://example.com/", html())
    assert fetch("https://example.com/") == (
        "URL: https://example.com/\n"
        "Title: Example Domain\n"
        "\n"
        "Example Domain\n"
        "This domain is for use in illustrative examples in documents. You may use this "
        "domain in literature without prior coordination or asking for permission.\n"
        "More information..."
    )
    assert dns.asked == [("example.com", 443)]


def test_the_request_goes_to_the_checked_address(web, fetch):
    """The connection is made to the address that was checked (no second DNS look-up can
    change it); the Host header and the TLS server name stay the host's."""
    web.route("https://example.com:8443/a", html())
    fetch("https://example.com:8443/a?q=1#frag")
    request = web.last
    assert request.url == httpx.URL(f"https://{PUBLIC}:8443/a?q=1")
    assert request.headers["host"] == "example.com:8443"
    assert request.extensions["sni_hostname"] == "example.com"
    assert "text/html" in request.headers["accept"]
    assert request.headers["user-agent"].startswith("agentkit-tools/")


def test_plain_http_sends_no_server_name(web, fetch):
    web.route("http://news.example.com/", html())
    fetch("http://news.example.com/")
    assert web.last.url == httpx.URL(f"http://{PUBLIC}/")
    assert "sni_hostname" not in web.last.extensions


def test_public_ip_literals_need_no_dns(web, fetch, dns):
    web.route(f"http://[{PUBLIC_V6}]/", html())
    web.route(f"http://{PUBLIC}/", html())
    assert fetch(f"http://[{PUBLIC_V6}]/").startswith(f"URL: http://[{PUBLIC_V6}]/")
    assert fetch(f"http://{PUBLIC}/").startswith(f"URL: http://{PUBLIC}/")
    assert dns.asked == []


def test_international_host_names_are_resolved_in_ascii(web, fetch, dns):
    web.route("https://xn--bcher-kva.example/", html())
    fetch("https://bücher.example/")
    assert dns.asked == [("xn--bcher-kva.example", 443)]
    assert web.last.headers["host"] == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain; charset=utf-8", "Just text.\n  Kept as it is."),
        ("application/json", '{"temperature": 21, "city": "Paris"}'),
        ("application/ld+json", '{"@type": "Person"}'),
        ("application/xml", "<rss><channel><title>News</title></channel></rss>"),
        ("application/atom+xml", "<feed><title>News</title></feed>"),
        ("text/csv", "a,b\n1,2"),
    ],
)
def test_text_json_and_xml_come_back_as_they_are(web, fetch, content_type, body):
    response = httpx.Response(200, headers={"content-type": content_type}, text=body)
    web.route("https://example.com/data", response)
    assert fetch("https://example.com/data") == f"URL: https://example.com/data\n\n{body}".rstrip()


@pytest.mark.parametrize(
    "content_type", ["image/png", "application/octet-stream", "application/pdf", "video/mp4", ""]
)
def test_other_content_types_are_refused(web, fetch, content_type):
    response = httpx.Response(200, content=b"\x89PNG\r\n\x1a\n")
    if content_type:
        response.headers["content-type"] = content_type
    web.route("https://example.com/file", response)
    with pytest.raises(ToolRetry, match="not text: fetch_url reads HTML, plain text, JSON and XML"):
        fetch("https://example.com/file")


def test_charsets(web, fetch):
    """The header's charset wins; else the page's own `<meta charset>`; else UTF-8."""
    web.route(
        "https://example.com/latin1",
        httpx.Response(200, headers={"content-type": "text/plain; charset=iso-8859-1"},
                       content="café".encode("latin-1")),
    )  # fmt: skip
    web.route(
        "https://example.com/meta",
        httpx.Response(200, headers={"content-type": "text/html"},
                       content='<meta charset="windows-1252"><p>naïve</p>'.encode("cp1252")),
    )  # fmt: skip
    web.route(
        "https://example.com/bogus",
        httpx.Response(200, headers={"content-type": "text/plain; charset=no-such-charset"},
                       content="ok ✓".encode()),
    )  # fmt: skip
    assert fetch("https://example.com/latin1").endswith("café")
    assert fetch("https://example.com/meta").endswith("naïve")
    assert fetch("https://example.com/bogus").endswith("ok ✓")


def test_max_chars_cuts_the_text(web, fetch):
    web.route("https://example.com/long", httpx.Response(200, text="x" * 1000))
    answer = fetch("https://example.com/long", max_chars=100)
    assert (
        answer
        == "URL: https://example.com/long\n\n" + "x" * 100 + "\n[Cut to 100 of 1000 characters.]"
    )
    with pytest.raises(ArgumentError, match="max_chars"):
        fetch.validate({"url": "https://example.com/", "max_chars": 10})


def test_an_endless_body_is_cut_at_max_bytes(web, dns):
    """Reading stops after `max_bytes`: an endless body does not hang the tool."""
    served = []

    def endless():
        for number in itertools.count():
            served.append(number)
            yield b"a" * 1000

    web.route("https://example.com/endless", lambda request: httpx.Response(
        200, headers={"content-type": "text/plain"}, content=endless()))  # fmt: skip
    fetch = make_fetch_url(resolver=dns, max_bytes=10_000)
    answer = fetch("https://example.com/endless", max_chars=100_000)
    assert answer.endswith(
        "a" * 10_000 + "\n[Only the first 10000 bytes of the document were read.]"
    )
    assert len(served) <= 11


def test_a_body_of_exactly_max_bytes_is_not_cut(web, dns):
    web.route("https://example.com/", httpx.Response(200, text="b" * 500))
    fetch = make_fetch_url(resolver=dns, max_bytes=500)
    assert fetch("https://example.com/").endswith("b" * 500)


def test_the_whole_fetch_is_time_capped(web, dns, monkeypatch):
    """A body that trickles in is abandoned once the fetch's time is up."""
    clock = itertools.count(0.0, 1.0)  # every look at the clock: one more second

    class FakeTime:
        @staticmethod
        def monotonic():
            return next(clock)

    monkeypatch.setattr(http_module, "time", FakeTime)

    def trickle():
        while True:
            yield b"."

    web.route("https://example.com/slow", lambda request: httpx.Response(
        200, headers={"content-type": "text/plain"}, content=trickle()))  # fmt: skip
    fetch = make_fetch_url(resolver=dns, timeout=5)
    with pytest.raises(ServiceError, match=r"took too long \(the limit is 5 s\)"):
        fetch("https://example.com/slow")


# --------------------------------------------------------------------------- the address guard

REFUSED = [
    ("127.0.0.1", "a loopback address"),
    ("127.1.2.3", "a loopback address"),
    ("::1", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("10.255.255.254", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.1", "a private address"),
    ("192.168.1.1", "a private address"),
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("169.254.1.1", "a link-local address"),
    ("100.64.0.1", "a carrier-grade NAT address"),
    ("100.127.255.254", "a carrier-grade NAT address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("::ffff:127.0.0.1", "a loopback address (inside ::ffff:127.0.0.1)"),
    ("::ffff:169.254.169.254", "a cloud metadata address (inside ::ffff:169.254.169.254)"),
    ("::ffff:10.0.0.1", "a private address (inside ::ffff:10.0.0.1)"),
    ("64:ff9b::7f00:1", "a loopback address (inside 64:ff9b::7f00:1)"),
    ("2002:7f00:1::1", "a loopback address (inside 2002:7f00:1::1)"),
    ("fe80::1", "a link-local address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("fec0::1", "a site-local address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a private address"),
    ("255.255.255.255", "a private address"),
    ("192.0.2.1", "a private address"),  # TEST-NET-1 (documentation)
    ("198.18.0.1", "a private address"),  # benchmarking
    ("::127.0.0.1", "a reserved address"),  # IPv4-compatible IPv6 (deprecated)
]


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_blocked_reason(address, reason):
    assert blocked_reason(address) == reason


@pytest.mark.parametrize("address", [PUBLIC, PUBLIC_V6, "8.8.8.8", "1.1.1.1", "2606:4700::1111"])
def test_public_addresses_pass(address):
    assert blocked_reason(address) is None


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_ip_literal_urls_are_refused(web, fetch, dns, address, reason):
    """Every refused address class, written in the URL, is refused before any request."""
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UnsafeURL, match="Refusing to fetch from") as caught:
        fetch(f"http://{host}/latest/meta-data/")
    assert reason in caught.value.message
    assert "Only public internet addresses can be fetched." in caught.value.message
    assert web.requests == []
    assert dns.asked == []


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_host_names_resolving_to_refused_addresses_are_refused(web, address, reason):
    """The guard looks at where a name leads, not at the name."""
    fetch = make_fetch_url(resolver=Resolver({"innocent.example": [address]}))
    with pytest.raises(UnsafeURL) as caught:
        fetch("https://innocent.example/")
    assert caught.value.message.startswith("Refusing to fetch from innocent.example (")
    assert reason in caught.value.message
    assert web.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://localhost:8080/admin",
        "http://intranet.corp/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://half-private.example/",  # one private address among public ones is enough
    ],
)
def test_names_for_internal_services_are_refused(web, fetch, url):
    with pytest.raises(UnsafeURL, match="Refusing to fetch from"):
        fetch(url)
    assert web.requests == []


def test_the_real_resolver_is_used_by_default(monkeypatch, web):
    """`fetch_url` resolves with `socket.getaddrinfo` (here: a DNS that answers 127.0.0.1)."""

    def getaddrinfo(host, port, *args, **kwargs):
        assert (host, port) == ("rebind.example", 443)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(UnsafeURL, match=r"rebind.example \(127.0.0.1\): a loopback address"):
        fetch_url("https://rebind.example/")
    assert web.requests == []


def test_the_network_guard_still_holds_for_the_default_resolver():
    """Tests cannot leak: the default resolver really calls the (blocked) system resolver."""
    with pytest.raises(NetworkBlockedError):
        fetch_url("https://example.com/")


def test_unknown_hosts_ask_for_a_retry(web, fetch):
    with pytest.raises(UnsafeURL, match=r"The host 'no-such-host.example' could not be found"):
        fetch("https://no-such-host.example/")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "Only http:// and https:// URLs can be fetched, not file"),
        ("ftp://example.com/pub/file.txt", "not ftp"),
        ("gopher://example.com:70/", "not gopher"),
        ("javascript:alert(1)", "not javascript"),
        ("data:text/html,<p>hi</p>", "not data"),
        ("dict://127.0.0.1:11211/stats", "not dict"),
        ("example.com/page", "not a full URL; start it with https://"),
        ("//example.com/page", "not a full URL"),
        ("http:///path-only", "has no host name"),
        ("http://user:secret@example.com/", "user name or password"),
        ("https://example.com/" + "a" * 3000, "too long"),
        ("http://exa mple.com/", "not a valid URL"),
        ("http://exa%2Fmple.com/", "not a valid URL"),
    ],
)
def test_other_urls_are_refused(web, fetch, dns, url, message):
    with pytest.raises(UnsafeURL, match=message):
        fetch(url)
    assert web.requests == []
    assert dns.asked == []


def test_a_refusal_is_a_retry_for_the_model():
    """`UnsafeURL` is a `ToolRetry`: the model is told why and may pick another URL."""
    assert issubclass(UnsafeURL, ToolRetry)


# --------------------------------------------------------------------------- redirects


def redirect(location, status=302):
    return httpx.Response(status, headers={"location": location})


@pytest.mark.parametrize(
    "location",
    [
        "http://intranet.corp/admin",
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.64.0.1/",
        "http://localhost/",
    ],
)
def test_a_public_page_that_redirects_inward_is_refused(web, fetch, location):
    """Each hop is checked like the first: a public host cannot bounce the fetch inside."""
    web.route("https://example.com/go", redirect(location))
    with pytest.raises(UnsafeURL) as caught:
        fetch("https://example.com/go")
    assert caught.value.message.startswith("https://example.com/go redirects to ")
    assert "Refusing to fetch from" in caught.value.message
    assert len(web.requests) == 1  # only the public page was asked


@pytest.mark.parametrize(
    ("location", "message"),
    [("file:///etc/passwd", "not file"), ("gopher://example.com/", "not gopher")],
)
def test_a_redirect_to_another_scheme_is_refused(web, fetch, location, message):
    web.route("https://example.com/go", redirect(location))
    with pytest.raises(UnsafeURL, match=f"redirects to '{location}'. .*{message}"):
        fetch("https://example.com/go")


def test_redirects_are_followed_and_checked(web, fetch, dns):
    """Relative and absolute redirects (301, 302, 303, 307, 308) are followed to the page."""
    web.route("http://example.com/1", redirect("/2", 301))
    web.route("http://example.com/2", redirect("https://example.com/3", 302))
    web.route("https://example.com/3", redirect("//news.example.com/4", 303))
    web.route("https://news.example.com/4", redirect("5?x=1", 307))
    web.route("https://news.example.com/5", redirect("https://example.com/final", 308))
    web.route("https://example.com/final", html())
    assert fetch("http://example.com/1").startswith("URL: https://example.com/final\n")
    assert [r.headers["host"] + r.url.raw_path.decode() for r in web.requests] == [
        "example.com/1",
        "example.com/2",
        "example.com/3",
        "news.example.com/4",
        "news.example.com/5?x=1",
        "example.com/final",
    ]
    assert len(dns.asked) == 6  # one look-up (and check) per hop


def test_at_most_five_redirects(web, fetch):
    for hop in range(6):
        web.route(f"https://example.com/{hop}", redirect(f"/{hop + 1}"))
    web.route("https://example.com/6", html())
    with pytest.raises(ToolRetry, match="redirects more than 5 times"):
        fetch("https://example.com/0")
    assert len(web.requests) == 6
    assert fetch("https://example.com/1").startswith("URL: https://example.com/6")


def test_a_redirect_loop_ends(web, fetch):
    web.route("https://example.com/loop", redirect("/loop"))
    with pytest.raises(ToolRetry, match="redirects more than 5 times"):
        fetch("https://example.com/loop")


# --------------------------------------------------------------------------- failures


def test_client_errors_ask_the_model_to_check_the_url(web, fetch):
    web.route("https://example.com/missing", httpx.Response(404, text="Not Found"))
    with pytest.raises(ToolRetry, match="answered HTTP 404 Not Found; check the URL"):
        fetch("https://example.com/missing")


def test_server_errors_are_service_errors(web, fetch):
    web.route("https://example.com/", httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(ServiceError, match="answered HTTP 502 Bad Gateway"):
        fetch("https://example.com/")


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ConnectError("Connection refused"), r"Could not fetch .*ConnectError"),
        (httpx.ReadTimeout("timed out"), "took too long"),
        (httpx.RemoteProtocolError("peer closed connection"), "RemoteProtocolError"),
    ],
)
def test_transport_errors_are_service_errors(web, fetch, error, message):
    def fail(request):
        raise error

    web.route("https://example.com/", fail)
    with pytest.raises(ServiceError, match=message):
        fetch("https://example.com/")


def test_make_fetch_url_checks_its_limits():
    for limits in ({"max_bytes": 0}, {"timeout": 0}, {"max_redirects": -1}):
        with pytest.raises(UsageError, match="max_bytes and timeout must be above 0"):
            make_fetch_url(**limits)


def test_html_to_text_survives_broken_markup():
    title, text = html_to_text("<p>one<p>two<script>never closed <p>hidden")
    assert (title, text) == ("", "one\ntwo")
    assert html_to_text("<svg><text>drawn</text></svg><br/>after") == ("", "after")


def test_the_next_address_is_tried_when_one_does_not_connect(web):
    """A host's addresses are tried in order (an IPv6 address on an IPv4-only network)."""

    def page(request):
        if request.url.host == PUBLIC_V6:
            raise httpx.ConnectError("[Errno 101] Network is unreachable")
        return html()

    web.route("https://example.com/", page)
    fetch = make_fetch_url(resolver=Resolver({"example.com": [PUBLIC_V6, PUBLIC]}))
    assert fetch("https://example.com/").startswith("URL: https://example.com/\nTitle: Example")
    assert [r.url.host for r in web.requests] == [PUBLIC_V6, PUBLIC]


# --------------------------------------------------------------------------- hostile servers
# Real sockets on loopback: `loopback_allowed` lets the guard connect to 127.0.0.1, and each
# tool is made with the test server's port allowed.

TEXT = "HTTP/1.1 200 OK\ncontent-type: text/plain"


def loopback_fetch(server, **options):
    return make_fetch_url(resolver=Resolver({}), ports={server.port}, **options)


def peak_memory(call):
    """`call()`'s result (or exception) and the most memory it held at once, in bytes."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            result = call()
        except Exception as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def compressed(data, *encodings):
    import gzip
    import zlib

    for encoding in encodings:
        data = gzip.compress(data, 1) if encoding == "gzip" else zlib.compress(data, 1)
    return data


ZEROS = b"0" * 30_000_000  # 30 MB of text that compresses to about 30 KB (or 100 bytes twice)


@pytest.mark.parametrize("encodings", [("gzip",), ("deflate",), ("gzip", "gzip"),
                                       ("deflate", "gzip")])  # fmt: skip
def test_decompression_bombs_stop_at_max_bytes(loopback_allowed, encodings):
    """A small compressed body never grows past `max_bytes` in memory: decoding is counted
    and cut as it goes, whatever the layers."""
    body = compressed(ZEROS, *encodings)
    head = f"{TEXT}\ncontent-encoding: {', '.join(encodings)}\ncontent-length: {len(body)}"
    with RawServer(answer(head, body)) as server:
        fetch = loopback_fetch(server, max_bytes=100_000)
        answer_text, peak = peak_memory(lambda: fetch(server.url, max_chars=100))
    assert isinstance(answer_text, str), answer_text
    assert answer_text.endswith(
        "[Only the first 100000 bytes of the document were read.]\n"
        "[Cut to 100 of 100000 characters.]"
    )
    assert peak < 20 * 100_000  # a small multiple of max_bytes; unbounded it is 30 MB


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress", "gzip, gzip, gzip"])
def test_compressions_not_asked_for_are_refused(loopback_allowed, encoding):
    with (
        RawServer(answer(f"{TEXT}\ncontent-encoding: {encoding}", b"\x1f\x8b junk")) as server,
        pytest.raises(ServiceError, match="DecodingError: the body is compressed"),
    ):
        loopback_fetch(server)(server.url)
    assert b"accept-encoding: gzip, deflate\r\n" in server.requests[0].lower()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20, "is not valid gzip"),
        (b"plain text, not gzip", "is not valid gzip"),
        (compressed(b"a" * 10_000, "gzip")[:-20], "ends in the middle of its gzip data"),
    ],
)
def test_a_corrupt_gzip_body_is_a_service_error(loopback_allowed, body, message):
    with (
        RawServer(answer(f"{TEXT}\ncontent-encoding: gzip", body)) as server,
        pytest.raises(ServiceError, match=message),
    ):
        loopback_fetch(server)(server.url)


def drip(head):
    """A handler that sends `head`, then one more header byte every 0.25 s, forever."""

    def handler(connection):
        connection.sendall(head.encode())
        while True:
            time.sleep(0.25)
            connection.sendall(b"a")

    return handler


def test_headers_dripping_in_are_cut_at_the_timeout(loopback_allowed):
    """One deadline for the whole fetch, headers included: a server that never finishes its
    headers is abandoned at the tool's timeout, not at some per-read timeout."""
    with RawServer(drip("HTTP/1.1 200 OK\r\nX-Slow: ")) as server:
        started = time.monotonic()
        with pytest.raises(ServiceError, match=r"took too long \(the limit is 1 s\)"):
            loopback_fetch(server, timeout=1)(server.url)
        assert time.monotonic() - started < 4  # 1 s, with a generous margin for a busy host


def test_a_body_that_stalls_is_cut_at_the_timeout(loopback_allowed):
    def stall(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                           b"content-length: 1000\r\n\r\nstart")  # fmt: skip
        idle()

    with RawServer(stall) as server:
        started = time.monotonic()
        with pytest.raises(ServiceError, match="took too long"):
            loopback_fetch(server, timeout=1)(server.url)
        assert time.monotonic() - started < 4


def test_a_loopback_page_when_loopback_is_allowed(loopback_allowed):
    """The hostile-server tests' baseline: the same path reads an honest page."""
    with RawServer(answer(f"{TEXT}\ncontent-length: 5", b"hello")) as server:
        assert loopback_fetch(server)(server.url) == f"URL: {server.url}\n\nhello"
    request = server.requests[0].decode()
    assert request.startswith("GET / HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}\r\n" in request.lower()


def test_proxy_variables_are_ignored(loopback_allowed, monkeypatch):
    """`HTTP(S)_PROXY` and `ALL_PROXY` do not send the fetch elsewhere: the guard decides
    where connections go."""
    with (
        RawServer(answer(f"{TEXT}\ncontent-length: 6", b"direct")) as page,
        RawServer(answer(f"{TEXT}\ncontent-length: 7", b"proxied")) as proxy,
    ):
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        assert loopback_fetch(page)(page.url).endswith("direct")
    assert proxy.connections == 0


# --------------------------------------------------------------------------- ports


@pytest.mark.parametrize("url", ["http://example.com:22/", "https://example.com:6379/",
                                 "http://example.com:8000/", f"http://{PUBLIC}:25/"])  # fmt: skip
def test_other_ports_are_refused(web, fetch, dns, url):
    """Only 80, 443, 8080 and 8443 by default: the agent cannot probe other services."""
    with pytest.raises(UnsafeURL, match=r"Refusing to connect to port \d+ .*allowed: 80, 443"):
        fetch(url)
    assert web.requests == []
    assert dns.asked == []


def test_a_redirect_to_another_port_is_refused(web, fetch):
    web.route("https://example.com/go", redirect("http://example.com:6379/"))
    with pytest.raises(
        UnsafeURL, match=r"redirects to http://example.com:6379/\. Refusing .* 6379"
    ):
        fetch("https://example.com/go")
    assert len(web.requests) == 1


def test_ports_can_be_changed(web, dns):
    web.route("http://example.com:8000/", html())
    assert make_fetch_url(resolver=dns, ports={8000})("http://example.com:8000/")
    assert make_fetch_url(resolver=dns, ports=None)("http://example.com:8000/")
    with pytest.raises(UnsafeURL, match="port 443"):
        make_fetch_url(resolver=dns, ports={8000})("https://example.com/")
    with pytest.raises(UsageError, match="ports must be numbers from 1 to 65535"):
        make_fetch_url(ports={0, 80})


# --------------------------------------------------------------------------- odd replies


@pytest.mark.parametrize(
    "location", ["http:\\\\127.0.0.1\\", "http://[::1", "http://exa mple.com/", b"//\xff\xfe/"]
)
def test_malformed_redirects_are_refused_cleanly(web, fetch, location):
    web.route("https://example.com/go", redirect(location))
    with pytest.raises(UnsafeURL, match=r"^https://example\.com/go redirects to"):
        fetch("https://example.com/go")
    assert len(web.requests) == 1


@pytest.mark.parametrize(
    "charset", ["idna", "punycode", "rot13", "base64", "unicode_escape", "no-such", "utf-8\x00"]
)
def test_odd_charsets_fall_back_to_utf8(web, fetch, charset):
    """A charset that is unknown or not a plain text encoding is ignored, never an error."""
    web.route("https://example.com/", httpx.Response(
        200, headers={"content-type": f"text/plain; charset={charset}"},
        content="caf\u00e9 \xff".encode("utf-8") + b"\xff"))  # fmt: skip
    assert fetch("https://example.com/").endswith("café \xff\ufffd")


def test_a_tls_handshake_that_stalls_is_cut_at_the_timeout(loopback_allowed):
    """The deadline covers the TLS handshake too: a server that takes the connection and
    never answers the ClientHello is abandoned at the timeout."""
    with RawServer(lambda connection: idle()) as server:
        fetch = loopback_fetch(server, timeout=1)
        started = time.monotonic()
        with pytest.raises(ServiceError, match="took too long"):
            fetch(f"https://127.0.0.1:{server.port}/")
        assert time.monotonic() - started < 4
    assert server.requests[0].startswith(b"\x16\x03")  # a TLS handshake record was sent


def test_a_tls_server_that_answers_garbage_is_a_service_error(loopback_allowed):
    with (
        RawServer(answer(TEXT, b"not tls")) as server,
        pytest.raises(ServiceError, match=r"Could not fetch https://.*ConnectError"),
    ):
        loopback_fetch(server)(f"https://127.0.0.1:{server.port}/")


def test_trailing_bytes_after_the_gzip_data_are_not_read(loopback_allowed):
    """Once the compressed data ends, the rest of the body is left unread (an endless tail
    would otherwise keep the fetch busy until its deadline)."""

    def tail(connection):
        answer(f"{TEXT}\ncontent-encoding: gzip", compressed(b"payload", "gzip"))(connection)
        while True:
            connection.sendall(b"x" * 65536)

    with RawServer(tail) as server:
        started = time.monotonic()
        assert loopback_fetch(server, timeout=5)(server.url).endswith("\n\npayload")
        assert time.monotonic() - started < 3


def test_a_slow_dns_look_up_is_cut_at_the_timeout():
    """The deadline covers looking the host up too (in a worker thread: the system's
    resolver cannot be interrupted)."""
    import threading

    release = threading.Event()

    def stuck(host, port):
        release.wait(30)
        return [PUBLIC]

    fetch = make_fetch_url(resolver=stuck, timeout=1)
    started = time.monotonic()
    try:
        with pytest.raises(ServiceError, match=r"took too long \(the limit is 1 s\)"):
            fetch("https://example.com/")
        assert time.monotonic() - started < 4
    finally:
        release.set()


def test_endless_headers_are_refused(loopback_allowed):
    """Headers are read into a bounded buffer (httpcore's 100 KiB), never without end."""

    def flood(connection):
        connection.sendall(b"HTTP/1.1 200 OK\r\n")
        while True:
            connection.sendall(b"X-Flood: " + b"a" * 8000 + b"\r\n")

    with (
        RawServer(flood) as server,
        pytest.raises(ServiceError, match="RemoteProtocolError"),
    ):
        loopback_fetch(server, timeout=5)(server.url)
