"""The chat as domain types: messages, function calls, their results, and token usage.

Plain, frozen, typed values with a `role` (or `kind`) discriminator. No JSON and no IO live
here: turning these into request bodies and back, in either wire style, is the job of
`_wire` (requests, histories) and `_replies` (what the server answers).

One shape serves both wire styles. A `ToolCall` has an `id` when the server gave one (the
`tools` style) and `None` for a legacy `function_call`; a `ToolResult` keeps both the call's id
and the function's name, so a history can be sent in either style.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

__all__ = [
    "AssistantMessage",
    "ContentPart",
    "ImagePart",
    "Message",
    "ModelResponse",
    "StreamDelta",
    "SystemMessage",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolResult",
    "Usage",
    "UserMessage",
]


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text in a user message made of parts."""

    text: str
    """The text."""

    kind: Literal["text"] = field(default="text", init=False, repr=False)
    """Always `"text"`."""


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message, for vision models such as `gpt-4-vision-preview`."""

    url: str
    """An `https://` URL or a `data:image/...;base64,` URL."""

    detail: Literal["auto", "low", "high"] | None = None
    """How closely the model looks: `"low"` costs fewer tokens. `None` leaves it to the server."""

    kind: Literal["image"] = field(default="image", init=False, repr=False)
    """Always `"image"`."""


ContentPart: TypeAlias = TextPart | ImagePart
"""One part of a user message's content."""


@dataclass(frozen=True, slots=True)
class SystemMessage:
    """Instructions for the model, usually the first message."""

    content: str
    """The instructions."""

    name: str | None = None
    """An optional participant name."""

    role: Literal["system"] = field(default="system", init=False, repr=False)
    """Always `"system"`."""


@dataclass(frozen=True, slots=True)
class UserMessage:
    """What the user said: text, or a sequence of text and image parts."""

    content: str | tuple[ContentPart, ...]
    """Plain text, or parts (a list given here is stored as a tuple)."""

    name: str | None = None
    """An optional participant name."""

    role: Literal["user"] = field(default="user", init=False, repr=False)
    """Always `"user"`."""

    def __post_init__(self) -> None:
        if not isinstance(self.content, str):
            object.__setattr__(self, "content", tuple(self.content))

    @property
    def text(self) -> str:
        """The message's text, its text parts joined by newlines."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content if isinstance(part, TextPart))


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for.

    `arguments` is kept exactly as the model sent it: a JSON string that may be invalid or may
    name parameters that do not exist. Validation happens when the call is dispatched.
    """

    name: str
    """The function the model wants called."""

    arguments: str
    """The arguments as the model wrote them: a JSON object in a string, or `""`."""

    id: str | None = None
    """The call's id in the `tools` style; `None` for a legacy `function_call`."""


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    """The model's reply: text, function calls, or both."""

    content: str | None = None
    """The text of the reply, `None` when the model only called functions."""

    calls: tuple[ToolCall, ...] = ()
    """The function calls, in the order the model made them (a list is stored as a tuple)."""

    refusal: str | None = None
    """Why the model declined to answer, when it said so in the `refusal` field.

    An agent run ends with `ModelRefusal` then (unless `on_refusal="output"`).
    """

    reasoning: str | None = None
    """The model's thinking, when the server sent it apart from the answer.

    From thinking parts of `content` (Mistral), `reasoning_content` (DeepSeek) or `reasoning`
    (OpenRouter, vLLM). Never part of `content`, never sent back to the server.
    """

    role: Literal["assistant"] = field(default="assistant", init=False, repr=False)
    """Always `"assistant"`."""

    def __post_init__(self) -> None:
        # A list given by the caller is copied, so the frozen message cannot change later.
        object.__setattr__(self, "calls", tuple(self.calls))


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The result of one function call, sent back to the model.

    Sent as `{"role": "tool", "tool_call_id", "content"}` in the `tools` style and as
    `{"role": "function", "name", "content"}` in the legacy style.
    """

    name: str
    """The function that was called (as the model named it)."""

    content: str
    """What the function returned, as text; or the error text the model should act on."""

    call_id: str | None = None
    """The id of the call this answers; `None` for a legacy `function_call`."""

    is_error: bool = False
    """Whether `content` reports a failure (bad arguments, an exception, a refusal).

    Not sent to the server; kept for logs, tests and the retry budget.
    """

    role: Literal["tool"] = field(default="tool", init=False, repr=False)
    """Always `"tool"`."""


Message: TypeAlias = SystemMessage | UserMessage | AssistantMessage | ToolResult
"""Any message of a chat."""


def _add_optional(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return a + b


@dataclass(frozen=True, slots=True)
class Usage:
    """Requests made and tokens used, as the server reported them.

    Token counts are never invented: a request whose server reported no usage adds nothing to
    the token counts and one to `unreported_requests`. A count is `None` when no request
    reported it at all. Add two `Usage` values with `+`.
    """

    requests: int = 0
    """Requests sent to the model that got an answer."""

    prompt_tokens: int | None = None
    """Tokens in the prompts, summed over the requests that reported them."""

    completion_tokens: int | None = None
    """Tokens the model generated, summed over the requests that reported them."""

    tool_calls: int = 0
    """Function calls that were executed."""

    unreported_requests: int = 0
    """Requests whose server reported no token usage (so the token counts are incomplete)."""

    @property
    def total_tokens(self) -> int | None:
        """Prompt plus completion tokens, or `None` if neither was reported."""
        return _add_optional(self.prompt_tokens, self.completion_tokens)

    @property
    def complete(self) -> bool:
        """Whether every request reported its token usage."""
        return self.unreported_requests == 0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            requests=self.requests + other.requests,
            prompt_tokens=_add_optional(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=_add_optional(self.completion_tokens, other.completion_tokens),
            tool_calls=self.tool_calls + other.tool_calls,
            unreported_requests=self.unreported_requests + other.unreported_requests,
        )

    @classmethod
    def sum(cls, usages: Iterable[Usage]) -> Usage:
        """Add up any number of usages (an empty iterable gives `Usage()`)."""
        total = cls()
        for usage in usages:
            total = total + usage
        return total


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """One answer from the model: the reply message plus what the server said about it."""

    message: AssistantMessage
    """The reply."""

    finish_reason: str | None
    """`"stop"`, `"length"`, `"function_call"`, `"tool_calls"`, `"content_filter"`, or `None`."""

    usage: Usage
    """This request's usage (`requests=1`; tokens `None` when the server did not report them)."""

    model: str | None = None
    """The model that answered, as the server named it (e.g. `gpt-3.5-turbo-0613`)."""

    id: str | None = None
    """The completion's id (`chatcmpl-...`)."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """Stream event: the next piece of the model's text, as it arrives."""

    text: str
    """The new text (never empty)."""

    kind: Literal["text_delta"] = field(default="text_delta", init=False, repr=False)
    """Always `"text_delta"`."""


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """Stream event: the next piece of a function call the model is writing.

    The first piece of each call carries its `name`; later pieces carry `None` there and
    more of the `arguments` text. The whole call is checked and run only once it is complete.
    """

    index: int
    """The call's position in the reply: 0 for the first call, 1 for the second, ..."""

    name: str | None
    """The function's name on the call's first piece, else `None`."""

    arguments: str
    """The next fragment of the arguments' JSON text (may be empty)."""

    id: str | None = None
    """The call's id on its first piece in the `tools` style, else `None`."""

    kind: Literal["tool_call_delta"] = field(default="tool_call_delta", init=False, repr=False)
    """Always `"tool_call_delta"`."""


StreamDelta: TypeAlias = TextDelta | ToolCallDelta
"""A piece of the reply as it streams in."""
