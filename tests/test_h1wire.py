"""The HTTP/1.1 parser of the async transport: strict with what a hostile server sends."""

from __future__ import annotations

import pytest

from agentkit._h1wire import (
    MAX_HEAD,
    MAX_HEADERS,
    MAX_INTERIM,
    ProtocolError,
    ResponseReader,
    request_head,
)


def read(data: bytes, *, head_request: bool = False, close: bool = False) -> tuple[int, bytes]:
    """The status and the body of the one response in `data` (fed a byte at a time too)."""
    results = []
    for step in (len(data) or 1, 1):
        reader = ResponseReader()
        head, body = None, b""
        for start in range(0, len(data), step):
            reader.buffer += data[start : start + step]
            if head is None:
                head = reader.head(head_request)
            if head is not None:
                body += reader.body()
        if close:
            reader.closed()
        assert head is not None
        assert reader.done
        results.append((head.status, body))
    assert results[0] == results[1]
    return results[0]


def test_a_response_with_a_length_is_read_whole() -> None:
    assert read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello") == (200, b"hello")


def test_identical_duplicate_lengths_are_one_length() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2, 2\r\n\r\nok"
    assert read(data) == (200, b"ok")


def test_a_chunked_body_with_extensions_and_trailers() -> None:
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;name=value\r\nhello\r\n1 \r\n!\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    assert read(data) == (200, b"hello!")


def test_interim_responses_are_skipped_and_bodyless_statuses_have_no_body() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\nHTTP/1.1 204 No\r\n\r\n"
    )
    assert read(data) == (204, b"")
    assert read(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", head_request=True) == (200, b"")


def test_a_body_without_framing_ends_with_the_connection_which_is_not_kept() -> None:
    data = b"HTTP/1.0 200 OK\nServer: old\n\nuntil the end"
    assert read(data, close=True) == (200, b"until the end")
    reader = ResponseReader()
    reader.buffer += data
    head = reader.head()
    assert head is not None
    assert not head.keep_alive
    assert head.version == b"HTTP/1.0"


@pytest.mark.parametrize(
    ("value", "keep"), [(b"close", False), (b"Keep-Alive, Close", False), (b"keep-alive", True)]
)
def test_connection_close_is_honoured(value: bytes, keep: bool) -> None:
    reader = ResponseReader()
    reader.buffer += b"HTTP/1.1 200 OK\r\nConnection: %s\r\nContent-Length: 0\r\n\r\n" % value
    head = reader.head()
    assert head is not None
    assert head.keep_alive is keep


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"HTTP/1.1 20 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/2 200 OK\r\n\r\n", "malformed status line"),
        (b"ICY 200 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\x00\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", "folded field line"),
        (b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n", "malformed field line"),
        (b"HTTP/1.1 200 OK\r\nName : 1\r\n\r\n", "malformed field line"),
        (b"HTTP/1.1 200 OK\r\nA: b\x01c\r\n\r\n", "malformed field line"),
        (b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n", "malformed field line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9" + b"9" * 20 + b"\r\n\r\n", "invalid Content"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2,\r\n\r\n", "conflicting"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported Transfer-Encoding"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
        (b"HTTP/1.1 101 Switching\r\nUpgrade: h2c\r\n\r\n", "switched protocols"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * (MAX_INTERIM + 1), "interim"),
        (b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n", "more than"),
    ],
)
def test_a_malformed_head_is_a_protocol_error(data: bytes, says: str) -> None:
    reader = ResponseReader()
    reader.buffer += data
    with pytest.raises(ProtocolError, match=says):
        reader.head()


def test_a_head_too_large_is_refused_before_it_ends() -> None:
    reader = ResponseReader()
    reader.buffer += b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD
    with pytest.raises(ProtocolError, match="larger than"):
        reader.head()
    reader = ResponseReader()  # and when its end is in the same read
    reader.buffer += b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD + b"\r\n\r\n"
    with pytest.raises(ProtocolError, match="larger than"):
        reader.head()


def test_a_head_arriving_a_byte_at_a_time_is_searched_once() -> None:
    reader = ResponseReader()
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n":
        reader.buffer.append(byte)
        assert reader.head() is None
    reader.buffer += b"\r\n"
    head = reader.head()
    assert head is not None
    assert head.headers == [(b"Content-Length", b"0")]
    assert reader.done


@pytest.mark.parametrize(
    ("chunks", "says"),
    [
        (b"zz\r\nhi\r\n0\r\n\r\n", "invalid chunk size"),
        (b"-2\r\nhi\r\n0\r\n\r\n", "invalid chunk size"),
        (b"1" * 17 + b"\r\n", "invalid chunk size"),
        (b"2\r\nhello\r\n0\r\n\r\n", "longer than its size"),
        (b"2;" + b"x" * 5000, "longer than"),
        (b"0\r\nnot a field\r\n\r\n", "trailer"),
    ],
)
def test_a_malformed_chunked_body_is_a_protocol_error(chunks: bytes, says: str) -> None:
    reader = ResponseReader()
    reader.buffer += b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    assert reader.head() is not None
    with pytest.raises(ProtocolError, match=says):
        reader.body()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "5 bytes of the body unsent"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "chunked body"),
    ],
)
def test_a_body_cut_short_by_the_close_is_a_protocol_error(data: bytes, says: str) -> None:
    reader = ResponseReader()
    reader.buffer += data
    assert reader.head() is not None
    reader.body()
    with pytest.raises(ProtocolError, match=says):
        reader.closed()


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        (b"GET", b"/", [(b"X-A", b"one\r\nInjected: yes")]),
        (b"GET", b"/", [(b"Bad Name", b"1")]),
        (b"GET", b"/ HTTP/1.1\r\nX: y", []),
        (b"G T", b"/", []),
    ],
)
def test_a_request_head_that_would_break_the_wire_is_refused(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    with pytest.raises(ValueError, match="invalid request"):
        request_head(method, target, headers)
