"""The IO-free loop, pumped by hand: the decisions without any transport."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from agentkit import (
    AssistantMessage,
    MaxTurnsExceeded,
    Message,
    ModelResponse,
    RunContext,
    RunResult,
    ToolCall,
    ToolCallTruncated,
    ToolResult,
    ToolRetriesExceeded,
    Usage,
    UsageError,
    UsageLimits,
    UserMessage,
    default_catalog,
    tool,
)
from agentkit._bookkeeping import check_history, estimate_tokens
from agentkit._loop import (
    Approve,
    CallModel,
    Emit,
    RunPlan,
    RunTools,
    ToolCallFinished,
    ToolCallStarted,
    ToolOutcome,
    agent_flow,
)
from agentkit._tools import index_tools


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def reply(
    content: str | None = None, *calls: ToolCall, finish: str | None = "stop"
) -> ModelResponse:
    return ModelResponse(AssistantMessage(content, calls), finish, Usage(1, 10, 5))


def pump(
    plan: RunPlan,
    replies: Sequence[ModelResponse],
    *,
    approve: Callable[[ToolCall], bool | str] = lambda call: True,
) -> tuple[Any, list[Any]]:
    """Drive the flow like a minimal sync driver; return the result and every action."""
    flow = agent_flow(plan, [UserMessage("go")])
    answers = iter(replies)
    actions: list[Any] = []
    sent: Any = None
    while True:
        try:
            action = flow.send(sent)
        except StopIteration as stop:
            return stop.value, actions
        actions.append(action)
        if isinstance(action, CallModel):
            sent = next(answers)
        elif isinstance(action, RunTools):
            sent = tuple(_outcome(p.tool.invoke, p.values, p.ctx) for p in action.calls)
        elif isinstance(action, Approve):
            sent = tuple(approve(call) for call in action.calls)
        else:
            sent = None


def _outcome(invoke: Callable[..., Any], *args: Any) -> ToolOutcome:
    try:
        return ToolOutcome(value=invoke(*args))
    except Exception as error:
        return ToolOutcome(error=error)


def plan(*tools: Any, **kwargs: Any) -> RunPlan:
    return RunPlan(model=default_catalog.get("gpt-4"), tools=index_tools(tools), **kwargs)


def test_one_call_then_an_answer():
    result, actions = pump(
        plan(add), [reply(None, ToolCall("add", '{"a": 1, "b": 2}', "c1")), reply("3")]
    )
    assert result.output == "3"
    assert result.usage == Usage(requests=2, prompt_tokens=20, completion_tokens=10, tool_calls=1)
    assert [type(a).__name__ for a in actions] == [
        "CallModel",
        "Emit",
        "RunTools",
        "Emit",
        "CallModel",
    ]
    assert actions[-1].messages[-1] == ToolResult("add", "3", "c1")


def test_emitted_events_pair_each_call_with_its_result():
    _, actions = pump(
        plan(add),
        [
            reply(None, ToolCall("add", '{"a": 1, "b": 2}', "c1"), ToolCall("nope", "{}", "c2")),
            reply("ok"),
        ],
    )
    started, finished = [a for a in actions if isinstance(a, Emit)]
    assert [type(e) for e in started.events] == [ToolCallStarted, ToolCallStarted]
    assert [type(e) for e in finished.events] == [ToolCallFinished, ToolCallFinished]
    assert [e.result.call_id for e in finished.events] == ["c1", "c2"]


def test_only_valid_calls_reach_the_driver():
    """Invalid and unknown calls are answered by the loop itself; the driver runs the rest."""
    _, actions = pump(
        plan(add),
        [
            reply(
                None,
                ToolCall("add", "{", "c1"),
                ToolCall("add", '{"a": 1, "b": 1}', "c2"),
                ToolCall("ghost", "{}", "c3"),
            ),
            reply("done"),
        ],
    )
    run_tools = next(a for a in actions if isinstance(a, RunTools))
    assert [p.call.id for p in run_tools.calls] == ["c2"]


def test_truncated_call_is_not_run():
    with pytest.raises(ToolCallTruncated):
        pump(plan(add), [reply(None, ToolCall("add", '{"a": 1', "c1"), finish="length")])


def test_budget_counts_failures_in_a_row_per_name():
    bad = ToolCall("add", '{"a": "x", "b": 1}', "c")
    with pytest.raises(ToolRetriesExceeded) as caught:
        pump(plan(add, tool_retries=1), [reply(None, bad), reply(None, bad)])
    assert caught.value.tool_name == "add"
    assert "'a'" in caught.value.last_error


def test_no_approver_means_the_driver_is_never_asked():
    @tool(requires_approval=True)
    def wipe() -> str:
        """Wipe everything."""
        return "wiped"

    result, actions = pump(plan(wipe), [reply(None, ToolCall("wipe", "{}", "c")), reply("ok")])
    assert not any(isinstance(a, (Approve, RunTools)) for a in actions)
    refusal = next(m for m in result.messages if isinstance(m, ToolResult))
    assert refusal.is_error


class TestCheckHistory:
    def test_a_complete_history_passes(self):
        call = ToolCall("add", "{}", "c1")
        check_history(
            [
                UserMessage("a"),
                AssistantMessage(None, (call,)),
                ToolResult("add", "2", "c1"),
                AssistantMessage("done"),
            ]
        )

    def test_a_result_without_a_call(self):
        with pytest.raises(UsageError, match=r"history\[1\] is a result for 'add'"):
            check_history([UserMessage("a"), ToolResult("add", "2", "c1")])

    def test_results_out_of_order(self):
        calls = (ToolCall("add", "{}", "c1"), ToolCall("add", "{}", "c2"))
        with pytest.raises(UsageError, match="call order"):
            check_history(
                [
                    AssistantMessage(None, calls),
                    ToolResult("add", "2", "c2"),
                    ToolResult("add", "2", "c1"),
                ]
            )

    def test_a_call_whose_result_never_comes(self):
        messages: list[Message] = [
            AssistantMessage(None, (ToolCall("add", "{}", "c1"),)),
            UserMessage("hello?"),
        ]
        with pytest.raises(UsageError, match=r"no result follows it before history\[1\]"):
            check_history(messages)


def test_token_estimate_is_about_four_characters_a_token():
    assert estimate_tokens([UserMessage("x" * 400)]) == pytest.approx(104, abs=2)
    assert estimate_tokens([UserMessage("hi")], [add]) > estimate_tokens([UserMessage("hi")])


def test_api_error_thrown_into_the_flow_gets_the_chat_and_the_usage():
    """Drivers throw API errors into the flow; the loop attaches messages and usage once."""
    from agentkit import InternalServerError

    flow = agent_flow(plan(add), [UserMessage("go")])
    next(flow)  # CallModel
    flow.send(reply(None, ToolCall("add", '{"a": 1, "b": 2}', "c1")))  # Emit
    action = flow.send(None)  # RunTools
    flow.send((ToolOutcome(value=3),))  # Emit
    assert isinstance(flow.send(None), CallModel)
    error = InternalServerError("boom", status_code=500)
    with pytest.raises(InternalServerError) as caught:
        flow.throw(error)
    assert isinstance(action, RunTools)
    assert [m.role for m in caught.value.messages or ()] == ["user", "assistant", "tool"]
    assert caught.value.usage == Usage(1, 10, 5, tool_calls=1)


def test_run_errors_carry_the_usage_so_far():
    bad = ToolCall("add", "{", "c")
    with pytest.raises(ToolRetriesExceeded) as caught:
        pump(plan(add, tool_retries=0), [reply(None, bad)])
    assert caught.value.usage == Usage(1, 10, 5)


# --------------------------------------------------------------------------- tool choice


def test_a_forced_choice_goes_with_the_first_request_only():
    plan = RunPlan(default_catalog.get("gpt-4"), index_tools([add]), tool_choice="add")
    _, actions = pump(plan, [reply(None, ToolCall("add", '{"a": 1, "b": 2}')), reply("3")])
    requests = [a for a in actions if isinstance(a, CallModel)]
    assert [r.tool_choice for r in requests] == ["add", None]


def test_none_goes_with_every_request():
    plan = RunPlan(default_catalog.get("gpt-4"), index_tools([add]), tool_choice="none")
    _, actions = pump(plan, [reply(None, ToolCall("add", '{"a": 1, "b": 2}')), reply("3")])
    assert [a.tool_choice for a in actions if isinstance(a, CallModel)] == ["none", "none"]


# --------------------------------------------------------------------------- runs in tools

INNER_MODEL = default_catalog.get("gpt-4")  # dearer than the outer gpt-3.5-turbo


def inner_result(output: str) -> RunResult[str]:
    return RunResult(
        output=output,
        messages=(UserMessage("inner"), AssistantMessage(output)),
        usage=Usage(2, 100, 20, tool_calls=1),
        turns=2,
        finish_reason="stop",
        model=INNER_MODEL,
    )


def test_a_tool_that_returns_a_run_result_counts_it_as_the_runs():
    """Usage and cost (at the inner model's prices) are added; the model reads the output;
    the inner messages are kept on the result."""

    @tool
    def ask(prompt: str) -> RunResult[str]:
        """Ask another agent."""
        return inner_result("It is sunny.")

    outer = default_catalog.get("gpt-3.5-turbo")
    plan = RunPlan(outer, index_tools([ask]))
    result, _ = pump(plan, [reply(None, ToolCall("ask", '{"prompt": "?"}')), reply("Sunny.")])
    assert result.usage == Usage(4, 120, 30, tool_calls=2)
    assert result.delegated == Usage(2, 100, 20, tool_calls=1)
    expected = outer.cost(Usage(2, 20, 10)) + INNER_MODEL.cost(Usage(2, 100, 20))
    assert result.cost == pytest.approx(expected)
    answer = result.messages[2]
    assert (answer.content, answer.messages[0]) == ("It is sunny.", UserMessage("inner"))


def test_a_failed_inner_run_counts_its_usage_and_makes_the_cost_unknown():
    @tool
    def ask(prompt: str) -> str:
        """Ask another agent."""
        error = MaxTurnsExceeded(2, messages=[])
        error.usage = Usage(2, 50, 5)
        raise error

    plan = RunPlan(default_catalog.get("gpt-3.5-turbo"), index_tools([ask]))
    result, _ = pump(plan, [reply(None, ToolCall("ask", '{"prompt": "?"}')), reply("Sorry.")])
    assert result.usage.requests == 4
    assert result.messages[2].is_error
    assert result.cost is None


def test_tools_see_what_is_left_of_the_limits():
    seen = []

    @tool
    def look(ctx: RunContext[None]) -> str:
        """Look at the budget."""
        seen.append(ctx.limits)
        return "ok"

    plan = RunPlan(
        default_catalog.get("gpt-3.5-turbo"),
        index_tools([look]),
        limits=UsageLimits(requests=5, total_tokens=100),
    )
    pump(plan, [reply(None, ToolCall("look", "")), reply("done")])
    assert seen == [UsageLimits(requests=4, total_tokens=85)]
