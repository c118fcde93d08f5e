import heapq
import random
import threading

import pytest

from agentkit import UsageError, UsageLimitExceeded
from agentkit._ratelimit import PermitLedger, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_limits_never_waits():
    limiter = RateLimiter(clock=FakeClock())
    assert [limiter.reserve(1000) for _ in range(100)] == [0.0] * 100


def test_requests_are_spaced_evenly_after_the_burst():
    """60 rpm with one second of burst: the first goes at once, then one a second."""
    limiter = RateLimiter(requests_per_minute=60, burst=1.0, clock=FakeClock())
    waits = [limiter.reserve() for _ in range(4)]
    assert waits == [0.0, 0.0, 1.0, 2.0]


def test_capacity_comes_back_as_time_passes():
    clock = FakeClock()
    limiter = RateLimiter(requests_per_minute=60, burst=0, clock=clock)
    assert limiter.reserve() == 0.0
    assert limiter.reserve() == 1.0
    clock.now += 10
    assert limiter.reserve() == 0.0


def test_tokens_per_minute_limits_big_prompts():
    """6,000 tokens a minute: a 6,000-token request uses the whole minute."""
    limiter = RateLimiter(tokens_per_minute=6000, burst=0, clock=FakeClock())
    assert limiter.reserve(6000) == 0.0
    assert limiter.reserve(100) == pytest.approx(60.0)


def test_charge_counts_tokens_learnt_later():
    limiter = RateLimiter(tokens_per_minute=600, burst=0, clock=FakeClock())
    assert limiter.reserve(10) == 0.0
    limiter.charge(590)  # the reply turned out long
    assert limiter.reserve(10) == pytest.approx(60.0)


def test_pause_holds_every_caller_back():
    """A 429 with Retry-After seen by one worker pauses all of them."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    limiter.pause(5.0)
    assert limiter.reserve() == 5.0
    assert limiter.reserve() == 5.0
    clock.now += 5
    assert limiter.reserve() == 0.0


def test_a_shorter_pause_does_not_shorten_a_longer_one():
    limiter = RateLimiter(clock=FakeClock())
    limiter.pause(10)
    limiter.pause(2)
    assert limiter.reserve() == 10.0


def test_threads_share_one_schedule():
    """Bookings from many threads never overlap: the waits are a permutation of the slots."""
    limiter = RateLimiter(requests_per_minute=600, burst=0, clock=FakeClock())
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            wait = limiter.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([i * 0.1 for i in range(100)])


@pytest.mark.parametrize(
    "kwargs",
    [{"requests_per_minute": 0}, {"tokens_per_minute": -5}, {"burst": -1}],
)
def test_bad_limits_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        RateLimiter(**kwargs)


# ------------------------------------------------------------------ one budget, many workers


def spends_of_workers(
    workers: int, ledger: PermitLedger, clock: FakeClock, seed: int, steps: int = 3000
) -> list[tuple[float, int]]:
    """Workers with their own limiters, leasing from one ledger, at random moments and sizes
    (some pause past their lease, and now and then all rest, to build up a burst); returns
    when each request was sent, and its tokens."""
    rng = random.Random(seed)
    limiters = [RateLimiter(source=ledger, clock=clock) for _ in range(workers)]
    ready = [(rng.uniform(0, 0.5), n) for n in range(workers)]
    heapq.heapify(ready)
    spends = []
    for _ in range(steps):
        at, n = heapq.heappop(ready)
        clock.now = max(clock.now, at)
        tokens = rng.choice([0, 10, 50, 200])
        wait = limiters[n].reserve(tokens)
        spends.append((clock.now + wait, tokens))
        think = rng.choice([0.0, 0.0, 0.001, 0.01, 0.3, 2.0])
        heapq.heappush(ready, (clock.now + wait + think, n))
        if rng.random() < 0.01:
            ready = [(max(at, clock.now + 3.0), n) for at, n in ready]
    return sorted(spends)


def most_in_any_window(spends: list[tuple[float, int]], window: float) -> tuple[int, int]:
    """The most requests, and the most tokens, sent in any `window` seconds."""
    most_requests = most_tokens = 0
    for first, (start, _) in enumerate(spends):
        inside = [t for at, t in spends[first:] if at < start + window]
        most_requests = max(most_requests, len(inside))
        most_tokens = max(most_tokens, sum(inside))
    return most_requests, most_tokens


@pytest.mark.parametrize(("workers", "seed"), [(1, 1), (4, 2), (16, 3)])
def test_many_workers_leasing_from_one_ledger_stay_within_one_budget(workers, seed):
    """Whatever the number of workers, the sends in any window obey one limiter's bound:
    `limit * (window + burst) / 60` plus one request (plus the biggest request's tokens)."""
    clock = FakeClock()
    rpm, tpm, burst = 600, 30_000, 1.0
    ledger = PermitLedger(
        requests_per_minute=rpm, tokens_per_minute=tpm, burst=burst, shared=True, clock=clock
    )
    spends = spends_of_workers(workers, ledger, clock, seed)
    for window in (0.5, 1.0, 5.0):
        requests, tokens = most_in_any_window(spends, window)
        assert requests <= rpm * (window + burst) / 60 + 1
        assert tokens <= tpm * (window + burst) / 60 + 200


def test_busy_workers_together_use_the_whole_budget():
    """Slices given out and not used must not starve the workers: 16 workers that always
    have a request ready reach (nearly) the limit."""
    clock = FakeClock()
    ledger = PermitLedger(requests_per_minute=1200, burst=1.0, shared=True, clock=clock)
    limiters = [RateLimiter(source=ledger, clock=clock) for _ in range(16)]
    ready = [(0.0, n) for n in range(16)]
    sent = []
    for _ in range(2000):
        at, n = heapq.heappop(ready)
        clock.now = max(clock.now, at)
        sent.append(clock.now + limiters[n].reserve())
        heapq.heappush(ready, (sent[-1], n))
    assert len(sent) / (max(sent) - min(sent)) > 0.9 * 1200 / 60


def test_a_shared_ledger_leases_slices_so_most_requests_need_no_round_trip():
    clock = FakeClock()
    ledger = PermitLedger(requests_per_minute=60_000, burst=1.0, shared=True, clock=clock)
    calls = []
    lease = ledger.lease

    def counting_lease(*args):
        calls.append(args)
        return lease(*args)

    ledger.lease = counting_lease
    limiter = RateLimiter(source=ledger, clock=clock)
    for _ in range(200):
        clock.now += 0.001
        limiter.reserve()
    assert len(calls) < 20


def test_unused_permits_go_back_when_nothing_was_booked_since():
    """Given back at once, a slice costs nothing; once another lease followed, it stays spent
    (taking it back could let a later window overflow)."""
    clock = FakeClock()
    ledger = PermitLedger(requests_per_minute=600, burst=2.0, shared=True, clock=clock)
    lease = ledger.lease(1, 0, 10, 0)
    assert lease.requests == 10
    ledger.give_back(lease, 10, 0)
    assert ledger.lease(1, 0, 1, 0).start_in == 0.0  # as if the slice never was
    first = ledger.lease(1, 0, 5, 0)
    ledger.lease(1, 0, 1, 0)
    ledger.give_back(first, 4, 0)
    assert ledger.lease(1, 0, 1, 0).start_in > 0.5


def test_a_lease_that_ran_out_is_not_spent():
    """A worker back after its lease time asks again rather than spending expired permits."""
    clock = FakeClock()
    ledger = PermitLedger(requests_per_minute=6000, burst=1.0, shared=True, clock=clock)
    limiter = RateLimiter(source=ledger, clock=clock)
    for _ in range(3):
        limiter.reserve()
    held = limiter._held
    clock.now += 5
    limiter.reserve()
    assert limiter._held is not held


def test_a_request_bigger_than_the_token_budget_is_refused_up_front():
    """It could never be sent within the limit: an error, not a stall of every worker."""
    limiter = RateLimiter(tokens_per_minute=1000, clock=FakeClock())
    with pytest.raises(UsageLimitExceeded) as caught:
        limiter.reserve(1001)
    assert caught.value.limit == "tokens_per_minute"
    assert caught.value.value == 1001
    assert limiter.reserve(1000) == 0.0  # the refusal booked nothing


def test_a_pause_reaches_the_ledger_and_drops_the_held_slice():
    clock = FakeClock()
    ledger = PermitLedger(requests_per_minute=6000, burst=1.0, shared=True, clock=clock)
    one, other = RateLimiter(source=ledger, clock=clock), RateLimiter(source=ledger, clock=clock)
    one.reserve()
    one.pause(3.0)
    assert other.reserve() >= 3.0
    assert one.reserve() >= 3.0
