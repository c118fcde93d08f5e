"""Domain messages to chat-completions JSON and back, in both wire styles. No IO.

```
build_request()       messages + tools + settings -> the request body (a dict)
dump_messages()       messages -> plain dicts (persistence; the `tools` style by default)
load_messages()       plain dicts, in either style -> messages
```

What the server sends back (answers, stream chunks, error responses) is read by `_replies`.

The two styles differ only here. Legacy `functions`: one `function_call` per assistant
message, results as `{"role": "function", "name", "content"}`. Newer `tools`: `tool_calls`
with ids, results as `{"role": "tool", "tool_call_id", "content"}`. A history recorded in one
style is sent in the other: calls without ids get stable made-up ids, and an assistant message
with several calls becomes one legacy message per call, each followed by its result.

The TypedDict shapes of the wire live in this module and nowhere else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, TypeAlias, TypedDict

from ._exceptions import UsageError
from ._messages import (
    AssistantMessage,
    ContentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolResult,
    UserMessage,
)
from ._models import ApiStyle, ModelSettings
from ._tools import Tool

__all__ = ["build_request", "dump_messages", "load_messages"]

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
        elif lenient and isinstance(arguments, Mapping):  # an object, not its JSON text
            arguments = json.dumps(arguments, ensure_ascii=False)
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
    output: Tool[..., Any] | None = None,
    stream: bool = True,
) -> RequestBody:
    """The JSON body of one chat-completions request.

    Args:
        model: The model name.
        messages: The chat.
        functions: The tools offered (left out of the body when empty).
        style: `"functions"` (legacy) or `"tools"`.
        settings: Optional fields; `None` values are left out.
        tool_choice: `"auto"`, `"none"`, `"required"` (the `tools` style only), or the
            name of a function the model must call.
        output: Native structured output: ask for a reply in this tool's (strict) schema,
            as `response_format: {"type": "json_schema", ...}`.
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
    if output is not None:
        body["response_format"] = _json_schema_format(output)
    if settings is not None:
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


def _json_schema_format(output: Tool[..., Any]) -> dict[str, Any]:
    json_schema: dict[str, Any] = {"name": output.name}
    if output.description:
        json_schema["description"] = output.description
    json_schema["schema"] = output.parameters
    json_schema["strict"] = True
    return {"type": "json_schema", "json_schema": json_schema}


def _choice(choice: str, style: ApiStyle) -> object:
    if choice in ("auto", "none") or (choice == "required" and style == "tools"):
        return choice
    if style == "functions":
        return {"name": choice}
    return {"type": "function", "function": {"name": choice}}
