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
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypedDict, TypeVar, overload

from ._client import ChatClient, ChatRequest, Timeout
from ._exceptions import APIError, UsageError
from ._loop import (
    Action,
    Approve,
    CallModel,
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
from ._tools import RunContext, Tool, format_result, index_tools, output_tool

if TYPE_CHECKING:
    from typing_extensions import Unpack

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

OutputMode: TypeAlias = Literal["auto", "native", "tool"]
"""How a structured output is asked for: as a call to a function (`"tool"`), as JSON text in
a strict schema (`"native"`, `response_format: json_schema`), or native where it can be
(`"auto"`)."""

ToolChoice: TypeAlias = "Literal['auto', 'none', 'required'] | str"
"""`"auto"`, `"none"`, `"required"`, or the name of the tool the model must call."""

Approver: TypeAlias = Callable[[ToolCall], "bool | str | Awaitable[bool | str]"]
"""Decides on a call to a tool that requires approval: `True` runs it, `False` or a reason
refuses it (the reason is sent to the model). May be a coroutine function."""


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


class RunOptions(TypedDict, total=False):
    """What one run may set: `agent.run(prompt, **options)` (and `arun`, `stream`, `astream`).

    A key left out keeps the agent's value. Nothing a run sets reaches the agent, or any
    other run, also at the same time.
    """

    history: Sequence[Message]
    """Earlier messages to continue from (e.g. `result.messages`)."""

    deps: Any
    """`RunContext.deps` for this run's tools."""

    model: str | ModelInfo
    """Another model (its wire style from the catalog, unless the agent has `api_style`)."""

    settings: ModelSettings
    """Request options; the fields it sets replace the agent's, the others stay."""

    tools: Sequence[Tool[..., Any] | Callable[..., Any]]
    """The tools of this run, instead of the agent's (add some with `[*agent.tools, ...]`)."""

    system: str | None
    """Other instructions (`None`: none)."""

    limits: UsageLimits | None
    """Other budgets (`None`: none)."""

    tool_choice: ToolChoice | None
    """Another tool choice (`None`: leave it to the server)."""

    output_mode: OutputMode
    """Another way of asking for the structured output."""


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
        tools: Tools (`@tool` functions) or plain typed functions.
        system: Instructions sent first, unless the history already starts with some.
        api_key: The key; defaults to the `GOAPI_KEY` environment variable.
        base_url: Another OpenAI-compatible server (`https://host/v1`).
        stream: Stream every request (the default; it gets past Cloudflare's 100 s limit).
        api_style: Force `"functions"` or `"tools"` instead of the catalog's choice.
        max_turns: The most requests one run may send.
        tool_retries: How often in a row a tool may fail before the run ends.
        on_tool_error: `"feedback"` sends a tool's exception to the model; `"raise"`
            lets it propagate.
        settings: Request options (temperature, max_tokens, seed, ...).
        temperature: A shortcut for `settings.temperature`.
        timeout: The four HTTP timeouts (`Timeout`), or one number for all of them.
        max_retries: Retries of a failed request (connect errors, 429, 5xx, ...).
        deps: The default `RunContext.deps` for tools.
        approve: Called for each call to a tool that requires approval.
        limits: Usage budgets for each run.
        catalog: Where model names are looked up.
        client: A `ChatClient` to share (its HTTP pools) between agents.
        tool_choice: `"auto"` (the server's default), `"none"`, `"required"` or a tool's
            name. A forced choice (`"required"`, a name) applies to a run's first request
            only, so the model can answer once it has the results.
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
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = ...,
        system: str | None = ...,
        api_key: str | None = ...,
        base_url: str | None = ...,
        stream: bool = ...,
        api_style: ApiStyle | None = ...,
        max_turns: int = ...,
        tool_retries: int = ...,
        on_tool_error: OnToolError = ...,
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
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[OutputT],
        model: str | ModelInfo = ...,
        *,
        output_type: type[OutputT],
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = ...,
        system: str | None = ...,
        api_key: str | None = ...,
        base_url: str | None = ...,
        stream: bool = ...,
        api_style: ApiStyle | None = ...,
        max_turns: int = ...,
        tool_retries: int = ...,
        on_tool_error: OnToolError = ...,
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
    ) -> None: ...

    @overload
    def __init__(
        self: Agent[Any],
        model: str | ModelInfo = ...,
        *,
        output_type: Any,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = ...,
        system: str | None = ...,
        api_key: str | None = ...,
        base_url: str | None = ...,
        stream: bool = ...,
        api_style: ApiStyle | None = ...,
        max_turns: int = ...,
        tool_retries: int = ...,
        on_tool_error: OnToolError = ...,
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
    ) -> None: ...

    def __init__(
        self,
        model: str | ModelInfo = "gpt-3.5-turbo",
        *,
        output_type: Any = str,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] = (),
        system: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        stream: bool = True,
        api_style: ApiStyle | None = None,
        max_turns: int = 20,
        tool_retries: int = 2,
        on_tool_error: OnToolError = "feedback",
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
    ) -> None:
        if max_turns < 1:
            raise UsageError(f"max_turns must be at least 1, not {max_turns}.")
        if tool_retries < 0:
            raise UsageError(f"tool_retries must be 0 or more, not {tool_retries}.")
        if on_tool_error not in ("feedback", "raise"):
            raise UsageError(f"on_tool_error must be 'feedback' or 'raise', not {on_tool_error!r}.")
        if temperature is not None:
            settings = replace(settings or ModelSettings(), temperature=temperature)
        self._catalog = catalog or default_catalog
        self._api_style = api_style
        self._max_turns = max_turns
        self._tool_retries = tool_retries
        self._on_tool_error: OnToolError = on_tool_error
        self.system = system
        self.stream_requests = stream
        self.settings = settings or ModelSettings()
        self.deps = deps
        self.approve = approve
        self.limits = limits
        self.tool_choice = tool_choice
        self.output_type: Any = output_type
        self.output_mode: OutputMode = output_mode
        self._tools = index_tools(tools)
        self.tools: tuple[Tool[..., Any], ...] = tuple(self._tools.values())
        """The agent's tools (without the structured-output function)."""
        self._outputs: dict[bool, Tool[..., Any]] = {}  # the output tools, strict or not
        self._config = self._configure(model=model)
        self.model: ModelInfo = self._config.plan.model
        self.style: ApiStyle = self._config.style
        self._owns_client = client is None
        self.client = client or ChatClient(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

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
        for event in self._drive(config, flow, deliver=False):
            if isinstance(event, RunFinished):
                return event.result
        raise AssertionError("unreachable: the driver always ends with RunFinished")

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
        async for event in self._adrive(config, flow, deliver=False):
            if isinstance(event, RunFinished):
                return event.result
        raise AssertionError("unreachable: the driver always ends with RunFinished")

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

    # ------------------------------------------------------------------ configuration

    def _configure(
        self,
        *,
        model: str | ModelInfo | None = None,
        output_type: Any = _UNSET,
        tools: Sequence[Tool[..., Any] | Callable[..., Any]] | None = None,
        output_mode: OutputMode | None = None,
        tool_choice: ToolChoice | None = _UNSET,
        settings: ModelSettings | None = None,
        system: str | None = _UNSET,
        limits: UsageLimits | None = _UNSET,
    ) -> _Config:
        """One run's configuration: the agent's, with the given overrides; checked."""
        info = self.model if model is None else self._model_info(model)
        style = self._api_style or info.style
        indexed = self._tools if tools is None else index_tools(tools)
        if indexed and style is None:
            raise UsageError(
                f"Model {info.name!r} cannot call functions, but tools were given. Use a model "
                "that can (gpt-3.5-turbo, gpt-3.5-turbo-1106, gpt-4, gpt-4-1106-preview), or "
                "pass api_style='tools' if your server supports it."
            )
        settings = self.settings if settings is None else self.settings.merge(settings)
        output, native = self._output(
            self.output_type if output_type is _UNSET else output_type,
            output_mode or self.output_mode,
            info,
            settings,
        )
        if output is not None and not native:
            if output.name in indexed:
                raise UsageError(
                    f"A tool is named {output.name!r}, the name agentkit gives the "
                    "structured-output function; rename the tool."
                )
            indexed = {**indexed, output.name: output}
        choice = _tool_choice(
            self.tool_choice if tool_choice is _UNSET else tool_choice,
            indexed,
            style,
            info,
            output if output is not None and not native else None,
        )
        plan = RunPlan(
            model=info,
            tools=indexed,
            output_tool=output,
            max_turns=self._max_turns,
            tool_retries=self._tool_retries,
            on_tool_error=self._on_tool_error,
            limits=self.limits if limits is _UNSET else limits,
            has_approver=self.approve is not None,
            tool_choice=choice,
            native_output=native,
        )
        return _Config(
            plan=plan,
            style=style or "tools",
            settings=settings,
            system=self.system if system is _UNSET else system,
        )

    def _model_info(self, model: str | ModelInfo) -> ModelInfo:
        if isinstance(model, ModelInfo):
            return model
        info = self._catalog.find(model)
        if info is not None:
            return info
        if self._api_style is not None:
            return ModelInfo(model, style=self._api_style, known=False)
        close = self._catalog.close_matches(model)
        hint = f" Did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
        raise UsageError(
            f"Unknown model {model!r}: the catalog does not list it.{hint} To use it anyway, "
            "say how it takes functions: Agent(..., api_style='tools') (or 'functions'), or "
            "pass a ModelInfo, or add one with default_catalog.register(ModelInfo(...))."
        )

    def _output(
        self, output_type: Any, mode: OutputMode, info: ModelInfo, settings: ModelSettings
    ) -> tuple[Tool[..., Any] | None, bool]:
        """The structured-output tool, and whether it is native (in `response_format`)."""
        if mode not in ("auto", "native", "tool"):
            raise UsageError(f"output_mode must be 'auto', 'native' or 'tool', not {mode!r}.")
        if output_type is str:
            return None, False
        native = mode == "native" or (mode == "auto" and info.structured_output)
        if mode == "native" and not info.structured_output:
            raise UsageError(
                f"Model {info.name!r} does not take native structured output "
                "(response_format json_schema). Use output_mode='tool' (or 'auto'), or, if "
                "your server takes it, give a ModelInfo(..., structured_output=True)."
            )
        if native and settings.response_format is not None:
            if mode == "native":
                raise UsageError(
                    f"settings.response_format={settings.response_format!r} and native "
                    "structured output both set response_format; leave one out."
                )
            native = False
        if native:
            try:
                return self._output_tool(output_type, strict=True), True
            except UsageError:  # the type does not fit a strict schema
                if mode == "native":
                    raise
        return self._output_tool(output_type, strict=False), False

    def _output_tool(self, output_type: Any, *, strict: bool) -> Tool[..., Any]:
        if output_type is not self.output_type:
            return output_tool(output_type, strict=strict)
        if strict not in self._outputs:  # the agent's own type: made once
            self._outputs[strict] = output_tool(output_type, strict=strict)
        return self._outputs[strict]

    # ------------------------------------------------------------------ internals

    def _start(self, prompt: Prompt, output_type: Any, options: RunOptions) -> tuple[_Config, Flow]:
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
        config = self._configure(**overrides) if overrides else self._config
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
        return config, agent_flow(config.plan, messages, deps=deps)

    def _request(self, config: _Config, action: CallModel) -> ChatRequest:
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

    def _drive(self, config: _Config, flow: Flow, *, deliver: bool) -> Iterator[AgentEvent]:
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
                sent = _run_tools_sync(action.calls)
            elif isinstance(action, Approve):
                sent = tuple(_decide_sync(self.approve, call) for call in action.calls)
            else:
                yield from action.events
                sent = None

    async def _adrive(
        self, config: _Config, flow: Flow, *, deliver: bool
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
                    sent = [await _run_tool_async(calls[0])]
                else:
                    sent = await asyncio.gather(*(_run_tool_async(call) for call in calls))
            elif isinstance(action, Approve):
                sent = [await _decide_async(self.approve, call) for call in action.calls]
            else:
                for event in action.events:
                    yield event
                sent = None


@dataclass(frozen=True, slots=True)
class _Config:
    """What one run is made of: the agent's configuration with the run's overrides."""

    plan: RunPlan
    style: ApiStyle
    settings: ModelSettings
    system: str | None


def _tool_choice(
    choice: ToolChoice | None,
    tools: Mapping[str, Tool[..., Any]],
    style: ApiStyle | None,
    info: ModelInfo,
    output: Tool[..., Any] | None,
) -> str | None:
    """The `tool_choice` to send, checked against the run's tools and the model."""
    if choice is None or (choice in ("auto", "none") and not tools):
        return None  # the servers refuse a tool_choice without tools
    if choice == "auto":
        return choice
    if choice == "none":
        if output is not None:
            raise UsageError(
                "tool_choice='none' leaves the model no way to give the structured output "
                f"(a call to {output.name}); leave tool_choice out, or use output_mode='native'."
            )
        return choice
    names = ", ".join(tools) or "none"
    if not tools:
        raise UsageError(f"tool_choice={choice!r} needs tools, but this run offers none.")
    if choice == "required":
        if style == "tools" and info.tool_choice_required:
            return choice
        if len(tools) == 1:  # the one-name form says the same
            return next(iter(tools))
        raise UsageError(
            f"tool_choice='required' cannot be sent to {info.name!r}: "
            + (
                "the legacy functions style has no 'required'"
                if style == "functions"
                else "its catalog entry says it does not take it (OpenAI added it in 2024)"
            )
            + f", and the one-name form needs exactly one tool, not {len(tools)} ({names}). "
            "Name the tool to force (tool_choice='<name>'), or give a ModelInfo(..., "
            "style='tools', tool_choice_required=True) if your server takes 'required'."
        )
    if choice not in tools:
        raise UsageError(f"tool_choice={choice!r} names no tool of this run; the tools: {names}.")
    return choice


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
