"""Domain messages to chat-completions JSON and back, in both wire styles. No IO.

```
build_request()       messages + tools + settings -> the request body (a dict)
parse_response()      a `chat.completion` body    -> ModelResponse
ChunkAccumulator      `chat.completion.chunk`s    -> StreamDelta values, then ModelResponse
parse_error()         status + body + headers     -> the matching APIStatusError
dump_messages()       messages -> plain dicts (persistence; the `tools` style by default)
load_messages()       plain dicts, in either style -> messages
```

The two styles differ only here. Legacy `functions`: one `function_call` per assistant
message, results as `{"role": "function", "name", "content"}`. Newer `tools`: `tool_calls`
with ids, results as `{"role": "tool", "tool_call_id", "content"}`. A history recorded in one
style is sent in the other: calls without ids get stable made-up ids, and an assistant message
with several calls becomes one legacy message per call, each followed by its result.

The TypedDict shapes of the wire live in this module and nowhere else.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict

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
    ContentPart,
    ImagePart,
    Message,
    ModelResponse,
    StreamDelta,
    SystemMessage,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolResult,
    Usage,
    UserMessage,
)
from ._models import ApiStyle, ModelSettings
from ._tools import Tool

__all__ = [
    "ChunkAccumulator",
    "build_request",
    "dump_messages",
    "load_messages",
    "parse_error",
    "parse_response",
    "retry_after",
]

# --------------------------------------------------------------------------- wire shapes


class FunctionCallDict(TypedDict):
    """`{"name", "arguments"}`: a legacy `function_call`, or the function of a tool call."""

    name: str
    arguments: str


class ToolCallDict(TypedDict):
    """One entry of an assistant message's `tool_calls`."""

    id: str
    type: Literal["function"]
    function: FunctionCallDict


class ImageURLDict(TypedDict, total=False):
    """The `image_url` of an image content part."""

    url: str
    detail: Literal["auto", "low", "high"]


class ContentPartDict(TypedDict, total=False):
    """`{"type": "text", "text"}` or `{"type": "image_url", "image_url"}`."""

    type: Literal["text", "image_url"]
    text: str
    image_url: ImageURLDict


class MessageDict(TypedDict, total=False):
    """A message of any role, as the server takes it (`role` is always present)."""

    role: Literal["system", "user", "assistant", "function", "tool"]
    content: str | list[ContentPartDict] | None
    name: str
    function_call: FunctionCallDict
    tool_calls: list[ToolCallDict]
    tool_call_id: str


RequestBody: TypeAlias = dict[str, Any]
"""A request body: `model`, `messages` and the optional fields (too many for a TypedDict)."""

_OPTIONAL_FIELDS = (
    "temperature",
    "top_p",
    "max_tokens",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "user",
)

# --------------------------------------------------------------------------- messages out


def _part_dict(part: ContentPart) -> ContentPartDict:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    image: ImageURLDict = {"url": part.url}
    if part.detail is not None:
        image["detail"] = part.detail
    return {"type": "image_url", "image_url": image}


class _Ids:
    """Made-up, stable ids for calls recorded in the legacy style, sent in the `tools` style.

    A legacy result answers the earliest call of its name that has no result yet.
    """

    def __init__(self) -> None:
        self._count = 0
        self._open: dict[str, list[str]] = {}

    def for_call(self, call: ToolCall) -> str:
        if call.id is not None:
            return call.id
        self._count += 1
        made = f"call_{self._count}"
        self._open.setdefault(call.name, []).append(made)
        return made

    def for_result(self, result: ToolResult) -> str:
        if result.call_id is not None:
            return result.call_id
        waiting = self._open.get(result.name)
        if waiting:
            return waiting.pop(0)
        raise UsageError(
            f"The result of {result.name!r} answers no call of that name before it;"
            " every result must follow the assistant message that made its call."
        )


def _message_dict(message: Message, style: ApiStyle, ids: _Ids) -> MessageDict:
    if isinstance(message, ToolResult):
        if style == "functions":
            return {"role": "function", "name": message.name, "content": message.content}
        return {"role": "tool", "tool_call_id": ids.for_result(message), "content": message.content}
    if isinstance(message, AssistantMessage):
        # A refusal goes back as the text it is (the 2023 schema has no `refusal` field).
        said = message.content if message.content is not None else message.refusal
        out: MessageDict = {"role": "assistant", "content": said}
        if not message.calls:
            return out
        if style == "functions":
            (call,) = message.calls  # several calls were split before (see _split_calls)
            out["function_call"] = {"name": call.name, "arguments": call.arguments}
        else:
            out["tool_calls"] = [
                {
                    "id": ids.for_call(call),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.calls
            ]
        return out
    if isinstance(message, UserMessage):
        content = message.content
        user: MessageDict = {
            "role": "user",
            "content": content if isinstance(content, str) else [_part_dict(p) for p in content],
        }
        if message.name is not None:
            user["name"] = message.name
        return user
    system: MessageDict = {"role": "system", "content": message.content}
    if message.name is not None:
        system["name"] = message.name
    return system


def _split_calls(messages: Sequence[Message]) -> list[Message]:
    """For the legacy style: one assistant message per call, each followed by its result."""
    out: list[Message] = []
    index = 0
    while index < len(messages):
        message = messages[index]
        index += 1
        if not isinstance(message, AssistantMessage) or len(message.calls) < 2:
            out.append(message)
            continue
        results: list[ToolResult] = []
        while index < len(messages) and isinstance(messages[index], ToolResult):
            results.append(messages[index])  # type: ignore[arg-type]
            index += 1
        for number, call in enumerate(message.calls):
            content = message.content if number == 0 else None
            out.append(AssistantMessage(content, (call,)))
            match = next((r for r in results if _answers(r, call)), None)
            if match is not None:
                results.remove(match)
                out.append(match)
        out += results
    return out


def _answers(result: ToolResult, call: ToolCall) -> bool:
    if call.id is not None and result.call_id is not None:
        return call.id == result.call_id
    return call.name == result.name


def dump_messages(messages: Iterable[Message], style: ApiStyle = "tools") -> list[MessageDict]:
    """The messages as the plain dicts a chat-completions request carries.

    Use it to save a chat as JSON; `load_messages` reads it back (in either style).

    Args:
        messages: The chat.
        style: `"tools"` (results refer to call ids) or `"functions"` (the legacy style).

    Examples:
        >>> from agentkit import UserMessage
        >>> dump_messages([UserMessage("Hi")])
        [{'role': 'user', 'content': 'Hi'}]
    """
    chat = list(messages)
    if style == "functions":
        chat = _split_calls(chat)
    ids = _Ids()
    return [_message_dict(message, style, ids) for message in chat]


# --------------------------------------------------------------------------- messages in


def _fail(where: str, problem: str) -> UsageError:
    return UsageError(f"messages[{where}]: {problem}")


def _text(value: object, where: str, field: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"{field!r} must be a string, got {type(value).__name__}.")
    return value


def _load_part(part: object, where: str) -> ContentPart:
    if not isinstance(part, Mapping):
        raise _fail(where, "a content part must be an object.")
    if part.get("type") == "text":
        return TextPart(_text(part.get("text"), where, "text"))
    if part.get("type") == "image_url":
        image = part.get("image_url")
        if isinstance(image, str):  # some clients send the URL directly
            return ImagePart(image)
        if not isinstance(image, Mapping):
            raise _fail(where, "'image_url' must be an object with a 'url'.")
        return ImagePart(_text(image.get("url"), where, "url"), image.get("detail"))
    raise _fail(where, f"unknown content part type {part.get('type')!r} (text, image_url).")


def _load_calls(
    data: Mapping[str, Any], where: str, *, lenient: bool = False
) -> tuple[ToolCall, ...]:
    """The calls of an assistant message.

    `lenient` is for a server's reply: a missing name becomes `""` (the loop answers it as an
    unknown function), as a stream gives it, instead of an error.
    """
    entries = data.get("tool_calls") or []
    legacy = data.get("function_call")
    if not isinstance(entries, list):
        raise _fail(where, "'tool_calls' must be a list.")
    functions = [(e.get("function") if isinstance(e, Mapping) else e, e) for e in entries]
    if legacy:
        functions.append((legacy, None))
    calls = []
    for function, entry in functions:
        if not isinstance(function, Mapping):
            raise _fail(where, "each call must be an object with a 'name' and 'arguments'.")
        name = function.get("name")
        if lenient and not isinstance(name, str):
            name = ""
        arguments = function.get("arguments")
        if arguments is None:
            arguments = ""
        call_id = entry.get("id") if isinstance(entry, Mapping) else None
        if lenient and not name and not arguments:
            continue  # `{"name": "", "arguments": ""}`: a server's empty placeholder, no call
        calls.append(
            ToolCall(
                _text(name, where, "name"),
                _text(arguments, where, "arguments"),
                call_id if isinstance(call_id, str) and (call_id or not lenient) else None,
            )
        )
    return tuple(calls)


def _load_message(data: object, where: str) -> Message:
    if not isinstance(data, Mapping):
        raise _fail(where, f"a message must be an object, got {type(data).__name__}.")
    role = data.get("role")
    content = data.get("content")
    if role == "system":
        return SystemMessage(_text(content, where, "content"), data.get("name"))
    if role == "user":
        if isinstance(content, list):
            parts = tuple(_load_part(part, where) for part in content)
            return UserMessage(parts, data.get("name"))
        return UserMessage(_text(content, where, "content"), data.get("name"))
    if role == "assistant":
        if content is not None:
            content = _text(content, where, "content")
        refusal = data.get("refusal")
        if refusal is not None:
            refusal = _text(refusal, where, "refusal")
        return AssistantMessage(content, _load_calls(data, where), refusal)
    if role == "tool":
        call_id = _text(data.get("tool_call_id"), where, "tool_call_id")
        return ToolResult(data.get("name") or "", _text(content, where, "content"), call_id)
    if role == "function":
        return ToolResult(_text(data.get("name"), where, "name"), _text(content, where, "content"))
    raise _fail(where, f"unknown role {role!r} (system, user, assistant, tool, function).")


def load_messages(data: Iterable[object]) -> list[Message]:
    """Messages from the plain dicts of either style (as `dump_messages` writes them).

    A `tool` result gets its function's name from the call it answers.

    Raises:
        UsageError: A message is malformed; the text says which and why.

    Examples:
        >>> load_messages([{"role": "user", "content": "Hi"}])
        [UserMessage(content='Hi', name=None)]
    """
    messages: list[Message] = []
    names: dict[str, str] = {}
    for number, item in enumerate(data):
        message = _load_message(item, str(number))
        if isinstance(message, AssistantMessage):
            names.update((c.id, c.name) for c in message.calls if c.id is not None)
        elif isinstance(message, ToolResult) and not message.name:
            name = names.get(message.call_id or "", "")
            message = ToolResult(name, message.content, message.call_id)
        messages.append(message)
    return messages


# --------------------------------------------------------------------------- requests


def build_request(
    *,
    model: str,
    messages: Sequence[Message],
    functions: Sequence[Tool[..., Any]] = (),
    style: ApiStyle = "tools",
    settings: ModelSettings | None = None,
    tool_choice: str | None = None,
    stream: bool = True,
) -> RequestBody:
    """The JSON body of one chat-completions request.

    Args:
        model: The model name.
        messages: The chat.
        functions: The tools offered (left out of the body when empty).
        style: `"functions"` (legacy) or `"tools"`.
        settings: Optional fields; `None` values are left out.
        tool_choice: `"auto"`, `"none"`, or the name of a function the model must call.
        stream: Ask for server-sent events (with `stream_options` when
            `settings.include_usage`).

    Examples:
        >>> from agentkit import UserMessage
        >>> build_request(model="gpt-3.5-turbo", messages=[UserMessage("Hi")], stream=False)
        {'model': 'gpt-3.5-turbo', 'messages': [{'role': 'user', 'content': 'Hi'}]}
    """
    body: RequestBody = {"model": model, "messages": dump_messages(messages, style)}
    if functions:
        if style == "functions":
            body["functions"] = [tool.schema for tool in functions]
        else:
            body["tools"] = [_tool_entry(tool) for tool in functions]
    if tool_choice is not None:
        body["function_call" if style == "functions" else "tool_choice"] = _choice(
            tool_choice, style
        )
    if settings is not None:
        for name in _OPTIONAL_FIELDS:
            value = getattr(settings, name)
            if value is not None:
                body[name] = value
        if settings.stop:  # an empty list is left out: the schema refuses it
            body["stop"] = settings.stop if isinstance(settings.stop, str) else list(settings.stop)
        if settings.logit_bias is not None:
            body["logit_bias"] = dict(settings.logit_bias)
        if settings.response_format is not None:
            body["response_format"] = {"type": settings.response_format}
        body.update(settings.extra_body)
    if stream:
        body["stream"] = True
        if settings is not None and settings.include_usage:
            body["stream_options"] = {"include_usage": True}
    return body


def _tool_entry(tool: Tool[..., Any]) -> dict[str, Any]:
    function = tool.schema
    if tool.strict:
        function = {**function, "strict": True}
    return {"type": "function", "function": function}


def _choice(choice: str, style: ApiStyle) -> object:
    if choice in ("auto", "none") or (choice == "required" and style == "tools"):
        return choice
    if style == "functions":
        return {"name": choice}
    return {"type": "function", "function": {"name": choice}}


# --------------------------------------------------------------------------- responses


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
    if not content and calls:
        content = None  # as a stream gives it: no text when there are only calls
    reasoning = thinking or _string(message, "reasoning_content") or _string(message, "reasoning")
    refusal = _string(message, "refusal") or part_refusal
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
    no call and no reason.

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
        usage = chunk.get("usage") or _groq_usage(chunk)
        if usage:
            self._usage = usage
        error = chunk.get("error")
        choices = chunk.get("choices")
        if not choices:
            if error is not None or "error" in chunk:
                raise self._error(error)
            return []
        deltas: list[StreamDelta] = []
        for choice in choices:
            if choice.get("index") not in (0, None):
                continue  # n > 1: only the first choice is kept
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = reason
            delta = choice.get("delta")
            if delta:
                self._delta(delta, deltas)
        if error is not None or self.finish_reason == "error":
            raise self._error(error)
        return deltas

    def _delta(self, delta: Mapping[str, Any], deltas: list[StreamDelta]) -> None:
        content = delta.get("content")
        if content:
            if not isinstance(content, str):
                content, thinking, refusal = _split_content(content)
                if thinking:
                    self._reasoning.append(thinking)
                if refusal:
                    self._refusal.append(refusal)
            if content:
                self._text.append(content)
                deltas.append(TextDelta(content))
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
            arguments = ""
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
        if error is None:
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


def _groq_usage(chunk: Mapping[str, Any]) -> object:
    """Usage where Groq's streams put it (`x_groq.usage`, in the last chunk), if there."""
    extra = chunk.get("x_groq")
    return extra.get("usage") if isinstance(extra, Mapping) else None


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
