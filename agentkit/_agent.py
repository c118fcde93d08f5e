"""`Agent`: a model, its tools and settings, and the thin drivers that run the loop.

The loop (`_loop.agent_flow`) decides everything and does no IO. The drivers here only do
what it asks: `run`/`stream` with the sync HTTP client and sync tool calls (several calls of
one reply in worker threads), `arun`/`astream` with the async client and concurrent calls
(sync tools in worker threads). Neither wraps the other, so `run` works inside a running
event loop (a notebook) and `arun` never blocks it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, overload

from ._client import ChatClient, ChatRequest, Timeout
from ._exceptions import APIError, UsageError
from ._loop import (
    Action,
    Approve,
    CallModel,
    OnRefusal,
    OnToolError,
    PlannedCall,
    RunPlan,
    RunResult,
    RunTools,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutcome,
    UsageLimits,
    agent_flow,
    check_history,
)
from ._messages import (
    ContentPart,
    Message,
    ModelResponse,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    UserMessage,
)
from ._models import ApiStyle, ModelCatalog, ModelInfo, ModelSettings, default_catalog
from ._tools import Tool, index_tools, output_tool

__all__ = ["Agent", "AgentEvent", "Approver", "RunFinished"]

OutputT = TypeVar("OutputT")

Approver: TypeAlias = Callable[[ToolCall], "bool | str | Awaitable[bool | str]"]
"""Decides on a call to a tool that requires approval: `True` runs it, `False` or a reason
refuses it (the reason is sent to the model). May be a coroutine function."""

if TYPE_CHECKING:
    from ._logstore import ConversationLog


@dataclass(frozen=True, slots=True)
class RunFinished(Generic[OutputT]):
    """Stream event, always the last: the run's result."""

    result: RunResult[OutputT]
    kind: Literal["run_finished"] = field(default="run_finished", init=False)


AgentEvent: TypeAlias = (
    TextDelta | ToolCallDelta | ToolCallStarted | ToolCallFinished | RunFinished[Any]
)
"""What `Agent.stream` yields, in order: text and call fragments as they arrive, each call's
start and result, then `RunFinished`."""

_UNSET: Any = object()
Prompt: TypeAlias = "str | UserMessage | Sequence[ContentPart]"
Flow: TypeAlias = Generator[Action, Any, RunResult[Any]]


class Agent(Generic[OutputT]):
    """A model with tools: `run` (or `arun`, `stream`, `astream`) answers a prompt.

    One agent serves any number of runs, also at the same time: a run's state lives in the
    run, never on the agent.

    Args:
        model: A model name (looked up in `catalog`) or a `ModelInfo`.
        tools: Tools (`@tool` functions) or plain typed functions.
        system: Instructions sent first, unless the history already starts with some.
        output_type: `str` (the default) for a text answer, or a type (a pydantic model, a
            dataclass, `list[...]`, ...) that the answer must validate as.
        api_key: The key; defaults to the `GOAPI_KEY` environment variable.
        base_url: Another OpenAI-compatible server (`https://host/v1`).
        stream: Stream every request (the default; it gets past Cloudflare's 100 s limit).
        api_style: Force `"functions"` or `"tools"` instead of the catalog's choice.
        max_turns: The most requests one run may send.
        tool_retries: How often in a row a tool may fail before the run ends.
        on_tool_error: `"feedback"` sends a tool's exception to the model; `"raise"`
            lets it propagate.
        on_refusal: When the model refuses (its reply's `refusal`), `"raise"` ends the run
            with `ModelRefusal`; `"output"` makes the refusal's text the run's output (with
            an `output_type` other than `str`, a refusal always raises).
        settings: Request options (temperature, max_tokens, seed, ...).
        temperature: A shortcut for `settings.temperature`.
        timeout: The four HTTP timeouts (`Timeout`), or one number for all of them.
        max_retries: Retries of a failed request (connect errors, 429, 5xx, ...).
        deps: The default `RunContext.deps` for tools.
        approve: Called for each call to a tool that requires approval.
        limits: Usage budgets for each run.
        catalog: Where model names are looked up.
        client: A `ChatClient` to share (its HTTP pools) between agents.
        log: Record every run (prompt, chat, usage, errors) in this `ConversationLog`.

    Examples:
        >>> from agentkit import Agent, tool
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     "Add two numbers."
        ...     return a + b
        >>> agent = Agent("gpt-3.5-turbo-1106", tools=[add], api_key="sk-test")
        >>> agent.style
        'tools'
    """

    @overload
    def __init__(
        self: Agent[str],
        model: str | ModelInfo = ...,
        *,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = ...,
        system: str | None = ...,
        output_type: type[str] = ...,
        api_key: str | None = ...,
        base_url: str | None = ...,
        stream: bool = ...,
        api_style: ApiStyle | None = ...,
        max_turns: int = ...,
        tool_retries: int = ...,
        on_tool_error: OnToolError = ...,
        on_refusal: OnRefusal = ...,
        settings: ModelSettings | None = ...,
        temperature: float | None = ...,
        timeout: Timeout | float | None = ...,
        max_retries: int = ...,
        deps: Any = ...,
        approve: Approver | None = ...,
        limits: UsageLimits | None = ...,
        catalog: ModelCatalog | None = ...,
        client: ChatClient | None = ...,
        log: ConversationLog | None = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[OutputT],
        model: str | ModelInfo = ...,
        *,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = ...,
        system: str | None = ...,
        output_type: type[OutputT] | Any,
        api_key: str | None = ...,
        base_url: str | None = ...,
        stream: bool = ...,
        api_style: ApiStyle | None = ...,
        max_turns: int = ...,
        tool_retries: int = ...,
        on_tool_error: OnToolError = ...,
        on_refusal: OnRefusal = ...,
        settings: ModelSettings | None = ...,
        temperature: float | None = ...,
        timeout: Timeout | float | None = ...,
        max_retries: int = ...,
        deps: Any = ...,
        approve: Approver | None = ...,
        limits: UsageLimits | None = ...,
        catalog: ModelCatalog | None = ...,
        client: ChatClient | None = ...,
        log: ConversationLog | None = ...,
    ) -> None: ...

    def __init__(
        self,
        model: str | ModelInfo = "gpt-3.5-turbo",
        *,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = (),
        system: str | None = None,
        output_type: Any = str,
        api_key: str | None = None,
        base_url: str | None = None,
        stream: bool = True,
        api_style: ApiStyle | None = None,
        max_turns: int = 20,
        tool_retries: int = 2,
        on_tool_error: OnToolError = "feedback",
        on_refusal: OnRefusal = "raise",
        settings: ModelSettings | None = None,
        temperature: float | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int = 2,
        deps: Any = None,
        approve: Approver | None = None,
        limits: UsageLimits | None = None,
        catalog: ModelCatalog | None = None,
        client: ChatClient | None = None,
        log: ConversationLog | None = None,
    ) -> None:
        info = model if isinstance(model, ModelInfo) else (catalog or default_catalog).get(model)
        if max_turns < 1:
            raise UsageError(f"max_turns must be at least 1, not {max_turns}.")
        if tool_retries < 0:
            raise UsageError(f"tool_retries must be 0 or more, not {tool_retries}.")
        if on_tool_error not in ("feedback", "raise"):
            raise UsageError(f"on_tool_error must be 'feedback' or 'raise', not {on_tool_error!r}.")
        if on_refusal not in ("raise", "output"):
            raise UsageError(f"on_refusal must be 'raise' or 'output', not {on_refusal!r}.")
        indexed = index_tools(tools)
        result_tool = None if output_type is str else output_tool(output_type)
        if result_tool is not None:
            if result_tool.name in indexed:
                raise UsageError(
                    f"A tool is named {result_tool.name!r}, the name agentkit gives the "
                    "structured-output function; rename the tool."
                )
            indexed[result_tool.name] = result_tool
        style = api_style or info.style
        if indexed and style is None:
            raise UsageError(
                f"Model {info.name!r} cannot call functions, but tools were given. Use a model "
                "that can (gpt-3.5-turbo, gpt-3.5-turbo-1106, gpt-4, gpt-4-1106-preview), or "
                "pass api_style='tools' if your server supports it."
            )
        if temperature is not None:
            settings = replace(settings or ModelSettings(), temperature=temperature)
        self.model: ModelInfo = info
        self.style: ApiStyle = style or "tools"
        self.tools: tuple[Tool[..., Any], ...] = tuple(indexed.values())
        self.system = system
        self.stream_requests = stream
        self.settings = settings or ModelSettings()
        self.deps = deps
        self.approve = approve
        self.log = log
        self._plan = RunPlan(
            model=info,
            tools=indexed,
            output_tool=result_tool,
            max_turns=max_turns,
            tool_retries=tool_retries,
            on_tool_error=on_tool_error,
            limits=limits,
            has_approver=approve is not None,
            on_refusal=on_refusal,
        )
        self._owns_client = client is None
        self.client = client or ChatClient(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    # ------------------------------------------------------------------ public drivers

    def run(
        self, prompt: Prompt, *, history: Sequence[Message] = (), deps: Any = _UNSET
    ) -> RunResult[OutputT]:
        """Answer `prompt`, calling tools as the model asks; blocks until the answer.

        Args:
            prompt: The user's message: text, a `UserMessage`, or text and image parts.
            history: Earlier messages to continue from (e.g. `result.messages`).
            deps: `RunContext.deps` for this run (defaults to the agent's).

        Raises:
            RunError: The run stopped before the answer; `.messages` holds the chat so far.
            APIError: The service failed past the retries; `.messages` holds the chat so far.
        """
        for event in self._drive(self._start(prompt, history, deps), deliver=False):
            if isinstance(event, RunFinished):
                return event.result
        raise AssertionError("unreachable: the driver always ends with RunFinished")

    def stream(
        self, prompt: Prompt, *, history: Sequence[Message] = (), deps: Any = _UNSET
    ) -> Iterator[AgentEvent]:
        """Like `run`, but yields events as they happen; the last is `RunFinished`."""
        return self._drive(self._start(prompt, history, deps), deliver=True)

    async def arun(
        self, prompt: Prompt, *, history: Sequence[Message] = (), deps: Any = _UNSET
    ) -> RunResult[OutputT]:
        """The async `run`: tools of one reply run concurrently, sync ones in threads."""
        async for event in self._adrive(self._start(prompt, history, deps), deliver=False):
            if isinstance(event, RunFinished):
                return event.result
        raise AssertionError("unreachable: the driver always ends with RunFinished")

    def astream(
        self, prompt: Prompt, *, history: Sequence[Message] = (), deps: Any = _UNSET
    ) -> AsyncIterator[AgentEvent]:
        """The async `stream`."""
        return self._adrive(self._start(prompt, history, deps), deliver=True)

    # ------------------------------------------------------------------ resources

    def close(self) -> None:
        """Close the sync HTTP pool, if this agent created it."""
        if self._owns_client:
            self.client.close()

    async def aclose(self) -> None:
        """Close both HTTP pools, if this agent created them."""
        if self._owns_client:
            await self.client.aclose()

    def __enter__(self) -> Agent[OutputT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Agent[OutputT]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ internals

    def _start(self, prompt: Prompt, history: Sequence[Message], deps: Any) -> Flow:
        check_history(history)
        messages = list(history)
        if self.system is not None and not (messages and isinstance(messages[0], SystemMessage)):
            messages.insert(0, SystemMessage(self.system))
        if isinstance(prompt, UserMessage):
            messages.append(prompt)
        elif isinstance(prompt, str):
            messages.append(UserMessage(prompt))
        else:
            messages.append(UserMessage(tuple(prompt)))
        flow = agent_flow(self._plan, messages, deps=self.deps if deps is _UNSET else deps)
        return flow if self.log is None else self.log.watch(flow, self.model.name, messages[-1])

    def _request(self, action: CallModel) -> ChatRequest:
        return ChatRequest(
            model=self.model.name,
            messages=action.messages,
            functions=action.tools,
            style=self.style,
            settings=self.settings,
            stream=self.stream_requests,
        )

    def _drive(self, flow: Flow, *, deliver: bool) -> Iterator[AgentEvent]:
        sent: Any = None
        while True:
            try:
                action = flow.send(sent)
            except StopIteration as stop:
                yield RunFinished(stop.value)
                return
            if isinstance(action, CallModel):
                response: ModelResponse | None = None
                try:
                    for item in self.client.stream(self._request(action), deliver=deliver):
                        if isinstance(item, ModelResponse):
                            response = item
                        else:
                            yield item
                except APIError as error:
                    # The loop attaches the chat so far and the usage, and re-raises it.
                    flow.throw(error)
                sent = response
            elif isinstance(action, RunTools):
                sent = _run_tools_sync(action.calls)
            elif isinstance(action, Approve):
                sent = tuple(_decide_sync(self.approve, call) for call in action.calls)
            else:
                yield from action.events
                sent = None

    async def _adrive(self, flow: Flow, *, deliver: bool) -> AsyncIterator[AgentEvent]:
        sent: Any = None
        while True:
            try:
                action = flow.send(sent)
            except StopIteration as stop:
                yield RunFinished(stop.value)
                return
            if isinstance(action, CallModel):
                response: ModelResponse | None = None
                try:
                    async for item in self.client.astream(self._request(action), deliver=deliver):
                        if isinstance(item, ModelResponse):
                            response = item
                        else:
                            yield item
                except APIError as error:
                    # The loop attaches the chat so far and the usage, and re-raises it.
                    flow.throw(error)
                sent = response
            elif isinstance(action, RunTools):
                calls = action.calls
                if len(calls) == 1:  # the usual case: no task to make
                    sent = [await _run_tool_async(calls[0])]
                else:
                    sent = await asyncio.gather(*(_run_tool_async(call) for call in calls))
            elif isinstance(action, Approve):
                sent = [await _decide_async(self.approve, call) for call in action.calls]
            else:
                for event in action.events:
                    yield event
                sent = None


# ---------------------------------------------------------------------- tool execution


def _call_blocking(planned: PlannedCall) -> Any:
    """Call a tool to completion in this thread (an async tool gets its own event loop)."""
    value = planned.tool.invoke(planned.values, planned.ctx)
    if inspect.isawaitable(value):
        return asyncio.run(_awaited(value))
    return value


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def _run_tools_sync(calls: Sequence[PlannedCall]) -> tuple[ToolOutcome, ...]:
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


async def _run_tool_async(planned: PlannedCall) -> ToolOutcome:
    tool = planned.tool
    started = time.perf_counter()
    try:
        if tool.is_async:
            pending = tool.invoke(planned.values, planned.ctx)
        else:
            pending = asyncio.to_thread(tool.invoke, planned.values, planned.ctx)
        value = await asyncio.wait_for(pending, tool.timeout)
    except Exception as error:
        return ToolOutcome(error=error, seconds=time.perf_counter() - started)
    return ToolOutcome(value=value, seconds=time.perf_counter() - started)


# ---------------------------------------------------------------------- approval


def _decide_sync(approve: Approver | None, call: ToolCall) -> bool | str:
    if approve is None:  # the loop only asks when there is an approver
        return False
    decision = approve(call)
    if inspect.isawaitable(decision):
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            decision = pool.submit(asyncio.run, _awaited(decision)).result()
    return _checked(decision, call)


async def _decide_async(approve: Approver | None, call: ToolCall) -> bool | str:
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
