"""`agentkit batch --engine ray`: the same job, with the conversations run on a Ray cluster.

```
  driver (BatchJob, as locally)                       Ray cluster
  checks the input, skips what --resume finds ──▶ object store: the lines to run, in blocks
                                                   map_batches over N actors: each parses
                                                   its block, runs `abatch` on one agent and
  writes each line, flushed; progress; exit ◀──── makes the output lines (iter_batches)
  status                                           RateBudget actor: the shared rate limit
```

The driver does what it does locally: it checks the whole input, skips the items the output
already holds (`--resume`: an anti-join of the input against the ids written), and writes
each result as one flushed line through the same writer, with the same checkpoint, progress
and exit status. Only the conversations move. So the output file and what `--resume` does
are the local ones, whichever engine wrote a line, and the input file need not be readable
by the cluster's machines (the lines travel through Ray's object store, spilled to disk when
it is full; the driver keeps one block at a time).

What a kill costs: a killed actor's block runs again on another actor (Ray retries it; its
results leave the actor only when the whole block is done, so none is written twice); a
killed driver loses the results not yet written, which `--resume` runs again. Ctrl-C stops
when the next block of results comes back (the blocks are all handed to Ray up front, so
there is no "no new items" step): what came back is written, and `--resume` runs the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from ._batch import BatchItem, BatchResult
from ._batchio import Finished, finished, parse_item
from ._batchjob import BatchJob
from ._batchpool import AgentFactory
from ._exceptions import AgentkitError, UsageError
from ._keys import stored_key
from .ray import RateBudget, _ActorStart, _AgentWorker, _map

try:
    import pyarrow as pa
    import ray
    import ray.data
except ImportError as error:  # pragma: no cover - agentkit.ray above says what to install
    raise ImportError(f"--engine ray needs the ray extra: {error}") from None

__all__ = ["RayEngine", "connect", "use_ray"]


def connect(address: str | None) -> None:
    """Join the Ray cluster at `address`, or start one on this machine when it is `None`.

    `address` is `auto` or `host:port`; a process already connected stays on its cluster.

    Raises:
        UsageError: `address` is a Ray Client one (`ray://`), or no cluster answers there.
    """
    if address is not None and address.startswith("ray://"):
        raise UsageError(
            f"--address {address} is a Ray Client address, and Ray Data, which runs the "
            "conversations, cannot run from a Ray Client connection (its executor needs a "
            "driver inside the cluster). Run the command on a node of the cluster with "
            "--address auto (on Kubernetes: in the head pod), or submit it as a Ray job: "
            "ray job submit --working-dir . -- agentkit batch IN --out OUT --engine ray "
            "--address auto (the output is then written on the head node)."
        )
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False if address is None else None)
        except (ConnectionError, ValueError, RuntimeError) as error:
            where = f"at {address!r}" if address else "on this machine"
            raise UsageError(
                f"Cannot reach a Ray cluster {where}: {error}. Start one with "
                "`ray start --head`, or pass its address (--address auto, or "
                "host:6379)."
            ) from None
    # The command shows its own progress line: Ray Data's progress, plans and notes would
    # break it up (its errors still show).
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.raise_original_map_exception = True  # an agentkit error, not Ray Data's wrapper


class RayEngine:
    """Runs a job's lines on a pool of Ray actors; a `BatchJob` engine.

    Args:
        make_agent: Builds each actor's agent, given its rate limiter (it must pickle).
        settings: The job's settings hash (it goes into each output line).
        actors: How many actors run conversations.
        concurrency: Conversations in flight in each actor.
        budget: The rate budget the actors share, or `None`.
        stopping: Set (by Ctrl-C) to stop after the results that have come back.
    """

    def __init__(
        self,
        make_agent: AgentFactory,
        *,
        settings: str,
        actors: int,
        concurrency: int,
        budget: RateBudget | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.make_agent = make_agent
        self.settings = settings
        self.actors = actors
        self.concurrency = concurrency
        self.budget = budget
        self.stopping = stopping or threading.Event()
        self.block_size = 8 * concurrency
        self.dropped = 0
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        """Stop at once: what came back is written, the rest is dropped."""
        self._cancelled.set()

    def run(self, entries: Iterator[tuple[int, str]], write: Callable[[Finished], None]) -> None:
        """Run the (line number, line) entries; each result goes to `write` as it comes."""
        refs: list[Any] = []  # one reference a block: the lines wait in the object store
        handed = 0
        while block := list(islice(entries, self.block_size)):
            numbers, lines = zip(*block, strict=True)
            refs.append(ray.put(pa.table({"number": list(numbers), "line": list(lines)})))
            handed += len(block)
        if not refs:
            return
        results = _map(
            ray.data.from_arrow_refs(refs),
            _LineWorker,
            (self.make_agent, self.concurrency, self.budget, self.settings),
            actors=min(self.actors, len(refs)),  # an actor with no block would only idle
            concurrency=self.concurrency,
            batch_size=self.block_size,
            num_cpus=1,
        )
        written = 0
        try:
            with _unreported_only():
                for done in results.iter_batches(batch_format="pyarrow", batch_size=None):
                    table: pa.Table = done
                    for row in table.to_pylist():
                        write(Finished(**row))
                        written += 1
                    if self.stopping.is_set() or self._cancelled.is_set():
                        break
        except ray.exceptions.RayError as error:  # a block's error, or an actor's
            cause = _cause(error)
            if isinstance(cause, AgentkitError):
                raise cause from None  # a setup error found in an actor: as locally
            raise
        finally:
            self.dropped = handed - written


class _SetupFailed(Exception):
    """Carries an actor's setup error to the driver as it was raised.

    Ray Data appends its retry note ("Failed to apply UDF transform after 1/1 attempts ...")
    to the text of the exception a UDF raises, by rewriting its `args`: raised inside this
    carrier, the agentkit error keeps its own text, and the command prints that.
    """

    @property
    def error(self) -> AgentkitError:
        """The agentkit error, untouched."""
        error: AgentkitError = self.args[0]
        return error


class _LineWorker(_AgentWorker):
    """The command's actor: input lines in, output lines (as `Finished`) out."""

    def __init__(
        self,
        make_agent: AgentFactory,
        concurrency: int,
        budget: RateBudget | None,
        settings: str,
        *,
        start: _ActorStart,
    ) -> None:
        super().__init__(make_agent, concurrency, budget, start=start)
        self._settings = settings

    def __call__(self, block: pa.Table) -> pa.Table:
        """As the base class does, with a setup error in a `_SetupFailed`."""
        if self._broken is not None:
            raise _SetupFailed(self._broken)
        return super().__call__(block)

    def read(self, block: pa.Table) -> tuple[list[BatchItem], list[BatchResult]]:
        numbers = block.column("number").to_pylist()
        lines = block.column("line").to_pylist()
        # The driver checked every line before it sent any.
        return [parse_item(line, n) for n, line in zip(numbers, lines, strict=True)], []

    def write(self, results: list[BatchResult]) -> pa.Table:
        done = [finished(result, self._agent, self._settings) for result in results]
        columns = [field.name for field in dataclasses.fields(Finished)]  # each, new ones too
        return pa.table({name: [getattr(f, name) for f in done] for name in columns})


def _cause(error: BaseException) -> BaseException | None:
    """The first agentkit error in a chain of Ray's wrappers."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        # Ray's `RayTaskError(ToolsetError)` is both: its text is a traceback; its cause not.
        if not isinstance(current, ray.exceptions.RayError):
            if isinstance(current, _SetupFailed):
                return current.error
            if isinstance(current, AgentkitError):
                return current
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None


class _Reported(logging.Filter):
    """Drops Ray Data's console records about an agentkit error, which the command reports.

    Ray Data logs a failed run on its console handler before it raises: "An exception was
    raised from a task of operator ...", "Exception occurred in Ray Data or Ray Core
    internal code ...", each with a traceback. When the error is agentkit's (an actor that
    could not start its agent), the command prints it in one line; its other records, and
    everything in its log file (`ray-data.log` in the session folder), stay as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to keep the record: it is about no agentkit error."""
        # A record made while Ray handles the error may not carry it: then it is current.
        error = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        return error is None or _cause(error) is None


@contextlib.contextmanager
def _unreported_only() -> Iterator[None]:
    """Ray Data's console handlers drop records about agentkit errors, for this block."""
    dropping = _Reported()
    handlers = [
        handler
        for handler in logging.getLogger("ray.data").handlers
        if isinstance(handler, logging.StreamHandler)  # the console, not the log file
    ]
    for handler in handlers:
        handler.addFilter(dropping)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(dropping)


def use_ray(job: BatchJob, *, address: str | None, actors: int | None) -> None:
    """Make `job` run its conversations on the Ray cluster at `address`.

    `job.concurrency` is then the conversations in flight in each actor; `actors` defaults
    to the cluster's CPUs (an actor takes one). The job's rate limits become one
    `RateBudget` for the cluster, shared with any other job on it that names the same
    limits. The driver's key (`GOAPI_KEY`, else the one `agentkit keys set` stored) goes to
    the actors with their agent factory, so that the cluster's machines need not have it.
    """
    if actors is not None and actors < 1:
        raise UsageError(f"--actors must be at least 1, not {actors}.")
    connect(address)
    rpm, tpm = job.limits
    budget = RateBudget(rpm, tpm) if rpm or tpm else None
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    job.engine = RayEngine(
        _Keyed.of_driver(job.factory),
        settings=job.settings,
        actors=actors or max(cpus, 1),
        concurrency=job.concurrency,
        budget=budget,
        stopping=job.stopping,
    )


class _Keyed:
    """An agent factory that brings the driver's key to an actor that has none."""

    def __init__(self, make_agent: AgentFactory, key: str | None) -> None:
        self.make_agent = make_agent
        self._key = key

    @classmethod
    def of_driver(cls, make_agent: AgentFactory) -> _Keyed:
        """`make_agent` with the driver's key: `GOAPI_KEY`, else the stored one."""
        return cls(make_agent, os.environ.get("GOAPI_KEY") or stored_key())

    def __repr__(self) -> str:  # never show the key (Ray prints actor arguments in errors)
        return f"_Keyed({self.make_agent!r})"

    def __call__(self, limiter: Any) -> Any:
        if self._key and not os.environ.get("GOAPI_KEY"):
            os.environ["GOAPI_KEY"] = self._key  # this actor's own process only
        return self.make_agent(limiter)
