"""The conversation log as a library: `Agent(log=...)`, migrations, and what must not break."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from agentkit import ConversationLog, InternalServerError, RunFinished
from agentkit._logstore import _MIGRATIONS, SCHEMA_VERSION
from agentkit.testing import DemoModel, Fault, Reply
from tests.helpers import scripted_agent

from .test_agent import get_current_weather


def test_the_library_logs_nothing_unless_asked(tmp_path: Path):
    agent, _ = scripted_agent([Reply.text("Hi")])
    assert agent.log is None
    agent.run("Hello")
    assert not (Path(os.environ["XDG_DATA_HOME"]) / "agentkit").exists()


def test_every_driver_records_its_runs(tmp_path: Path, driver):
    log = ConversationLog(tmp_path / "log.db")
    agent, _ = scripted_agent(DemoModel(), tools=[get_current_weather], log=log)
    result = driver.run(agent, "What is the weather like in Boston?")
    events = driver.stream(agent, "What is the weather like in Paris?")
    assert isinstance(events[-1], RunFinished)
    newest, oldest = log.entries()
    assert oldest.prompt == "What is the weather like in Boston?"
    assert oldest.output == result.output
    assert (oldest.requests, oldest.tool_calls) == (2, 1)
    assert oldest.command == "library"
    assert [m["role"] for m in oldest.messages] == ["user", "assistant", "tool", "assistant"]
    assert oldest.seconds is not None
    assert oldest.seconds >= 0
    assert newest.prompt == "What is the weather like in Paris?"
    assert newest.error is None


def test_a_failed_run_is_recorded_with_the_chat_so_far(tmp_path: Path, driver):
    log = ConversationLog(tmp_path / "log.db")
    script = [Reply.call("get_current_weather", {"location": "Oslo"}), Fault.server_error(500)]
    agent, _ = scripted_agent(script, tools=[get_current_weather], log=log, max_retries=0)
    with pytest.raises(InternalServerError):
        driver.run(agent, "Weather in Oslo?")
    [entry] = log.entries()
    assert entry.error_type == "InternalServerError"
    assert "server had an error" in (entry.error or "")
    assert [m["role"] for m in entry.messages] == ["user", "assistant", "tool"]


def test_a_stream_left_early_is_recorded_as_interrupted(tmp_path: Path):
    log = ConversationLog(tmp_path / "log.db")
    agent, _ = scripted_agent(DemoModel(), tools=[get_current_weather], log=log)
    stream = agent.stream("What is the weather like in Boston?")
    next(stream)
    stream.close()
    [entry] = log.entries()
    assert entry.error_type == "RunInterrupted"


def test_keys_are_never_stored(tmp_path: Path):
    secret = "sk-live-abcdefghijklmnopqrstuvwx"
    log = ConversationLog(tmp_path / "log.db", secrets=["my-own-token-42"])
    log.record(model="gpt-4", prompt=f"use {secret} and my-own-token-42", output="ok")
    raw = (tmp_path / "log.db").read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.glob("log.db-*")
    )
    assert secret.encode() not in raw
    assert b"my-own-token-42" not in raw
    [entry] = log.entries()
    assert entry.prompt == "use *** and ***"


def test_an_old_schema_is_migrated_and_its_rows_found(tmp_path: Path):
    """A log written by the first schema version is upgraded in place; full-text search
    finds its old rows."""
    path = tmp_path / "log.db"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in _MIGRATIONS[0]:
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO runs (started, command, model, prompt, messages) "
        "VALUES ('2024-01-01T00:00:00+00:00', 'run', 'gpt-4', 'an old zebra question', '[]')"
    )
    db.close()
    log = ConversationLog(path)
    log.record(model="gpt-4", prompt="a new question")
    assert [e.prompt for e in log.entries(query="zebra")] == ["an old zebra question"]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    check.close()


def test_a_newer_schema_is_left_alone_with_a_warning(tmp_path: Path):
    path = tmp_path / "log.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.warns(RuntimeWarning, match="newer than this agentkit knows"):
        assert ConversationLog(path).record(model="m", prompt="p") is None


def test_a_broken_database_warns_and_the_run_goes_on(tmp_path: Path):
    path = tmp_path / "log.db"
    path.write_bytes(b"\x00garbage" * 512)
    agent, _ = scripted_agent([Reply.text("Hi")], log=ConversationLog(path))
    with pytest.warns(RuntimeWarning, match="the conversation log was not written"):
        assert agent.run("Hello").output == "Hi"


def test_writers_in_many_threads_lose_nothing(tmp_path: Path):
    log = ConversationLog(tmp_path / "log.db", timeout=30)

    def write(worker: int) -> None:
        for number in range(20):
            assert log.record(model="m", prompt=f"w{worker} n{number}") is not None

    threads = [threading.Thread(target=write, args=(w,)) for w in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(log.entries(limit=1000)) == 100


def test_without_fts5_search_falls_back_to_substrings(tmp_path: Path, monkeypatch):
    """Where SQLite lacks FTS5, the migration leaves it out and `-q` matches substrings."""
    from agentkit import _logstore

    broken = ("CREATE VIRTUAL TABLE runs_fts USING fts5_missing_module(prompt)",)
    monkeypatch.setattr(_logstore, "_MIGRATIONS", (_logstore._MIGRATIONS[0], broken))
    log = ConversationLog(tmp_path / "log.db")
    log.record(model="m", prompt="100% sure_thing")
    log.record(model="m", prompt="something else")
    assert [e.prompt for e in log.entries(query="100% sure_")] == ["100% sure_thing"]
    assert log.entries(query="%") != []
    assert [e.prompt for e in log.entries(query="_thing")] == ["100% sure_thing"]


def test_a_new_log_is_readable_by_its_owner_only(tmp_path: Path):
    tmp_path.chmod(0o755)  # even in a directory others may enter
    log = ConversationLog(tmp_path / "log.db")
    log.record(model="m", prompt="my private question")
    for path in tmp_path.glob("log.db*"):
        assert path.stat().st_mode & 0o077 == 0, path
