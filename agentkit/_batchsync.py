"""`batch()` and `abatch()`: many conversations, on one event loop or over worker processes.

With one worker, `abatch` is `_batch`'s pool on the caller's event loop, and `batch` runs
it on an event loop of its own in a thread, so it also works inside a notebook. With
several, `_batchpool` runs that pool in as many processes, each with its own event loop and
connections, and one rate budget for all of them; a thread here feeds them the items and
hands their results over as they come (to `batch`'s caller, or to `abatch`'s event loop,
which never waits on the processes).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Any

from ._agent import Agent
from ._batch import BatchItem, BatchResult
from ._batch import abatch as _abatch
from ._exceptions import UsageError

if TYPE_CHECKING:
    from ._batchpool import Pool
    from ._ratelimit import RateLimiter

__all__ = ["abatch", "batch"]


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
    limits = (requests_per_minute, tokens_per_minute)
    _check(agent, concurrency, workers, limits)
    if workers == 1:
        return _on_a_thread(agent if isinstance(agent, Agent) else agent(), items, concurrency)
    return _in_processes(_pool(agent, concurrency, workers, limits, threading.Event()), items)


async def abatch(
    agent: Agent[Any] | Callable[[], Agent[Any]],
    items: Iterable[BatchItem] | AsyncIterable[BatchItem],
    *,
    concurrency: int = 8,
    stop: asyncio.Event | None = None,
    workers: int = 1,
    requests_per_minute: float | None = None,
    tokens_per_minute: float | None = None,
) -> AsyncIterator[BatchResult]:
    """Run every item through `agent`, at most `concurrency` at once, results as they finish.

    Args:
        agent: The agent to run each item with (one agent serves all runs); with `workers`
            above one, a function that builds it (called once in each worker process, so it
            must be picklable: a function defined at a module's top level, or a
            `functools.partial` of one).
        items: The inputs, consumed lazily (with workers: pulled by a thread of this process;
            an async iterable is still advanced on this event loop).
        concurrency: The most conversations in flight, over all workers.
        stop: Set it to stop at once: the runs in flight are cancelled (their requests
            aborted) and the results that had finished are still yielded, then it ends.
        workers: Processes to run the conversations in (see `batch`); this event loop only
            receives their results, so it stays free for other work.
        requests_per_minute: One budget for all workers, or `None`. With one worker, give
            the agent's `ChatClient` a `RateLimiter` instead.
        tokens_per_minute: One budget for all workers, or `None`.

    Raises:
        UsageError: `concurrency` or `workers` is below 1, a setting does not fit the
            number of workers, a worker could not build its agent, or a run found the setup
            wrong.
    """
    limits = (requests_per_minute, tokens_per_minute)
    _check(agent, concurrency, workers, limits)
    if workers == 1:
        one = agent if isinstance(agent, Agent) else agent()
        results = _abatch(one, items, concurrency=concurrency, stop=stop)
    else:
        pool = _pool(agent, concurrency, workers, limits, threading.Event())
        results = _in_processes_async(pool, items, stop)
    async with contextlib.aclosing(results):
        async for result in results:
            yield result


def _check(
    agent: Agent[Any] | Callable[[], Agent[Any]],
    concurrency: int,
    workers: int,
    limits: tuple[float | None, float | None],
) -> None:
    """Check that the arguments of `batch`/`abatch` fit together.

    Raises:
        UsageError: They do not.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, not {workers}.")
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {concurrency}.")
    if workers == 1:
        if any(limits):
            raise UsageError(
                "With one worker, give the agent's ChatClient a rate_limiter=RateLimiter(...); "
                "requests_per_minute and tokens_per_minute are for workers > 1."
            )
    elif isinstance(agent, Agent):
        raise UsageError(
            "With workers > 1, pass a function that builds the agent (each worker process "
            "builds its own, with its own connections), not an Agent: e.g. "
            "functools.partial(make_agent, model), defined at a module's top level."
        )


def _on_a_thread(
    agent: Agent[Any], items: Iterable[BatchItem], concurrency: int
) -> Iterator[BatchResult]:
    """`abatch` on an event loop of its own in a worker thread.

    The results that finish in one turn of that loop cross to the caller's thread together:
    one wake-up of the caller (and one hand-over of the interpreter lock) for all of them,
    not one each. At most two such lists wait, so a slow caller holds the batch back.
    """
    handoff: queue.Queue[list[BatchResult] | BaseException | None] = queue.Queue(2)
    stop = threading.Event()

    async def pump() -> None:
        loop = asyncio.get_running_loop()
        ready: list[BatchResult] = []

        def hand_over() -> None:
            if ready:
                handoff.put(ready.copy())
                ready.clear()

        try:
            async for result in _abatch(agent, items, concurrency=concurrency):
                if not ready:
                    loop.call_soon(hand_over)
                ready.append(result)
                if stop.is_set():
                    return
            hand_over()
        except BaseException as error:  # re-raised in the caller's thread
            hand_over()
            handoff.put(error)
        else:
            handoff.put(None)
        # The connection pools made in this event loop close as it ends (`asyncio.run`).

    thread = threading.Thread(target=asyncio.run, args=(pump(),), daemon=True)
    thread.start()
    try:
        while (results := handoff.get()) is not None:
            if isinstance(results, BaseException):
                raise results
            yield from results
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


def _pool(
    build: Any,
    concurrency: int,
    workers: int,
    limits: tuple[float | None, float | None],
    stopping: threading.Event,
) -> Pool:
    """The worker processes' pool, for `build` (a function that makes the agent)."""
    import sys

    from ._batchpool import Pool  # multiprocessing: only when it is used
    from ._batchprogress import StatusLine

    return Pool(
        _WithLimiter(build),
        settings=None,
        workers=workers,
        concurrency=concurrency,
        limits=limits,
        status=StatusLine(sys.stderr, live=False),
        stopping=stopping,
    )


def _in_processes(pool: Pool, items: Iterable[BatchItem]) -> Iterator[BatchResult]:
    """The pool of `_batchpool`, fed and drained by a thread of this process."""
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
        pool.stopping.set()
        pool.cancel()
        thread.join()


async def _in_processes_async(
    pool: Pool,
    items: Iterable[BatchItem] | AsyncIterable[BatchItem],
    stop: asyncio.Event | None,
) -> AsyncGenerator[BatchResult, None]:
    """`_in_processes` for an event loop: results arrive through `call_soon_threadsafe`.

    The thread that feeds the pool pulls an async iterable's items on this loop (one
    `anext` at a time, as the pool asks), and a sync one itself. This loop never blocks:
    it waits for results, and for the thread to end, like for anything else.
    """
    loop = asyncio.get_running_loop()
    results: asyncio.Queue[BatchResult | BaseException | None] = asyncio.Queue()

    def hand_over(result: BatchResult | BaseException | None) -> None:
        loop.call_soon_threadsafe(results.put_nowait, result)

    def feed() -> None:
        try:
            pool.run(enumerate(_pulled(items, loop)), hand_over)
        except BaseException as error:  # re-raised in the caller's task
            hand_over(error)
        else:
            hand_over(None)

    async def stop_at_once() -> None:
        assert stop is not None  # noqa: S101
        await stop.wait()
        pool.cancel()

    watcher = None if stop is None else asyncio.create_task(stop_at_once())
    thread = threading.Thread(target=feed, name="agentkit-batch-pool", daemon=True)
    thread.start()
    try:
        while (result := await results.get()) is not None:
            if isinstance(result, BaseException):
                raise result
            yield result
    finally:
        if watcher is not None:
            watcher.cancel()
        pool.stopping.set()
        pool.cancel()
        await asyncio.to_thread(thread.join)


def _pulled(
    items: Iterable[BatchItem] | AsyncIterable[BatchItem], loop: asyncio.AbstractEventLoop
) -> Iterator[BatchItem]:
    """`items` as a sync iterator for the pool's thread; an async one advances on `loop`."""
    if not isinstance(items, AsyncIterable):
        yield from items
        return
    source = aiter(items)
    while (item := asyncio.run_coroutine_threadsafe(_next(source), loop).result()) is not None:
        yield item


async def _next(source: AsyncIterator[BatchItem]) -> BatchItem | None:
    """The next item, or `None` at the end."""
    return await anext(source, None)
