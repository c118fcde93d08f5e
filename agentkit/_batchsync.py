"""`batch()`: many conversations from sync code, on one event loop or over worker processes.

With one worker the async pool (`abatch`) runs on an event loop of its own in a thread, so
it also works inside a notebook. With several, `_batchpool` runs it in that many processes,
each with its own event loop and connections, and one rate budget for all of them; a
thread here feeds them the items and hands their results over as they come.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._agent import Agent
from ._batch import BatchItem, BatchResult, abatch
from ._exceptions import UsageError

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter

__all__ = ["batch"]


def batch(
    agent: Agent[Any] | Callable[[], Agent[Any]],
    items: Iterable[BatchItem],
    *,
    concurrency: int = 8,
    workers: int = 1,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
) -> Iterator[BatchResult]:
    """Run every item, at most `concurrency` at once, and yield results as they finish.

    Args:
        agent: The agent for every item; with `workers` above one, a function that builds
            it (called once in each worker process, so it must be picklable: a function
            defined at a module's top level, or a `functools.partial` of one).
        items: The inputs, consumed lazily (with workers: by a thread of this process).
        concurrency: The most conversations in flight, over all workers.
        workers: Processes to run the conversations in. Use more than one when one event
            loop keeps a core busy (hundreds of conversations a second).
        requests_per_minute: One budget for all workers, or `None`. With one worker, give
            the agent's `ChatClient` a `RateLimiter` instead.
        tokens_per_minute: One budget for all workers, or `None`.

    Raises:
        UsageError: `concurrency` or `workers` is below 1, a setting does not fit the
            number of workers, a worker could not build its agent, or a run found the setup
            wrong.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}.")
    if workers == 1:
        if not isinstance(agent, Agent):
            agent = agent()
        if requests_per_minute or tokens_per_minute:
            raise UsageError(
                "With one worker, give the agent's ChatClient a rate_limiter=RateLimiter(...); "
                "requests_per_minute and tokens_per_minute are for workers > 1."
            )
        return _on_a_thread(agent, items, concurrency)
    if isinstance(agent, Agent):
        raise UsageError(
            "With workers > 1, pass a function that builds the agent (each worker process "
            "builds its own, with its own connections), not an Agent: e.g. "
            "functools.partial(make_agent, model), defined at a module's top level."
        )
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {concurrency}.")
    return _in_processes(
        agent, items, concurrency, workers, (requests_per_minute, tokens_per_minute)
    )


def _on_a_thread(
    agent: Agent[Any], items: Iterable[BatchItem], concurrency: int
) -> Iterator[BatchResult]:
    """`abatch` on an event loop of its own in a worker thread."""
    handoff: queue.Queue[BatchResult | BaseException | None] = queue.Queue(concurrency)
    stop = threading.Event()

    async def pump() -> None:
        try:
            async for result in abatch(agent, items, concurrency=concurrency):
                handoff.put(result)
                if stop.is_set():
                    return
        except BaseException as error:  # re-raised in the caller's thread
            handoff.put(error)
        else:
            handoff.put(None)
        # The connection pools made in this event loop close as it ends (`asyncio.run`).

    thread = threading.Thread(target=asyncio.run, args=(pump(),), daemon=True)
    thread.start()
    try:
        yield from _handed_over(handoff)
    finally:
        stop.set()
        while thread.is_alive():  # unblock the pool if it waits to hand over a result
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.05)


def _handed_over(
    handoff: queue.Queue[BatchResult | BaseException | None],
) -> Iterator[BatchResult]:
    """What a producer thread hands over until its end mark (`None`); its error is raised here."""
    while (result := handoff.get()) is not None:
        if isinstance(result, BaseException):
            raise result
        yield result


class _WithLimiter:
    """A worker's agent factory: the user's, with the shared limiter put on its client."""

    def __init__(self, build: Callable[[], Agent[Any]]) -> None:
        self.build = build

    def __call__(self, limiter: RateLimiter | None) -> Agent[Any]:
        agent = self.build()
        if limiter is not None:
            agent.client.rate_limiter = limiter
        return agent


def _in_processes(
    build: Callable[[], Agent[Any]],
    items: Iterable[BatchItem],
    concurrency: int,
    workers: int,
    limits: tuple[float | None, float | None],
) -> Iterator[BatchResult]:
    """The pool of `_batchpool`, fed and drained by a thread of this process."""
    import sys

    from ._batchpool import Pool  # multiprocessing: only when it is used
    from ._batchprogress import StatusLine

    stopping = threading.Event()
    pool = Pool(
        _WithLimiter(build),
        settings=None,
        workers=workers,
        concurrency=concurrency,
        limits=limits,
        status=StatusLine(sys.stderr, live=False),
        stopping=stopping,
    )
    handoff: queue.Queue[BatchResult | BaseException | None] = queue.Queue()

    def feed() -> None:
        try:
            pool.run(enumerate(items), handoff.put)
        except BaseException as error:  # re-raised in the caller's thread
            handoff.put(error)
        else:
            handoff.put(None)

    thread = threading.Thread(target=feed, name="agentkit-batch-pool", daemon=True)
    thread.start()
    try:
        yield from _handed_over(handoff)
    finally:
        stopping.set()
        pool.cancel()
        thread.join()
