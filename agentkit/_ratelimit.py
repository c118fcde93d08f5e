"""Requests and tokens per minute, kept under one budget by any number of workers.

A `RateLimiter` never sleeps: `reserve()` books capacity and says how long the caller must
wait before sending, so the sync driver can `time.sleep` and the async one `await
asyncio.sleep` on the same object. It draws its capacity from a `PermitSource`:

```
  worker process / Ray actor                     one central place
  RateLimiter ── lease(need, want) ──────────▶  PermitLedger (or a pipe / actor in front of it)
     spends its slice locally  ◀── Lease ──────    books every slice on one schedule
     give_back() what it did not use ─────────▶    takes it back if nothing was booked since
     charge() tokens learnt afterwards ───────▶
     pause() after a 429 ─────────────────────▶    no slice starts before the pause ends
```

In one process the source is a `PermitLedger` of its own, leased one request at a time,
which is exactly a local limiter. Across processes (`agentkit batch --workers`) or machines
(a Ray actor) the workers share one ledger and lease small slices, so most requests cost no
round trip.

The schedule is GCRA (the generic cell rate algorithm, a leaky bucket kept as one
timestamp per limit): each request or token moves a "theoretical arrival time" forward by
`60 / limit` seconds, and up to `burst` seconds' worth may go at once. A slice granted for
time `f` may be spent from `f` to `f + lease` (its *lease time*); the ledger books it as if
spent at `f`, and gives up the part of the burst the lease time and the prefetched slice
use. So the guarantee is the same for one worker or many: in any window of `w` seconds, all
workers together send at most `limit * (w + burst) / 60` requests plus one (tokens: plus
the largest request's tokens, as GCRA allows one request to overdraw).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ._exceptions import UsageError, UsageLimitExceeded

__all__ = ["Lease", "PermitLedger", "PermitSource", "RateLimiter"]

#: The shortest lease a shared ledger grants (a lease must outlive a round trip to it).
MIN_LEASE_SECONDS = 0.05

#: What a lease grants of a quantity that has no limit.
UNLIMITED = 2**62


@dataclass(frozen=True, slots=True)
class Lease:
    """Permits a worker may spend: `requests` requests and `tokens` tokens.

    Times are relative to the moment the ledger granted the lease, so that they mean the
    same on every machine: spend no earlier than `start_in` and no later than `start_in +
    valid_for` seconds after it.
    """

    id: int
    requests: int
    tokens: int
    start_in: float
    valid_for: float


class PermitSource(Protocol):
    """Where a `RateLimiter` leases its permits: a `PermitLedger`, a pipe or actor before one.

    `lease` is the only call that answers; the others may be sent without waiting.
    """

    def lease(self, requests: int, tokens: int, want_requests: int, want_tokens: int) -> Lease:
        """Grant at least `requests`/`tokens` (perhaps later), and up to the `want_` counts.

        Raises:
            UsageLimitExceeded: `tokens` is more than the whole tokens-per-minute budget.
        """
        ...

    def give_back(self, lease: Lease, requests: int, tokens: int) -> None:
        """Return the unused part of `lease`."""
        ...

    def charge(self, tokens: int) -> None:
        """Count tokens learnt after the fact (the reply's, or a correction of an estimate)."""
        ...

    def pause(self, seconds: float) -> None:
        """Start no lease for `seconds` from now (a 429 said so)."""
        ...


class _Cell:
    """One GCRA schedule: `per_minute` units, `tolerance` seconds' worth early."""

    __slots__ = ("interval", "last_lease", "limit", "tat", "tolerance")

    def __init__(self, per_minute: float, tolerance: float) -> None:
        self.limit = per_minute
        self.interval = 60.0 / per_minute
        self.tolerance = tolerance
        self.tat = 0.0  # theoretical arrival time of the next unit
        self.last_lease = -1  # the lease booked last, which alone can be taken back exactly

    def earliest(self, now: float) -> float:
        return max(now, self.tat - self.tolerance)

    def book(self, at: float, units: float, lease: int) -> None:
        self.tat = max(self.tat, at) + units * self.interval
        self.last_lease = lease

    def unbook(self, units: int, lease: int) -> None:
        if lease == self.last_lease and units > 0:
            self.tat -= units * self.interval  # the exact state had they never been granted


class PermitLedger:
    """The one schedule every worker's `RateLimiter` leases from; a `PermitSource`.

    Args:
        requests_per_minute: The most requests a minute, or `None` for no limit.
        tokens_per_minute: The most tokens (prompt and completion) a minute, or `None`.
        burst: Seconds' worth of capacity that may be used at once (default 1 s).
        shared: Whether workers elsewhere lease from it (then a lease lasts half the burst,
            at least 50 ms, and may carry up to the other half as prefetch); otherwise
            each lease is one request, spent at once.
        clock: A monotonic clock in seconds (tests pass a fake one).

    Raises:
        UsageError: A limit is not positive, or the burst is negative.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        burst: float = 1.0,
        shared: bool = False,
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
        # The burst is split between the ledger's own tolerance, the lease time and the
        # prefetch, so the window guarantee is the same as one local limiter's.
        self.lease_seconds = max(burst / 2, MIN_LEASE_SECONDS) if shared else 0.0
        self.prefetch_seconds = max(burst - self.lease_seconds, 0.0) if shared else 0.0
        tolerance = 0.0 if shared else burst
        rpm, tpm = requests_per_minute, tokens_per_minute
        self._requests = None if rpm is None else _Cell(rpm, tolerance)
        self._tokens = None if tpm is None else _Cell(tpm, tolerance)
        self._paused_until = 0.0
        self._ids = itertools.count()
        self._clock = clock
        self._lock = threading.Lock()

    def lease(self, requests: int, tokens: int, want_requests: int, want_tokens: int) -> Lease:
        """Grant `requests`/`tokens` at the earliest time they fit, with what prefetch fits."""
        cells = self._requests, self._tokens
        if self._tokens is not None and tokens > self._tokens.limit:
            raise UsageLimitExceeded("tokens_per_minute", tokens, self._tokens.limit)
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            for cell, need in zip(cells, (requests, tokens), strict=True):
                if cell is not None and need:
                    start = max(start, cell.earliest(now))
            lease_id = next(self._ids)
            granted = []
            for cell, need, want in zip(
                cells, (requests, tokens), (want_requests, want_tokens), strict=True
            ):
                if cell is None:
                    granted.append(UNLIMITED)
                    continue
                extra = min(max(want - need, 0), int(self.prefetch_seconds / cell.interval))
                if need or extra:
                    cell.book(start, need + extra, lease_id)
                granted.append(need + extra)
            return Lease(lease_id, granted[0], granted[1], start - now, self.lease_seconds)

    def give_back(self, lease: Lease, requests: int, tokens: int) -> None:
        """Take back unused permits, if no lease or charge was booked after this one."""
        with self._lock:
            if self._requests is not None:
                self._requests.unbook(requests, lease.id)
            if self._tokens is not None:
                self._tokens.unbook(tokens, lease.id)

    def charge(self, tokens: int) -> None:
        """Book tokens learnt after the fact, as of now."""
        if self._tokens is None or tokens <= 0:
            return
        with self._lock:
            self._tokens.book(self._clock(), tokens, -1)

    def pause(self, seconds: float) -> None:
        """Let no lease start for `seconds` from now."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)


class RateLimiter:
    """Keeps requests and tokens per minute under limits, across threads, tasks and processes.

    Alone, it keeps its own schedule. Given a `source`, it leases permits from a schedule
    kept elsewhere (another process's `PermitLedger`, a Ray actor) in small slices, so that
    any number of workers stay under one budget together.

    Args:
        requests_per_minute: The most requests a minute, or `None` for no limit.
        tokens_per_minute: The most tokens (prompt and completion) a minute, or `None`.
        burst: Seconds' worth of capacity that may be used at once (default 1 s).
        clock: A monotonic clock in seconds (tests pass a fake one).
        source: Lease from this shared source instead (the limits are then its limits).

    Raises:
        UsageError: A limit is not positive, or the burst is negative.

    Examples:
        >>> limiter = RateLimiter(requests_per_minute=60, burst=0, clock=lambda: 0.0)
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
        source: PermitSource | None = None,
    ) -> None:
        if source is None:
            source = PermitLedger(
                requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute,
                burst=burst,
                clock=clock,
            )
        self.source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._held: Lease | None = None
        self._requests = self._tokens = 0  # what is left of the held lease
        self._starts = self._expires = 0.0  # when it may be spent, on this clock
        self._used = (0, 0)  # what the last lease served: the next one asks for as much

    def reserve(self, tokens: int = 0) -> float:
        """Book one request of about `tokens` tokens; return the seconds to wait before it.

        Raises:
            UsageLimitExceeded: `tokens` is more than the whole tokens-per-minute budget,
                so the request could never be sent within it.
        """
        with self._lock:
            now = self._clock()
            if not (self._requests >= 1 and self._tokens >= tokens and now <= self._expires):
                self._release()
                self._lease(tokens)
                now = self._clock()
            self._requests -= 1
            self._tokens -= tokens
            self._used = (self._used[0] + 1, self._used[1] + tokens)
            return max(self._starts - now, 0.0)

    def _lease(self, tokens: int) -> None:
        want_requests, want_tokens = self._used
        self._used = (0, 0)
        for _ in range(5):  # a lease that came back already over (a slow round trip): again
            sent = self._clock()
            lease = self.source.lease(1, tokens, max(2 * want_requests, 1), 2 * want_tokens)
            received = self._clock()
            self._held, self._requests, self._tokens = lease, lease.requests, lease.tokens
            # The lease began between sending and receiving: start late, end early.
            self._starts = received + lease.start_in
            self._expires = max(sent + lease.start_in + lease.valid_for, self._starts)
            if received <= self._expires:
                return

    def _release(self) -> None:
        lease, self._held = self._held, None
        if lease is not None and (self._requests or self._tokens):
            self.source.give_back(lease, max(self._requests, 0), max(self._tokens, 0))
        self._requests = self._tokens = 0

    def charge(self, tokens: int) -> None:
        """Count tokens learnt after the fact (the reply's, or a correction of an estimate)."""
        if tokens > 0:
            self.source.charge(tokens)

    def pause(self, seconds: float) -> None:
        """Let no request start for `seconds` from now (a 429 said so)."""
        with self._lock:
            self._release()
        self.source.pause(seconds)

    def close(self) -> None:
        """Give back what this limiter holds (a worker that is done)."""
        with self._lock:
            self._release()
