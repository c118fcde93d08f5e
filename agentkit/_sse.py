"""Server-sent events: bytes in as they arrive, events out. No IO, no JSON.

Follows the WHATWG rules for `text/event-stream`: lines end with LF, CR or CRLF (a CRLF may
be split across two reads); a line starting with `:` is a comment (`: ping`); `event:`,
`data:`, `id:` and `retry:` fields, with or without a space after the colon; several `data:`
lines join with newlines; a blank line ends an event. Bytes are split into lines before they
are decoded, so a read may end anywhere, even inside a UTF-8 character.

One departure, so that nothing is lost: at the end of the body the WHATWG parser drops an
event that has no blank line after it. `flush()` still delivers it when its last line was
complete (a proxy that drops the final blank line loses no chunk); a line cut off in the
middle is dropped, because it is not what the server sent.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "ServerSentEvent"]


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event of a stream."""

    data: str
    """The `data:` lines, joined by newlines."""

    event: str = "message"
    """The `event:` field (`"message"` when the server sent none)."""

    id: str | None = None
    """The last `id:` seen in the stream, if any."""

    retry: int | None = None
    """The `retry:` field (milliseconds) of this event, if any."""


class SSEDecoder:
    r"""Turns the bytes of an event stream, in reads of any size, into events.

    Examples:
        >>> decoder = SSEDecoder()
        >>> decoder.feed(b'data: {"a": 1}\n\nda')
        [ServerSentEvent(data='{"a": 1}', event='message', id=None, retry=None)]
        >>> decoder.feed(b"ta: [DONE]\r\n\r\n")
        [ServerSentEvent(data='[DONE]', event='message', id=None, retry=None)]
    """

    __slots__ = ("_data", "_event", "_id", "_pending", "_retry", "_skip_lf", "_started")

    def __init__(self) -> None:
        self._pending = b""  # bytes after the last complete line
        self._skip_lf = False  # the last read ended with CR: an LF starting the next ends nothing
        self._data: list[str] = []
        self._event: str | None = None
        self._retry: int | None = None
        self._id: str | None = None
        self._started = False  # whether a leading byte-order mark could still come

    def feed(self, data: bytes) -> list[ServerSentEvent]:
        """Take the next bytes of the stream; return the events they complete."""
        buffer = self._pending + data if self._pending else data
        if not self._started:
            if len(buffer) < 3 and b"\xef\xbb\xbf".startswith(buffer):
                self._pending = buffer  # could still be a byte-order mark: wait for more
                return []
            self._started = True
            if buffer.startswith(b"\xef\xbb\xbf"):
                buffer = buffer[3:]
        if self._skip_lf and buffer:
            self._skip_lf = False
            if buffer[0] == 0x0A:  # the second half of a CRLF split across two reads
                buffer = buffer[1:]
        if b"\r" in buffer:
            self._skip_lf = buffer.endswith(b"\r")
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._pending = lines.pop()
        events: list[ServerSentEvent] = []
        for line in lines:
            if line:
                self._line(line)
            elif self._data:
                events.append(self._dispatch())
            else:  # a blank line after an event with no data: reset, dispatch nothing
                self._event = self._retry = None
        return events

    def flush(self) -> list[ServerSentEvent]:
        """The body has ended: deliver the last event if its lines were complete."""
        pending, self._pending = self._pending, b""
        if pending or not self._data:  # a line cut off mid-way, or nothing waiting
            self._data.clear()
            return []
        return [self._dispatch()]

    def _dispatch(self) -> ServerSentEvent:
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = ServerSentEvent(data, self._event or "message", self._id, self._retry)
        self._data = []
        self._event = self._retry = None
        return event

    def _line(self, line: bytes) -> None:
        if line.startswith(b"data:"):  # the common case first
            value = line[6:] if line[5:6] == b" " else line[5:]
            self._data.append(value.decode("utf-8", "replace"))
            return
        if line[0] == 0x3A:  # ":" a comment, such as ": ping"
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":  # "data" alone on its line: an empty data line
            self._data.append("")
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        # any other field is ignored, as the standard says
