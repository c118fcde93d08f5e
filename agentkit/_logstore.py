"""The conversation log: every run's prompt, chat, usage, cost, duration and error, in SQLite.

On by default for the `agentkit` command (`agentkit logs` reads it, `--no-log` skips it), off
for the library unless asked for (`Agent(log=ConversationLog())`). One SQLite file in the
user's data dir (`agentkit logs path`), in WAL mode so that readers never block a writer;
its schema is versioned (`PRAGMA user_version`) and upgraded by the migrations below, in
order, each in its own transaction. Full-text search uses FTS5 where SQLite has it, else
`LIKE`.

Writing an entry never fails a run: a locked, corrupt or unwritable database gives one
warning (the `on_error` callback; a `RuntimeWarning` by default) and the run goes on. API
keys are never stored: the texts pass through `redact()`, with the key in use.

Examples:
    >>> import tempfile, pathlib
    >>> log = ConversationLog(pathlib.Path(tempfile.mkdtemp()) / "logs.db")
    >>> entry_id = log.record(model="gpt-4", prompt="Hi", output="Hello!", seconds=0.5)
    >>> [(e.id, e.prompt, e.output) for e in log.entries()]
    [(1, 'Hi', 'Hello!')]
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._exceptions import redact
from ._userdirs import data_dir

if TYPE_CHECKING:
    import sqlite3

    from ._loop import Action, RunResult
    from ._messages import Message

__all__ = ["ConversationLog", "LogEntry", "default_log_path"]

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: one row per run
        """CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            conversation TEXT,
            started TEXT NOT NULL,
            seconds REAL,
            command TEXT NOT NULL,
            model TEXT NOT NULL,
            prompt TEXT NOT NULL,
            output TEXT,
            messages TEXT NOT NULL,
            requests INTEGER,
            tool_calls INTEGER,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            cost REAL,
            error_type TEXT,
            error TEXT
        )""",
        "CREATE INDEX runs_started ON runs (started)",
        "CREATE INDEX runs_conversation ON runs (conversation)",
    ),
    (  # 2: full-text search over prompts, answers and errors (skipped without FTS5)
        """CREATE VIRTUAL TABLE runs_fts USING fts5(
            prompt, output, error, content='runs', content_rowid='id'
        )""",
        """CREATE TRIGGER runs_fts_insert AFTER INSERT ON runs BEGIN
            INSERT INTO runs_fts (rowid, prompt, output, error)
            VALUES (new.id, new.prompt, new.output, new.error);
        END""",
        """CREATE TRIGGER runs_fts_delete AFTER DELETE ON runs BEGIN
            INSERT INTO runs_fts (runs_fts, rowid, prompt, output, error)
            VALUES ('delete', old.id, old.prompt, old.output, old.error);
        END""",
        "INSERT INTO runs_fts (runs_fts) VALUES ('rebuild')",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)


def default_log_path() -> Path:
    """`logs.db` in the user's data dir."""
    return data_dir() / "logs.db"


@dataclass(frozen=True)
class LogEntry:
    """One logged run."""

    id: int
    conversation: str | None
    started: str
    seconds: float | None
    command: str
    model: str
    prompt: str
    output: str | None
    messages: list[dict[str, Any]]
    requests: int | None
    tool_calls: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    error_type: str | None
    error: str | None

    def to_json(self) -> dict[str, Any]:
        """The entry as a JSON object (numbers as numbers)."""
        return dict(self.__dict__)


def _warn(message: str) -> None:
    warnings.warn(message, RuntimeWarning, stacklevel=3)


class ConversationLog:
    """A SQLite conversation log (see the module's docstring).

    Args:
        path: The database file; default: `logs.db` in the user's data dir.
        secrets: Texts never to store (the command passes the key it uses).
        on_error: Called with a one-line message when the log cannot be written or read;
            default: a `RuntimeWarning`.
        timeout: Seconds to wait for a lock held by another process before giving up.
        command: What the entries come from (`run`, `chat`, `batch`; `library` by default).
        conversation: An id that groups the entries of one chat session.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        secrets: Sequence[str] = (),
        on_error: Callable[[str], None] = _warn,
        timeout: float = 2.0,
        command: str = "library",
        conversation: str | None = None,
    ) -> None:
        self.command = command
        self.conversation = conversation
        self.path = Path(path) if path is not None else default_log_path()
        self._secrets = tuple(s for s in secrets if s)
        self._on_error = on_error
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"ConversationLog({str(self.path)!r})"

    # ------------------------------------------------------------------ writing

    def watch(
        self, flow: Generator[Action, Any, RunResult[Any]], model: str, prompt: Message
    ) -> Generator[Action, Any, RunResult[Any]]:
        """The agent's run `flow`, unchanged, recorded here when it ends (how it ends).

        `Agent(log=...)` wraps each run's flow in this, so every driver (`run`, `arun`,
        `stream`, `astream`, batches) is logged the same way.
        """
        started = time.perf_counter()
        text = _text(prompt)
        try:
            result = yield from flow
        except GeneratorExit:  # the caller stopped the run (a closed stream, Ctrl-C)
            self.record(
                model=model,
                prompt=text,
                error=RunInterrupted("the run was stopped before it finished"),
                seconds=time.perf_counter() - started,
            )
            raise
        except BaseException as error:
            self.record(
                model=model, prompt=text, error=error, seconds=time.perf_counter() - started
            )
            raise
        self.record(model=model, prompt=text, result=result, seconds=time.perf_counter() - started)
        return result

    def record(
        self,
        *,
        model: str,
        prompt: str,
        output: Any = None,
        messages: Sequence[Message] = (),
        result: RunResult[Any] | None = None,
        error: BaseException | None = None,
        seconds: float | None = None,
    ) -> int | None:
        """Store one run; its id, or `None` (and a warning) if the log could not be written.

        Args:
            model: The model's name.
            prompt: The user's prompt.
            output: The answer (taken from `result` when given).
            messages: The chat (taken from `result`, or from `error.messages`, when given).
            result: The finished run: messages, usage and cost come from it.
            error: The error that ended the run.
            seconds: How long the run took.
        """
        from ._wire import dump_messages

        usage = result.usage if result is not None else getattr(error, "usage", None)
        if result is not None:
            output, messages = result.output, result.messages
        elif error is not None and not messages:
            messages = tuple(getattr(error, "messages", ()) or ())
        if output is not None and not isinstance(output, str):
            output = _to_json(output)
        row = {
            "conversation": self.conversation,
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seconds": seconds,
            "command": self.command,
            "model": model,
            "prompt": self._clean(prompt),
            "output": None if output is None else self._clean(output),
            "messages": self._clean(json.dumps(dump_messages(messages), ensure_ascii=False)),
            "requests": getattr(usage, "requests", None),
            "tool_calls": getattr(usage, "tool_calls", None),
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
            "cost": result.cost if result is not None else None,
            "error_type": None if error is None else type(error).__name__,
            "error": None if error is None else self._clean(str(error) or type(error).__name__),
        }
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        try:
            with self._connect() as db:
                cursor = db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", row)  # noqa: S608 - fixed column names
                return cursor.lastrowid
        except _Unavailable as error_:
            self._on_error(f"the conversation log was not written: {error_}")
            return None

    def _clean(self, text: str) -> str:
        return redact(text, self._secrets)

    # ------------------------------------------------------------------ reading

    def entries(self, limit: int = 20, query: str | None = None) -> list[LogEntry]:
        """The latest `limit` entries (newest first), those matching `query` if given.

        With FTS5 the query is full-text (words, `"phrases"`, `prefix*`, `OR`); without it,
        or if the query is not valid FTS5 syntax, a substring match of prompt, answer and
        error.
        """
        try:
            with self._connect() as db:
                return [self._entry(row) for row in self._select(db, limit, query)]
        except _Unavailable as error:
            self._on_error(f"the conversation log cannot be read: {error}")
            return []

    def _select(self, db: sqlite3.Connection, limit: int, query: str | None) -> list[Any]:
        import sqlite3

        if not query:
            return db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        if _has_table(db, "runs_fts"):
            with contextlib.suppress(sqlite3.OperationalError):  # not FTS5 syntax: use LIKE
                return db.execute(
                    "SELECT runs.* FROM runs_fts JOIN runs ON runs.id = runs_fts.rowid "
                    "WHERE runs_fts MATCH ? ORDER BY runs.id DESC LIMIT ?",
                    (query, limit),
                ).fetchall()
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return db.execute(
            "SELECT * FROM runs WHERE prompt LIKE ?1 ESCAPE '\\' OR output LIKE ?1 ESCAPE '\\' "
            "OR error LIKE ?1 ESCAPE '\\' ORDER BY id DESC LIMIT ?2",
            (pattern, limit),
        ).fetchall()

    def get(self, entry_id: int) -> LogEntry | None:
        """The entry with this id, or `None`."""
        try:
            with self._connect() as db:
                row = db.execute("SELECT * FROM runs WHERE id = ?", (entry_id,)).fetchone()
        except _Unavailable as error:
            self._on_error(f"the conversation log cannot be read: {error}")
            return None
        return None if row is None else self._entry(row)

    @staticmethod
    def _entry(row: Any) -> LogEntry:
        fields = dict(row)
        try:
            fields["messages"] = json.loads(fields["messages"])
        except ValueError:
            fields["messages"] = []
        return LogEntry(**fields)

    # ------------------------------------------------------------------ the database

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection to an up-to-date database, committed on success and closed after.

        Raises:
            _Unavailable: The database cannot be opened, is locked, corrupt, or newer than
                this version of agentkit.
        """
        import sqlite3

        db = None
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            new = not self.path.exists()
            db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            if new:  # prompts may be private: the owner only (SQLite's -wal and -shm follow)
                os.chmod(self.path, 0o600)
            db.row_factory = sqlite3.Row
            _wal(db, self._timeout)
            _migrate(db)
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except (sqlite3.Error, OSError) as error:
            if db is not None and db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise _Unavailable(f"{self.path}: {_describe(error)}") from error
        finally:
            if db is not None:
                db.close()


class RunInterrupted(Exception):
    """Logged for a run its caller stopped (never raised)."""


def _text(message: Message) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    return " ".join(str(getattr(part, "text", "")) for part in content or () if part)


class _Unavailable(Exception):
    """The log cannot be used now (the message says why, in one line)."""


def _describe(error: BaseException) -> str:
    import sqlite3

    if isinstance(error, OSError):
        return error.strerror or str(error)
    text = str(error)
    if isinstance(error, sqlite3.DatabaseError) and "not a database" in text:
        return f"{text} (the file is damaged; move it away and a new log will be started)"
    return text


def _wal(db: sqlite3.Connection, timeout: float) -> None:
    """Put the database in WAL mode (it stays so: later connections only check).

    Changing the mode takes a lock that SQLite's busy timeout does not wait for, so two
    processes creating the log at once retry here, for as long as the timeout allows.
    """
    import sqlite3

    deadline = time.monotonic() + timeout
    while True:
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:  # noqa: PERF203 - a rare retry
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    found = db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return found is not None


def _migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to `SCHEMA_VERSION`, one migration per transaction."""
    import sqlite3

    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"the log's schema is version {version}, newer than this agentkit knows "
            f"({SCHEMA_VERSION}); upgrade agentkit"
        )
    for number in range(version, SCHEMA_VERSION):
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == number:  # not done meanwhile
                try:
                    for statement in _MIGRATIONS[number]:
                        db.execute(statement)
                except sqlite3.OperationalError as error:
                    if "fts5" not in str(error):
                        raise
                    db.execute("ROLLBACK")  # no FTS5 here: search falls back to LIKE
                    db.execute("BEGIN IMMEDIATE")
                db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise


def _to_json(value: Any) -> str:
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return str(dump())
    try:
        import dataclasses

        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)
