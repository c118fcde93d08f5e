"""Argument errors: check a tool call's arguments and say, for the model, what is wrong.

A validator takes what the model sent (JSON text or a mapping) and returns either the values to
call the function with or the list of `ArgumentIssue`s found; `Tool.validate` raises those as an
`ArgumentError`, whose text is written for the model to read and fix. `PydanticArguments` checks
with pydantic (the `@tool` path), `SchemaArguments` with jsonschema (`Tool.from_schema`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import pydantic
import pydantic_core

from ._exceptions import UsageError
from ._schema import Validator, walk_schema

__all__ = [
    "ArgumentError",
    "ArgumentIssue",
    "PydanticArguments",
    "SchemaArguments",
    "check_refs",
]

#: At most this many problems are spelled out to the model in one error text.
MAX_ISSUES = 5

IssueKind = Literal[
    "invalid_json", "not_object", "missing", "unexpected", "wrong_type", "constraint", "invalid"
]

_LABELS: dict[str, str] = {
    "invalid_json": "invalid JSON",
    "not_object": "not an object",
    "missing": "missing argument",
    "unexpected": "unexpected argument",
    "wrong_type": "wrong type",
    "constraint": "constraint violated",
    "invalid": "invalid value",
}

_CONSTRAINTS = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "multiple_of",
        "finite_number",
        "too_short",
        "too_long",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "decimal_max_digits",
        "decimal_max_places",
        "decimal_whole_digits",
        "bytes_too_short",
        "bytes_too_long",
    }
)

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}


@dataclasses.dataclass(frozen=True)
class ArgumentIssue:
    """One thing wrong with a call's arguments."""

    kind: IssueKind
    """What is wrong: `invalid_json`, `not_object`, `missing`, `unexpected`, `wrong_type`,
    `constraint` or `invalid` (a validator refused the value)."""

    path: tuple[str | int, ...]
    """Where: the parameter, then keys and indexes inside it (empty for the whole call)."""

    message: str
    """The problem in words, for the model."""

    def __str__(self) -> str:
        return f"{self.message} ({_LABELS[self.kind]})"


class ArgumentError(ValueError):
    """The model's arguments for a call are not valid; `str()` is the text sent back to it.

    Not an `AgentkitError`: like `ToolRetry`, it is feedback for the model, and the agent
    turns it into the call's result.

    Attributes:
        tool_name: The tool that was called.
        errors: Each problem found, in order.

    Examples:
        >>> from agentkit import tool
        >>> @tool
        ... def get_current_weather(location: str) -> str:
        ...     '''Get the current weather in a given location.'''
        ...     return "sunny"
        >>> get_current_weather.validate('{}')
        Traceback (most recent call last):
        ...
        agentkit._arguments.ArgumentError: Invalid arguments for get_current_weather: 'location' is required (missing argument).
    """  # noqa: E501

    def __init__(
        self, tool_name: str, errors: Sequence[ArgumentIssue], parameters: Sequence[str] = ()
    ) -> None:
        self.tool_name = tool_name
        self.errors = list(errors)
        shown = "; ".join(str(issue) for issue in self.errors[:MAX_ISSUES])
        if len(self.errors) > MAX_ISSUES:
            shown += f"; and {len(self.errors) - MAX_ISSUES} more"
        text = f"Invalid arguments for {tool_name}: {shown}."
        if any(issue.kind == "unexpected" for issue in self.errors):
            text += f" The parameters are: {', '.join(parameters) or '(none)'}."
        super().__init__(text)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_argument_error, (self.args[0], self.tool_name, self.errors))


def _rebuild_argument_error(text: str, tool_name: str, errors: list[ArgumentIssue]) -> Any:
    error = ArgumentError.__new__(ArgumentError)
    error.args = (text,)
    error.tool_name = tool_name
    error.errors = errors
    return error


def _show(value: Any) -> str:
    """A short JSON-ish rendering of a value the model sent."""
    text = pydantic_core.to_json(value, fallback=repr).decode()
    return text if len(text) <= 60 else text[:59] + "…"


def _where(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return repr(text)


def _issue(kind: IssueKind, path: Sequence[str | int], message: str) -> ArgumentIssue:
    return ArgumentIssue(kind, tuple(path), message)


def _not_object(value: Any) -> ArgumentIssue:
    got = "null" if value is None else _JSON_TYPES.get(type(value), "a number")
    return _issue("not_object", (), f"the arguments must be a JSON object, not {got}")


def _pydantic_issues(error: pydantic.ValidationError) -> list[ArgumentIssue]:
    issues = []
    for detail in error.errors(include_url=False):
        kind, path, message = detail["type"], detail["loc"], detail["msg"]
        if kind == "json_invalid":
            reason = detail.get("ctx", {}).get("error", message)
            issues.append(
                _issue("invalid_json", path, f"the arguments are not valid JSON: {reason}")
            )
        elif kind in ("model_type", "model_attributes_type", "dataclass_type", "dict_type") and (
            not path
        ):
            issues.append(_not_object(detail["input"]))
        elif kind == "missing":
            issues.append(_issue("missing", path, f"{_where(path)} is required"))
        elif kind in ("extra_forbidden", "unexpected_keyword_argument"):
            what = "is not a parameter" if len(path) == 1 else "is not an allowed field"
            issues.append(_issue("unexpected", path, f"{_where(path)} {what}"))
        else:
            message = message.replace("Input should", "should", 1).replace("Value error, ", "", 1)
            text = f"{_where(path)}: {message}, got {_show(detail['input'])}"
            if kind in _CONSTRAINTS:
                issues.append(_issue("constraint", path, text))
            elif kind in ("value_error", "assertion_error"):
                issues.append(_issue("invalid", path, text))
            else:
                issues.append(_issue("wrong_type", path, text))
    # Unknown names last, whatever order pydantic found them in (it changed between versions).
    issues.sort(key=lambda issue: issue.kind == "unexpected")
    return issues


class PydanticArguments:
    """Validates arguments with a pydantic validator or type adapter (the `@tool` path)."""

    def __init__(self, adapter: Validator, unpack: Callable[[Any], dict[str, Any]]) -> None:
        self.adapter = adapter
        self.unpack = unpack

    def __call__(self, arguments: object) -> dict[str, Any] | list[ArgumentIssue]:
        try:
            if isinstance(arguments, str):
                value = self.adapter.validate_json(arguments)
            elif isinstance(arguments, Mapping):
                value = self.adapter.validate_python(dict(arguments))
            else:
                return [_not_object(arguments)]
        except pydantic.ValidationError as exc:
            return _pydantic_issues(exc)
        return self.unpack(value)


class SchemaArguments:
    """Validates arguments against a raw JSON schema with jsonschema (`Tool.from_schema`)."""

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        from jsonschema import Draft202012Validator  # imported when first needed: 28 ms

        self.validator = Draft202012Validator(parameters)

    def __call__(self, arguments: object) -> dict[str, Any] | list[ArgumentIssue]:
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as exc:
                return [_issue("invalid_json", (), f"the arguments are not valid JSON: {exc}")]
        if not isinstance(arguments, Mapping):
            return [_not_object(arguments)]
        values = dict(arguments)
        issues = []
        for error in self.validator.iter_errors(values):
            path = tuple(error.absolute_path)
            instance = error.instance
            if error.validator == "required" and isinstance(instance, Mapping):
                issues += [
                    _issue("missing", (*path, name), f"{_where((*path, name))} is required")
                    for name in error.validator_value
                    if name not in instance
                ]
            elif error.validator == "additionalProperties" and isinstance(instance, Mapping):
                known = error.schema.get("properties", {})
                issues += [
                    _issue("unexpected", (*path, name), f"{_where((*path, name))} is not expected")
                    for name in instance
                    if name not in known
                ]
            else:
                kind: IssueKind = "wrong_type" if error.validator == "type" else "constraint"
                message = f"{_where(path)}: {error.message}" if path else error.message
                issues.append(_issue(kind, path, message))
        return issues or values


def check_refs(parameters: Mapping[str, Any], *, where: str) -> None:
    """Refuse a `$ref` in a raw schema that does not point inside the schema itself.

    jsonschema resolves references only when a value reaches them, so a dangling one would
    surface later, from `validate()`, as jsonschema's own error; agentkit fetches nothing.

    Raises:
        UsageError: A `$ref` names a definition the schema lacks, or another document.

    Examples:
        >>> check_refs({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}},
        ...            where="tool 'f'")
        Traceback (most recent call last):
        ...
        agentkit._exceptions.UsageError: tool 'f': parameters has "$ref": "#/$defs/A", which points to nothing in the schema; add the definition (e.g. under "$defs") or write the subschema in place of the $ref.
    """  # noqa: E501
    from referencing import Registry  # comes with jsonschema; only raw schemas need it
    from referencing.exceptions import Unresolvable
    from referencing.jsonschema import DRAFT202012

    nodes = list(walk_schema(dict(parameters)))
    if any("$id" in node for node in nodes[1:]):
        return  # references relative to a nested $id: left to jsonschema
    resolver = Registry().with_resource("", DRAFT202012.create_resource(parameters)).resolver()
    for node in nodes:
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        if not ref.startswith("#"):
            raise UsageError(
                f'{where}: parameters has "$ref": {json.dumps(ref)}, another document, which '
                "agentkit does not fetch; copy the subschema into the schema (under "
                '"$defs") and refer to it as "#/$defs/<name>".'
            )
        try:
            resolver.lookup(ref)
        except Unresolvable:
            raise UsageError(
                f'{where}: parameters has "$ref": {json.dumps(ref)}, which points to nothing '
                'in the schema; add the definition (e.g. under "$defs") or write the '
                "subschema in place of the $ref."
            ) from None
