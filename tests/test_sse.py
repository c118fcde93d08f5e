"""The event-stream decoder: WHATWG `text/event-stream` rules, reads split anywhere."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentkit._sse import ServerSentEvent, SSEDecoder

BOM = b"\xef\xbb\xbf"


def decode(*reads: bytes) -> list[ServerSentEvent]:
    """Feed the reads in order, then flush: every event the stream yields."""
    decoder = SSEDecoder()
    events = [event for read in reads for event in decoder.feed(read)]
    return events + decoder.flush()


def datas(*reads: bytes) -> list[str]:
    return [event.data for event in decode(*reads)]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# --------------------------------------------------------------------------- line ends


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_every_line_end_is_understood(end):
    """LF, CR and CRLF all end lines; two of them end an event."""
    stream = b"data: one" + end + end + b"data: two" + end + b"data: 2b" + end + end
    assert datas(stream) == ["one", "two\n2b"]


def test_mixed_line_ends_in_one_stream():
    """Line ends may change from one line to the next."""
    assert datas(b"data: a\r\n\ndata: b\n\r\ndata: c\r\r") == ["a", "b", "c"]


def test_crlf_split_across_two_reads_is_one_line_end():
    """A CR at the end of a read and an LF at the start of the next are one line end."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [ServerSentEvent("a")]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [ServerSentEvent("b")]
    assert decoder.flush() == []


def test_crlf_events_are_delivered_by_the_read_that_completes_them():
    """With CRLF line ends, an event comes out of the read holding its blank line."""
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"a": 1}\r\n\r\n') == [ServerSentEvent('{"a": 1}')]
    assert decoder.feed(b"data: [DONE]\r\n\r\n") == [ServerSentEvent("[DONE]")]


def test_one_byte_reads():
    """Reads of a single byte give the same events as one read."""
    stream = b": ping\r\n\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r\ndata: [DONE]\r\n\r\n"
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == decode(stream)


def test_empty_reads_change_nothing():
    """An empty read (a keep-alive of the transport) is harmless anywhere."""
    assert decode(b"", b"data: a\r", b"", b"\n", b"", b"\n", b"") == [ServerSentEvent("a")]


# --------------------------------------------------------------------------- fields


@pytest.mark.parametrize("comment", [b": ping", b":", b":: x", b": data: not data"])
def test_comment_lines_are_ignored(comment):
    """A line starting with `:` is a comment, alone or between data lines."""
    assert decode(comment + b"\n\n") == []
    assert datas(b"data: a\n" + comment + b"\ndata: b\n\n") == ["a\nb"]


def test_event_id_and_retry_fields():
    """`event:`, `id:` and `retry:` fill the event's fields."""
    stream = b"event: update\nid: 7\nretry: 3000\ndata: x\n\n"
    assert decode(stream) == [ServerSentEvent("x", event="update", id="7", retry=3000)]


def test_event_and_retry_reset_but_the_id_persists():
    """After an event, `event` and `retry` reset; the last `id` stays until a new one."""
    stream = b"event: update\nid: 7\nretry: 10\ndata: x\n\ndata: y\n\nid: 8\ndata: z\n\n"
    assert decode(stream) == [
        ServerSentEvent("x", "update", "7", 10),
        ServerSentEvent("y", "message", "7", None),
        ServerSentEvent("z", "message", "8", None),
    ]


def test_an_empty_event_field_means_message():
    """`event:` with no value gives the default type."""
    assert decode(b"event:\ndata: x\n\n") == [ServerSentEvent("x")]


@pytest.mark.parametrize("value", [b"", b"abc", b"-1", b"1.5", b"  10", b"\xd9\xa3"])
def test_retry_must_be_ascii_digits(value):
    """A `retry:` whose value is not made of ASCII digits is ignored."""
    (event,) = decode(b"retry:" + value + b"\ndata: x\n\n")
    assert event.retry is None


def test_an_id_with_a_nul_is_ignored():
    """An `id:` holding U+0000 is ignored; the previous id stays."""
    events = decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]


def test_unknown_fields_are_ignored():
    """Fields the standard does not name (and lines without a colon) are ignored."""
    assert datas(b"foo: bar\nDATA: no\nhello\ndata: x\nevent2: y\n\n") == ["x"]


def test_multi_line_data_is_joined_with_newlines():
    """Several `data:` lines make one value joined by LF, with no trailing LF."""
    assert datas(b'data: {\ndata:   "a": 1\ndata: }\n\n') == ['{\n  "a": 1\n}']


@pytest.mark.parametrize(
    ("line", "value"),
    [
        (b"data: x", "x"),
        (b"data:x", "x"),
        (b"data:  x", " x"),
        (b"data: ", ""),
        (b"data:", ""),
        (b"data", ""),
        (b"data: x: y", "x: y"),
        (b"data:\tx", "\tx"),
    ],
)
def test_data_with_and_without_the_space(line, value):
    """One space after the colon is dropped; `data` alone is an empty data line."""
    assert datas(line + b"\n\n") == [value]


def test_data_alone_twice_gives_one_newline():
    """Two empty data lines join into a single newline."""
    assert datas(b"data\ndata\n\n") == ["\n"]


def test_data_is_decoded_as_utf8():
    """The value is UTF-8 text; invalid bytes become U+FFFD rather than failing."""
    assert datas("data: é 日本 🎉\n\n".encode()) == ["é 日本 🎉"]
    assert datas(b"data: \xff\n\n") == ["\ufffd"]


# --------------------------------------------------------------------------- BOM


@pytest.mark.parametrize("cut", [0, 1, 2, 3, 4])
def test_a_leading_bom_is_dropped_even_when_split(cut):
    """A byte-order mark at the start is skipped, whichever read it arrives in."""
    stream = BOM + b"data: x\n\n"
    assert decode(stream[:cut], stream[cut:]) == [ServerSentEvent("x")]


def test_a_bom_split_over_three_reads():
    """The BOM may come one byte per read."""
    assert datas(b"\xef", b"\xbb", b"\xbf", b"data: x\n\n") == ["x"]


def test_only_one_leading_bom_is_dropped():
    """A second BOM belongs to the first field name, which is then unknown."""
    assert decode(BOM + BOM + b"data: x\n\n") == []
    assert datas(b"data: a\n\n" + BOM + b"data: b\n\n") == ["a"]


def test_bytes_that_only_start_like_a_bom_are_kept():
    """A stream starting with the first BOM bytes but not a BOM is read as it is."""
    assert datas("data: ï»\n\n".encode()) == ["ï»"]


# --------------------------------------------------------------------------- dispatch


def test_a_blank_line_without_data_dispatches_nothing():
    """Blank lines with no data before them give no event, and reset the event type."""
    assert decode(b"\n\n\n") == []
    assert decode(b"event: ping\n\n") == []
    assert decode(b"retry: 5\nevent: x\n\ndata: y\n\n") == [ServerSentEvent("y")]


def test_flush_delivers_a_last_event_whose_lines_were_complete():
    """A proxy that drops the final blank line loses no event."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: [DONE]\n") == [ServerSentEvent("a")]
    assert decoder.flush() == [ServerSentEvent("[DONE]")]


def test_flush_delivers_a_multi_line_event_whose_lines_were_complete():
    """All complete data lines of the last event are kept."""
    assert datas(b"data: a\r\ndata: b\r\n") == ["a\nb"]


def test_flush_drops_a_half_line():
    """A line cut off mid-way is not what the server sent: its event is dropped."""
    assert datas(b'data: {"a": 1}\n\ndata: {"b"') == ['{"a": 1}']
    assert datas(b"data: complete\ndata: cut") == []


def test_flush_after_a_complete_event_gives_nothing():
    """Flushing a stream that ended cleanly delivers nothing twice."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [ServerSentEvent("a")]
    assert decoder.flush() == []


def test_flush_of_an_empty_stream():
    """An empty body has no events."""
    assert SSEDecoder().flush() == []
    assert decode(b"") == []


def test_flush_after_a_last_line_ended_by_cr_cr():
    """A CR-only stream's last event, ended by CR CR, comes out at the latest on flush."""
    assert datas(b"data: a\r\r") == ["a"]


def test_flush_delivers_a_last_line_ended_by_a_lone_cr():
    """`data: x` ended by CR at the end of the body is as complete as one ended by LF."""
    assert datas(b"data: x\r") == datas(b"data: x\n") == ["x"]


def test_cr_ended_events_are_delivered_by_the_read_that_completes_them():
    """`data: x` CR CR is a complete event as soon as the second CR arrives."""
    assert SSEDecoder().feed(b"data: x\r\r") == [ServerSentEvent("x")]


# --------------------------------------------------------------------------- properties

_TEXT = st.lists(
    st.sampled_from([*"ab :é日本🎉\u2028{}\"'\t\0", "data", "id", "\ufeff"]), max_size=8
).map("".join)
_LINE = st.one_of(
    st.builds(lambda v: "data: " + v, _TEXT),
    st.builds(lambda v: "data:" + v, _TEXT),
    st.just("data"),
    st.builds(lambda v: "event: " + v, _TEXT),
    st.builds(lambda v: "id: " + v, _TEXT),
    st.builds(lambda v: f"retry: {v}", st.integers(0, 10_000)),
    st.builds(lambda v: ":" + v, _TEXT),
    st.builds(lambda v: "x" + v, _TEXT),
    st.just(""),
    st.just(""),
)
_END = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(_LINE, _END), max_size=25))
    text = "".join(line + end for line, end in lines)
    if draw(st.booleans()):
        text += draw(_LINE)  # a last line cut off mid-way
    return (BOM if draw(st.booleans()) else b"") + text.encode()


@settings(max_examples=200, deadline=None)
@given(data=st.data(), stream=streams())
def test_any_split_gives_the_events_of_the_whole(data, stream):
    """However the bytes are cut into reads, even inside a UTF-8 character, events agree."""
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12))
    assert decode(*split_at(stream, cuts)) == decode(stream)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), text=st.text(max_size=60))
def test_any_split_inside_utf8_characters(data, text):
    """Multi-byte characters (é, 日本, emoji) survive any cut between their bytes."""
    text = text.replace("\r", "").replace("\n", "").replace("\0", "")
    stream = f"data: é{text}日本🎉\r\n\r\n".encode()
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    assert datas(*split_at(stream, cuts)) == [f"é{text}日本🎉"]


def reference(stream: bytes) -> list[ServerSentEvent]:
    """A plain reading of the WHATWG algorithm, plus agentkit's documented flush departure."""
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    *lines, rest = re.split(r"\r\n|\r|\n", text)
    events, data, event, retry, last_id = [], [], None, None, None
    for line in lines:
        if not line:
            if data:
                events.append(ServerSentEvent("\n".join(data), event or "message", last_id, retry))
            data, event, retry = [], None, None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            retry = int(value)
    if data and not rest:
        events.append(ServerSentEvent("\n".join(data), event or "message", last_id, retry))
    return events


@settings(max_examples=200, deadline=None)
@given(stream=streams())
def test_the_decoder_follows_the_standard(stream):
    """Events match a line-by-line reading of the WHATWG algorithm."""
    assert decode(stream) == reference(stream)
