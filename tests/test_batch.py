"""The batch API: a bounded pool over a lazy stream of items, failures kept as results."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import time
from collections.abc import Iterator

import pytest

from agentkit import (
    Agent,
    BadRequestError,
    BatchItem,
    ChatClient,
    RateLimiter,
    UsageError,
    abatch,
    batch,
)
from agentkit._batchjob import Progress
from agentkit.testing import DemoModel, Fault, LoopbackServer, Reply


def items(count: int, pulled: list[int] | None = None) -> Iterator[BatchItem]:
    for number in range(count):
        if pulled is not None:
            pulled.append(number)
        yield BatchItem(f"item{number}", f"Say {number}")


def test_batch_never_exceeds_the_bound_and_pulls_inputs_lazily():
    """At most `concurrency` conversations in flight; inputs are read as workers free up."""
    pulled: list[int] = []
    with LoopbackServer(DemoModel(), latency=0.01) as server:
        agent = Agent("gpt-4", api_key="sk-test", base_url=server.base_url)
        results = batch(agent, items(40, pulled), concurrency=4)
        first = next(results)
        assert len(pulled) <= 4 + 4 + 1  # in flight, waiting to be handed over, one more
        rest = list(results)
        assert server.max_in_flight <= 4
    assert first.ok
    assert sorted(r.id for r in [first, *rest]) == sorted(f"item{n}" for n in range(40))


def test_batch_with_a_client_of_its_own_leaves_no_connection_open():
    """An agent given a `client=` (shared rate limits): `batch` runs its own event loop, and
    the pools made in it close when it ends, though the batch does not own the client."""
    with LoopbackServer(DemoModel()) as server:
        client = ChatClient(api_key="sk-test", base_url=server.base_url)
        agent = Agent("gpt-4", client=client)
        assert all(result.ok for result in batch(agent, items(6), concurrency=3))
        gc.collect()  # an unclosed socket is reported here, as an error
        assert client._pools is not None
        assert not any(client._pools.clients)


def test_a_failed_item_is_a_result_with_its_error_and_messages():
    """One item's failure does not stop the batch: it comes back with the error."""

    def model(body: dict) -> Reply | Fault:
        if body["messages"][-1]["content"] == "Say 1":
            return Fault.json_error(400, "Refused")
        return Reply.text("fine")

    with LoopbackServer(model) as server:
        agent = Agent("gpt-4", api_key="sk-test", base_url=server.base_url)

        async def collect() -> dict[str, object]:
            async with agent:
                return {r.id: r async for r in abatch(agent, items(3), concurrency=2)}

        results = asyncio.run(collect())
    failed = results["item1"]
    assert not failed.ok
    assert isinstance(failed.error, BadRequestError)
    assert [m.role for m in failed.messages] == ["user"]
    assert results["item0"].output == "fine"
    assert results["item0"].usage.requests == 1


def test_concurrency_below_one_is_a_usage_error():
    agent = Agent("gpt-4", api_key="sk-test")
    with pytest.raises(UsageError, match="concurrency"):
        list(batch(agent, items(1), concurrency=0))


def test_a_429_pauses_every_worker_through_the_shared_limiter():
    """The wait a 429 asks for holds back all requests of the client, not only the retry."""
    now = itertools.count(0.0, 0.0)  # a clock that stands still
    limiter = RateLimiter(requests_per_minute=6000, burst=10, clock=lambda: next(now))
    waits: list[float] = []
    script = [Fault.rate_limit(retry_after=7), Reply.text("a"), Reply.text("b")]
    with LoopbackServer(script) as server:
        client = ChatClient(api_key="sk-test", base_url=server.base_url, rate_limiter=limiter)
        client.backoff = type(client.backoff)(sleep=waits.append)
        with client:
            agent = Agent("gpt-4", client=client)
            assert agent.run("one").output == "a"
            assert agent.run("two").output == "b"
    assert waits[0] == 7  # the retry's own wait
    assert waits[1] >= 7  # the limiter holds the retry too ...
    assert waits[2] >= 7  # ... and the next conversation's request


@pytest.mark.parametrize(
    ("cost", "unpriced", "shown"),
    [(0.5, 0, "$0.5000"), (0.5, 2, "at least $0.5000"), (0.0, 3, "cost unknown")],
)
def test_the_progress_line_never_shows_an_unknown_cost_as_zero(
    cost: float, unpriced: int, shown: str
):
    """Streams of GoAPI's era report no usage: their cost is unknown, not free."""
    line = Progress(done=3, cost=cost, unpriced=unpriced).line()
    assert f"  {shown}  " in line


def test_the_progress_line_shows_the_time_left():
    """10 items done in 10 s and 20 to go: about 20 s left; nothing to go, no ETA."""
    started = time.monotonic() - 10
    assert Progress(done=8, failed=2, to_run=30, started=started).line().endswith(" ETA 20s")
    assert "ETA" not in Progress(done=30, to_run=30, started=started).line()


def test_stop_cancels_the_runs_in_flight_and_keeps_the_finished_ones():
    """Setting `stop` ends the batch at once: runs in flight are aborted, results that had
    finished are still yielded, and no new item is taken."""

    def model(body: dict) -> Reply:
        reply = Reply.text("done")
        if not body["messages"][-1]["content"].startswith("fast"):
            reply = dataclasses.replace(reply, stall=60.0)
        return reply

    pulled: list[str] = []

    def prompts() -> Iterator[BatchItem]:
        for name in itertools.chain(
            ["fast1", "slow1", "fast2", "fast3"], map(str, itertools.count())
        ):
            pulled.append(name)
            yield BatchItem(name, name)

    async def collect(agent: Agent) -> list[str]:
        stop = asyncio.Event()
        seen = []
        async with agent:
            async for result in abatch(agent, prompts(), concurrency=5, stop=stop):
                seen.append(result.id)
                if len(seen) == 3:
                    stop.set()
        return seen

    with LoopbackServer(model) as server:
        agent = Agent("gpt-4", api_key="sk-test", base_url=server.base_url)
        started = time.monotonic()
        seen = asyncio.run(collect(agent))
        assert time.monotonic() - started < 20
    assert sorted(seen) == ["fast1", "fast2", "fast3"]
    assert len(pulled) <= 5 + 3 + 1  # in flight, the finished, one more: then no new item
