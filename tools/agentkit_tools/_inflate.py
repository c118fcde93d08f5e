"""Undo a body's gzip or deflate compression step by step, so that a cap can stop it.

httpx decompresses a chunk in one call: a few kilobytes of a "gzip bomb" become gigabytes
before any size check can run. Here every step of every layer yields at most 64 KiB, so
the reader, counting decoded bytes, stops pulling once it has enough.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

import httpx

__all__ = ["ACCEPT_ENCODING", "decoded"]

ACCEPT_ENCODING = "gzip, deflate"
"""What requests ask for: the compressions `decoded` undoes (not `br` or `zstd`)."""

_ENCODINGS = ("gzip", "x-gzip", "deflate")
_MAX_LAYERS = 2  # "gzip, gzip" is odd but legal; more is an attack
_STEP = 1 << 16  # most bytes one decompression step may produce


def _encodings(response: httpx.Response) -> list[str]:
    """The body's compressions, outermost last; `DecodingError` for one this does not read."""
    found = [
        name.strip().lower()
        for value in response.headers.get_list("content-encoding")
        for name in value.split(",")
        if name.strip() and name.strip().lower() != "identity"
    ]
    unknown = [name for name in found if name not in _ENCODINGS]
    if unknown:
        raise httpx.DecodingError(f"the body is compressed with {unknown[0][:40]!r}, not read")
    if len(found) > _MAX_LAYERS:
        raise httpx.DecodingError(f"the body is compressed {len(found)} times over, not read")
    return found


def decoded(response: httpx.Response) -> Iterator[bytes]:
    """The body of `response` with every compression undone, lazily, 64 KiB at most a step.

    Raises:
        httpx.DecodingError: A compression this does not read, too many layers, or a
            corrupt or cut body.
    """
    chunks = response.iter_raw()
    for encoding in reversed(_encodings(response)):
        chunks = _inflate(chunks, encoding)
    return chunks


def _inflate(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    """One layer of gzip or deflate undone, never more than `_STEP` bytes at a time.

    `deflate` is meant to be zlib-wrapped; some servers send it raw, so a stream whose first
    bytes are not a zlib header is read as raw deflate (as browsers and httpx do).
    """
    inflater = None
    try:
        for chunk in chunks:
            if inflater is None:
                wbits = zlib.MAX_WBITS | 16 if encoding != "deflate" else zlib.MAX_WBITS
                if encoding == "deflate" and not _zlib_header(chunk):
                    wbits = -zlib.MAX_WBITS
                inflater = zlib.decompressobj(wbits)
            data = chunk
            while not inflater.eof:
                out = inflater.decompress(data, _STEP)
                data = inflater.unconsumed_tail
                if out:
                    yield out
                if not data and len(out) < _STEP:  # all in, all out: the next chunk
                    break
            if inflater.eof:  # anything after the compressed data is not read
                return
        if inflater is not None and not inflater.eof:
            raise httpx.DecodingError(f"the body ends in the middle of its {encoding} data")
    except zlib.error as exc:
        raise httpx.DecodingError(f"the body is not valid {encoding} ({exc})") from None


def _zlib_header(chunk: bytes) -> bool:
    return len(chunk) >= 2 and chunk[0] & 0x0F == 8 and (chunk[0] << 8 | chunk[1]) % 31 == 0
