"""Agent behaviour, each test written once and run through the sync and the async driver."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs

from agentkit import (
    Agent,
    AgentEvent,
    AssistantMessage,
    AuthenticationError,
    MaxTurnsExceeded,
    ModelSettings,
    RunContext,
    RunFinished,
    SystemMessage,
    TextDelta,
    ToolCall,
    ToolCallFinished,
    ToolCallStarted,
    ToolCallTruncated,
    ToolResult,
    ToolRetriesExceeded,
    ToolRetry,
    UsageError,
    UsageLimitExceeded,
    UsageLimits,
    UserMessage,
    tool,
)
from agentkit.testing import Fault, Reply
from tests.helpers import Driver, scripted_agent
from tests.spec import assert_valid_request


@tool
def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
        unit: Temperature unit.
    """
    return f"22 degrees {unit} and sunny in {location}"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def weather_call(location: str = "Boston, MA") -> Reply:
    return Reply.call("get_current_weather", {"location": location})


def sent_messages(scripted: Any, index: int) -> list[dict[str, Any]]:
    return scripted.requests[index]["messages"]


def test_plain_answer_without_tools(driver: Driver):
    """A text reply ends the run with that text as the output."""
    agent, scripted = scripted_agent([Reply.text("Hello! How can I help?")])
    result = driver.run(agent, "Hello!")
    assert result.output == "Hello! How can I help?"
    assert result.turns == 1
    assert result.usage.requests == 1
    assert [m.role for m in result.messages] == ["user", "assistant"]
    scripted.assert_complete()


def test_weather_round_trip_in_the_legacy_style(driver: Driver):
    """GoAPI's own example: one function call, its result fed back, then the answer."""
    agent, scripted = scripted_agent(
        [weather_call(), Reply.text("It is 22 degrees and sunny in Boston.")],
        model="gpt-3.5-turbo",
        tools=[get_current_weather],
        system="You are a helpful assistant.",
    )
    result = driver.run(agent, "What is the weather like in Boston?")
    assert result.output == "It is 22 degrees and sunny in Boston."
    assert result.turns == 2
    assert result.usage.tool_calls == 1
    first, _second = scripted.requests
    assert first["functions"][0]["name"] == "get_current_weather"
    assert "tools" not in first
    assert sent_messages(scripted, 1)[-1] == {
        "role": "function",
        "name": "get_current_weather",
        "content": "22 degrees celsius and sunny in Boston, MA",
    }
    for body in scripted.requests:
        assert_valid_request(body)


def test_tools_style_for_1106_models(driver: Driver):
    """A 1106 model gets `tools`, and results go back as `role: tool` with the call's id."""
    agent, scripted = scripted_agent(
        [weather_call(), Reply.text("Sunny.")],
        model="gpt-3.5-turbo-1106",
        tools=[get_current_weather],
    )
    driver.run(agent, "Weather in Boston?")
    first = scripted.requests[0]
    assert first["tools"][0]["type"] == "function"
    assert "functions" not in first
    assistant, result = sent_messages(scripted, 1)[-2:]
    assert result["role"] == "tool"
    assert result["tool_call_id"] == assistant["tool_calls"][0]["id"]
    for body in scripted.requests:
        assert_valid_request(body)


def test_api_style_can_be_forced(driver: Driver):
    """`api_style=` overrides the catalog, e.g. for a proxy that only speaks `tools`."""
    agent, scripted = scripted_agent(
        [Reply.text("ok")], model="gpt-4", tools=[add], api_style="tools"
    )
    driver.run(agent, "hi")
    assert "tools" in scripted.requests[0]


class TestFinishReasonLies:
    def test_complete_call_runs_even_with_finish_reason_stop(self, driver: Driver):
        """Decision 3: the message decides; a whole call is executed whatever the reason says."""
        agent, _ = scripted_agent(
            [weather_call().with_finish_reason("stop"), Reply.text("Sunny.")],
            tools=[get_current_weather],
        )
        result = driver.run(agent, "Weather?")
        assert result.usage.tool_calls == 1
        assert result.output == "Sunny."

    @pytest.mark.parametrize("reason", ["tool_calls", "function_call"])
    def test_call_reason_without_a_call_ends_the_run(self, driver: Driver, reason: str):
        """A reply that claims a call but carries none is the answer."""
        agent, _ = scripted_agent(
            [Reply.text("I would call a tool.").with_finish_reason(reason)],
            tools=[get_current_weather],
        )
        result = driver.run(agent, "Weather?")
        assert result.output == "I would call a tool."
        assert result.finish_reason == reason

    @pytest.mark.parametrize("reason", ["length", "content_filter"])
    def test_call_cut_off_is_never_executed(self, driver: Driver, reason: str):
        """A call in a reply cut off by length or the filter is not run."""
        ran = []

        @tool
        def record(location: str) -> str:
            """Record a location."""
            ran.append(location)
            return "ok"

        agent, _ = scripted_agent(
            [Reply.call("record", '{"location": "Bos').with_finish_reason(reason)],
            tools=[record],
        )
        with pytest.raises(ToolCallTruncated) as caught:
            driver.run(agent, "Go")
        assert ran == []
        assert caught.value.finish_reason == reason
        assert caught.value.messages[-1].role == "assistant"


def test_parallel_calls_run_concurrently_and_results_keep_call_order(driver: Driver):
    """Two calls in one reply run at the same time (each waits for the other) and their
    results are appended in the order the model made the calls."""
    barrier = threading.Barrier(2, timeout=5)

    @tool
    def slow(name: str) -> str:
        """Wait for the other call, then answer."""
        barrier.wait()
        return f"done {name}"

    agent, scripted = scripted_agent(
        [
            Reply.parallel([("slow", {"name": "first"}), ("slow", {"name": "second"})]),
            Reply.text("Both done."),
        ],
        model="gpt-3.5-turbo-1106",
        tools=[slow],
    )
    result = driver.run(agent, "Go")
    results = [m for m in result.messages if isinstance(m, ToolResult)]
    assert [r.content for r in results] == ["done first", "done second"]
    calls = result.messages[-4].calls  # type: ignore[union-attr]
    assert [r.call_id for r in results] == [c.id for c in calls]
    assert [m["role"] for m in sent_messages(scripted, 1)[-2:]] == ["tool", "tool"]


def test_async_tools_run_concurrently(driver: Driver):
    """Async tools of one reply overlap: each waits for an event the other sets."""
    first_started = threading.Event()
    second_started = threading.Event()

    @tool
    async def one() -> str:
        """First."""
        first_started.set()
        await asyncio.to_thread(second_started.wait, 5)
        return "one"

    @tool
    async def two() -> str:
        """Second."""
        second_started.set()
        await asyncio.to_thread(first_started.wait, 5)
        return "two"

    agent, _ = scripted_agent(
        [Reply.parallel([("one", {}), ("two", {})]), Reply.text("ok")],
        model="gpt-4-1106-preview",
        tools=[one, two],
    )
    result = driver.run(agent, "Go")
    assert [m.content for m in result.messages if isinstance(m, ToolResult)] == ["one", "two"]
    assert first_started.is_set()
    assert second_started.is_set()


class TestBadModelOutputGoesBackToTheModel:
    def test_invalid_json_then_a_fix(self, driver: Driver):
        agent, scripted = scripted_agent(
            [
                Reply.call("add", '{"a": 1, "b": '),
                Reply.call("add", '{"a": 1, "b": 2}'),
                Reply.text("3"),
            ],
            tools=[add],
        )
        result = driver.run(agent, "1+2?")
        first, second = [m for m in result.messages if isinstance(m, ToolResult)]
        assert first.is_error
        assert "json" in first.content.lower()
        assert second.content == "3"
        assert not second.is_error
        assert result.output == "3"
        assert sent_messages(scripted, 1)[-1]["content"] == first.content

    def test_unknown_function_lists_the_available_ones(self, driver: Driver):
        agent, _ = scripted_agent(
            [Reply.call("get_weather", {"location": "Boston"}), weather_call(), Reply.text("ok")],
            tools=[get_current_weather, add],
        )
        result = driver.run(agent, "Weather?")
        error = next(m for m in result.messages if isinstance(m, ToolResult))
        assert error.is_error
        assert error.content == (
            "Unknown function 'get_weather'. Available functions: get_current_weather, add."
        )

    def test_lax_coercion_of_arguments(self, driver: Driver):
        """'3' becomes 3 for an int parameter, as pydantic's lax mode does."""
        agent, _ = scripted_agent(
            [Reply.call("add", '{"a": "3", "b": 4}'), Reply.text("7")], tools=[add]
        )
        result = driver.run(agent, "3+4?")
        assert next(m for m in result.messages if isinstance(m, ToolResult)).content == "7"

    def test_empty_arguments_mean_no_arguments(self, driver: Driver):
        @tool
        def now() -> str:
            """The time."""
            return "noon"

        agent, _ = scripted_agent([Reply.call("now", ""), Reply.text("It is noon.")], tools=[now])
        result = driver.run(agent, "Time?")
        assert next(m for m in result.messages if isinstance(m, ToolResult)).content == "noon"

    def test_tool_exception_is_fed_back(self, driver: Driver):
        @tool
        def flaky(city: str) -> str:
            """Fails once."""
            raise ValueError(f"no station near {city}")

        agent, _ = scripted_agent(
            [Reply.call("flaky", {"city": "Atlantis"}), Reply.text("Sorry.")], tools=[flaky]
        )
        result = driver.run(agent, "Weather in Atlantis?")
        error = next(m for m in result.messages if isinstance(m, ToolResult))
        assert error.is_error
        assert error.content == "Error: flaky raised ValueError: no station near Atlantis"

    def test_tool_exception_propagates_when_asked(self, driver: Driver):
        @tool
        def broken() -> str:
            """Always fails."""
            raise KeyError("boom")

        agent, _ = scripted_agent([Reply.call("broken", {})], tools=[broken], on_tool_error="raise")
        with pytest.raises(KeyError, match="boom"):
            driver.run(agent, "Go")

    def test_toolretry_sends_its_message(self, driver: Driver):
        @tool
        def lookup(city: str) -> str:
            """Look a city up."""
            if city != city.strip():
                raise ToolRetry("Strip the spaces around the city name.")
            return "found"

        agent, _ = scripted_agent(
            [
                Reply.call("lookup", {"city": " Paris "}),
                Reply.call("lookup", {"city": "Paris"}),
                Reply.text("ok"),
            ],
            tools=[lookup],
        )
        result = driver.run(agent, "Paris?")
        first, second = [m for m in result.messages if isinstance(m, ToolResult)]
        assert (first.content, first.is_error) == ("Strip the spaces around the city name.", True)
        assert second.content == "found"


class TestRetryBudget:
    def test_budget_spent_ends_the_run_with_the_history(self, driver: Driver):
        @tool(retries=1)
        def always_fails() -> str:
            """Never works."""
            raise RuntimeError("down")

        agent, _ = scripted_agent(
            [Reply.call("always_fails", {}), Reply.call("always_fails", {})],
            tools=[always_fails],
        )
        with pytest.raises(ToolRetriesExceeded) as caught:
            driver.run(agent, "Go")
        error = caught.value
        assert (error.tool_name, error.retries) == ("always_fails", 1)
        assert error.last_error == "Error: always_fails raised RuntimeError: down"
        assert [m.role for m in error.messages] == [
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
        ]

    def test_agent_default_budget_is_two(self, driver: Driver):
        agent, _ = scripted_agent([Reply.call("nope", {})] * 3, tools=[add])
        with pytest.raises(ToolRetriesExceeded) as caught:
            driver.run(agent, "Go")
        assert (caught.value.tool_name, caught.value.retries) == ("nope", 2)

    def test_success_resets_the_budget(self, driver: Driver):
        """Failures are counted in a row: a success in between starts the count again."""
        script = [
            Reply.call("add", '{"a": "x"}'),
            Reply.call("add", {"a": 1, "b": 1}),
            Reply.call("add", '{"a": "x"}'),
            Reply.call("add", {"a": 1, "b": 1}),
            Reply.text("done"),
        ]
        agent, _ = scripted_agent(script, tools=[add], tool_retries=1)
        assert driver.run(agent, "Go").output == "done"


class TestApproval:
    @staticmethod
    def deleter(deleted: list[str]) -> Any:
        @tool(requires_approval=True)
        def delete_file(path: str) -> str:
            """Delete a file."""
            deleted.append(path)
            return f"deleted {path}"

        return delete_file

    def test_granted(self, driver: Driver):
        deleted: list[str] = []
        seen = []

        def approve(call):
            seen.append((call.name, json.loads(call.arguments)))
            return True

        agent, _ = scripted_agent(
            [Reply.call("delete_file", {"path": "a.txt"}), Reply.text("Deleted.")],
            tools=[self.deleter(deleted)],
            approve=approve,
        )
        driver.run(agent, "Delete a.txt")
        assert deleted == ["a.txt"]
        assert seen == [("delete_file", {"path": "a.txt"})]

    @pytest.mark.parametrize(
        ("decision", "text"),
        [
            (False, "The user refused this call: no reason given"),
            ("not on Fridays", "The user refused this call: not on Fridays"),
        ],
    )
    def test_refused_is_sent_to_the_model(self, driver: Driver, decision, text):
        deleted: list[str] = []
        agent, _ = scripted_agent(
            [Reply.call("delete_file", {"path": "a.txt"}), Reply.text("I could not.")],
            tools=[self.deleter(deleted)],
            approve=lambda call: decision,
        )
        result = driver.run(agent, "Delete a.txt")
        assert deleted == []
        refusal = next(m for m in result.messages if isinstance(m, ToolResult))
        assert (refusal.content, refusal.is_error) == (text, True)

    def test_decision_is_bound_to_the_exact_arguments(self, driver: Driver):
        """Approving one path approves that call only; the next call is asked about again."""
        deleted: list[str] = []

        def approve(call):
            return json.loads(call.arguments)["path"] == "a.txt"

        agent, _ = scripted_agent(
            [
                Reply.call("delete_file", {"path": "a.txt"}),
                Reply.call("delete_file", {"path": "secrets.txt"}),
                Reply.text("done"),
            ],
            tools=[self.deleter(deleted)],
            approve=approve,
        )
        driver.run(agent, "Delete files")
        assert deleted == ["a.txt"]

    def test_async_approver(self, driver: Driver):
        deleted: list[str] = []

        async def approve(call):
            await asyncio.sleep(0)
            return True

        agent, _ = scripted_agent(
            [Reply.call("delete_file", {"path": "b"}), Reply.text("ok")],
            tools=[self.deleter(deleted)],
            approve=approve,
        )
        driver.run(agent, "Delete b")
        assert deleted == ["b"]

    def test_no_approver_refuses_with_a_clear_message(self, driver: Driver):
        deleted: list[str] = []
        agent, _ = scripted_agent(
            [Reply.call("delete_file", {"path": "a"}), Reply.text("ok")],
            tools=[self.deleter(deleted)],
        )
        result = driver.run(agent, "Delete a")
        refusal = next(m for m in result.messages if isinstance(m, ToolResult))
        assert deleted == []
        assert "needs approval" in refusal.content


class City(BaseModel):
    name: str
    population: int


@dataclasses.dataclass
class Point:
    x: float
    y: float


class TestStructuredOutput:
    def test_valid_answer(self, driver: Driver):
        agent, scripted = scripted_agent(
            [Reply.call("final_result", {"name": "Boston", "population": 650000})],
            output_type=City,
        )
        result = driver.run(agent, "Boston facts")
        assert result.output == City(name="Boston", population=650000)
        assert scripted.requests[0]["functions"][0]["name"] == "final_result"
        assert isinstance(result.messages[-1], ToolResult)  # the call got its result

    def test_invalid_then_fixed(self, driver: Driver):
        agent, _ = scripted_agent(
            [
                Reply.call("final_result", {"name": "Boston", "population": "many"}),
                Reply.call("final_result", {"name": "Boston", "population": 650000}),
            ],
            output_type=City,
        )
        result = driver.run(agent, "Boston facts")
        assert result.output.population == 650000
        error = next(m for m in result.messages if isinstance(m, ToolResult))
        assert error.is_error
        assert "population" in error.content

    def test_text_answer_is_sent_back(self, driver: Driver):
        agent, scripted = scripted_agent(
            [Reply.text("Boston has 650k people."), Reply.call("final_result", {"x": 1, "y": 2})],
            output_type=Point,
        )
        result = driver.run(agent, "A point")
        assert result.output == Point(1, 2)
        assert sent_messages(scripted, 1)[-1]["role"] == "user"
        assert "final_result" in sent_messages(scripted, 1)[-1]["content"]

    def test_a_list_output(self, driver: Driver):
        agent, _ = scripted_agent(
            [Reply.call("final_result", {"response": [{"x": 0, "y": 1}]})],
            output_type=list[Point],
        )
        assert driver.run(agent, "Points").output == [Point(0, 1)]


class TestLimits:
    def test_max_turns(self, driver: Driver):
        agent, _ = scripted_agent(
            [Reply.call("add", {"a": 1, "b": 1})] * 2, tools=[add], max_turns=2
        )
        with pytest.raises(MaxTurnsExceeded) as caught:
            driver.run(agent, "Loop")
        assert caught.value.max_turns == 2
        assert len(caught.value.messages) == 5

    def test_request_limit_is_checked_before_sending(self, driver: Driver):
        agent, scripted = scripted_agent(
            [Reply.call("add", {"a": 1, "b": 1})], tools=[add], limits=UsageLimits(requests=1)
        )
        with pytest.raises(UsageLimitExceeded) as caught:
            driver.run(agent, "Go")
        assert (caught.value.limit, caught.value.value, caught.value.maximum) == ("requests", 2, 1)
        assert len(scripted.requests) == 1

    def test_tool_call_limit(self, driver: Driver):
        agent, _ = scripted_agent(
            [Reply.parallel([("add", {"a": 1, "b": 1}), ("add", {"a": 2, "b": 2})])],
            model="gpt-3.5-turbo-1106",
            tools=[add],
            limits=UsageLimits(tool_calls=1),
        )
        with pytest.raises(UsageLimitExceeded) as caught:
            driver.run(agent, "Go")
        assert caught.value.limit == "tool_calls"
        results = [m for m in caught.value.messages if isinstance(m, ToolResult)]
        assert len(results) == 2  # the history stays consistent: every call has a result

    def test_token_limit_uses_reported_usage_plus_an_estimate(self, driver: Driver):
        agent, scripted = scripted_agent(
            [Reply.call("add", {"a": 1, "b": 1}).with_usage(900, 50)],
            tools=[add],
            limits=UsageLimits(total_tokens=950),
            stream=False,  # a 2023-era stream reports no usage
        )
        with pytest.raises(UsageLimitExceeded) as caught:
            driver.run(agent, "Go")
        assert caught.value.limit == "tokens"
        assert len(scripted.requests) == 1


def test_usage_and_cost_from_the_catalog(driver: Driver):
    """Streams report usage when asked to (`include_usage`); cost comes from the catalog."""
    agent, scripted = scripted_agent(
        [weather_call().with_usage(82, 18), Reply.text("Sunny.").with_usage(120, 10)],
        model="gpt-4",
        tools=[get_current_weather],
        settings=ModelSettings(include_usage=True),
    )
    result = driver.run(agent, "Weather?")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (202, 28)
    assert result.cost == pytest.approx((202 * 0.03 + 28 * 0.06) / 1000)
    assert scripted.requests[0]["stream_options"] == {"include_usage": True}


def test_unreported_usage_stays_unknown(driver: Driver):
    """A model whose tokenizer agentkit does not know: its tokens cannot be counted."""
    agent, _ = scripted_agent(
        [Reply.text("hi").with_usage(None)], model="llama-3-70b", api_style="tools"
    )
    result = driver.run(agent, "hi")
    assert result.usage.prompt_tokens is None
    assert result.usage.unreported_requests == 1
    assert result.cost is None


class TestHistory:
    def test_continue_a_conversation(self, driver: Driver):
        agent, scripted = scripted_agent(
            [weather_call(), Reply.text("Sunny."), Reply.text("Rain tomorrow.")],
            tools=[get_current_weather],
            system="Be brief.",
        )
        first = driver.run(agent, "Weather in Boston?")
        second = driver.run(agent, "And tomorrow?", history=first.messages)
        assert second.output == "Rain tomorrow."
        sent = sent_messages(scripted, 2)
        assert [m["role"] for m in sent] == [
            "system",
            "user",
            "assistant",
            "function",
            "assistant",
            "user",
        ]
        assert second.new_messages[0] == UserMessage("And tomorrow?")
        assert isinstance(second.messages[0], SystemMessage)

    def test_a_call_without_its_result_is_refused(self, driver: Driver):
        """Every call needs its result before the next message; the error says which."""
        agent, scripted = scripted_agent([], tools=[get_current_weather])
        call = ToolCall("get_current_weather", "{}", "call_1")
        broken = [UserMessage("hi"), AssistantMessage(None, (call,))]
        with pytest.raises(UsageError, match=r"history\[1\] calls 'get_current_weather'"):
            driver.run(agent, "again", history=broken)
        assert scripted.requests == []


def test_two_concurrent_runs_on_one_agent_do_not_mix():
    """Per-run state lives in the run: two runs at once each get their own answer."""
    agent, _ = scripted_agent(
        lambda body: Reply.text(f"echo: {body['messages'][-1]['content']}"), tools=[add]
    )

    async def both() -> list[str]:
        results = await asyncio.gather(agent.arun("one"), agent.arun("two"))
        return [r.output for r in results]

    assert asyncio.run(both()) == ["echo: one", "echo: two"]


def test_stream_events_in_order(driver: Driver):
    """Call fragments as they arrive, the call's start and result, the answer's text as it
    arrives, then RunFinished."""
    agent, _ = scripted_agent(
        [weather_call(), Reply.text("It is sunny.", chunk_size=3)],
        tools=[get_current_weather],
    )
    events: list[AgentEvent] = driver.stream(agent, "Weather?")
    kinds = [type(e).__name__ for e in events]
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert runs == [
        "ToolCallDelta",
        "ToolCallStarted",
        "ToolCallFinished",
        "TextDelta",
        "RunFinished",
    ]
    assert kinds.count("TextDelta") == 4
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "It is sunny."
    started = events[kinds.index("ToolCallStarted")]
    finished = events[kinds.index("ToolCallFinished")]
    assert isinstance(started, ToolCallStarted)
    assert started.call.name == "get_current_weather"
    assert isinstance(finished, ToolCallFinished)
    assert finished.result.content == "22 degrees celsius and sunny in Boston, MA"
    last = events[-1]
    assert isinstance(last, RunFinished)
    assert last.result.output == "It is sunny."


def test_run_works_inside_a_running_event_loop():
    """`run` uses the sync client, so it works where an event loop runs (a notebook)."""
    agent, _ = scripted_agent([weather_call(), Reply.text("Sunny.")], tools=[get_current_weather])

    async def notebook_cell() -> str:
        return agent.run("Weather?").output

    assert asyncio.run(notebook_cell()) == "Sunny."


def test_sync_tools_run_in_worker_threads_under_arun():
    """A blocking tool never runs on the event loop's thread."""
    threads = []

    @tool
    def blocking() -> str:
        """Block a little."""
        threads.append(threading.get_ident())
        return "done"

    agent, _ = scripted_agent([Reply.call("blocking"), Reply.text("ok")], tools=[blocking])

    async def go() -> int:
        await agent.arun("Go")
        return threading.get_ident()

    loop_thread = asyncio.run(go())
    assert threads
    assert threads[0] != loop_thread


def test_tools_on_a_model_without_function_calling_are_refused():
    with pytest.raises(UsageError, match="cannot call functions"):
        Agent("gpt-4-vision-preview", tools=[add], api_key="test")


def test_tool_timeout_is_enforced(driver: Driver):
    """The run goes on when a tool passes its timeout.

    The tool waits for the model's next request, which is sent only once the run gave up on
    it: the timeout is the only way on, however slow the machine. (Its thread then ends, so
    `asyncio.run`, which waits for it at exit, does not wait long.)
    """
    released = threading.Event()

    @tool(timeout=0.05)
    def hangs() -> str:
        """Never answers in time."""
        released.wait(60)  # bounded: a run that never gives up fails the test, not the suite
        return "late"

    def model(body: dict[str, Any]) -> Reply:
        if body["messages"][-1]["role"] in ("tool", "function"):
            released.set()
            return Reply.text("gave up")
        return Reply.call("hangs", {})

    agent, _ = scripted_agent(model, tools=[hangs])
    result = driver.run(agent, "Go")
    error = next(m for m in result.messages if isinstance(m, ToolResult))
    assert error.content == "Error: hangs timed out after 0.05 s."


def test_run_context_gives_deps_and_retry(driver: Driver):
    seen = []

    @tool
    def whoami(ctx: RunContext[dict[str, str]], greeting: str) -> str:
        """Greet the current user."""
        seen.append((ctx.deps["user"], ctx.retry, ctx.tool_name))
        return f"{greeting}, {ctx.deps['user']}"

    agent, scripted = scripted_agent(
        [
            Reply.call("whoami", {"greeting": "Hi"}),
            Reply.text("ok"),
            Reply.call("whoami", {"greeting": "Yo"}),
            Reply.text("ok"),
        ],
        tools=[whoami],
        deps={"user": "ada"},
    )
    driver.run(agent, "Who am I?")
    driver.run(agent, "And now?", deps={"user": "bob"})
    assert seen == [("ada", 0, "whoami"), ("bob", 0, "whoami")]
    assert "ctx" not in json.dumps(scripted.requests[0]["functions"])


def test_log_events(driver: Driver):
    agent, _ = scripted_agent([weather_call(), Reply.text("ok")], tools=[get_current_weather])
    with capture_logs() as logs:
        driver.run(agent, "Weather?")
    events = [
        e["event"]
        for e in logs
        if e["event"].startswith("agentkit.run") or e["event"].startswith("agentkit.tool")
    ]
    assert events == [
        "agentkit.run.start",
        "agentkit.tool.call",
        "agentkit.tool.result",
        "agentkit.run.end",
    ]
    end = next(e for e in logs if e["event"] == "agentkit.run.end")
    assert (end["outcome"], end["turns"], end["tool_calls"]) == ("answer", 2, 1)


def test_api_errors_carry_the_messages_so_far(driver: Driver):
    agent, _ = scripted_agent(
        [
            weather_call(),
            Fault.json_error(
                401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"
            ),
        ],
        tools=[get_current_weather],
    )
    with pytest.raises(AuthenticationError) as caught:
        driver.run(agent, "Weather?")
    assert caught.value.messages is not None
    assert [m.role for m in caught.value.messages] == ["user", "assistant", "tool"]
