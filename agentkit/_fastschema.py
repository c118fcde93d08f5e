"""The common parameter types → a lean JSON schema and a validator, without a pydantic model.

Most tools take strings, numbers, booleans, literals and lists or optionals of them. For such
a signature `fast_arguments` writes the JSON schema straight from the annotations and builds
a `pydantic_core.SchemaValidator` over a typed-dict core schema, skipping `create_model` and
`model_json_schema` (two thirds of what defining a tool cost). Anything else (models,
dataclasses, TypedDicts, enums, `**kwargs`, `Field` options beyond a description
and constraints) returns `None` and takes the pydantic path in `_schema`.

The vocabulary, each part as pydantic builds it (`_generate_schema`, `json_schema`):

    str int float bool None          Literal[str | int | bool | None, ...]
    datetime date time timedelta UUID
    list[X]  dict[str, X]  tuple[X, Y]  tuple[X, ...]  X | Y  Optional[X]
    Annotated[X, "description" | Field(description=..., ge/gt/le/lt/multiple_of,
              min_length/max_length, pattern)] at the top of a parameter

What comes out is byte-identical to the pydantic path's schema, and the validator accepts,
coerces and refuses the same arguments with the same error locations:
`tests/test_fastschema.py` proves it on generated signatures.
"""

from __future__ import annotations

import datetime
import math
import types
import typing
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import annotated_types
from pydantic_core import SchemaValidator, core_schema

__all__ = ["Param", "fast_arguments"]

Param = tuple[str, Any, Any, "str | None"]
"""(name, annotation with its `Annotated` extras, default or `EMPTY`, docstring text)."""

_NONE = type(None)
_SCALARS: dict[Any, tuple[core_schema.CoreSchema, dict[str, Any]]] = {
    str: (core_schema.str_schema(), {"type": "string"}),
    int: (core_schema.int_schema(), {"type": "integer"}),
    float: (core_schema.float_schema(), {"type": "number"}),
    bool: (core_schema.bool_schema(), {"type": "boolean"}),
    None: (core_schema.none_schema(), {"type": "null"}),
    _NONE: (core_schema.none_schema(), {"type": "null"}),
    datetime.datetime: (
        core_schema.datetime_schema(microseconds_precision="truncate"),
        {"type": "string", "format": "date-time"},
    ),
    datetime.date: (core_schema.date_schema(), {"type": "string", "format": "date"}),
    datetime.time: (
        core_schema.time_schema(microseconds_precision="truncate"),
        {"type": "string", "format": "time"},
    ),
    datetime.timedelta: (
        core_schema.timedelta_schema(microseconds_precision="truncate"),
        {"type": "string", "format": "duration"},
    ),
    uuid.UUID: (core_schema.uuid_schema(), {"type": "string", "format": "uuid"}),
}
_LITERAL_TYPES = {str: "string", int: "integer", bool: "boolean", _NONE: "null"}
_DEFAULT_TYPES = frozenset({str, int, float, bool, _NONE})

# Constraint → (core schema key, JSON schema key per base type).
_NUMERIC = {
    annotated_types.Ge: ("ge", "minimum"),
    annotated_types.Gt: ("gt", "exclusiveMinimum"),
    annotated_types.Le: ("le", "maximum"),
    annotated_types.Lt: ("lt", "exclusiveMaximum"),
    annotated_types.MultipleOf: ("multiple_of", "multipleOf"),
}
_LENGTH = {annotated_types.MinLen: "min_length", annotated_types.MaxLen: "max_length"}
_LENGTH_KEYS = {
    "str": {"min_length": "minLength", "max_length": "maxLength"},
    "list": {"min_length": "minItems", "max_length": "maxItems"},
}

# Pydantic leaves a property's schema unsorted when the property has one of these names.
_UNSORTED = frozenset({"properties", "default"})


class _Unsupported(Exception):
    """A parameter outside the vocabulary: the pydantic path handles the whole signature."""


def fast_arguments(
    params: Sequence[Param], empty: Any
) -> tuple[dict[str, Any], SchemaValidator] | None:
    """The lean JSON schema and the validator of these parameters, or `None` if one is not common.

    Args:
        params: Each parameter's name, annotation, default (`empty` when it has none) and
            docstring text, in signature order.
        empty: The marker of "no default" (`inspect.Parameter.empty`).

    Examples:
        >>> import inspect
        >>> schema, validator = fast_arguments(
        ...     [("city", str, inspect.Parameter.empty, "Where."), ("days", int, 3, None)],
        ...     inspect.Parameter.empty,
        ... )
        >>> schema
        {'properties': {'city': {'description': 'Where.', 'type': 'string'}, 'days': {'default': 3, 'type': 'integer'}}, 'required': ['city'], 'type': 'object'}
        >>> validator.validate_json('{"city": "Oslo", "days": "4"}')
        {'city': 'Oslo', 'days': 4}
        >>> fast_arguments([("when", inspect.Parameter, inspect.Parameter.empty, None)], None)
    """  # noqa: E501
    fields: dict[str, core_schema.TypedDictField] = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    try:
        for name, annotation, default, doc in params:
            if name in _UNSORTED:
                raise _Unsupported(name)
            core, shown = _parameter(annotation, doc)
            if default is empty:
                required.append(name)
            else:
                if type(default) not in _DEFAULT_TYPES or (
                    type(default) is float and not math.isfinite(default)
                ):
                    raise _Unsupported(default)
                core = core_schema.with_default_schema(core, default=default)
                shown["default"] = default
            fields[name] = core_schema.typed_dict_field(core, required=default is empty)
            properties[name] = _sorted(shown)
        validator = SchemaValidator(core_schema.typed_dict_schema(fields, extra_behavior="forbid"))
    except Exception:  # _Unsupported, or a constraint pydantic_core refuses: pydantic explains
        return None
    schema: dict[str, Any] = {"properties": properties}
    if required:
        schema["required"] = required
    schema["type"] = "object"
    return schema, validator


def _parameter(annotation: Any, description: str | None) -> tuple[Any, dict[str, Any]]:
    """A parameter's core schema and JSON schema, its description and constraints applied."""
    if typing.get_origin(annotation) is not Annotated:
        core, shown = _type(annotation)
    else:
        base, *metadata = typing.get_args(annotation)
        constraints: list[Any] = []
        for item in metadata:
            if isinstance(item, str):
                description = item
            elif type(item).__name__ == "FieldInfo":  # pydantic.Field(...): its options checked
                # The one private name used: a Field's explicitly set options. Missing in some
                # future pydantic, every Field takes the pydantic path (safe, only slower).
                options = getattr(item, "_attributes_set", None)
                if options is None or not options.keys() <= {"description"}:
                    raise _Unsupported(item)
                if "description" in options:
                    description = item.description
                constraints += item.metadata
            else:
                constraints.append(item)
        core, shown = _type(base)
        if constraints:
            core, shown = _constrain(base, dict(core), shown, constraints)
    if description is not None:
        shown = {**shown, "description": description}
    return core, shown


def _constrain(
    base: Any, core: dict[str, Any], shown: dict[str, Any], constraints: list[Any]
) -> tuple[Any, dict[str, Any]]:
    kind = core["type"]
    shown = dict(shown)
    for item in constraints:
        if type(item) in _NUMERIC and kind in ("int", "float"):
            key, json_key = _NUMERIC[type(item)]
            value = getattr(item, key)
            if type(value) not in (int, float) or not math.isfinite(value):
                raise _Unsupported(item)
            core[key] = shown[json_key] = value
        elif type(item) in _LENGTH and kind in _LENGTH_KEYS:
            key = _LENGTH[type(item)]
            value = getattr(item, key)
            if type(value) is not int:
                raise _Unsupported(item)
            core[key] = shown[_LENGTH_KEYS[kind][key]] = value
        elif (
            kind == "str"
            and type(item).__name__ == "_PydanticGeneralMetadata"  # Field(pattern=...)
            and list(vars(item)) == ["pattern"]
            and type(item.pattern) is str
        ):
            core["pattern"] = shown["pattern"] = item.pattern
        else:
            raise _Unsupported(item)
    return core, shown


def _type(annotation: Any) -> tuple[Any, dict[str, Any]]:
    """A type's core schema and its JSON schema (keys unsorted, nothing shared)."""
    scalar = _SCALARS.get(annotation) if _hashable(annotation) else None
    if scalar is not None:
        return scalar[0], dict(scalar[1])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return _literal(args)
    if origin is typing.Union or origin is types.UnionType:
        return _union(args)
    if origin is list and len(args) == 1:
        core, shown = _type(args[0])
        return core_schema.list_schema(core), {"type": "array", "items": shown}
    if origin is dict and len(args) == 2 and args[0] is str:
        core, shown = _type(args[1])
        dict_core = core_schema.dict_schema(core_schema.str_schema(), core)
        return dict_core, {"type": "object", "additionalProperties": shown}
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        core, shown = _type(args[0])
        tuple_core = core_schema.tuple_schema([core], variadic_item_index=0)
        return tuple_core, {"type": "array", "items": shown}
    if origin is tuple and args and Ellipsis not in args:
        items = [_type(arg) for arg in args]
        shown_items = {"minItems": len(items), "maxItems": len(items)}
        return core_schema.tuple_schema([core for core, _ in items]), {
            "type": "array",
            "prefixItems": [shown for _, shown in items],
            **shown_items,
        }
    raise _Unsupported(annotation)


def _hashable(annotation: Any) -> bool:
    try:
        hash(annotation)
    except TypeError:
        return False
    return True


def _literal(values: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    if not values or any(type(value) not in _LITERAL_TYPES for value in values):
        raise _Unsupported(values)
    expected = list(values)
    shown: dict[str, Any] = {"const": expected[0]} if len(expected) == 1 else {"enum": expected}
    kinds = {type(value) for value in expected}
    if len(kinds) == 1:
        shown["type"] = _LITERAL_TYPES[kinds.pop()]
    return core_schema.literal_schema(expected), shown


def _union(args: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
    """`X | Y | None` as pydantic builds it: a union of the rest, made nullable."""
    choices = [_type(arg) for arg in args if arg is not None and arg is not _NONE]
    nullable = len(choices) < len(args)
    if not choices:
        raise _Unsupported(args)
    if len(choices) == 1:
        core, shown = choices[0]
    else:
        core = core_schema.union_schema([core for core, _ in choices])
        shown = _any_of([shown for _, shown in choices])
    if nullable:
        core = core_schema.nullable_schema(core)
        null = {"type": "null"}
        shown = null if shown == null else _any_of([shown, null])
    return core, shown


def _any_of(schemas: list[dict[str, Any]]) -> dict[str, Any]:
    """Pydantic's `get_flattened_anyof`: nested `anyOf`s flattened, equal members merged."""
    members: list[dict[str, Any]] = []
    for schema in schemas:
        if len(schema) == 1 and "anyOf" in schema:
            members.extend(schema["anyOf"])
        else:
            members.append(schema)
    members = list({_hashed(member): member for member in members}.values())
    return members[0] if len(members) == 1 else {"anyOf": members}


def _hashed(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, _hashed(item)) for key, item in value.items()))
    if isinstance(value, list):
        return tuple(_hashed(item) for item in value)
    return value


def _sorted(value: Any, parent: str | None = None) -> Any:
    """Pydantic's key order: alphabetical, except inside `properties` and `default`."""
    if isinstance(value, dict):
        keys = value if parent in _UNSORTED else sorted(value)
        return {key: _sorted(value[key], key) for key in keys}
    if isinstance(value, list):
        return [_sorted(item, parent) for item in value]
    return value
