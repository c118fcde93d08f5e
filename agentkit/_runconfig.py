"""What one run is made of: its agent's configuration with the run's own settings, checked.

```
AgentConfig       what an agent was made with (model, tools, output type, settings, ...)
  .for_run(...)   -> RunConfig: the loop's RunPlan, plus the wire style, settings and
                     system text the requests need; every override applied and checked
```

All the checks live here, so a configuration that cannot work is a `UsageError` before
anything is sent: at `Agent(...)`, or at the start of a run that overrides something. A run
without overrides reuses the agent's `RunConfig`, made once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypedDict

from ._exceptions import UsageError
from ._loop import OnRefusal, OnToolError, RunPlan
from ._messages import Message, UsageLimits
from ._models import ApiStyle, ModelCatalog, ModelInfo, ModelSettings
from ._tokens import counter_for
from ._tools import Tool, index_tools, output_tool

__all__ = [
    "AgentConfig",
    "OutputMode",
    "RunConfig",
    "RunOptions",
    "ToolChoice",
    "resolve_model",
]

OutputMode: TypeAlias = Literal["auto", "native", "tool"]
"""How a structured output is asked for: as a call to a function (`"tool"`), as JSON text in
a strict schema (`"native"`, `response_format: json_schema`), or native where it can be
(`"auto"`)."""

ToolChoice: TypeAlias = "Literal['auto', 'none', 'required'] | str"
"""`"auto"`, `"none"`, `"required"`, or the name of the tool the model must call."""


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


@dataclass(frozen=True, slots=True)
class RunConfig:
    """What one run is made of: its plan, and what its requests carry."""

    plan: RunPlan
    style: ApiStyle
    settings: ModelSettings
    system: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    """What an agent was made with; `for_run` applies a run's overrides to it."""

    catalog: ModelCatalog
    model: ModelInfo
    api_style: ApiStyle | None
    tools: Mapping[str, Tool[..., Any]]
    output_type: Any
    output_mode: OutputMode
    tool_choice: ToolChoice | None
    settings: ModelSettings
    system: str | None
    limits: UsageLimits | None
    max_turns: int
    tool_retries: int
    on_tool_error: OnToolError
    on_refusal: OnRefusal
    has_approver: bool
    _outputs: dict[str, Tool[..., Any]] = field(default_factory=dict)
    """The output tools of `output_type` (for the tool mode, strict, native), made once."""

    def for_run(
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
    ) -> RunConfig:
        """A run's configuration: this one with the given overrides, checked.

        Raises:
            UsageError: It cannot work (the text says why).
        """
        info = self.model if model is None else resolve_model(model, self.catalog, self.api_style)
        style = self.api_style or info.style
        indexed = self.tools if tools is None else index_tools(tools)
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
        offered = output if output is not None and not native else None
        if offered is not None:
            if offered.name in indexed:
                raise UsageError(
                    f"A tool is named {offered.name!r}, the name agentkit gives the "
                    "structured-output function; rename the tool."
                )
            indexed = {**indexed, offered.name: offered}
        choice = _tool_choice(
            self.tool_choice if tool_choice is _UNSET else tool_choice,
            indexed,
            style,
            info,
            offered,
        )
        plan = RunPlan(
            model=info,
            tools=indexed,
            output_tool=output,
            max_turns=self.max_turns,
            tool_retries=self.tool_retries,
            on_tool_error=self.on_tool_error,
            on_refusal=self.on_refusal,
            limits=self.limits if limits is _UNSET else limits,
            has_approver=self.has_approver,
            tool_choice=choice,
            native_output=native,
            counter=counter_for(info, settings),
        )
        return RunConfig(
            plan=plan,
            style=style or "tools",
            settings=settings,
            system=self.system if system is _UNSET else system,
        )

    def _output(
        self, output_type: Any, mode: OutputMode, info: ModelInfo, settings: ModelSettings
    ) -> tuple[Tool[..., Any] | None, bool]:
        """The structured-output tool, and whether it is native (in `response_format`)."""
        if mode not in ("auto", "native", "tool"):
            raise UsageError(f"output_mode must be 'auto', 'native' or 'tool', not {mode!r}.")
        if output_type is str:
            return None, False
        if mode == "native" and not info.structured_output:
            raise UsageError(
                f"Model {info.name!r} does not take native structured output "
                "(response_format json_schema). Use output_mode='tool' (or 'auto'), or, if "
                "your server takes it, give a ModelInfo(..., structured_output=True)."
            )
        native = info.structured_output and mode != "tool"
        if native and settings.response_format is not None:
            if mode == "native":
                raise UsageError(
                    f"settings.response_format={settings.response_format!r} and native "
                    "structured output both set response_format; leave one out."
                )
            native = False
        if native:
            try:
                return self._output_tool(output_type, "native"), True
            except UsageError:  # the type does not fit a strict schema
                if mode == "native":
                    raise
        return self._output_tool(output_type, "tool"), False

    def _output_tool(
        self, output_type: Any, kind: Literal["tool", "strict", "native"]
    ) -> Tool[..., Any]:
        """The output tool of a kind: for the tool mode, strict, or for native output."""
        cached = output_type is self.output_type  # the agent's own type: made once
        made = self._outputs.get(kind) if cached else None
        if made is None:
            if kind == "native":
                strict = self._output_tool(output_type, "strict")
                made = _native_output(strict, self._output_tool(output_type, "tool"))
            else:
                made = output_tool(output_type, strict=kind == "strict")
            if cached:  # a race only makes it twice
                self._outputs[kind] = made
        return made


def _native_output(strict: Tool[..., Any], loose: Tool[..., Any]) -> Tool[..., Any]:
    """The strict output tool, with top-level fields that have a default made nullable.

    Strict mode has no optional fields: a field with a default (that does not take `null`
    already) becomes `type | null`, and `null` stands for "the default" (the field is left
    out before validation).
    """
    shown = loose.parameters.get("properties", {})
    properties = strict.parameters.get("properties", {})
    defaulted = {
        name
        for name, node in shown.items()
        if "default" in node and not _accepts_null(properties[name])
    }
    if not defaulted:
        return strict
    parameters = copy.deepcopy(strict.parameters)
    for name in defaulted:
        parameters["properties"][name] = _or_null(parameters["properties"][name])

    def answer(**values: Any) -> Any:
        given = {k: v for k, v in values.items() if v is not None or k not in defaulted}
        return loose.invoke(loose.validate(given))

    return Tool.from_schema(
        name=strict.name,
        description=strict.description,
        parameters=parameters,
        function=answer,
    )


def _accepts_null(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_accepts_null(branch) for branch in node.get("anyOf", ()))


def _or_null(node: dict[str, Any]) -> dict[str, Any]:
    """`node`, or null: a plain type becomes a type list, anything else an `anyOf`."""
    kind = node.get("type")
    if isinstance(kind, str) and node.keys() <= {"type", "description"}:
        return {**node, "type": [kind, "null"]}
    return {"anyOf": [node, {"type": "null"}]}


def resolve_model(
    model: str | ModelInfo, catalog: ModelCatalog, api_style: ApiStyle | None
) -> ModelInfo:
    """The catalog's entry for a model name; a name it does not know needs `api_style`.

    Raises:
        UsageError: The name is unknown and `api_style` is `None`; the text names close
            matches and the ways to use the model anyway.
    """
    if isinstance(model, ModelInfo):
        return model
    info = catalog.find(model)
    if info is not None:
        return info
    if api_style is not None:
        return ModelInfo(model, style=api_style, known=False)
    close = catalog.close_matches(model)
    hint = f" Did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    raise UsageError(
        f"Unknown model {model!r}: the catalog does not list it.{hint} To use it anyway, "
        "say how it takes functions: Agent(..., api_style='tools') (or 'functions'), or "
        "pass a ModelInfo, or add one with default_catalog.register(ModelInfo(...))."
    )


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
        why = (
            "the legacy functions style has no 'required'"
            if style == "functions"
            else "its catalog entry says it does not take it (OpenAI added it in 2024)"
        )
        raise UsageError(
            f"tool_choice='required' cannot be sent to {info.name!r}: {why}, and the "
            f"one-name form needs exactly one tool, not {len(tools)} ({names}). Name the "
            "tool to force (tool_choice='<name>'), or give a ModelInfo(..., style='tools', "
            "tool_choice_required=True) if your server takes 'required'."
        )
    if choice not in tools:
        raise UsageError(f"tool_choice={choice!r} names no tool of this run; the tools: {names}.")
    return choice
