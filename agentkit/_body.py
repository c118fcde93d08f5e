"""Reading one response's body: what its bytes mean (`BodyReader`) and how long to wait.

`BodyReader` does no IO: the drivers feed it the bytes they read and it gives back stream
deltas and, at the end, the `ModelResponse` (or raises the error the body reports). The
`Watchdog` bounds each async read of the body with one timer per response;
`set_read_timeout` gives the sync driver's reads their limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ._exceptions import APIStatusError, StreamError
from ._messages import ModelResponse, StreamDelta
from ._replies import ChunkAccumulator, parse_error, parse_response
from ._sse import ServerSentEvent, SSEDecoder

__all__ = ["BodyReader", "Watchdog", "set_read_timeout"]


class BodyReader:
    """One response's bytes in, stream deltas out, a `ModelResponse` at the end; no IO.

    An error status collects the body for `parse_error`; a 2xx event stream goes through the
    SSE decoder and the chunk accumulator; any other 2xx body is parsed as one JSON response
    (so a server that ignores `stream: true` still works).
    """

    __slots__ = ("_accumulator", "_body", "_decoder", "_secret", "done", "headers", "sse", "status")

    def __init__(self, status: int, headers: httpx.Headers, secret: str) -> None:
        self.status = status
        self.headers = headers
        self._secret = secret
        ok = 200 <= status < 300
        self.sse = ok and headers.get("content-type", "").startswith("text/event-stream")
        self.done = False  # `[DONE]` seen: the answer is complete whatever follows
        self._body = bytearray()
        self._decoder = SSEDecoder()
        self._accumulator = ChunkAccumulator()

    def feed(self, data: bytes) -> list[StreamDelta]:
        """Take the next bytes of the body; return the deltas they complete."""
        if not self.sse:
            self._body += data
            return []
        deltas: list[StreamDelta] = []
        for event in self._decoder.feed(data):
            deltas += self._event(event)
        return deltas

    def _event(self, event: ServerSentEvent) -> list[StreamDelta]:
        data = event.data
        if self.done or not data:
            return []
        if data == "[DONE]":
            self.done = True
            return []
        try:
            chunk = self._load(data)
        except ValueError:
            raise StreamError(
                f"The stream carried an event that is not JSON: {self._hide(data)[:200]!r}"
            ) from None
        if not isinstance(chunk, dict):
            raise StreamError(
                f"The stream carried an event that is not a chunk: {self._hide(data)[:200]!r}"
            )
        try:
            return self._accumulator.add(chunk)
        except (AttributeError, TypeError):  # a field of a shape no server should send
            raise StreamError(
                f"The stream carried a chunk of an unknown shape: {self._hide(data)[:200]!r}"
            ) from None

    def _hide(self, text: str) -> str:
        """`text` without the key: a server may echo it, and errors get logged and shown.

        Only what can end up in an error is scrubbed; answers are left as they are, so a
        short test key cannot garble the model's words.
        """
        return text.replace(self._secret, "***") if self._secret else text

    def _load(self, text: str) -> Any:
        """The JSON `text`; an error object in it is read with the key scrubbed out."""
        value = json.loads(text)
        if isinstance(value, dict) and "error" in value and self._secret and self._secret in text:
            value = json.loads(self._hide(text))
        return value

    def finish(self) -> ModelResponse:
        """The answer, once the body has ended; raises the error the body reports."""
        if self.sse:
            for event in self._decoder.flush():
                self._event(event)
            return self._accumulator.finish(done=self.done)
        text = self._body.decode("utf-8", "replace")
        if not 200 <= self.status < 300:
            raise parse_error(self.status, self._hide(text).encode(), self.safe_headers())
        try:
            return parse_response(self._load(text))
        except (ValueError, AttributeError, TypeError) as exc:
            headers = self.safe_headers()
            raise APIStatusError(
                f"The server's answer is not a chat completion: {exc}",
                status_code=self.status,
                body=self._hide(text[:2000]),
                request_id=headers.get("x-request-id"),
                cf_ray=headers.get("cf-ray"),
            ) from None

    def safe_headers(self) -> dict[str, str]:
        """The response's headers with the key scrubbed out of every value.

        A gateway may echo the key (in `x-request-id`, say), and header values end up in
        errors (`request_id`, `cf_ray`), so in logs and on the CLI's stderr.
        """
        return {name: self._hide(value) for name, value in self.headers.items()}


def set_read_timeout(response: httpx.Response, seconds: float | None) -> None:
    """Give the body its own read limit (the headers had `first_byte`).

    httpcore reads the request's `timeout` extension when it starts on the headers and again
    when it starts on the body, so a change in between applies to every read of the body.
    """
    timeouts = response.request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        timeouts["read"] = seconds


class Watchdog:
    """The time limits of one response's body reads on asyncio, with one timer, not one a read.

    A timer per read (`anyio.fail_after`) is a cancel scope and a heap entry made and dropped
    for every chunk: a quarter of the CPU agentkit added on top of httpx at 64 streams in
    flight. Here a read only moves the deadline forward. The one timer, when it goes off,
    looks at the deadline: passed while a read waits, it cancels the task (and the read
    raises `TimeoutError`); not yet, it sets itself for the new deadline, so it runs about
    once a limit, however many chunks come. Time the caller spends between reads does not
    count: the deadline is set when a read starts.
    """

    __slots__ = ("deadline", "fired", "handle", "loop", "reading", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        self.loop = loop
        self.task = task
        self.deadline = 0.0
        self.handle: asyncio.TimerHandle | None = None
        self.reading = False
        self.fired = False

    @classmethod
    def start(cls) -> Watchdog | None:
        """A watchdog for the running asyncio task, or `None` elsewhere (trio)."""
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no asyncio loop running: another async library
            return None
        return None if task is None else cls(task.get_loop(), task)

    async def read(self, chunks: AsyncIterator[bytes], limit: float | None) -> bytes:
        """The next chunk, within `limit` seconds (`None`: no limit).

        Raises:
            StopAsyncIteration: The body has ended.
            TimeoutError: The limit passed first.
        """
        if limit is not None:
            self.deadline = self.loop.time() + limit
            if self.handle is None or self.handle.when() > self.deadline:
                self._arm()
        self.reading = limit is not None
        try:
            return await anext(chunks)
        except asyncio.CancelledError:
            if not self.fired:
                raise
            self.fired = False
            if getattr(self.task, "uncancel", lambda: 0)() > 0:
                raise  # cancelled from outside too: that wins
            raise TimeoutError from None
        finally:
            self.reading = False

    def _arm(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        self.handle = self.loop.call_at(self.deadline, self._wake)

    def _wake(self) -> None:
        self.handle = None
        if not self.reading:
            return  # the next read sets the timer again
        if self.loop.time() < self.deadline:
            self._arm()
        else:
            self.fired = True
            self.task.cancel()

    def close(self) -> None:
        """Stop the timer."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
