"""A deterministic stand-in for a chat model (`agentkit.testing.DemoModel`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._script import Reply

__all__ = ["DemoModel"]

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
