"""Many conversations at once: a bounded pool of workers over a stream of inputs.

`abatch()` is an async iterator of results in the order they finish; `batch()` is its sync
twin (the async pool runs on its own event loop in a worker thread, so it also works inside
a notebook). Never more than `concurrency` conversations are in flight, and inputs are
pulled one at a time as workers free up: memory stays flat however many inputs there are.

Each item's failure is its result, not the batch's: a `BatchResult` carries the output or
the error, the usage and the messages, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._agent import Agent, RunOptions
from ._exceptions import APIError, RunError, UsageError
from ._messages import Message, Usage, UserMessage

__all__ = ["BatchItem", "BatchResult", "abatch", "batch"]


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One conversation of a batch: a prompt, after optional earlier messages."""

    id: str
    """The item's key: results carry it, and resuming skips items already done."""

    prompt: str | UserMessage
    """The user's message: text, or a `UserMessage` (for image parts)."""

    history: tuple[Message, ...] = ()
    """Messages before the prompt (a system message, an earlier chat)."""

    options: RunOptions = field(default_factory=lambda: RunOptions())
    """This item's overrides of the agent's settings (`model`, `settings`, `tools`, ...)."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one item gave: its output, or the error that ended it."""

    id: str
    """The item's id."""

    output: Any = None
    """The answer, when the run succeeded."""

    error: BaseException | None = None
    """What ended the run, when it failed (an `AgentkitError` or a tool's exception)."""

    usage: Usage = field(default_factory=Usage)
    """The run's usage (also for failed runs, as far as it got)."""

    messages: tuple[Message, ...] = ()
    """The chat as far as it got."""

    seconds: float = 0.0
    """How long the item took."""

    @property
    def ok(self) -> bool:
        """Whether the run gave an answer."""
        return self.error is None


async def _run_one(agent: Agent[Any], item: BatchItem) -> BatchResult:
    started = time.perf_counter()
    try:
        options: RunOptions = {**item.options, "history": item.history}
        result = await agent.arun(item.prompt, **options)
    except UsageError:
        raise  # a bug in the setup, not in one item: stop the batch
    except Exception as error:
        messages: Sequence[Message] = ()
        if isinstance(error, (RunError, APIError)) and error.messages is not None:
            messages = error.messages
        return BatchResult(
            item.id,
            error=error,
            messages=tuple(messages),
            usage=getattr(error, "usage", None) or Usage(),
            seconds=time.perf_counter() - started,
        )
    return BatchResult(
        item.id,
        output=result.output,
        usage=result.usage,
        messages=result.messages,
        seconds=time.perf_counter() - started,
    )


async def abatch(
    agent: Agent[Any],
    items: Iterable[BatchItem] | AsyncIterable[BatchItem],
    *,
    concurrency: int = 8,
) -> AsyncIterator[BatchResult]:
    """Run every item through `agent`, at most `concurrency` at once, results as they finish.

    Args:
        agent: The agent to run each item with (one agent serves all runs).
        items: The inputs, consumed lazily.
        concurrency: The most conversations in flight.

    Raises:
        UsageError: `concurrency` is below 1, or a run found the setup wrong.
    """
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {concurrency}.")
    source = _aiter(items)
    pull = asyncio.Lock()
    results: asyncio.Queue[BatchResult | BaseException | None] = asyncio.Queue(concurrency)

    async def worker() -> None:
        while True:
            async with pull:
                try:
                    item = await anext(source)
                except StopAsyncIteration:
                    return
            await results.put(await _run_one(agent, item))

    async def supervise() -> None:
        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException as error:
            for task in workers:
                task.cancel()
            await results.put(error)
        else:
            await results.put(None)

    supervisor = asyncio.create_task(supervise())
    try:
        while (result := await results.get()) is not None:
            if isinstance(result, BaseException):
                raise result
            yield result
    finally:
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)


async def _aiter(items: Iterable[BatchItem] | AsyncIterable[BatchItem]) -> AsyncIterator[BatchItem]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def batch(
    agent: Agent[Any], items: Iterable[BatchItem], *, concurrency: int = 8
) -> Iterator[BatchResult]:
    """The sync `abatch`: the pool runs on its own event loop in a worker thread."""
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
        while (result := handoff.get()) is not None:
            if isinstance(result, BaseException):
                raise result
            yield result
    finally:
        stop.set()
        while thread.is_alive():  # unblock the pool if it waits to hand over a result
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.05)
