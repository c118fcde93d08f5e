"""HTTP/1.1 on the wire, with no IO: a request's head out, responses in (for `_h1`).

`request_head` writes a request's head; `ResponseReader` takes a connection's bytes as they
arrive and finds in them each response's head (skipping 1xx) and its body, framed by
`Content-Length`, by `Transfer-Encoding: chunked` or by the end of the connection. It is
strict, because what it reads comes from a server agentkit does not control: a head larger
than `MAX_HEAD` or with more than `MAX_HEADERS` fields, a malformed status line or field
line (folded lines too), conflicting or negative lengths, a bad chunk size: each is a
`ProtocolError` saying what was wrong, never a hang or a body read with the wrong length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_HEAD",
    "MAX_HEADERS",
    "MAX_INTERIM",
    "Head",
    "ProtocolError",
    "ResponseReader",
    "request_head",
]

#: The largest response head read (status line, fields, the blank line), in bytes.
MAX_HEAD = 64 * 1024
#: The most fields a response head may carry.
MAX_HEADERS = 256
#: The most interim (1xx) responses read before the final one: a server that sends them
#: without end would otherwise hold the request forever.
MAX_INTERIM = 16
#: The longest chunk-size line (the size, its extensions, CRLF), in bytes.
MAX_CHUNK_LINE = 4096

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE_END = re.compile(rb"\r?\n")
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(rb"[^\x00-\x08\x0a-\x1f\x7f]*")
_LENGTH = re.compile(rb"[0-9]{1,18}")
_HEX_DIGITS = b"0123456789abcdefABCDEF"
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?")


class ProtocolError(Exception):
    """The server's bytes are not a well-formed HTTP/1.1 response (the text says where)."""


def _excerpt(data: bytes) -> str:
    return repr(bytes(data[:100]))


def request_head(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    r"""The head of a request, ending in its blank line.

    Raises:
        ValueError: The method, target or a field would break the head (a space, CR or LF
            where it does not belong): what was given is not sent.

    Examples:
        >>> request_head(b"GET", b"/v1/models", [(b"Host", b"example.com")])
        b'GET /v1/models HTTP/1.1\r\nHost: example.com\r\n\r\n'
    """
    if not _TOKEN.fullmatch(method) or not target or b" " in target or not _VALUE.fullmatch(target):
        raise ValueError(f"invalid request line: {method!r} {target!r}")
    lines = [b"%s %s HTTP/1.1\r\n" % (method, target)]
    for name, value in headers:
        if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            raise ValueError(f"invalid request header: {name!r}: {value!r}")
        lines.append(b"%s: %s\r\n" % (name, value))
    lines.append(b"\r\n")
    return b"".join(lines)


@dataclass(slots=True)
class Head:
    """A response's status line and fields, and what they say about its body."""

    version: bytes
    """`b"HTTP/1.1"` or `b"HTTP/1.0"`."""
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    """The fields as sent (names in their own case), in order."""
    keep_alive: bool
    """Whether the connection may carry another request once this body has ended."""


# How a body ends (`ResponseReader.framing`).
_LENGTH_FRAMED, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2
# Where a chunked body is.
_SIZE, _DATA, _DATA_END, _TRAILER = 0, 1, 2, 3


class ResponseReader:
    """One connection's responses, read from `buffer` (the connection appends what arrives).

    Call `head()` until it returns the head, then `body()` until `done`; `closed()` when the
    connection has ended. Each takes what it reads out of `buffer`.
    """

    __slots__ = (
        "_chunk_state",
        "_framing",
        "_interim",
        "_left",
        "_scanned",
        "_trailer",
        "buffer",
        "done",
    )

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.done = False  # the current body has ended
        self._scanned = 0  # how much of `buffer` was searched for the head's end
        self._framing = _LENGTH_FRAMED
        self._left = 0  # bytes left of the body (length-framed) or of the chunk
        self._chunk_state = _SIZE
        self._trailer = 0  # bytes of trailer fields read
        self._interim = 0  # interim responses read before this response's final one

    def head(self, head_request: bool = False) -> Head | None:
        """The next final response's head, or `None` until more bytes arrive.

        Args:
            head_request: The request was `HEAD` (its response has no body).

        Raises:
            ProtocolError: The head is malformed or too large.
        """
        while True:
            buffer = self.buffer
            found = _HEAD_END.search(buffer, max(0, self._scanned - 3))
            if found is None:
                if len(buffer) > MAX_HEAD:
                    raise ProtocolError(f"the response head is larger than {MAX_HEAD} bytes")
                self._scanned = len(buffer)
                return None
            end = found.start()
            if end > MAX_HEAD:
                raise ProtocolError(f"the response head is larger than {MAX_HEAD} bytes")
            lines = _LINE_END.split(bytes(buffer[:end]))
            del buffer[: found.end()]
            self._scanned = 0
            head = self._parse(lines, head_request)
            if head is not None:
                return head

    def _parse(self, lines: list[bytes], head_request: bool) -> Head | None:
        status_line = _STATUS.fullmatch(lines[0])
        if status_line is None:
            raise ProtocolError(f"malformed status line {_excerpt(lines[0])}")
        minor, code, reason = status_line.groups()
        status = int(code)
        if len(lines) > MAX_HEADERS + 1:
            raise ProtocolError(f"the response head has more than {MAX_HEADERS} fields")
        headers = []
        lengths: set[bytes] = set()
        chunked = False
        keep_alive = minor == b"1"
        for line in lines[1:]:
            field = _FIELD.fullmatch(line)
            if field is None:
                what = "folded field line" if line[:1] in (b" ", b"\t") else "malformed field line"
                raise ProtocolError(f"{what} {_excerpt(line)}")
            name, value = field.groups()
            headers.append((name, value))
            lowered = name.lower()
            if lowered == b"content-length":
                lengths.update(part.strip(b" \t") for part in value.split(b","))
            elif lowered == b"transfer-encoding":
                if value.lower() != b"chunked" or chunked:
                    raise ProtocolError(f"unsupported Transfer-Encoding {_excerpt(value)}")
                chunked = True
            elif lowered == b"connection" and b"close" in value.lower():
                keep_alive &= b"close" not in (t.strip(b" \t") for t in value.lower().split(b","))
        if 100 <= status < 200:
            if status == 101:
                raise ProtocolError("the server switched protocols (101), which was not asked")
            self._interim += 1
            if self._interim > MAX_INTERIM:
                raise ProtocolError(f"more than {MAX_INTERIM} interim (1xx) responses")
            return None  # an interim response: the final one follows
        if len(lengths) > 1:
            raise ProtocolError(f"conflicting Content-Length values {sorted(lengths)!r}")
        length = lengths.pop() if lengths else None
        if length is not None and not _LENGTH.fullmatch(length):
            raise ProtocolError(f"invalid Content-Length {_excerpt(length)}")
        if chunked and length is not None:
            raise ProtocolError("the response has both Content-Length and Transfer-Encoding")
        self.done = False
        self._interim = 0
        if head_request or status in (204, 304):
            self._framing, self._left = _LENGTH_FRAMED, 0
        elif chunked:
            self._framing, self._chunk_state, self._trailer = _CHUNKED, _SIZE, 0
        elif length is not None:
            self._framing, self._left = _LENGTH_FRAMED, int(length)
        else:
            self._framing = _UNTIL_CLOSE
            keep_alive = False
        if self._framing == _LENGTH_FRAMED and self._left == 0:
            self.done = True
        return Head(b"HTTP/1." + minor, status, reason or b"", headers, keep_alive)

    def body(self) -> bytes:
        """The body's bytes that have arrived (`b""`: none yet, or the end when `done`).

        Raises:
            ProtocolError: The chunked framing is malformed.
        """
        if self.done:
            return b""
        buffer = self.buffer
        if self._framing == _UNTIL_CLOSE:
            data = bytes(buffer)
            buffer.clear()
            return data
        if self._framing == _LENGTH_FRAMED:
            size = min(self._left, len(buffer))
            data = bytes(buffer[:size])
            del buffer[:size]
            self._left -= size
            self.done = self._left == 0
            return data
        return self._chunks()

    def _chunks(self) -> bytes:
        buffer = self.buffer
        pieces = []
        while buffer:
            state = self._chunk_state
            if state == _DATA:
                size = min(self._left, len(buffer))
                pieces.append(bytes(buffer[:size]))
                del buffer[:size]
                self._left -= size
                if self._left == 0:
                    self._chunk_state = _DATA_END
                continue
            end = buffer.find(b"\r\n", 0, MAX_CHUNK_LINE)
            if end < 0:
                if len(buffer) >= MAX_CHUNK_LINE:
                    raise ProtocolError(f"a chunk line is longer than {MAX_CHUNK_LINE} bytes")
                break
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            if state == _DATA_END:
                if line:
                    raise ProtocolError(f"a chunk is longer than its size {_excerpt(line)}")
                self._chunk_state = _SIZE
            elif state == _SIZE:
                if 0 < len(line) <= 16 and not line.strip(_HEX_DIGITS):  # the usual line
                    self._left = int(line, 16)
                else:
                    match = _CHUNK_SIZE.fullmatch(line)
                    if match is None:
                        raise ProtocolError(f"invalid chunk size line {_excerpt(line)}")
                    self._left = int(match.group(1), 16)
                self._chunk_state = _DATA if self._left else _TRAILER
            elif not line:  # the blank line after the trailer fields: the body has ended
                self.done = True
                break
            else:
                self._trailer += len(line) + 2
                if self._trailer > MAX_HEAD or not _FIELD.fullmatch(line):
                    raise ProtocolError(f"invalid or too large trailer {_excerpt(line)}")
        return b"".join(pieces)

    def closed(self) -> None:
        """The connection ended: a body framed by it ends here; any other is cut short.

        Raises:
            ProtocolError: The body was cut short.
        """
        if self.done:
            return
        if self._framing == _UNTIL_CLOSE and not self.buffer:
            self.done = True
            return
        if self._framing == _LENGTH_FRAMED:
            raise ProtocolError(
                f"the server closed the connection with {self._left} bytes of the body unsent"
            )
        raise ProtocolError("the server closed the connection before the chunked body ended")
