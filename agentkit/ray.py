"""Agent conversations over a Ray Data dataset, on as many machines as the cluster has.

```python
import ray
from agentkit import Agent
from agentkit.ray import RateBudget, map_agents

prompts = ray.data.read_json("s3://bucket/prompts.jsonl")  # rows: {"id", "prompt"}
budget = RateBudget(requests_per_minute=3_000)              # one budget for every actor
results = map_agents(prompts, lambda: Agent("gpt-4"), actors=8, concurrency=32, budget=budget)
results.write_parquet("s3://bucket/answers")
```

`map_agents` runs `map_batches` over a pool of actors: each actor builds one agent (its HTTP
pools live as long as the actor) and runs agentkit's async batch runner (`abatch`) over each
block it is given, `concurrency` conversations at a time. A block's results leave the actor
only when the whole block is done, so an actor killed mid-block loses nothing: Ray runs the
block again on another actor, and the dataset holds each row's result once.

The shared rate limit is `RateBudget`: one named actor holding the schedule, from which each
worker leases permits a slice at a time (see `agentkit._ratelimit` for why that holds the
budget cluster-wide without a round trip per request).

Each actor starts its agent when it starts (so an agent's MCP servers run in the actor,
one session per actor) and stops it when Ray Data ends the actor. When the driver traces
runs (`agentkit.otel`), the actors trace theirs under the span current in the driver; the
`setup` argument sets up what each actor's process needs, such as its tracer provider.
This runs on a cluster's own nodes: Ray Client (`ray://`) cannot run Ray Data and is refused.

This module needs the `ray` extra (`pip install 'goapi-agentkit[ray]'`); `import agentkit`
never imports it. Every node must have agentkit installed (a Ray `runtime_env` can do it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ._agent import Agent
from ._batch import BatchItem, BatchResult, abatch
from ._batchio import _jsonable
from ._batchpool import AgentFactory
from ._exceptions import AgentkitError, APIStatusError, UsageError
from ._messages import Message, UserMessage
from ._ratelimit import Lease, PermitLedger, RateLimiter
from ._wire import dump_messages, load_messages

try:
    import pyarrow as pa
    import ray
    import ray.data
except ImportError as error:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        f"agentkit.ray needs Ray Data ({error.name} is missing): pip install 'goapi-agentkit[ray]'."
    ) from None

__all__ = ["RESULT_SCHEMA", "RateBudget", "map_agents"]

RESULT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("ok", pa.bool_()),
        ("output", pa.string()),
        ("error_type", pa.string()),
        ("error", pa.string()),
        ("status", pa.int64()),
        ("requests", pa.int64()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("tool_calls", pa.int64()),
        ("seconds", pa.float64()),
        ("messages", pa.string()),
    ]
)
"""The columns `map_agents` returns, one row per input row.

`output` is the answer's text (a structured output as JSON); `error_type`, `error` and
`status` say why a row failed; `messages` is the chat as JSON (as `dump_messages` writes it).
"""


class RateBudget:
    """One requests/tokens-per-minute budget shared by every actor of a cluster.

    Creating it starts one Ray actor holding the schedule (a `PermitLedger`), named so that
    other drivers in the same Ray namespace can share it by passing the same `name` and
    limits. Each worker leases permits from it in slices of about half the burst, so a
    request costs no round trip; the budget holds cluster-wide as for one local limiter:
    in any window of `w` seconds, at most `limit * (w + burst) / 60` requests plus one.

    Args:
        requests_per_minute: The most requests a minute across the cluster, or `None`.
        tokens_per_minute: The most tokens a minute across the cluster, or `None`.
        burst: Seconds' worth of capacity that may be used at once (default 1 s).
        name: The actor's name.

    Raises:
        UsageError: Neither limit was given, a limit is not positive, or an actor of this
            name already keeps other limits.
    """

    def __init__(
        self,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        *,
        burst: float = 1.0,
        name: str = "agentkit-rate-budget",
    ) -> None:
        if requests_per_minute is None and tokens_per_minute is None:
            raise UsageError("A RateBudget needs requests_per_minute, tokens_per_minute or both.")
        limits = {
            "requests_per_minute": requests_per_minute,
            "tokens_per_minute": tokens_per_minute,
            "burst": burst,
        }
        # The same checks as a local limiter, before an actor starts.
        _Ledger(
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            burst=burst,
        )
        self.name = name
        self.tokens_per_minute = tokens_per_minute
        remote: Any = ray.remote(num_cpus=0, max_restarts=-1)(_Ledger)
        self._actor = remote.options(name=name, get_if_exists=True).remote(**limits)
        held: dict[str, float | None] = ray.get(self._actor.limits.remote())
        if held != limits:
            raise UsageError(
                f"A rate budget named {name!r} already runs with other limits ({held}); "
                "give this one another name, or the same limits."
            )

    def limiter(self) -> RateLimiter:
        """A limiter for one worker, leasing from this budget (for its `ChatClient`)."""
        return RateLimiter(source=_ActorSource(self._actor, self.tokens_per_minute is not None))


class _Ledger(PermitLedger):
    """The ledger as the budget actor runs it: shared, and able to say its limits."""

    def __init__(
        self,
        *,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        burst: float,
    ) -> None:
        super().__init__(
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            burst=burst,
            shared=True,
        )
        self._limits = {
            "requests_per_minute": requests_per_minute,
            "tokens_per_minute": tokens_per_minute,
            "burst": burst,
        }

    def limits(self) -> dict[str, float | None]:
        return self._limits


class _ActorSource:
    """The budget actor as a `PermitSource`: only a lease waits for its answer."""

    def __init__(self, actor: Any, counts_tokens: bool) -> None:
        self._actor = actor
        self._counts_tokens = counts_tokens

    def lease(self, requests: int, tokens: int, want_requests: int, want_tokens: int) -> Lease:
        try:
            lease: Lease = ray.get(
                self._actor.lease.remote(requests, tokens, want_requests, want_tokens)
            )
        except ray.exceptions.RayTaskError as error:  # e.g. one request over the whole budget
            raise error.cause from None
        return lease

    def give_back(self, lease: Lease, requests: int, tokens: int) -> None:
        self._actor.give_back.remote(lease, requests, tokens)

    def charge(self, tokens: int) -> None:
        if self._counts_tokens:  # with no token limit, a reply's tokens need no message
            self._actor.charge.remote(tokens)

    def pause(self, seconds: float) -> None:
        self._actor.pause.remote(seconds)


def map_agents(
    dataset: ray.data.Dataset,
    agent_factory: Callable[[], Agent[Any]],
    *,
    actors: int = 2,
    concurrency: int = 16,
    budget: RateBudget | None = None,
    batch_size: int | None = None,
    num_cpus: float = 1,
    setup: Callable[[], object] | None = None,
) -> ray.data.Dataset:
    """Run one conversation per row of `dataset`; a dataset of results, one row per input.

    Each input row has a `prompt` (text), or `messages` ending with a user message (as
    `dump_messages` writes them), or both (the messages come before the prompt), and an
    `id`; a row without an `id` is keyed by a hash of its content. A row that cannot be
    read is a failed result (`error_type` `UsageError`), not the end of the job.

    Args:
        dataset: The inputs (e.g. `ray.data.read_json("prompts.jsonl")`).
        agent_factory: Makes the agent of one actor; called once in each actor, so it must
            pickle (a module-level function or a lambda that builds an `Agent`).
        actors: How many actors run conversations.
        concurrency: Conversations in flight in each actor.
        budget: The rate budget every actor shares, or `None` for no limit.
        batch_size: Rows given to an actor at a time (default: 8 x `concurrency`); an actor
            killed mid-block makes Ray run the whole block again.
        num_cpus: CPUs Ray reserves for each actor.
        setup: Called once in each actor, before its agent is made: what the actor's
            process needs that the driver's has, e.g. a tracer provider (see "Traces"
            below); it must pickle, as `agent_factory`.

    Traces: when the driver traces runs (`agentkit.otel.instrument()`), so do the actors,
    through the global tracer provider of their process, which `setup` makes (a provider
    set in the driver does not exist in the actors). The span current when `map_agents`
    is called travels with the actors (W3C `traceparent`), so each row's `invoke_agent` span
    is its child, in one trace; with no span current, each row is a trace of its own, as
    each item of a local `batch` is. An actor exports its spans after each block.

    Returns:
        A lazy dataset with the columns of `RESULT_SCHEMA`; results are in no set order.

    Raises:
        UsageError: `actors`, `concurrency` or `batch_size` is below 1, or this process is
            connected through Ray Client (`ray://`), from which Ray Data cannot run: run the
            script on a node of the cluster, or as a Ray job (`ray job submit`).
    """
    return _map(
        dataset,
        _RowWorker,
        (_Attach(agent_factory), concurrency, budget),
        actors=actors,
        concurrency=concurrency,
        batch_size=batch_size,
        num_cpus=num_cpus,
        setup=setup,
    )


def _map(
    dataset: ray.data.Dataset,
    worker: type[_AgentWorker],
    arguments: tuple[Any, ...],
    *,
    actors: int,
    concurrency: int,
    batch_size: int | None,
    num_cpus: float,
    setup: Callable[[], object] | None = None,
) -> ray.data.Dataset:
    """`dataset` through a pool of `actors` actors of class `worker`, made with `arguments`.

    Each actor first runs `setup`, then takes on the driver's tracing, if any (see
    `map_agents`): it is read now, when the dataset is planned, not when it runs.
    """
    for name, value in (("actors", actors), ("concurrency", concurrency)):
        if value < 1:
            raise UsageError(f"{name} must be at least 1, not {value}.")
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, not {batch_size}.")
    if ray.util.client.ray.is_connected():  # type: ignore[no-untyped-call]
        raise UsageError(_NO_RAY_CLIENT)
    otel = sys.modules.get("agentkit.otel")  # imported if the driver traces runs
    tracing = None if otel is None else otel._Carried.here()
    return dataset.map_batches(
        worker,
        fn_constructor_args=arguments,
        fn_constructor_kwargs={"start": _ActorStart(setup, tracing)},
        batch_format="pyarrow",
        batch_size=batch_size or 8 * concurrency,
        # Ray Data restarts a dead actor and runs its unfinished blocks again (by default).
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=num_cpus,
    )


_NO_RAY_CLIENT = (
    "map_agents cannot run through Ray Client (ray.init('ray://...')): Ray Data's executor "
    "needs a driver inside the cluster (in Ray 2.60 it fails with \"'Worker' object has no "
    "attribute 'core_worker'\"). Run the script on a node of the cluster "
    "(ray.init(address='auto')), or submit it as a Ray job: ray job submit --working-dir . "
    "-- python your_script.py."
)


class _Attach:
    """A user's agent factory as an `AgentFactory`: the limiter goes on the agent's client."""

    def __init__(self, agent_factory: Callable[[], Agent[Any]]) -> None:
        self.agent_factory = agent_factory

    def __call__(self, limiter: RateLimiter | None) -> Agent[Any]:
        agent = self.agent_factory()
        if not isinstance(agent, Agent):
            raise UsageError(
                f"agent_factory must return an agentkit Agent, not {type(agent).__name__}."
            )
        if limiter is not None:
            agent.client.rate_limiter = limiter
        return agent


class _ActorStart:
    """What an actor does before it makes its agent.

    The user's `setup`, then the tracing the driver carried (an `agentkit.otel._Carried`,
    or `None`).
    """

    def __init__(self, setup: Callable[[], object] | None, tracing: Any) -> None:
        self.setup = setup
        self.tracing = tracing

    def __call__(self) -> None:
        if self.setup is not None:
            self.setup()
        if self.tracing is not None:
            self.tracing.install()


class _AgentWorker:
    """One Ray Data actor: one agent on one event loop, for the actor's whole life.

    The agent is started (its MCP servers, if any) when the actor starts, and stopped when
    Ray Data ends the actor (it calls `__del__` then; a killed actor's servers see their
    pipe close). Subclasses say how a block becomes items (`read`) and results a block
    (`write`).
    """

    def __init__(
        self,
        make_agent: AgentFactory,
        concurrency: int,
        budget: RateBudget | None,
        *,
        start: _ActorStart,
    ) -> None:
        start()
        self._tracing = start.tracing
        self._loop = asyncio.new_event_loop()  # kept: the agent's async pools belong to it
        self._limiter = None if budget is None else budget.limiter()
        self._agent = make_agent(self._limiter)
        self._concurrency = concurrency
        self._started = contextlib.ExitStack()
        self._broken: AgentkitError | None = None
        try:
            self._started.enter_context(self._agent)  # starts its toolsets (MCP servers)
        except AgentkitError as error:
            # Raised here, Ray would only say that the actor died, and start it again and
            # again; raised by the first block, the error reaches the driver as it is.
            self._broken = error

    def __call__(self, block: pa.Table) -> pa.Table:
        """Run one block's items; their results, all at once (a block is all or nothing)."""
        if self._broken is not None:
            raise self._broken
        items, failed = self.read(block)
        results = self.write(failed + self._loop.run_until_complete(self._run(items)))
        _flush_traces()  # the block's spans leave with its results
        return results

    def __del__(self) -> None:
        """Stop the agent's servers and close its pools (Ray Data's end of the actor)."""
        loop: asyncio.AbstractEventLoop | None = getattr(self, "_loop", None)
        if loop is None or loop.is_closed():
            return
        try:
            if hasattr(self, "_started"):
                self._started.close()  # the toolsets, then the sync pool
                loop.run_until_complete(self._agent.client.aclose())  # made for this actor
        finally:
            loop.close()
            _flush_traces()

    def read(self, block: pa.Table) -> tuple[list[BatchItem], list[BatchResult]]:
        """The block's items, and the results of rows that are no item."""
        raise NotImplementedError

    def write(self, results: list[BatchResult]) -> pa.Table:
        """The block of `results`."""
        raise NotImplementedError

    async def _run(self, items: Iterable[BatchItem]) -> list[BatchResult]:
        # The driver's span, current in this task: each item's run (a task of its own,
        # which copies the context) starts its trace under it.
        token = None if self._tracing is None else self._tracing.attach()
        try:
            return [r async for r in abatch(self._agent, items, concurrency=self._concurrency)]
        finally:
            if token is not None:
                self._tracing.detach(token)
            if self._limiter is not None:
                self._limiter.close()  # between blocks, hold no permits others could use


def _flush_traces() -> None:
    """Export the spans this process still holds, if it traces runs."""
    otel = sys.modules.get("agentkit.otel")
    if otel is not None:
        otel._flush()


class _RowWorker(_AgentWorker):
    """`map_agents`' actor: rows of prompts in, rows of `RESULT_SCHEMA` out."""

    def read(self, block: pa.Table) -> tuple[list[BatchItem], list[BatchResult]]:
        read = [_row_item(row) for row in block.to_pylist()]
        items = [item for item in read if isinstance(item, BatchItem)]
        return items, [item for item in read if isinstance(item, BatchResult)]

    def write(self, results: list[BatchResult]) -> pa.Table:
        return pa.Table.from_pylist([_row(result) for result in results], schema=RESULT_SCHEMA)


def _row_id(row: Mapping[str, Any]) -> str:
    """The row's `id`, or a hash of its content."""
    if row.get("id") is not None:
        return str(row["id"])
    text = json.dumps(row, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _row_item(row: Mapping[str, Any]) -> BatchItem | BatchResult:
    """An input row as a batch item, or as a failed result when it cannot be one."""
    try:
        return _read_row(row)
    except UsageError as error:
        return BatchResult(_row_id(row), error=error)


def _read_row(row: Mapping[str, Any]) -> BatchItem:
    """An input row as a batch item (the same shapes as a line of `agentkit batch`)."""
    prompt = row.get("prompt")
    raw = row.get("messages")
    if raw is not None and not isinstance(raw, list):
        raise UsageError("'messages' must be a list of messages.")
    # Arrow gives every message every field seen in the column, missing ones as null.
    history: list[Message] = load_messages(
        [
            {k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m
            for m in raw or []
        ]
    )
    if prompt is None:
        last = history.pop() if history else None
        if not isinstance(last, UserMessage):
            raise UsageError("a row needs a 'prompt', or 'messages' ending with a user one.")
        return BatchItem(_row_id(row), last, tuple(history))
    if not isinstance(prompt, str):
        raise UsageError(f"'prompt' must be text, not {type(prompt).__name__}.")
    return BatchItem(_row_id(row), prompt, tuple(history))


def _row(result: BatchResult) -> dict[str, Any]:
    """A result as a row of `RESULT_SCHEMA`."""
    output = result.output
    if result.ok and not isinstance(output, str):
        output = json.dumps(_jsonable(output), ensure_ascii=False)
    error = result.error
    usage = result.usage
    return {
        "id": result.id,
        "ok": result.ok,
        "output": output if result.ok else None,
        "error_type": None if error is None else type(error).__name__,
        "error": None if error is None else str(error),
        "status": error.status_code if isinstance(error, APIStatusError) else None,
        "requests": usage.requests,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "tool_calls": usage.tool_calls,
        "seconds": result.seconds,
        "messages": json.dumps(dump_messages(result.messages), ensure_ascii=False),
    }
