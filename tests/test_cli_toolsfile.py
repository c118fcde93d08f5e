"""What a `--tools` file makes at its top level lives as long as the command, then is closed.

A tools file may make an agent that `as_tool` offers to the command's model, a client agents
share, an MCP server: the command starts them with its own agent and stops them (servers
stopped, HTTP pools closed) however it ends: an answer, an error, Ctrl-C.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit.cli import main
from agentkit.testing import Fault, LoopbackServer, Reply

OUTER, INNER = "gpt-3.5-turbo", "gpt-4-1106-preview"

TOOLS = """
from pathlib import Path

from agentkit import Agent, ChatClient, tool

JOURNAL = Path({journal!r})


class Recorder:
    '''A toolset with no tools that notes when it is started and stopped.'''

    name = "recorder"

    def get_tools(self):
        return ()

    def _note(self, event):
        with JOURNAL.open("a") as journal:
            journal.write(event + "\\n")

    def __enter__(self):
        self._note("enter")
        return self

    def __exit__(self, *exc_info):
        self._note("exit")

    async def __aenter__(self):
        self._note("aenter")
        return self

    async def __aexit__(self, *exc_info):
        self._note("aexit")


recorder = Recorder()
shared = ChatClient()  # at GOAPI_BASE_URL, with GOAPI_KEY
forecaster = Agent({inner!r}, stream=False)
checker = Agent({inner!r}, stream=False, client=shared)
forecast = forecaster.as_tool(name="forecast", description="Forecasts.")
check = checker.as_tool(name="check", description="Checks a forecast.")


@tool
def stop() -> str:
    '''Stops the command as Ctrl-C would.'''
    raise KeyboardInterrupt
"""


def model(ending: str):
    """The outer model asks both sub-agents, then ends the command as `ending` says."""

    def reply(body: dict) -> Reply | Fault:
        if body["model"] == INNER:
            return Reply.text("Sunny.")
        asked = sum(m["role"] in ("tool", "function") for m in body["messages"])
        if asked < 2:
            return Reply.call(("forecast", "check")[asked], {"prompt": "Oslo tomorrow?"})
        if ending == "error":
            return Fault.json_error(400, "The model is overloaded.", "invalid_request_error")
        if ending == "interrupt":
            return Reply.call("stop", {})
        return Reply.text("It is sunny.")

    return reply


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal.txt"


@pytest.fixture
def tools(tmp_path: Path, journal: Path) -> Path:
    path = tmp_path / "forecast_tools.py"
    path.write_text(TOOLS.format(journal=str(journal), inner=INNER), encoding="utf-8")
    return path


@contextlib.contextmanager
def serve(monkeypatch: pytest.MonkeyPatch, ending: str) -> Iterator[LoopbackServer]:
    """The simulator, where agents made without `base_url` (the tools file's) go."""
    with LoopbackServer(model(ending)) as server:
        monkeypatch.setenv("GOAPI_KEY", "sk-test")
        monkeypatch.setenv("GOAPI_BASE_URL", server.base_url)
        yield server


def unclosed(tools: Path) -> list[str]:
    """The ResourceWarnings (unclosed sockets) as the tools file's modules are collected."""
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) == str(tools):
            del sys.modules[name]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        gc.collect()
    return [str(w.message) for w in seen if issubclass(w.category, ResourceWarning)]


@pytest.mark.parametrize(("ending", "status"), [("answer", 0), ("error", 2), ("interrupt", 130)])
def test_run_closes_what_the_tools_file_made_however_it_ends(
    ending: str, status: int, tools: Path, journal: Path, monkeypatch: pytest.MonkeyPatch
):
    with serve(monkeypatch, ending) as server:
        assert main(["run", "Weather in Oslo?", "--no-stream", "--tools", str(tools)]) == status
        asked = [body["model"] for body in server.requests]
    assert asked == [OUTER, INNER, OUTER, INNER, OUTER]  # both sub-agents' pools were used
    assert journal.read_text().split() == ["enter", "exit"]
    assert unclosed(tools) == []


def test_batch_closes_them_in_its_event_loop(
    tools: Path, journal: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": "oslo", "prompt": "Weather in Oslo?"}\n', encoding="utf-8")
    args = ["--out", str(out), "--tools", str(tools), "--no-stream", "--workers", "1"]
    with serve(monkeypatch, "answer"):
        assert main(["batch", str(source), *args]) == 0
    assert json.loads(out.read_text())["output"] == "It is sunny."
    assert journal.read_text().split() == ["aenter", "aexit"]
    assert unclosed(tools) == []


def test_chat_starts_the_agent_in_use_and_stops_it_when_the_model_changes(
    tools: Path, journal: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Oslo?\n/model gpt-4\nBergen?\n"))
    monkeypatch.setenv("HOME", str(journal.parent))  # the chat's history file
    with serve(monkeypatch, "answer"):
        assert main(["chat", "--no-log", "--tools", str(tools)]) == 0
    assert capsys.readouterr().out.count("It is sunny.") == 2
    # The tools file is loaded again for the new model: its recorder starts before the old
    # one stops, so a failed switch leaves the chat as it was.
    assert journal.read_text().split() == ["enter", "enter", "exit", "exit"]
    assert unclosed(tools) == []


@pytest.fixture
def mcp_tools(tmp_path: Path) -> Path:
    pytest.importorskip("mcp")
    demo = Path(__file__).parent / "mcp_servers" / "demo.py"
    path = tmp_path / "adder_tools.py"
    path.write_text(
        "from agentkit import Agent\n"
        "from agentkit.mcp import MCPServerStdio\n"
        f"server = MCPServerStdio({sys.executable!r}, [{str(demo)!r}], timeout=30)\n"
        f"adder = Agent({INNER!r}, tools=[server], stream=False)\n"
        "add = adder.as_tool(name='ask_adder', description='Adds numbers.')\n",
        encoding="utf-8",
    )
    return path


def test_a_sub_agents_mcp_server_is_started_for_the_run_and_stopped_after(
    mcp_tools: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from agentkit import UsageError

    def reply(body: dict) -> Reply:
        last = body["messages"][-1]
        if body["model"] == INNER:
            if last["role"] == "user":
                return Reply.call("add", {"a": 1, "b": 2})
            return Reply.text(f"The sum is {last['content']}.")
        if last["role"] == "user":
            return Reply.call("ask_adder", {"prompt": "1 + 2?"})
        return Reply.text(last["content"])

    monkeypatch.setenv("GOAPI_KEY", "sk-test")
    with LoopbackServer(reply) as server:
        monkeypatch.setenv("GOAPI_BASE_URL", server.base_url)
        assert main(["run", "1 + 2?", "--no-stream", "--tools", str(mcp_tools)]) == 0
    assert capsys.readouterr().out == "The sum is 3.\n"
    (module,) = [m for m in sys.modules.values() if getattr(m, "__file__", None) == str(mcp_tools)]
    with pytest.raises(UsageError, match="not started"):
        module.server.get_tools()
    assert unclosed(mcp_tools) == []
