"""Every example runs offline, start to end, against the bundled simulator.

The examples run in this process (so the network guard applies): their HTTP goes to the
loopback simulator, and a ready-made tool that tries the internet gets the guard's error,
which goes back to the model as that call's result, as on a machine without internet.
"""

from __future__ import annotations

import io
import runpy
import socket
import sys
from pathlib import Path
from typing import NoReturn

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
OFFLINE = "Offline: GOAPI_KEY is not set"


def run_example(name: str, monkeypatch: pytest.MonkeyPatch, stdin: str = "") -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", [name])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    assert exited.value.code == 0


def output(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> list[str]:
    run_example(name, monkeypatch, stdin)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(OFFLINE)
    assert "export GOAPI_KEY" in lines[0]
    return lines[1:]


def test_weather_agent(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The seed's question: the tool is called for Boston and its outcome fed back."""
    lines = output("weather_agent.py", monkeypatch, capsys)
    assert lines[0] == "> What is the weather like in Boston?"
    assert lines[1] == '[calling get_current_weather({"location": "Boston"})]'
    assert lines[2].startswith("[get_current_weather returned: ")
    assert lines[-1] == "(2 requests, 1 tool call)"


def test_search_agent(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    lines = output("search_agent.py", monkeypatch, capsys)
    assert lines[0].startswith("> Search the web")
    assert lines[1].startswith("[search: ")


def test_chatbot_keeps_memory(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    lines = output("chatbot.py", monkeypatch, capsys, stdin="What is 12 * 7?\nThanks!\n")
    assert lines[0] == "you> What is 12 * 7?"
    assert lines[1] == 'bot> [calculate({"expression": "12 * 7"})] Here is what I found: 84'
    assert lines[-1] == "(9 messages in the conversation)"


def test_structured_extraction(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    text = "\n".join(output("structured_extraction.py", monkeypatch, capsys))
    assert '"name": "Ada Lovelace"' in text
    assert '"email": "ada@analytical.example"' in text


def test_approval_agent_refuses_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    lines = output("approval_agent.py", monkeypatch, capsys)
    assert lines[0].startswith("The agent wants to call save_note(")
    assert "nobody is at the terminal" in lines[1]


def test_batch_prompts(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    lines = output("batch_prompts.py", monkeypatch, capsys)
    answers = {line.split()[0]: line for line in lines[:-1]}
    assert len(answers) == 20
    assert answers["0"].endswith("Here is what I found: 2")  # 1 * 2
    assert lines[-1] == "20 prompts, 0 failed, 40 requests, 20 tool calls, at most 8 at once"


def test_online_an_api_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """With GOAPI_KEY set and GoAPI out of reach (no DNS, as on a machine offline), the
    example says what went wrong in one line and exits 1, without a traceback."""

    def no_dns(*args: object, **kwargs: object) -> NoReturn:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("GOAPI_KEY", "sk-test")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", ["weather_agent.py"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(EXAMPLES / "weather_agent.py"), run_name="__main__")
    assert str(exited.value.code).startswith("GoAPI: Connection to api.goapi.xyz failed")
    assert capsys.readouterr().out.startswith("Online: talking to GoAPI (gpt-3.5-turbo).")


def test_triage_agent_hands_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Each question goes to the specialist that fits; what the specialist did is on the
    call's result, and its requests count as the triage run's."""
    lines = output("triage_agent.py", monkeypatch, capsys)
    weather, search = lines[:5], lines[5:]
    assert weather[0] == "> What is the weather like in Boston?"
    assert weather[1] == "[triage -> weather_agent]"
    assert weather[2].startswith("  [weather_agent -> get_current_weather: Error: ")
    assert weather[4] == "(4 requests: 2 by triage, 2 by specialists)"
    assert search[0].startswith("> Search the web")
    assert search[1] == "[triage -> search_agent]"
    assert search[2].startswith("  [search_agent -> search: ")
    assert search[4] == "(4 requests: 2 by triage, 2 by specialists)"
