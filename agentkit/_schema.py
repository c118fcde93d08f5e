"""A Python signature or type → one pydantic model → a lean JSON schema.

`function_arguments` reads a function's signature (`get_type_hints(include_extras=True)`) and
docstring and builds one pydantic model whose fields are the parameters. That model's JSON
schema, made lean by `lean_schema` (no titles, simple unions as type lists), is what the model
is shown; the same model validates what the model sends back. A signature of common types
(see `_fastschema`) skips the model: the same schema and a typed-dict validator are written
directly, several times faster. `to_strict` rewrites a schema for OpenAI's strict mode,
or refuses what strict mode cannot express.

Everything here runs once, when a tool is defined, and raises `UsageError` for definitions
that cannot work, naming the function, the parameter and the fix.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import inspect
import re
import textwrap
import typing
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Protocol

import docstring_parser
import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

from ._exceptions import UsageError
from ._fastschema import Param, fast_arguments
from ._log import logger

__all__ = [
    "ArgumentsModel",
    "Validator",
    "check_name",
    "describe",
    "function_arguments",
    "json_schema",
    "lean_schema",
    "output_adapter",
    "parse_docstring",
    "takes_context",
    "to_strict",
    "walk_schema",
]

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""What the chat-completions API accepts as a function name."""

_CONFIG = ConfigDict(extra="forbid")
"""Unknown arguments are errors (in nested dataclasses and TypedDicts too).

`use_attribute_docstrings` is not set here: on Python < 3.13 pydantic searches the call stack
for the class's source, which made defining a tool ten times slower. Nested classes opt in
with their own config.
"""

_EMPTY = inspect.Parameter.empty
_JSON_SCALARS = (str, int, float, bool, type(None))

# Keys whose value is one subschema, a list of them, or a mapping of names to them.
_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems")
_NAMED = ("properties", "$defs", "patternProperties", "dependentSchemas")

_GOOGLE = docstring_parser.google.GoogleParser()
"""What `docstring_parser.parse(style=GOOGLE)` makes anew (compiling its regex) on each call."""

_OTHER_STYLES = re.compile(r"^\s*[:@]|^\s*-+\s*$", re.MULTILINE)
"""A line that starts a reST or Epydoc entry, or underlines a NumPy section."""

_GOOGLE_SECTIONS = frozenset(
    {"Args:", "Arguments:", "Parameters:", "Params:", "Keyword Args:", "Keyword Arguments:"}
)


def check_name(name: str, *, where: str) -> str:
    """Return `name` if the API accepts it as a function name, else raise `UsageError`.

    Examples:
        >>> check_name("get_weather", where="get_weather()")
        'get_weather'
        >>> check_name("get weather", where="f()")
        Traceback (most recent call last):
        ...
        agentkit._exceptions.UsageError: f(): the tool name 'get weather' is not allowed: ...
    """
    if not NAME.fullmatch(name):
        raise UsageError(
            f"{where}: the tool name {name!r} is not allowed: use 1 to 64 letters, digits, "
            "'_' or '-'. Pass a valid one with @tool(name=...)."
        )
    return name


def parse_docstring(doc: str | None) -> tuple[str | None, dict[str, str]]:
    """Split a Google, NumPy or reST docstring into a description and parameter texts.

    The raw docstring is cleaned with `inspect.cleandoc`; a parameter section is parsed as a
    section whatever precedes it (a summary, nothing, or a blank first line), so it never
    becomes the description. `*args`/`**kwargs` are named without stars.

    Examples:
        >>> parse_docstring('''Add two numbers.
        ...
        ...     Args:
        ...         a: The first.
        ...         b: The second.
        ...     ''')
        ('Add two numbers.', {'a': 'The first.', 'b': 'The second.'})
    """
    if not doc or not doc.strip():
        return None, {}
    text = inspect.cleandoc(doc)
    first, _, rest = text.partition("\n")
    if first.strip() in _GOOGLE_SECTIONS and rest[:1] not in ("", " ", "\t"):
        # `"""Args:` on the quotes' line: cleandoc took the section's indentation away
        # along with the common indentation; put it back.
        text = first + "\n" + textwrap.indent(rest, "    ")
    try:
        # docstring-parser cleans the text again, leaving its first line out of the common
        # indentation: a section opening the text would lose its entries' indentation (and
        # be read as the description). A leading newline makes every line count.
        parsed = _parse_docstring("\n" + text)
    except docstring_parser.ParseError:
        return text, {}
    parts = (parsed.short_description, parsed.long_description)
    description = "\n\n".join(part for part in parts if part) or None
    params = {
        param.arg_name.lstrip("*"): param.description
        for param in parsed.params
        if param.description and param.args[0] != "attribute"
    }
    return description, params


def _parse_docstring(text: str) -> docstring_parser.Docstring:
    """`docstring_parser.parse`, which parses with every style, at the cost of one or two.

    The full parse keeps the style with the most entries, the first one (reST) on a tie.
    Without a line only reST (`:`), Epydoc (`@`) or NumPy (`---`) entries start with, those
    styles find no entry: a Google reading with entries wins, and otherwise reST's does.
    """
    if not _OTHER_STYLES.search(text):
        try:
            google = _GOOGLE.parse(text)
        except docstring_parser.ParseError:
            pass  # no entry in any style: reST's reading, as below
        else:
            if google.meta:
                return google
        return docstring_parser.parse(text, style=docstring_parser.DocstringStyle.REST)
    return docstring_parser.parse(text)


class Validator(Protocol):
    """What checks arguments: a `pydantic_core.SchemaValidator` or a `pydantic.TypeAdapter`."""

    def validate_json(self, data: str, /) -> Any: ...

    def validate_python(self, data: Any, /) -> Any: ...


@dataclasses.dataclass(frozen=True)
class ArgumentsModel:
    """A function's parameters as one validator and one schema, and how to call it back.

    Common parameter types get a typed-dict validator written directly (`_fastschema`);
    other signatures get a pydantic model whose fields are named `p0`, `p1`, ... with each
    parameter's name as the alias, so that any parameter name works (`json`, `schema`,
    `_id`) and errors name the parameter.
    """

    validator: Validator
    """Validates the arguments: `validate_json` / `validate_python` of a JSON object."""

    unpack: Callable[[Any], dict[str, Any]]
    """What the validator returned → parameter names to values (`**kwargs` extras included)."""

    names: tuple[str, ...]
    """The parameters' names, in signature order."""

    positional_only: int
    """How many of the leading parameters must be passed by position."""

    takes_context: bool
    """Whether the function's first parameter is the run context (injected, not shown)."""

    var_keyword: bool
    """Whether `**kwargs` takes extra arguments."""

    description: str | None
    """The docstring's summary and long description."""

    schema: dict[str, Any]
    """The model's lean JSON schema (see `json_schema`)."""


def describe(func: Callable[..., Any]) -> str:
    """How errors name a function: its qualified name and `()`.

    Examples:
        >>> describe(describe)
        'describe()'
    """
    return f"{getattr(func, '__qualname__', None) or type(func).__qualname__}()"


def _is_context(annotation: Any, context_type: type | None) -> bool:
    if context_type is None:
        return False
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation is context_type or typing.get_origin(annotation) is context_type


def _mentions(annotation: Any, context_type: type | None) -> bool:
    if _is_context(annotation, context_type):
        return True
    return any(_mentions(arg, context_type) for arg in typing.get_args(annotation))


def _signature(func: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    where = describe(func)
    if isinstance(func, (classmethod, staticmethod)):
        raise UsageError(
            f"{where}: apply tool() to the method after the class is defined, "
            "e.g. tool(MyClass.method) or tool(instance.method)."
        )
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"{where}: its signature cannot be read ({exc}); wrap it in a typed Python function."
        ) from exc
    hints_of = func if inspect.isroutine(func) or inspect.isclass(func) else type(func).__call__
    try:
        hints = typing.get_type_hints(hints_of, include_extras=True)
    except Exception as exc:  # NameError for unresolved forward references, TypeError, ...
        raise UsageError(f"{where}: its type annotations cannot be resolved: {exc}") from exc
    return signature, hints


def takes_context(func: Callable[..., Any], context_type: type) -> bool:
    """Whether `func`'s first parameter is annotated with `context_type` (or a subscript of it).

    Examples:
        >>> from typing import Generic, TypeVar
        >>> T = TypeVar("T")
        >>> class Ctx(Generic[T]): ...
        >>> def f(ctx: Ctx[int], x: int) -> None: ...
        >>> takes_context(f, Ctx), takes_context(print, Ctx)
        (True, False)
    """
    try:
        signature, hints = _signature(func)
    except UsageError:
        return False
    first = next(iter(signature.parameters.values()), None)
    return first is not None and _is_context(hints.get(first.name), context_type)


def _split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    """`Annotated[X, *meta]` → (X, meta) with plain strings turned into descriptions."""
    if typing.get_origin(annotation) is not Annotated:
        return annotation, []
    base, *metadata = typing.get_args(annotation)
    return base, [Field(description=m) if isinstance(m, str) else m for m in metadata]


def _check_default(default: Any, where: str) -> None:
    """Refuse a default the schema cannot show, without ever comparing it (`==` may raise)."""
    value = default.default if isinstance(default, FieldInfo) else default
    if value is _EMPTY or value is pydantic_core.PydanticUndefined or value is ...:
        return
    if type(value) in _JSON_SCALARS:
        return
    if isinstance(value, enum.Enum) and type(value.value) in _JSON_SCALARS:
        return  # written as its value
    try:  # the way pydantic writes a default into the JSON schema
        pydantic.TypeAdapter(type(value)).dump_python(value, mode="json")
    except Exception as exc:
        raise UsageError(
            f"{where}: the default {type(value).__name__} value cannot be written as JSON; "
            "use a JSON value (str, number, bool, None, list, dict) or default_factory=."
        ) from exc


def function_arguments(
    func: Callable[..., Any], *, name: str, context_type: type | None = None
) -> ArgumentsModel:
    """Build the arguments model of a function from its signature and docstring.

    Args:
        func: A function, bound method, static method or callable object.
        name: The tool's name (the model's name, and for log events).
        context_type: A leading parameter annotated with this type (or a subscript of it)
            is injected at call time and left out of the model; anywhere else it is an error.

    Raises:
        UsageError: A parameter lacks an annotation, has a type pydantic cannot validate, a
            default that is not JSON, or the function takes `*args`.

    Examples:
        >>> def add(a: int, b: int = 2) -> int:
        ...     '''Add two numbers.'''
        ...     return a + b
        >>> arguments = function_arguments(add, name="add")
        >>> arguments.names, arguments.description
        (('a', 'b'), 'Add two numbers.')
        >>> arguments.unpack(arguments.validator.validate_json('{"a": 1}'))
        {'a': 1, 'b': 2}
    """
    where = describe(func)
    signature, hints = _signature(func)
    description, documented = parse_docstring(getattr(func, "__doc__", None))
    params = list(signature.parameters.values())
    context = bool(params) and _is_context(hints.get(params[0].name), context_type)
    if context:
        params = params[1:]

    plain: list[Param] = []
    extra: Any = None
    positional_only = 0
    for param in params:
        at = f"{where}, parameter {param.name!r}"
        if param.kind is param.VAR_POSITIONAL:
            raise UsageError(
                f"{at}: *{param.name} cannot be filled from JSON arguments; "
                f"take a list instead, e.g. `{param.name}: list[str]`."
            )
        if param.name not in hints:
            hint = " (decorate the bound method instead)" if param.name in ("self", "cls") else ""
            raise UsageError(
                f"{at} has no type annotation{hint}; add one, e.g. `{param.name}: str`."
            )
        annotation = hints[param.name]
        if _mentions(annotation, context_type):
            raise UsageError(
                f"{at}: {context_type.__name__ if context_type else ''} can only be the "
                "first parameter; move it to the front."
            )
        if param.kind is param.VAR_KEYWORD:
            extra = annotation
            continue
        if param.kind is param.POSITIONAL_ONLY:
            positional_only += 1
        _check_default(param.default, at)
        plain.append((param.name, annotation, param.default, documented.get(param.name)))

    unknown = sorted(documented.keys() - signature.parameters.keys())
    if unknown:
        logger().warning("agentkit.tool.doc_mismatch", tool=name, parameters=unknown)

    fast = None if extra is not None else fast_arguments(plain, _EMPTY)
    validator: Validator
    if fast is not None:
        schema, validator = fast
        unpack: Callable[[Any], dict[str, Any]] = dict.copy
        schema = lean_schema(schema)
    else:
        # Fields named p0, p1, ... with the parameter's name as the alias: any name works.
        definitions: dict[str, Any] = {}
        for index, (param_name, annotation, default, text) in enumerate(plain):
            base, metadata = _split_annotated(annotation)
            own = Field(alias=param_name, description=text)
            default = ... if default is _EMPTY else default
            parts = (base, own, *metadata)
            definitions[f"p{index}"] = (Annotated[parts], default)
        used = {p.name: hints[p.name] for p in params}
        model, schema = _create_model(name, definitions, extra, where, used)
        validator = model.__pydantic_validator__
        unpack = _unpacker(list(definitions), [param for param, *_ in plain], extra is not None)
    return ArgumentsModel(
        validator=validator,
        unpack=unpack,
        schema=schema,
        names=tuple(param for param, *_ in plain),
        positional_only=positional_only,
        takes_context=context,
        var_keyword=extra is not None,
        description=description,
    )


def _unpacker(
    fields: list[str], names: list[str], extra: bool
) -> Callable[[BaseModel], dict[str, Any]]:
    pairs = list(zip(fields, names, strict=True))

    def unpack(instance: BaseModel) -> dict[str, Any]:
        values = {param: getattr(instance, field) for field, param in pairs}
        if extra and instance.model_extra:
            values.update(instance.model_extra)
        return values

    return unpack


def _create_model(
    name: str, definitions: dict[str, Any], extra: Any, where: str, hints: dict[str, Any]
) -> tuple[type[BaseModel], dict[str, Any]]:
    base: type[BaseModel] | None = None
    if extra is not None:
        # A typed `__pydantic_extra__` validates every extra argument against **kwargs' type.
        config: ConfigDict = {**_CONFIG, "extra": "allow"}
        namespace = {"__annotations__": {"__pydantic_extra__": dict[str, extra]}}
        base = type("Arguments", (BaseModel,), {**namespace, "model_config": config})
    try:
        model: type[BaseModel] = pydantic.create_model(
            name, __config__=None if base else _CONFIG, __base__=base, **definitions
        )
        schema = json_schema(model)
    except (
        pydantic.PydanticUserError,
        pydantic.PydanticSchemaGenerationError,
        pydantic_core.SchemaError,  # a constraint pydantic-core refuses, e.g. a bad pattern
        TypeError,
    ) as exc:
        raise _explain(exc, where, hints) from exc
    return model, schema


def _explain(exc: Exception, where: str, hints: dict[str, Any]) -> UsageError:
    """Find the parameter whose type pydantic refused, for an error that names it."""
    lines = str(exc).strip().splitlines()
    # pydantic-core nests its reason under one "Error building ..." line per level.
    reason = lines[-1].strip() if isinstance(exc, pydantic_core.SchemaError) else lines[0]
    for param, annotation in hints.items():
        if not _supported(annotation):
            return UsageError(
                f"{where}, parameter {param!r}: its type {annotation!r} is not supported "
                f"({reason}); use JSON-friendly types: str, int, float, bool, lists, dicts, "
                "Literal, enums, dataclasses, TypedDicts or pydantic models."
            )
    return UsageError(f"{where}: its parameters cannot be turned into a schema: {reason}")


def _supported(annotation: Any) -> bool:
    try:
        pydantic.TypeAdapter(annotation).json_schema()
    except Exception:
        return False
    return True


def output_adapter(
    output_type: Any, *, name: str
) -> tuple[pydantic.TypeAdapter[Any], dict[str, Any], bool]:
    """A validator for structured output of `output_type`, its schema, and whether it is wrapped.

    Types whose schema is an object with properties (pydantic models, dataclasses, TypedDicts)
    are validated as they are; any other type is wrapped in an object as its `response` field,
    because function parameters must be a JSON object.

    Examples:
        >>> adapter, schema, wrapped = output_adapter(list[int], name="final_result")
        >>> wrapped, adapter.validate_json('{"response": ["1", 2]}').response
        (True, [1, 2])
    """
    where = f"output type {output_type!r}"
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(output_type)
        schema = json_schema(adapter)
        wrapped = schema.get("type") != "object" or "properties" not in schema
        if wrapped:
            model = pydantic.create_model(name, __config__=_CONFIG, response=(output_type, ...))
            adapter = pydantic.TypeAdapter(model)
            schema = json_schema(adapter)
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError, TypeError) as exc:
        raise UsageError(f"{where} is not supported: {str(exc).splitlines()[0]}") from exc
    return adapter, schema, wrapped


# --------------------------------------------------------------------------- JSON schema


def json_schema(target: type[BaseModel] | pydantic.TypeAdapter[Any]) -> dict[str, Any]:
    """The lean JSON schema of a model or type adapter, with an object at the top.

    The top-level `additionalProperties: false` is left out: the validator refuses unknown
    arguments anyway, and says so to the model.

    Examples:
        >>> from pydantic import create_model
        >>> json_schema(create_model("f", x=(int, 1)))
        {'properties': {'x': {'default': 1, 'type': 'integer'}}, 'type': 'object'}
    """
    if isinstance(target, pydantic.TypeAdapter):
        schema = target.json_schema()
    else:
        schema = target.model_json_schema()
    schema = lean_schema(schema)
    ref = schema.pop("$ref", None)
    if ref is not None:  # a recursive top-level model: bring its definition to the top
        schema.update(copy.deepcopy(schema["$defs"][ref.rsplit("/", 1)[-1]]))
    if schema.get("additionalProperties") is False:
        del schema["additionalProperties"]  # the validator still refuses unknown arguments
    return schema


def _children(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The subschemas directly inside a schema node."""
    for key, value in node.items():
        if key in _ONE and isinstance(value, dict):
            yield value
        elif key in _MANY and isinstance(value, list):
            yield from (v for v in value if isinstance(v, dict))
        elif key in _NAMED and isinstance(value, dict):
            yield from (v for v in value.values() if isinstance(v, dict))


def walk_schema(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A schema node, then every subschema inside it, depth first (not values like `enum`)."""
    yield node
    for child in _children(node):
        yield from walk_schema(child)


def lean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop every `title` and write unions of plain types as a `type` list, in place.

    Examples:
        >>> lean_schema({"title": "F", "anyOf": [{"type": "integer"}, {"type": "null"}]})
        {'type': ['integer', 'null']}
    """
    for node in walk_schema(schema):
        node.pop("title", None)
        branches = node.get("anyOf")
        if branches and all(list(b) == ["type"] and isinstance(b["type"], str) for b in branches):
            del node["anyOf"]
            node["type"] = [b["type"] for b in branches]
    return schema


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("type")
    return {kind} if isinstance(kind, str) else set(kind or ())


def to_strict(schema: dict[str, Any], *, where: str) -> dict[str, Any]:
    """A copy of `schema` that OpenAI's strict mode accepts.

    Every object is closed (`additionalProperties: false`) and lists all its properties as
    required (so the model always sends a value, and defaults are dropped); `oneOf` becomes
    `anyOf`; a `$ref` with sibling keys is replaced by the definition it points to.

    Raises:
        UsageError: The schema has an open map (`dict[str, X]`), an untyped container or an
            untyped value, which strict mode cannot express. The error names the parameter.

    Examples:
        >>> to_strict({"type": "object", "properties": {"x": {"type": "integer", "default": 1}}},
        ...           where="f()")
        {'type': 'object', 'properties': {'x': {'type': 'integer'}}, 'additionalProperties': False, 'required': ['x']}
    """  # noqa: E501
    schema = copy.deepcopy(schema)
    defs: dict[str, Any] = schema.get("$defs", {})
    done: set[str] = set()

    def refuse(param: str, what: str) -> UsageError:
        return UsageError(
            f"{where}, parameter {param!r}: {what} cannot be used with strict=True; "
            "use a pydantic model, dataclass or TypedDict with named, typed fields "
            "(or list[X] with a type), or pass strict=False."
        )

    def visit(node: dict[str, Any], param: str) -> None:
        ref = node.get("$ref")
        if isinstance(ref, str):
            target = ref.rsplit("/", 1)[-1]
            if len(node) > 1:  # strict mode forbids keys beside $ref: inline the definition
                siblings = {k: v for k, v in node.items() if k != "$ref"}
                node.clear()
                node.update(copy.deepcopy(defs[target]), **siblings)
                visit(node, param)
            elif target not in done:
                done.add(target)
                visit(defs[target], param)
            return
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        node.pop("discriminator", None)
        node.pop("default", None)
        if not node.keys() & {"type", "anyOf", "allOf", "enum", "const", "not"}:
            raise refuse(param, "an untyped value (Any)")
        kinds = _types(node)
        if "array" in kinds and node.get("items", {}) == {} and "prefixItems" not in node:
            raise refuse(param, "a list without an item type")
        if "object" in kinds:
            if node.get("additionalProperties", False) is not False or "properties" not in node:
                raise refuse(param, "an open map (dict[str, X] or dict)")
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
            for child in node["properties"].values():
                visit(child, param)
            return
        for child in _children(node):
            visit(child, param)

    props = schema.get("properties", {})
    if schema.get("additionalProperties", False) is not False:
        raise refuse("**kwargs", "extra arguments (**kwargs or an open map)")
    schema["additionalProperties"] = False
    schema["required"] = list(props)
    for name, child in props.items():
        visit(child, name)
    used = _referenced(schema)
    if "$defs" in schema:
        schema["$defs"] = {k: v for k, v in schema["$defs"].items() if k in used}
        if not schema["$defs"]:
            del schema["$defs"]
    return schema


def _referenced(schema: dict[str, Any]) -> set[str]:
    """Names of the `$defs` reachable from the schema's properties."""
    defs = schema.get("$defs", {})
    seen: set[str] = set()
    stack = [schema.get("properties", {})]
    while stack:
        for node in walk_schema({"properties": stack.pop()}):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = ref.rsplit("/", 1)[-1]
                if target not in seen and target in defs:
                    seen.add(target)
                    stack.append({target: defs[target]})
    return seen
