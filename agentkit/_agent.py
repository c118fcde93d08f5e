"""`Agent`: a model, its tools and settings, and the thin drivers that run the loop.

The loop (`_loop.agent_flow`) decides everything and does no IO. The drivers here only do
what it asks: `run`/`stream` with the sync HTTP client and sync tool calls (several calls of
one reply in worker threads), `arun`/`astream` with the async client and concurrent calls
(sync tools in worker threads; see `_execute`). Neither wraps the other, so `run` works
inside a running event loop (a notebook) and `arun` never blocks it. A run's configuration
(the agent's, with the run's overrides) comes from `_runconfig`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar, cast, overload

from . import _instrument
from ._bookkeeping import check_history
from ._client import ChatClient, ChatRequest, Timeout
from ._exceptions import APIError, UsageError
from ._execute import Approver, decide_async, decide_sync, run_tool_async, run_tools_sync
from ._loop import (
    Action,
    Approve,
    CallModel,
    OnRefusal,
    OnToolError,
    RunResult,
    RunTools,
    ToolCallFinished,
    ToolCallStarted,
    UsageLimits,
    agent_flow,
)
from ._messages import (
    ContentPart,
    ModelResponse,
    SystemMessage,
    TextDelta,
    ToolCallDelta,
    UserMessage,
)
from ._models import ApiStyle, ModelCatalog, ModelInfo, ModelSettings, default_catalog
from ._runconfig import (
    AgentConfig,
    OutputMode,
    RunConfig,
    RunOptions,
    ToolChoice,
    resolve_model,
)
from ._tools import RunContext, Tool, format_result, index_tools
from ._toolset import Toolset

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._logstore import ConversationLog

__all__ = [
    "Agent",
    "AgentEvent",
    "Approver",
    "OutputMode",
    "RunFinished",
    "RunOptions",
    "ToolChoice",
]

OutputT = TypeVar("OutputT")
T = TypeVar("T")


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
    run, never on the agent. A run may override the model, settings, tools, system text,
    output type, limits, tool choice and deps (see `RunOptions`); that never changes the
    agent or other runs.

    Args:
        model: A model name (looked up in `catalog`) or a `ModelInfo`. A name the catalog
            does not know is refused unless `api_style` says how the model takes functions.
        output_type: `str` (the default) for a text answer, or a type (a pydantic model, a
            dataclass, `list[...]`, ...) that the answer must validate as.
        tools: Tools (`@tool` functions), plain typed functions, and toolsets (MCP servers,
            `agentkit.mcp`), whose tools are listed when the agent is entered (`with agent:`).
        system: Instructions sent first, unless the history already starts with some.
        api_key: The key; defaults to `GOAPI_KEY`, else the key `agentkit keys set` stored.
        base_url: Another OpenAI-compatible server (`https://host/v1`); defaults to
            `GOAPI_BASE_URL`, else GoAPI.
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
        tool_choice: `"auto"` (the server's default), `"none"`, `"required"` or a tool's
            name. A forced choice (`"required"`, a name) applies to a run's first request
            only, so the model can answer once it has the results; but `"required"` with an
            `output_type` asked for as a call (`final_result`) applies to every request,
            so the model calls tools until it calls that one.
        output_mode: How a structured output is asked for: `"tool"` (as a call to the
            `final_result` function), `"native"` (as JSON text in a strict schema, for models
            whose catalog entry has `structured_output`), or `"auto"` (native where the model
            takes it and the type fits a strict schema, else the tool).

    Raises:
        UsageError: The configuration cannot work (an unknown model, tools for a model that
            cannot call functions, an unknown tool in `tool_choice`, ...); the text says why.

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
        output_type: type[str] = ...,
        tools: Sequence[Tool[..., Any] | Callable[..., Any] | Toolset] = ...,
        system: str | None = ...,
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
        tool_choice: ToolChoice | None = ...,
        output_mode: OutputMode = ...,
        log: ConversationLog | None = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[OutputT],
        model: str | ModelInfo = ...,
        *,
        output_type: type[OutputT],
        tools: Sequence[Tool[..., Any] | Callable[..., Any] | Toolset] = ...,
        system: str | None = ...,
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
        tool_choice: ToolChoice | None = ...,
        output_mode: OutputMode = ...,
        log: ConversationLog | None = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[Any],
        model: str | ModelInfo = ...,
        *,
        output_type: Any,
        tools: Sequence[Tool[..., Any] | Callable[..., Any] | Toolset] = ...,
        system: str | None = ...,
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
        tool_choice: ToolChoice | None = ...,
        output_mode: OutputMode = ...,
        log: ConversationLog | None = ...,
    ) -> None: ...

    def __init__(
        self,
        model: str | ModelInfo = "gpt-3.5-turbo",
        *,
        output_type: Any = str,
        tools: Sequence[Tool[..., Any] | Callable[..., Any] | Toolset] = (),
        system: str | None = None,
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
        tool_choice: ToolChoice | None = None,
        output_mode: OutputMode = "auto",
        log: ConversationLog | None = None,
    ) -> None:
        if max_turns < 1:
            raise UsageError(f"max_turns must be at least 1, not {max_turns}.")
        if tool_retries < 0:
            raise UsageError(f"tool_retries must be 0 or more, not {tool_retries}.")
        if on_tool_error not in ("feedback", "raise"):
            raise UsageError(f"on_tool_error must be 'feedback' or 'raise', not {on_tool_error!r}.")
        if on_refusal not in ("raise", "output"):
            raise UsageError(f"on_refusal must be 'raise' or 'output', not {on_refusal!r}.")
        if temperature is not None:
            settings = replace(settings or ModelSettings(), temperature=temperature)
        catalog = catalog or default_catalog
        self._setup = AgentConfig(
            catalog=catalog,
            model=resolve_model(model, catalog, api_style),
            api_style=api_style,
            tools=index_tools(t for t in tools if not isinstance(t, Toolset)),
            toolsets=tuple(t for t in tools if isinstance(t, Toolset)),
            output_type=output_type,
            output_mode=output_mode,
            tool_choice=tool_choice,
            settings=settings or ModelSettings(),
            system=system,
            limits=limits,
            max_turns=max_turns,
            tool_retries=tool_retries,
            on_tool_error=on_tool_error,
            on_refusal=on_refusal,
            has_approver=approve is not None,
        )
        # What a run without overrides uses; with toolsets, only checked here (their tools
        # are known once they are started), and made again whenever their lists change.
        self._config = self._setup.for_run(list_toolsets=False)
        self._listed: tuple[tuple[Tool[..., Any], ...], RunConfig] | None = None
        self._started: list[contextlib.ExitStack] = []  # one per `with`, nested or not
        self._astarted: list[contextlib.AsyncExitStack] = []
        self.stream_requests = stream
        self.deps = deps
        self.approve = approve
        self.log = log
        self._owns_client = client is None
        self.client = client or ChatClient(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    # ------------------------------------------------------------------ configuration

    @property
    def model(self) -> ModelInfo:
        """The model (its catalog entry)."""
        return self._setup.model

    @property
    def style(self) -> ApiStyle:
        """How functions are sent: `"functions"` (legacy) or `"tools"`."""
        return self._config.style

    @property
    def tools(self) -> tuple[Tool[..., Any], ...]:
        """The agent's tools (not the structured-output function)."""
        return tuple(self._setup.tools.values())

    @property
    def toolsets(self) -> tuple[Toolset, ...]:
        """The agent's toolsets (MCP servers), started by `with agent:`."""
        return self._setup.toolsets

    @property
    def system(self) -> str | None:
        """The instructions sent first."""
        return self._setup.system

    @property
    def settings(self) -> ModelSettings:
        """The request options."""
        return self._setup.settings

    @property
    def limits(self) -> UsageLimits | None:
        """The budgets of each run."""
        return self._setup.limits

    @property
    def output_type(self) -> Any:
        """What the answer must validate as (`str`: any text)."""
        return self._setup.output_type

    # ------------------------------------------------------------------ public drivers

    @overload
    def run(self, prompt: Prompt, **options: Unpack[RunOptions]) -> RunResult[OutputT]: ...
    @overload
    def run(
        self, prompt: Prompt, *, output_type: type[T], **options: Unpack[RunOptions]
    ) -> RunResult[T]: ...
    @overload
    def run(
        self, prompt: Prompt, *, output_type: Any, **options: Unpack[RunOptions]
    ) -> RunResult[Any]: ...
    def run(
        self, prompt: Prompt, *, output_type: Any = _UNSET, **options: Unpack[RunOptions]
    ) -> RunResult[Any]:
        """Answer `prompt`, calling tools as the model asks; blocks until the answer.

        Args:
            prompt: The user's message: text, a `UserMessage`, or text and image parts.
            output_type: This run's output type instead of the agent's.
            **options: This run's `history`, `deps` and overrides of the agent's settings
                (`model`, `settings`, `tools`, ...: see `RunOptions`).

        Raises:
            RunError: The run stopped before the answer; `.messages` holds the chat so far.
            APIError: The service failed past the retries; `.messages` holds the chat so far.
            UsageError: An override cannot work (the text says why); nothing was sent.
        """
        config, flow = self._start(prompt, output_type, options)
        # Without `deliver` the driver yields only `RunFinished`, then ends: the loop runs it
        # to its end, so no suspended generator is left for the garbage collector to close.
        (finished,) = self._drive(config, flow, deliver=False)
        return cast(RunFinished[Any], finished).result

    @overload
    def stream(self, prompt: Prompt, **options: Unpack[RunOptions]) -> Iterator[AgentEvent]: ...
    @overload
    def stream(
        self, prompt: Prompt, *, output_type: Any, **options: Unpack[RunOptions]
    ) -> Iterator[AgentEvent]: ...
    def stream(
        self, prompt: Prompt, *, output_type: Any = _UNSET, **options: Unpack[RunOptions]
    ) -> Iterator[AgentEvent]:
        """Like `run`, but yields events as they happen; the last is `RunFinished`."""
        config, flow = self._start(prompt, output_type, options)
        return self._drive(config, flow, deliver=True)

    @overload
    async def arun(self, prompt: Prompt, **options: Unpack[RunOptions]) -> RunResult[OutputT]: ...
    @overload
    async def arun(
        self, prompt: Prompt, *, output_type: type[T], **options: Unpack[RunOptions]
    ) -> RunResult[T]: ...
    @overload
    async def arun(
        self, prompt: Prompt, *, output_type: Any, **options: Unpack[RunOptions]
    ) -> RunResult[Any]: ...
    async def arun(
        self, prompt: Prompt, *, output_type: Any = _UNSET, **options: Unpack[RunOptions]
    ) -> RunResult[Any]:
        """The async `run`: tools of one reply run concurrently, sync ones in threads."""
        config, flow = self._start(prompt, output_type, options)
        # Run to the driver's end: an async generator left suspended is closed by the event
        # loop's finalizer hook, a task and a wake-up of the loop for every run.
        async for event in self._adrive(config, flow, deliver=False):
            finished = event  # the only one: RunFinished
        return cast(RunFinished[Any], finished).result

    @overload
    def astream(
        self, prompt: Prompt, **options: Unpack[RunOptions]
    ) -> AsyncIterator[AgentEvent]: ...
    @overload
    def astream(
        self, prompt: Prompt, *, output_type: Any, **options: Unpack[RunOptions]
    ) -> AsyncIterator[AgentEvent]: ...
    def astream(
        self, prompt: Prompt, *, output_type: Any = _UNSET, **options: Unpack[RunOptions]
    ) -> AsyncIterator[AgentEvent]:
        """The async `stream`."""
        config, flow = self._start(prompt, output_type, options)
        return self._adrive(config, flow, deliver=True)

    # ------------------------------------------------------------------ as a tool

    def as_tool(self, *, name: str, description: str, input_type: Any = None) -> Tool[..., Any]:
        """This agent as a tool of another agent: the other model asks, this one answers.

        The call's result is this agent's output. Its run counts as the calling run's: its
        usage is added to the caller's (and its cost, at this agent's prices), it may spend
        only what is left of the caller's limits (and of its own), and its messages are
        kept on the call's `ToolResult.messages` for inspection.

        Args:
            name: The tool's name, as the other model sees it.
            description: When to call it, for the other model.
            input_type: The type of the tool's one argument, `request` (a pydantic model,
                a dataclass, ...), sent to this agent as JSON; by default the argument is a
                `prompt` string.

        Examples:
            >>> weather = Agent("gpt-3.5-turbo", api_key="sk-test")
            >>> ask = weather.as_tool(name="weather_agent", description="Answers weather questions.")
            >>> ask.parameters["required"]
            ['prompt']
        """  # noqa: E501
        agent = self

        def limits(ctx: RunContext[Any]) -> UsageLimits | None:
            if ctx.limits is None:
                return agent.limits
            return ctx.limits.tighter(agent.limits)

        if input_type is None:

            def ask(ctx: RunContext[Any], prompt: str) -> RunResult[Any]:
                """Ask the agent.

                Args:
                    ctx: The calling run (its limits bound this run).
                    prompt: The whole request, in plain words (the agent sees nothing else).
                """
                return agent.run(prompt, limits=limits(ctx))

            return Tool(ask, name=name, description=description)

        def ask_with(ctx: RunContext[Any], request: Any) -> RunResult[Any]:
            return agent.run(format_result(request), limits=limits(ctx))

        ask_with.__annotations__ = {"ctx": RunContext[Any], "request": input_type, "return": Any}
        return Tool(ask_with, name=name, description=description)

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
        with contextlib.ExitStack() as stack:  # a toolset that fails to start stops the others
            for toolset in self._setup.toolsets:
                stack.enter_context(toolset)
            self._default_config()  # a name clash is refused now, not at the first run
            self._started.append(stack.pop_all())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._started:
                self._started.pop().close()
        finally:
            self.close()

    async def __aenter__(self) -> Agent[OutputT]:
        async with contextlib.AsyncExitStack() as stack:
            for toolset in self._setup.toolsets:
                await stack.enter_async_context(toolset)
            self._default_config()
            self._astarted.append(stack.pop_all())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._astarted:
                await self._astarted.pop().aclose()
        finally:
            await self.aclose()

    # ------------------------------------------------------------------ internals

    def _start(
        self, prompt: Prompt, output_type: Any, options: RunOptions
    ) -> tuple[RunConfig, Flow]:
        unknown = options.keys() - RunOptions.__optional_keys__
        if unknown:
            raise TypeError(
                f"Unexpected keyword argument {sorted(unknown)[0]!r}; a run takes "
                f"output_type and {', '.join(sorted(RunOptions.__optional_keys__))}."
            )
        history = options.get("history", ())
        check_history(history)
        overrides: dict[str, Any] = {
            k: v for k, v in options.items() if k not in ("history", "deps")
        }
        if output_type is not _UNSET:
            overrides["output_type"] = output_type
        config = self._setup.for_run(**overrides) if overrides else self._default_config()
        messages = list(history)
        system = config.system
        if system is not None and not (messages and isinstance(messages[0], SystemMessage)):
            messages.insert(0, SystemMessage(system))
        if isinstance(prompt, UserMessage):
            messages.append(prompt)
        elif isinstance(prompt, str):
            messages.append(UserMessage(prompt))
        else:
            messages.append(UserMessage(tuple(prompt)))
        deps = options.get("deps", self.deps)
        flow = agent_flow(config.plan, messages, deps=deps)
        if self.log is not None:
            flow = self.log.watch(flow, config.plan.model.name, messages[-1])
        hooks = _instrument.hooks  # tracing, if installed (agentkit.otel); else nothing at all
        return config, flow if hooks is None else hooks.observe(self, config, flow)

    def _default_config(self) -> RunConfig:
        """The configuration of a run without overrides, with each toolset's current tools.

        Made again only when a toolset's list changed.

        Raises:
            UsageError: A toolset is not started, or two tools have the same name.
            ToolsetError: A toolset stopped working.
        """
        if not self._setup.toolsets:
            return self._config
        current = tuple(t for toolset in self._setup.toolsets for t in toolset.get_tools())
        listed = self._listed
        if listed is None or listed[0] != current:
            listed = self._listed = (current, self._setup.for_run())
        return listed[1]

    def _request(self, config: RunConfig, action: CallModel) -> ChatRequest:
        return ChatRequest(
            model=config.plan.model.name,
            messages=action.messages,
            functions=action.tools,
            style=config.style,
            settings=config.settings,
            tool_choice=action.tool_choice,
            output=action.output,
            stream=self.stream_requests,
        )

    def _drive(self, config: RunConfig, flow: Flow, *, deliver: bool) -> Iterator[AgentEvent]:
        """Do what the loop asks; yield its events if `deliver`, and always `RunFinished` last."""
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
                    for item in self.client.stream(self._request(config, action), deliver=deliver):
                        if isinstance(item, ModelResponse):
                            response = item
                        else:
                            yield item
                except APIError as error:
                    # The loop attaches the chat so far and the usage, and re-raises it.
                    flow.throw(error)
                sent = response
            elif isinstance(action, RunTools):
                sent = run_tools_sync(action.calls)
            elif isinstance(action, Approve):
                sent = tuple(decide_sync(self.approve, call) for call in action.calls)
            else:
                if deliver:
                    yield from action.events
                sent = None

    async def _adrive(
        self, config: RunConfig, flow: Flow, *, deliver: bool
    ) -> AsyncIterator[AgentEvent]:
        sent: Any = None
        while True:
            try:
                action = flow.send(sent)
            except StopIteration as stop:
                yield RunFinished(stop.value)
                return
            if isinstance(action, CallModel):
                response: ModelResponse | None = None
                request = self._request(config, action)
                try:
                    async for item in self.client.astream(request, deliver=deliver):
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
                    sent = [await run_tool_async(calls[0])]
                else:
                    sent = await asyncio.gather(*(run_tool_async(call) for call in calls))
            elif isinstance(action, Approve):
                sent = [await decide_async(self.approve, call) for call in action.calls]
            else:
                if deliver:
                    for event in action.events:
                        yield event
                sent = None
