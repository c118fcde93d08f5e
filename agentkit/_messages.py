"""The chat as domain types: messages, function calls, their results, and token usage.

Plain, frozen, typed values with a `role` (or `kind`) discriminator. No JSON and no IO live
here: turning these into request bodies and back, in either wire style, is the job of
`_wire` (requests, histories) and `_replies` (what the server answers).

One shape serves both wire styles. A `ToolCall` has an `id` when the server gave one (the
`tools` style) and `None` for a legacy `function_call`; a `ToolResult` keeps both the call's id
and the function's name, so a history can be sent in either style.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypeVar

from ._exceptions import UsageError

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
    "UsageLimits",
    "UserMessage",
]


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text in a user message made of parts."""

    text: str
    """The text."""

    kind: Literal["text"] = field(default="text", init=False, repr=False)
    """Always `"text"`."""


#: The image types chat-completions vision models take, by their first bytes.
_IMAGE_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8, checked in _sniff
}

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""The largest image `ImagePart.from_file` / `from_bytes` encode (OpenAI's limit: 20 MB)."""


def _sniff(data: bytes) -> str | None:
    for mime, signatures in _IMAGE_TYPES.items():
        if data.startswith(signatures) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image in a user message, for vision models such as `gpt-4-vision-preview`.

    Examples:
        >>> ImagePart("https://example.com/cat.png", detail="low").detail
        'low'
        >>> ImagePart.from_bytes(b"GIF89a...").url
        'data:image/gif;base64,R0lGODlhLi4u'
    """

    url: str
    """An `https://` URL or a `data:image/...;base64,` URL."""

    detail: Literal["auto", "low", "high"] | None = None
    """How closely the model looks: `"low"` costs fewer tokens. `None` leaves it to the server."""

    kind: Literal["image"] = field(default="image", init=False, repr=False)
    """Always `"image"`."""

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        mime: str | None = None,
        *,
        detail: Literal["auto", "low", "high"] | None = None,
    ) -> ImagePart:
        """An image sent inline, as a `data:` URL.

        Args:
            data: The image file's bytes: PNG, JPEG, GIF or WebP.
            mime: Its type (`"image/png"`, ...); by default read from the first bytes.
            detail: How closely the model looks.

        Raises:
            UsageError: The data is empty, over `MAX_IMAGE_BYTES`, not one of the four
                types, or not of the type `mime` says.
        """
        return cls(_data_url(bytes(data), mime, "The image data"), detail)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        mime: str | None = None,
        *,
        detail: Literal["auto", "low", "high"] | None = None,
    ) -> ImagePart:
        """An image file sent inline, as a `data:` URL (its type read from its first bytes).

        Raises:
            UsageError: The file cannot be read, is not a regular file, is empty, is over
                `MAX_IMAGE_BYTES`, or is not a PNG, JPEG, GIF or WebP image.
        """
        what = f"The image file {os.fspath(path)!r}"
        try:
            # Non-blocking, so a named pipe is refused below instead of waiting for a writer.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise UsageError(f"{what} is not a regular file (a folder, pipe or device).")
                if info.st_size > MAX_IMAGE_BYTES:
                    raise _too_big(what, info.st_size)
                with open(fd, "rb", closefd=False) as file:
                    data = file.read(MAX_IMAGE_BYTES + 1)  # the file may grow while it is read
            finally:
                os.close(fd)
        except OSError as error:
            raise UsageError(
                f"{what} cannot be read: {error.strerror or error}. Give the path of a "
                "readable PNG, JPEG, GIF or WebP file."
            ) from error
        return cls(_data_url(data, mime, what), detail)


def _too_big(what: str, size: int) -> UsageError:
    return UsageError(
        f"{what} is {size:,} bytes, over the {MAX_IMAGE_BYTES:,} bytes a request may carry. "
        "Make it smaller, or put it online and give its https:// URL."
    )


def _data_url(data: bytes, mime: str | None, what: str) -> str:
    """A `data:` URL of an image; `what` names the image in errors ("The image file 'x'")."""
    if not data:
        raise UsageError(f"{what} is empty.")
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_big(what, len(data))
    if mime is not None and mime not in _IMAGE_TYPES:
        known = ", ".join(_IMAGE_TYPES)
        raise UsageError(f"{what}: type {mime!r} is not one models take ({known}).")
    found = _sniff(data)
    if found is None:
        raise UsageError(
            f"{what} is not a PNG, JPEG, GIF or WebP image (it starts with {data[:8]!r}); "
            "convert it to one of them."
        )
    if mime is not None and mime != found:
        raise UsageError(f"{what} is {found}, not {mime} as given.")
    return f"data:{found};base64,{base64.b64encode(data).decode('ascii')}"


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

    messages: tuple[Message, ...] = field(default=(), compare=False, repr=False)
    """The chat of an agent that ran as this tool (`Agent.as_tool`), for inspection.

    Not sent to the server, and not saved by `dump_messages`.
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
    """Requests made and tokens used, as the server reported them or as agentkit counted them.

    Every request's token figures come from one of three places, and `Usage` says which:
    the server reported them; the server did not, and agentkit counted them with the exact
    tokenizer of the model (the `tokens` extra), adding one to `counted_requests`; or neither,
    and the request adds nothing to the token counts and one to `unreported_requests`. A count
    is `None` when no request has one at all. Add two `Usage` values with `+`.

    Examples:
        >>> reported = Usage(requests=1, prompt_tokens=52, completion_tokens=9)
        >>> counted = Usage(requests=1, prompt_tokens=60, completion_tokens=12, counted_requests=1)
        >>> total = reported + counted
        >>> total.total_tokens, total.complete, total.estimated
        (133, True, True)
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
    """Requests with no token figures at all: the server reported none and agentkit could not
    count them (so the token counts are incomplete)."""

    counted_requests: int = 0
    """Requests whose token figures agentkit counted itself, because the server reported none
    (GoAPI's streams never do). Exact for text; see the usage docs for what is derived."""

    @property
    def total_tokens(self) -> int | None:
        """Prompt plus completion tokens, or `None` if neither was reported."""
        return _add_optional(self.prompt_tokens, self.completion_tokens)

    @property
    def complete(self) -> bool:
        """Whether every request has token figures, reported or counted."""
        return self.unreported_requests == 0

    @property
    def estimated(self) -> bool:
        """Whether some figures were counted by agentkit rather than reported by the server."""
        return self.counted_requests > 0

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            requests=self.requests + other.requests,
            prompt_tokens=_add_optional(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=_add_optional(self.completion_tokens, other.completion_tokens),
            tool_calls=self.tool_calls + other.tool_calls,
            unreported_requests=self.unreported_requests + other.unreported_requests,
            counted_requests=self.counted_requests + other.counted_requests,
        )

    @classmethod
    def sum(cls, usages: Iterable[Usage]) -> Usage:
        """Add up any number of usages (an empty iterable gives `Usage()`)."""
        total = cls()
        for usage in usages:
            total = total + usage
        return total


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageLimits:
    """Budgets for one run, checked before each request and before tools run.

    `None` means no limit. Token and cost checks use the run's tokens so far plus the next
    prompt's, counted exactly with the `tokens` extra; without it (or for a model whose
    encoding is unknown) the prompt is estimated at about four characters a token, and
    `UsageLimitExceeded.estimated` says so.

    Examples:
        >>> limits = UsageLimits(requests=5, cost=0.01)
        >>> limits.remaining(Usage(requests=2), cost=0.004)
        UsageLimits(requests=3, total_tokens=None, cost=0.006, tool_calls=None)
    """

    requests: int | None = None
    """The most requests to send to the model."""

    total_tokens: int | None = None
    """The most prompt plus completion tokens."""

    cost: float | None = None
    """The most USD to spend (needs prices in the model catalog)."""

    tool_calls: int | None = None
    """The most function calls to execute."""

    def remaining(self, usage: Usage, cost: float | None = None) -> UsageLimits:
        """What is left of these budgets after `usage` (which cost `cost`), never below 0."""
        return UsageLimits(
            requests=_left(self.requests, usage.requests),
            total_tokens=_left(self.total_tokens, usage.total_tokens or 0),
            cost=None if self.cost is None else max(self.cost - (cost or 0.0), 0.0),
            tool_calls=_left(self.tool_calls, usage.tool_calls),
        )

    def tighter(self, other: UsageLimits | None) -> UsageLimits:
        """The smaller of each budget of these limits and `other`'s."""
        if other is None:
            return self
        return UsageLimits(
            requests=_least(self.requests, other.requests),
            total_tokens=_least(self.total_tokens, other.total_tokens),
            cost=_least(self.cost, other.cost),
            tool_calls=_least(self.tool_calls, other.tool_calls),
        )


def _left(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(limit - used, 0)


_N = TypeVar("_N", int, float)


def _least(a: _N | None, b: _N | None) -> _N | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


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
