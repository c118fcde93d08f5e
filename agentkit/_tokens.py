"""Token counts of chat requests, computed offline the way OpenAI's servers count them.

The exact tokenizer comes from the optional extra `tokens` (`pip install
"goapi-agentkit[tokens]"`), which installs `quicktok`: its wheel ships the `cl100k_base`
(GPT-3.5, GPT-4) and `o200k_base` (GPT-4o and newer) encodings, so counting never downloads
anything. It is imported when a count is first needed, never by `import agentkit`. Without
it, or for a model of another family, `counter_for` gives `None` and token figures stay as
the server reported them.

A prompt is counted from the domain messages and the tools' schemas (no JSON is built), by
the rules OpenAI's servers follow for chat messages (measured against the `prompt_tokens`
they reported; `tests/test_tokens.py` holds the recorded figures):

```
prompt  = 3                                     the reply is primed with <|im_start|>assistant
        + Σ message                             each message:
            3 + role + content                    framing, the role's and the text's tokens
            + name + 1                            with a `name`
            + name + arguments + 3  (per call)    an assistant message's function calls
            - 1  for a function result            whose role counts as "function" + its name
        + functions                             when tools are offered:
            render(schemas) + 9                   the TypeScript-like `namespace functions`
            - 4  if a system message exists       which reuses the first system message,
            + 1  for that message's newline        padded with a newline
        + choice                                "none": 1; one forced function: name + 4
completion = content + Σ (name + arguments + 3) per call
```

Both wire styles are counted alike: a `tools`-style tool definition, call and result are
rendered for the model as the legacy `functions` ones are. Images count as OpenAI prices them
without knowing their size: 85 tokens at `detail="low"`, else 765 (a 1024x1024 image).
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from ._exceptions import ContextLengthExceededError
from ._messages import (
    AssistantMessage,
    ImagePart,
    Message,
    ModelResponse,
    SystemMessage,
    ToolResult,
    Usage,
    UserMessage,
)

if TYPE_CHECKING:
    from ._models import ModelInfo, ModelSettings
    from ._tools import Tool

__all__ = [
    "ENCODING_RULES",
    "TokenCounter",
    "counter_for",
    "encoding_for",
    "installed",
    "render_functions",
]

#: Which encoding a model family uses, tried in order (fnmatch patterns on the model name).
ENCODING_RULES: tuple[tuple[str, str], ...] = (
    ("gpt-4o*", "o200k_base"),
    ("chatgpt-4o*", "o200k_base"),
    ("gpt-4.1*", "o200k_base"),
    ("gpt-4.5*", "o200k_base"),
    ("gpt-5*", "o200k_base"),
    ("o1*", "o200k_base"),
    ("o3*", "o200k_base"),
    ("o4*", "o200k_base"),
    ("gpt-3.5*", "cl100k_base"),
    ("gpt-35*", "cl100k_base"),  # Azure's spelling
    ("gpt-4*", "cl100k_base"),
)

_IMAGE_LOW = 85  # OpenAI's price of any image at detail="low"
_IMAGE_DEFAULT = 765  # detail="high"/"auto" for a 1024x1024 image: 4 tiles of 170, plus 85
_CACHE_SIZE = 4096  # messages remembered per counter (a run re-sends its history each turn)


class _Encoding(Protocol):
    def count(self, text: str, /) -> int: ...


def encoding_for(model: str) -> str | None:
    """The name of the encoding `model` uses, or `None` for a model of another family.

    Examples:
        >>> encoding_for("gpt-3.5-turbo-1106"), encoding_for("gpt-4o-mini")
        ('cl100k_base', 'o200k_base')
        >>> encoding_for("mistral-large") is None
        True
    """
    name = model.lower()
    for pattern, encoding in ENCODING_RULES:
        if fnmatch.fnmatchcase(name, pattern):
            return encoding
    return None


def installed() -> bool:
    """Whether the `tokens` extra is installed (without importing it)."""
    return importlib.util.find_spec("quicktok") is not None


@functools.cache
def _load(encoding: str) -> _Encoding:
    """An encoding from the `tokens` extra, loaded once per process (0.5 s for cl100k_base)."""
    try:
        import quicktok  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError as error:
        raise ImportError(
            'Counting tokens needs the tokens extra: pip install "goapi-agentkit[tokens]".'
        ) from error
    loaded: _Encoding = quicktok.get_encoding(encoding)
    return loaded


def _type(node: Mapping[str, Any], indent: int) -> str:
    """A JSON schema as the TypeScript type OpenAI shows the model."""
    branches = node.get("anyOf") or node.get("oneOf")
    if isinstance(branches, list):
        return " | ".join(_type(b, indent) for b in branches if isinstance(b, Mapping))
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(_type({**node, "type": k}, indent) for k in kind)
    enum = node.get("enum")
    if isinstance(enum, list) and kind in ("string", "number", "integer", None):
        return " | ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in enum)
    if kind == "object":
        return "{\n" + _properties(node, indent + 2) + "\n}"
    if kind == "array":
        items = node.get("items")
        return f"{_type(items, indent)}[]" if isinstance(items, Mapping) else "any[]"
    if kind in ("integer", "number"):
        return "number"
    return kind if kind in ("string", "boolean", "null") else "any"


def _properties(node: Mapping[str, Any], indent: int) -> str:
    properties = node.get("properties")
    required = node.get("required") or ()
    lines = []
    for name, prop in (properties if isinstance(properties, Mapping) else {}).items():
        if not isinstance(prop, Mapping):
            continue
        description = prop.get("description")
        if description and indent < 2:
            lines.append(f"// {description}")
        optional = "" if name in required else "?"
        lines.append(f"{name}{optional}: {_type(prop, indent)},")
    return "\n".join(" " * indent + line for line in lines)


def render_functions(schemas: Sequence[Mapping[str, Any]]) -> str:
    """Function definitions as the text the model reads (and the server counts).

    Examples:
        >>> print(render_functions([{
        ...     "name": "get_weather",
        ...     "description": "Get the weather.",
        ...     "parameters": {"type": "object", "properties": {
        ...         "city": {"type": "string", "description": "The city."},
        ...         "unit": {"type": "string", "enum": ["c", "f"]},
        ...     }, "required": ["city"]},
        ... }]))
        namespace functions {
        <BLANKLINE>
        // Get the weather.
        type get_weather = (_: {
        // The city.
        city: string,
        unit?: "c" | "f",
        }) => any;
        <BLANKLINE>
        } // namespace functions
    """
    lines = ["namespace functions {", ""]
    for schema in schemas:
        if schema.get("description"):
            lines.append(f"// {schema['description']}")
        parameters = schema.get("parameters") or {}
        if parameters.get("properties"):
            lines += [f"type {schema['name']} = (_: {{", _properties(parameters, 0), "}) => any;"]
        else:
            lines.append(f"type {schema['name']} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


class TokenCounter:
    """Counts the tokens of one agent's requests, and checks them against the model's window.

    Made by `counter_for`; it loads its encoding when it first counts, remembers what it
    counted (a run sends its history again with every request), and is safe to share between
    concurrent runs.

    Args:
        encoding: The encoding's name: `"cl100k_base"` or `"o200k_base"`.
        context_window: The model's window in tokens, if known.
        max_tokens: The most tokens each reply may have (`ModelSettings.max_tokens`).
        check_context: Whether `check` refuses a prompt that does not fit.
    """

    def __init__(
        self,
        encoding: str,
        *,
        context_window: int | None = None,
        max_tokens: int | None = None,
        check_context: bool = True,
    ) -> None:
        self.encoding = encoding
        self._encoding: _Encoding | None = None
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.check_context = check_context
        self._messages: dict[Message, int] = {}
        self._tools: dict[tuple[Tool[..., Any], ...], int] = {}

    def text(self, text: str) -> int:
        """The tokens of a piece of text."""
        if not text:
            return 0
        encoding = self._encoding
        if encoding is None:
            encoding = self._encoding = _load(self.encoding)
        try:
            return encoding.count(text)
        except (UnicodeEncodeError, TypeError):  # a lone surrogate, as JSON may carry one
            return encoding.count(text.encode("utf-8", "replace").decode("utf-8"))

    def message(self, message: Message) -> int:
        """The tokens one message adds to a prompt, framing included."""
        count = self._messages.get(message)
        if count is None:
            count = self._message(message)
            if len(self._messages) >= _CACHE_SIZE:
                self._messages.clear()
            self._messages[message] = count
        return count

    def _message(self, message: Message) -> int:
        text = self.text
        if isinstance(message, ToolResult):  # role "function", and its name
            return 2 + text("function") + text(message.name) + text(message.content)
        count = 3 + text(message.role)
        if isinstance(message, AssistantMessage):
            count += text(message.content or "") + self._calls(message)
        elif isinstance(message, UserMessage) and not isinstance(message.content, str):
            for part in message.content:
                if isinstance(part, ImagePart):
                    count += _IMAGE_LOW if part.detail == "low" else _IMAGE_DEFAULT
                else:
                    count += text(part.text)
        else:
            count += text(message.content)  # type: ignore[arg-type]  # str: parts handled above
        if not isinstance(message, AssistantMessage) and message.name:
            count += text(message.name) + 1
        return count

    def _calls(self, message: AssistantMessage) -> int:
        text = self.text
        return sum(text(c.name) + text(c.arguments) + 3 for c in message.calls)

    def functions(self, tools: Sequence[Tool[..., Any]]) -> int:
        """The tokens the definitions of `tools` add to a prompt (0 for none)."""
        if not tools:
            return 0
        key = tuple(tools)
        count = self._tools.get(key)
        if count is None:
            count = self.text(render_functions([t.schema for t in tools])) + 9
            if len(self._tools) >= _CACHE_SIZE:
                self._tools.clear()
            self._tools[key] = count
        return count

    def prompt(
        self,
        messages: Sequence[Message],
        tools: Sequence[Tool[..., Any]] = (),
        tool_choice: str | None = None,
    ) -> int:
        """The prompt tokens of a request with these messages, tools and forced choice.

        Args:
            messages: The chat as sent.
            tools: The tools offered.
            tool_choice: `"auto"`, `"none"`, `"required"` or a tool's name, as sent.

        Examples:
            >>> from agentkit import UserMessage
            >>> counter = TokenCounter("cl100k_base")
            >>> counter.prompt([UserMessage("hello world")])  # 3 + "user" + 2 + 3
            9
        """
        count = 3 + sum(self.message(m) for m in messages)
        if tools:
            count += self.functions(tools)
            system = next((m for m in messages if isinstance(m, SystemMessage)), None)
            if system is not None:
                # The definitions join the first system message, whose text gains a newline.
                count += self.text(system.content + "\n") - self.text(system.content) - 4
            if tool_choice == "none":
                count += 1
            elif tool_choice not in (None, "auto", "required"):
                count += self.text(tool_choice) + 4
        return count

    def completion(self, message: AssistantMessage) -> int:
        """The completion tokens of a reply: its text and its calls.

        Examples:
            >>> from agentkit import AssistantMessage
            >>> TokenCounter("cl100k_base").completion(AssistantMessage("hello world"))
            2
        """
        return self.text(message.content or "") + self._calls(message)

    def check(self, prompt_tokens: int) -> None:
        """Refuse a request whose prompt plus `max_tokens` does not fit the model's window.

        Raises:
            ContextLengthExceededError: With `prompt_tokens`, `max_tokens` and
                `context_window` set; nothing was sent.
        """
        window = self.context_window
        if not self.check_context or window is None:
            return
        reply = self.max_tokens or 0
        if prompt_tokens + reply > window:
            raise ContextLengthExceededError.counted(prompt_tokens, reply, window)

    def fill(self, response: ModelResponse, prompt_tokens: int) -> ModelResponse:
        """`response` with counted token figures when its server reported none."""
        if response.usage.unreported_requests == 0:
            return response
        usage = Usage(
            requests=response.usage.requests,
            prompt_tokens=prompt_tokens,
            completion_tokens=self.completion(response.message),
            counted_requests=1,
        )
        return replace(response, usage=usage)


def counter_for(model: ModelInfo, settings: ModelSettings | None = None) -> TokenCounter | None:
    """The counter for requests to `model`, or `None` if its tokens cannot be counted.

    `None` when the model is not of a family whose encoding is known (see `ENCODING_RULES`),
    or when the `tokens` extra is not installed.
    """
    encoding = encoding_for(model.name)
    if encoding is None or not installed():
        return None
    return TokenCounter(
        encoding,
        context_window=model.context_window,
        max_tokens=None if settings is None else settings.max_tokens,
        check_context=settings is None or settings.check_context_window is not False,
    )
