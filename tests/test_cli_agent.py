"""`agentkit run`, `chat` and `batch`: the real command in a subprocess, against the simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentkit.testing import DemoModel, Fault, LoopbackServer, Reply

TOOLS = '''
from agentkit import tool

@tool
def get_current_weather(location: str) -> str:
    """Get the current weather in a given location.

    Args:
        location: The city, e.g. Boston
    """
    return f"22 C and sunny in {location}"
'''


@pytest.fixture
def tools_file(tmp_path: Path) -> str:
    path = tmp_path / "weather_tools.py"
    path.write_text(TOOLS)
    return str(path)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(DemoModel()) as running:
        yield running


def agentkit(
    *args: str, key: str | None = "sk-cli-test", stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the installed command's entry point in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "GOAPI_KEY"}
    if key is not None:
        env["GOAPI_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "agentkit.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_run_prints_the_answer(server: LoopbackServer, tools_file: str):
    """One conversation: the tool is called and the answer printed."""
    done = agentkit(
        "run",
        "What is the weather in Boston?",
        "--tools",
        tools_file,
        "--base-url",
        server.base_url,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Here is what I found: 22 C and sunny in Boston"


def test_run_json_gives_messages_and_usage(server: LoopbackServer, tools_file: str):
    """`--json` prints the output, the usage and the whole chat."""
    done = agentkit(
        "run",
        "What is the weather in Oslo?",
        "--json",
        "--no-stream",
        "--tools",
        tools_file,
        "--base-url",
        server.base_url,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["output"] == "Here is what I found: 22 C and sunny in Oslo"
    assert result["usage"]["requests"] == 2
    assert result["usage"]["prompt_tokens"] > 0
    assert [m["role"] for m in result["messages"]] == ["user", "assistant", "tool", "assistant"]


@pytest.mark.parametrize(
    ("args", "key", "says"),
    [
        (["run", "hi"], None, "GOAPI_KEY"),
        (["run", "hi", "--model", "gpt-5-imaginary"], "sk-x", "Unknown model 'gpt-5-imaginary'"),
        (["run", "hi", "--tools", "no_such_module_xyz"], "sk-x", "no_such_module_xyz"),
        (["batch", "missing.jsonl", "--out", "o.jsonl"], "sk-x", "missing.jsonl"),
    ],
)
def test_mistakes_give_one_clear_line_and_exit_2(args: list[str], key: str | None, says: str):
    """Missing key, unknown model, bad tool spec, unreadable input: one line, exit 2."""
    done = agentkit(*args, key=key)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert says in lines[0]


def test_chat_keeps_history_and_answers_commands(server: LoopbackServer, tools_file: str):
    """Piped chat: tool calls shown as they happen, history kept, /usage, /reset, /exit."""
    script = "What is the weather in Paris?\nThanks!\n/usage\n/reset\n/exit\nnot read\n"
    done = agentkit("chat", "--tools", tools_file, "--base-url", server.base_url, stdin=script)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert '[get_current_weather({"location": "Paris"})]' in out
    assert "[get_current_weather -> 22 C and sunny in Paris]" in out
    assert "(requests 4," in out  # the demo model calls the tool for each question
    assert "(history cleared)" in out
    second = server.requests[2]["messages"]
    assert [m["role"] for m in second] == ["user", "assistant", "function", "assistant", "user"]
    assert len(server.requests) == 4


# --------------------------------------------------------------------------- batch


class Flaky:
    """The demo model, with 15% of requests failing: 429 with Retry-After, 502, cut streams."""

    def __init__(self) -> None:
        self.model = DemoModel()
        self.count = 0

    def __call__(self, body: dict[str, Any]) -> Reply | Fault:
        self.count += 1
        slot = self.count % 20
        if slot == 3:
            return Fault.rate_limit(retry_after=0.05)
        if slot == 9:
            return Fault.server_error(502)
        reply = self.model(body)
        return reply.cut(1) if slot == 15 else reply


def write_inputs(path: Path, count: int) -> None:
    with path.open("w") as f:
        for number in range(count):
            f.write(json.dumps({"id": f"q{number}", "prompt": f"Weather in Town{number}?"}) + "\n")


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def start_batch(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "GOAPI_KEY": "sk-cli-test"}
    return subprocess.Popen(
        [sys.executable, "-m", "agentkit.cli", "batch", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_lines(path: Path, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"the batch did not reach {count} lines before it ended")


def test_batch_killed_and_resumed_gives_one_line_per_input(tmp_path: Path, tools_file: str):
    """500 items, 15% faults, SIGKILL mid-run, --resume: exactly 500 lines, no duplicates,
    never more conversations in flight than the bound."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_inputs(source, 500)
    with LoopbackServer(Flaky(), latency=0.005) as server:
        common = ["--tools", tools_file, "--base-url", server.base_url, "--concurrency", "16"]
        first = start_batch(str(source), "--out", str(out), *common)
        wait_for_lines(out, 120, first)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        assert first.returncode == -signal.SIGKILL
        # complete lines only: the kill may cut the last one (resume drops it)
        partial_results = [json.loads(line) for line in out.read_text().split("\n")[:-1]]
        partial = len(partial_results)
        failed_before = sum(not r["ok"] for r in partial_results)
        assert 120 <= partial < 500
        second = start_batch(str(source), "--out", str(out), "--resume", *common)
        _, stderr = second.communicate(timeout=120)
        assert second.returncode in (0, 1), stderr
        assert server.max_in_flight <= 16
    results = read_results(out)
    ids = [r["id"] for r in results]
    assert len(ids) == 500
    assert set(ids) == {f"q{n}" for n in range(500)}
    # Earlier failures are not "done": they are counted apart (and rerun by --retry-failed).
    before = f"skipped {partial - failed_before} done before"
    if failed_before:
        before += f", {failed_before} failed before"
    assert before in stderr
    ok = [r for r in results if r["ok"]]
    assert len(ok) >= 490  # two retries absorb nearly every injected fault
    assert all(r["output"].startswith("Here is what I found") for r in ok)


def test_batch_usage_totals_and_retry_failed(tmp_path: Path, tools_file: str):
    """The summary's token total is the sum over the items; --retry-failed reruns only the
    failures and leaves one line per input."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_inputs(source, 40)
    always_fail = {"q3", "q7"}

    def model(body: dict[str, Any]) -> Reply | Fault:
        prompt = body["messages"][0]["content"]
        if any(f"Town{n[1:]}?" == prompt.split()[-1] for n in always_fail):
            return Fault.json_error(400, "Scripted refusal")
        return DemoModel()(body)

    with LoopbackServer(model) as server:
        common = ["--tools", tools_file, "--base-url", server.base_url, "--no-stream"]
        first = start_batch(str(source), "--out", str(out), *common)
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 1  # some items failed
        results = read_results(out)
        assert {r["id"] for r in results if not r["ok"]} == always_fail
        assert all(r["error"] is None for r in results if r["ok"])
        failed = next(r for r in results if not r["ok"])
        assert failed["error"]["type"] == "BadRequestError"
        assert failed["error"]["status"] == 400
        tokens = sum(
            (r["usage"]["prompt_tokens"] or 0) + (r["usage"]["completion_tokens"] or 0)
            for r in results
        )
        assert f"tokens {tokens:,}" in stderr
        checkpoint = json.loads(out.with_name("out.jsonl.checkpoint.json").read_text())
        assert (checkpoint["done"], checkpoint["failed"], checkpoint["tokens"]) == (38, 2, tokens)

        always_fail.clear()  # the server recovers
        before = len(server.requests)
        again = start_batch(str(source), "--out", str(out), "--retry-failed", *common)
        _, stderr = again.communicate(timeout=60)
        assert again.returncode == 0, stderr
        assert len(server.requests) - before == 4  # two items, two requests each
    results = read_results(out)
    assert len(results) == 40
    assert all(r["ok"] for r in results)


def test_batch_ctrl_c_finishes_in_flight_items_and_resumes(tmp_path: Path, tools_file: str):
    """SIGINT: no new items, those in flight are written, exit 130; --resume completes."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_inputs(source, 200)
    with LoopbackServer(DemoModel(), latency=0.02) as server:
        common = ["--tools", tools_file, "--base-url", server.base_url, "--concurrency", "4"]
        first = start_batch(str(source), "--out", str(out), *common)
        wait_for_lines(out, 10, first)
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 130, stderr
        assert "run again with --resume" in stderr
        interrupted = read_results(out)  # every line whole: in-flight items were finished
        assert len(interrupted) < 200
        second = start_batch(str(source), "--out", str(out), "--resume", *common)
        second.communicate(timeout=120)
        assert second.returncode == 0
    assert len(read_results(out)) == 200
