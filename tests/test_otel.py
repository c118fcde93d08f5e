"""OpenTelemetry traces: the span tree and its GenAI attributes, read back from the SDK's
in-memory exporter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentkit._agent import _UNSET

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

from agentkit import (
    Agent,
    AuthenticationError,
    Backoff,
    BatchItem,
    ChatClient,
    ModelSettings,
    _instrument,
    batch,
    otel,
    tool,
)
from agentkit.testing import Fault, Reply, ScriptedGoAPI
from tests.helpers import Driver, scripted_agent

KEY = "sk-secret-key-0123456789"


@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a given location."""
    return f"sunny in {location}"


@tool
def broken(location: str) -> str:
    """Always fails."""
    raise ValueError(f"no station near {location}")


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    yield exporter
    otel.uninstrument()
    provider.shutdown()


def agent_for(script: Any, **options: Any) -> tuple[Agent[Any], ScriptedGoAPI]:
    scripted = ScriptedGoAPI(script)
    client = ChatClient(
        api_key=KEY,
        base_url="http://goapi.test:8080/v1",
        http_client=httpx.Client(transport=scripted),
        async_http_client=httpx.AsyncClient(transport=scripted),
        backoff=Backoff(initial=0, maximum=0, jitter=0),
    )
    options.setdefault("tools", [get_current_weather])
    return Agent("gpt-3.5-turbo-1106", client=client, **options), scripted


def tree(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    """Spans by name, in the order they ended."""
    named: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        named.setdefault(span.name, []).append(span)
    return named


def weather_script() -> list[Reply]:
    return [
        Reply.call("get_current_weather", {"location": "Boston"}).with_usage(50, 10),
        Reply.text("It is sunny.").with_usage(70, 5),
    ]


def test_tool_conversation_span_tree(spans: InMemorySpanExporter, driver: Driver) -> None:
    """invoke_agent > chat, execute_tool, chat; each with the GenAI attributes."""
    agent, _ = agent_for(
        weather_script(), settings=ModelSettings(temperature=0.2, seed=7, include_usage=True)
    )
    driver.run(agent, "Weather in Boston?")
    named = tree(spans)
    names = ["chat gpt-3.5-turbo-1106", "execute_tool get_current_weather", "invoke_agent"]
    assert sorted(named) == names
    (run,) = named["invoke_agent"]
    chats = named["chat gpt-3.5-turbo-1106"]
    (call,) = named["execute_tool get_current_weather"]
    assert run.parent is None
    assert {s.parent.span_id for s in [*chats, call]} == {run.context.span_id}  # type: ignore[union-attr]
    assert len({s.context.trace_id for s in [run, *chats, call]}) == 1
    assert dict(run.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-3.5-turbo-1106",
        "server.address": "goapi.test",
        "server.port": 8080,
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 15,
        "gen_ai.response.finish_reasons": ("stop",),
    }
    first = dict(chats[0].attributes or {})
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.request.temperature"] == 0.2
    assert first["gen_ai.request.seed"] == 7
    assert first["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert first["gen_ai.usage.input_tokens"] == 50
    assert first["gen_ai.usage.output_tokens"] == 10
    assert chats[0].kind == trace.SpanKind.CLIENT
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.operation.name"] == "execute_tool"
    assert attributes["gen_ai.tool.name"] == "get_current_weather"
    assert attributes["gen_ai.tool.call.id"].startswith("call_")
    assert chats[0].end_time <= call.start_time <= call.end_time <= chats[1].start_time  # type: ignore[operator]


def test_contents_and_key_are_not_recorded_by_default(spans: InMemorySpanExporter) -> None:
    """No prompt, answer or argument is recorded unless asked, and never the key."""
    agent, _ = agent_for(weather_script())
    agent.run("Weather in Boston?")
    dump = repr([(s.attributes, s.events) for s in spans.get_finished_spans()])
    for secret in ("Boston", "sunny", KEY, "Bearer"):
        assert secret not in dump


def test_contents_when_opted_in(spans: InMemorySpanExporter) -> None:
    """record_content=True adds the messages, tool arguments and results (never the key)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    otel.instrument(tracer_provider=provider, record_content=True)
    agent, _ = agent_for(weather_script(), system="Be brief.")
    agent.run("Weather in Boston?")
    named = tree(spans)
    first = dict(named["chat gpt-3.5-turbo-1106"][0].attributes or {})
    assert json.loads(first["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Boston?"}]},
    ]
    output = json.loads(first["gen_ai.output.messages"])
    assert output[0]["parts"][0]["name"] == "get_current_weather"
    call = dict(named["execute_tool get_current_weather"][0].attributes or {})
    assert json.loads(call["gen_ai.tool.call.arguments"]) == {"location": "Boston"}
    assert call["gen_ai.tool.call.result"] == "sunny in Boston"
    run = dict(named["invoke_agent"][0].attributes or {})
    assert "It is sunny." in run["gen_ai.output.messages"]
    assert KEY not in repr([s.attributes for s in spans.get_finished_spans()])


def test_retry_is_an_event_of_the_request(spans: InMemorySpanExporter, driver: Driver) -> None:
    """A retried attempt is an `agentkit.retry` event on its chat span, not another span."""
    agent, _ = agent_for([Fault.server_error(503), Reply.text("Hello.")], tools=[])
    driver.run(agent, "Hi")
    (chat,) = tree(spans)["chat gpt-3.5-turbo-1106"]
    (event,) = chat.events
    assert event.name == "agentkit.retry"
    assert dict(event.attributes or {}) == {
        "agentkit.retry.attempt": 1,
        "agentkit.retry.wait_seconds": 0.0,
        "error.type": "InternalServerError",
        "http.response.status_code": 503,
    }
    assert chat.status.status_code != StatusCode.ERROR


def test_tool_error(spans: InMemorySpanExporter, driver: Driver) -> None:
    """A tool that raises: its span has error.type and an error status; the run goes on."""
    agent, _ = agent_for(
        [Reply.call("broken", {"location": "Mars"}), Reply.text("No weather there.")],
        tools=[broken],
    )
    assert driver.run(agent, "Weather on Mars?").output == "No weather there."
    named = tree(spans)
    (call,) = named["execute_tool broken"]
    assert call.attributes["error.type"] == "ValueError"  # type: ignore[index]
    assert call.status.status_code == StatusCode.ERROR
    assert call.status.description is None  # the error's text may quote the chat
    assert named["invoke_agent"][0].status.status_code != StatusCode.ERROR


def test_failed_run(spans: InMemorySpanExporter, driver: Driver) -> None:
    """A run that fails: the request and the run spans carry error.type and an error status."""
    agent, _ = agent_for([Fault.json_error(401, "Incorrect API key provided: sk-secr***")])
    with pytest.raises(AuthenticationError):
        driver.run(agent, "Hi")
    named = tree(spans)
    for span in (named["chat gpt-3.5-turbo-1106"][0], named["invoke_agent"][0]):
        assert span.attributes["error.type"] == "AuthenticationError"  # type: ignore[index]
        assert span.status.status_code == StatusCode.ERROR


def test_streams_are_traced(spans: InMemorySpanExporter, driver: Driver) -> None:
    """stream / astream give the same tree as run / arun."""
    agent, _ = agent_for(weather_script())
    events = driver.stream(agent, "Weather in Boston?")
    assert events[-1].kind == "run_finished"
    assert sorted(s.name for s in spans.get_finished_spans()) == [
        "chat gpt-3.5-turbo-1106",
        "chat gpt-3.5-turbo-1106",
        "execute_tool get_current_weather",
        "invoke_agent",
    ]


def test_a_dropped_stream_ends_its_spans(spans: InMemorySpanExporter) -> None:
    """A stream the caller stops reading half-way still ends every span it started."""
    agent, _ = agent_for(weather_script())
    stream = agent.stream("Weather in Boston?")
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    named = tree(spans)
    assert named["invoke_agent"][0].attributes["error.type"] == "cancelled"  # type: ignore[index]
    assert all(s.end_time is not None for s in spans.get_finished_spans())


def test_batch_items_are_one_trace_each(spans: InMemorySpanExporter) -> None:
    """Each batch item is its own trace."""
    agent, _ = agent_for(lambda body: Reply.text("ok"), tools=[])
    items = [BatchItem(id=str(i), prompt=f"Question {i}") for i in range(3)]
    assert all(r.ok for r in batch(agent, items, concurrency=3))
    runs = tree(spans)["invoke_agent"]
    assert len({s.context.trace_id for s in runs}) == 3


def test_a_tool_s_own_spans_nest_under_its_call(spans: InMemorySpanExporter) -> None:
    """With one call per reply, the tool runs inside its execute_tool span."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = provider.get_tracer("test")

    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        with tracer.start_as_current_span("database query"):
            return city.upper()

    script = [Reply.call("lookup", {"city": "Oslo"}), Reply.text("OSLO")]
    agent, _ = agent_for(script, tools=[lookup])
    agent.run("Oslo?")
    named = tree(spans)
    assert named["database query"][0].parent.span_id == (  # type: ignore[union-attr]
        named["execute_tool lookup"][0].context.span_id
    )


def test_off_means_no_hooks() -> None:
    """Without instrument(), the seam is empty; uninstrument() empties it again."""
    assert _instrument.hooks is None
    assert not otel.is_instrumented()
    otel.instrument()
    assert otel.is_instrumented()
    otel.uninstrument()
    assert _instrument.hooks is None


def test_unrecorded_runs_are_not_followed() -> None:
    """With no SDK provider (the API's no-op spans) or a sampler that drops the run, the
    run's flow is not wrapped at all."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    for provider in (trace.NoOpTracerProvider(), TracerProvider(sampler=ALWAYS_OFF)):
        otel.instrument(tracer_provider=provider)
        try:
            agent, _ = agent_for([Reply.text("hi")], tools=[])
            _, flow = agent._start("hello", _UNSET, {})
            assert flow.__name__ == "agent_flow"  # type: ignore[attr-defined]
            flow.close()
        finally:
            otel.uninstrument()


def test_the_api_alone_builds_no_span_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Instrumented with the API's global provider and no SDK provider set, a run makes no
    span and builds none of its attributes; once a provider is set, runs are traced by it."""
    built: list[object] = []

    class Counted(otel._RunTrace):
        def __init__(self, *args: Any) -> None:
            built.append(self)
            super().__init__(*args)

    monkeypatch.setattr(otel, "_RunTrace", Counted)
    saved = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = None  # no global provider: the API's proxy stands in
    otel.instrument()
    try:
        agent, _ = agent_for(weather_script())
        assert agent.run("Weather in Boston?").output == "It is sunny."
        assert built == []
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace._TRACER_PROVIDER = provider  # as `trace.set_tracer_provider` sets it, once
        agent, _ = agent_for(weather_script())
        agent.run("Weather in Boston?")
        assert len(built) == 1
        named = tree(exporter)
        assert {name: len(ended) for name, ended in named.items()} == {
            "chat gpt-3.5-turbo-1106": 2,
            "execute_tool get_current_weather": 1,
            "invoke_agent": 1,
        }
    finally:
        otel.uninstrument()
        trace._TRACER_PROVIDER = saved


def test_scripted_agent_helper_still_works_with_tracing(spans: InMemorySpanExporter) -> None:
    """The project's own test helper runs unchanged with tracing on (async driver)."""
    agent, _ = scripted_agent([Reply.text("hi")])
    assert asyncio.run(agent.arun("hello")).output == "hi"
    assert [s.name for s in spans.get_finished_spans()][-1] == "invoke_agent"


def test_a_run_that_overrides_the_model_is_traced_with_its_own(
    spans: InMemorySpanExporter,
) -> None:
    """A run's `model=` and `settings=` overrides, not the agent's, name its spans."""
    agent, _ = agent_for([Reply.text("hi")], tools=[], temperature=0.5)
    agent.run("hello", model="gpt-4", settings=ModelSettings(temperature=0.1))
    named = tree(spans)
    assert list(named) == ["chat gpt-4", "invoke_agent"]
    run = dict(named["invoke_agent"][0].attributes or {})
    assert run["gen_ai.request.model"] == "gpt-4"
    chat = dict(named["chat gpt-4"][0].attributes or {})
    assert chat["gen_ai.request.temperature"] == 0.1


def test_carried_tracing_puts_another_process_s_runs_under_the_span(
    spans: InMemorySpanExporter,
) -> None:
    """What `map_agents` sends its actors: pickled, then installed where nothing traces
    yet, it traces runs there under the span that was current, with its content setting."""
    import pickle

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    otel.instrument(tracer_provider=provider, record_content=True)
    with provider.get_tracer("test").start_as_current_span("job") as job:
        carried = pickle.loads(pickle.dumps(otel._Carried.here()))
    assert "traceparent" in carried.carrier
    otel.uninstrument()  # as in a fresh actor process
    assert otel._Carried.here() is None  # nothing to carry when runs are not traced
    saved = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = provider  # the actor's global provider, as its setup sets it
    try:
        carried.install()
        token = carried.attach()
        try:
            agent, _ = agent_for(weather_script())
            agent.run("Weather in Boston?")
        finally:
            carried.detach(token)
    finally:
        trace._TRACER_PROVIDER = saved
    (run,) = tree(spans)["invoke_agent"]
    assert run.parent is not None
    assert run.parent.span_id == job.get_span_context().span_id
    assert run.context.trace_id == job.get_span_context().trace_id
    assert "gen_ai.output.messages" in (run.attributes or {})  # record_content came along
