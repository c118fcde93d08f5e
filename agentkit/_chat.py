"""`agentkit chat`: an interactive, streaming chat with memory, tools and a few commands.

At a terminal it reads lines with `readline` (arrow keys, Ctrl-R, a history kept in the data
dir between sessions); piped, it reads one prompt per line. A prompt may span lines: end a
line with a backslash to go on, or put it between two lines of three double quotes. Ctrl-C
stops an answer (it is left out of the history); Ctrl-C or Ctrl-D at the prompt leaves.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._exceptions import AgentkitError

if TYPE_CHECKING:
    from ._agent import Agent
    from ._messages import Message, Usage

__all__ = ["chat"]

HELP = """\
/model NAME   go on with another model (the chat so far is kept)
/tools        list the tools the model can call
/save FILE    write the chat to FILE as JSON (messages and model)
/usage        requests, tokens and tool calls so far
/reset        start a new chat
/exit         leave (or Ctrl-D; Ctrl-C stops an answer)
A prompt may span lines: end a line with \\ to go on, or put it between two lines of \"\"\"."""

_HISTORY_LENGTH = 1000


def chat(model: str, make_agent: Callable[[str], Agent[str]], history_file: Path | None) -> int:
    """Run the chat until the user leaves; the exit status.

    Args:
        model: The model to start with.
        make_agent: Builds the agent for a model name (`/model` calls it again).
        history_file: Where `readline` keeps the lines typed (at a terminal only).
    """
    from ._messages import Usage

    interactive = sys.stdin.isatty()
    session = _Session(make_agent(model), make_agent, Usage())
    with contextlib.ExitStack() as stack:
        stack.enter_context(session)  # the agent in use: its MCP servers, its tools files' agents
        if interactive:
            stack.enter_context(_readline(history_file))
            print(f"agentkit chat with {model}: /help for commands, Ctrl-D to leave")
        while True:
            try:
                text = _read_prompt(interactive)
            except (EOFError, KeyboardInterrupt):
                if interactive:
                    print()
                break
            if not text.strip():
                continue
            if text.strip().startswith("/"):
                if session.command(text.strip()):
                    break
                continue
            session.ask(text)
    return 0


class _Session:
    def __init__(
        self, agent: Agent[str], make_agent: Callable[[str], Agent[str]], usage: Usage
    ) -> None:
        self.agent = agent
        self.make_agent = make_agent
        self.history: list[Message] = []
        self._started = contextlib.ExitStack()
        self.total = usage

    def ask(self, text: str) -> None:
        from ._agent import RunFinished
        from ._loop import ToolCallFinished, ToolCallStarted
        from ._messages import TextDelta

        try:
            for event in self.agent.stream(text, history=self.history):
                if isinstance(event, TextDelta):
                    print(event.text, end="", flush=True)
                elif isinstance(event, ToolCallStarted):
                    print(f"[{event.call.name}({event.call.arguments})]", flush=True)
                elif isinstance(event, ToolCallFinished):
                    print(f"[{event.result.name} -> {event.result.content}]", flush=True)
                elif isinstance(event, RunFinished):
                    self.history = list(event.result.messages)
                    self.total = self.total + event.result.usage
                    print()
        except KeyboardInterrupt:
            print("\n(stopped: this answer is not kept in the chat)", flush=True)
        except AgentkitError as error:
            print(f"\nagentkit: {error}", file=sys.stderr, flush=True)

    def command(self, line: str) -> bool:
        """Carry out a `/command`; whether to leave."""
        name, _, argument = line.partition(" ")
        argument = argument.strip()
        if name in ("/exit", "/quit"):
            return True
        if name == "/help":
            print(HELP)
        elif name == "/reset":
            self.history.clear()
            print("(history cleared)")
        elif name == "/usage":
            total = self.total
            print(
                f"(requests {total.requests}, prompt tokens {total.prompt_tokens}, "
                f"completion tokens {total.completion_tokens}, tool calls {total.tool_calls})"
            )
        elif name == "/tools":
            self.list_tools()
        elif name == "/model":
            self.switch(argument)
        elif name == "/save":
            self.save(argument)
        else:
            print(f"(unknown command {name}; /help lists them)")
        return False

    def list_tools(self) -> None:
        if not self.agent.tools:
            print("(no tools: start the chat with --tools SPEC to offer some)")
        for tool in self.agent.tools:
            summary = (tool.description or "").strip().splitlines()
            print(f"{tool.name}: {summary[0] if summary else '(no description)'}")

    def __enter__(self) -> _Session:
        self._started.enter_context(self.agent)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._started.close()

    def switch(self, model: str) -> None:
        if not model:
            print(f"(the model is {self.agent.model.name}; /model NAME to change it)")
            return
        started = contextlib.ExitStack()
        try:
            agent = started.enter_context(self.make_agent(model))
        except AgentkitError as error:
            print(f"agentkit: {error}", file=sys.stderr)
            return
        self._started.close()  # the new agent runs: the old one stops
        self.agent, self._started = agent, started
        print(f"(now talking to {model})")

    def save(self, name: str) -> None:
        from ._wire import dump_messages

        if not name:
            print("(/save FILE: the file to write the chat to)")
            return
        path = Path(name).expanduser()
        document = {"model": self.agent.model.name, "messages": dump_messages(self.history)}
        try:
            _write_whole(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        except OSError as error:
            print(f"agentkit: cannot save to {path}: {error.strerror or error}", file=sys.stderr)
            return
        print(f"(saved {len(self.history)} messages to {path})")


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` all at once: a file is never left half-written."""
    if path.is_dir():
        raise IsADirectoryError(21, "it is a directory")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _read_prompt(interactive: bool) -> str:
    """One prompt: a line, lines joined by a trailing backslash, or a block between quotes."""
    line = input("> " if interactive else "")
    if line.strip() == '"""':
        lines = []
        while (line := input("... " if interactive else "")).strip() != '"""':
            lines.append(line)
        return "\n".join(lines)
    lines = []
    while line.endswith("\\"):
        lines.append(line[:-1])
        line = input("... " if interactive else "")
    return "\n".join([*lines, line])


@contextlib.contextmanager
def _readline(history_file: Path | None) -> Iterator[Any]:
    """Line editing and a history kept between sessions, where `readline` exists."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input()
        yield None
        return
    readline.set_history_length(_HISTORY_LENGTH)
    if history_file is not None:
        with contextlib.suppress(OSError):
            readline.read_history_file(history_file)
    try:
        yield readline
    finally:
        if history_file is not None:
            with contextlib.suppress(OSError):
                history_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                readline.write_history_file(history_file)
                os.chmod(history_file, 0o600)  # the prompts may be private
