"""What the drivers do when the loop asks: run one reply's tool calls, ask the approver.

Sync (`run_tools_sync`, `decide_sync`): one untimed call in the caller's thread, several in
worker threads. Async (`run_tool_async`, `decide_async`): calls gathered by the caller, sync
tools in worker threads. Each call's outcome is a `ToolOutcome`: its value or the exception
it raised, never raised here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

from ._exceptions import UsageError
from ._loop import PlannedCall, ToolOutcome
from ._messages import ToolCall

__all__ = ["Approver", "decide_async", "decide_sync", "run_tool_async", "run_tools_sync"]

Approver: TypeAlias = Callable[[ToolCall], "bool | str | Awaitable[bool | str]"]
"""Decides on a call to a tool that requires approval: `True` runs it, `False` or a reason
refuses it (the reason is sent to the model). May be a coroutine function."""


# ---------------------------------------------------------------------- tool execution


def _call_blocking(planned: PlannedCall) -> Any:
    """Call a tool to completion in this thread (an async tool gets its own event loop)."""
    value = planned.tool.invoke(planned.values, planned.ctx)
    if inspect.isawaitable(value):
        return asyncio.run(_awaited(value))
    return value


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def run_tools_sync(calls: Sequence[PlannedCall]) -> tuple[ToolOutcome, ...]:
    """Run one reply's calls: in this thread when one and untimed, else in worker threads.

    An async tool always runs in a worker thread, where `asyncio.run` is safe even when this
    thread has a running event loop (a notebook).
    """
    started = time.perf_counter()
    if len(calls) == 1 and calls[0].tool.timeout is None and not calls[0].tool.is_async:
        try:
            value = _call_blocking(calls[0])
        except Exception as error:
            return (ToolOutcome(error=error, seconds=time.perf_counter() - started),)
        return (ToolOutcome(value=value, seconds=time.perf_counter() - started),)
    # A timed-out tool's thread cannot be killed: it is left to finish in the background.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(calls))
    try:
        futures = [pool.submit(_call_blocking, planned) for planned in calls]
        return tuple(
            _wait(future, planned.tool.timeout, started)
            for planned, future in zip(calls, futures, strict=True)
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _wait(
    future: concurrent.futures.Future[Any], timeout: float | None, started: float
) -> ToolOutcome:
    """Wait for a call started at `started`, for at most `timeout` seconds from then."""
    remaining = None if timeout is None else max(timeout - (time.perf_counter() - started), 0.0)
    try:
        value = future.result(timeout=remaining)
    except concurrent.futures.TimeoutError:
        return ToolOutcome(error=TimeoutError(), seconds=time.perf_counter() - started)
    except Exception as error:
        return ToolOutcome(error=error, seconds=time.perf_counter() - started)
    return ToolOutcome(value=value, seconds=time.perf_counter() - started)


async def run_tool_async(planned: PlannedCall) -> ToolOutcome:
    tool = planned.tool
    started = time.perf_counter()
    try:
        if tool.is_async:
            pending = tool.invoke(planned.values, planned.ctx)
        else:
            pending = asyncio.to_thread(tool.invoke, planned.values, planned.ctx)
        if tool.timeout is None:  # the usual case: awaited directly, one coroutine fewer
            value = await pending
        else:
            value = await asyncio.wait_for(pending, tool.timeout)
    except Exception as error:
        return ToolOutcome(error=error, seconds=time.perf_counter() - started)
    return ToolOutcome(value=value, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------- approval


def decide_sync(approve: Approver | None, call: ToolCall) -> bool | str:
    if approve is None:  # the loop only asks when there is an approver
        return False
    decision = approve(call)
    if inspect.isawaitable(decision):
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            decision = pool.submit(asyncio.run, _awaited(decision)).result()
    return _checked(decision, call)


async def decide_async(approve: Approver | None, call: ToolCall) -> bool | str:
    if approve is None:
        return False
    if inspect.iscoroutinefunction(approve):
        decision = await approve(call)
    else:
        decision = await asyncio.to_thread(approve, call)
        if inspect.isawaitable(decision):
            decision = await decision
    return _checked(decision, call)


def _checked(decision: object, call: ToolCall) -> bool | str:
    if isinstance(decision, (bool, str)):
        return decision
    raise UsageError(
        f"The approver returned {decision!r} for the call to {call.name!r}; it must return "
        "True (run it), False (refuse) or a string (refuse, with this reason for the model)."
    )
