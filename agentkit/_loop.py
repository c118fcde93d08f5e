"""The agent loop, written once and without IO.

`agent_flow()` is a generator in the style of httpx's `Auth.auth_flow`: it *yields* what it
needs done and is *sent* the outcome, so one loop serves the sync and the async drivers.

```
CallModel(messages, tools)      ─▶ driver sends the chat        ─▶ .send(ModelResponse)
Approve(calls)                  ─▶ driver asks the approver     ─▶ .send(tuple[bool | str])
RunTools(planned calls)         ─▶ driver runs the functions    ─▶ .send(tuple[ToolOutcome])
return RunResult                ─▶ the run is over
```

All the decisions live here: when a reply ends the run (from the message, not from
`finish_reason` alone), how bad model output is fed back, each tool's retry budget, the usage
limits (agents run as tools included), structured output (a call to the output tool, or the
reply's text in its schema), and that a forced tool choice goes with the first request only.
The small sums and checks it relies on (token estimates, costs, history checks, a tool error's
text) live in `_bookkeeping`. The loop never sees JSON or HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar

from ._arguments import ArgumentError
from ._bookkeeping import error_text, estimate_tokens, total_cost
from ._exceptions import (
    APIError,
    MaxTurnsExceeded,
    ModelRefusal,
    RunError,
    ToolCallTruncated,
    ToolRetriesExceeded,
    ToolRetry,
    ToolsetError,
    UsageLimitExceeded,
)
from ._log import logger_at
from ._messages import (
    Message,
    ModelResponse,
    ToolCall,
    ToolResult,
    Usage,
    UsageLimits,
    UserMessage,
)
from ._models import ModelInfo
from ._tools import RunContext, Tool, format_result

if TYPE_CHECKING:
    from ._tokens import TokenCounter

__all__ = [
    "Action",
    "Approve",
    "CallModel",
    "Emit",
    "PlannedCall",
    "RunPlan",
    "RunResult",
    "RunTools",
    "ToolCallFinished",
    "ToolCallStarted",
    "ToolOutcome",
    "UsageLimits",
    "agent_flow",
]

OutputT = TypeVar("OutputT")

OnToolError: TypeAlias = Literal["feedback", "raise"]
OnRefusal: TypeAlias = Literal["raise", "output"]

#: Finish reasons that mean the reply was cut off: a call in it is never executed.
_CUT_OFF = frozenset({"length", "content_filter"})


@dataclass(frozen=True, slots=True)
class RunResult(Generic[OutputT]):
    """What a finished run gives back."""

    output: OutputT
    """The answer: the reply's text, or the validated object when `output_type` was given."""

    messages: tuple[Message, ...]
    """The whole chat, history included: pass it as `history=` to go on."""

    usage: Usage
    """Requests, tokens and tool calls of this run (not of the history)."""

    turns: int
    """Requests sent to the model in this run."""

    finish_reason: str | None
    """The last reply's finish reason (`"length"` means the answer was cut off)."""

    model: ModelInfo
    """The model the run used, with its prices."""

    new_message_index: int = 0
    """Where this run's own messages (its prompt first) start in `messages`, after the history."""

    delegated: Usage = field(default_factory=Usage)
    """The part of `usage` spent by agents that ran as tools (`Agent.as_tool`)."""

    delegated_cost: float | None = 0.0
    """What those agents' runs cost, at their models' prices (`None`: unknown)."""

    @property
    def cost(self) -> float | None:
        """The run's price in USD, or `None` if prices or token counts are unknown.

        An estimate when agentkit counted some of the tokens (`usage.estimated`).
        Agents that ran as tools are priced at their own models' prices.
        """
        return total_cost(self.model, self.usage, self.delegated, self.delegated_cost)

    @property
    def new_messages(self) -> tuple[Message, ...]:
        """The messages this run added: the prompt, the replies and the tool results."""
        return self.messages[self.new_message_index :]


@dataclass(frozen=True, slots=True)
class RunPlan:
    """Everything about a run that is fixed before it starts (the agent builds it)."""

    model: ModelInfo
    tools: Mapping[str, Tool[..., Any]]
    """The tools offered, by name (with the output tool in the tool output mode)."""
    output_tool: Tool[..., Any] | None = None
    """Validates the structured output, if one was asked for."""
    max_turns: int = 20
    tool_retries: int = 2
    on_tool_error: OnToolError = "feedback"
    limits: UsageLimits | None = None
    has_approver: bool = False
    on_refusal: OnRefusal = "raise"
    tool_choice: str | None = None
    """`"auto"`, `"none"`, `"required"` or a tool's name, as sent (the agent checked it).
    A forced choice (`"required"`, a name) goes with the first request only; `"required"` (or
    the output tool's name) with a structured output given as a call goes with every one."""
    native_output: bool = False
    """The output comes as the reply's text, in the JSON `output_tool`'s schema describes
    (sent as `response_format`), instead of as a call to `output_tool`."""
    counter: TokenCounter | None = None
    """Counts each request's tokens (`_tokens.counter_for`); `None`: no counting."""

    def retries_for(self, name: str) -> int:
        """The retry budget of a tool (or of an unknown name the model keeps calling)."""
        tool = self.tools.get(name)
        if tool is None or tool.retries is None:
            return self.tool_retries
        return tool.retries


# ------------------------------------------------------------------ actions and outcomes


@dataclass(frozen=True, slots=True)
class CallModel:
    """Ask the model: send `messages` offering `tools`; answer with a `ModelResponse`."""

    messages: tuple[Message, ...]
    tools: tuple[Tool[..., Any], ...]
    tool_choice: str | None = None
    """`"auto"`, `"none"`, `"required"` or a tool's name; `None` leaves it out."""
    output: Tool[..., Any] | None = None
    """Ask for a reply in this tool's schema (`response_format`), for native output."""


@dataclass(frozen=True, slots=True)
class Approve:
    """Ask the approver about each call; answer with a `bool | str` per call, in order."""

    calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """A validated call, ready to invoke: `tool.invoke(values, ctx)`."""

    call: ToolCall
    tool: Tool[..., Any]
    values: dict[str, Any]
    ctx: RunContext[Any]


@dataclass(frozen=True, slots=True)
class RunTools:
    """Run these calls (concurrently where the driver can); answer with a `ToolOutcome` each."""

    calls: tuple[PlannedCall, ...]


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What running one call gave: its return value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """Stream event: the model asked for this call (it is about to be validated and run)."""

    call: ToolCall
    kind: Literal["tool_call_started"] = field(default="tool_call_started", init=False)


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """Stream event: this result goes back to the model (a value, an error, or a refusal)."""

    result: ToolResult
    kind: Literal["tool_call_finished"] = field(default="tool_call_finished", init=False)


@dataclass(frozen=True, slots=True)
class Emit:
    """Tell the user: stream drivers yield these events, other drivers drop them."""

    events: tuple[ToolCallStarted | ToolCallFinished, ...]


Action: TypeAlias = CallModel | Approve | RunTools | Emit


# ------------------------------------------------------------------ the loop


_NO_OUTPUT: Any = object()
_NOT_RUN_AFTER_OUTPUT = "Not executed: the final result was given in the same reply."
_NOT_RUN_LIMIT = "Not executed: the run's tool call limit was reached."


@dataclass
class _Run:
    """The state of one run; never shared between runs."""

    plan: RunPlan
    messages: list[Message]
    deps: Any
    usage: Usage = field(default_factory=Usage)
    turns: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    broken: ToolsetError | None = None
    """A toolset died during the last reply's calls: the run ends once they have results."""
    delegated: Usage = field(default_factory=Usage)
    delegated_cost: float | None = 0.0

    def cost(self) -> float | None:
        return total_cost(self.plan.model, self.usage, self.delegated, self.delegated_cost)

    def add_delegated(self, usage: Usage, cost: float | None) -> None:
        """Count what an agent that ran as a tool used (and cost) as this run's."""
        self.usage = self.usage + usage
        self.delegated = self.delegated + usage
        if self.delegated_cost is not None:
            self.delegated_cost = None if cost is None else self.delegated_cost + cost

    def ok(self, call: ToolCall, content: str) -> ToolResult:
        self.failures.pop(call.name, None)
        return ToolResult(call.name, content, call.id)

    def failed(self, call: ToolCall, content: str) -> ToolResult:
        """A result the model must fix; counts against the tool's retry budget."""
        self.failures[call.name] = self.failures.get(call.name, 0) + 1
        self.last_error[call.name] = content
        return ToolResult(call.name, content, call.id, is_error=True)

    def refeed(self, name: str, text: str) -> None:
        """Ask again for the structured output (named `name`), saying what was wrong."""
        self.failures[name] = self.failures.get(name, 0) + 1
        self.last_error[name] = text
        self.messages.append(UserMessage(text))
        self.check_budgets()

    def check_budgets(self) -> None:
        for name, count in self.failures.items():
            budget = self.plan.retries_for(name)
            if count > budget:
                raise ToolRetriesExceeded(
                    name, budget, self.last_error[name], messages=self.messages
                )

    def context(self, call: ToolCall, tool: Tool[..., Any]) -> RunContext[Any]:
        limits = self.plan.limits
        return RunContext(
            deps=self.deps,
            model=self.plan.model.name,
            messages=tuple(self.messages),
            usage=self.usage,
            tool_name=tool.name,
            call_id=call.id,
            retry=self.failures.get(call.name, 0),
            limits=None if limits is None else limits.remaining(self.usage, self.cost()),
        )

    def check_request_limits(
        self, offered: Sequence[Tool[..., Any]], prompt_tokens: int | None = None
    ) -> None:
        limits, usage = self.plan.limits, self.usage
        if limits is None:
            return
        if limits.requests is not None and usage.requests + 1 > limits.requests:
            raise UsageLimitExceeded(
                "requests", usage.requests + 1, limits.requests, messages=self.messages
            )
        if limits.total_tokens is None and limits.cost is None:
            return
        estimated = prompt_tokens is None
        if prompt_tokens is None:
            prompt_tokens = estimate_tokens(self.messages, offered)
        if limits.total_tokens is not None:
            would_be = (usage.total_tokens or 0) + prompt_tokens
            if would_be > limits.total_tokens:
                raise UsageLimitExceeded(
                    "tokens",
                    would_be,
                    limits.total_tokens,
                    messages=self.messages,
                    estimated=estimated,
                )
        if limits.cost is not None:
            model = self.plan.model
            would_cost = (self.cost() or 0.0) + (model.cost(Usage(1, prompt_tokens, 0)) or 0.0)
            if would_cost > limits.cost:
                raise UsageLimitExceeded(
                    "cost", would_cost, limits.cost, messages=self.messages, estimated=estimated
                )

    def dispatch(
        self, calls: Sequence[ToolCall]
    ) -> Generator[Action, Any, tuple[list[ToolResult], Any]]:
        """Validate, approve and run one reply's calls; give one result per call, in order."""
        plan = self.plan
        results: list[ToolResult | None] = [None] * len(calls)
        planned: list[tuple[int, PlannedCall]] = []
        output = _NO_OUTPUT
        for index, call in enumerate(calls):
            tool = plan.tools.get(call.name)
            if tool is None:
                available = ", ".join(plan.tools) or "none"
                results[index] = self.failed(
                    call, f"Unknown function {call.name!r}. Available functions: {available}."
                )
                continue
            try:
                values = tool.validate(call.arguments)
            except ArgumentError as error:
                results[index] = self.failed(call, str(error))
                continue
            if tool is plan.output_tool:
                if output is _NO_OUTPUT:
                    output = tool.invoke(values)
                    results[index] = self.ok(call, "Final result received.")
                else:
                    results[index] = ToolResult(call.name, _NOT_RUN_AFTER_OUTPUT, call.id)
                continue
            planned.append((index, PlannedCall(call, tool, values, self.context(call, tool))))

        if output is not _NO_OUTPUT:  # the answer is in: other calls of this reply do not run
            for index, planned_call in planned:
                call = planned_call.call
                results[index] = ToolResult(call.name, _NOT_RUN_AFTER_OUTPUT, call.id)
            planned = []

        planned = yield from self.approve(planned, results)

        limit = plan.limits.tool_calls if plan.limits else None
        if planned and limit is not None and self.usage.tool_calls + len(planned) > limit:
            for index, planned_call in planned:
                call = planned_call.call
                results[index] = ToolResult(call.name, _NOT_RUN_LIMIT, call.id, is_error=True)
            self.messages.extend(r for r in results if r is not None)
            raise UsageLimitExceeded(
                "tool_calls", self.usage.tool_calls + len(planned), limit, messages=self.messages
            )

        if planned:
            log = logger_at(logging.INFO)
            if log is not None:  # else nobody would see the events: none are built
                for _, planned_call in planned:
                    log.info(
                        "agentkit.tool.call",
                        tool=planned_call.tool.name,
                        call_id=planned_call.call.id,
                        retry=planned_call.ctx.retry,
                    )
            outcomes: Sequence[ToolOutcome] = yield RunTools(tuple(p for _, p in planned))
            for (index, planned_call), outcome in zip(planned, outcomes, strict=True):
                results[index] = self.record(planned_call, outcome)
            self.usage = Usage(
                requests=self.usage.requests,
                prompt_tokens=self.usage.prompt_tokens,
                completion_tokens=self.usage.completion_tokens,
                tool_calls=self.usage.tool_calls + len(planned),
                unreported_requests=self.usage.unreported_requests,
                counted_requests=self.usage.counted_requests,
            )
        final = [r for r in results if r is not None]
        if len(final) != len(calls):  # every call gets exactly one result, always
            raise AssertionError(f"{len(calls)} calls but {len(final)} results")
        return final, output

    def approve(
        self, planned: list[tuple[int, PlannedCall]], results: list[ToolResult | None]
    ) -> Generator[Action, Any, list[tuple[int, PlannedCall]]]:
        """Ask about the calls that need approval; refused calls get their refusal as result."""
        waiting = [(i, p) for i, p in planned if p.tool.requires_approval]
        if not waiting:
            return planned
        decisions: Sequence[bool | str]
        if self.plan.has_approver:
            decisions = yield Approve(tuple(p.call for _, p in waiting))
        else:
            decisions = [
                f"{p.tool.name} needs approval, and this agent has no approver, so it was "
                "not run. Tell the user it needs their approval."
                for _, p in waiting
            ]
        refused = set()
        for (index, planned_call), decision in zip(waiting, decisions, strict=True):
            if decision is True:
                continue
            reason = decision if isinstance(decision, str) and decision else "no reason given"
            call = planned_call.call
            results[index] = ToolResult(
                call.name, f"The user refused this call: {reason}", call.id, is_error=True
            )
            refused.add(index)
        return [(i, p) for i, p in planned if i not in refused]

    def record(self, planned: PlannedCall, outcome: ToolOutcome) -> ToolResult:
        """Turn what a call gave into its result message (or raise, per `on_tool_error`)."""
        error, call, tool = outcome.error, planned.call, planned.tool
        log = logger_at(logging.INFO)
        if log is not None:
            status = "ok" if error is None else "retry" if isinstance(error, ToolRetry) else "error"
            log.info(
                "agentkit.tool.result",
                tool=tool.name,
                call_id=call.id,
                outcome=status,
                seconds=round(outcome.seconds, 6),
            )
        if error is None:
            value = outcome.value
            if isinstance(value, RunResult):  # an agent ran as this tool: its usage is ours
                self.add_delegated(value.usage, value.cost)
                result = self.ok(call, format_result(value.output))
                return replace(result, messages=value.messages)
            return self.ok(call, format_result(value))
        if isinstance(error, (RunError, APIError)) and error.usage is not None:
            self.add_delegated(error.usage, None)  # a failed agent run: its cost is unknown
        if isinstance(error, ToolRetry):
            return self.failed(call, error.message)
        if isinstance(error, ToolsetError):
            self.broken = error
            return ToolResult(call.name, f"Error: {error}", call.id, is_error=True)
        if self.plan.on_tool_error == "raise" and not isinstance(error, TimeoutError):
            raise error
        return self.failed(call, error_text(error, tool))


def agent_flow(
    plan: RunPlan,
    messages: list[Message],
    *,
    deps: Any = None,
) -> Generator[Action, Any, RunResult[Any]]:
    """Run the agent loop over `messages` (history plus prompt), yielding what it needs done.

    Args:
        plan: The agent's fixed configuration.
        messages: The chat so far, ending with the user's prompt; extended in place.
        deps: The value `RunContext.deps` gives tools in this run.

    Returns:
        The run's result, when the model answers.

    Raises:
        MaxTurnsExceeded: The model was still calling tools after `plan.max_turns` requests.
        ToolRetriesExceeded: A tool (or an unknown name) failed past its retry budget.
        UsageLimitExceeded: The next request or tool call would pass a limit.
        ToolCallTruncated: A reply ended by `length`/`content_filter` inside a call.
        ModelRefusal: The model refused (unless `plan.on_refusal` is `"output"`).
        ToolsetError: A toolset (an MCP server) stopped working during a reply's calls.
    """
    run = _Run(plan, messages, deps)
    log = logger_at(logging.INFO)  # None: the run's events are not built
    offered = tuple(plan.tools.values())
    native = plan.output_tool if plan.native_output else None
    # A forced choice goes with the first request only: forced again after each result, the
    # model could never answer, and the run would end at max_turns. Unless the answer is a
    # call itself (the output tool): then "required" stays, until the model calls that tool.
    answer = None if plan.native_output else plan.output_tool
    keep = answer is not None and plan.tool_choice in ("required", answer.name)
    forced = plan.tool_choice not in (None, "auto", "none") and not keep
    prompt_index = len(messages) - 1
    started = time.perf_counter()
    if log is not None:
        log.info("agentkit.run.start", model=plan.model.name, tools=len(offered))
    outcome = "error"
    counter = plan.counter
    try:
        while True:
            choice = None if forced and run.turns else plan.tool_choice
            prompt_tokens = None if counter is None else counter.prompt(messages, offered, choice)
            run.check_request_limits(offered, prompt_tokens)
            if run.turns >= plan.max_turns:
                raise MaxTurnsExceeded(plan.max_turns, messages=messages)
            if counter is not None and prompt_tokens is not None:
                counter.check(prompt_tokens)
            response: ModelResponse = yield CallModel(tuple(messages), offered, choice, native)
            if counter is not None and prompt_tokens is not None:
                response = counter.fill(response, prompt_tokens)
            run.turns += 1
            run.usage = run.usage + response.usage
            reply = response.message
            messages.append(reply)

            refused = reply.refusal is not None and not reply.calls
            if refused and (plan.on_refusal == "raise" or plan.output_tool is not None):
                raise ModelRefusal(reply.refusal or "", messages=messages)
            if reply.calls and response.finish_reason in _CUT_OFF:
                raise ToolCallTruncated(
                    response.finish_reason or "", reply.calls[-1].name, messages=messages
                )
            if reply.calls:
                yield Emit(tuple(ToolCallStarted(call) for call in reply.calls))
                results, output = yield from run.dispatch(reply.calls)
                messages.extend(results)
                yield Emit(tuple(ToolCallFinished(r) for r in results))
                if run.broken is not None:
                    raise run.broken
                run.check_budgets()
                if output is _NO_OUTPUT:
                    continue
            elif native is not None:
                try:
                    output = native.invoke(native.validate((reply.content or "").strip() or "null"))
                except ArgumentError as error:  # not the JSON asked for: say why, ask again
                    problems = "; ".join(str(issue) for issue in error.errors[:5])
                    run.refeed(native.name, f"Your answer is not valid: {problems}. Answer again.")
                    continue
            elif plan.output_tool is not None:
                # Structured output was asked for and the model answered in text: ask again.
                name = plan.output_tool.name
                run.refeed(name, f"Give your answer by calling the {name} function, not as text.")
                continue
            else:
                output = reply.content or reply.refusal or ""
            outcome = "answer"
            return RunResult(
                output=output,
                messages=tuple(messages),
                usage=run.usage,
                turns=run.turns,
                finish_reason=response.finish_reason,
                model=plan.model,
                new_message_index=prompt_index,
                delegated=run.delegated,
                delegated_cost=run.delegated_cost,
            )
    except BaseException as error:
        # The drivers throw API errors in here, so every error that ends a run carries the
        # chat so far and what it used, from this one place.
        outcome = type(error).__name__
        if isinstance(error, (APIError, RunError)):
            error.usage, error.cost = run.usage, run.cost()
            if isinstance(error, (APIError, ToolsetError)):
                error.messages = tuple(messages)
        raise
    finally:
        if log is not None:  # as run.start was: the two always come in pairs
            usage = run.usage
            log.info(
                "agentkit.run.end",
                outcome=outcome,
                turns=run.turns,
                requests=usage.requests,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                tool_calls=usage.tool_calls,
                seconds=round(time.perf_counter() - started, 6),
            )
