"""The JSON schema `@tool` generates for each kind of parameter, snapshotted as sent."""

import dataclasses
import datetime
import enum
import sys
import typing
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import pytest
from inline_snapshot import snapshot
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ConfigDict, Field, with_config
from structlog.testing import capture_logs
from typing_extensions import TypedDict

from agentkit import RunContext, UsageError, tool

# These tests are about schemas and validation: most of their functions need no docstring.
pytestmark = pytest.mark.filterwarnings("ignore:.*has no description:UserWarning")


def schema_of(function, **options):
    """The `parameters` of `tool(function)`, after checking it is a valid 2020-12 schema."""
    parameters = tool(function, **options).parameters
    Draft202012Validator.check_schema(parameters)
    return parameters


# --------------------------------------------------------------------------- types used below


class Unit(str, enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    """A postal address."""

    street: str = Field(description="Street and number.")
    city: str


@dataclasses.dataclass
class Point:
    x: Annotated[float, Field(description="Metres east.")]
    y: float = 0.0


@with_config(ConfigDict(use_attribute_docstrings=True))
@dataclasses.dataclass
class Size:
    width: int
    """Width in pixels."""


class Filters(TypedDict):
    tag: Annotated[str, Field(description="Only items with this tag.")]
    limit: int


@with_config(ConfigDict(use_attribute_docstrings=True))
class Window(TypedDict):
    title: str
    """The window's title (a field named `title` is kept)."""


class Category(BaseModel):
    name: str
    children: list["Category"] = []


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


# --------------------------------------------------------------------------- the README example


def test_get_current_weather_schema():
    """The README's example gives OpenAI's own example schema, descriptions from the docstring."""

    def get_current_weather(
        location: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
    ) -> str:
        """Get the current weather in a given location.

        Args:
            location: The city and state, e.g. San Francisco, CA
            unit: Temperature unit.
        """
        return "sunny"

    assert tool(get_current_weather).schema == snapshot(
        {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location.",
            "parameters": {
                "properties": {
                    "location": {
                        "description": "The city and state, e.g. San Francisco, CA",
                        "type": "string",
                    },
                    "unit": {
                        "default": "celsius",
                        "description": "Temperature unit.",
                        "enum": ["celsius", "fahrenheit"],
                        "type": "string",
                    },
                },
                "required": ["location"],
                "type": "object",
            },
        }
    )


def test_description_is_left_out_when_there_is_none():
    """A function without a docstring gets no `description` key at all."""

    def ping() -> str:
        return "pong"

    assert tool(ping).schema == snapshot(
        {"name": "ping", "parameters": {"properties": {}, "type": "object"}}
    )


# --------------------------------------------------------------------------- scalar types


def test_scalars():
    """str, int, float, bool and None map to their JSON types."""

    def f(s: str, i: int, x: float, b: bool, n: None) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "properties": {
                "s": {"type": "string"},
                "i": {"type": "integer"},
                "x": {"type": "number"},
                "b": {"type": "boolean"},
                "n": {"type": "null"},
            },
            "required": ["s", "i", "x", "b", "n"],
            "type": "object",
        }
    )


def test_optional_with_and_without_default():
    """`Optional[X]` and `X | None` become a type list; only a default makes them optional."""

    def f(
        a: Optional[int],  # noqa: UP045  (the old spelling is supported too)
        b: int | None = None,
        c: str | None = "x",
    ) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "properties": {
                "a": {"type": ["integer", "null"]},
                "b": {"default": None, "type": ["integer", "null"]},
                "c": {"default": "x", "type": ["string", "null"]},
            },
            "required": ["a"],
            "type": "object",
        }
    )


def test_unions():
    """Unions of plain types are a type list; unions with structured types stay `anyOf`."""

    def f(a: int | str, b: Union[int, list[str]], c: Address | None = None) -> None:  # noqa: UP007
        ...

    assert schema_of(f) == snapshot(
        {
            "$defs": {
                "Address": {
                    "description": "A postal address.",
                    "properties": {
                        "street": {"description": "Street and number.", "type": "string"},
                        "city": {"type": "string"},
                    },
                    "required": ["street", "city"],
                    "type": "object",
                }
            },
            "properties": {
                "a": {"type": ["integer", "string"]},
                "b": {
                    "anyOf": [{"type": "integer"}, {"items": {"type": "string"}, "type": "array"}]
                },
                "c": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": None},
            },
            "required": ["a", "b"],
            "type": "object",
        }
    )


def test_literals():
    """Literal values become an `enum` (or a `const` for one value)."""

    def f(
        unit: Literal["celsius", "fahrenheit"], level: Literal[1, 2, 3], mode: Literal["fast"]
    ) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "properties": {
                "unit": {"enum": ["celsius", "fahrenheit"], "type": "string"},
                "level": {"enum": [1, 2, 3], "type": "integer"},
                "mode": {"const": "fast", "type": "string"},
            },
            "required": ["unit", "level", "mode"],
            "type": "object",
        }
    )


def test_enums():
    """str and int enums are shown by value, defined once under `$defs`."""

    def f(unit: Unit, priority: Priority = Priority.LOW) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "$defs": {
                "Priority": {"enum": [1, 2], "type": "integer"},
                "Unit": {"enum": ["celsius", "fahrenheit"], "type": "string"},
            },
            "properties": {
                "unit": {"$ref": "#/$defs/Unit"},
                "priority": {"$ref": "#/$defs/Priority", "default": 1},
            },
            "required": ["unit"],
            "type": "object",
        }
    )


def test_containers():
    """list, fixed and variadic tuples, sets and `dict[str, X]`."""

    def f(
        names: list[str],
        pair: tuple[int, str],
        numbers: tuple[float, ...],
        tags: set[str],
        counts: dict[str, int],
    ) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "properties": {
                "names": {"items": {"type": "string"}, "type": "array"},
                "pair": {
                    "maxItems": 2,
                    "minItems": 2,
                    "prefixItems": [{"type": "integer"}, {"type": "string"}],
                    "type": "array",
                },
                "numbers": {"items": {"type": "number"}, "type": "array"},
                "tags": {"items": {"type": "string"}, "type": "array", "uniqueItems": True},
                "counts": {"additionalProperties": {"type": "integer"}, "type": "object"},
            },
            "required": ["names", "pair", "numbers", "tags", "counts"],
            "type": "object",
        }
    )


def test_dates_times_and_uuids():
    """datetime, date, time, timedelta and UUID are strings with their `format`."""

    def f(
        at: datetime.datetime,
        day: datetime.date,
        clock: datetime.time,
        wait: datetime.timedelta,
        id: uuid.UUID,
    ) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "properties": {
                "at": {"format": "date-time", "type": "string"},
                "day": {"format": "date", "type": "string"},
                "clock": {"format": "time", "type": "string"},
                "wait": {"format": "duration", "type": "string"},
                "id": {"format": "uuid", "type": "string"},
            },
            "required": ["at", "day", "clock", "wait", "id"],
            "type": "object",
        }
    )


# --------------------------------------------------------------------------- nested types


def test_nested_model_dataclass_and_typeddict():
    """Nested models, dataclasses and TypedDicts keep their field descriptions."""

    def f(address: Address, point: Point, filters: Filters) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "$defs": {
                "Address": {
                    "description": "A postal address.",
                    "properties": {
                        "street": {"description": "Street and number.", "type": "string"},
                        "city": {"type": "string"},
                    },
                    "required": ["street", "city"],
                    "type": "object",
                },
                "Filters": {
                    "additionalProperties": False,
                    "properties": {
                        "tag": {"description": "Only items with this tag.", "type": "string"},
                        "limit": {"type": "integer"},
                    },
                    "required": ["tag", "limit"],
                    "type": "object",
                },
                "Point": {
                    "additionalProperties": False,
                    "properties": {
                        "x": {"description": "Metres east.", "type": "number"},
                        "y": {"default": 0.0, "type": "number"},
                    },
                    "required": ["x"],
                    "type": "object",
                },
            },
            "properties": {
                "address": {"$ref": "#/$defs/Address"},
                "point": {"$ref": "#/$defs/Point"},
                "filters": {"$ref": "#/$defs/Filters"},
            },
            "required": ["address", "point", "filters"],
            "type": "object",
        }
    )


def test_attribute_docstrings_of_classes_that_opt_in():
    """Classes configured with `use_attribute_docstrings` describe fields by their docstrings."""

    def f(size: Size, window: Window) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "$defs": {
                "Size": {
                    "properties": {"width": {"description": "Width in pixels.", "type": "integer"}},
                    "required": ["width"],
                    "type": "object",
                },
                "Window": {
                    "properties": {
                        "title": {
                            "description": "The window's title (a field named `title` is kept).",
                            "type": "string",
                        }
                    },
                    "required": ["title"],
                    "type": "object",
                },
            },
            "properties": {"size": {"$ref": "#/$defs/Size"}, "window": {"$ref": "#/$defs/Window"}},
            "required": ["size", "window"],
            "type": "object",
        }
    )


def test_recursive_model():
    """A self-referencing model is defined once and referenced from inside itself."""

    def f(root: Category) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "$defs": {
                "Category": {
                    "properties": {
                        "name": {"type": "string"},
                        "children": {
                            "default": [],
                            "items": {"$ref": "#/$defs/Category"},
                            "type": "array",
                        },
                    },
                    "required": ["name"],
                    "type": "object",
                }
            },
            "properties": {"root": {"$ref": "#/$defs/Category"}},
            "required": ["root"],
            "type": "object",
        }
    )


# --------------------------------------------------------------------------- descriptions


def test_annotated_constraints_and_descriptions():
    """`Annotated[X, Field(...)]`, `Annotated[X, "text"]` and `Field(...)` as a default."""

    def f(
        limit: Annotated[int, Field(ge=1, le=50)] = 10,
        query: Annotated[str, "What to look for."] = "",
        page: int = Field(1, ge=1, description="Page number."),
        code: Annotated[str, Field(pattern=r"^[A-Z]{3}$"), "An airport code."] = "CDG",
    ) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "properties": {
                "limit": {"default": 10, "maximum": 50, "minimum": 1, "type": "integer"},
                "query": {"default": "", "description": "What to look for.", "type": "string"},
                "page": {
                    "default": 1,
                    "description": "Page number.",
                    "minimum": 1,
                    "type": "integer",
                },
                "code": {
                    "default": "CDG",
                    "description": "An airport code.",
                    "pattern": "^[A-Z]{3}$",
                    "type": "string",
                },
            },
            "type": "object",
        }
    )


def test_explicit_description_beats_the_docstring():
    """`Field(description=)` and `Annotated[..., "text"]` win over the docstring's text."""

    def f(a: Annotated[int, "From Annotated."], b: int = Field(description="From Field.")) -> None:
        """Do it.

        Args:
            a: From the docstring.
            b: From the docstring.
        """

    assert schema_of(f)["properties"] == snapshot(
        {
            "a": {"description": "From Annotated.", "type": "integer"},
            "b": {"description": "From Field.", "type": "integer"},
        }
    )


def test_titles_are_stripped_but_a_property_named_title_is_kept():
    """No `title` keyword is left anywhere; a parameter called `title` is still a property."""

    def f(title: str, window: Window) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "$defs": {
                "Window": {
                    "properties": {
                        "title": {
                            "description": "The window's title (a field named `title` is kept).",
                            "type": "string",
                        }
                    },
                    "required": ["title"],
                    "type": "object",
                }
            },
            "properties": {"title": {"type": "string"}, "window": {"$ref": "#/$defs/Window"}},
            "required": ["title", "window"],
            "type": "object",
        }
    )


# --------------------------------------------------------------------------- parameter kinds


def test_keyword_only_and_positional_only_parameters():
    """Positional-only and keyword-only parameters are ordinary properties."""

    def f(a: int, /, b: int, *, c: int = 3) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "properties": {
                "a": {"type": "integer"},
                "b": {"type": "integer"},
                "c": {"default": 3, "type": "integer"},
            },
            "required": ["a", "b"],
            "type": "object",
        }
    )


def test_var_keyword_arguments():
    """Typed `**kwargs` accept extra arguments of that type (non-strict only)."""

    def f(name: str, **labels: str) -> None: ...

    assert schema_of(f) == snapshot(
        {
            "additionalProperties": {"type": "string"},
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
            "type": "object",
        }
    )


class Calculator:
    """Methods of every kind."""

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def add(self, a: int) -> int:
        """Add the offset."""
        return a + self.offset

    @classmethod
    def make(cls, offset: int) -> "Calculator":
        """Make a calculator."""
        return cls(offset)

    @staticmethod
    def double(a: int) -> int:
        """Double a number."""
        return 2 * a


@pytest.mark.parametrize(
    ("function", "parameter"),
    [(Calculator(1).add, "a"), (Calculator.make, "offset"), (Calculator.double, "a")],
)
def test_methods_have_no_self_or_cls(function, parameter):
    """Bound methods, classmethods and staticmethods show only their real parameters."""
    assert schema_of(function) == {
        "properties": {parameter: {"type": "integer"}},
        "required": [parameter],
        "type": "object",
    }


def test_tool_above_staticmethod_in_a_class_body():
    """`@tool` may sit above `@staticmethod` inside a class; the tool is called through it."""

    class Maths:
        @tool
        @staticmethod
        def square(a: int) -> int:
            """Square a number."""
            return a * a

    assert Maths.square(3) == 9
    assert Maths.square.parameters["required"] == ["a"]


def test_run_context_is_left_out():
    """A first parameter annotated `RunContext[...]` is injected, not shown to the model."""

    def f(ctx: RunContext[dict[str, int]], city: str) -> None: ...

    assert schema_of(f) == snapshot(
        {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"}
    )


def test_awkward_parameter_names_work():
    """Names that pydantic models reserve (`json`, `schema`, `model_config`, `_id`) are fine."""

    def f(json: bool, schema: str, model_config: int, _id: int, copy: bool = False) -> None: ...

    assert list(schema_of(f)["properties"]) == ["json", "schema", "model_config", "_id", "copy"]


def test_a_default_is_never_compared():
    """Defaults whose `==` and truth value raise (like numpy arrays) are not compared."""

    @dataclasses.dataclass(eq=False)
    class Vector:
        x: int = 1

        def __eq__(self, other: object) -> bool:
            raise ValueError("The truth value of an array is ambiguous.")

        def __bool__(self) -> bool:
            raise ValueError("The truth value of an array is ambiguous.")

    def f(v: Vector = Vector()) -> None:  # noqa: B008  (a shared default on purpose)
        ...

    assert schema_of(f)["properties"]["v"]["default"] == {"x": 1}


# --------------------------------------------------------------------------- docstrings


GOOGLE = """Get the weather.

    More about it.

    Args:
        location: The city.
        unit: The unit.

    Returns:
        A sentence.
    """

GOOGLE_NO_BLANK = """Get the weather.
    Args:
        location: The city.
        unit: The unit.
    """

GOOGLE_FIRST_LINE = """Args:
        location: The city.
        unit: The unit.
    """

NUMPY = """Get the weather.

    Parameters
    ----------
    location : str
        The city.
    unit : str
        The unit.
    """

NUMPY_NO_BLANK = """Get the weather.
    Parameters
    ----------
    location : str
        The city.
    unit : str
        The unit.
    """

NUMPY_FIRST_LINE = """Parameters
    ----------
    location : str
        The city.
    unit : str
        The unit.
    """

REST = """Get the weather.

    :param location: The city.
    :param str unit: The unit.
    """

REST_NO_BLANK = """Get the weather.
    :param location: The city.
    :param unit: The unit.
    """

REST_FIRST_LINE = """:param location: The city.
    :param unit: The unit.
    """

GOOGLE_SECOND_LINE = """
    Args:
        location: The city.
        unit: The unit.

    Returns:
        The weather.
    """

GOOGLE_SECOND_LINE_ONLY_ARGS = """
    Args:
        location: The city.
        unit: The unit.
    """

GOOGLE_TABS = "\n\tArguments:\n\t\tlocation: The city.\n\t\tunit: The unit.\n\t"

NUMPY_SECOND_LINE = """
    Parameters
    ----------
    location : str
        The city.
    unit : str
        The unit.
    """

REST_SECOND_LINE = """
    :param location: The city.
    :param unit: The unit.
    """


@pytest.mark.parametrize(
    ("doc", "description"),
    [
        (GOOGLE, "Get the weather.\n\nMore about it."),
        (GOOGLE_NO_BLANK, "Get the weather."),
        (GOOGLE_FIRST_LINE, None),
        (NUMPY, "Get the weather."),
        (NUMPY_NO_BLANK, "Get the weather."),
        (NUMPY_FIRST_LINE, None),
        (REST, "Get the weather."),
        (REST_NO_BLANK, "Get the weather."),
        (REST_FIRST_LINE, None),
        (GOOGLE_SECOND_LINE, None),
        (GOOGLE_SECOND_LINE_ONLY_ARGS, None),
        (GOOGLE_TABS, None),
        (NUMPY_SECOND_LINE, None),
        (REST_SECOND_LINE, None),
    ],
    ids=[
        "google",
        "google-no-blank",
        "google-first-line",
        "numpy",
        "numpy-no-blank",
        "numpy-first-line",
        "rest",
        "rest-no-blank",
        "rest-first-line",
        "google-second-line",
        "google-second-line-only-args",
        "google-tabs",
        "numpy-second-line",
        "rest-second-line",
    ],
)
def test_docstring_styles(doc, description):
    """Google, NumPy and reST docstrings, with or without a blank line or a summary line;
    a section that opens the docstring (on the quotes' line or the next) is still a section."""

    def get_weather(location: str, unit: str = "celsius") -> str:
        return "sunny"

    get_weather.__doc__ = doc
    weather = tool(get_weather)
    assert weather.description == description
    assert weather.parameters["properties"]["location"]["description"] == "The city."
    assert weather.parameters["properties"]["unit"]["description"] == "The unit."


def test_starred_parameters_are_documented_without_stars():
    """`**labels` in a docstring describes the `labels` parameter without a mismatch warning."""

    def f(name: str, **labels: str) -> None:
        """Tag something.

        Args:
            name: What to tag.
            **labels: Tags to add.
        """

    with capture_logs() as logs:
        tool(f)
    assert logs == []


def test_documented_parameter_that_does_not_exist_is_a_warning():
    """A docstring that documents a missing parameter logs `agentkit.tool.doc_mismatch`."""

    def f(city: str) -> None:
        """Look up a city.

        Args:
            city: The city.
            country: Not a parameter any more.
        """

    with capture_logs() as logs:
        tool(f)
    assert logs == [
        {"event": "agentkit.tool.doc_mismatch", "tool": "f", "parameters": ["country"],
         "log_level": "warning"}
    ]  # fmt: skip


# --------------------------------------------------------------------------- strict mode


def test_strict_schema_is_closed_and_fully_required():
    """`strict=True`: every object is closed and lists every property; defaults are dropped."""

    def f(location: str, unit: Unit = Unit.CELSIUS, at: Address | None = None) -> None: ...

    assert schema_of(f, strict=True) == snapshot(
        {
            "$defs": {
                "Address": {
                    "description": "A postal address.",
                    "properties": {
                        "street": {"description": "Street and number.", "type": "string"},
                        "city": {"type": "string"},
                    },
                    "required": ["street", "city"],
                    "type": "object",
                    "additionalProperties": False,
                }
            },
            "properties": {
                "location": {"type": "string"},
                "unit": {"enum": ["celsius", "fahrenheit"], "type": "string"},
                "at": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}]},
            },
            "required": ["location", "unit", "at"],
            "type": "object",
            "additionalProperties": False,
        }
    )


def test_strict_inlines_refs_with_siblings_and_replaces_one_of():
    """Strict mode has no `$ref` with sibling keys and no `oneOf` (discriminated unions)."""

    def f(
        address: Annotated[Address, "Where to deliver."],
        pet: Annotated[Cat | Dog, Field(discriminator="kind")],
    ) -> None: ...

    parameters = schema_of(f, strict=True)
    assert parameters == snapshot(
        {
            "$defs": {
                "Cat": {
                    "properties": {
                        "kind": {"const": "cat", "type": "string"},
                        "lives": {"type": "integer"},
                    },
                    "required": ["kind", "lives"],
                    "type": "object",
                    "additionalProperties": False,
                },
                "Dog": {
                    "properties": {
                        "kind": {"const": "dog", "type": "string"},
                        "good": {"type": "boolean"},
                    },
                    "required": ["kind", "good"],
                    "type": "object",
                    "additionalProperties": False,
                },
            },
            "properties": {
                "address": {
                    "description": "Where to deliver.",
                    "properties": {
                        "street": {"description": "Street and number.", "type": "string"},
                        "city": {"type": "string"},
                    },
                    "required": ["street", "city"],
                    "type": "object",
                    "additionalProperties": False,
                },
                "pet": {"anyOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}]},
            },
            "required": ["address", "pet"],
            "type": "object",
            "additionalProperties": False,
        }
    )
    assert "oneOf" not in str(parameters)


def test_strict_recursive_model():
    """A recursive model stays a `$ref` cycle, closed and fully required."""

    def f(root: Category) -> None: ...

    assert schema_of(f, strict=True)["$defs"]["Category"] == snapshot(
        {
            "properties": {
                "name": {"type": "string"},
                "children": {"items": {"$ref": "#/$defs/Category"}, "type": "array"},
            },
            "required": ["name", "children"],
            "type": "object",
            "additionalProperties": False,
        }
    )


def _open_map(labels: dict[str, int]) -> None: ...
def _untyped_list(items: list) -> None: ...
def _untyped_dict(data: dict) -> None: ...
def _any(value: Any) -> None: ...
def _nested_open_map(point: Point, extra: list[dict[str, str]]) -> None: ...
def _kwargs(name: str, **labels: str) -> None: ...


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (_open_map, "parameter 'labels': an open map"),
        (_untyped_list, "parameter 'items': a list without an item type"),
        (_untyped_dict, "parameter 'data': an open map"),
        (_any, "parameter 'value': an untyped value"),
        (_nested_open_map, "parameter 'extra': an open map"),
        (_kwargs, "**kwargs cannot be used with strict=True"),
    ],
)
def test_strict_refuses_what_it_cannot_express(function, message):
    """Open maps, untyped containers and **kwargs are refused, naming the parameter and fix."""
    with pytest.raises(UsageError, match="strict") as caught:
        tool(function, strict=True)
    assert message in str(caught.value)
    assert "strict=False" in str(caught.value)


# --------------------------------------------------------------------------- bad definitions


class Opaque:
    """A class pydantic knows nothing about."""


def _missing_annotation(city) -> None: ...
def _unsupported(thing: Opaque) -> None: ...
def _var_positional(*cities: str) -> None: ...
def _context_not_first(city: str, ctx: RunContext[None]) -> None: ...
def _context_nested(contexts: list[RunContext[None]]) -> None: ...
def _unserialisable_default(when: object = Opaque()) -> None: ...


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (_missing_annotation, "_missing_annotation(), parameter 'city' has no type annotation"),
        (_unsupported, "_unsupported(), parameter 'thing': its type"),
        (_var_positional, "_var_positional(), parameter 'cities': *cities cannot be filled"),
        (_context_not_first, "parameter 'ctx': RunContext can only be the first parameter"),
        (_context_nested, "parameter 'contexts': RunContext can only be the first parameter"),
        (_unserialisable_default, "parameter 'when': the default Opaque value cannot be"),
        (max, "max(): its signature cannot be read"),
        (len, "len(), parameter 'obj' has no type annotation"),
    ],
)
def test_bad_definitions_fail_at_decoration(function, message):
    """A definition that cannot work fails at once, naming the function and the parameter."""
    with pytest.raises(UsageError) as caught:
        tool(function)
    assert message in str(caught.value)


@pytest.mark.parametrize("name", ["get weather", "", "x" * 65, "naïve", "a.b"])
def test_bad_names_are_refused(name):
    """Names must match ^[a-zA-Z0-9_-]{1,64}$; the error says how to pass another."""

    def f() -> None: ...

    with pytest.raises(UsageError, match=r"@tool\(name=\.\.\.\)"):
        tool(f, name=name)


def test_a_lambda_needs_a_name():
    """`<lambda>` is not a valid tool name; passing `name=` fixes it."""
    with pytest.raises(UsageError, match="'<lambda>' is not allowed"):
        tool(lambda: None)
    assert tool(lambda: None, name="noop").name == "noop"


def test_method_decorated_in_the_class_body_explains_the_fix():
    """A plain function with an unannotated `self` says to decorate the bound method."""

    def method(self, a: int) -> None: ...

    with pytest.raises(UsageError, match="decorate the bound method instead"):
        tool(method)


def test_a_raw_classmethod_object_is_refused():
    """`@tool` above `@classmethod` cannot work; the error says to decorate `Class.method`."""
    with pytest.raises(UsageError, match=r"tool\(MyClass.method\)"):
        tool(classmethod(lambda cls: None))


def test_unresolvable_annotations_are_a_usage_error():
    """A forward reference that does not resolve names the function."""

    def f(x: "NotDefinedAnywhere") -> None: ...  # noqa: F821

    with pytest.raises(UsageError, match=r"f\(\): its type annotations cannot be resolved"):
        tool(f)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic accepts it from 3.12 on")
def test_typing_typeddict_on_old_pythons_explains_itself():
    """Before 3.12 pydantic refuses `typing.TypedDict`; the error names the parameter and why."""

    class Old(typing.TypedDict):
        a: int

    def f(old: Old) -> None: ...

    with pytest.raises(UsageError, match=r"parameter 'old'.*typing_extensions\.TypedDict"):
        tool(f)
