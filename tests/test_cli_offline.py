"""The command with no key and no network, the key store, and the conversation log.

Each command runs as a real process with the user's config and data dirs pointed at a fresh
temporary directory (see conftest).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from agentkit.cli import main
from agentkit.testing import DemoModel, LoopbackServer

WEATHER = "What is the weather like in Boston?"
BOSTON = "Boston (demo data), Massachusetts, United States: 22°C, clear sky"


def agentkit(
    *args: str, key: str | None = None, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "GOAPI_KEY"}
    if key is not None:
        environment["GOAPI_KEY"] = key
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "agentkit.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """A command that talks to no model, run in this process (quicker than a new one)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def logged(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = in_process(capsys, "logs", "--json", *args)
    assert code == 0, err
    return json.loads(out)


def user_dir(kind: str) -> Path:
    return Path(os.environ[f"XDG_{kind}_HOME"]) / "agentkit"


# --------------------------------------------------------------------------- offline


def test_run_offline_answers_from_demo_data_with_no_network():
    """--offline: the demo model calls the real weather tool, whose service is the demo one;
    the command's own network guard would have failed any other connection."""
    done = agentkit("run", WEATHER, "--offline", "--tools", "agentkit_tools.weather")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Here is what I found: {BOSTON}")
    assert done.stderr.strip().splitlines() == [
        "agentkit: offline: a demo model and demo weather and search services answer "
        "(demo data); nothing leaves this machine."
    ]


def test_offline_search_and_a_tool_that_tries_the_internet(tmp_path: Path):
    """The search tool gets demo results; fetch_url, which has no demo service, is told
    plainly that there is no network (and the run still ends normally)."""
    search = agentkit(
        "run", "Search for Alan Turing", "--offline", "--tools", "agentkit_tools.search:web_search"
    )
    assert search.returncode == 0, search.stderr
    assert "1. Alan Turing <https://en.wikipedia.org/wiki/Alan_Turing>" in search.stdout
    assert "(demo data)" in search.stdout
    fetch = agentkit(
        "run", "Fetch https://example.com", "--offline", "--tools", "agentkit_tools.fetch:fetch_url"
    )
    assert fetch.returncode == 0, fetch.stderr
    assert "offline: nothing may leave this machine" in fetch.stdout


def test_without_a_key_one_line_says_both_ways():
    done = agentkit("run", "hi")
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"agentkit: No API key: GOAPI_KEY is not set and no key is stored in "
        f"{user_dir('CONFIG') / 'keys.json'}. Set GOAPI_KEY or run 'agentkit keys set', or try "
        "it with no key and no network: --offline (a demo model and demo data)."
    ]


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_base_url_from_the_flag_or_the_environment_needs_no_key(how: str):
    """A local server needs no key: a placeholder is sent (the strict simulator wants one)."""
    with LoopbackServer(DemoModel()) as server:
        if how == "flag":
            done = agentkit("run", "Hello there", "--base-url", server.base_url)
        else:
            done = agentkit("run", "Hello there", env={"GOAPI_BASE_URL": server.base_url})
    assert done.returncode == 0, done.stderr
    assert "You said: Hello there" in done.stdout
    assert len(server.requests) == 1


# --------------------------------------------------------------------------- keys


def test_keys_set_stores_the_key_privately_and_never_prints_it(capsys):
    secret = "sk-stored-0123456789abcdef"
    done = agentkit("keys", "set", stdin=secret + "\n")
    assert done.returncode == 0, done.stderr
    path = user_dir("CONFIG") / "keys.json"
    assert done.stdout.strip() == (
        f"Stored the key in {path} (readable by you only). GOAPI_KEY, when set, wins."
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"goapi": secret}
    assert in_process(capsys, "keys", "path")[1].strip() == str(path)

    with LoopbackServer(DemoModel()) as server:  # the stored key is the one sent
        done = agentkit("run", "Hi", "--base-url", server.base_url)
    assert done.returncode == 0, done.stderr
    assert [h["authorization"] for h in server.headers] == [f"Bearer {secret}"]
    assert secret not in in_process(capsys, "logs", "--json")[1]
    assert secret not in in_process(capsys, "logs", "show", "1")[1]
    assert secret not in (user_dir("DATA") / "logs.db").read_bytes().decode("latin-1")

    assert in_process(capsys, "keys", "remove")[1].strip() == "Removed the stored key."
    assert agentkit("run", "Hi").returncode == 2


@pytest.mark.parametrize("value", ["", "   ", "sk with spaces", "sk-\x1b[2J"])
def test_keys_set_refuses_what_cannot_be_a_key(value: str):
    done = agentkit("keys", "set", "--value", value)
    assert done.returncode == 2
    assert "nothing was stored" in done.stderr
    assert not (user_dir("CONFIG") / "keys.json").exists()


def test_a_broken_key_file_is_one_clear_line():
    path = user_dir("CONFIG") / "keys.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    done = agentkit("run", "hi")
    assert done.returncode == 2
    assert done.stderr.startswith(f"agentkit: Cannot read the stored keys in {path}")


# --------------------------------------------------------------------------- logs


def run_offline(prompt: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return agentkit("run", prompt, "--offline", "--tools", "agentkit_tools.weather", *extra)


def test_runs_are_logged_and_can_be_listed_searched_and_shown(capsys):
    assert run_offline(WEATHER).returncode == 0
    assert run_offline("What is the weather like in Oslo?").returncode == 0
    assert run_offline("Weather in Paris?", "--no-log").returncode == 0

    entries = logged(capsys)
    assert [e["prompt"] for e in entries] == ["What is the weather like in Oslo?", WEATHER]
    boston = entries[1]
    assert boston["command"] == "run"
    assert boston["model"] == "gpt-3.5-turbo"
    assert boston["output"].startswith(f"Here is what I found: {BOSTON}")
    assert (boston["requests"], boston["tool_calls"]) == (2, 1)
    assert isinstance(boston["seconds"], float)
    assert [m["role"] for m in boston["messages"]] == ["user", "assistant", "tool", "assistant"]

    found = logged(capsys, "-q", "Oslo")
    assert [e["prompt"] for e in found] == ["What is the weather like in Oslo?"]
    assert logged(capsys, "-q", "Lisbon") == []
    assert [e["id"] for e in logged(capsys, "-n", "1")] == [2]

    listing = in_process(capsys, "logs")[1].splitlines()
    assert listing[0].startswith("#2  ")
    assert listing[1] == "  > What is the weather like in Oslo?"
    shown = in_process(capsys, "logs", "show", "1")[1]
    assert "[assistant calls] get_current_weather" in shown
    assert f"[tool] {BOSTON}" in shown
    assert in_process(capsys, "logs", "path")[1].strip() == str(user_dir("DATA") / "logs.db")


def test_a_failed_run_is_logged_with_its_error(capsys):
    with LoopbackServer([]) as server:  # the script is empty: the server answers 500
        done = agentkit("run", "Hello", "--base-url", server.base_url, "--max-turns", "1")
    assert done.returncode == 2
    entry = logged(capsys)[0]
    assert entry["prompt"] == "Hello"
    assert entry["error_type"] == "InternalServerError"
    assert entry["output"] is None


def test_odd_searches_never_fail(capsys):
    assert run_offline(WEATHER).returncode == 0
    for query in ['"unbalanced', "AND", "weather*", "NEAR(", "'; DROP TABLE runs; --", "%_\\"]:
        assert isinstance(logged(capsys, "-q", query), list), query
    assert [e["prompt"] for e in logged(capsys, "-q", "weather*")] == [WEATHER]
    assert len(logged(capsys)) == 1  # nothing was dropped


def test_logs_before_any_run_and_a_missing_entry(capsys):
    assert in_process(capsys, "logs")[1].startswith("(no conversations logged yet")
    assert logged(capsys) == []
    assert in_process(capsys, "logs", "show", "7") == (
        2,
        "",
        "agentkit: No log entry #7: 'agentkit logs' lists them.\n",
    )


# --------------------------------------------------------------------------- hostile logs


def warning_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if "warning" in line]


def test_a_locked_log_warns_and_the_run_goes_on():
    assert run_offline(WEATHER).returncode == 0
    holder = sqlite3.connect(user_dir("DATA") / "logs.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = run_offline("What is the weather like in Oslo?")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 0
    assert "Oslo (demo data)" in done.stdout
    [warning] = warning_lines(done)
    assert warning.startswith("agentkit: warning: the conversation log was not written: ")
    assert "database is locked" in warning


def test_a_corrupt_log_warns_and_is_left_alone(capsys):
    path = user_dir("DATA") / "logs.db"
    path.parent.mkdir(parents=True)
    junk = b"this is not a database\n" * 200
    path.write_bytes(junk)
    done = run_offline(WEATHER)
    assert done.returncode == 0
    assert BOSTON in done.stdout
    [warning] = warning_lines(done)
    assert "file is not a database (the file is damaged; move it away" in warning
    assert path.read_bytes() == junk  # the user's file is not touched
    code, _, err = in_process(capsys, "logs")
    assert code == 2
    assert "file is not a database" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes everywhere")
def test_an_unwritable_data_dir_warns_and_the_run_goes_on():
    base = Path(os.environ["XDG_DATA_HOME"])
    base.mkdir(parents=True)
    base.chmod(0o500)
    try:
        done = run_offline(WEATHER)
    finally:
        base.chmod(0o700)
    assert done.returncode == 0
    assert BOSTON in done.stdout
    [warning] = warning_lines(done)
    assert "Permission denied" in warning


def test_a_log_path_that_is_a_directory_warns_and_the_run_goes_on():
    """What root cannot write through either: the database's path is taken by a directory."""
    (user_dir("DATA") / "logs.db").mkdir(parents=True)
    done = run_offline(WEATHER)
    assert done.returncode == 0
    assert BOSTON in done.stdout
    [warning] = warning_lines(done)
    assert "the conversation log was not written" in warning


def test_batch_logs_items_only_with_log(tmp_path: Path, capsys):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('"Weather in Oslo?"\n"Weather in Paris?"\n')
    common = ["batch", str(source), "--offline", "--tools", "agentkit_tools.weather"]
    assert agentkit(*common, "--out", str(out)).returncode == 0
    assert not (user_dir("DATA") / "logs.db").exists()
    assert agentkit(*common, "--out", str(tmp_path / "again.jsonl"), "--log").returncode == 0
    entries = logged(capsys)
    assert sorted(e["prompt"] for e in entries) == ["Weather in Oslo?", "Weather in Paris?"]
    assert {e["command"] for e in entries} == {"batch"}


@pytest.mark.parametrize(
    ("extra", "says"),
    [(["--workers", "4"], "leave out --workers"), (["--engine", "ray"], "leave out --engine")],
)
def test_an_offline_batch_stays_in_this_process(tmp_path: Path, extra: list[str], says: str):
    """The demo services and the network guard live in this process: no worker processes."""
    source = tmp_path / "in.jsonl"
    source.write_text('"Weather in Oslo?"\n')
    done = agentkit("batch", str(source), "--out", str(tmp_path / "out.jsonl"), "--offline", *extra)
    assert done.returncode == 2
    assert says in done.stderr
