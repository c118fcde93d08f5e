"""Every error agentkit raises, split by who must act.

```
AgentkitError                      root: `except agentkit.AgentkitError` catches them all
├── UsageError                     the developer must change the code or the configuration
├── APIError                       talking to the service failed        (.retryable, .messages)
│   ├── APIConnectionError         no response: DNS, refused, reset
│   │   └── APITimeoutError        a timeout expired (.phase: connect | first_byte | idle | total)
│   ├── APIStatusError             the server answered with an error status
│   │   │                          (.status_code .message .code .error_type .param .body
│   │   │                           .request_id .cf_ray)
│   │   ├── BadRequestError                400
│   │   │   └── ContextLengthExceededError 400, the chat is longer than the model's window
│   │   ├── AuthenticationError            401, the key is missing, wrong or revoked
│   │   ├── PermissionDeniedError          403, e.g. a GPT-4 model on a plan without it
│   │   ├── NotFoundError                  404, e.g. a wrong base URL or model name
│   │   ├── RateLimitError                 429, slow down (.retry_after)
│   │   ├── InsufficientQuotaError         429 with code insufficient_quota: no credit left
│   │   └── InternalServerError            5xx
│   │       └── GatewayError               Cloudflare 520-524, or a 5xx with an HTML page
│   └── StreamError                the response started, then broke
│       ├── TruncatedStreamError   the stream ended without a finish_reason or [DONE]
│       └── StreamEventError       the stream carried an error (`"error": {...}` or
│                                  `finish_reason: "error"`); .partial_text: the text so far
└── RunError                       the agent run stopped; .messages holds the chat so far
    ├── MaxTurnsExceeded           the model kept calling tools past max_turns
    ├── ToolRetriesExceeded        a tool's retry budget is spent (.tool_name, .last_error)
    ├── UsageLimitExceeded         a budget would be passed (.limit, .value, .maximum)
    ├── ToolCallTruncated          a call was cut off by finish_reason length/content_filter
    ├── ModelRefusal               the model refused to answer (.refusal: its words)
    └── ToolsetError               a toolset (an MCP server) stopped working (.toolset)

ToolRetry                          outside the tree: a tool asks the model to try again
ArgumentError                      outside the tree (in _tools): the model's arguments were
                                   invalid; its text is written for the model to fix them
```

No error's text ever contains an API key: every message, body excerpt and header value
(`request_id`, `cf_ray`) passes through `redact()` before it is stored, and the client
scrubs the exact key it holds out of bodies and headers before they get here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ._messages import Message, Usage

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AgentkitError",
    "AuthenticationError",
    "BadRequestError",
    "ContextLengthExceededError",
    "GatewayError",
    "InsufficientQuotaError",
    "InternalServerError",
    "MaxTurnsExceeded",
    "ModelRefusal",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RunError",
    "StreamError",
    "StreamEventError",
    "ToolCallTruncated",
    "ToolRetriesExceeded",
    "ToolRetry",
    "ToolsetError",
    "TruncatedStreamError",
    "UsageError",
    "UsageLimitExceeded",
    "redact",
]

#: How much of a response body an error keeps: enough to read, never a whole HTML page.
BODY_EXCERPT_CHARS = 500

_SECRET_PATTERNS = (
    # `Authorization: Bearer <key>` and bare `Bearer <key>`
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    # OpenAI-style keys (sk-..., sk-proj-...) wherever they appear
    re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"),
    # `api_key=...`, `"api-key": "..."`, `apikey: ...`
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;&]+"),
)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove API keys and bearer tokens from a text.

    Args:
        text: Any text that may have come near a key: an error body, a URL, a header dump.
        secrets: Exact values to remove as well (the client passes the key it holds).

    Returns:
        The text with each secret replaced by `***`.

    Examples:
        >>> redact("Incorrect API key provided: sk-abc123def456")
        'Incorrect API key provided: ***'
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


def _excerpt(body: str | None) -> str | None:
    """A redacted, whitespace-folded head of a response body."""
    if body is None:
        return None
    folded = " ".join(body.split())
    if len(folded) > BODY_EXCERPT_CHARS:
        folded = folded[: BODY_EXCERPT_CHARS - 1] + "…"
    return redact(folded)


def _rebuild(cls: type[BaseException], args: tuple[object, ...], state: dict[str, object]) -> Any:
    """Unpickle an error without calling its keyword-only `__init__` again."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class AgentkitError(Exception):
    """The root of every error agentkit raises."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries in batch runs; the default reduce would call
        # __init__ with `args`, which does not fit the classes' keyword attributes.
        return (_rebuild, (type(self), self.args, self.__dict__))


class UsageError(AgentkitError):
    """The code or configuration is wrong: the developer must change it.

    Raised early (at decoration, at `Agent(...)`, before a request is sent) with a message
    that says what was wrong, where, and what to do instead.
    """


# --------------------------------------------------------------------------- API errors


class APIError(AgentkitError):
    """Talking to the chat-completions service failed.

    Attributes:
        message: What went wrong, in one line, key-free.
        retryable: Whether sending the same request again may succeed. The client retries
            these itself (within `max_retries`) before it raises.
        messages: The chat so far when the error ended an agent run (set by the run), else
            `None`.
        usage: What the run had used when the error ended it (set by the run), else `None`.
        cost: What that usage cost in USD, each model's tokens at its own prices (set by the
            run), else `None` (also when a price or a token count is unknown).
    """

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        self.message = redact(message)
        if retryable is not None:
            self.retryable = retryable
        self.messages: tuple[Message, ...] | None = None
        self.usage: Usage | None = None
        self.cost: float | None = None
        super().__init__(self.message)


class APIConnectionError(APIError):
    """No response came back: the name did not resolve, the connection was refused or reset."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """A timeout expired before the response was complete.

    Attributes:
        phase: Which of the four timeouts expired: `"connect"`, `"first_byte"` (the server
            accepted the request but sent nothing), `"idle"` (a stream stalled between
            chunks) or `"total"` (the whole request took too long).
        seconds: The limit that was passed, if known.
    """

    def __init__(
        self,
        phase: Literal["connect", "first_byte", "idle", "total"],
        seconds: float | None = None,
        *,
        retryable: bool | None = None,
    ) -> None:
        self.phase = phase
        self.seconds = seconds
        limit = f" ({seconds:g} s)" if seconds is not None else ""
        what = {
            "connect": "connecting to the server",
            "first_byte": "waiting for the first byte of the response",
            "idle": "waiting for the next chunk of the stream",
            "total": "waiting for the whole response",
        }[phase]
        super().__init__(f"Timed out {what}{limit}.", retryable=retryable)


class APIStatusError(APIError):
    """The server answered with an error status.

    Attributes:
        status_code: The HTTP status.
        code: The error body's `code` (a string or an int), if any.
        error_type: The error body's `type`, if any.
        param: The error body's `param`, if any.
        body: A short, redacted excerpt of the response body (HTML pages included).
        request_id: The `x-request-id` header, for support requests.
        cf_ray: The `cf-ray` header when Cloudflare answered, for support requests.
        retry_after: Seconds the server asked to wait before trying again (`retry-after-ms`
            or `Retry-After`), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        retry_after: float | None = None,
        code: str | int | None = None,
        error_type: str | None = None,
        param: str | None = None,
        body: str | None = None,
        request_id: str | None = None,
        cf_ray: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.status_code = status_code
        self.code = redact(code) if isinstance(code, str) else code
        self.error_type = error_type
        self.param = None if param is None else redact(param)
        self.body = _excerpt(body)
        # Header values may echo a key (a gateway's request id); scrub them like the body.
        self.request_id = None if request_id is None else redact(request_id)
        self.cf_ray = None if cf_ray is None else redact(cf_ray)
        self.retry_after = retry_after
        super().__init__(message, retryable=retryable)

    def __str__(self) -> str:
        details = [
            f"{name}={value}"
            for name, value in (
                ("code", self.code),
                ("param", self.param),
                ("request_id", self.request_id),
                ("cf_ray", self.cf_ray),
            )
            if value is not None
        ]
        suffix = f" ({', '.join(details)})" if details else ""
        return f"HTTP {self.status_code}: {self.message}{suffix}"


class BadRequestError(APIStatusError):
    """HTTP 400: the service refused the request as malformed; resending it will not help."""


class ContextLengthExceededError(BadRequestError):
    """HTTP 400 with `code: context_length_exceeded`: the chat no longer fits the model.

    Shorten the history, lower `max_tokens`, or pick a model with a larger window.

    Also raised before sending, when agentkit counted the prompt (the `tokens` extra) and it
    plus `max_tokens` passes the catalog's window; then nothing was sent, `status_code` is the
    400 the server would have answered, and these are set (else `None`):

    Attributes:
        prompt_tokens: The counted prompt.
        max_tokens: The reply's `max_tokens` (0 when not set).
        context_window: The model's window.
    """

    prompt_tokens: int | None = None
    max_tokens: int | None = None
    context_window: int | None = None

    @classmethod
    def counted(
        cls, prompt_tokens: int, max_tokens: int, context_window: int
    ) -> ContextLengthExceededError:
        """The error for a request refused before sending (see the class docstring)."""
        error = cls(
            f"The prompt has {prompt_tokens} tokens (counted before sending) and max_tokens is "
            f"{max_tokens}: {prompt_tokens + max_tokens} tokens, more than the model's context "
            f"window of {context_window}. Nothing was sent. Shorten the history, lower "
            "max_tokens, or pick a model with a larger window; "
            "ModelSettings(check_context_window=False) sends it anyway.",
            status_code=400,
            code="context_length_exceeded",
        )
        error.prompt_tokens = prompt_tokens
        error.max_tokens = max_tokens
        error.context_window = context_window
        return error

    def __str__(self) -> str:
        if self.prompt_tokens is not None:  # refused before sending: no HTTP status to show
            return self.message
        return super().__str__()


class AuthenticationError(APIStatusError):
    """HTTP 401: the API key is missing, wrong or revoked. Check `GOAPI_KEY`."""


class PermissionDeniedError(APIStatusError):
    """HTTP 403: the key may not use this model or endpoint (GPT-4 needs GoAPI's Developer plan)."""


class NotFoundError(APIStatusError):
    """HTTP 404: the base URL or the model name is wrong."""


class RateLimitError(APIStatusError):
    """HTTP 429: too many requests or tokens per minute; wait and try again.

    `retry_after` holds the wait the server asked for, if it said.
    """

    retryable = True

    def __init__(self, message: str, *, status_code: int = 429, **details: Any) -> None:
        super().__init__(message, status_code=status_code, **details)


class InsufficientQuotaError(APIStatusError):
    """HTTP 429 with `code: insufficient_quota`: the account has no credit left.

    Not retried: waiting does not help. Top up the account or use another key.
    """


class InternalServerError(APIStatusError):
    """HTTP 5xx: the service failed; the client retries these before raising."""

    retryable = True


class GatewayError(InternalServerError):
    """A gateway (Cloudflare) answered instead of the service: 520-524 or a 5xx HTML page.

    A 524 means the response had not started within about 100 s; streaming avoids it.
    """


class StreamError(APIError):
    """The response started as a stream, then broke before it was complete."""

    retryable = True


class TruncatedStreamError(StreamError):
    """The stream ended without a `finish_reason` or `[DONE]`: the answer is incomplete."""


class StreamEventError(StreamError):
    """The stream reported an error instead of ending its answer.

    An event with a top-level `error` object (alone, or beside `choices` as OpenRouter sends
    it), or a `finish_reason` of `"error"`. Retried like a broken stream, unless output had
    reached the caller.

    Attributes:
        code: The error's `code`, if any.
        error_type: The error's `type`, if any.
        partial_text: The answer's text that had arrived before the error (may be `""`).
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | int | None = None,
        error_type: str | None = None,
        partial_text: str = "",
        retryable: bool | None = None,
    ) -> None:
        self.code = code
        self.error_type = error_type
        self.partial_text = partial_text
        super().__init__(message, retryable=retryable)


# --------------------------------------------------------------------------- run errors


class RunError(AgentkitError):
    """An agent run stopped before the model gave its answer.

    Attributes:
        messages: Every message of the run so far, the history included, so nothing is lost:
            pass them as `history=` to go on, or store them.
        usage: What the run had used when it stopped (set by the run), else `None`.
        cost: What that usage cost in USD, each model's tokens at its own prices (set by the
            run), else `None` (also when a price or a token count is unknown).
    """

    def __init__(self, message: str, *, messages: Sequence[Message] = ()) -> None:
        self.messages: tuple[Message, ...] = tuple(messages)
        self.usage: Usage | None = None
        self.cost: float | None = None
        super().__init__(message)


class MaxTurnsExceeded(RunError):
    """The model was still calling tools after `max_turns` requests.

    Attributes:
        max_turns: The bound that was reached.
    """

    def __init__(self, max_turns: int, *, messages: Sequence[Message] = ()) -> None:
        self.max_turns = max_turns
        super().__init__(
            f"The model was still calling tools after {max_turns} turns (max_turns={max_turns}).",
            messages=messages,
        )


class ToolRetriesExceeded(RunError):
    """A tool failed more often in a row than its retry budget allows.

    Attributes:
        tool_name: The tool (or the unknown name the model kept calling).
        retries: The budget that was spent.
        last_error: The text last sent back to the model for this tool.
    """

    def __init__(
        self, tool_name: str, retries: int, last_error: str, *, messages: Sequence[Message] = ()
    ) -> None:
        self.tool_name = tool_name
        self.retries = retries
        self.last_error = last_error
        super().__init__(
            f"Tool {tool_name!r} failed {retries + 1} times in a row (retries={retries}); "
            f"last error: {last_error}",
            messages=messages,
        )


class UsageLimitExceeded(RunError):
    """Sending the next request (or running the next tool) would pass a usage limit.

    Attributes:
        limit: Which limit: `"requests"`, `"tokens"`, `"cost"` or `"tool_calls"`.
        value: What the run would reach.
        maximum: The limit that was set.
        estimated: Whether `value` rests on the four-characters-a-token estimate (the
            `tokens` extra is not installed, or the model's encoding is unknown).
    """

    def __init__(
        self,
        limit: str,
        value: float,
        maximum: float,
        *,
        messages: Sequence[Message] = (),
        estimated: bool = False,
    ) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.estimated = estimated
        how = " (estimated at about four characters a token)" if estimated else ""
        super().__init__(
            f"Usage limit reached: {limit} would be {value:g}{how}, the limit is {maximum:g}.",
            messages=messages,
        )


class ToolCallTruncated(RunError):
    """The model's reply ended (`length` or `content_filter`) in the middle of a function call.

    The call was not executed. Raise `max_tokens`, or shorten the chat.

    Attributes:
        finish_reason: Why the reply ended.
        tool_name: The name of the call that was cut off (may itself be partial).
    """

    def __init__(
        self, finish_reason: str, tool_name: str, *, messages: Sequence[Message] = ()
    ) -> None:
        self.finish_reason = finish_reason
        self.tool_name = tool_name
        super().__init__(
            f"The reply ended with finish_reason={finish_reason!r} in the middle of a call to "
            f"{tool_name!r}; the call was not executed. Raise max_tokens or shorten the chat.",
            messages=messages,
        )


class ModelRefusal(RunError):
    """The model refused to answer (the reply's `refusal` field), so the run has no output.

    Rephrase the request, or pass `on_refusal="output"` to the agent to get the refusal's
    text as the run's output instead.

    Attributes:
        refusal: What the model said.
    """

    def __init__(self, refusal: str, *, messages: Sequence[Message] = ()) -> None:
        self.refusal = refusal
        shown = " ".join(refusal.split())
        if len(shown) > 200:
            shown = shown[:199] + "…"
        super().__init__(f"The model refused to answer: {shown!r}", messages=messages)


class ToolsetError(RunError):
    """A toolset the run depends on stopped working: an MCP server died or hung up.

    Not the tool's fault and not the model's, so it is not fed back to the model: the run
    ends, every call of the reply gets an error result, and `.messages` holds the chat so far
    (a valid history: start the server again and pass it as `history=`).

    Attributes:
        toolset: The toolset's name (the server's command or URL).
    """

    def __init__(self, toolset: str, reason: str, *, messages: Sequence[Message] = ()) -> None:
        self.toolset = toolset
        self.reason = reason
        super().__init__(f"{toolset} stopped working: {reason}", messages=messages)


# --------------------------------------------------------------------------- signals


class ToolRetry(Exception):
    """Raised by a tool to send a message back to the model and let it try again.

    Not an error of agentkit's: the run catches it, sends `message` as the call's result and
    counts one retry against the tool's budget.

    Examples:
        >>> def lookup(city: str) -> str:
        ...     if city != city.strip():
        ...         raise ToolRetry("Strip the spaces around the city name.")
        ...     return "sunny"
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)
