"""`Tool`: calling, validating a call's arguments, invoking, and the text sent to the model."""

import asyncio
import dataclasses
import datetime
import enum
import pickle
import uuid
from typing import Annotated, Literal

import pytest
from inline_snapshot import snapshot
from pydantic import BaseModel, Field, field_validator
from typing_extensions import TypedDict

from agentkit import AgentkitError, ArgumentError, RunContext, Tool, ToolRetry, UsageError, tool
from agentkit._arguments import ArgumentIssue
from agentkit._tools import format_result, index_tools, output_tool
from tests.spec import assert_valid_request

# These tests are about schemas and validation: most of their functions need no docstring.
pytestmark = pytest.mark.filterwarnings("ignore:.*has no description:UserWarning")


@tool
def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
        unit: Temperature unit.
    """
    return f"20 degrees {unit} in {location}"


class Color(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(BaseModel):
    name: str
    quantity: int = Field(1, ge=1)

    @field_validator("name")
    @classmethod
    def no_blank_names(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name must not be blank")
        return value


@dataclasses.dataclass
class Box:
    width: int
    height: int


class Person(TypedDict):
    name: str
    age: int


@tool
def order(
    items: list[Item],
    when: datetime.date,
    color: Color = Color.RED,
    box: Box | None = None,
    tags: set[str] = frozenset(),
    pair: tuple[int, str] = (0, ""),
    id: uuid.UUID | None = None,
    count: Annotated[int, Field(ge=0, le=10)] = 0,
) -> str:
    """Place an order."""
    return "ok"


# --------------------------------------------------------------------------- the Tool value


def test_a_tool_is_still_the_function():
    """A decorated function is called exactly as before, and keeps its name and docstring."""
    assert get_current_weather("Paris", unit="fahrenheit") == "20 degrees fahrenheit in Paris"
    assert get_current_weather.__name__ == "get_current_weather"
    assert get_current_weather.__doc__.startswith("Get the current weather")
    assert isinstance(get_current_weather, Tool)


def test_attributes():
    """name, description, parameters, schema and the options are plain attributes."""
    assert get_current_weather.name == "get_current_weather"
    assert get_current_weather.description == "Get the current weather in a given location."
    assert get_current_weather.schema == {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location.",
        "parameters": get_current_weather.parameters,
    }
    assert get_current_weather.strict is False
    assert get_current_weather.retries is None
    assert get_current_weather.timeout is None
    assert get_current_weather.requires_approval is False
    assert get_current_weather.is_async is False
    assert get_current_weather.takes_context is False


def test_options_of_the_decorator():
    """`@tool(...)` sets the name, description and the agent's per-tool options."""

    @tool(name="lookup", description="Look it up.", retries=0, timeout=2.5, requires_approval=True)
    def f(q: str) -> str:
        """Ignored: the description was given."""
        return q

    assert (f.name, f.description, f.retries, f.timeout, f.requires_approval) == (
        "lookup",
        "Look it up.",
        0,
        2.5,
        True,
    )
    assert f("x") == "x"


def test_a_tool_can_be_made_again_with_other_options():
    """`tool(existing_tool, ...)` starts from the function, so options can be changed."""
    renamed = tool(get_current_weather, name="weather", strict=True)
    assert renamed.function is get_current_weather.function
    assert (renamed.name, renamed.strict) == ("weather", True)
    assert renamed.parameters["required"] == ["location", "unit"]


@pytest.mark.parametrize(("option", "value"), [("retries", -1), ("timeout", 0), ("timeout", -1.0)])
def test_bad_options_are_refused(option, value):
    """A negative retry budget or a timeout that is not above 0 is a UsageError."""

    def f() -> None: ...

    with pytest.raises(UsageError, match=option):
        tool(f, **{option: value})


def test_async_tools_stay_async():
    """An async function gives an async tool; calling it returns a coroutine as before."""

    @tool
    async def fetch(url: str) -> str:
        """Fetch a page."""
        return f"<html>{url}</html>"

    assert fetch.is_async
    assert asyncio.run(fetch("x")) == "<html>x</html>"
    assert asyncio.run(fetch.invoke(fetch.validate('{"url": "y"}'))) == "<html>y</html>"


def test_async_callable_object():
    """A callable object with an async `__call__` is detected as async."""

    class Fetcher:
        async def __call__(self, url: str) -> str:
            return url

    fetcher = tool(Fetcher(), name="fetch")
    assert fetcher.is_async
    assert fetcher.parameters["required"] == ["url"]


# --------------------------------------------------------------------------- validation: good


def test_validate_accepts_json_text_and_mappings():
    """A JSON string and a dict validate alike; defaults are filled in."""
    expected = {"location": "Paris", "unit": "celsius"}
    assert get_current_weather.validate('{"location": "Paris"}') == expected
    assert get_current_weather.validate({"location": "Paris"}) == expected


@pytest.mark.parametrize("empty", ["", "  ", "\n"])
def test_empty_arguments_mean_no_arguments(empty):
    """`""` is what some models send for a call without arguments: it means `{}`."""

    def now() -> str:
        """The time."""
        return "noon"

    assert tool(now).validate(empty) == {}
    with pytest.raises(ArgumentError, match="'location' is required"):
        get_current_weather.validate(empty)


def test_lax_coercion():
    """Numbers and booleans written as strings are accepted ("3" -> 3, "true" -> True)."""

    def f(n: int, x: float, flag: bool, day: datetime.date) -> None: ...

    values = tool(f).validate('{"n": "3", "x": "2.5", "flag": "true", "day": "2024-02-29"}')
    assert values == {"n": 3, "x": 2.5, "flag": True, "day": datetime.date(2024, 2, 29)}


@pytest.mark.parametrize("number", ["5", "5.0", "true", "null"])
def test_a_str_parameter_never_takes_a_number(number):
    """A `str` parameter refuses numbers and booleans instead of silently turning them to text."""
    with pytest.raises(ArgumentError, match="'location': should be a valid string"):
        get_current_weather.validate(f'{{"location": {number}}}')


def test_validated_values_are_python_values():
    """Nested models, dataclasses, enums, dates, sets, tuples and UUIDs come back as such."""
    values = order.validate(
        {
            "items": [{"name": "pen", "quantity": "2"}],
            "when": "2024-01-31",
            "color": "blue",
            "box": {"width": 1, "height": 2},
            "tags": ["a", "a", "b"],
            "pair": [1, "x"],
            "id": "12345678-1234-5678-1234-567812345678",
        }
    )
    assert values == {
        "items": [Item(name="pen", quantity=2)],
        "when": datetime.date(2024, 1, 31),
        "color": Color.BLUE,
        "box": Box(width=1, height=2),
        "tags": {"a", "b"},
        "pair": (1, "x"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "count": 0,
    }


def test_typed_dict_values_are_dicts():
    """A TypedDict parameter is validated into a plain dict."""

    def f(person: Person) -> str:
        return person["name"]

    people = tool(f)
    assert people.invoke(people.validate('{"person": {"name": "Ada", "age": "36"}}')) == "Ada"
    assert people.validate('{"person": {"name": "Ada", "age": "36"}}') == {
        "person": {"name": "Ada", "age": 36}
    }


def test_var_keyword_arguments_are_validated_and_passed():
    """Extra arguments go to typed `**kwargs`, validated against its type."""

    @tool
    def label(name: str, **labels: int) -> dict[str, int]:
        return {name: sum(labels.values())}

    assert label.invoke(label.validate('{"name": "x", "a": "1", "b": 2}')) == {"x": 3}
    with pytest.raises(ArgumentError, match="'c': should be a valid integer"):
        label.validate('{"name": "x", "c": "many"}')


# --------------------------------------------------------------------------- validation: bad


def _error(arguments, function=get_current_weather):
    with pytest.raises(ArgumentError) as caught:
        function.validate(arguments)
    return caught.value


def test_missing_argument():
    """The README's error text: short, specific, naming the argument."""
    error = _error('{"unit": "celsius"}')
    assert str(error) == (
        "Invalid arguments for get_current_weather: 'location' is required (missing argument)."
    )
    assert error.errors == [ArgumentIssue("missing", ("location",), "'location' is required")]


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        (
            '{"location": "Paris"',
            snapshot(
                "Invalid arguments for get_current_weather: the arguments are not valid JSON: "
                "EOF while parsing an object at line 1 column 20 (invalid JSON)."
            ),
        ),
        (
            "[1, 2]",
            snapshot(
                "Invalid arguments for get_current_weather: the arguments must be a JSON object, "
                "not an array (not an object)."
            ),
        ),
        (
            '"Paris"',
            snapshot(
                "Invalid arguments for get_current_weather: the arguments must be a JSON object, "
                "not a string (not an object)."
            ),
        ),
        (
            '{"location": "Paris", "units": "celsius"}',
            snapshot(
                "Invalid arguments for get_current_weather: 'units' is not a parameter "
                "(unexpected argument). The parameters are: location, unit."
            ),
        ),
        (
            '{"location": ["Paris"]}',
            snapshot(
                "Invalid arguments for get_current_weather: 'location': should be a valid "
                'string, got ["Paris"] (wrong type).'
            ),
        ),
        (
            '{"location": "Paris", "unit": "kelvin"}',
            snapshot(
                "Invalid arguments for get_current_weather: 'unit': should be 'celsius' or "
                "'fahrenheit', got \"kelvin\" (wrong type)."
            ),
        ),
    ],
    ids=["invalid-json", "array", "string", "unexpected", "wrong-type", "bad-literal"],
)
def test_error_texts(arguments, text):
    """Each kind of mistake has a text the model can act on."""
    assert str(_error(arguments)) == text


def test_constraint_violated_and_nested_paths():
    """Constraints name the path inside nested values; validators' messages are passed on."""
    error = _error(
        '{"items": [{"name": " ", "quantity": 0}], "when": "someday", "count": 11}', order
    )
    assert str(error) == snapshot(
        "Invalid arguments for order: 'items[0].name': name must not be blank, got \" \" "
        "(invalid value); 'items[0].quantity': should be greater than or equal to 1, got 0 "
        "(constraint violated); 'when': should be a valid date or datetime, input is too short, "
        "got \"someday\" (wrong type); 'count': should be less than or equal to 10, got 11 "
        "(constraint violated)."
    )
    assert [(issue.kind, issue.path) for issue in error.errors] == [
        ("invalid", ("items", 0, "name")),
        ("constraint", ("items", 0, "quantity")),
        ("wrong_type", ("when",)),
        ("constraint", ("count",)),
    ]


def test_unexpected_nested_field():
    """An unknown key inside a nested dataclass is reported with its path."""
    error = _error(
        '{"items": [], "when": "2024-01-01", "box": {"width": 1, "height": 2, "depth": 3}}', order
    )
    assert str(error) == snapshot(
        "Invalid arguments for order: 'box.depth' is not an allowed field (unexpected argument). "
        "The parameters are: items, when, color, box, tags, pair, id, count."
    )


def test_long_values_are_shortened():
    """A long wrong value is cut in the text, so errors stay short."""
    error = _error({"location": list(range(100))})
    assert len(str(error)) < 200
    assert "…" in str(error)


def test_many_errors_are_counted_not_listed():
    """At most five problems are spelled out; the rest are counted."""

    def f(a: int, b: int, c: int, d: int, e: int, f: int, g: int) -> None: ...

    assert str(_error("{}", tool(f))).endswith("'e' is required (missing argument); and 2 more.")


def test_argument_error_is_feedback_not_an_agentkit_error():
    """ArgumentError is a ValueError for the model, outside the AgentkitError tree."""
    error = _error("{}")
    assert isinstance(error, ValueError)
    assert not isinstance(error, AgentkitError)
    assert error.tool_name == "get_current_weather"


def test_argument_error_pickles():
    """Batch workers in other processes can send the error back whole."""
    error = _error('{"location": 1, "x": 2}')
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert copy.errors == error.errors
    assert copy.tool_name == error.tool_name


def test_a_mapping_that_is_not_a_dict_and_a_non_mapping():
    """Any Mapping is accepted; anything else is 'not an object'."""
    from types import MappingProxyType

    assert get_current_weather.validate(MappingProxyType({"location": "x"}))["location"] == "x"
    assert "not an array" in str(_error(["location"]))


# --------------------------------------------------------------------------- invoke


def test_invoke_passes_positional_only_parameters_by_position():
    """Positional-only parameters are passed by position, the others by keyword."""

    @tool
    def f(a: int, b: int, /, c: int, *, d: int = 4) -> tuple[int, int, int, int]:
        return (a, b, c, d)

    assert f.invoke(f.validate('{"a": 1, "b": 2, "c": 3}')) == (1, 2, 3, 4)


def test_invoke_passes_the_context_first():
    """A tool taking RunContext gets the context as its first argument."""

    @dataclasses.dataclass
    class Deps:
        greeting: str

    def greet(ctx: RunContext[Deps], name: str) -> str:
        """Greet someone."""
        return f"{ctx.deps.greeting}, {name} (attempt {ctx.retry + 1} of {ctx.tool_name})"

    greeter = tool(greet)
    context = RunContext(deps=Deps("Hello"), model="gpt-4", tool_name="greet", retry=1)
    assert greeter.takes_context
    assert greeter.invoke(greeter.validate('{"name": "Ada"}'), context) == (
        "Hello, Ada (attempt 2 of greet)"
    )
    assert greeter(context, "Bob").startswith("Hello, Bob")


def test_invoke_without_a_context_for_a_tool_that_needs_one():
    """Forgetting the context is the caller's bug: a UsageError."""

    def f(ctx: RunContext[None]) -> None: ...

    with pytest.raises(UsageError, match="takes a RunContext"):
        tool(f).invoke({})


def test_tool_retry_passes_through_invoke():
    """A tool raising ToolRetry raises it out of invoke, for the loop to handle."""

    @tool
    def strict_city(city: str) -> str:
        if city != city.strip():
            raise ToolRetry("Strip the spaces around the city name.")
        return city

    with pytest.raises(ToolRetry, match="Strip the spaces"):
        strict_city.invoke(strict_city.validate('{"city": " Paris "}'))


def test_run_context_defaults():
    """A RunContext needs only deps and model, so tools are easy to test."""
    context = RunContext(deps=None, model="gpt-3.5-turbo")
    assert (context.messages, context.tool_name, context.call_id, context.retry) == (
        (),
        "",
        None,
        0,
    )
    assert context.usage.requests == 0


# --------------------------------------------------------------------------- raw schemas

SEARCH_SCHEMA = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to search for."},
        "limit": {"type": "integer", "minimum": 1, "maximum": 50},
    },
    "required": ["query"],
    "additionalProperties": False,
}


def search(query: str, limit: int = 10) -> list[str]:
    return [query] * limit


def test_from_schema_keeps_the_schema_and_calls_by_keyword():
    """A raw schema is shown as given; valid arguments are passed as keywords."""
    searcher = Tool.from_schema(
        name="search", description="Search the web.", parameters=SEARCH_SCHEMA, function=search
    )
    assert searcher.schema == {
        "name": "search",
        "description": "Search the web.",
        "parameters": SEARCH_SCHEMA,
    }
    assert searcher.invoke(searcher.validate('{"query": "x", "limit": 2}')) == ["x", "x"]


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        ("", "'query' is required (missing argument)"),
        ('{"query": 1}', "'query': 1 is not of type 'string' (wrong type)"),
        ('{"query": "x", "limit": 0}', "'limit': 0 is less than the minimum of 1 (constraint"),
        ('{"query": "x", "page": 2}', "'page' is not expected (unexpected argument)"),
        ("{'query': 'x'}", "not valid JSON: Expecting property name enclosed in double quotes"),
        ("[]", "must be a JSON object, not an array (not an object)"),
    ],
)
def test_from_schema_validates_with_jsonschema(arguments, text):
    """Raw-schema tools give the same kinds of error text, from jsonschema."""
    searcher = Tool.from_schema(name="search", parameters=SEARCH_SCHEMA, function=search)
    with pytest.raises(ArgumentError) as caught:
        searcher.validate(arguments)
    assert text in str(caught.value)


def test_from_schema_strict_and_context():
    """`strict=True` rewrites the raw schema; a RunContext first parameter is detected."""

    def f(ctx: RunContext[str], query: str, limit: int = 10) -> str:
        return f"{ctx.deps}:{query}:{limit}"

    raw = {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "default": 10}},
    }
    searcher = Tool.from_schema(name="search", parameters=raw, function=f, strict=True)
    assert searcher.parameters == snapshot(
        {
            "type": "object",
            "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
            "additionalProperties": False,
            "required": ["query", "limit"],
        }
    )
    assert raw["properties"]["limit"] == {"type": "integer", "default": 10}  # not mutated
    assert searcher.takes_context
    context = RunContext(deps="me", model="gpt-4")
    assert searcher.invoke(searcher.validate('{"query": "q"}'), context) == "me:q:10"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"type": "object", "properties": {"q": {"type": "text"}}}, "not a valid JSON schema"),
        ({"type": "array", "items": {"type": "string"}}, "type 'object'"),
        ({"properties": {}}, "type 'object'"),
    ],
)
def test_from_schema_refuses_bad_schemas(parameters, message):
    """An invalid schema, or one that is not an object, is refused when the tool is made."""
    with pytest.raises(UsageError, match=message):
        Tool.from_schema(name="f", parameters=parameters, function=search)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("#/$defs/Missing", r'has "\$ref": "#/\$defs/Missing", which points to nothing'),
        ("#/definitions/Filter", "points to nothing in the schema"),
        ("https://example.com/filter.json", "another document, which agentkit does not fetch"),
        ("filter.json#/Filter", "another document"),
    ],
)
def test_from_schema_refuses_a_ref_that_points_outside_the_schema(ref, message, strict):
    """A dangling `$ref` is a UsageError when the tool is made, never jsonschema's at a call."""
    parameters = {
        "type": "object",
        "$defs": {"Filter": {"type": "object", "properties": {"tag": {"type": "string"}}}},
        "properties": {"filter": {"$ref": ref}, "q": {"type": "string"}},
    }
    with pytest.raises(UsageError, match=message):
        Tool.from_schema(name="search", parameters=parameters, function=search, strict=strict)


def test_from_schema_follows_refs_that_resolve():
    """References into `$defs` (and to the root) work, in validation and in strict mode."""
    parameters = {
        "type": "object",
        "$defs": {
            "Filter": {
                "type": "object",
                "properties": {"tag": {"type": "string"}, "child": {"$ref": "#/$defs/Filter"}},
            }
        },
        "properties": {"filter": {"$ref": "#/$defs/Filter"}},
    }
    searcher = Tool.from_schema(name="search", parameters=parameters, function=search)
    assert searcher.validate('{"filter": {"tag": "a", "child": {"tag": "b"}}}')
    with pytest.raises(ArgumentError, match=r"filter\.child\.tag"):
        searcher.validate('{"filter": {"tag": "a", "child": {"tag": 1}}}')
    Tool.from_schema(name="search", parameters=parameters, function=search, strict=True)


def test_from_schema_checks_the_name():
    """Raw-schema tools follow the same naming rule."""
    with pytest.raises(UsageError, match="not allowed"):
        Tool.from_schema(name="web search", parameters={"type": "object"}, function=search)


# --------------------------------------------------------------------------- output tools


class Answer(BaseModel):
    """The final answer."""

    text: str
    confidence: float = Field(ge=0, le=1)


def test_output_tool_for_a_model():
    """An object type's fields are the parameters; its docstring describes the tool."""
    final = output_tool(Answer)
    assert final.schema == snapshot(
        {
            "name": "final_result",
            "description": "The final answer.",
            "parameters": {
                "properties": {
                    "text": {"type": "string"},
                    "confidence": {"maximum": 1, "minimum": 0, "type": "number"},
                },
                "required": ["text", "confidence"],
                "type": "object",
            },
        }
    )
    answer = final.invoke(final.validate('{"text": "42", "confidence": "0.9"}'))
    assert answer == Answer(text="42", confidence=0.9)


@pytest.mark.parametrize(
    ("output_type", "arguments", "value"),
    [
        (Box, '{"width": 1, "height": "2"}', Box(1, 2)),
        (Person, '{"name": "Ada", "age": 36}', {"name": "Ada", "age": 36}),
        (list[int], '{"response": [1, "2"]}', [1, 2]),
        (int, '{"response": "7"}', 7),
        (Literal["yes", "no"], '{"response": "no"}', "no"),
    ],
)
def test_output_tool_returns_the_value(output_type, arguments, value):
    """Object types are validated whole; other types are wrapped as `response` and unwrapped."""
    final = output_tool(output_type, name="answer")
    assert final.parameters["type"] == "object"
    assert final.invoke(final.validate(arguments)) == value


def test_output_tool_errors_and_strict():
    """Bad output is an ArgumentError like any call's; strict output schemas are closed."""
    final = output_tool(list[int], strict=True, description="The numbers.")
    assert final.schema == snapshot(
        {
            "name": "final_result",
            "description": "The numbers.",
            "parameters": {
                "properties": {"response": {"items": {"type": "integer"}, "type": "array"}},
                "required": ["response"],
                "type": "object",
                "additionalProperties": False,
            },
        }
    )
    with pytest.raises(ArgumentError, match=r"'response\[1\]': should be a valid integer"):
        final.validate('{"response": [1, "x"]}')


def test_output_tool_refuses_unsupported_types():
    """A type pydantic cannot validate is a UsageError at once."""
    with pytest.raises(UsageError, match="is not supported"):
        output_tool(object())


# --------------------------------------------------------------------------- index_tools


def test_index_tools_wraps_plain_functions():
    """Tools are indexed by name; plain functions are wrapped with `tool()` on the way."""

    def ping() -> str:
        return "pong"

    index = index_tools([get_current_weather, ping])
    assert list(index) == ["get_current_weather", "ping"]
    assert index["get_current_weather"] is get_current_weather
    assert index["ping"]() == "pong"


def test_index_tools_refuses_duplicate_names():
    """Two tools with one name is a UsageError naming both functions."""

    def get_current_weather(city: str) -> str:
        return city

    with pytest.raises(UsageError) as caught:
        index_tools([globals()["get_current_weather"], get_current_weather])
    assert str(caught.value) == snapshot(
        "Two tools are named 'get_current_weather': tests.test_tools.get_current_weather and "
        "tests.test_tools.test_index_tools_refuses_duplicate_names.<locals>.get_current_weather; "
        "rename one with @tool(name=...)."
    )


# --------------------------------------------------------------------------- format_result


@dataclasses.dataclass
class Reading:
    temp: float
    at: datetime.datetime


class Opaque:
    def __str__(self) -> str:
        return "<opaque>"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("sunny", "sunny"),
        ("", ""),
        (Color.RED, "red"),
        (None, "null"),
        (42, "42"),
        (2.5, "2.5"),
        (True, "true"),
        ({"temp": 20, "unit": "C"}, '{"temp":20,"unit":"C"}'),
        ([1, "two", None], '[1,"two",null]'),
        ((1, 2), "[1,2]"),
        (Item(name="pen"), '{"name":"pen","quantity":1}'),
        (
            Reading(20.5, datetime.datetime(2024, 1, 1, 12)),
            '{"temp":20.5,"at":"2024-01-01T12:00:00"}',
        ),
        ({"thing": Opaque()}, '{"thing":"<opaque>"}'),
        (Opaque(), "<opaque>"),
        (datetime.date(2024, 1, 1), "2024-01-01"),
    ],
)
def test_format_result(value, text):
    """Text as is, None as null, structured values as compact JSON, the rest through str()."""
    assert format_result(value) == text


# --------------------------------------------------------------------------- on the wire


def _nested(point: Box, items: list[Item], at: datetime.datetime | None = None) -> None:
    """A tool with nested types."""


WIRE_TOOLS = [
    get_current_weather,
    order,
    tool(_nested),
    tool(_nested, name="nested_strict", strict=True),
    Tool.from_schema(name="search", parameters=SEARCH_SCHEMA, function=search),
    output_tool(Answer),
]


@pytest.mark.parametrize("wire_tool", WIRE_TOOLS, ids=lambda t: t.name)
def test_schema_is_a_valid_request_in_both_styles(wire_tool):
    """`functions: [t.schema]` and `tools: [{"type": "function", ...}]` pass both spec files."""
    messages = [{"role": "user", "content": "What is the weather like in Boston?"}]
    assert_valid_request(
        {"model": "gpt-3.5-turbo-0613", "messages": messages, "functions": [wire_tool.schema]}
    )
    assert_valid_request(
        {
            "model": "gpt-3.5-turbo-1106",
            "messages": messages,
            "tools": [{"type": "function", "function": wire_tool.schema}],
        }
    )


# --------------------------------------------------------------------------- typing


def test_user_code_type_checks():
    """Realistic user code in tests/typing/ passes `mypy --strict`: tools keep their signatures."""
    from pathlib import Path

    from mypy import api

    path = Path(__file__).parent / "typing" / "test_tool_typing.py"
    stdout, stderr, status = api.run(["--strict", "--warn-unused-ignores", str(path)])
    assert status == 0, stdout + stderr


# --------------------------------------------------------------------------- undocumented tools


@pytest.mark.filterwarnings("error")
def test_a_tool_without_description_warns_at_decoration():
    """No docstring and no description: the model would be told nothing, so say so, pointing
    at the user's line (not agentkit's)."""

    def lookup(city: str) -> str:
        return city

    with pytest.warns(
        UserWarning, match=r"lookup\(\): the tool 'lookup' has no description"
    ) as got:
        tool(lookup)
    assert got[0].filename == __file__
    with pytest.warns(UserWarning, match="has no description"):
        tool(name="find")(lookup)


@pytest.mark.filterwarnings("error")
def test_a_described_tool_does_not_warn():
    """A docstring or a description is enough; a raw-schema tool is not warned about."""

    def documented(city: str) -> str:
        """Look a city up."""
        return city

    def undocumented(city: str) -> str:
        return city

    tool(documented)
    tool(undocumented, description="Look a city up.")
    Tool.from_schema(name="raw", parameters={"type": "object"}, function=undocumented)
