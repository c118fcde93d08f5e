"""What the server sends back, as domain values: answers, stream chunks, errors. No IO.

```
parse_response()      a `chat.completion` body    -> ModelResponse
ChunkAccumulator      `chat.completion.chunk`s    -> StreamDelta values, then ModelResponse
parse_error()         status + body + headers     -> the matching APIStatusError
retry_after()         headers                     -> seconds the server asked to wait
```

Servers differ here more than anywhere: beside GoAPI's shapes this reads content as typed
parts, reasoning fields, refusals, empty placeholders, errors inside chunks, usage in
`x_groq`, parallel calls without an index (`docs/pages/servers.md` lists them). Whatever
the shape, the result is a `ModelResponse` or an agentkit error, never a `TypeError`.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from ._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    GatewayError,
    InsufficientQuotaError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamEventError,
    TruncatedStreamError,
    UsageError,
)
from ._messages import (
    AssistantMessage,
    ModelResponse,
    StreamDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ._wire import _load_calls  # a reply's calls are read as a history's are, leniently

__all__ = ["ChunkAccumulator", "parse_error", "parse_response", "retry_after"]

# --------------------------------------------------------------------------- answers


def _usage(data: object) -> Usage:
    if not isinstance(data, Mapping):
        return Usage(requests=1, unreported_requests=1)
    prompt, completion = data.get("prompt_tokens"), data.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return Usage(requests=1, unreported_requests=1)
    return Usage(requests=1, prompt_tokens=prompt, completion_tokens=completion)


def parse_response(body: object) -> ModelResponse:
    """A non-streamed `chat.completion` body as a `ModelResponse`.

    Raises:
        ValueError: The body is not a chat completion (the client turns this into an error
            that quotes the body).
        APIStatusError: The body is an error object sent with a success status.
    """
    if not isinstance(body, Mapping):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    error = body.get("error")
    if error is not None or ("error" in body and "choices" not in body):
        raise parse_error(_error_status(error), json.dumps(body).encode(), {})
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ValueError("it has no 'choices'")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise ValueError("its first choice has no 'message'")
    reason = choice.get("finish_reason") or None  # "" is a placeholder, not a reason
    if reason == "error":
        raise InternalServerError(
            "The server ended its answer with finish_reason 'error' and no error message.",
            status_code=200,
            body=json.dumps(body)[:2000],
        )
    content, thinking, part_refusal = _split_content(message.get("content"))
    try:
        calls = _load_calls(message, "response", lenient=True)
    except UsageError as error:  # the server's reply is malformed, not the user's code
        raise ValueError(str(error)) from None
    refusal = _string(message, "refusal") or part_refusal
    if not content and (calls or refusal):
        content = None  # as a stream gives it: no text when there are only calls (or a refusal)
    reasoning = thinking or _string(message, "reasoning_content") or _string(message, "reasoning")
    reply = AssistantMessage(content, calls, refusal, reasoning)
    usage = _usage(body.get("usage"))
    return ModelResponse(reply, reason, usage, body.get("model"), body.get("id"))


def _string(data: Mapping[str, Any], key: str) -> str | None:
    """`data[key]` if it is a non-empty string, else `None`."""
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _split_content(content: object) -> tuple[str | None, str | None, str | None]:
    """`(text, thinking, refusal)` from a `content` field of any shape; never raises.

    A string is the text. A list of typed parts (Mistral's reasoning models send one) gives
    its `text` parts as the text, its `thinking`/`reasoning` parts (a string, or a list of
    text parts) as the thinking, and a `refusal` part as the refusal; other parts are
    skipped. Anything else has no text.

    Examples:
        >>> _split_content([{"type": "thinking", "thinking": [{"type": "text", "text": "2+2"}]},
        ...                 {"type": "text", "text": "4"}])
        ('4', '2+2', None)
    """
    if isinstance(content, str):
        return content, None, None
    if isinstance(content, Mapping):
        content = [content]
    if not isinstance(content, list):
        return None, None, None
    text: list[str] = []
    thinking: list[str] = []
    refusal: list[str] = []
    for part in content:
        if isinstance(part, str):
            text.append(part)
            continue
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text":
            _texts(part.get("text"), text)
        elif kind in ("thinking", "reasoning"):
            _texts(part.get(kind), thinking)
        elif kind == "refusal":
            _texts(part.get("refusal"), refusal)
    return "".join(text), "".join(thinking) or None, "".join(refusal) or None


def _texts(value: object, out: list[str]) -> None:
    """Append the text of `value` (a string, or a list of strings and text parts) to `out`."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get("text"), str):
                out.append(item["text"])


def _json_text(arguments: object) -> str:
    """Arguments sent as a JSON object (not a string, as some servers do) as their JSON text."""
    if isinstance(arguments, Mapping):
        return json.dumps(arguments, ensure_ascii=False)
    return ""


def _error_status(error: object) -> int:
    """The status an error object inside a 200 body stands for: its numeric `code`, or 500."""
    code = error.get("code") if isinstance(error, Mapping) else None
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return 500


_ABSENT_NAMES = frozenset({"", "null", None})


class _Call:
    __slots__ = ("arguments", "id", "name", "position")

    def __init__(self, position: int) -> None:
        self.position = position
        self.id: str | None = None
        self.name: str | None = None
        self.arguments: list[str] = []

    def whole(self) -> bool:
        """Whether the arguments so far are a complete JSON value (the call may be over)."""
        try:
            json.loads("".join(self.arguments))
        except ValueError:
            return False
        return True


_LEGACY = "function_call"  # the key of a legacy call among the calls by index


class ChunkAccumulator:
    """Turns the chunks of a stream into the reply a non-streamed request would have given.

    Feed each decoded `chat.completion.chunk` to `add()`, which returns the deltas it carries
    (for a live display); call `finish()` at the end of the stream.

    Tolerated, as real servers and proxies send them: `role` repeated in every delta;
    legacy `delta.function_call` (name first, arguments in fragments, no index);
    `delta.tool_calls` merged by `index` (indexes need not start at 0; `id` and `name` are
    first-wins and later `""`/`"null"` names are ignored; two entries for one index in a
    chunk are merged); usage in any chunk, also one with `choices: []`, or under
    `x_groq.usage` (Groq); `content` as a list of typed parts (its thinking parts become
    the message's `reasoning`, as `reasoning_content`/`reasoning` fields do); `refusal`;
    empty placeholders (`{"name": "", "arguments": ""}`, `finish_reason: ""`), which are
    no call and no reason; `arguments` sent as an object (kept as its JSON text).

    Parallel calls without an `index` (or `"index": null`, as Gemini and Mistral send
    them) are told apart by what starts a call: a new `id`, or a `name` once the previous
    call's arguments are complete JSON; other index-less fragments continue the last call.
    At one index, a new `id` starts a new call once the previous one's arguments are
    complete (servers that number every parallel call 0).

    An `error` object in a chunk (alone, or beside `choices`) or `finish_reason: "error"`
    ends the stream with `StreamEventError`, which carries the text so far.

    Examples:
        >>> acc = ChunkAccumulator()
        >>> acc.add({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]})
        [TextDelta(text='Hi')]
        >>> _ = acc.add({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        >>> acc.finish().message.content
        'Hi'
    """

    __slots__ = (
        "_by_index",
        "_calls",
        "_id",
        "_last",
        "_model",
        "_reasoning",
        "_refusal",
        "_text",
        "_usage",
        "finish_reason",
    )

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._refusal: list[str] = []
        self._calls: list[_Call] = []  # in the order they started
        self._by_index: dict[int | str, _Call] = {}  # wire index (or _LEGACY) -> latest call
        self._last: _Call | None = None  # the call the last tools-style fragment went to
        self._usage: object = None
        self._model: str | None = None
        self._id: str | None = None
        self.finish_reason: str | None = None
        """The `finish_reason` of the stream, once a chunk carried it."""

    def add(self, chunk: Mapping[str, Any]) -> list[StreamDelta]:
        """Take one chunk; return the deltas it carries.

        Raises:
            StreamEventError: The chunk carries an error, or `finish_reason: "error"`.
        """
        if self._id is None:
            self._id, self._model = chunk.get("id"), chunk.get("model")
        usage = chunk.get("usage")
        if usage:
            self._usage = usage
        elif "x_groq" in chunk:  # Groq's older streams
            extra = chunk["x_groq"]
            if isinstance(extra, Mapping) and extra.get("usage"):
                self._usage = extra["usage"]
        choices = chunk.get("choices")
        if not choices:
            if "error" in chunk:
                raise self._error(chunk["error"])
            return []
        deltas: list[StreamDelta] = []
        for choice in choices:
            if choice.get("index") not in (0, None):
                continue  # n > 1: only the first choice is kept
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = reason
            delta = choice.get("delta")
            if not delta:
                continue
            content = delta.get("content")
            if content:
                if not isinstance(content, str):
                    content = self._parts(content)
                if content:
                    self._text.append(content)
                    deltas.append(TextDelta(content))
            if content is None or len(delta) > 1:  # more than text: calls, reasoning, ...
                self._rest(delta, deltas)
        if "error" in chunk or self.finish_reason == "error":
            error = chunk.get("error")
            if error is not None or self.finish_reason == "error":
                raise self._error(error)
        return deltas

    def _parts(self, content: object) -> str | None:
        """The text of content given as typed parts; their thinking and refusal kept apart."""
        text, thinking, refusal = _split_content(content)
        if thinking:
            self._reasoning.append(thinking)
        if refusal:
            self._refusal.append(refusal)
        return text

    def _rest(self, delta: Mapping[str, Any], deltas: list[StreamDelta]) -> None:
        """What a delta carries beside its text: reasoning, a refusal, call fragments."""
        for field in ("reasoning_content", "reasoning", "refusal"):
            value = delta.get(field)
            if value and isinstance(value, str):
                (self._refusal if field == "refusal" else self._reasoning).append(value)
        legacy = delta.get("function_call")
        if legacy:
            self._merge(_LEGACY, None, legacy, deltas)
        for entry in delta.get("tool_calls") or ():
            index = entry.get("index")
            where = index if isinstance(index, int) and not isinstance(index, bool) else None
            self._merge(where, entry.get("id"), entry.get("function"), deltas)

    def _merge(
        self,
        key: int | str | None,
        call_id: object,
        function: Mapping[str, Any] | None,
        deltas: list[StreamDelta],
    ) -> None:
        name = function.get("name") if function else None
        if name in _ABSENT_NAMES or not isinstance(name, str):
            name = None
        arguments = function.get("arguments") if function else None
        if not isinstance(arguments, str):
            arguments = _json_text(arguments)
        if not isinstance(call_id, str) or not call_id:
            call_id = None
        call = self._last if key is None else self._by_index.get(key)
        if call is not None and key != _LEGACY and self._starts_new(call, key, call_id, name):
            call = None
        if call is None:
            if not (call_id or name or arguments):
                return  # an empty placeholder starts no call
            call = _Call(len(self._calls))
            self._calls.append(call)
            if key is not None:
                self._by_index[key] = call
        if key != _LEGACY:
            self._last = call
        new_id = new_name = None
        if call.id is None and call_id:
            call.id = new_id = call_id
        if call.name is None and name:
            call.name = new_name = name
        if arguments:
            call.arguments.append(arguments)
        if arguments or new_name or new_id:
            deltas.append(ToolCallDelta(call.position, new_name, arguments, new_id))

    @staticmethod
    def _starts_new(
        call: _Call, key: int | str | None, call_id: str | None, name: str | None
    ) -> bool:
        """Whether a fragment for `call`'s index (or without one) begins another call."""
        new_id = call_id is not None and call.id is not None and call_id != call.id
        if key is None:
            return new_id or (name is not None and call.name is not None and call.whole())
        return new_id and call.whole()

    def _error(self, error: object) -> StreamEventError:
        partial = "".join(self._text)
        if error is None and self.finish_reason == "error":
            return StreamEventError(
                "The server ended the stream with finish_reason 'error' and no error message.",
                partial_text=partial,
            )
        if not isinstance(error, Mapping):
            return StreamEventError(
                f"The server sent an error in the stream: {str(error)[:200]}", partial_text=partial
            )
        message = str(error.get("message") or "no message")
        code = error.get("code")
        error_type = error.get("type")
        return StreamEventError(
            f"The server sent an error in the stream: {message}",
            code=code if isinstance(code, str | int) else None,
            error_type=error_type if isinstance(error_type, str) else None,
            partial_text=partial,
        )

    def finish(self, *, done: bool = False) -> ModelResponse:
        """The whole reply, once the stream has ended.

        Args:
            done: Whether the stream ended with `data: [DONE]`.

        Raises:
            TruncatedStreamError: The stream ended with neither a `finish_reason` nor `[DONE]`.
        """
        if self.finish_reason is None and not done:
            raise TruncatedStreamError(
                "The stream ended before the answer was complete "
                f"(no finish_reason and no [DONE]; {len(self._text)} text pieces and "
                f"{len(self._calls)} calls had arrived)."
            )
        calls = tuple(
            ToolCall(call.name or "", "".join(call.arguments), call.id)
            for call in self._calls
            if call.name or call.arguments
        )
        text = "".join(self._text)
        refusal = "".join(self._refusal) or None
        message = AssistantMessage(
            text if text or not (calls or refusal) else None,
            calls,
            refusal,
            "".join(self._reasoning) or None,
        )
        return ModelResponse(
            message, self.finish_reason, _usage(self._usage), self._model, self._id
        )


# --------------------------------------------------------------------------- errors

_TITLE = re.compile(rb"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)
_CLOUDFLARE = frozenset({520, 521, 522, 523, 524})


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked to wait: `retry-after-ms`, else `Retry-After` (seconds or date).

    Examples:
        >>> retry_after({"retry-after-ms": "1500"}), retry_after({"retry-after": "2"})
        (1.5, 2.0)
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    milliseconds = _seconds(lowered.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


def _seconds(value: str | None) -> float | None:
    """A finite, non-negative number from a header, or `None` ("nan" and "inf" are not)."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return max(number, 0.0) if math.isfinite(number) else None


def _status_class(
    status: int, code: object, error_type: object, html: bool
) -> type[APIStatusError]:
    if status == 400:
        if code == "context_length_exceeded":
            return ContextLengthExceededError
        return BadRequestError
    if status == 429:
        if "insufficient_quota" in (code, error_type):
            return InsufficientQuotaError
        return RateLimitError
    if status in _CLOUDFLARE or (status >= 500 and html):
        return GatewayError
    if status >= 500:
        return InternalServerError
    return {401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError}.get(
        status, APIStatusError
    )


def parse_error(status: int, body: bytes, headers: Mapping[str, str]) -> APIStatusError:
    """The typed error for an error response: status, error object or page, headers.

    JSON bodies give `message`, `type`, `param` and `code`; anything else (a Cloudflare HTML
    page) gives its `<title>` and a short excerpt. `x-should-retry` overrides whether the
    client retries; 408 and 409 are retried too.

    Examples:
        >>> error = parse_error(429, b'{"error": {"message": "Slow down"}}', {"retry-after": "3"})
        >>> type(error).__name__, error.retry_after, str(error)
        ('RateLimitError', 3.0, 'HTTP 429: Slow down')
    """
    text = body.decode("utf-8", "replace")
    lowered = {key.lower(): value for key, value in headers.items()}
    message: str | None = None
    code = error_type = param = None
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, Mapping) else None
    if isinstance(error, Mapping):
        message = error.get("message") or None
        code, error_type, param = error.get("code"), error.get("type"), error.get("param")
    elif isinstance(error, str):
        message = error
    html = data is None and b"<" in body[:1024]
    if message is None:
        title = _TITLE.search(body)
        if title:
            message = " ".join(title.group(1).decode("utf-8", "replace").split())
        elif html or not text.strip():
            message = f"the server answered {status} without an error message"
        else:
            message = " ".join(text.split())[:200]
        if lowered.get("server", "").lower() == "cloudflare" or "cf-ray" in lowered:
            message = f"Cloudflare: {message}"
    cls = _status_class(status, code, error_type, html)
    retryable: bool | None = True if status in (408, 409) else None
    should = lowered.get("x-should-retry")
    if should in ("true", "false"):
        retryable = should == "true"
    return cls(
        str(message),
        status_code=status,
        retry_after=retry_after(lowered),
        code=code if isinstance(code, str | int) else None,
        error_type=error_type if isinstance(error_type, str) else None,
        param=param if isinstance(param, str) else None,
        body=text,
        request_id=lowered.get("x-request-id"),
        cf_ray=lowered.get("cf-ray"),
        retryable=retryable,
    )
