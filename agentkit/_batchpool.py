"""A batch over several processes: one reader, one writer, one rate budget, N event loops.

```
  parent (BatchJob)                                   worker process 1..N
  reads the input ──── items (line numbers, text) ──▶ parses them, runs `abatch` on its own
  writes the output ◀─ results (finished lines) ────  event loop and HTTP pools
  PermitLedger ◀────── lease / give_back / charge ──  RateLimiter(source=_PipeSource)
  progress line ◀───── log lines (its stderr) ──────
```

The parent keeps each worker's items until their results come back, so a worker that dies
(killed, out of memory) loses nothing: its unfinished items go to the other workers and a
new worker takes its place. Only the parent writes the output, once per item, so nothing is
duplicated; a parent killed outright leaves its workers without a pipe, and they exit.

Workers are started with `spawn` (a fresh interpreter: no threads or locks inherited), so
the agent factory must be picklable. A worker ignores Ctrl-C: the parent tells it to drain
(first Ctrl-C: finish the conversations in flight) or to cancel (second: abort them and
send what has finished).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from ._agent import Agent
from ._batch import BatchItem, BatchResult, abatch
from ._batchio import Finished, finished, item_id, parse_item, usage_record
from ._batchprogress import StatusLine
from ._exceptions import AgentkitError, UsageError
from ._log import logger
from ._messages import Usage
from ._ratelimit import Lease, PermitLedger, RateLimiter

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

__all__ = ["AgentFactory", "Entry", "Pool", "default_workers"]

#: What the pool runs: (a number unique in the run, an input line or an item).
Entry = tuple[int, "str | BatchItem"]

#: Builds the agent of one worker, given the rate limiter it must use (or `None`). It is sent
#: to the worker processes, so it must be picklable: a module-level function, or a
#: `functools.partial` of one.
AgentFactory = Callable[[RateLimiter | None], Agent[Any]]

#: An item whose worker died this many times is written as failed, not run again.
MAX_DEATHS = 2

#: How long workers told to stop at once may take to send what has finished.
CANCEL_SECONDS = 5.0


def default_workers(concurrency: int, items: int) -> int:
    """The usable cores, at most 8, one per 16 conversations, one per 100 items to run.

    A worker is a fresh interpreter: worth its start-up only when one event loop would be
    kept busy for a while.

    Examples:
        >>> default_workers(16, 10_000), default_workers(256, 150)
        (1, 1)
    """
    if sys.platform == "win32":
        return 1  # see `Pool`
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 8, concurrency // 16, items // 100))


# --------------------------------------------------------------------------- worker side


class _PipeSource:
    """A `PermitSource` in a worker: the parent's ledger, over a pipe of its own."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._lock = threading.Lock()

    def lease(self, requests: int, tokens: int, want_requests: int, want_tokens: int) -> Lease:
        with self._lock:
            self._connection.send(("lease", (requests, tokens, want_requests, want_tokens)))
            answer = self._connection.recv()
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    def give_back(self, lease: Lease, requests: int, tokens: int) -> None:
        with self._lock:
            self._connection.send(("give_back", (lease, requests, tokens)))

    def charge(self, tokens: int) -> None:
        with self._lock:
            self._connection.send(("charge", (tokens,)))

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._connection.send(("pause", (seconds,)))


class _ToParent:
    """A worker's standard error: whole lines go to the parent, which shows them."""

    def __init__(self, connection: Connection, lock: threading.Lock) -> None:
        self._connection = connection
        self._lock = lock
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        if "\n" in self._partial:
            whole, _, self._partial = self._partial.rpartition("\n")
            with self._lock:
                self._connection.send(("log", whole + "\n"))
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _worker(
    factory: AgentFactory,
    concurrency: int,
    settings: str | None,
    work: Connection,
    permits: Connection | None,
) -> None:
    """A worker process: run the items the parent sends, send back their results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C does
    lock = threading.Lock()
    sys.stderr = _ToParent(work, lock)
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
        # (the parent is gone: there is no one to send results to)
        asyncio.run(_work(factory, concurrency, settings, work, permits, lock))


async def _work(
    factory: AgentFactory,
    concurrency: int,
    settings: str | None,
    work: Connection,
    permits: Connection | None,
    lock: threading.Lock,
) -> None:
    def send(message: tuple[Any, ...]) -> None:
        with lock:
            work.send(message)

    limiter = None if permits is None else RateLimiter(source=_PipeSource(permits))
    started = contextlib.AsyncExitStack()
    try:
        agent = factory(limiter)
        await started.enter_async_context(agent)  # starts its toolsets (MCP servers), if any
    except Exception as error:  # every worker would fail alike: stop the run, say why
        text = (
            str(error) if isinstance(error, AgentkitError) else f"{type(error).__name__}: {error}"
        )
        send(("fatal", f"A worker process could not build its agent: {text}"))
        return
    queue: asyncio.Queue[Entry | None] = asyncio.Queue()
    stop = asyncio.Event()
    numbers: dict[str, list[int]] = {}  # an item's id -> its numbers (ids may repeat)
    loop = asyncio.get_running_loop()

    def receive() -> None:
        try:
            while work.poll():
                kind, payload = work.recv()
                if kind == "items":
                    for entry in payload:
                        queue.put_nowait(entry)
                elif kind == "end":
                    queue.put_nowait(None)
                elif kind == "drain":  # finish what is in flight, start nothing new
                    while not queue.empty():
                        queue.get_nowait()
                    queue.put_nowait(None)
                elif kind == "cancel":
                    stop.set()
        except (EOFError, OSError):  # the parent is gone
            loop.remove_reader(work.fileno())
            stop.set()

    async def items() -> AsyncIterator[BatchItem]:
        while (entry := await queue.get()) is not None:
            number, payload = entry
            item = payload if isinstance(payload, BatchItem) else parse_item(payload, number)
            numbers.setdefault(item.id, []).append(number)
            yield item

    # Results that finish in one turn of the loop go to the parent in one message (one
    # pickle, one write here, one read there), sent as the loop turns. A worker that dies
    # with results not yet sent loses nothing: the parent still holds those items.
    ready: list[tuple[int, Any]] = []

    def send_ready() -> None:
        if ready:
            send(("results", ready.copy()))
            ready.clear()

    loop.add_reader(work.fileno(), receive)
    try:
        async for result in abatch(agent, items(), concurrency=concurrency, stop=stop):
            number = numbers[result.id].pop()
            if not numbers[result.id]:
                del numbers[result.id]
            if not ready:
                loop.call_soon(send_ready)
            if settings is None:  # the caller wants the results themselves
                ready.append((number, _picklable(result)))
            else:
                ready.append((number, finished(result, agent, settings)))
    finally:
        try:
            send_ready()  # also when a run stopped the batch: what finished is kept
        finally:
            loop.remove_reader(work.fileno())
            await started.aclose()
            await agent.client.aclose()
            if limiter is not None:
                limiter.close()
    send(("bye", None))


def _picklable(result: BatchResult) -> BatchResult:
    """`result`, or it with an error and output that can cross to the parent process."""
    try:
        pickle.dumps(result)
    except Exception as error:  # an output or an exception that does not pickle
        return BatchResult(
            result.id,
            error=ChildProcessError(
                f"The result could not be sent from the worker process ({error}); "
                f"it was: {result.error or result.output!r:.300}"
            ),
            usage=result.usage,
            messages=result.messages,
            seconds=result.seconds,
            cost=result.cost,
        )
    return result


# --------------------------------------------------------------------------- parent side


class _Worker:
    """The parent's view of one worker: its process, pipes and unfinished items."""

    def __init__(self, pool: Pool, index: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.index = index
        self.work, their_work = context.Pipe()
        self.permits: Connection | None = None
        their_permits = None
        if pool.ledger is not None:
            self.permits, their_permits = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker,
            args=(pool.factory, pool.concurrency, pool.settings, their_work, their_permits),
            name=f"agentkit-batch-{index + 1}",
            daemon=True,
        )
        self.process.start()
        their_work.close()
        if their_permits is not None:
            their_permits.close()
        self.items: dict[int, str | BatchItem] = {}  # sent, no result yet
        self.done = False  # said bye, or died and was dealt with
        self.ended = False  # was told there are no more items

    def send(self, message: tuple[Any, ...]) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, EOFError):
            self.work.send(message)  # if it died, its sentinel tells


class Pool:
    """Runs items over worker processes; the caller reads the input and writes the output.

    Args:
        factory: Builds each worker's agent (picklable).
        settings: The settings hash results are written with, as output lines (`Finished`);
            `None`: the `BatchResult`s themselves.
        workers: How many processes.
        concurrency: Conversations in flight over all of them.
        limits: Requests and tokens per minute for all of them together (or `None`s).
        status: Where the workers' log lines and the pool's notices go.
        stopping: Set on the first Ctrl-C: hand out no new items, finish those in flight.
    """

    def __init__(
        self,
        factory: AgentFactory,
        *,
        settings: str | None,
        workers: int,
        concurrency: int,
        limits: tuple[float | None, float | None],
        status: StatusLine,
        stopping: threading.Event,
    ) -> None:
        if sys.platform == "win32":  # a worker waits on its pipe with `loop.add_reader`
            raise UsageError("Worker processes need Linux or macOS; on Windows use one.")
        self.factory = factory
        self.settings = settings
        self.size = workers
        self.concurrency = max(1, -(-concurrency // workers))  # per worker, rounded up
        rpm, tpm = limits
        self.ledger = None
        if rpm or tpm:
            self.ledger = PermitLedger(requests_per_minute=rpm, tokens_per_minute=tpm, shared=True)
        self.status = status
        self.stopping = stopping
        self.dropped = 0  # items handed out but not run (a stop drained them)
        self._entries: Iterator[Entry] = iter(())
        self._write: Callable[[Any], None] = lambda result: None
        self._retry: collections.deque[Entry] = collections.deque()
        self._deaths: collections.Counter[int] = collections.Counter()
        self._workers: list[_Worker] = []
        self._exhausted = False
        self._cancelled = False
        self._wake = os.pipe()  # written to wake the loop (a cancel from another thread)
        self._running = True

    def cancel(self) -> None:
        """Stop at once (safe from a signal handler): workers abort what is in flight."""
        self._cancelled = True
        if self._running:
            with contextlib.suppress(OSError):
                os.write(self._wake[1], b"x")

    def run(self, entries: Iterator[Entry], write: Callable[[Any], None]) -> None:
        """Run every entry; `write` gets each result (see `settings`), in this thread.

        Raises:
            UsageError: A worker could not build its agent.
        """
        self._entries, self._write = entries, write
        try:
            self._workers = [_Worker(self, n) for n in range(self.size)]
            for worker in self._workers:
                self._top_up(worker)
            self._loop()
        finally:
            for worker in self._workers:
                if worker.process.is_alive():
                    worker.process.terminate()
                worker.process.join(timeout=5)
            self._running = False
            for end in self._wake:
                os.close(end)

    def _next(self) -> Entry | None:
        """The next item to hand out: one to rerun, or the next of the input."""
        if self._retry:
            return self._retry.popleft()
        if self._exhausted or self.stopping.is_set():
            return None
        entry = next(self._entries, None)
        self._exhausted = entry is None
        return entry

    def _top_up(self, worker: _Worker) -> None:
        """Keep twice the worker's concurrency sent and unfinished; say when there is no more."""
        batch = []
        while len(worker.items) < 2 * self.concurrency and (entry := self._next()) is not None:
            worker.items[entry[0]] = entry[1]
            batch.append(entry)
        if batch:
            worker.send(("items", batch))
        if self._exhausted and not self._retry and not worker.ended:
            worker.ended = True
            worker.send(("end", None))

    def _loop(self) -> None:
        drained = False
        deadline = math.inf
        while any(not w.done for w in self._workers):
            if self.stopping.is_set() and not drained:
                drained = True
                self._retry.clear()
                for worker in self._workers:
                    worker.send(("drain", None))
            if self._cancelled:
                self._cancelled = False
                deadline = time.monotonic() + CANCEL_SECONDS
                for worker in self._workers:
                    worker.send(("cancel", None))
            if time.monotonic() > deadline:
                return  # a worker that does not stop: `run` terminates it
            waiting: dict[Any, tuple[_Worker, str]] = {}
            for worker in self._workers:
                if not worker.done:
                    waiting[worker.work] = (worker, "work")
                    if worker.permits is not None:
                        waiting[worker.permits] = (worker, "permits")
                    waiting[worker.process.sentinel] = (worker, "died")
            for ready in wait([*waiting, self._wake[0]], timeout=1.0):
                if ready == self._wake[0]:
                    os.read(self._wake[0], 64)
                    continue
                worker, kind = waiting[ready]
                if worker.done:
                    continue
                if kind == "work":
                    self._serve_work(worker)
                elif kind == "permits":
                    self._serve_permits(worker)
                else:
                    self._died(worker)

    def _serve_work(self, worker: _Worker) -> None:
        try:
            while not worker.done and worker.work.poll():
                kind, payload = worker.work.recv()
                if kind == "results":
                    for number, result in payload:
                        if worker.items.pop(number, None) is not None:
                            self._write(result)
                elif kind == "log":
                    self.status.write(payload)
                elif kind == "bye":
                    worker.done = True
                    self.dropped += len(worker.items)  # drained before they started
                    worker.items.clear()
                elif kind == "fatal":
                    raise UsageError(payload)
        except (EOFError, OSError):
            return  # it died: its sentinel tells
        if not worker.done:
            self._top_up(worker)

    def _serve_permits(self, worker: _Worker) -> None:
        assert worker.permits is not None  # noqa: S101
        assert self.ledger is not None  # noqa: S101
        try:
            while worker.permits.poll():
                kind, arguments = worker.permits.recv()
                if kind == "lease":
                    try:
                        answer: Any = self.ledger.lease(*arguments)
                    except AgentkitError as error:
                        answer = error
                    worker.permits.send(answer)
                else:
                    getattr(self.ledger, kind)(*arguments)
        except (EOFError, OSError):
            return  # it died: its sentinel tells

    def _died(self, worker: _Worker) -> None:
        """A worker ended without saying bye: its unfinished items run again elsewhere."""
        self._serve_work(worker)  # the results it sent before it died count
        if worker.done:
            return
        worker.done = True
        worker.process.join(timeout=5)
        status = worker.process.exitcode
        for number, line in sorted(worker.items.items()):
            self._deaths[number] += 1
            if self._deaths[number] >= MAX_DEATHS:
                self._write(_died(line, number, status, self.settings))
            else:
                self._retry.append((number, line))
        worker.items.clear()
        if self.stopping.is_set():
            return
        logger().warning(
            "agentkit.batch.worker_died",
            worker=worker.index + 1,
            exit_status=status,
            rerun=len(self._retry),
        )
        replacement = _Worker(self, worker.index)
        self._workers[worker.index] = replacement
        for other in self._workers:
            if not other.done:
                other.ended = False if self._retry else other.ended
                self._top_up(other)


def _died(
    payload: str | BatchItem, number: int, status: int | None, settings: str | None
) -> Finished | BatchResult:
    """The failed result of an item whose worker died each time it ran it."""
    message = (
        f"The worker process running this item died {MAX_DEATHS} times (last exit status "
        f"{status}); it was not run again."
    )
    if isinstance(payload, BatchItem):
        return BatchResult(payload.id, error=ChildProcessError(message))
    name = item_id(payload, number)
    record = {
        "id": name,
        "ok": False,
        "settings": settings,
        "output": None,
        "error": {"type": "WorkerDied", "message": message + " --retry-failed runs it again."},
        "usage": usage_record(Usage()),
        "cost": None,
        "seconds": 0.0,
        "messages": [],
    }
    return Finished(name, False, json.dumps(record) + "\n", 0, 0, None)
