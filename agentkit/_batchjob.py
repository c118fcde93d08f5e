"""`agentkit batch`: a JSONL file of prompts in, a JSONL file of results out, resumable.

Nothing is lost: each finished item is one line appended to the output and flushed at once,
so a run killed at any moment (even by SIGKILL) loses at most the items in flight, and at
worst leaves half a line, which the next run cuts off. `--resume` reads the output back and
skips the items it holds; `--retry-failed` drops the failures from it first, so that every
input ends with exactly one line. A checkpoint beside the output (`OUT.checkpoint.json`,
replaced atomically) records the counts and the settings of the run.

One process runs the conversations on its own event loop; with `workers` above one,
`_batchpool` spreads them over that many processes, and this module still reads the input,
writes the output and shows the progress, once.

An item is keyed by its `id` (or its line number and a hash of the line), together with a
hash of the settings that shape its answer (model, system prompt, tools, options): results
made with other settings are not taken as done.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol

from ._batch import BatchItem, abatch
from ._batchio import (
    Finished,
    OutputState,
    check_input,
    check_paths,
    finished,
    item_id,
    key_of,
    lock_output,
    parse_item,
    read_lines,
    scan_output,
)
from ._batchpool import AgentFactory, Pool, default_workers
from ._batchprogress import Progress, StatusLine
from ._ratelimit import RateLimiter

__all__ = ["AgentFactory", "BatchJob", "Engine", "settings_hash"]


class Engine(Protocol):
    """What runs a job's conversations: `Pool`, or another engine (the Ray one)."""

    dropped: int
    """Lines handed to `run` whose results were not written (stopped early)."""

    def run(self, entries: Iterator[tuple[int, str]], write: Callable[[Finished], None]) -> None:
        """Run the (line number, line) entries; hand each result to `write`, in this thread."""
        ...

    def cancel(self) -> None:
        """Stop at once (called from a signal handler): write what came back, drop the rest."""
        ...


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short, stable hash of what shapes an answer (model, system, tools, options)."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class BatchJob:
    """Runs an input JSONL file through an agent into an output JSONL file.

    Args:
        factory: Builds the agent, given the shared rate limiter (or `None`).
        source: The input file.
        out: The output file (appended to).
        settings: What shapes the answers; its hash keys the results.
        concurrency: The most conversations in flight, over all workers.
        workers: Processes to spread them over (1: this one; `None`: see `default_workers`).
        requests_per_minute: One budget for all workers, or `None`.
        tokens_per_minute: One budget for all workers, or `None`.
        resume: Skip the items the output already holds.
        retry_failed: With `resume`, run the failed items again.
        status: Where progress goes (standard error).

    Raises:
        UsageError: A path cannot be used (see `check_paths`), or the output is not this
            tool's (see `scan_output`).
    """

    def __init__(
        self,
        factory: AgentFactory,
        source: Path,
        out: Path,
        *,
        settings: Mapping[str, Any],
        concurrency: int,
        workers: int | None = 1,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        resume: bool = False,
        retry_failed: bool = False,
        status: IO[str] | StatusLine = sys.stderr,
    ) -> None:
        if retry_failed and not resume:
            resume = True  # rerunning failures only makes sense on top of earlier results
        check_paths(source, out, resume=resume)
        self.factory = factory
        self.source = source
        self.out = out
        self.checkpoint = out.with_name(out.name + ".checkpoint.json")
        self.settings = settings_hash(settings)
        self.concurrency = concurrency
        self.workers = workers
        self.limits = (requests_per_minute, tokens_per_minute)
        self.status = status if isinstance(status, StatusLine) else StatusLine(status)
        self.progress = Progress()
        self.stopping = threading.Event()  # the first Ctrl-C: take no new items
        self.cancel: Callable[[], None] = lambda: None  # the second: stop at once
        # Runs the conversations in place of the local pool (`agentkit._ray_job` sets it).
        self.engine: Engine | None = None
        self.state = OutputState()
        self._held: IO[bytes] | None = None  # the output, locked before it is read
        if resume and out.exists():
            self._held = out.open("ab")
            try:
                lock_output(self._held, out)
                self.state = scan_output(out, self.settings, retry_failed=retry_failed)
                if retry_failed:  # the file was replaced: hold the new one
                    self._held.close()
                    self._held = out.open("ab")
                    lock_output(self._held, out)
            except BaseException:
                self._held.close()
                raise
        self._last_shown = 0.0

    # ------------------------------------------------------------------ reading

    def pending(self) -> Iterator[tuple[int, str]]:
        """The input's lines not yet done (number, text), read lazily; stops once asked to.

        Each line handed out counts as in flight until its result is written.
        """
        ok, failed = self.state.ok, self.state.failed
        resuming = len(ok) or len(failed)
        for number, line in read_lines(self.source):
            if self.stopping.is_set():
                return
            if resuming:
                key = key_of(item_id(line, number))
                if key in ok:
                    continue
                if key in failed:
                    self.progress.failed_before += 1
                    continue
            self.progress.in_flight += 1
            yield number, line

    def _items(self) -> Iterator[BatchItem]:
        for number, line in self.pending():
            yield parse_item(line, number)

    # ------------------------------------------------------------------ writing

    def write(self, out: IO[str], result: Finished) -> None:
        """Append one result, flushed at once, and count it."""
        out.write(result.line)
        out.flush()
        progress = self.progress
        progress.in_flight -= 1
        if result.ok:
            progress.done += 1
        else:
            progress.failed += 1
        progress.tokens += result.tokens
        progress.unreported += result.unreported
        progress.counted += result.counted
        if result.cost is None:
            progress.unpriced += 1
        else:
            progress.cost += result.cost
        now = time.monotonic()
        if now - self._last_shown >= (0.1 if self.status.live else 10):
            self.status.show(progress.line())
            self._checkpoint()
            self._last_shown = now

    def _checkpoint(self) -> None:
        state = {
            "settings": self.settings,
            "done": self.progress.done,
            "failed": self.progress.failed,
            "skipped": self.progress.skipped,
            "tokens": self.progress.tokens,
            "unreported_requests": self.progress.unreported,
            "counted_requests": self.progress.counted,
            "updated": time.time(),
        }
        temporary = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.checkpoint)

    # ------------------------------------------------------------------ running

    def run(self) -> int:
        """Run the batch; the exit status: 0 all answered, 1 some failed, 130 interrupted.

        The status counts the whole output: an item that failed in an earlier run and is
        not run again still makes it 1.
        """
        items = check_input(self.source)  # every bad line, before anything is sent
        progress = self.progress
        progress.skipped = len(self.state.ok)
        progress.to_run = max(items - len(self.state.ok) - len(self.state.failed), 0)
        main = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGINT)
        if main:
            signal.signal(signal.SIGINT, self._interrupt)
        try:
            with self.out.open("a", encoding="utf-8") as out:
                if self._held is None:
                    lock_output(out, self.out)
                workers = self.workers or default_workers(self.concurrency, progress.to_run)
                if workers > 1 or self.engine is not None:
                    self._run_pool(out, workers)
                else:
                    asyncio.run(self._run_here(out))
            self._checkpoint()
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
            if self._held is not None:
                self._held.close()
        self.status.end()
        summary = progress.line()
        before = f"skipped {progress.skipped} done before"
        if progress.failed_before:
            before += f", {progress.failed_before} failed before (--retry-failed runs them)"
        self.status.write(f"agentkit batch: {summary}  ({before})\n")
        if self.stopping.is_set():
            self.status.write("agentkit batch: interrupted; run again with --resume to finish\n")
            return 130
        return 1 if progress.failed or progress.failed_before else 0

    def _run_pool(self, out: IO[str], workers: int) -> None:
        pool = self.engine or Pool(
            self.factory,
            settings=self.settings,
            workers=workers,
            concurrency=self.concurrency,
            limits=self.limits,
            status=self.status,
            stopping=self.stopping,
        )
        self.cancel = pool.cancel
        pool.run(self.pending(), lambda result: self.write(out, result))
        self.progress.in_flight -= pool.dropped

    async def _run_here(self, out: IO[str]) -> None:
        rpm, tpm = self.limits
        limiter = None
        if rpm or tpm:
            limiter = RateLimiter(requests_per_minute=rpm, tokens_per_minute=tpm)
        agent = self.factory(limiter)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def cancel() -> None:
            loop.call_soon_threadsafe(stop.set)

        self.cancel = cancel
        try:
            async with agent:  # starts and stops its toolsets (MCP servers), if any
                async for result in abatch(
                    agent, self._items(), concurrency=self.concurrency, stop=stop
                ):
                    self.write(out, finished(result, agent, self.settings))
        finally:
            await agent.client.aclose()

    def _interrupt(self, signum: int, frame: object) -> None:
        if self.stopping.is_set():
            self.status.write("\nagentkit batch: stopping now; writing the results that came\n")
            self.cancel()
            return
        self.stopping.set()
        self.status.write(
            "\nagentkit batch: stopping: no new items; waiting for those in flight "
            "(Ctrl-C again to stop at once)\n"
        )
