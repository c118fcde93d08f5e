"""The files of `agentkit batch`: the input checked and read, the output scanned and appended.

The input is JSONL, one conversation a line: `"prompt"`, `{"prompt", "id"?, "messages"?}` or
`{"messages", "id"?}`. `check_input` reads it all once before anything is sent and reports
every bad line; `read_items` then reads it again lazily, as workers free up.

The output is JSONL too, one result a line (`result_line`). Resuming never destroys what it
holds: `scan_output` reads it streaming, keeps only 8 bytes per finished id (a 64-bit hash in
a sorted array), refuses a file whose lines are not results of this tool, and drops nothing
but a last line cut off by a kill. `--retry-failed` is the one rewrite (the user asked for the
failures to go), done in a new file that replaces the old one atomically.
"""

from __future__ import annotations

import array
import bisect
import hashlib
import heapq
import itertools
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from ._agent import Agent
from ._batch import BatchItem, BatchResult
from ._exceptions import APIStatusError, UsageError
from ._messages import Message, Usage, UserMessage
from ._wire import dump_messages, load_messages

__all__ = [
    "Finished",
    "KeySet",
    "OutputState",
    "check_input",
    "check_paths",
    "finished",
    "item_id",
    "key_of",
    "lock_output",
    "parse_item",
    "read_lines",
    "result_line",
    "scan_output",
    "usage_record",
]

#: The most bad lines one error lists (the count of the rest follows).
MAX_LISTED = 50


def key_of(item_id: str) -> int:
    """A 64-bit hash of an id: what resume keeps of each finished item (8 bytes)."""
    return int.from_bytes(hashlib.blake2b(item_id.encode(), digest_size=8).digest(), "big")


_RUN = 1 << 16


class KeySet:
    """A set of 64-bit keys in a sorted array: 8 bytes each, `in` by bisection.

    Examples:
        >>> keys = KeySet([key_of("a"), key_of("b")])
        >>> key_of("a") in keys, key_of("c") in keys, len(keys)
        (True, False, 2)
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[int] = ()) -> None:
        # Sorted in runs merged together: a list of Python ints (40 bytes each) is only
        # ever made of one run, so a million ids peak at about 24 MB, not 60.
        unsorted = keys if isinstance(keys, array.array) else array.array("Q", keys)
        runs = [
            array.array("Q", sorted(unsorted[start : start + _RUN]))
            for start in range(0, len(unsorted), _RUN)
        ]
        self._keys = array.array("Q", heapq.merge(*runs))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        index = bisect.bisect_left(self._keys, key)
        return index < len(self._keys) and self._keys[index] == key

    def __len__(self) -> int:
        return len(self._keys)


# ------------------------------------------------------------------------------ the input


def parse_item(line: str, number: int) -> BatchItem:
    """One input line as an item; a `UsageError` that names the line and what is wrong.

    An item without an `id` is named by its line number and a hash of the line, so two
    identical lines are two items.

    Examples:
        >>> parse_item('"Hi"', 3).id
        '3-fdda60cb3869'
        >>> parse_item('{"id": 7, "prompt": "Hi"}', 4).id
        '7'
    """
    data = _load(line, number)
    item_id = _id_of(data, line, number)
    if isinstance(data, str):
        return BatchItem(item_id, data)
    raw = data.get("messages")
    if raw is not None and not isinstance(raw, list):
        raise UsageError(f"line {number}: 'messages' must be a list, got {_kind(raw)}.")
    try:
        history: list[Message] = load_messages(raw or [])
    except UsageError as error:
        raise UsageError(f"line {number}: {error}") from None
    prompt = data.get("prompt")
    if prompt is None:
        last = history.pop() if history else None
        if not isinstance(last, UserMessage):
            raise UsageError(
                f"line {number}: give a 'prompt', or 'messages' ending with a user message."
            )
        return BatchItem(item_id, last, tuple(history))
    if not isinstance(prompt, str):
        raise UsageError(f"line {number}: 'prompt' must be a string, got {_kind(prompt)}.")
    return BatchItem(item_id, prompt, tuple(history))


def item_id(line: str, number: int) -> str:
    """The id of a (checked) input line, without building its messages."""
    return _id_of(_load(line, number), line, number)


def _load(line: str, number: int) -> Any:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise UsageError(f"line {number}: not JSON ({error.msg}, column {error.colno}).") from None
    if not isinstance(data, (str, dict)):
        raise UsageError(
            f"line {number}: expected a prompt string or an object, got {_kind(data)}."
        )
    return data


def _id_of(data: Any, line: str, number: int) -> str:
    explicit = data.get("id") if isinstance(data, dict) else None
    if explicit is None:
        return f"{number}-{hashlib.sha256(line.strip().encode()).hexdigest()[:12]}"
    if isinstance(explicit, bool) or not isinstance(explicit, (str, int)):
        raise UsageError(f"line {number}: 'id' must be a string or a whole number.")
    return str(explicit)


def _kind(value: object) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _lines(path: Path) -> Iterator[tuple[int, str | UnicodeDecodeError]]:
    """The numbered lines of `path`, decoded; a line that is not UTF-8 gives its error."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                yield number, error
                continue
            yield number, text.removeprefix("\ufeff") if number == 1 else text


def check_input(path: Path) -> int:
    """Read the whole input once; return its number of items, or report every bad line.

    Raises:
        UsageError: Lines that are not UTF-8, not JSON or not a conversation, and ids used
            twice: one line each (the first 50, then how many more).
    """
    problems: list[tuple[int, str]] = []
    count = 0
    ids = array.array("Q")
    for number, line in _lines(path):
        if isinstance(line, UnicodeDecodeError):
            problems.append(
                (
                    number,
                    f"line {number}: not UTF-8 text (byte 0x{line.object[line.start]:02x} at "
                    f"column {line.start + 1}); save the file as UTF-8.",
                )
            )
            continue
        if not line.strip():
            continue
        try:
            item = parse_item(line, number)
        except UsageError as error:
            problems.append((number, str(error)))
            continue
        count += 1
        ids.append(key_of(item.id))
    problems.extend(_duplicate_ids(path, ids))
    if problems:
        shown = [text for _, text in sorted(problems)[:MAX_LISTED]]
        more = len(problems) - len(shown)
        tail = f"\n... and {more} more." if more else ""
        lines = "line" if len(problems) == 1 else "lines"
        raise UsageError(
            f"{path}: {len(problems)} bad {lines}, nothing was sent:\n" + "\n".join(shown) + tail
        )
    return count


def _duplicate_ids(path: Path, keys: Iterable[int]) -> list[tuple[int, str]]:
    """`line N: the id 'x' was used before, on line M` for every repeated id."""
    ordered = sorted(keys)
    twice = {a for a, b in itertools.pairwise(ordered) if a == b}
    if not twice:
        return []
    first: dict[int, int] = {}
    found = []
    for number, line in read_lines(path):
        try:
            name = item_id(line, number)
        except UsageError:
            continue  # reported already
        key = key_of(name)
        if key in twice:
            if key in first:
                text = f"line {number}: the id {name!r} was used before, on line {first[key]}."
                found.append((number, text))
            else:
                first[key] = number
    return found


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The numbered, non-blank lines of a checked input, read lazily."""
    for number, line in _lines(path):
        if isinstance(line, str) and line.strip():
            yield number, line


def check_paths(source: Path, out: Path, *, resume: bool) -> None:
    """Refuse, with one clear line each, paths the run cannot use; nothing is touched.

    Raises:
        UsageError: The input is missing or a folder, `out` is the input, a folder, in a
            folder that does not exist, or exists without `resume`.
    """
    if source.is_dir():
        raise UsageError(f"The input {str(source)!r} is a folder: give a JSONL file.")
    if not source.is_file():
        raise UsageError(f"Cannot read the input file {str(source)!r}: no such file.")
    if out.is_dir():
        raise UsageError(f"--out {str(out)!r} is a folder: give a file name for the results.")
    if not out.parent.is_dir():
        raise UsageError(
            f"Cannot write --out {str(out)!r}: the folder {str(out.parent)!r} does not exist."
        )
    if out.exists() and os.path.samefile(source, out):
        raise UsageError(
            f"--out {str(out)!r} is the input file: the results would overwrite the prompts. "
            "Choose another --out."
        )
    if out.exists() and not resume:
        raise UsageError(
            f"{str(out)!r} already exists: pass --resume to go on with it, or choose another --out."
        )


# ------------------------------------------------------------------------------ the output


def lock_output(file: IO[Any], out: Path) -> None:
    """Hold `out` for this run (until `file` closes): two runs appending would interleave.

    Raises:
        UsageError: Another run holds it.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise UsageError(
            f"Another agentkit batch is writing to {str(out)!r}: wait for it to finish, or "
            "choose another --out (the file is untouched)."
        ) from None


@dataclass(frozen=True, slots=True)
class Finished:
    """One item's result as the writer needs it (it crosses from worker processes)."""

    id: str
    ok: bool
    line: str
    """The output line, with its newline."""
    tokens: int
    unreported: int
    cost: float | None
    counted: int = 0
    """Requests whose tokens agentkit counted (the server reported none): an estimate."""


def finished(result: BatchResult, agent: Agent[Any], settings: str) -> Finished:
    """What the writer needs of `result`: its output line and its counts.

    The cost is the run's own (`result.cost`: each model at its own prices, sub-agents
    included); `agent`, the one that ran it, is not needed for it.
    """
    usage = result.usage
    return Finished(
        result.id,
        result.ok,
        result_line(result, settings),
        usage.total_tokens or 0,
        usage.unreported_requests,
        result.cost,
        usage.counted_requests,
    )


def usage_record(usage: Usage) -> dict[str, Any]:
    """`usage` as the JSON of an output line: every field of `Usage`, as `RunResult` has it.

    Examples:
        >>> record = usage_record(Usage(requests=1, prompt_tokens=52, completion_tokens=9))
        >>> record["prompt_tokens"], record["unreported_requests"], record["counted_requests"]
        (52, 0, 0)
    """
    return asdict(usage)


def result_line(result: BatchResult, settings: str) -> str:
    """The output line of one result (with its newline)."""
    record: dict[str, Any] = {
        "id": result.id,
        "ok": result.ok,
        "settings": settings,
        "output": _jsonable(result.output) if result.ok else None,
        "error": None if result.error is None else _error_record(result.error),
        "usage": usage_record(result.usage),
        "cost": result.cost,
        "seconds": round(result.seconds, 3),
        "messages": dump_messages(result.messages),
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


def _error_record(error: BaseException) -> dict[str, Any]:
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, APIStatusError):
        record["status"] = error.status_code
    return record


def _jsonable(value: Any) -> Any:
    """A run's output as JSON: pydantic models and dataclasses as objects."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    try:
        json.dumps(value)
    except TypeError:
        import dataclasses

        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return str(value)
    return value


@dataclass
class OutputState:
    """What an existing output holds for the current settings."""

    ok: KeySet = field(default_factory=KeySet)
    """The items answered."""

    failed: KeySet = field(default_factory=KeySet)
    """The items that failed (and were not answered by another line)."""

    lines: int = 0
    """The results in the file, of any settings."""


def _record_of(raw: bytes) -> dict[str, Any] | None:
    """The result a line holds, or `None` if it is not one of this tool's results."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if (
        isinstance(record, dict)
        and isinstance(record.get("id"), str)
        and isinstance(record.get("ok"), bool)
        and isinstance(record.get("settings"), str)
    ):
        return record
    return None


def scan_output(out: Path, settings: str, *, retry_failed: bool = False) -> OutputState:
    """Read an existing output streaming; make it ready to append to.

    Every complete line must be a result of this tool, or the file is refused untouched. A
    last line without its newline is kept (a newline is added) if it is a whole result, and
    cut off if it is not (a kill stopped its write). With `retry_failed`, the failed results
    of these settings are dropped (the file is rewritten and replaced atomically).

    Raises:
        UsageError: A line is not a result of `agentkit batch`.
    """
    if not out.exists() or out.stat().st_size == 0:
        return OutputState()
    ok = array.array("Q")  # 8 bytes an id, not a Python int's 40
    failed = array.array("Q")
    lines = 0
    tail: int | None = None  # where a cut-off last line starts
    ends_open = False  # the last line is whole but lacks its newline
    offset = 0
    with out.open("rb") as file:
        for number, raw in enumerate(file, 1):
            start, offset = offset, offset + len(raw)
            if not raw.strip():
                continue
            record = _record_of(raw)
            if record is None:
                if not raw.endswith(b"\n"):
                    tail = start
                    break
                raise UsageError(
                    f"{out}: line {number} is not a result of agentkit batch, so this is not "
                    "its output: refusing to append to it (the file is untouched). "
                    "Choose another --out."
                )
            lines += 1
            ends_open = not raw.endswith(b"\n")
            if record["settings"] == settings:
                (ok if record["ok"] else failed).append(key_of(record["id"]))
    if tail is not None:
        os.truncate(out, tail)
    elif ends_open:
        with out.open("ab") as file:
            file.write(b"\n")
    answered = KeySet(ok)
    state = OutputState(answered, KeySet(k for k in failed if k not in answered), lines)
    if retry_failed and len(state.failed):
        _drop_failed(out, settings, answered)
        state.lines -= len(failed)
        state.failed = KeySet()
    return state


def _drop_failed(out: Path, settings: str, answered: KeySet) -> None:
    """Rewrite `out` without the failures of `settings`, and replace it atomically."""
    temporary = out.with_name(out.name + ".tmp")
    with out.open("rb") as lines, temporary.open("wb") as kept:
        for raw in lines:
            record = _record_of(raw)
            if record is not None and record["settings"] == settings and not record["ok"]:
                continue
            kept.write(raw)
        kept.flush()
        os.fsync(kept.fileno())
    os.replace(temporary, out)
