"""Many conversations at once: a bounded pool of workers over a stream of inputs.

`abatch()` is an async iterator of results in the order they finish: the item-level runner
every engine uses (one process, the worker processes of `_batchpool`, Ray actors); its sync
twin `batch()` lives in `_batchsync`. Never more than `concurrency` conversations are in
flight, and inputs are pulled one at a time as workers free up: memory stays flat however
many inputs there are.

Each item's failure is its result, not the batch's: a `BatchResult` carries the output or
the error, the usage and the messages, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._agent import Agent, RunOptions
from ._exceptions import APIError, RunError, UsageError
from ._messages import Message, Usage, UserMessage

__all__ = ["BatchItem", "BatchResult", "abatch"]


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

    cost: float | None = None
    """What the run cost in USD, each model's tokens at its own prices (an agent that ran
    as a tool at its model's), as `RunResult.cost`; `None` when a price or a token count is
    unknown. An estimate when `usage.estimated`."""

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
        usage = getattr(error, "usage", None) or Usage()
        cost = getattr(error, "cost", None)
        if isinstance(error, APIError):
            # The request that failed was sent too; its server reported no usage.
            usage, cost = usage + Usage(requests=1, unreported_requests=1), None
        return BatchResult(
            item.id,
            error=error,
            messages=tuple(messages),
            usage=usage,
            seconds=time.perf_counter() - started,
            cost=cost,
        )
    return BatchResult(
        item.id,
        output=result.output,
        usage=result.usage,
        messages=result.messages,
        seconds=time.perf_counter() - started,
        cost=result.cost,
    )


async def abatch(
    agent: Agent[Any],
    items: Iterable[BatchItem] | AsyncIterable[BatchItem],
    *,
    concurrency: int = 8,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[BatchResult, None]:
    """Run every item through `agent`, at most `concurrency` at once, results as they finish.

    The runner of one event loop, below every engine; `agentkit.abatch` is it with the
    choice of worker processes on top.

    Args:
        agent: The agent to run each item with (one agent serves all runs).
        items: The inputs, consumed lazily.
        concurrency: The most conversations in flight.
        stop: Set it to stop at once: the runs in flight are cancelled (their requests
            aborted) and the results that had finished are still yielded, then it ends.

    Raises:
        UsageError: `concurrency` is below 1, or a run found the setup wrong.
    """
    if concurrency < 1:
        raise UsageError(f"concurrency must be at least 1, not {concurrency}.")
    source = _aiter(items)
    pull = asyncio.Lock()
    # A finished result is queued at once (never lost to a cancellation); a worker takes a
    # new item only while fewer than `concurrency` results wait to be taken.
    results: asyncio.Queue[BatchResult | BaseException | None] = asyncio.Queue()
    room = asyncio.Semaphore(2 * concurrency)

    async def worker() -> None:
        while True:
            await room.acquire()
            async with pull:
                try:
                    item = await anext(source)
                except StopAsyncIteration:
                    return
            results.put_nowait(await _run_one(agent, item))

    async def supervise() -> None:
        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        waiting: set[asyncio.Future[Any]] = {asyncio.ensure_future(asyncio.gather(*workers))}
        if stop is not None:
            waiting.add(asyncio.ensure_future(stop.wait()))
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a worker's error (a UsageError) ends the batch
        except BaseException as error:
            results.put_nowait(error)
        else:
            results.put_nowait(None)
        finally:
            for task in [*workers, *waiting]:
                task.cancel()
            await asyncio.gather(*workers, *waiting, return_exceptions=True)

    supervisor = asyncio.create_task(supervise())
    try:
        while (result := await results.get()) is not None:
            if isinstance(result, BaseException):
                raise result
            room.release()
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
