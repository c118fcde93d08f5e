"""Test your agents without a network: a scripted GoAPI that speaks the exact wire format.

```python
import httpx
from agentkit import Agent, ChatClient
from agentkit.testing import Reply, ScriptedGoAPI

goapi = ScriptedGoAPI([Reply.call("get_current_weather", {"location": "Boston"}),
                       Reply.text("It is sunny in Boston.")])
client = ChatClient(api_key="test", base_url="http://goapi.test/v1",
                    http_client=httpx.Client(transport=goapi))
agent = Agent("gpt-3.5-turbo", tools=[get_current_weather], client=client)
assert agent.run("Weather in Boston?").output == "It is sunny in Boston."
goapi.assert_complete()
```

- `Reply` scripts one answer (text, a call, parallel calls, a refusal), with the quirks real
  servers and proxies produce (ping lines, CRLF, `data:` without a space, repeated roles, tool
  indexes not starting at 0, content as typed parts, empty placeholders, calls without an
  index, ...) and stream faults (a cut stream, an error event, a stall).
- `Fault` scripts an error response (JSON errors, a Cloudflare HTML page, 429s with
  `Retry-After`, a dropped connection).
- `DemoModel` is a deterministic stand-in for a model: it calls the offered function that
  fits the prompt, then answers with the result.
- `ScriptedGoAPI` is an httpx transport for sync and async clients; `LoopbackServer` serves
  the same scripts on a real socket (timeouts, stalls, resets, many connections).
- `DemoServices` answers the ready tools' web services (weather, search) with demo data.
- `offline()` is all of it at once: the demo model on a loopback server, the demo services,
  and no network (what the examples and `agentkit run --offline` use).
- `block_network()` makes any connection beyond this machine fail.

This module is independent of agentkit's own wire code on purpose: it is the oracle that code
is tested against.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

import httpx

from ._demo_services import DemoServices
from ._netguard import NetworkBlockedError, block_network
from ._strict import CHAT_PATH, Rejection, check_request

__all__ = [
    "DemoModel",
    "DemoServices",
    "Fault",
    "LoopbackServer",
    "NetworkBlockedError",
    "Reply",
    "ScriptError",
    "ScriptedGoAPI",
    "block_network",
    "offline",
]

_CREATED = 1_700_000_000
_QUIRKS = frozenset(
    {
        "ping",
        "crlf",
        "no_space",
        "repeat_role",
        "index_offset",
        "dup_first",
        "null_names",
        "no_done",
        # the shapes of other OpenAI-compatible servers (docs/pages/goapi.md, "Other servers")
        "content_parts",
        "placeholders",
        "no_index",
        "null_index",
        "groq_usage",
        "ping_event",
    }
)


class ScriptError(AssertionError):
    """The script and the requests do not fit: it ran out, or an entry cannot be served."""


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the model: `Reply.text`, `.call`, `.parallel` or `.refuse`.

    The wire style follows the request: a request with `functions` gets a legacy
    `function_call` back, one with `tools` gets `tool_calls` with ids.

    Attributes:
        content: The text of the answer.
        calls: `(name, raw JSON arguments)` pairs.
        finish_reason: Sent as is when set (to script lying servers); else derived.
        usage: `(prompt_tokens, completion_tokens)`; `"auto"` estimates both; `None` sends
            none.
        chunk_size: Characters of text or arguments per stream chunk.
        quirks: Oddities of real servers to reproduce in the stream (see `with_quirks`).
        refusal: The model's refusal (`message.refusal`, streamed as `delta.refusal`).
        reasoning: The model's thinking: a thinking part with the `content_parts` quirk, else
            `reasoning_content` (as DeepSeek sends it).
        cut_after: End the stream after this many data events (no finish, no `[DONE]`).
        error_after: Send an `{"error": ...}` event after this many data events, then end.
        error_beside_choices: The error event also carries `choices` with
            `finish_reason: "error"` (as OpenRouter sends it); a non-streamed answer gets the
            `error` object beside its choices.
        stall: Seconds to wait before the response starts.
        stall_after: `(events, seconds)`: wait this long after that many events.
        read_size: Bytes per network read of the stream body (tests split reads anywhere).
    """

    content: str | None = None
    calls: tuple[tuple[str, str], ...] = ()
    finish_reason: str | None = None
    usage: tuple[int, int] | str | None = "auto"
    chunk_size: int = 16
    quirks: frozenset[str] = frozenset()
    refusal: str | None = None
    reasoning: str | None = None
    cut_after: int | None = None
    error_after: int | None = None
    error_beside_choices: bool = False
    stall: float = 0.0
    stall_after: tuple[int, float] | None = None
    read_size: int | None = None

    @classmethod
    def text(cls, content: str, **options: Any) -> Reply:
        """A text answer."""
        return cls(content=content, **options)

    @classmethod
    def refuse(cls, refusal: str, **options: Any) -> Reply:
        """The model declines: `refusal` set, no content (the run ends with `ModelRefusal`)."""
        return cls(refusal=refusal, **options)

    @classmethod
    def call(cls, name: str, arguments: Mapping[str, Any] | str = "", **options: Any) -> Reply:
        """One function call; `arguments` as a dict, or a raw (possibly invalid) string."""
        return cls(calls=((name, _raw(arguments)),), **options)

    @classmethod
    def parallel(
        cls, calls: Sequence[tuple[str, Mapping[str, Any] | str]], **options: Any
    ) -> Reply:
        """Parallel function calls in one reply (the `tools` style)."""
        return cls(calls=tuple((name, _raw(args)) for name, args in calls), **options)

    def with_finish_reason(self, finish_reason: str) -> Reply:
        """The same answer with another `finish_reason`."""
        return replace(self, finish_reason=finish_reason)

    def with_usage(self, prompt_tokens: int | None, completion_tokens: int = 0) -> Reply:
        """The same answer reporting this usage (`None`: report no usage)."""
        usage = None if prompt_tokens is None else (prompt_tokens, completion_tokens)
        return replace(self, usage=usage)

    def with_quirks(self, *quirks: str) -> Reply:
        """The same answer with stream oddities real servers produce.

        `ping` comment lines, `crlf` line ends, `no_space` after `data:`, `repeat_role` in
        every delta, `index_offset` (tool indexes from 3), `dup_first` (two entries for one
        index in a chunk), `null_names` ("null" names on later fragments), `no_done` (no
        `[DONE]`).

        The shapes of other OpenAI-compatible servers, in streamed and non-streamed answers:
        `content_parts` (content as a list of typed parts, with a thinking part for
        `reasoning`; Mistral), `placeholders` (empty `function_call`, `tool_calls: []` and
        `finish_reason: ""` wherever nothing is meant), `no_index` / `null_index` (streamed
        tool calls without an `index`, or `"index": null`; Gemini), `groq_usage` (usage
        under `x_groq.usage` in the last chunk), `ping_event` (`event: ping` events without
        data).
        """
        unknown = set(quirks) - _QUIRKS
        if unknown:
            raise ValueError(f"unknown quirks {sorted(unknown)}; known: {sorted(_QUIRKS)}")
        return replace(self, quirks=self.quirks | frozenset(quirks))

    def cut(self, after_events: int) -> Reply:
        """End the stream after `after_events` data events, with no finish and no `[DONE]`."""
        return replace(self, cut_after=after_events)

    def with_error_event(self, after_events: int, *, beside_choices: bool = False) -> Reply:
        """Send a `data: {"error": ...}` event after `after_events` events, then end.

        With `beside_choices`, the event also carries `choices` ending with
        `finish_reason: "error"`, as OpenRouter's are (and a non-streamed answer carries the
        `error` object beside its choices).
        """
        return replace(self, error_after=after_events, error_beside_choices=beside_choices)


def _raw(arguments: Mapping[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


@dataclass(frozen=True)
class Fault:
    """A scripted failure: an error response, or a dropped connection."""

    status: int = 500
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    disconnect: bool = False

    @classmethod
    def json_error(
        cls,
        status: int,
        message: str,
        type: str | None = None,
        code: str | int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """An OpenAI-shaped error body: `{"error": {"message", "type", "param", "code"}}`."""
        error = {"message": message, "type": type, "param": None, "code": code}
        return cls(
            status,
            json.dumps({"error": error}).encode(),
            (("content-type", "application/json"), *(headers or {}).items()),
        )

    @classmethod
    def rate_limit(
        cls, retry_after: float | str | None = None, retry_after_ms: float | None = None
    ) -> Fault:
        """A 429 rate limit, with `Retry-After` (seconds or an HTTP date) / `retry-after-ms`."""
        headers = {}
        if retry_after is not None:
            headers["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        return cls.json_error(
            429, "Rate limit reached for requests", "requests", "rate_limit_exceeded", headers
        )

    @classmethod
    def insufficient_quota(cls) -> Fault:
        """A 429 that means no credit is left (not to be retried)."""
        return cls.json_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        )

    @classmethod
    def cloudflare(cls, status: int = 524, ray: str = "8a1b2c3d4e5f6a7b-SJC") -> Fault:
        """Cloudflare's HTML error page, as it replaces a response that took too long."""
        titles = {
            520: "Web server is returning an unknown error",
            521: "Web server is down",
            522: "Connection timed out",
            523: "Origin is unreachable",
            524: "A timeout occurred",
        }
        title = titles.get(status, "Bad gateway")
        page = (
            '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n'
            f"<title>api.goapi.xyz | {status}: {title}</title>\n</head>\n<body>\n"
            f"<h1>{title}</h1><p>Error code {status}</p>\n"
            f"<p>Cloudflare Ray ID: <strong>{ray.split('-')[0]}</strong></p>\n</body>\n</html>\n"
        )
        return cls(
            status,
            page.encode(),
            (
                ("content-type", "text/html; charset=UTF-8"),
                ("server", "cloudflare"),
                ("cf-ray", ray),
            ),
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A JSON 5xx error."""
        return cls.json_error(
            status, "The server had an error while processing your request.", "server_error"
        )

    @classmethod
    def dropped(cls) -> Fault:
        """The connection closes before any response (a connection error)."""
        return cls(disconnect=True)


Entry: TypeAlias = "Reply | Fault"
Script: TypeAlias = "Sequence[Reply | Fault] | Callable[[dict[str, Any]], Reply | Fault]"


# ----------------------------------------------------------------------- the demo model

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://[^\s\"'<>]+")
_SUM = re.compile(r"[\d(][\d\s.+\-*/%()^]*[\d)]")
_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+")
_PLACE = re.compile(r"\b(?:in|at|for|near)\s+([A-Z][\w'.-]*(?:[ ,]+[A-Z][\w'.-]*)*)")


class DemoModel:
    """A deterministic stand-in for a chat model, for offline demos and benchmarks.

    - With functions offered and a user message last, it calls the offered function whose
      name and description share the most words with the message, with arguments made from
      the message: a place name (`... in Boston?`) for string parameters that look like
      places, a URL for `url`, an email address for `email`, the arithmetic in the message
      for `expression`, a capitalised full name for `name`, the message itself for other
      strings, the first enum value, `1` for numbers, `true` for booleans, empty lists and
      objects.
    - With a function result last, it answers with that result.
    - Otherwise it says what it is.

    Examples:
        >>> DemoModel()({"messages": [{"role": "user", "content": "Hi"}]}).content[:27]
        "I am agentkit's offline dem"
    """

    def __call__(self, body: dict[str, Any]) -> Reply:
        """Answer one request body."""
        messages = body.get("messages") or [{}]
        last = messages[-1]
        functions = [t["function"] for t in body.get("tools", [])] or body.get("functions", [])
        if last.get("role") in ("tool", "function"):
            return Reply.text(f"Here is what I found: {last.get('content', '')}")
        text = _text_of(last.get("content"))
        if functions and last.get("role") == "user":
            chosen = max(functions, key=lambda f: _overlap(text, f))
            return Reply.call(chosen["name"], _arguments_for(chosen.get("parameters", {}), text))
        return Reply.text(
            "I am agentkit's offline demo model. Set GOAPI_KEY to talk to a real one. "
            f"You said: {text}"
        )


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) > 2}


def _overlap(text: str, function: Mapping[str, Any]) -> int:
    about = f"{function.get('name', '')} {function.get('description', '')}".replace("_", " ")
    return len(_words(text) & _words(about))


def _arguments_for(parameters: Mapping[str, Any], text: str) -> dict[str, Any]:
    place = _PLACE.search(text)
    arguments: dict[str, Any] = {}
    for name in parameters.get("required", []):
        schema = parameters.get("properties", {}).get(name, {})
        kind = schema.get("type")
        if "enum" in schema:
            arguments[name] = schema["enum"][0]
        elif kind in ("integer", "number"):
            arguments[name] = 1
        elif kind == "boolean":
            arguments[name] = True
        elif kind == "array":
            arguments[name] = []
        elif kind == "object":
            arguments[name] = {}
        elif place and any(w in name for w in ("location", "place", "city", "where")):
            arguments[name] = place.group(1).rstrip(" ,.")
        elif "url" in name and (url := _URL.search(text)):
            arguments[name] = url.group(0).rstrip(".,;:!?)")
        elif "email" in name and (email := _EMAIL.search(text)):
            arguments[name] = email.group(0)
        elif any(w in name for w in ("expression", "formula")) and (sums := _SUM.findall(text)):
            arguments[name] = max(sums, key=len).strip()
        elif name == "name" and (person := _NAME.search(text)):
            arguments[name] = person.group(0)
        else:
            arguments[name] = text
    return arguments


# ----------------------------------------------------------------------- wire rendering


class _Renderer:
    """Turns a request body and a `Reply` into GoAPI's JSON or SSE bytes."""

    def __init__(self, body: dict[str, Any], reply: Reply, number: int) -> None:
        self.body = body
        self.reply = reply
        self.id = f"chatcmpl-{number:029d}"
        self.model = str(body.get("model", "gpt-3.5-turbo"))
        self.legacy = "functions" in body or ("tools" not in body and "function_call" in body)
        if self.legacy and len(reply.calls) > 1:
            raise ScriptError(
                f"a Reply with {len(reply.calls)} calls cannot answer a request in the legacy "
                "functions style (one call per reply); use a tools-style model"
            )
        self.call_ids = [f"call_{number:04d}{i:020d}" for i in range(len(reply.calls))]

    def finish_reason(self) -> str:
        if self.reply.finish_reason is not None:
            return self.reply.finish_reason
        if self.reply.calls:
            return "function_call" if self.legacy else "tool_calls"
        return "stop"

    def usage(self) -> dict[str, int] | None:
        usage = self.reply.usage
        if usage is None:
            return None
        if isinstance(usage, tuple):
            prompt_tokens, completion_tokens = usage
        else:  # "auto": about four characters a token
            prompt_tokens = len(json.dumps(self.body.get("messages", []))) // 4 + 1
            out = len(self.reply.content or "") + sum(len(n) + len(a) for n, a in self.reply.calls)
            completion_tokens = out // 4 + 1
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def envelope(self, obj: str) -> dict[str, Any]:
        return {"id": self.id, "object": obj, "created": _CREATED, "model": self.model}

    def completion(self) -> dict[str, Any]:
        reply, quirks = self.reply, self.reply.quirks
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if "content_parts" in quirks:
            message["content"] = self.parts(reply.reasoning, reply.content) or None
        elif reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        if reply.calls and self.legacy:
            name, arguments = reply.calls[0]
            message["function_call"] = {"name": name, "arguments": arguments}
        elif reply.calls:
            message["tool_calls"] = [
                {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
                for i, (n, a) in zip(self.call_ids, reply.calls, strict=True)
            ]
        if "placeholders" in quirks:
            message = {**self.placeholders(), **message}
        body = self.envelope("chat.completion")
        body["choices"] = [{"index": 0, "message": message, "finish_reason": self.finish_reason()}]
        if reply.error_beside_choices:
            body["error"] = self.error()
        usage = self.usage()
        if usage is not None:
            body["usage"] = usage
        return body

    @staticmethod
    def parts(thinking: str | None, text: str | None) -> list[dict[str, Any]]:
        """Content as typed parts, as Mistral's reasoning models send it."""
        parts: list[dict[str, Any]] = []
        if thinking:
            parts.append({"type": "thinking", "thinking": [{"type": "text", "text": thinking}]})
        if text:
            parts.append({"type": "text", "text": text})
        return parts

    @staticmethod
    def placeholders() -> dict[str, Any]:
        """Every call field, filled with an empty value (some servers always send them)."""
        return {"function_call": {"name": "", "arguments": ""}, "tool_calls": []}

    @staticmethod
    def error() -> dict[str, Any]:
        return {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        quirks = self.reply.quirks
        if "repeat_role" in quirks:
            delta = {"role": "assistant", **delta}
        if "placeholders" in quirks:
            delta = {**self.placeholders(), **delta}
            finish = finish or ""
        chunk = self.envelope("chat.completion.chunk")
        chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
        return chunk

    def pieces(self, text: str) -> list[str]:
        size = max(self.reply.chunk_size, 1)
        return [text[i : i + size] for i in range(0, len(text), size)] or [""]

    def chunks(self) -> list[dict[str, Any]]:
        reply, quirks = self.reply, self.reply.quirks
        chunks = [self.chunk({"role": "assistant", "content": ""})]
        parts = "content_parts" in quirks
        if reply.reasoning:
            for piece in self.pieces(reply.reasoning):
                delta: dict[str, Any] = {"reasoning_content": piece}
                if parts:
                    delta = {"content": self.parts(piece, None)}
                chunks.append(self.chunk(delta))
        if reply.content:
            chunks += [
                self.chunk({"content": self.parts(None, piece) if parts else piece})
                for piece in self.pieces(reply.content)
            ]
        if reply.refusal:
            chunks += [self.chunk({"refusal": piece}) for piece in self.pieces(reply.refusal)]
        offset = 3 if "index_offset" in quirks else 0
        for position, (name, arguments) in enumerate(reply.calls):
            fragments = self.pieces(arguments)
            if self.legacy:
                chunks.append(self.chunk({"function_call": {"name": name, "arguments": ""}}))
                chunks += [self.chunk({"function_call": {"arguments": f}}) for f in fragments]
                continue
            index: int | None = position + offset
            if "null_index" in quirks:
                index = None
            first = {"id": self.call_ids[position], "type": "function"}
            head = {"index": index, **first, "function": {"name": name, "arguments": ""}}
            if "dup_first" in quirks:
                extra = {"index": index, "function": {"arguments": fragments[0]}}
                chunks.append(self.chunk({"tool_calls": [head, extra]}))
                fragments = fragments[1:]
            else:
                chunks.append(self.chunk({"tool_calls": [head]}))
            for fragment in fragments:
                function = {"arguments": fragment}
                if "null_names" in quirks:
                    function = {"name": "null", **function}
                chunks.append(self.chunk({"tool_calls": [{"index": index, "function": function}]}))
        if "no_index" in quirks:
            for chunk in chunks:
                for entry in chunk["choices"][0]["delta"].get("tool_calls") or ():
                    del entry["index"]
        chunks.append(self.chunk({}, self.finish_reason()))
        options = self.body.get("stream_options") or {}
        usage = self.usage()
        if "groq_usage" in quirks:
            if usage is not None:
                chunks[-1]["x_groq"] = {"id": "req_groq", "usage": usage}
        elif options.get("include_usage") and usage is not None:
            final = self.envelope("chat.completion.chunk")
            final.update(choices=[], usage=usage)
            chunks.append(final)
        return chunks

    def events(self) -> list[bytes | float]:
        """The stream as SSE byte events, with stall markers (floats: seconds to wait)."""
        reply, quirks = self.reply, self.reply.quirks
        prefix = b"data:" if "no_space" in quirks else b"data: "
        end = b"\r\n" if "crlf" in quirks else b"\n"
        out: list[bytes | float] = []
        chunks = self.chunks()
        for number, chunk in enumerate(chunks):
            if reply.cut_after is not None and number >= reply.cut_after:
                return out
            if reply.error_after is not None and number >= reply.error_after:
                event: dict[str, Any] = {"error": self.error()}
                if reply.error_beside_choices:
                    event = {**self.chunk({"content": ""}, "error"), **event}
                out.append(prefix + json.dumps(event).encode() + end + end)
                return out
            if reply.stall_after is not None and number == reply.stall_after[0]:
                out.append(reply.stall_after[1])
            if "ping" in quirks:
                out.append(b": ping" + end + end)
            if "ping_event" in quirks:
                out.append(b"event: ping" + end + end)
            out.append(prefix + json.dumps(chunk, ensure_ascii=False).encode() + end + end)
        if "no_done" not in quirks:
            out.append(prefix + b"[DONE]" + end + end)
        return out


def _split(events: list[bytes | float], read_size: int | None) -> list[bytes | float]:
    """Re-cut the byte events into reads of `read_size` bytes (stall markers kept)."""
    if read_size is None:
        return events
    out: list[bytes | float] = []
    buffer = b""
    for event in events:
        if isinstance(event, float):
            out += [buffer[i : i + read_size] for i in range(0, len(buffer), read_size)]
            out.append(event)
            buffer = b""
        else:
            buffer += event
    out += [buffer[i : i + read_size] for i in range(0, len(buffer), read_size)]
    return out


# ----------------------------------------------------------------------- the script


class _Script:
    """What the server will do next, and what it was asked (thread-safe)."""

    def __init__(self, script: Script, strict: bool = True) -> None:
        self.strict = strict
        self.rejected: list[tuple[int, str]] = []
        self._entries: list[Entry] | None = None if callable(script) else list(script)
        self._answer = script if callable(script) else None
        self._used = 0
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.errors: list[str] = []

    def next(self, body: dict[str, Any], headers: Mapping[str, str]) -> tuple[Entry, int]:
        with self._lock:
            self.requests.append(body)
            self.headers.append(dict(headers))
            number = len(self.requests)
            if self._answer is not None:
                return self._answer(body), number
            assert self._entries is not None  # noqa: S101 - one of the two is set
            if self._used >= len(self._entries):
                message = (
                    f"the script has {len(self._entries)} entries but request {number} came; "
                    f"last message: {json.dumps((body.get('messages') or [None])[-1])[:200]}"
                )
                self.errors.append(message)
                raise ScriptError(message)
            self._used += 1
            return self._entries[self._used - 1], number

    def assert_complete(self) -> None:
        if self.errors:
            raise ScriptError("; ".join(self.errors))
        if self._entries is not None and self._used < len(self._entries):
            raise ScriptError(
                f"{len(self._entries) - self._used} of {len(self._entries)} scripted entries "
                f"were never requested: {self._entries[self._used :]!r}"[:500]
            )


def _parse(content: bytes) -> dict[str, Any]:
    try:
        body = json.loads(content or b"{}")
    except json.JSONDecodeError as error:
        raise ScriptError(f"the request body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise ScriptError("the request body is not a JSON object")
    return body


def _plan(
    script: _Script,
    content: bytes,
    headers: Mapping[str, str],
    method: str = "POST",
    path: str = CHAT_PATH,
) -> tuple[int, list[tuple[str, str]], list[bytes | float], float, bool]:
    """(status, headers, body pieces, stall before start, disconnect) for one request."""
    if script.strict:  # refused as the real API would, before the script sees it
        checked = check_request(method, path, headers, content)
        if isinstance(checked, Rejection):
            with script._lock:
                script.rejected.append((checked.status, checked.message))
            return (
                checked.status,
                [("content-type", "application/json")],
                [checked.body()],
                0.0,
                False,
            )
        body = checked
    else:
        body = _parse(content)
    entry, number = script.next(body, headers)
    if isinstance(entry, Fault):
        return entry.status, list(entry.headers), [entry.body], 0.0, entry.disconnect
    renderer = _Renderer(body, entry, number)
    request_id = [("x-request-id", f"req_{number:08d}")]
    if body.get("stream"):
        pieces = _split(renderer.events(), entry.read_size)
        return 200, [("content-type", "text/event-stream"), *request_id], pieces, entry.stall, False
    payload = json.dumps(renderer.completion(), ensure_ascii=False).encode()
    return 200, [("content-type", "application/json"), *request_id], [payload], entry.stall, False


class ScriptedGoAPI(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """A chat-completions server in an httpx transport, for sync and async clients alike.

    Args:
        script: The entries to serve in order (`Reply`, `Fault`), or a callable that answers
            each request body (such as `DemoModel()`).
        strict: Refuse what the real API refuses, before the script sees it: 404 for any
            method or path but `POST /v1/chat/completions`, 401 without `Authorization:
            Bearer <key>`, 400 for a body that is not valid under the chat-completions request
            schema (the message names the field) or a `tool` message that answers no call.
            `strict=False` serves anything (for testing odd servers).

    Stalls do not sleep: a stall longer than the request's read timeout raises
    `httpx.ReadTimeout` at once, as the socket would have; a shorter one passes instantly.
    Use `LoopbackServer` for real waiting.
    """

    def __init__(self, script: Script, *, strict: bool = True) -> None:
        self._script = _Script(script, strict)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body the script answered, parsed, in order."""
        return self._script.requests

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """`(status, message)` of every request refused by the strict checks, in order."""
        return self._script.rejected

    @property
    def headers(self) -> list[dict[str, str]]:
        """Every request's headers, in order."""
        return self._script.headers

    def assert_complete(self) -> None:
        """Fail if scripted entries were never requested, or a request found none."""
        self._script.assert_complete()

    def _respond(
        self, request: httpx.Request, content: bytes
    ) -> tuple[int, list[tuple[str, str]], list[bytes]]:
        status, headers, pieces, stall, disconnect = _plan(
            self._script, content, request.headers, request.method, request.url.raw_path.decode()
        )
        if disconnect:
            raise httpx.ConnectError("scripted: the connection was dropped", request=request)
        read = (request.extensions.get("timeout") or {}).get("read")
        if read is not None and stall >= read:
            raise httpx.ReadTimeout("scripted: no first byte in time", request=request)
        out: list[bytes] = []
        for piece in pieces:
            if isinstance(piece, float):
                if read is not None and piece >= read:
                    out.append(b"\x00TIMEOUT")
                    break
                continue
            out.append(piece)
        return status, headers, out

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Serve a sync client's request."""
        status, headers, pieces = self._respond(request, request.read())
        return httpx.Response(
            status, headers=headers, stream=_SyncBody(pieces, request), request=request
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve an async client's request."""
        status, headers, pieces = self._respond(request, await request.aread())
        return httpx.Response(
            status, headers=headers, stream=_AsyncBody(pieces, request), request=request
        )


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, pieces: list[bytes], request: httpx.Request) -> None:
        self.pieces, self.request = pieces, request

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.pieces:
            if piece == b"\x00TIMEOUT":
                raise httpx.ReadTimeout("scripted: the stream stalled", request=self.request)
            yield piece


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, pieces: list[bytes], request: httpx.Request) -> None:
        self.pieces, self.request = pieces, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if piece == b"\x00TIMEOUT":
                raise httpx.ReadTimeout("scripted: the stream stalled", request=self.request)
            yield piece


# ----------------------------------------------------------------------- loopback server


class LoopbackServer:
    """The scripted server on a real socket at 127.0.0.1, in a background thread.

    Stalls really wait, so timeouts can be tested; `latency` is added before every response
    (for throughput benchmarks); connections are kept alive; a `Fault.dropped()` closes the
    connection without answering. `strict` checks requests as `ScriptedGoAPI` does.

    Examples:
        >>> with LoopbackServer([Reply.text("hi")]) as server:
        ...     r = httpx.post(f"{server.base_url}/chat/completions",
        ...                    headers={"Authorization": "Bearer sk-test"},
        ...                    json={"model": "gpt-4", "messages": [{"role": "user",
        ...                                                         "content": "Hello"}]})
        >>> r.json()["choices"][0]["message"]["content"]
        'hi'
    """

    def __init__(self, script: Script, *, latency: float = 0.0, strict: bool = True) -> None:
        self._script = _Script(script, strict)
        self.latency = latency
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="agentkit-loopback", daemon=True)
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        """The server's base URL, ending in `/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body the script answered, parsed, in order."""
        return self._script.requests

    @property
    def rejected(self) -> list[tuple[int, str]]:
        """`(status, message)` of every request refused by the strict checks, in order."""
        return self._script.rejected

    @property
    def headers(self) -> list[dict[str, str]]:
        """Every answered request's headers (names in lower case), in order."""
        return self._script.headers

    def assert_complete(self) -> None:
        """Fail if scripted entries were never requested, or a request found none."""
        self._script.assert_complete()

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the loopback server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and close every connection."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, "127.0.0.1", 0, limit=2**20, backlog=1024)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for writer in list(self._connections):
                writer.transport.abort()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only `close()` cancels: end quietly (asyncio would log the cancelled callback).
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; whether the connection stays open."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = ([*lines[0].split(" "), "", ""])[:2]
        headers = {
            k.strip().lower(): v.strip()
            for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        content = await reader.readexactly(int(headers.get("content-length", "0")))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            try:
                status, response_headers, pieces, stall, disconnect = _plan(
                    self._script, content, headers, method, path
                )
            except ScriptError as error:
                status, response_headers = 500, [("content-type", "text/plain")]
                pieces, stall, disconnect = [f"ScriptError: {error}".encode()], 0.0, False
            if disconnect:
                writer.transport.abort()
                return False
            await asyncio.sleep(self.latency + stall)
            streaming = any(v == "text/event-stream" for _, v in response_headers)
            data = [p for p in pieces if isinstance(p, bytes)]
            head_lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
            head_lines += [f"{k}: {v}" for k, v in response_headers]
            if streaming:
                head_lines.append("transfer-encoding: chunked")
            else:
                head_lines.append(f"content-length: {sum(len(p) for p in data)}")
            writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode())
            if not streaming:
                writer.write(b"".join(data))
                await writer.drain()
                return True
            for piece in pieces:
                if isinstance(piece, float):
                    await writer.drain()
                    await asyncio.sleep(piece)
                    continue
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        finally:
            self.in_flight -= 1


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# ----------------------------------------------------------------------- offline mode


@contextlib.contextmanager
def offline() -> Iterator[LoopbackServer]:
    """Run agents with nothing leaving this machine: a demo model and demo web services.

    Starts a `LoopbackServer` with the `DemoModel` (point an agent at its `base_url`, with any
    key), routes the ready tools' web services (`agentkit_tools`: weather, search) to
    `DemoServices`, and blocks every other connection beyond loopback while the block runs.
    Answers built from demo data say so: "(demo data)".

    Examples:
        >>> from agentkit import Agent
        >>> from agentkit_tools import get_current_weather
        >>> with offline() as server, Agent(tools=[get_current_weather],
        ...                                 base_url=server.base_url, api_key="offline") as agent:
        ...     print(agent.run("What is the weather like in Boston?").output)
        Here is what I found: Boston (demo data), Massachusetts, United States: 22°C, clear sky, ...
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(block_network("offline: nothing may leave this machine"))
        try:
            from agentkit_tools import use_transport
        except ImportError:  # pragma: no cover - installed with agentkit; a custom build may not
            pass
        else:
            stack.enter_context(use_transport(DemoServices()))
        yield stack.enter_context(LoopbackServer(DemoModel()))
