"""`agentkit batch` as a careless user or a hostile file would try it: nothing is ever lost."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog

from agentkit._batchio import scan_output
from agentkit._batchprogress import StatusLine
from agentkit.cli import main
from agentkit.testing import Fault, LoopbackServer, Reply


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("GOAPI_KEY", "sk-test")


def echo(body: dict) -> Reply:
    return Reply.text(f"answer to {body['messages'][-1]['content']}")


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def batch(server: LoopbackServer, *args: str) -> int:
    return main(["batch", *args, "--base-url", server.base_url, "--workers", "1"])


def prompts(tmp_path: Path, count: int) -> Path:
    return write_lines(tmp_path / "in.jsonl", [{"id": n, "prompt": f"Q{n}"} for n in range(count)])


# ------------------------------------------------------------------ resume never destroys data


def test_out_that_is_the_input_is_refused_and_the_input_kept(tmp_path, key, capsys):
    """The error for an existing --out suggests --resume; following it must not empty the
    prompts."""
    source = prompts(tmp_path, 3)
    before = source.read_bytes()
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(source), "--resume") == 2
        assert server.requests == []
    assert source.read_bytes() == before
    err = capsys.readouterr().err
    assert "is the input file" in err
    assert len(err.strip().splitlines()) == 1


def test_resume_refuses_a_file_that_holds_no_results(tmp_path, key, capsys):
    source = prompts(tmp_path, 2)
    out = tmp_path / "notes.jsonl"
    out.write_text('{"note": "keep me"}\n{"note": "and me"}\n')
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out), "--resume") == 2
    assert out.read_text() == '{"note": "keep me"}\n{"note": "and me"}\n'
    assert "line 1 is not a result of agentkit batch" in capsys.readouterr().err


def test_resume_appends_after_a_last_result_that_lacks_its_newline(tmp_path, key):
    """The next record used to be glued onto it: two records on one line, exit 0."""
    source = prompts(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out)) == 0
        lines = out.read_text().splitlines()
        out.write_text(lines[0] + "\n" + lines[1])  # the third lost, the second unterminated
        assert batch(server, str(source), "--out", str(out), "--resume") == 0
    assert sorted(r["id"] for r in results(out)) == ["0", "1", "2"]


def test_resume_drops_only_a_cut_off_last_line(tmp_path, key):
    source = prompts(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out)) == 0
        whole = out.read_text().splitlines()
        out.write_text(whole[0] + "\n" + whole[1] + "\n" + whole[2][:25])  # a kill mid-write
        assert batch(server, str(source), "--out", str(out), "--resume") == 0
        assert len(server.requests) == 4  # only the cut-off item ran again
    assert results(out)[:2] == [json.loads(whole[0]), json.loads(whole[1])]
    assert sorted(r["id"] for r in results(out)) == ["0", "1", "2"]


def test_resume_refuses_a_broken_line_that_is_not_the_last(tmp_path, key, capsys):
    source = prompts(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out)) == 0
        whole = out.read_text().splitlines()
        damaged = whole[0][:25] + "\n" + whole[1] + "\n"
        out.write_text(damaged)
        assert batch(server, str(source), "--out", str(out), "--resume") == 2
    assert out.read_text() == damaged
    assert "line 1 is not a result" in capsys.readouterr().err


def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(tmp_path, key, capsys):
    """Two runs appending to one file would interleave and duplicate; resuming while another
    run writes could cut off the line it is writing."""
    fcntl = pytest.importorskip("fcntl")
    source = prompts(tmp_path, 2)
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "0", "ok": true, "settings": "x"}\n{"id": "1", "ok"')  # mid-write
    before = out.read_bytes()
    with out.open("ab") as other, LoopbackServer(echo) as server:
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        assert batch(server, str(source), "--out", str(out), "--resume") == 2
        assert server.requests == []
    assert out.read_bytes() == before
    assert "Another agentkit batch is writing to" in capsys.readouterr().err


def test_resume_reads_the_output_streaming_and_keeps_only_ids(tmp_path):
    """A 20 MB output costs a few bytes per id, not 1.5 times the file."""
    out = tmp_path / "big.jsonl"
    record = {"ok": True, "settings": "s", "output": "x" * 10_000, "messages": []}
    with out.open("w") as file:
        for n in range(2000):
            file.write(json.dumps({"id": str(n), **record}) + "\n")
    tracemalloc.start()
    state = scan_output(out, "s")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(state.ok) == 2000
    assert peak < 1_000_000  # the file is 20 MB


def test_the_exit_status_counts_failures_already_in_the_output(tmp_path, key):
    """0 means every input has an ok result, whichever run made it."""
    source = prompts(tmp_path, 3)
    out = tmp_path / "out.jsonl"

    def refuse_q1(body: dict) -> Reply | Fault:
        if body["messages"][-1]["content"] == "Q1":
            return Fault.json_error(400, "Refused")
        return echo(body)

    with LoopbackServer(refuse_q1) as server:
        assert batch(server, str(source), "--out", str(out)) == 1
        assert batch(server, str(source), "--out", str(out), "--resume") == 1  # nothing ran
        assert len(server.requests) == 3
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out), "--retry-failed") == 0
        assert len(server.requests) == 1
    assert sorted((r["id"], r["ok"]) for r in results(out)) == [
        ("0", True),
        ("1", True),
        ("2", True),
    ]


# ------------------------------------------------------------------ the input, checked whole


def test_every_bad_line_is_reported_before_anything_is_sent(tmp_path, key, capsys):
    source = tmp_path / "in.jsonl"
    lines = [
        b'"fine"',
        b'{"prompt": "fine too"}',
        b'{"prompt": "unclosed"',
        b'"caf\xe9"',  # Latin-1, not UTF-8
        b"[1, 2]",
        b'{"id": "a", "prompt": "x"}',
        b'{"messages": [{"role": "human", "content": "hi"}]}',
        b'{"id": "a", "prompt": "y"}',
        b'{"messages": [{"role": "system", "content": "no user"}]}',
    ]
    source.write_bytes(b"\n".join(lines) + b"\n")
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(tmp_path / "out.jsonl")) == 2
        assert server.requests == []
    err = capsys.readouterr().err
    assert "6 bad lines, nothing was sent" in err
    for expected in [
        "line 3: not JSON",
        "line 4: not UTF-8 text (byte 0xe9 at column 5)",
        "line 5: expected a prompt string or an object, got a list",
        "line 7: messages[0]: unknown role 'human'",
        "line 9: give a 'prompt', or 'messages' ending with a user message",
    ]:
        assert expected in err
    assert not (tmp_path / "out.jsonl").exists()


def test_an_id_used_twice_names_both_lines(tmp_path, key, capsys):
    source = write_lines(tmp_path / "in.jsonl", [{"id": "a", "prompt": "x"}] * 2)
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(tmp_path / "out.jsonl")) == 2
    assert "line 2: the id 'a' was used before, on line 1." in capsys.readouterr().err


def test_identical_lines_without_ids_are_distinct_items(tmp_path, key):
    source = write_lines(tmp_path / "in.jsonl", ["Hello", "Hello", {"prompt": "Hello"}])
    out = tmp_path / "out.jsonl"
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out)) == 0
        assert batch(server, str(source), "--out", str(out), "--resume") == 0
        assert len(server.requests) == 3
    assert len({r["id"] for r in results(out)}) == 3


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("latin1", "not UTF-8 text"),
        ("missing_folder", "the folder"),
        ("out_is_folder", "is a folder: give a file name"),
        ("in_is_folder", "is a folder: give a JSONL file"),
    ],
)
def test_unusable_paths_give_one_clear_line(tmp_path, key, capsys, setup, message):
    source = prompts(tmp_path, 1)
    out = tmp_path / "out.jsonl"
    if setup == "latin1":
        source.write_bytes("Ça va?".encode("latin-1"))
    elif setup == "missing_folder":
        out = tmp_path / "no" / "such" / "out.jsonl"
    elif setup == "out_is_folder":
        out = tmp_path
    else:
        source = tmp_path
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("agentkit: ")
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2


# ------------------------------------------------------------------ limits and usage


def test_an_item_bigger_than_the_token_budget_fails_alone_and_at_once(tmp_path, key):
    """It could never be sent within --tpm: an error for that item, not a stall of all.

    (3,000 tokens: over the budget, within the model's 4,096-token window, which is checked
    first.)
    """
    source = write_lines(
        tmp_path / "in.jsonl",
        [{"id": "small", "prompt": "hi"}, {"id": "huge", "prompt": "word " * 3000}],
    )
    out = tmp_path / "out.jsonl"
    started = time.monotonic()
    with LoopbackServer(echo) as server:
        assert batch(server, str(source), "--out", str(out), "--tpm", "2000") == 1
        assert len(server.requests) == 1
    assert time.monotonic() - started < 20
    by_id = {r["id"]: r for r in results(out)}
    assert by_id["small"]["ok"]
    assert by_id["huge"]["error"]["type"] == "UsageLimitExceeded"
    assert "tokens_per_minute" in by_id["huge"]["error"]["message"]


def test_a_failed_item_counts_the_request_it_sent(tmp_path, key):
    source = prompts(tmp_path, 1)
    out = tmp_path / "out.jsonl"
    with LoopbackServer([Fault.json_error(400, "Refused")]) as server:
        assert batch(server, str(source), "--out", str(out)) == 1
    assert results(out)[0]["usage"]["requests"] == 1


# ------------------------------------------------------------------ the terminal


def test_log_lines_never_glue_onto_the_live_progress_line(tmp_path):
    """A retry warning while the progress line is drawn starts on a line of its own, and the
    progress line is drawn again below it."""

    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    status = StatusLine(terminal)
    structlog.configure(
        processors=[structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(status),
    )
    status.show("done 3  failed 0")
    structlog.get_logger("agentkit").warning("agentkit.retry", attempt=1)
    status.show("done 4  failed 0")
    screen = terminal.text.replace("\r\x1b[2K", "\r")  # erase the line: as a terminal shows
    rows = [row.rsplit("\r", 1)[-1] for row in screen.split("\n")]
    assert rows == ['{"attempt": 1, "event": "agentkit.retry"}', "done 4  failed 0"]


# ------------------------------------------------------------------ Ctrl-C


def test_the_second_ctrl_c_stops_at_once_and_keeps_what_arrived(tmp_path, key):
    """The first Ctrl-C waits for the conversations in flight; the second aborts them, and
    the results that had come are in the output; --resume runs only the rest."""
    source = write_lines(
        tmp_path / "in.jsonl",
        [{"id": f"fast{n}", "prompt": "fast"} for n in range(3)]
        + [{"id": f"slow{n}", "prompt": "slow"} for n in range(3)],
    )
    out = tmp_path / "out.jsonl"
    slow = [60.0]

    def model(body: dict) -> Reply:
        reply = Reply.text("done")
        if body["messages"][-1]["content"] == "slow":
            reply = dataclasses.replace(reply, stall=slow[0])
        return reply

    with LoopbackServer(model) as server:
        command = [sys.executable, "-m", "agentkit.cli", "batch", str(source), "--out", str(out)]
        command += ["--base-url", server.base_url, "--concurrency", "8", "--workers", "1"]
        with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
            assert process.stderr is not None
            stderr = process.stderr
            err_parts: list[str] = []
            # stderr is read as it comes (the progress line has no newline): the second
            # Ctrl-C goes only once the first one has been taken, however slow the machine.
            reader = threading.Thread(
                target=lambda: err_parts.extend(iter(lambda: stderr.read(1), "")), daemon=True
            )
            reader.start()

            def wait_for(done: Callable[[], bool]) -> None:
                deadline = time.monotonic() + 30
                while not done() and time.monotonic() < deadline:
                    time.sleep(0.05)

            wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 3)
            process.send_signal(signal.SIGINT)
            wait_for(lambda: "stopping: no new items" in "".join(err_parts))
            process.send_signal(signal.SIGINT)
            started = time.monotonic()
            process.wait(timeout=30)
            assert time.monotonic() - started < 10  # not the 60 s of the slow replies
            reader.join(10)
            err = "".join(err_parts)
        assert process.returncode == 130
        assert "stopping now" in err
        assert "Traceback" not in err
        assert sorted(r["id"] for r in results(out)) == ["fast0", "fast1", "fast2"]
        slow[0] = 0.0
        assert batch(server, str(source), "--out", str(out), "--resume") == 0
    assert sorted(r["id"] for r in results(out)) == [
        f"{k}{n}" for k in ("fast", "slow") for n in range(3)
    ]
