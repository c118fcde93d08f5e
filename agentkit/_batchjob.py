"""`agentkit batch`: a JSONL file of prompts in, a JSONL file of results out, resumable.

Nothing is lost: each finished item is one line appended to the output and flushed at once,
so a run killed at any moment (even by SIGKILL) loses at most the items in flight, and at
worst leaves half a line, which the next run cuts off. `--resume` reads the output back and
skips the items it holds; `--retry-failed` drops the failures from it first, so that every
input ends with exactly one line. A checkpoint beside the output (`OUT.checkpoint.json`,
replaced atomically) records the counts and the settings of the run.

An item is keyed by its `id`, or by a hash of its content when it has none, together with
a hash of the settings that shape its answer (model, system prompt, tools, options): results
made with other settings are not taken as done.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ._agent import Agent
from ._batch import BatchItem, BatchResult, batch
from ._exceptions import APIStatusError, UsageError
from ._messages import Message, UserMessage
from ._wire import dump_messages, load_messages

__all__ = ["BatchJob", "settings_hash"]


def settings_hash(settings: Mapping[str, Any]) -> str:
    """A short, stable hash of what shapes an answer (model, system, tools, options)."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _item(line: str, number: int) -> BatchItem:
    """One input line: `"prompt"`, `{"prompt", "id"?, "messages"?}` or `{"messages", "id"?}`."""
    where = f"line {number}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise UsageError(f"{where}: not JSON ({error.msg}).") from None
    content_id = hashlib.sha256(line.strip().encode()).hexdigest()[:16]
    if isinstance(data, str):
        return BatchItem(content_id, data)
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected a string or an object, got {type(data).__name__}.")
    item_id = str(data["id"]) if data.get("id") is not None else content_id
    history: list[Message] = load_messages(data.get("messages") or [])
    prompt = data.get("prompt")
    if prompt is None:
        last = history.pop() if history else None
        if not isinstance(last, UserMessage):
            raise UsageError(f"{where}: give a 'prompt', or 'messages' ending with a user one.")
        return BatchItem(item_id, last, tuple(history))
    if not isinstance(prompt, str):
        raise UsageError(f"{where}: 'prompt' must be a string.")
    return BatchItem(item_id, prompt, tuple(history))


def _error_record(error: BaseException) -> dict[str, Any]:
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, APIStatusError):
        record["status"] = error.status_code
    return record


@dataclass
class Progress:
    """Counts of a running batch, shown as a live line on a terminal or a periodic line."""

    total_skipped: int = 0
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    tokens: int = 0
    unreported: int = 0
    cost: float = 0.0
    unpriced: int = 0  # results whose cost is unknown (no token counts, or no prices)
    to_run: int | None = None  # items this run is to do, when known (for the ETA)
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done + self.failed) / elapsed
        unknown = f" (+{self.unreported} requests unreported)" if self.unreported else ""
        if not self.unpriced:
            money = f"${self.cost:.4f}"
        else:
            money = f"at least ${self.cost:.4f}" if self.cost else "cost unknown"
        finished = self.done + self.failed
        eta = ""
        if self.to_run is not None and finished < self.to_run and rate > 0:
            eta = f"  ETA {_duration((self.to_run - finished) / rate)}"
        return (
            f"done {self.done}  failed {self.failed}  in flight {self.in_flight}  "
            f"{rate:.1f}/s  tokens {self.tokens:,}{unknown}  {money}  "
            f"{_duration(elapsed)}{eta}"
        )


def _duration(seconds: float) -> str:
    """A short duration: `42s`, `3m05s`, `2h07m`.

    Examples:
        >>> _duration(42.4), _duration(185), _duration(7630)
        ('42s', '3m05s', '2h07m')
    """
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class BatchJob:
    """Runs an input JSONL file through an agent into an output JSONL file.

    Args:
        agent: The agent for every item.
        source: The input file.
        out: The output file (appended to).
        settings: What shapes the answers; its hash keys the results.
        concurrency: The most conversations in flight.
        resume: Skip the items the output already holds.
        retry_failed: With `resume`, run the failed items again.
        status: Where progress goes (standard error).
    """

    def __init__(
        self,
        agent: Agent[Any],
        source: Path,
        out: Path,
        *,
        settings: Mapping[str, Any],
        concurrency: int,
        resume: bool = False,
        retry_failed: bool = False,
        status: IO[str] = sys.stderr,
    ) -> None:
        if retry_failed and not resume:
            resume = True  # rerunning failures only makes sense on top of earlier results
        if not source.is_file():
            raise UsageError(f"Cannot read the input file {str(source)!r}: no such file.")
        if out.exists() and not resume:
            raise UsageError(
                f"{str(out)!r} already exists: pass --resume to go on with it, or choose "
                "another --out."
            )
        self.agent = agent
        self.source = source
        self.out = out
        self.checkpoint = out.with_name(out.name + ".checkpoint.json")
        self.settings = settings_hash(settings)
        self.concurrency = concurrency
        # Where results come from: the local runner, or another engine (agentkit.ray).
        self.engine: Callable[[Iterator[BatchItem]], Iterator[BatchResult]] = lambda items: batch(
            agent, items, concurrency=concurrency
        )
        self.retry_failed = retry_failed
        self.status = status
        self.progress = Progress()
        self.stopping = threading.Event()
        self._done: set[str] = set()
        if resume and out.exists():
            self._done = self._read_done()

    def _read_done(self) -> set[str]:
        """The keys the output already holds.

        A half-written last line is cut off, and failures are dropped when they are to be
        retried (the file is rewritten atomically).
        """
        kept: list[str] = []
        done: set[str] = set()
        dropped = False
        with self.out.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                    key = f"{record['id']}:{record['settings']}"
                except (ValueError, KeyError, TypeError):
                    dropped = True  # a line cut off by a kill
                    continue
                if self.retry_failed and not record.get("ok"):
                    dropped = True
                    continue
                if key in done:
                    dropped = True
                    continue
                done.add(key)
                kept.append(line if line.endswith("\n") else line + "\n")
        if dropped:
            temporary = self.out.with_name(self.out.name + ".tmp")
            temporary.write_text("".join(kept), encoding="utf-8")
            os.replace(temporary, self.out)
        self.progress.total_skipped = len(done)
        return done

    def _items(self) -> Iterator[BatchItem]:
        """The input's items not yet done, read lazily; stops early once asked to stop."""
        seen: set[str] = set()
        with self.source.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if self.stopping.is_set():
                    return
                if not line.strip():
                    continue
                item = _item(line, number)
                if item.id in seen:
                    raise UsageError(f"line {number}: the id {item.id!r} was used before.")
                seen.add(item.id)
                if f"{item.id}:{self.settings}" in self._done:
                    continue
                self.progress.in_flight += 1
                yield item

    def _record(self, result: BatchResult) -> dict[str, Any]:
        usage = result.usage
        record: dict[str, Any] = {
            "id": result.id,
            "ok": result.ok,
            "settings": self.settings,
            "output": _jsonable(result.output) if result.ok else None,
            "error": None if result.error is None else _error_record(result.error),
            "usage": {
                "requests": usage.requests,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "tool_calls": usage.tool_calls,
            },
            "seconds": round(result.seconds, 3),
            "messages": dump_messages(result.messages),
        }
        return record

    def _checkpoint(self) -> None:
        state = {
            "settings": self.settings,
            "done": self.progress.done,
            "failed": self.progress.failed,
            "skipped": self.progress.total_skipped,
            "tokens": self.progress.tokens,
            "unreported_requests": self.progress.unreported,
            "updated": time.time(),
        }
        temporary = self.checkpoint.with_name(self.checkpoint.name + ".tmp")
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.checkpoint)

    def run(self) -> int:
        """Run the batch; the exit status: 0 all done, 1 some failed, 130 interrupted."""
        live = self.status.isatty()
        last_shown = 0.0
        previous = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._interrupt)
        price = self.agent.model
        with self.source.open(encoding="utf-8") as lines:  # a quick pass, for the ETA
            items = sum(1 for line in lines if line.strip())
        self.progress.to_run = max(items - self.progress.total_skipped, 0)
        try:
            with self.out.open("a", encoding="utf-8") as out:
                for result in self.engine(self._items()):
                    out.write(json.dumps(self._record(result), ensure_ascii=False) + "\n")
                    out.flush()
                    progress = self.progress
                    progress.in_flight -= 1
                    if result.ok:
                        progress.done += 1
                    else:
                        progress.failed += 1
                    progress.tokens += result.usage.total_tokens or 0
                    progress.unreported += result.usage.unreported_requests
                    cost = price.cost(result.usage)
                    if cost is None:
                        progress.unpriced += 1
                    else:
                        progress.cost += cost
                    now = time.monotonic()
                    if live or now - last_shown >= 10:
                        self._show(progress.line(), live)
                        self._checkpoint()
                        last_shown = now
            self._checkpoint()
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, previous)
        if live:
            self.status.write("\n")
        summary = self.progress.line()
        skipped = self.progress.total_skipped
        self.status.write(f"agentkit batch: {summary}  (skipped {skipped} done before)\n")
        if self.stopping.is_set():
            self.status.write("agentkit batch: interrupted; run again with --resume to finish\n")
            return 130
        return 1 if self.progress.failed else 0

    def _show(self, line: str, live: bool) -> None:
        if live:
            self.status.write(f"\r\x1b[2K{line}")
        else:
            self.status.write(f"agentkit batch: {line}\n")
        self.status.flush()

    def _interrupt(self, signum: int, frame: object) -> None:
        if self.stopping.is_set():
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.stopping.set()
        self.status.write(
            "\nagentkit batch: stopping: no new items; waiting for those in flight "
            "(Ctrl-C again to stop at once)\n"
        )


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
