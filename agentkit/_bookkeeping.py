"""The loop's bookkeeping: token estimates, costs, history checks, tool error texts.

Small functions `_loop` calls, kept apart so that `_loop` holds the actions and the loop:
`estimate_tokens` (a rough prompt size for budgets), `total_cost` (a run's price with what
agents run as tools spent), `check_history` (every call has its one result) and `error_text`
(what the model reads when a tool raised: scrubbed of keys and the home directory, capped).
None of them sees JSON or HTTP.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from ._exceptions import UsageError, redact
from ._messages import AssistantMessage, Message, ToolCall, ToolResult, Usage, UserMessage
from ._models import ModelInfo
from ._tools import Tool

__all__ = ["check_history", "error_text", "estimate_tokens", "total_cost"]


def estimate_tokens(messages: Sequence[Message], tools: Sequence[Tool[..., Any]] = ()) -> int:
    """A rough, offline estimate of a prompt's tokens: about four characters a token.

    English text averages about four characters per token in OpenAI's encodings; each
    message costs a few tokens of framing. It is an estimate for budgets, never reported as
    usage.
    """
    chars = 0
    for message in messages:
        chars += 16
        if isinstance(message, AssistantMessage):
            chars += len(message.content or "")
            chars += sum(len(c.name) + len(c.arguments) for c in message.calls)
        elif isinstance(message, UserMessage):
            chars += len(message.text)
        else:
            chars += len(message.content)
    chars += sum(len(repr(t.schema)) for t in tools)
    return chars // 4 + 1


def total_cost(
    model: ModelInfo, usage: Usage, delegated: Usage, delegated_cost: float | None
) -> float | None:
    """The price of `usage`: its own part at `model`'s prices, plus what was delegated."""
    if delegated.requests == 0:
        return model.cost(usage)
    own = Usage(
        requests=usage.requests - delegated.requests,
        prompt_tokens=_minus(usage.prompt_tokens, delegated.prompt_tokens),
        completion_tokens=_minus(usage.completion_tokens, delegated.completion_tokens),
        tool_calls=usage.tool_calls - delegated.tool_calls,
        unreported_requests=usage.unreported_requests - delegated.unreported_requests,
        counted_requests=usage.counted_requests - delegated.counted_requests,
    )
    own_cost = model.cost(own) if own.requests else 0.0
    if own_cost is None or delegated_cost is None:
        return None
    return own_cost + delegated_cost


def _minus(total: int | None, part: int | None) -> int | None:
    return total if part is None or total is None else total - part


def check_history(messages: Sequence[Message]) -> None:
    """Refuse a history in which a function call has no result, or a result no call.

    Raises:
        UsageError: naming the message and the call, so the history can be repaired.
    """
    pending: list[tuple[int, ToolCall]] = []
    for index, message in enumerate(messages):
        if isinstance(message, ToolResult):
            if not pending:
                raise UsageError(
                    f"history[{index}] is a result for {message.name!r} that answers no call; "
                    "results must follow the assistant message whose calls they answer."
                )
            at, call = pending.pop(0)
            if call.id is not None and message.call_id is not None and call.id != message.call_id:
                raise UsageError(
                    f"history[{index}] answers call id {message.call_id!r}, but the next "
                    f"unanswered call is {call.name!r} (id {call.id!r}) of history[{at}]; "
                    "results must come in call order."
                )
            continue
        if pending:
            at, call = pending[0]
            raise UsageError(
                f"history[{at}] calls {call.name!r} (id {call.id!r}) but no result follows it "
                f"before history[{index}]; every call needs exactly one ToolResult."
            )
        if isinstance(message, AssistantMessage):
            pending = [(index, call) for call in message.calls]
    if pending:
        at, call = pending[0]
        raise UsageError(
            f"history[{at}] calls {call.name!r} (id {call.id!r}) but the history ends without "
            "its result; every call needs exactly one ToolResult."
        )


_ERROR_DETAIL_CHARS = 500  # enough for a reason, never a dump


def error_text(error: BaseException, tool: Tool[..., Any]) -> str:
    """What the model reads when a tool raised: the type and a scrubbed, capped message."""
    if isinstance(error, TimeoutError) and tool.timeout is not None:
        return f"Error: {tool.name} timed out after {tool.timeout:g} s."
    detail = _scrubbed(str(error)) or "no details"
    if len(detail) > _ERROR_DETAIL_CHARS:
        detail = detail[: _ERROR_DETAIL_CHARS - 1] + "…"
    return f"Error: {tool.name} raised {type(error).__name__}: {detail}"


def _scrubbed(text: str) -> str:
    """`text` without what the model need not see: keys, and where the user's home is.

    Removes the value of `GOAPI_KEY` (8 characters or more: a shorter one is no real key,
    and replacing it would garble the text) and whatever `redact` finds (bearer tokens,
    `sk-...` keys, `api_key=...` pairs), and writes the home directory as `~`. A key given
    only as `api_key=` is not known here; `redact`'s patterns are what catches it.
    """
    key = os.environ.get("GOAPI_KEY", "")
    text = redact(text, [key] if len(key) >= 8 else [])
    homes = {os.path.expanduser("~"), os.path.realpath(os.path.expanduser("~"))}
    for home in sorted(homes, key=len, reverse=True):
        if len(home) > 1:  # a home of "/" would turn every path into "~"
            text = re.sub(re.escape(home) + r"(?![\w.-])", "~", text)  # not /home/ann-x
    return text
