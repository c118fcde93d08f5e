"""The official chat-completions JSON schemas (GoAPI's era and today's), for tests.

Copied from the OpenAI specification so tests run on a clone with nothing beside it. Every
request body agentkit sends must validate against both; responses and chunks that the test
kit produces are checked leniently (real 2023-era servers omit `logprobs`/`refusal` and send
`system_fingerprint: null`, which the current schema forbids).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

HERE = Path(__file__).parent.parent.parent / "agentkit" / "_spec"
SCHEMA_FILES = ("openai_chat_schema.json", "openai_chat_schema_2023-12-14.json")
KINDS = {
    "request": "CreateChatCompletionRequest",
    "response": "CreateChatCompletionResponse",
    "chunk": "CreateChatCompletionStreamResponse",
    "error": "ErrorResponse",
}


def _lenient(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    defs = doc["$defs"]
    choice = defs["CreateChatCompletionResponse"]["properties"]["choices"]["items"]
    choice["required"] = [r for r in choice.get("required", []) if r != "logprobs"]
    message = defs["ChatCompletionResponseMessage"]
    message["required"] = [r for r in message.get("required", []) if r != "refusal"]
    for name in ("CreateChatCompletionResponse", "CreateChatCompletionStreamResponse"):
        fingerprint = defs[name]["properties"].get("system_fingerprint")
        if fingerprint is not None and fingerprint.get("type") == "string":
            fingerprint["type"] = ["string", "null"]
    return doc


@functools.cache
def _validators(kind: str, lenient: bool) -> tuple[Draft202012Validator, ...]:
    validators = []
    for name in SCHEMA_FILES:
        doc = json.loads((HERE / name).read_text())
        if lenient:
            doc = _lenient(doc)
        doc["$ref"] = f"#/$defs/{KINDS[kind]}"
        validators.append(Draft202012Validator(doc))
    return tuple(validators)


def spec_errors(kind: str, body: Any, *, lenient: bool = False) -> list[str]:
    """Every schema violation of `body`, prefixed with the schema file it breaks."""
    problems = []
    for name, validator in zip(SCHEMA_FILES, _validators(kind, lenient), strict=True):
        for error in validator.iter_errors(body):
            where = "/".join(str(p) for p in error.absolute_path) or "<root>"
            problems.append(f"{name}: {where}: {error.message[:300]}")
    return problems


def assert_valid_request(body: Any) -> None:
    """Fail unless `body` is a valid request under both schema files (strict, not lenient)."""
    problems = spec_errors("request", body)
    assert not problems, "\n".join(problems)


def assert_valid(kind: str, body: Any, *, lenient: bool = True) -> None:
    """Fail unless `body` is a valid `response`, `chunk` or `error` under both schemas."""
    problems = spec_errors(kind, body, lenient=lenient)
    assert not problems, "\n".join(problems)
