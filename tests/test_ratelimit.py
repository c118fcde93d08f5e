import threading

import pytest

from agentkit import UsageError
from agentkit._ratelimit import RateLimiter


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
