"""What the transport decides without IO: time limits, waits, whether to retry.

`Timeout` and `Backoff` are the user's settings (re-exported by `agentkit`); `RetryPlan`
decides after each failed attempt whether to try again and after how long; `Clock` turns the
four limits of one attempt into deadlines and names the one that expired.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import httpx

from ._exceptions import APIError, APIStatusError, APITimeoutError, UsageError

__all__ = ["Backoff", "Clock", "Phase", "RetryPlan", "Timeout"]

Phase: TypeAlias = Literal["connect", "first_byte", "idle", "total"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeout:
    """The four time limits of one attempt, in seconds (`None`: no limit).

    A number given where a `Timeout` is expected sets all four (`Timeout.uniform`), so it
    bounds the whole attempt. What each limit bounds is measured from the moment the request
    is sent, per attempt: retries and their waits start again.

    Examples:
        >>> Timeout(first_byte=30).idle
        60.0
        >>> Timeout.uniform(5)
        Timeout(connect=5.0, first_byte=5.0, idle=5.0, total=5.0)
    """

    connect: float | None = 10.0
    """Opening the connection (TCP and TLS). Slow networks and TLS need more than httpx's 5 s."""

    first_byte: float | None = 120.0
    """Until the response headers arrive and, for a stream, its first body bytes.

    A non-streamed answer arrives whole, after the model has written it; GoAPI's Cloudflare
    ends such a wait at about 100 s with a 524, which the client retries as a stream. The
    default is longer than that, so the gateway's 524 (which leads to the streamed retry) comes
    first, and a large prompt on GPT-4 still has time to produce its first token.
    """

    idle: float | None = 60.0
    """The longest wait for more body bytes (also the longest stall while sending).

    Tokens arrive every few tens of milliseconds and `: ping` comments count as bytes, so a
    minute of silence means the stream is dead.
    """

    total: float | None = 600.0
    """The whole attempt, from sending to the last byte: 4,096 tokens at a slow 10 tokens/s."""

    def __post_init__(self) -> None:
        for name in ("connect", "first_byte", "idle", "total"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise UsageError(f"Timeout.{name} must be a positive number of seconds or None.")
            if value is not None:
                object.__setattr__(self, name, float(value))

    @classmethod
    def uniform(cls, seconds: float | None) -> Timeout:
        """One limit for all four phases (so it is, in effect, the total)."""
        return cls(connect=seconds, first_byte=seconds, idle=seconds, total=seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """How long to wait between attempts, and how to wait (tests pass a recording `sleep`).

    The wait before retry `n` (0 for the first) is what the server asked for, if it said
    (`retry-after-ms`, then `Retry-After`), capped at `max_retry_after`; else
    `min(initial * 2**n, maximum)`, shortened by up to `jitter` (a fraction) at random, so
    the workers of a batch do not all come back at once.

    Examples:
        >>> Backoff(jitter=0).delay(3)
        4.0
        >>> Backoff().delay(0, retry_after=120)
        60.0
    """

    initial: float = 0.5
    """The first wait when the server did not say."""

    maximum: float = 8.0
    """The longest computed wait."""

    jitter: float = 0.25
    """The fraction of a computed wait taken off at random (0 to 1)."""

    max_retry_after: float = 60.0
    """The longest wait the server may ask for; longer requests are cut to this."""

    sleep: Callable[[float], object] = time.sleep
    """How the sync driver waits."""

    asleep: Callable[[float], Awaitable[object]] | None = None
    """How the async driver waits (default: `anyio.sleep`, which also serves trio)."""

    random: Callable[[], float] = field(default=random.random, repr=False)
    """A number in [0, 1) for the jitter."""

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        computed = min(self.initial * 2.0**retry, self.maximum)
        return computed * (1 - self.jitter * self.random())


class RetryPlan:
    """The retry decisions for one call, shared by both drivers; no IO.

    Retried: errors marked `retryable` (connection errors, timeouts, 408, 409, 429 but not
    `insufficient_quota`, 5xx, Cloudflare 520-524, broken streams; `x-should-retry`
    overrides), at most `max_retries` times, and never after output reached the caller.
    A 524 on a non-streamed request is retried at once as a streamed one.
    """

    __slots__ = ("attempt", "backoff", "max_retries", "stream")

    def __init__(self, *, max_retries: int, backoff: Backoff, stream: bool) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.stream = stream
        self.attempt = 1

    def after(self, error: APIError, *, delivered: bool) -> float | None:
        """Seconds to wait before the next attempt, or `None`: raise `error`."""
        if delivered or not error.retryable or self.attempt > self.max_retries:
            return None
        retry = self.attempt - 1
        self.attempt += 1
        if not self.stream and isinstance(error, APIStatusError) and error.status_code == 524:
            self.stream = True  # the answer took over 100 s to start; a stream starts at once
            return 0.0
        return self.backoff.delay(retry, getattr(error, "retry_after", None))


@functools.lru_cache(maxsize=64)
def _httpx_timeout(timeout: Timeout) -> httpx.Timeout:
    """`timeout` as httpx takes it, made once per `Timeout` (httpx copies it per request)."""
    return httpx.Timeout(
        connect=timeout.connect, read=timeout.first_byte, write=timeout.idle, pool=timeout.total
    )


class Clock:
    """The four timeouts of one attempt as limits and deadlines; no IO but a clock read.

    `limit()` gives the limit for the next wait and remembers its phase, so that a timeout
    reported by httpx or anyio is named after the limit that expired.
    """

    __slots__ = ("body_stream", "first_bytes", "phase", "started", "timeout")

    def __init__(self, timeout: Timeout) -> None:
        self.timeout = timeout
        self.started = time.monotonic()
        self.first_bytes: float | None = None  # when the first body bytes arrived
        self.body_stream = False  # whether the body is a stream (first_byte covers it)
        self.phase: Phase = "first_byte"

    def elapsed(self) -> float:
        """Seconds since the request was sent."""
        return time.monotonic() - self.started

    def _pick(self, limit: float | None, phase: Phase) -> float | None:
        total = self.timeout.total
        left = None if total is None else max(total - self.elapsed(), 0.0)
        if left is not None and (limit is None or left <= limit):
            limit, phase = left, "total"
        self.phase = phase
        return limit

    def httpx_timeout(self) -> httpx.Timeout:
        """Connect, headers (first byte), write stalls and the pool wait, as httpx takes them."""
        t = self.timeout
        read = self._pick(t.first_byte, "first_byte")
        if read == t.first_byte:  # the usual case: `total` leaves more than `first_byte`
            return _httpx_timeout(t)
        return httpx.Timeout(connect=t.connect, read=read, write=t.idle, pool=t.total)

    def limit(self, *, first_byte: bool = True) -> float | None:
        """The limit for the next body read, capped by what is left of `total`.

        `first_byte` for the first bytes of a stream (unless told `first_byte=False`), else
        `idle`.
        """
        if (
            first_byte
            and self.body_stream
            and self.first_bytes is None
            and self.timeout.first_byte is not None
        ):
            left = max(self.timeout.first_byte - self.elapsed(), 0.0)
            return self._pick(left, "first_byte")
        return self._pick(self.timeout.idle, "idle")

    def got_bytes(self) -> None:
        """Note that body bytes arrived."""
        if self.first_bytes is None:
            self.first_bytes = self.elapsed()

    def over_total(self) -> bool:
        """Whether the attempt has run past its total limit."""
        total = self.timeout.total
        return total is not None and self.elapsed() > total

    def expired(self, phase: Phase | None = None) -> APITimeoutError:
        """The error for the limit of `phase` (default: the phase of the last limit given)."""
        phase = phase or self.phase
        seconds = {
            "connect": self.timeout.connect,
            "first_byte": self.timeout.first_byte,
            "idle": self.timeout.idle,
            "total": self.timeout.total,
        }[phase]
        return APITimeoutError(phase, seconds)
