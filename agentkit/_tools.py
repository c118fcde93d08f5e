"""`Tool`, `@tool` and `RunContext`: validate a call's arguments, invoke, format results.

A `Tool` wraps a function and stays callable exactly like it. What the model sees is
`tool.schema` (the legacy `functions` entry; the `tools` style wraps the same dict); what the
model sends back goes through `tool.validate`, which returns the values to call with or raises
`ArgumentError`, whose text is written for the model to read and fix.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, ParamSpec, TypeVar, overload

import pydantic
import pydantic_core

from ._exceptions import UsageError
from ._messages import Message, Usage, UsageLimits
from ._schema import (
    check_name,
    describe,
    function_arguments,
    output_adapter,
    takes_context,
    to_strict,
)

__all__ = [
    "ArgumentError",
    "ArgumentIssue",
    "RunContext",
    "Tool",
    "format_result",
    "index_tools",
    "output_tool",
    "tool",
]

P = ParamSpec("P")
R = TypeVar("R")
DepsT = TypeVar("DepsT")

#: At most this many problems are spelled out to the model in one error text.
MAX_ISSUES = 5


@dataclasses.dataclass
class RunContext(Generic[DepsT]):
    """What a tool can know about the run that called it.

    Annotate a tool's *first* parameter with `RunContext[YourDeps]` and the agent passes it
    in; the model never sees it.

    Examples:
        >>> @tool
        ... def whoami(ctx: RunContext[str]) -> str:
        ...     '''Say who the user is.'''
        ...     return ctx.deps
        >>> whoami.parameters
        {'properties': {}, 'type': 'object'}
        >>> whoami.invoke({}, RunContext(deps="ada", model="gpt-4"))
        'ada'
    """

    deps: DepsT
    """The dependencies given to the run (a database handle, an HTTP client, settings...)."""

    model: str
    """The model the run talks to."""

    messages: tuple[Message, ...] = ()
    """The chat so far, up to the assistant message that made this call."""

    usage: Usage = dataclasses.field(default_factory=Usage)
    """The run's usage so far."""

    tool_name: str = ""
    """The name of the tool being called."""

    call_id: str | None = None
    """The call's id in the `tools` style; `None` for a legacy `function_call`."""

    retry: int = 0
    """How many times in a row this tool has failed so far (0 on a first attempt)."""

    limits: UsageLimits | None = None
    """What is left of the run's usage limits as this call starts (`None`: no limits).

    A tool that runs another agent passes it on, so that run spends the same budget.
    """


# --------------------------------------------------------------------------- argument errors

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
        >>> @tool
        ... def get_current_weather(location: str) -> str:
        ...     '''Get the current weather in a given location.'''
        ...     return "sunny"
        >>> get_current_weather.validate('{}')
        Traceback (most recent call last):
        ...
        agentkit._tools.ArgumentError: Invalid arguments for get_current_weather: 'location' is required (missing argument).
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
        elif kind in ("model_type", "model_attributes_type", "dataclass_type") and not path:
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


class _Arguments:
    """Validates arguments with a pydantic model or type adapter (the `@tool` path)."""

    def __init__(
        self,
        adapter: pydantic.TypeAdapter[Any],
        unpack: Callable[[Any], dict[str, Any]],
    ) -> None:
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


class _RawArguments:
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


# --------------------------------------------------------------------------- Tool


class Tool(Generic[P, R]):
    """A function the model can call: its schema, its validator, and the function itself.

    Made by `@tool` (or `Tool(function, ...)`); calling it calls the function, so a tool
    stays as easy to test as the function was.

    Attributes:
        function: The wrapped callable.
        name: The name the model calls it by.
        description: What the model is told the tool does (`None`: nothing).
        parameters: The JSON schema of the arguments.
        strict: Whether `parameters` follows OpenAI's strict mode.
        retries: How many failures in a row the agent allows (`None`: the agent's default).
        timeout: Seconds the agent lets one call run (`None`: no limit).
        requires_approval: Whether each call must be approved before it runs.
        is_async: Whether calling the function returns an awaitable.
        takes_context: Whether the function's first parameter is a `RunContext`.

    Examples:
        >>> @tool(retries=0)
        ... def add(a: int, b: int = 2) -> int:
        ...     '''Add two numbers.'''
        ...     return a + b
        >>> add(1), add.schema["parameters"]["required"], add.validate('{"a": "3"}')
        (3, ['a'], {'a': 3, 'b': 2})
    """

    function: Callable[P, R]
    name: str
    description: str | None
    parameters: dict[str, Any]
    strict: bool
    retries: int | None
    timeout: float | None
    requires_approval: bool
    is_async: bool
    takes_context: bool

    def __init__(
        self,
        function: Callable[P, R],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        retries: int | None = None,
        timeout: float | None = None,
        requires_approval: bool = False,
    ) -> None:
        if isinstance(function, staticmethod):  # @tool above @staticmethod in a class body
            function = function.__func__
        if isinstance(function, Tool):  # tool(tool(f)): start again from the function
            function = function.function
        where = describe(function)
        name = str(getattr(function, "__name__", "")) if name is None else name
        arguments = function_arguments(function, name=name, context_type=RunContext)
        check_name(name, where=where)
        if strict and arguments.var_keyword:
            raise UsageError(
                f"{where}: **kwargs cannot be used with strict=True (strict schemas are closed);"
                " name each argument as a parameter, or pass strict=False."
            )
        if description is None and arguments.description is None:
            warnings.warn(
                f"{where}: the tool {name!r} has no description, so the model is told nothing "
                "about when to call it; give it a docstring or @tool(description=...).",
                UserWarning,
                stacklevel=_caller_level(),
            )
        fields = arguments.fields
        extra = arguments.var_keyword

        def unpack(instance: Any) -> dict[str, Any]:
            values = {param: getattr(instance, field) for field, param in fields}
            if extra:
                values.update(instance.model_extra)
            return values

        self._setup(
            function,
            name=name,
            description=arguments.description if description is None else description,
            parameters=to_strict(arguments.schema, where=where) if strict else arguments.schema,
            validator=_Arguments(pydantic.TypeAdapter(arguments.model), unpack),
            names=[param for _, param in fields],
            positional=[param for _, param in fields[: arguments.positional_only]],
            takes_context=arguments.takes_context,
            strict=strict,
            retries=retries,
            timeout=timeout,
            requires_approval=requires_approval,
        )

    def _setup(
        self,
        function: Callable[P, R],
        *,
        name: str,
        description: str | None,
        parameters: dict[str, Any],
        validator: Callable[[object], dict[str, Any] | list[ArgumentIssue]],
        names: Sequence[str],
        positional: Sequence[str],
        takes_context: bool,
        strict: bool,
        retries: int | None,
        timeout: float | None,
        requires_approval: bool,
    ) -> None:
        if retries is not None and retries < 0:
            raise UsageError(f"tool {name!r}: retries must be 0 or more, not {retries}.")
        if timeout is not None and not timeout > 0:
            raise UsageError(f"tool {name!r}: timeout must be a number of seconds above 0.")
        self.function = function
        self.name = name
        self.description = description
        self.parameters = parameters
        self.strict = strict
        self.retries = retries
        self.timeout = timeout
        self.requires_approval = requires_approval
        self.takes_context = takes_context
        self.is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
            getattr(function, "__call__", None)  # noqa: B004  (async callable objects)
        )
        self._validator = validator
        self._names = tuple(names)
        self._positional = tuple(positional)
        functools.update_wrapper(self, function, updated=())

    @classmethod
    def from_schema(
        cls,
        *,
        name: str,
        parameters: Mapping[str, Any],
        function: Callable[..., Any],
        description: str | None = None,
        strict: bool = False,
        retries: int | None = None,
        timeout: float | None = None,
        requires_approval: bool = False,
    ) -> Tool[..., Any]:
        """Make a tool from a JSON schema written elsewhere; arguments are checked with jsonschema.

        The function is called with the arguments as keywords (plus a `RunContext` first if its
        first parameter is annotated so).

        Raises:
            UsageError: The name is not allowed, or `parameters` is not a valid JSON schema of
                an object.

        Examples:
            >>> echo = Tool.from_schema(
            ...     name="echo",
            ...     parameters={"type": "object", "properties": {"text": {"type": "string"}}},
            ...     function=lambda text: text,
            ... )
            >>> echo.invoke(echo.validate('{"text": "hi"}'))
            'hi'
        """
        from jsonschema import Draft202012Validator, SchemaError  # only raw schemas need it

        check_name(name, where=f"tool {name!r}")
        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as exc:
            raise UsageError(
                f"tool {name!r}: parameters is not a valid JSON schema: {exc.message}"
            ) from exc
        if parameters.get("type") != "object":
            raise UsageError(f"tool {name!r}: parameters must be a schema with type 'object'.")
        shown = dict(parameters)
        if strict:
            shown = to_strict(shown, where=f"tool {name!r}")
        self: Tool[..., Any] = cls.__new__(cls)
        self._setup(
            function,
            name=name,
            description=description,
            parameters=shown,
            validator=_RawArguments(parameters),
            names=list(parameters.get("properties", {})),
            positional=(),
            takes_context=takes_context(function, RunContext),
            strict=strict,
            retries=retries,
            timeout=timeout,
            requires_approval=requires_approval,
        )
        return self

    @property
    def schema(self) -> dict[str, Any]:
        """The legacy `functions` entry: `{"name", "description", "parameters"}`.

        The `tools` style sends `{"type": "function", "function": tool.schema}`.
        `description` is left out when there is none.
        """
        if self.description is None:
            return {"name": self.name, "parameters": self.parameters}
        return {"name": self.name, "description": self.description, "parameters": self.parameters}

    def validate(self, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
        """Check a call's arguments and return the values to call the function with.

        Args:
            arguments: The JSON text the model sent (`""` means no arguments) or a mapping.

        Returns:
            Parameter names to validated (and coerced) values, defaults filled in.

        Raises:
            ArgumentError: The arguments are not valid; its text tells the model what to fix.
        """
        if isinstance(arguments, str) and not arguments.strip():
            arguments = {}
        result = self._validator(arguments)
        if isinstance(result, list):
            raise ArgumentError(self.name, result, self._names)
        return result

    def invoke(self, values: Mapping[str, Any], ctx: RunContext[Any] | None = None) -> Any:
        """Call the function with validated values (and `ctx`, if it takes a `RunContext`).

        For an async function this returns the awaitable; the caller awaits it.

        Raises:
            UsageError: The function takes a `RunContext` and none was given.
        """
        args: list[Any] = []
        if self.takes_context:
            if ctx is None:
                raise UsageError(f"tool {self.name!r} takes a RunContext; pass ctx= to invoke().")
            args.append(ctx)
        kwargs = dict(values)
        for param in self._positional:
            if param not in kwargs:
                break
            args.append(kwargs.pop(param))
        return self.function(*args, **kwargs)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r})"


@overload
def tool(
    function: Callable[P, R],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
) -> Tool[P, R]: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
) -> Callable[[Callable[P, R]], Tool[P, R]]: ...
def tool(
    function: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
    retries: int | None = None,
    timeout: float | None = None,
    requires_approval: bool = False,
) -> Tool[P, R] | Callable[[Callable[P, R]], Tool[P, R]]:
    """Turn a typed function into a `Tool`; use as `@tool` or `@tool(name=..., ...)`.

    The schema comes from the signature and the docstring (Google, NumPy or reST style);
    bad definitions raise `UsageError` here, not when the model calls.

    Args:
        function: The function (sync or async), bound method or callable object.
        name: The name the model sees; the function's name by default.
        description: What the tool does; the docstring's text by default.
        strict: Make the schema OpenAI strict-mode compatible (closed, all required).
        retries: Failures in a row allowed before the run ends; `None`: the agent's default.
        timeout: Seconds one call may take; `None`: no limit.
        requires_approval: Ask for approval of each call before it runs.

    Examples:
        >>> from typing import Literal
        >>> @tool
        ... def get_current_weather(
        ...     location: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
        ... ) -> str:
        ...     '''Get the current weather in a given location.
        ...
        ...     Args:
        ...         location: The city and state, e.g. San Francisco, CA
        ...         unit: Temperature unit.
        ...     '''
        ...     return f"20 degrees {unit} in {location}"
        >>> get_current_weather("Paris")
        '20 degrees celsius in Paris'
        >>> get_current_weather.schema["parameters"]["properties"]["unit"]
        {'default': 'celsius', 'description': 'Temperature unit.', 'enum': ['celsius', 'fahrenheit'], 'type': 'string'}
    """  # noqa: E501
    options = {
        "name": name,
        "description": description,
        "strict": strict,
        "retries": retries,
        "timeout": timeout,
        "requires_approval": requires_approval,
    }
    if function is None:
        return lambda function: Tool(function, **options)  # type: ignore[arg-type]
    return Tool(function, **options)  # type: ignore[arg-type]


_PACKAGE = os.path.dirname(__file__)


def _caller_level() -> int:
    """The `stacklevel` of the first frame outside agentkit: the user's `@tool` line."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and os.path.dirname(frame.f_code.co_filename) == _PACKAGE:
        frame, level = frame.f_back, level + 1
    return level


def _response(response: Any) -> Any:
    return response


def output_tool(
    output_type: Any,
    *,
    name: str = "final_result",
    description: str | None = None,
    strict: bool = False,
) -> Tool[..., Any]:
    """A tool whose arguments are the run's structured output, of `output_type`.

    A pydantic model, dataclass or TypedDict gives its fields as the parameters; any other
    type is wrapped as `{"response": <type>}`. `validate` returns `{"response": value}` and
    `invoke` returns the validated value itself.

    Examples:
        >>> answer = output_tool(list[int])
        >>> answer.parameters
        {'properties': {'response': {'items': {'type': 'integer'}, 'type': 'array'}}, 'required': ['response'], 'type': 'object'}
        >>> answer.invoke(answer.validate('{"response": [1, "2"]}'))
        [1, 2]
    """  # noqa: E501
    where = f"output type {output_type!r}"
    check_name(name, where=where)
    adapter, schema, wrapped = output_adapter(output_type, name=name)
    # An object type's docstring describes the tool rather than sitting in its parameters.
    if description is None:
        description = schema.pop("description", None)

    def unpack(value: Any) -> dict[str, Any]:
        return {"response": value.response if wrapped else value}

    self: Tool[..., Any] = Tool.__new__(Tool)
    self._setup(
        _response,
        name=name,
        description=description,
        parameters=to_strict(schema, where=where) if strict else schema,
        validator=_Arguments(adapter, unpack),
        names=list(schema.get("properties", {})),
        positional=(),
        takes_context=False,
        strict=strict,
        retries=None,
        timeout=None,
        requires_approval=False,
    )
    return self


def index_tools(tools: Iterable[Tool[..., Any] | Callable[..., Any]]) -> dict[str, Tool[..., Any]]:
    """Tools by name; plain functions are wrapped with `tool()`.

    Raises:
        UsageError: Two tools have the same name.

    Examples:
        >>> def ping() -> str:
        ...     '''Answer pong.'''
        ...     return "pong"
        >>> index_tools([ping])
        {'ping': Tool(name='ping')}
    """
    index: dict[str, Tool[..., Any]] = {}
    for item in tools:
        new = item if isinstance(item, Tool) else tool(item)
        old = index.get(new.name)
        if old is not None:
            raise UsageError(
                f"Two tools are named {new.name!r}: {_qualname(old.function)} and "
                f"{_qualname(new.function)}; rename one with @tool(name=...)."
            )
        index[new.name] = new
    return index


def _qualname(function: Callable[..., Any]) -> str:
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", repr(function))
    return f"{module}.{qualname}" if module else qualname


def format_result(value: Any) -> str:
    """A tool's return value as the text sent to the model.

    A `str` is sent as it is; `None` becomes `"null"` (so the model can tell the tool ran and
    returned nothing); pydantic models, dataclasses, mappings, sequences, sets, numbers and
    booleans become compact JSON; anything else becomes `str(value)`.

    Examples:
        >>> format_result("sunny"), format_result(None), format_result({"temp": 20, "ok": True})
        ('sunny', 'null', '{"temp":20,"ok":true}')
    """
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (a str enum) as its plain text
    if (
        value is None
        or isinstance(value, (pydantic.BaseModel, Mapping, list, tuple, set, frozenset, int, float))
        or (dataclasses.is_dataclass(value) and not isinstance(value, type))
    ):
        return pydantic_core.to_json(value, fallback=str).decode()
    return str(value)
