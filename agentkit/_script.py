"""The script vocabulary of the test kit and what a scripted server answers, in bytes.

`Reply` and `Fault` say what the server does next; `_plan` turns one request and the next
entry into a status, headers and body pieces (JSON or SSE, with the quirks real servers
produce), for `ScriptedGoAPI` and `LoopbackServer` alike (`agentkit.testing`). Like the rest of
the test kit, it is independent of agentkit's own wire code: it is the oracle that code is
tested against.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeAlias

from ._strict import CHAT_PATH, Rejection, check_request

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
