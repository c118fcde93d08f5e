"""OpenTelemetry traces of agent runs, following the GenAI semantic conventions.

Needs the `otel` extra (`pip install "goapi-agentkit[otel]"`: `opentelemetry-api`) and, to
see anything, a tracer provider with an exporter (the `opentelemetry-sdk` package).

```python
from agentkit import otel

otel.instrument()  # the global tracer provider; or otel.instrument(tracer_provider=...)
```

From then on every run (`run`, `arun`, `stream`, `astream`, each batch item) is a trace:

```
invoke_agent                      gen_ai.operation.name=invoke_agent, usage totals
├── chat gpt-3.5-turbo            one per model request: model, settings, finish reasons,
│     event agentkit.retry          token usage; each failed attempt that was retried
├── execute_tool get_weather      one per tool call: tool name, call id, error.type
└── chat gpt-3.5-turbo
```

Message contents (prompts, answers, tool arguments and results) may hold personal data: they
are recorded only with `instrument(record_content=True)`. The API key and headers never are.
Until `instrument()` is called, agentkit does no tracing work at all.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

from . import _instrument
from ._loop import CallModel, PlannedCall, RunTools, ToolOutcome
from ._messages import (
    AssistantMessage,
    Message,
    ModelResponse,
    SystemMessage,
    TextPart,
    ToolResult,
    UserMessage,
)
from ._tools import format_result
from ._version import __version__

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - the extra is installed in CI
    raise ImportError(
        "agentkit.otel needs OpenTelemetry: pip install 'goapi-agentkit[otel]'"
    ) from exc

if TYPE_CHECKING:
    from ._agent import Agent
    from ._loop import Action, RunResult
    from ._runconfig import RunConfig

__all__ = ["instrument", "is_instrumented", "uninstrument"]

#: Where requests go when the agent has no `base_url` (streamed requests; see GOAPI.md).
_DEFAULT_BASE_URL = "https://api.goapi.xyz/v1"


def instrument(
    *, tracer_provider: trace.TracerProvider | None = None, record_content: bool = False
) -> None:
    """Trace every agent run from now on.

    Args:
        tracer_provider: Where spans go; the global provider (`trace.set_tracer_provider`)
            by default.
        record_content: Also record prompts, answers, tool arguments and tool results
            (`gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.tool.call.*`).
            Off by default: they may hold personal data.
    """
    provider = tracer_provider or trace.get_tracer_provider()
    tracer = provider.get_tracer("agentkit", __version__)
    _instrument.install(_Tracing(tracer, provider, record_content=record_content))


def uninstrument() -> None:
    """Stop tracing runs (runs already going on finish their traces)."""
    if isinstance(_instrument.hooks, _Tracing):
        _instrument.install(None)


def is_instrumented() -> bool:
    """Whether `instrument()` is in effect."""
    return isinstance(_instrument.hooks, _Tracing)


class _Tracing:
    """The `_instrument.Hooks` that turns a run's flow into spans."""

    def __init__(
        self, tracer: trace.Tracer, provider: trace.TracerProvider, *, record_content: bool
    ) -> None:
        self.tracer = tracer
        self.provider = provider
        self.record_content = record_content

    def observe(
        self, agent: Agent[Any], config: RunConfig, flow: Generator[Action, Any, RunResult[Any]]
    ) -> Generator[Action, Any, RunResult[Any]]:
        if not self.may_record():  # the API alone: no span, and none of its attributes
            return flow
        run = _RunTrace(self, agent, config)
        if not run.span.is_recording():  # sampled out: nor are its children
            run.span.end()
            return flow
        return run.follow(flow)

    def may_record(self) -> bool:
        """Whether spans may record: the provider is not one of the API's placeholders.

        Without an SDK, the API's global provider is a proxy whose spans are no-ops until a
        real provider is set (the API lets that happen once); then that one is used.
        """
        provider = self.provider
        if isinstance(provider, trace.ProxyTracerProvider):
            provider = trace.get_tracer_provider()
            if isinstance(provider, trace.ProxyTracerProvider):
                return False
            self.provider = provider  # set for good: `_flush` reaches it too
        return not isinstance(provider, trace.NoOpTracerProvider)


class _Carried:
    """The driver's tracing, carried to the processes that run its conversations (Ray actors).

    It holds the trace context current when it was made, as W3C `traceparent` headers (the
    global propagator's format), so that the runs it starts elsewhere are children of that
    span, as local batch items are; and whether contents are recorded.
    """

    def __init__(self, carrier: dict[str, str], record_content: bool) -> None:
        self.carrier = carrier
        self.record_content = record_content

    @classmethod
    def here(cls) -> _Carried | None:
        """This process's tracing and current context, or `None` when runs are not traced."""
        hooks = _instrument.hooks
        if not isinstance(hooks, _Tracing):
            return None
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # nothing when no span is current: each run its own trace
        return cls(carrier, hooks.record_content)

    def install(self) -> None:
        """Trace runs in this process too (through its global provider), unless already so."""
        if not is_instrumented():
            instrument(record_content=self.record_content)

    def attach(self) -> object:
        """Make the carried context current; the token to give `detach`."""
        return otel_context.attach(propagate.extract(self.carrier))

    def detach(self, token: object) -> None:
        otel_context.detach(token)  # type: ignore[arg-type]


def _flush() -> None:
    """Export the spans the instrumentation's provider still holds (an SDK's `force_flush`)."""
    hooks = _instrument.hooks
    flush = getattr(hooks.provider, "force_flush", None) if isinstance(hooks, _Tracing) else None
    if flush is not None:
        flush()


class _RequestSpan:
    """The span of one model request; retries in the transport become its events."""

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def retry(self, attempt: int, error: BaseException, wait: float) -> None:
        attributes: dict[str, Any] = {
            "agentkit.retry.attempt": attempt,
            "agentkit.retry.wait_seconds": round(wait, 3),
            "error.type": type(error).__name__,
        }
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            attributes["http.response.status_code"] = status
        self.span.add_event("agentkit.retry", attributes)


class _RunTrace:
    """One run: its `invoke_agent` span and the children of each step."""

    def __init__(self, tracing: _Tracing, agent: Agent[Any], config: RunConfig) -> None:
        self.tracer = tracing.tracer
        self.content = tracing.record_content
        self.model = config.plan.model.name  # the run's: it may override the agent's
        self.base: dict[str, Any] = {
            "gen_ai.provider.name": "openai",  # the wire format: OpenAI chat completions
            "gen_ai.request.model": self.model,
        }
        url = urllib.parse.urlsplit(agent.client.base_url or _DEFAULT_BASE_URL)
        if url.hostname:  # never the userinfo part of a URL
            self.base["server.address"] = url.hostname
            self.base["server.port"] = url.port or (443 if url.scheme == "https" else 80)
        settings = config.settings
        self.request: dict[str, Any] = {
            key: value
            for key, value in (
                ("gen_ai.request.temperature", settings.temperature),
                ("gen_ai.request.top_p", settings.top_p),
                ("gen_ai.request.max_tokens", settings.max_tokens),
                ("gen_ai.request.presence_penalty", settings.presence_penalty),
                ("gen_ai.request.frequency_penalty", settings.frequency_penalty),
                ("gen_ai.request.seed", settings.seed),
                (
                    "gen_ai.request.stop_sequences",
                    [settings.stop] if isinstance(settings.stop, str) else settings.stop,
                ),
            )
            if value is not None
        }
        self.span = self.tracer.start_span(
            "invoke_agent",
            kind=SpanKind.INTERNAL,
            attributes={"gen_ai.operation.name": "invoke_agent", **self.base},
        )
        self.parent = trace.set_span_in_context(self.span)

    def follow(
        self, flow: Generator[Action, Any, RunResult[Any]]
    ) -> Generator[Action, Any, RunResult[Any]]:
        """Pass every action and outcome between the loop and the driver, and trace them."""
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                action = flow.send(sent) if thrown is None else flow.throw(thrown)
            except StopIteration as stop:
                self.finish(stop.value)
                return stop.value  # type: ignore[no-any-return]
            except BaseException as error:
                self.fail(self.span, error)
                self.span.end()
                raise
            step = self.start_step(action)
            try:
                sent, thrown = (yield action), None
            except GeneratorExit:  # the caller dropped a stream half-way
                if step is not None:
                    step.abandon()
                flow.close()
                self.span.set_attribute("error.type", "cancelled")
                self.span.end()
                raise
            except BaseException as error:  # an API error the driver throws in
                sent, thrown = None, error
            if step is not None:
                step.end(sent, thrown)

    def start_step(self, action: Action) -> _Step | None:
        if isinstance(action, CallModel):
            return _ChatStep(self, action)
        if isinstance(action, RunTools):
            return _ToolsStep(self, action.calls)
        return None

    def finish(self, result: RunResult[Any]) -> None:
        usage, span = result.usage, self.span
        _set_usage(span, usage.prompt_tokens, usage.completion_tokens)
        if result.finish_reason is not None:
            span.set_attribute("gen_ai.response.finish_reasons", [result.finish_reason])
        if self.content:
            span.set_attribute("gen_ai.output.messages", _messages_json(result.messages[-1:]))
        span.end()

    def fail(self, span: trace.Span, error: BaseException) -> None:
        span.set_attribute("error.type", type(error).__name__)
        detail = str(error) if self.content else None  # error texts may quote the chat
        span.set_status(Status(StatusCode.ERROR, detail))


class _Step:
    def end(self, sent: Any, thrown: BaseException | None) -> None:
        raise NotImplementedError

    def abandon(self) -> None:
        raise NotImplementedError


class _ChatStep(_Step):
    """A `chat {model}` span while the driver sends the request."""

    def __init__(self, run: _RunTrace, action: CallModel) -> None:
        self.run = run
        attributes = {"gen_ai.operation.name": "chat", **run.base, **run.request}
        if run.content:
            attributes["gen_ai.input.messages"] = _messages_json(action.messages)
        self.span = run.tracer.start_span(
            f"chat {run.model}", context=run.parent, kind=SpanKind.CLIENT, attributes=attributes
        )
        _instrument.current_request.set(_RequestSpan(self.span))

    def end(self, sent: Any, thrown: BaseException | None) -> None:
        _instrument.current_request.set(None)
        span = self.span
        if thrown is not None:
            self.run.fail(span, thrown)
        elif isinstance(sent, ModelResponse):
            if sent.finish_reason is not None:
                span.set_attribute("gen_ai.response.finish_reasons", [sent.finish_reason])
            if sent.model:
                span.set_attribute("gen_ai.response.model", sent.model)
            if sent.id:
                span.set_attribute("gen_ai.response.id", sent.id)
            _set_usage(span, sent.usage.prompt_tokens, sent.usage.completion_tokens)
            if self.run.content:
                span.set_attribute("gen_ai.output.messages", _messages_json([sent.message]))
        span.end()

    def abandon(self) -> None:
        _instrument.current_request.set(None)
        self.span.set_attribute("error.type", "cancelled")
        self.span.end()


class _ToolsStep(_Step):
    """An `execute_tool {name}` span per call of one reply, ended with its outcome.

    With one call the span is made current while it runs, so what the tool traces itself
    (an HTTP client, a database) nests under it. Several calls run concurrently, each
    with its own span but none current.
    """

    def __init__(self, run: _RunTrace, calls: Sequence[PlannedCall]) -> None:
        self.run = run
        self.calls = calls
        self.started = time.time_ns()
        self.spans = [self._start(planned) for planned in calls]
        self.token = None
        if len(self.spans) == 1:
            self.token = otel_context.attach(trace.set_span_in_context(self.spans[0]))

    def _start(self, planned: PlannedCall) -> trace.Span:
        tool = planned.tool
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool.name,
            "gen_ai.tool.type": "function",
        }
        if planned.call.id is not None:
            attributes["gen_ai.tool.call.id"] = planned.call.id
        if tool.description:
            attributes["gen_ai.tool.description"] = tool.description
        if self.run.content:
            attributes["gen_ai.tool.call.arguments"] = planned.call.arguments
        return self.run.tracer.start_span(
            f"execute_tool {tool.name}",
            context=self.run.parent,
            kind=SpanKind.INTERNAL,
            attributes=attributes,
            start_time=self.started,
        )

    def _detach(self) -> None:
        if self.token is not None:
            otel_context.detach(self.token)
            self.token = None

    def end(self, sent: Any, thrown: BaseException | None) -> None:
        self._detach()
        outcomes: Sequence[Any] = sent if thrown is None and sent is not None else ()
        for index, span in enumerate(self.spans):
            outcome = outcomes[index] if index < len(outcomes) else None
            if not isinstance(outcome, ToolOutcome):
                self.run.fail(span, thrown or RuntimeError("no outcome"))
                span.end()
                continue
            if outcome.error is not None:
                self.run.fail(span, outcome.error)
            elif self.run.content:
                span.set_attribute("gen_ai.tool.call.result", format_result(outcome.value))
            span.end(end_time=self.started + int(outcome.seconds * 1e9))

    def abandon(self) -> None:
        self._detach()
        for span in self.spans:
            span.set_attribute("error.type", "cancelled")
            span.end()


def _set_usage(span: trace.Span, prompt: int | None, completion: int | None) -> None:
    if prompt is not None:
        span.set_attribute("gen_ai.usage.input_tokens", prompt)
    if completion is not None:
        span.set_attribute("gen_ai.usage.output_tokens", completion)


def _parts(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """A message as the semantic conventions' role and parts."""
    if isinstance(message, SystemMessage):
        return "system", [{"type": "text", "content": message.content}]
    if isinstance(message, UserMessage):
        if isinstance(message.content, str):
            return "user", [{"type": "text", "content": message.content}]
        return "user", [
            {"type": "text", "content": part.text}
            if isinstance(part, TextPart)
            else {"type": "uri", "modality": "image", "uri": _short_uri(part.url)}
            for part in message.content
        ]
    if isinstance(message, AssistantMessage):
        parts: list[dict[str, Any]] = []
        if message.content:
            parts.append({"type": "text", "content": message.content})
        parts += [
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
            for call in message.calls
        ]
        return "assistant", parts
    assert isinstance(message, ToolResult)  # noqa: S101  (the union is closed)
    response = {"type": "tool_call_response", "id": message.call_id, "result": message.content}
    return "tool", [response]


def _short_uri(url: str) -> str:
    """An image's URL, but not the bytes of a `data:` URL."""
    return url.split(",", 1)[0] + ",..." if url.startswith("data:") else url


def _messages_json(messages: Sequence[Message]) -> str:
    shaped = []
    for message in messages:
        role, parts = _parts(message)
        shaped.append({"role": role, "parts": parts})
    return json.dumps(shaped, ensure_ascii=False, separators=(",", ":"))
