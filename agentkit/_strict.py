"""What the test kit checks in every request, as the real API does, before the script sees it.

`check_request` takes a request as it arrives (method, path, headers, body bytes) and either
returns its parsed body or a `Rejection`: the status and the OpenAI-shaped error the real
service would send.

- 404: any method but `POST`, or any path but `/v1/chat/completions`.
- 401: no `Authorization: Bearer <key>` header.
- 400: a body that is not JSON, or does not validate against the chat-completions request
  schema (both vendored files in `agentkit/_spec/`: today's and GoAPI's era; the fields
  today's API widened, `tool_choice` and `response_format`, against today's only); the
  message names the field. Also a `tool` message that answers no call of the assistant message
  before it, an assistant's call left without an answer, and a `function` message with no
  `function_call` before it.

The schemas are compiled once per process; checking a typical request costs well under a
millisecond.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["SPEC_DIR", "SPEC_FILES", "Rejection", "check_request", "error_body"]

SPEC_DIR = Path(__file__).with_name("_spec")
SPEC_FILES = ("openai_chat_schema.json", "openai_chat_schema_2023-12-14.json")
CHAT_PATH = "/v1/chat/completions"

_BEARER = re.compile(r"Bearer +\S+", re.IGNORECASE)
_NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization "
    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_NOT_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
    "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was "
    "sent was not valid JSON.)"
)


@dataclass(frozen=True)
class Rejection:
    """A request the real service would refuse: the status and the error body it sends."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None

    def body(self) -> bytes:
        """The error as OpenAI sends it: `{"error": {"message", "type", "param", "code"}}`."""
        return error_body(self.message, self.param, self.code)


def error_body(message: str, param: str | None = None, code: str | None = None) -> bytes:
    """An OpenAI-shaped `invalid_request_error` body."""
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json.dumps({"error": error}).encode()


def check_request(
    method: str, path: str, headers: Mapping[str, str], content: bytes
) -> dict[str, Any] | Rejection:
    """The request's parsed body, or why the real API would refuse the request."""
    path = path.partition("?")[0]
    if method != "POST" or path != CHAT_PATH:
        return Rejection(404, f"Invalid URL ({method} {path})")
    if not _BEARER.fullmatch(headers.get("authorization", "").strip()):
        return Rejection(401, _NO_KEY)
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return Rejection(400, _NOT_JSON)
    problem = _schema_problem(body)
    if problem is not None:
        return problem
    return _pairing_problem(body["messages"]) or body


# The arrays of a request checked item by item, each against the schema of its items, with a
# stand-in that is valid under both files for the rest of the body.
_LISTS = {
    "messages": {"role": "user", "content": "x"},
    "functions": {"name": "f"},
    "tools": {"type": "function", "function": {"name": "f"}},
}


_NEWER = frozenset({"tool_choice", "response_format"})


@functools.cache
def _validators() -> tuple[tuple[Draft202012Validator, dict[str, Draft202012Validator]], ...]:
    """For each schema file: the request's validator, and one per array of `_LISTS` items."""
    from jsonschema import Draft202012Validator

    out = []
    for name in SPEC_FILES:
        doc = json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))
        request = _properties(doc["$defs"]["CreateChatCompletionRequest"])
        items = {
            key: Draft202012Validator({"$defs": doc["$defs"], **request[key]["items"]})
            for key in ("functions", "tools")
        }
        # A message is one of a `oneOf` by role: check it against its role's branch only.
        message = request["messages"]["items"]
        if "$ref" in message:
            message = doc["$defs"][message["$ref"].rsplit("/", 1)[-1]]
        for branch in message.get("oneOf", ()):
            definition = doc["$defs"][branch["$ref"].rsplit("/", 1)[-1]]
            for role in definition["properties"]["role"].get("enum", ()):
                items[f"messages:{role}"] = Draft202012Validator({**doc, "$ref": branch["$ref"]})
        doc["$ref"] = "#/$defs/CreateChatCompletionRequest"
        out.append((Draft202012Validator(doc), items))
    return tuple(out)


def _properties(node: Any) -> dict[str, Any]:
    """The `properties` that define `messages`, wherever the schema's `allOf` puts them."""
    if isinstance(node, dict):
        if "messages" in node.get("properties", {}):
            return dict(node["properties"])
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = _properties(child)
            if found:
                return found
    return {}


@functools.lru_cache(maxsize=16384)
def _valid(file: int, key: str | None, text: str) -> bool:
    """Whether a part of a request is valid under schema file number `file`.

    The part is an item of the array `key` (`messages:<role>` for a message), or the rest of
    the body when `key` is None. Cached: a conversation sends the same messages and
    functions again in every request, and a batch the same settings.
    """
    request, items = _validators()[file]
    if key is None:
        return bool(request.is_valid(json.loads(text)))
    validator = items.get(key)
    return validator is not None and bool(validator.is_valid(json.loads(text)))


def _quick_check(body: Any) -> bool:
    """Whether `body` is valid under both files, checked part by part, each part cached.

    A full check costs milliseconds; this, for a request whose parts were seen before, a
    tenth of one. Only says yes for valid bodies; `_schema_problem` explains the rest.
    """
    if not isinstance(body, dict):
        return False
    rest = dict(body)
    parts: list[tuple[str | None, Any]] = []
    for key, stand_in in _LISTS.items():
        value = body.get(key)
        if isinstance(value, list):
            for item in value:
                if key != "messages":
                    parts.append((key, item))
                elif isinstance(item, dict) and isinstance(item.get("role"), str):
                    parts.append((f"messages:{item['role']}", _shape(item)))
                else:
                    return False
            rest[key] = [stand_in] * len(value)
    texts = [(key, json.dumps(part)) for key, part in parts]
    whole = json.dumps(rest)
    older = json.dumps(_older(1, rest)) if _NEWER & rest.keys() else whole
    return all(
        _valid(file, key, text) for file in range(len(SPEC_FILES)) for key, text in texts
    ) and (_valid(0, None, whole) and _valid(1, None, older))


def _older(file: int, body: dict[str, Any]) -> dict[str, Any]:
    """The body as schema file number `file` checks it.

    The 2023 file predates what today's API widened (`tool_choice: "required"`,
    `response_format: json_schema`): it checks the body without those fields, and today's
    file checks them.
    """
    if file == 0:
        return body
    return {key: value for key, value in body.items() if key not in _NEWER}


def _shape(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its free texts replaced by one letter, for the cache's key.

    The schemas put no constraint on the text of `content` or of a call's `arguments`, so a
    message is valid exactly when its shape is: every conversation's first message then
    costs one look-up, not a check.

    Examples:
        >>> _shape({"role": "user", "content": "What is the weather like in Boston?"})
        {'role': 'user', 'content': 'x'}
    """
    shaped = dict(message)
    if isinstance(shaped.get("content"), str) and shaped["content"]:
        shaped["content"] = "x"
    call = shaped.get("function_call")
    if isinstance(call, dict) and isinstance(call.get("arguments"), str):
        shaped["function_call"] = {**call, "arguments": "x"}
    calls = shaped.get("tool_calls")
    if isinstance(calls, list):
        shaped["tool_calls"] = [
            {**c, "function": {**c["function"], "arguments": "x"}}
            if isinstance(c, dict)
            and isinstance(c.get("function"), dict)
            and isinstance(c["function"].get("arguments"), str)
            else c
            for c in calls
        ]
    return shaped


def _schema_problem(body: Any) -> Rejection | None:
    from jsonschema.exceptions import best_match

    if _quick_check(body):
        return None
    for file, (validator, _) in enumerate(_validators()):
        error = best_match(
            validator.iter_errors(_older(file, body) if isinstance(body, dict) else body)
        )
        if error is not None:
            path, message = _explain(error)
            where = _param(path)
            if where is None:
                return Rejection(400, f"Invalid request body: {message[:300]}")
            return Rejection(
                400, f"Invalid value for '{where}': {message[:300]}", where, "invalid_value"
            )
    return None


def _explain(error: ValidationError) -> tuple[list[Any], str]:
    """Where the body is wrong and how, from the most specific error of a `oneOf`/`anyOf`.

    The schema's messages are a `oneOf` by role: the branch for the message's own role says
    what is wrong with it ("'content' is a required property"), not "valid under none".
    """
    from jsonschema.exceptions import best_match

    while error.context:
        if all(e.validator == "type" and not e.relative_path for e in error.context):
            names = " or ".join(dict.fromkeys(repr(e.validator_value) for e in error.context))
            return list(error.absolute_path), f"{error.instance!r} is not of type {names}"
        if (
            isinstance(error.instance, dict)
            and "role" not in error.instance
            and any(
                isinstance(e.validator_value, list) and "role" in e.validator_value
                for e in error.context
                if e.validator == "required"
            )
        ):
            return list(error.absolute_path), "'role' is a required property"
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        live = [
            errors
            for errors in branches.values()
            if not any(tuple(e.relative_path) == ("role",) for e in errors)
        ]
        if len(live) != 1:
            instance = error.instance
            if not live and isinstance(instance, dict) and "role" in instance:
                roles = ", ".join(_roles(error.context))
                where = [*error.absolute_path, "role"]
                return where, f"{instance['role']!r} is not one of the roles: {roles}"
            break
        error = best_match(live[0]) or error
    return list(error.absolute_path), error.message


def _roles(errors: Sequence[ValidationError]) -> list[str]:
    roles: list[str] = []
    for e in errors:
        if tuple(e.relative_path) == ("role",):
            values = (
                e.validator_value if isinstance(e.validator_value, list) else [e.validator_value]
            )
            roles += [str(v) for v in values if str(v) not in roles]
    return roles


def _param(path: Sequence[Any]) -> str | None:
    """A JSON path as OpenAI names parameters: `messages[1].content`.

    Examples:
        >>> _param(["messages", 1, "content"]), _param([])
        ('messages[1].content', None)
    """
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or None


def _pairing_problem(messages: Sequence[Mapping[str, Any]]) -> Rejection | None:
    """Why the chat's calls and answers do not pair up, if they do not.

    Every `tool` message answers a call of the assistant message before it, and every call
    gets its answer before the chat goes on.
    """
    pending: dict[str, int] = {}  # call id -> index of the assistant message
    function: str | None = None  # a legacy function_call waiting for its answer
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                return Rejection(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    f"preceding message with 'tool_calls' (messages[{index}] answers "
                    f"{call_id!r}, which no open call has).",
                    f"messages[{index}].role",
                )
            del pending[call_id]
            continue
        if role == "function":
            if function is None:
                return Rejection(
                    400,
                    "Invalid parameter: messages with role 'function' must be a response to a "
                    f"preceding message with 'function_call' (messages[{index}]).",
                    f"messages[{index}].role",
                )
            function = None
            continue
        if pending:
            return _unanswered(pending)
        function = None
        if role == "assistant":
            pending = {call["id"]: index for call in message.get("tool_calls") or ()}
            if message.get("function_call"):
                function = str(message["function_call"].get("name"))
    return _unanswered(pending) if pending else None


def _unanswered(pending: Mapping[str, int]) -> Rejection:
    index = next(iter(pending.values()))
    return Rejection(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(pending),
        f"messages[{index}].role",
    )
