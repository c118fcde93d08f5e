"""Every example runs offline, start to end, against the bundled simulator.

The examples run in this process, under the network guard: their HTTP goes to the loopback
simulator and the ready tools' web services to the demo services, so an answer built from
demo data proves that nothing tried to leave the machine (the guard would have failed it).
"""

from __future__ import annotations

import io
import runpy
import socket
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

from agentkit.testing import DemoModel, LoopbackServer

EXAMPLES = Path(__file__).parent.parent / "examples"
OFFLINE = "Offline: GOAPI_KEY is not set"


def run_example(name: str, monkeypatch: pytest.MonkeyPatch, stdin: str = "", code: int = 0) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", [name])
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    assert exited.value.code == code


def output(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stdin: str = ""
) -> list[str]:
    run_example(name, monkeypatch, stdin)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(OFFLINE)
    assert "export GOAPI_KEY" in lines[0]
    return lines[1:]


def test_weather_agent(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The seed's question: the real weather tool runs against the demo weather service and
    the answer is a report for Boston, labelled as demo data, with no error anywhere."""
    lines = output("weather_agent.py", monkeypatch, capsys)
    assert lines[0] == "> What is the weather like in Boston?"
    assert lines[1] == '[calling get_current_weather({"location": "Boston"})]'
    report = "Boston (demo data), Massachusetts, United States: 22°C, clear sky, wind 11.2 km/h"
    assert lines[2].startswith(f"[get_current_weather returned: {report}")
    assert lines[3].startswith(f"Here is what I found: {report}")
    assert lines[-1] == "(2 requests, 1 tool call)"
    assert not any("error" in line.lower() for line in lines)
    assert capsys.readouterr().err == ""


def test_weather_agent_for_another_city(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Any place gets demo weather of its own, the same on every run."""
    monkeypatch.setattr(sys, "argv", ["weather_agent.py", "What is the weather like in Oslo?"])
    answers = []
    for _ in range(2):
        monkeypatch.syspath_prepend(str(EXAMPLES))
        with pytest.raises(SystemExit) as exited:
            runpy.run_path(str(EXAMPLES / "weather_agent.py"), run_name="__main__")
        assert exited.value.code == 0
        answers.append(capsys.readouterr().out.splitlines()[4])
    assert answers[0] == answers[1]
    assert answers[0].startswith(
        "Here is what I found: Oslo (demo data), Oslo, Norway: 12°C, slight rain showers"
    )


def test_search_agent(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """The search tool runs against the demo Wikipedia: real-looking hits, labelled."""
    lines = output("search_agent.py", monkeypatch, capsys)
    assert lines[0].startswith("> Search the web")
    assert lines[1] == (
        "[search: 1. Python (programming language) "
        "<https://en.wikipedia.org/wiki/Python_%28programming_language%29>"
    )
    text = "\n".join(lines)
    assert "Guido van Rossum is a Dutch programmer who designed and created" in text
    assert "(demo data)" in text
    assert "error" not in text.lower()


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


def test_a_stored_key_takes_the_examples_online(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`agentkit keys set` and no GOAPI_KEY: online, as the library is (here to a loopback
    GoAPI at GOAPI_BASE_URL, which is sent the stored key)."""
    from agentkit._keys import store_key

    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost"):  # the real weather service: no network
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    store_key("sk-stored-0123456789")
    with LoopbackServer(DemoModel()) as server:
        monkeypatch.setenv("GOAPI_BASE_URL", server.base_url)
        run_example("weather_agent.py", monkeypatch, code=1)
    assert capsys.readouterr().out.startswith(f"Online: talking to {server.base_url}")
    assert server.headers[0]["authorization"] == "Bearer sk-stored-0123456789"


def test_online_an_unreachable_weather_service_is_an_error_not_the_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """With a key (GoAPI simulated at GOAPI_BASE_URL) and no internet for the weather
    service, the example ends with one error line that says what to check, and the model's
    reply to the failure is not printed as the answer."""
    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    with LoopbackServer(DemoModel()) as server:
        monkeypatch.setenv("GOAPI_KEY", "sk-test")
        monkeypatch.setenv("GOAPI_BASE_URL", server.base_url)
        run_example("weather_agent.py", monkeypatch, code=1)
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"Online: talking to {server.base_url} (gpt-3.5-turbo).",
        "> What is the weather like in Boston?",
        '[calling get_current_weather({"location": "Boston"})]',
    ]
    assert captured.err == (
        "error: Open-Meteo geocoding could not be asked: "
        "The host 'geocoding-api.open-meteo.com' could not be looked up: no network?\n"
    )


def test_triage_agent_hands_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Each question goes to the specialist that fits; what the specialist did is on the
    call's result, and its requests count as the triage run's."""
    lines = output("triage_agent.py", monkeypatch, capsys)
    weather, search = lines[:5], lines[5:]
    assert weather[0] == "> What is the weather like in Boston?"
    assert weather[1] == "[triage -> weather_agent]"
    assert weather[2].startswith(
        "  [weather_agent -> get_current_weather: Boston (demo data), Massachusetts, United"
    )
    assert weather[4] == "(4 requests: 2 by triage, 2 by specialists)"
    assert search[0].startswith("> Search the web")
    assert search[1] == "[triage -> search_agent]"
    assert search[2].startswith("  [search_agent -> search: ")
    assert search[-1] == "(4 requests: 2 by triage, 2 by specialists)"
