"""`agentkit batch --engine ray`: the same job, with the conversations run on a Ray cluster.

The driver does what it does locally: it reads and checks the input, skips the items the
output already holds (`--resume`: an anti-join of the input against the ids written), and
writes each result as one flushed line through the same writer, with the same checkpoint,
progress and exit status. Only the conversations move: the items to run go to the cluster
through Ray's object store in blocks, `map_batches` runs them on a pool of actors, and the
results stream back (`iter_batches`) to the one writer. So the output file and what
`--resume` does are the local ones, whichever engine wrote a line, and the input file need
not be readable by the cluster's machines.

What a kill costs: a killed actor's block runs again on another actor (Ray retries it; its
results leave the actor only when the block is done, so none is written twice); a killed
driver loses the results not yet written, which `--resume` runs again.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from ._agent import Agent
from ._batch import BatchItem, BatchResult
from ._batchjob import BatchJob
from ._exceptions import AgentkitError, UsageError
from .ray import RateBudget, _map

try:
    import pyarrow as pa
    import ray
    import ray.data
except ImportError as error:  # pragma: no cover - agentkit.ray above says what to install
    raise ImportError(f"--engine ray needs the ray extra: {error}") from None

__all__ = ["RayEngine", "connect", "use_ray"]


def connect(address: str | None) -> None:
    """Join the Ray cluster at `address`, or start one on this machine when it is `None`.

    `address` is `auto`, `host:port` or `ray://host:port`; a process already connected
    stays on its cluster.
    """
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, include_dashboard=False if address is None else None)
    except (ConnectionError, ValueError, RuntimeError) as error:
        where = f"at {address!r}" if address else "on this machine"
        raise UsageError(
            f"Cannot reach a Ray cluster {where}: {error}. Start one with `ray start --head`, "
            "or pass its address (--address auto, or ray://host:10001)."
        ) from None
    ray.data.DataContext.get_current().enable_progress_bars = False  # agentkit shows its own


class RayEngine:
    """Runs a batch's items on a pool of Ray actors; results as they come back.

    Args:
        agent_factory: Makes each actor's agent (it must pickle).
        actors: How many actors run conversations.
        concurrency: Conversations in flight in each actor.
        budget: The rate budget the actors share, or `None`.
        stopping: Set to stop after the results that have come back (Ctrl-C).
    """

    def __init__(
        self,
        agent_factory: Callable[[], Agent[Any]],
        *,
        actors: int,
        concurrency: int,
        budget: RateBudget | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.agent_factory = agent_factory
        self.actors = actors
        self.concurrency = concurrency
        self.budget = budget
        self.stopping = stopping or threading.Event()
        self.block_size = 8 * concurrency

    def __call__(self, items: Iterator[BatchItem]) -> Iterator[BatchResult]:
        """The results of `items`, in the order they finish."""
        refs: list[Any] = []  # one reference a block: the items wait in the object store, not here
        while block := list(islice(items, self.block_size)):
            refs.append(ray.put(pa.table({"item": [pickle.dumps(item) for item in block]})))
        if not refs:
            return
        results = _map(
            ray.data.from_arrow_refs(refs),
            self.agent_factory,
            codec="pickled",
            actors=min(self.actors, len(refs)),  # an actor with no block would only idle
            concurrency=self.concurrency,
            budget=self.budget,
            batch_size=self.block_size,
            num_cpus=1,
        )
        try:
            for done in results.iter_batches(batch_format="pyarrow", batch_size=None):
                table: pa.Table = done
                for blob in table.column("result").to_pylist():
                    yield pickle.loads(blob)  # noqa: S301 - our own actors' results
                if self.stopping.is_set():
                    return
        except ray.exceptions.RayTaskError as error:
            cause = _cause(error)
            if isinstance(cause, AgentkitError):
                raise cause from None  # a setup error found in an actor: the same as locally
            raise


def _cause(error: BaseException) -> BaseException | None:
    """The first agentkit error in a chain of Ray's wrappers."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, AgentkitError):
            return current
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__
    return None


def use_ray(
    job: BatchJob,
    agent_factory: Callable[[], Agent[Any]],
    *,
    address: str | None,
    actors: int | None,
    requests_per_minute: float | None,
    tokens_per_minute: float | None,
) -> None:
    """Make `job` run its conversations on the Ray cluster at `address`.

    `job.concurrency` becomes the conversations in flight in each actor; `actors` defaults to
    the cluster's CPUs (an actor takes one). The rate limits are one `RateBudget` for the
    cluster, shared with any other job on it that names the same limits.
    """
    if actors is not None and actors < 1:
        raise UsageError(f"--actors must be at least 1, not {actors}.")
    connect(address)
    budget = None
    if requests_per_minute or tokens_per_minute:
        budget = RateBudget(requests_per_minute, tokens_per_minute)
    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    job.engine = RayEngine(
        agent_factory,
        actors=actors or max(cpus, 1),
        concurrency=job.concurrency,
        budget=budget,
        stopping=job.stopping,
    )
