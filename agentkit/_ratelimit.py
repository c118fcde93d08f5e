"""A shared, IO-free rate limiter for requests and tokens per minute.

It never sleeps: `reserve()` books capacity and says how long the caller must wait before
sending, so the sync driver can `time.sleep` and the async one `await asyncio.sleep` on the
same object. One limiter shared by every worker of a batch keeps them all under the limits
together, and `pause()` (called when the server answers 429 with `Retry-After`) holds back
every worker, not only the one that was told.

The algorithm is GCRA (the generic cell rate algorithm, a leaky bucket kept as one
timestamp per limit): each request or token moves a "theoretical arrival time" forward by
`60 / limit` seconds, and up to `burst` seconds' worth may be sent at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ._exceptions import UsageError

__all__ = ["RateLimiter"]


class _Cell:
    """One GCRA limit: `per_minute` units, `burst` seconds' worth at once."""

    __slots__ = ("burst", "interval", "tat")

    def __init__(self, per_minute: float, burst: float) -> None:
        self.interval = 60.0 / per_minute
        self.burst = burst
        self.tat = 0.0  # theoretical arrival time of the next unit

    def earliest(self, now: float) -> float:
        return max(now, self.tat - self.burst)

    def book(self, at: float, units: float) -> None:
        self.tat = max(self.tat, at) + units * self.interval


class RateLimiter:
    """Keeps requests and tokens per minute under limits, across threads and tasks.

    Args:
        requests_per_minute: The most requests a minute, or `None` for no limit.
        tokens_per_minute: The most tokens (prompt and completion) a minute, or `None`.
        burst: Seconds' worth of capacity that may be used at once (default 1 s).
        clock: A monotonic clock in seconds (tests pass a fake one).

    Examples:
        >>> clock = iter([0.0, 0.0, 0.0]).__next__
        >>> limiter = RateLimiter(requests_per_minute=60, burst=0, clock=clock)
        >>> limiter.reserve(), limiter.reserve()
        (0.0, 1.0)
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        ):
            if value is not None and value <= 0:
                raise UsageError(f"{name} must be positive, not {value!r}.")
        if burst < 0:
            raise UsageError(f"burst must be 0 or more seconds, not {burst!r}.")
        self._requests = None if requests_per_minute is None else _Cell(requests_per_minute, burst)
        self._tokens = None if tokens_per_minute is None else _Cell(tokens_per_minute, burst)
        self._paused_until = 0.0
        self._clock = clock
        self._lock = threading.Lock()

    def reserve(self, tokens: int = 0) -> float:
        """Book one request of about `tokens` tokens; return the seconds to wait before it."""
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            if self._requests is not None:
                start = max(start, self._requests.earliest(now))
            if self._tokens is not None and tokens:
                start = max(start, self._tokens.earliest(now))
            if self._requests is not None:
                self._requests.book(start, 1)
            if self._tokens is not None and tokens:
                self._tokens.book(start, tokens)
            return start - now

    def charge(self, tokens: int) -> None:
        """Count tokens learnt after the fact (the reply's, or a correction of an estimate)."""
        if self._tokens is None or tokens <= 0:
            return
        with self._lock:
            self._tokens.book(self._clock(), tokens)

    def pause(self, seconds: float) -> None:
        """Let no request start for `seconds` from now (a 429 said so)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
