"""The fast path of `@tool` (`_fastschema`) is the pydantic path, only faster.

Signatures drawn from the fast path's vocabulary are turned into a tool twice, once with the
fast path and once with it switched off; the schemas must be byte-identical and both
validators must accept, coerce and refuse the same arguments with the same errors.
"""

from __future__ import annotations

import datetime
import decimal
import inspect
import json
import operator
import os
import typing
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, Optional, Union
from unittest import mock

import annotated_types
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import Field

from agentkit import ArgumentError, Tool, UsageError, _fastschema, _schema, tool

EMPTY = inspect.Parameter.empty

# Kept small for the suite's time limit; a long search: AGENTKIT_FAST_EXAMPLES=3000 with
# `pytest tests/test_fastschema.py --timeout 0`.
EXAMPLES = int(os.environ.get("AGENTKIT_FAST_EXAMPLES", "60"))

# --------------------------------------------------------------------------- strategies

SCALARS = st.sampled_from(
    [str, int, float, bool, None, datetime.datetime, datetime.date, datetime.time, uuid.UUID]
)
LITERAL_VALUES = st.one_of(st.text(max_size=4), st.integers(-3, 3), st.booleans(), st.none())
LITERALS = st.lists(LITERAL_VALUES, min_size=1, max_size=4).map(lambda v: Literal[tuple(v)])


def _either_union(pair: tuple[Any, Any]) -> Any:
    """`X | Y` where Python allows it (types.UnionType or typing.Union), else `Union[X, Y]`."""
    try:
        return operator.or_(*pair)
    except TypeError:
        return Union[pair]  # noqa: UP007  (None | None and friends)


def _compound(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        inner.map(lambda t: list[t]),  # type: ignore[valid-type]
        inner.map(lambda t: dict[str, t]),  # type: ignore[valid-type]
        inner.map(lambda t: tuple[t, ...]),  # type: ignore[valid-type]
        st.lists(inner, min_size=1, max_size=3).map(lambda ts: tuple[tuple(ts)]),
        st.tuples(inner, inner).map(lambda pair: Union[pair]),  # noqa: UP007
        st.tuples(inner, inner).map(_either_union),
        inner.map(lambda t: Optional[t]),  # noqa: UP045
    )


TYPES = st.recursive(st.one_of(SCALARS, LITERALS), _compound, max_leaves=6)

DESCRIPTIONS = st.one_of(st.none(), st.text(max_size=12))


@st.composite
def annotations(draw: st.DrawFn) -> Any:
    """A type, maybe `Annotated` with a description and the constraints its base allows."""
    base = draw(TYPES)
    if not draw(st.booleans()):
        return base
    extras: list[Any] = []
    if (text := draw(DESCRIPTIONS)) is not None:
        extras.append(draw(st.sampled_from([text, Field(description=text)])))
    constraints: dict[str, Any] = {}
    number = st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False))
    if base in (int, float):
        keys = draw(st.sets(st.sampled_from(["ge", "gt", "le", "lt", "multiple_of"])))
        constraints = {key: draw(number) for key in keys}
        if constraints.get("multiple_of") == 0:
            del constraints["multiple_of"]
        if base is int:
            constraints = {k: int(v) for k, v in constraints.items()}
    elif base is str or typing.get_origin(base) is list:
        keys = draw(st.sets(st.sampled_from(["min_length", "max_length"])))
        constraints = {key: draw(st.integers(0, 4)) for key in keys}
        if base is str and draw(st.booleans()):
            constraints["pattern"] = draw(st.sampled_from(["^a", "[0-9]+", "^.{0,3}$"]))
    if constraints:
        extras.append(Field(**constraints))
    if not extras:
        return base
    return Annotated[(base, *extras)]


NAMES = st.sampled_from(
    ["location", "unit", "json", "schema", "_id", "model_config", "title", "type", "p0", "x"]
)
DEFAULTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10),
    st.floats(-10, 10, allow_nan=False),
    st.text(max_size=5),
)


@st.composite
def signatures(draw: st.DrawFn) -> list[tuple[str, Any, Any, str | None]]:
    """Parameters (name, annotation, default or EMPTY, docstring text), defaults last."""
    names = draw(st.lists(NAMES, unique=True, max_size=4))
    params = []
    defaulted = False
    for name in names:
        defaulted = defaulted or draw(st.booleans())
        default = draw(DEFAULTS) if defaulted else EMPTY
        params.append((name, draw(annotations()), default, draw(DESCRIPTIONS)))
    return params


JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10),
        st.floats(-10, 10, allow_nan=False),
        st.text(max_size=5),
        st.sampled_from(["1", "2.5", "true", "a", "0", "2024-02-29T12:30:00.1234567Z"]),
        st.sampled_from(["2024-02-29", "12:30:15.5", "P3DT4H", "PT0.0000015S", "86400.5"]),
        st.sampled_from(
            ["6f9619ff-8b86-d011-b42d-00cf4fc964ff", "6F9619FF8B86D011B42D00CF4FC964FF"]
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


# --------------------------------------------------------------------------- the two paths


def make_function(params: list[tuple[str, Any, Any, str | None]]) -> Callable[..., Any]:
    """A function with exactly this signature, annotations and Google docstring."""

    def function(**kwargs: Any) -> str:
        return "ok"

    function.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=d)
            for name, ann, d, _ in params
        ]
    )
    function.__annotations__ = {name: ann for name, ann, _, _ in params}
    documented = [(name, doc) for name, _, _, doc in params if doc and doc.strip() == doc]
    args = "".join(f"\n    {name}: {doc}" for name, doc in documented if "\n" not in doc)
    function.__doc__ = "Do it.\n" + (f"\nArgs:{args}\n" if args else "")
    return function


@contextmanager
def fast_path_off() -> Iterator[None]:
    with mock.patch.object(_schema, "fast_arguments", return_value=None):
        yield


@contextmanager
def spy() -> Iterator[list[Any]]:
    """Record what each fast-path attempt returned."""
    results: list[Any] = []
    real = _fastschema.fast_arguments

    def record(params: Any, empty: Any) -> Any:
        results.append(real(params, empty))
        return results[-1]

    with mock.patch.object(_schema, "fast_arguments", record):
        yield results


def both(function: Callable[..., Any]) -> tuple[Tool[..., Any], Tool[..., Any]]:
    """The tool with the fast path (which must have been taken) and without it."""
    with spy() as taken:
        fast = tool(function)
    assert len(taken) == 1
    assert taken[0] is not None, "the fast path refused a signature of its vocabulary"
    with fast_path_off():
        slow = tool(function)
    return fast, slow


def outcome(t: Tool[..., Any], arguments: str | dict[str, Any]) -> Any:
    """`repr` of the validated values (types included), or the errors as the model sees them."""
    try:
        return repr(t.validate(arguments))
    except ArgumentError as exc:
        return str(exc), [(e.kind, e.path, e.message) for e in exc.errors]


def arguments_for(draw: st.DrawFn, names: list[str]) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from([*names, "extra"]), unique=True))
    return {key: draw(JSON) for key in keys}


# --------------------------------------------------------------------------- properties


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=signatures(), data=st.data())
@example(
    params=[
        ("location", str, EMPTY, "The city and state, e.g. San Francisco, CA"),
        ("unit", Literal["celsius", "fahrenheit"], "celsius", "Temperature unit."),
    ],
    data=None,
)
def test_fast_path_is_the_pydantic_path(
    params: list[tuple[str, Any, Any, str | None]], data: st.DataObject | None
) -> None:
    """Same schema bytes (plain and strict), same accepted values, same errors."""
    function = make_function(params)
    fast, slow = both(function)
    assert json.dumps(fast.parameters) == json.dumps(slow.parameters)
    assert fast.schema == slow.schema
    names = [name for name, *_ in params]
    samples: list[str | dict[str, Any]] = ["", "{", "[1]", "null", "3", '"x"', "{}"]
    if data is not None:
        for _ in range(4):
            values = arguments_for(data.draw, names)
            samples += [values, json.dumps(values)]
    for arguments in samples:
        assert outcome(fast, arguments) == outcome(slow, arguments), arguments


@settings(max_examples=EXAMPLES // 2, deadline=None)
@given(params=signatures())
def test_strict_schemas_agree(params: list[tuple[str, Any, Any, str | None]]) -> None:
    """strict=True rewrites both schemas alike (or refuses both, with the same message)."""
    function = make_function(params)

    def strict() -> Any:
        try:
            return json.dumps(tool(function, strict=True).parameters)
        except Exception as exc:  # UsageError for open maps, compared by its text
            return type(exc).__name__, str(exc)

    fast = strict()
    with fast_path_off():
        assert strict() == fast


# --------------------------------------------------------------------------- examples


def test_the_readme_tool_takes_the_fast_path() -> None:
    """The common tool shape never builds a pydantic model."""

    def get_current_weather(
        location: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
    ) -> str:
        """Get the current weather.

        Args:
            location: The city and state, e.g. San Francisco, CA
            unit: Temperature unit.
        """
        return location

    with mock.patch("pydantic.create_model", side_effect=AssertionError("model built")):
        weather = tool(get_current_weather)
    assert weather.validate('{"location": "Oslo"}') == {"location": "Oslo", "unit": "celsius"}


@pytest.mark.parametrize(
    ("annotation", "default"),
    [
        (decimal.Decimal, EMPTY),  # a type outside the vocabulary
        (datetime.date, datetime.date(2024, 1, 1)),  # a default that is not a JSON scalar
        (Annotated[int, Field(title="N")], EMPTY),  # a Field option beyond description
        (Annotated[list[Annotated[int, Field(ge=1)]], "ids"], EMPTY),  # Annotated inside
        (int, Field(default=3, ge=0)),  # a Field as the default
        (list[int], [1, 2]),  # a default that is not a scalar
        (float, float("inf")),  # a default JSON cannot write
        (Annotated[str, annotated_types.LowerCase], EMPTY),  # a constraint it lacks
        (Annotated[Optional[int], Field(ge=1)], None),  # noqa: UP045  (constraint on a union)
        (list, EMPTY),  # a bare container
    ],
)
def test_other_parameters_take_the_pydantic_path(annotation: Any, default: Any) -> None:
    """Anything outside the vocabulary falls back, and the tool is what pydantic makes."""
    function = make_function([("value", annotation, default, None)])
    with spy() as taken:
        fast = tool(function)
    assert taken == [None]
    with fast_path_off():
        slow = tool(function)
    assert json.dumps(fast.parameters) == json.dumps(slow.parameters)


@pytest.mark.parametrize("name", ["default", "properties"])
def test_names_pydantic_leaves_unsorted_take_the_pydantic_path(name: str) -> None:
    """A parameter named `default` or `properties` keeps pydantic's own key order."""
    function = make_function([(name, Optional[int], None, "A number.")])  # noqa: UP045
    with spy() as taken:
        fast = tool(function)
    assert taken == [None]
    with fast_path_off():
        assert json.dumps(tool(function).parameters) == json.dumps(fast.parameters)


def test_a_bad_pattern_is_the_usual_usage_error() -> None:
    """A regex pydantic-core refuses falls back, and is a UsageError naming the parameter."""
    function = make_function([("value", Annotated[str, Field(pattern="(")], EMPTY, None)])
    with pytest.raises(UsageError, match="parameter 'value'") as fast:
        tool(function)
    with fast_path_off(), pytest.raises(UsageError, match="parameter 'value'") as slow:
        tool(function)
    assert type(fast.value) is type(slow.value)
    assert str(fast.value) == str(slow.value)


# --------------------------------------------------------------------------- docstrings

DOC_LINES = st.sampled_from(
    [
        "Summary.",
        "Get the weather: now.",
        "",
        "Args:",
        "Arguments:",
        "    x: The x.",
        "    y (int): The y.",
        "        More about y.",
        "Returns:",
        "    int: A number.",
        "Returns: int",
        "Raises:",
        "    ValueError: Bad.",
        ":param x: The x.",
        ":returns: A number.",
        "@param x: The x.",
        "Parameters",
        "----------",
        "x : int",
        "    The x.",
        "Attributes:",
        "    a: An attribute.",
        "Examples:",
        "    >>> f()",
    ]
)


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(lines=st.lists(DOC_LINES, max_size=8), indent=st.sampled_from(["", "    "]))
def test_docstrings_read_as_the_full_parse_reads_them(lines: list[str], indent: str) -> None:
    """The Google-first shortcut gives what parsing with every style gives."""
    doc = lines[0] + "".join(f"\n{indent}{line}" for line in lines[1:]) if lines else ""
    fast = _schema.parse_docstring(doc)
    with mock.patch.object(_schema, "_parse_docstring", _schema.docstring_parser.parse):
        assert fast == _schema.parse_docstring(doc)
