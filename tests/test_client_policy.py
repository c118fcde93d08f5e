"""The client's IO-free parts: backoff, the retry plan, the timeouts and their clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentkit import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    GatewayError,
    InsufficientQuotaError,
    InternalServerError,
    RateLimitError,
    TruncatedStreamError,
    UsageError,
)
from agentkit._policy import Backoff, Clock, RetryPlan, Timeout

NO_JITTER = Backoff(jitter=0)


def plan(max_retries=2, stream=True, backoff=NO_JITTER):
    return RetryPlan(max_retries=max_retries, backoff=backoff, stream=stream)


def test_backoff_doubles_up_to_the_maximum():
    """Computed waits are 0.5, 1, 2, 4, 8 s and then stay at 8 s."""
    assert [NO_JITTER.delay(n) for n in range(7)] == [0.5, 1, 2, 4, 8, 8, 8]


@given(retry=st.integers(0, 30), rand=st.floats(0, 1, exclude_max=True))
def test_backoff_jitter_only_shortens_by_the_fraction(retry, rand):
    """Jitter takes at most `jitter` of the computed wait off, never adds to it."""
    backoff = Backoff(random=lambda: rand)
    base = NO_JITTER.delay(retry)
    assert base * 0.75 <= backoff.delay(retry) <= base


@pytest.mark.parametrize(
    ("retry_after", "wait"), [(0.25, 0.25), (30, 30), (60, 60), (3600, 60), (-5, 0)]
)
def test_backoff_honours_the_server_up_to_the_cap(retry_after, wait):
    """A server-given wait is used as it is, cut to `max_retry_after`, never negative."""
    assert Backoff().delay(0, retry_after=retry_after) == wait


def test_plan_retries_retryable_errors_until_the_budget_is_spent():
    """`max_retries=2` allows two retries with growing waits, then the error is raised."""
    p = plan()
    error = InternalServerError("boom", status_code=500)
    assert p.after(error, delivered=False) == 0.5
    assert p.after(error, delivered=False) == 1.0
    assert p.after(error, delivered=False) is None
    assert p.attempt == 3


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("bad", status_code=400),
        InsufficientQuotaError("no credit", status_code=429, code="insufficient_quota"),
        InternalServerError("x-should-retry: false", status_code=500, retryable=False),
    ],
)
def test_plan_raises_what_is_not_retryable(error):
    """Errors not marked retryable are raised at once."""
    assert plan().after(error, delivered=False) is None


def test_plan_never_retries_after_output_was_delivered():
    """Once a delta reached the caller, even a retryable error is raised."""
    assert plan().after(TruncatedStreamError("cut"), delivered=True) is None


def test_plan_with_zero_retries_raises_at_once():
    """`max_retries=0` turns retries off."""
    assert plan(max_retries=0).after(APIConnectionError("refused"), delivered=False) is None


def test_plan_uses_the_rate_limit_wait():
    """A 429's `retry_after` beats the computed backoff."""
    error = RateLimitError("slow down", retry_after=7.5)
    assert plan().after(error, delivered=False) == 7.5


def test_a_524_on_a_non_streamed_request_is_retried_at_once_as_a_stream():
    """Cloudflare's 524 means the answer took too long to start; a stream starts at once."""
    p = plan(stream=False)
    assert p.after(GatewayError("524", status_code=524), delivered=False) == 0.0
    assert p.stream is True


def test_a_524_on_a_stream_backs_off_as_usual():
    """A streamed request that got a 524 is retried after the usual wait."""
    p = plan(stream=True)
    assert p.after(GatewayError("524", status_code=524), delivered=False) == 0.5


def test_timeout_defaults_and_uniform():
    """The defaults are 10/120/60/600 s; `uniform` sets all four."""
    assert Timeout() == Timeout(connect=10, first_byte=120, idle=60, total=600)
    assert Timeout.uniform(3) == Timeout(connect=3, first_byte=3, idle=3, total=3)
    assert Timeout(total=None).total is None


@pytest.mark.parametrize("bad", [0, -1, True])
def test_timeout_refuses_non_positive_limits(bad):
    """A zero, negative or boolean limit is a usage error naming the field."""
    with pytest.raises(UsageError, match=r"Timeout\.idle"):
        Timeout(idle=bad)


def test_clock_gives_first_byte_then_idle_for_a_stream():
    """A stream's first read is bounded by first_byte, later reads by idle."""
    clock = Clock(Timeout(first_byte=100, idle=5, total=1000))
    clock.body_stream = True
    assert 99 < clock.limit() <= 100
    assert clock.phase == "first_byte"
    clock.got_bytes()
    assert clock.limit() == 5
    assert clock.phase == "idle"


def test_clock_caps_reads_by_what_is_left_of_total():
    """When less of the total is left than idle allows, the limit is the total's."""
    clock = Clock(Timeout(idle=50, total=3))
    assert clock.limit() <= 3
    assert clock.phase == "total"
    error = clock.expired()
    assert isinstance(error, APITimeoutError)
    assert (error.phase, error.seconds) == ("total", 3)


def test_clock_without_first_byte_uses_idle():
    """The sync driver asks for `first_byte=False`: every body read gets idle."""
    clock = Clock(Timeout(first_byte=100, idle=5))
    clock.body_stream = True
    assert clock.limit(first_byte=False) == 5
