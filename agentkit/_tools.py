"""`Tool`, `@tool` and `RunContext`: validate a call's arguments, invoke, format results.

A `Tool` wraps a function and stays callable exactly like it. What the model sees is
`tool.schema` (the legacy `functions` entry; the `tools` style wraps the same dict); what the
model sends back goes through `tool.validate`, which returns the values to call with or raises
`ArgumentError` (from `_arguments`), whose text is written for the model to read and fix.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

import pydantic
import pydantic_core

from ._arguments import (
    ArgumentError,
    ArgumentIssue,
    PydanticArguments,
    SchemaArguments,
    check_refs,
)
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
        self._setup(
            function,
            name=name,
            description=arguments.description if description is None else description,
            parameters=to_strict(arguments.schema, where=where) if strict else arguments.schema,
            validator=PydanticArguments(arguments.validator, arguments.unpack),
            names=arguments.names,
            positional=arguments.names[: arguments.positional_only],
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
            UsageError: The name is not allowed, `parameters` is not a valid JSON schema of
                an object, or one of its `$ref`s points outside it.

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
        check_refs(parameters, where=f"tool {name!r}")
        shown = dict(parameters)
        if strict:
            shown = to_strict(shown, where=f"tool {name!r}")
        self: Tool[..., Any] = cls.__new__(cls)
        self._setup(
            function,
            name=name,
            description=description,
            parameters=shown,
            validator=SchemaArguments(parameters),
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
        validator=PydanticArguments(adapter, unpack),
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
