"""What the model reads when a tool raises: no home directory, no key, a bounded length."""

import os

import pytest

from agentkit import Agent, tool
from agentkit.testing import LoopbackServer, Reply

KEY = "sk-live-0123456789abcdef"


def failing_tool(error):
    @tool
    def open_report(name: str) -> str:
        """Open a report."""
        raise error

    return open_report


def model_reads(error):
    """The tool result the model was sent after the tool raised `error`."""
    script = [Reply.call("open_report", {"name": "q3"}), Reply.text("Sorry.")]
    with (
        LoopbackServer(script) as server,
        Agent(
            "gpt-3.5-turbo", tools=[failing_tool(error)], base_url=server.base_url, api_key=KEY
        ) as agent,  # fmt: skip
    ):
        result = agent.run("Open the Q3 report")
    return result.messages[2].content


def test_the_home_directory_is_written_as_a_tilde(monkeypatch, tmp_path):
    home = tmp_path / "ann"
    monkeypatch.setenv("HOME", str(home))
    path = home / "reports" / "q3.csv"
    text = model_reads(FileNotFoundError(2, "No such file or directory", str(path)))
    assert text == (
        "Error: open_report raised FileNotFoundError: [Errno 2] No such file or directory: "
        "'~/reports/q3.csv'"
    )
    assert str(tmp_path) not in text


def test_only_whole_names_are_replaced(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "ann"))
    text = model_reads(RuntimeError(f"{tmp_path}/ann-backup/x and {tmp_path}/ann/y"))
    assert text.endswith(f"{tmp_path}/ann-backup/x and ~/y")


def test_keys_are_scrubbed(monkeypatch):
    """The `GOAPI_KEY` value, bearer tokens, `sk-...` keys and `api_key=` pairs."""
    monkeypatch.setenv("GOAPI_KEY", "goapi-Zq8sR2vT5")
    text = model_reads(RuntimeError(
        f"auth failed for goapi-Zq8sR2vT5; Authorization: Bearer tok123456; api_key={KEY} used"
    ))  # fmt: skip
    assert text == (
        "Error: open_report raised RuntimeError: auth failed for ***; "
        "Authorization: Bearer ***; api_key=*** used"
    )


def test_a_short_goapi_key_does_not_garble_the_text(monkeypatch):
    monkeypatch.setenv("GOAPI_KEY", "x")
    assert model_reads(RuntimeError("x marks the spot")).endswith(": x marks the spot")


def test_the_text_is_capped():
    text = model_reads(ValueError("x" * 100_000))
    assert len(text) < 600
    assert text.endswith("x…")


@pytest.mark.skipif(os.name != "posix", reason="a POSIX home")
def test_a_root_home_is_left_alone(monkeypatch):
    monkeypatch.setenv("HOME", "/")
    assert model_reads(RuntimeError("/etc/x")).endswith("RuntimeError: /etc/x")
