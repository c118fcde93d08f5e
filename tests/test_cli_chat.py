"""`agentkit chat` at a real terminal: a pseudo-terminal, readline, Ctrl-C and Ctrl-D.

Each test starts the command as a child on a new pseudo-terminal (so `isatty()` is true and
readline edits the line), types into it, and reads what a person would see.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX terminal")

UP = "\x1b[A"
CTRL_C = "\x03"
CTRL_D = "\x04"


def _take_terminal() -> None:
    """In the child: make the pseudo-terminal on stdin its controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """The chat on a pseudo-terminal: `type` keys, `expect` text, `exit_code` at the end."""

    def __init__(self, *args: str) -> None:
        controller, child = pty.openpty()
        env = {k: v for k, v in os.environ.items() if k != "GOAPI_KEY"}
        env.update(TERM="dumb", COLUMNS="200", LINES="50", INPUTRC="/dev/null")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentkit.cli", "chat", "--offline", *args],
            stdin=child,
            stdout=child,
            stderr=child,
            env=env,
            start_new_session=True,  # the terminal's Ctrl-C goes to the chat only
            preexec_fn=_take_terminal,
        )
        os.close(child)
        self.fd = controller
        self.seen = ""

    def type(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def expect(self, pattern: str, timeout: float = 30) -> str:
        """Read until `pattern` (a regex) shows; what was read since the last match."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.seen)
            if match:
                before, self.seen = self.seen[: match.end()], self.seen[match.end() :]
                return before
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {pattern!r} in time; the terminal shows:\n{self.seen}")
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    data = b""
                if not data:
                    raise AssertionError(f"the chat ended before {pattern!r}:\n{self.seen}")
                self.seen += data.decode(errors="replace").replace("\r\n", "\n")

    def exit_code(self, timeout: float = 30) -> int:
        try:
            code = self.process.wait(timeout)
        finally:
            self.close()
        return code

    def rest(self) -> str:
        """Whatever is left to read once the child has gone."""
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.5)
                data = os.read(self.fd, 4096) if ready else b""
            except OSError:
                data = b""
            if not data:
                return self.seen
            self.seen += data.decode(errors="replace").replace("\r\n", "\n")

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        os.close(self.fd)


@pytest.fixture
def terminal_factory():
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        terminal = Terminal(*args)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        if terminal.process.poll() is None:
            terminal.close()


PROMPT = r"\n?> $"


def test_history_with_the_arrow_keys_tools_and_ctrl_d(terminal_factory):
    """A question with a tool call, the same question again with the up arrow, /tools, and
    Ctrl-D to leave: exit status 0, no traceback."""
    chat = terminal_factory("--tools", "agentkit_tools.weather")
    chat.expect("/help for commands, Ctrl-D to leave")
    chat.expect("> ")
    chat.type("What is the weather like in Boston?\r")
    first = chat.expect(r"\(observed .*?local time\)\.\n")
    assert '[get_current_weather({"location": "Boston"})]' in first
    assert "Here is what I found: Boston (demo data), Massachusetts, United States: 22°C" in first
    chat.expect("> ")
    chat.type(UP)  # readline brings the last line back
    chat.expect("What is the weather like in Boston\\?")
    chat.type("\r")
    again = chat.expect(r"\(observed .*?local time\)\.\n")
    assert '[get_current_weather({"location": "Boston"})]' in again
    chat.expect("> ")
    chat.type("/tools\r")
    tools = chat.expect("> ")
    assert "get_current_weather: Get the current weather in a given location." in tools
    assert "get_forecast: Get the daily weather forecast" in tools
    chat.type(CTRL_D)
    assert chat.exit_code() == 0
    assert "Traceback" not in chat.rest()


def test_multi_line_model_save_and_ctrl_c(terminal_factory, tmp_path: Path):
    """A prompt between triple quotes and one continued with a backslash, /model, /save, and
    Ctrl-C at the prompt to leave."""
    chat = terminal_factory()
    chat.expect("> ")
    chat.type('"""\r')
    chat.expect(r"\.\.\. ")
    chat.type("first line\rsecond line\r")
    chat.type('"""\r')
    answer = chat.expect("> ")
    assert "You said: first line\nsecond line" in answer
    chat.type("one \\\r")
    chat.expect(r"\.\.\. ")
    chat.type("two\r")
    assert "You said: one \ntwo" in chat.expect("> ")
    chat.type("/model gpt-5-imaginary\r")
    assert "Unknown model 'gpt-5-imaginary'" in chat.expect("> ")
    chat.type("/model gpt-4-1106-preview\r")
    assert "(now talking to gpt-4-1106-preview)" in chat.expect("> ")
    saved = tmp_path / "chat.json"
    chat.type(f"/save {saved}\r")
    assert f"(saved 4 messages to {saved})" in chat.expect("> ")
    chat.type(CTRL_C)
    assert chat.exit_code() == 0
    assert "Traceback" not in chat.rest()
    document = json.loads(saved.read_text())
    assert document["model"] == "gpt-4-1106-preview"
    assert [m["content"] for m in document["messages"] if m["role"] == "user"] == [
        "first line\nsecond line",
        "one \ntwo",
    ]


def test_readline_history_is_kept_between_sessions_privately(terminal_factory):
    first = terminal_factory()
    first.expect("> ")
    first.type("Remember this line\r")
    first.expect("You said: Remember this line")
    first.expect("> ")
    first.type("/exit\r")
    assert first.exit_code() == 0
    history = Path(os.environ["XDG_DATA_HOME"]) / "agentkit" / "chat_history"
    assert "Remember this line" in history.read_text()
    assert history.stat().st_mode & 0o077 == 0

    second = terminal_factory()
    second.expect("> ")
    second.type(UP)  # the last line typed: /exit
    second.expect("/exit")
    second.type(UP)
    second.expect("Remember this line")
    second.type("\r")
    second.expect("You said: Remember this line")
    second.expect("> ")
    second.type(CTRL_D)
    assert second.exit_code() == 0


def test_save_never_leaves_a_half_written_file(terminal_factory, tmp_path: Path):
    """/save to a directory or a missing folder says why in one line; the chat goes on."""
    chat = terminal_factory()
    chat.expect("> ")
    chat.type(f"/save {tmp_path}\r")
    assert f"agentkit: cannot save to {tmp_path}: it is a directory" in chat.expect("> ")
    chat.type(f"/save {tmp_path}/no/such/dir/chat.json\r")
    assert "No such file or directory" in chat.expect("> ")
    chat.type("/exit\r")
    assert chat.exit_code() == 0
    assert list(tmp_path.iterdir()) == []


SLOW_TOOL = '''
import time

from agentkit import tool


@tool
def slow_lookup(query: str) -> str:
    """Look something up, slowly."""
    print("(looking)", flush=True)
    time.sleep(60)
    return "found"
'''


def test_ctrl_c_stops_an_answer_and_the_chat_goes_on(terminal_factory, tmp_path: Path):
    """Ctrl-C while a tool runs stops that answer only: it is left out of the chat, and the
    next question gets a clean one."""
    tools = tmp_path / "slow_tools.py"
    tools.write_text(SLOW_TOOL)
    chat = terminal_factory("--tools", str(tools))
    chat.expect("> ")
    chat.type("Please look up the weather\r")
    chat.expect(r"\(looking\)")
    chat.type(CTRL_C)
    chat.expect(r"\(stopped: this answer is not kept in the chat\)")
    chat.expect("> ")
    chat.type("/save " + str(tmp_path / "chat.json") + "\r")
    assert "(saved 0 messages" in chat.expect("> ")
    chat.type(CTRL_D)
    assert chat.exit_code() == 0
    assert "Traceback" not in chat.rest()
