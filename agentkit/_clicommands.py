"""`agentkit keys` and `agentkit logs`: the stored key and the conversation log.

`cli.py` registers them with `add_keys_command` and `add_logs_command`.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from ._exceptions import UsageError

__all__ = ["add_keys_command", "add_logs_command"]

Subparsers = Any  # argparse's _SubParsersAction is private


# --------------------------------------------------------------------------- keys


def add_keys_command(commands: Subparsers) -> None:
    """`agentkit keys set|path|remove`."""
    keys = commands.add_parser("keys", help="store the API key for the command (like llm keys)")
    actions = keys.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    store = actions.add_parser("set", help="store the GoAPI key (asked for, never shown)")
    store.add_argument("--value", help="the key, instead of asking (it ends up in shell history)")
    store.set_defaults(handler=_keys_set)
    actions.add_parser("path", help="print where the key is stored").set_defaults(
        handler=_keys_path
    )
    actions.add_parser("remove", help="delete the stored key").set_defaults(handler=_keys_remove)


def _keys_set(args: argparse.Namespace) -> int:
    from ._keys import store_key

    if args.value is not None:
        key = args.value
    elif sys.stdin.isatty():
        key = getpass.getpass("GoAPI key (not shown): ")
    else:
        key = sys.stdin.readline()
    path = store_key(key)
    print(f"Stored the key in {path} (readable by you only). GOAPI_KEY, when set, wins.")
    return 0


def _keys_path(args: argparse.Namespace) -> int:
    from ._keys import key_path

    print(key_path())
    return 0


def _keys_remove(args: argparse.Namespace) -> int:
    from ._keys import delete_key

    print("Removed the stored key." if delete_key() else "No key was stored.")
    return 0


# --------------------------------------------------------------------------- logs


def add_logs_command(commands: Subparsers) -> None:
    """`agentkit logs [-n N] [--json] [-q SEARCH]`, `logs show ID`, `logs path`."""
    logs = commands.add_parser(
        "logs", help="the conversation log: list, search, show (run/chat log by default)"
    )
    logs.add_argument("-n", type=int, default=10, metavar="N", help="how many (default: 10)")
    logs.add_argument("-q", "--query", metavar="SEARCH", help="full-text search")
    logs.add_argument("--json", action="store_true", help="print JSON")
    logs.set_defaults(handler=_logs_list)
    actions = logs.add_subparsers(dest="logs_action", metavar="ACTION")
    show = actions.add_parser("show", help="one entry, with its whole chat")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=_logs_show)
    actions.add_parser("path", help="print where the log is").set_defaults(handler=_logs_path)


def _store() -> Any:
    from ._logstore import ConversationLog

    def fail(message: str) -> None:
        raise UsageError(message[0].upper() + message[1:] + ".")

    return ConversationLog(on_error=fail)


def _logs_path(args: argparse.Namespace) -> int:
    from ._logstore import default_log_path

    print(default_log_path())
    return 0


def _logs_list(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UsageError(f"-n must be at least 1, not {args.n}.")
    from ._logstore import default_log_path

    if not default_log_path().exists():
        if args.json:
            print("[]")
        else:
            print(f"(no conversations logged yet; the log will be {default_log_path()})")
        return 0
    entries = _store().entries(args.n, args.query)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("(nothing found)" if args.query else "(no conversations logged yet)")
    for entry in entries:
        outcome = (
            f"{entry.error_type}: {_line(entry.error)}"
            if entry.error_type
            else _line(entry.output or "")
        )
        tokens = (
            "? tokens"
            if entry.prompt_tokens is None
            else f"{entry.prompt_tokens + (entry.completion_tokens or 0)} tokens"
        )
        print(
            f"#{entry.id}  {entry.started}  {entry.command}  {entry.model}  "
            f"{entry.seconds or 0:.1f} s  {tokens}"
        )
        print(f"  > {_line(entry.prompt)}")
        print(f"  {outcome}")
    return 0


def _logs_show(args: argparse.Namespace) -> int:
    from ._logstore import default_log_path

    entry = _store().get(args.id) if default_log_path().exists() else None
    if entry is None:
        raise UsageError(f"No log entry #{args.id}: 'agentkit logs' lists them.")
    if args.json:
        print(json.dumps(entry.to_json(), indent=2, ensure_ascii=False))
        return 0
    cost = "unknown" if entry.cost is None else f"${entry.cost:.6f}"
    print(f"#{entry.id}  {entry.started}  {entry.command}  {entry.model}")
    tokens = (
        "tokens unknown"
        if entry.prompt_tokens is None
        else f"tokens {entry.prompt_tokens} in / {entry.completion_tokens} out"
    )
    print(
        f"{entry.seconds or 0:.2f} s, requests {entry.requests}, tool calls {entry.tool_calls}, "
        f"{tokens}, cost {cost}"
    )
    for message in entry.messages:
        role = message.get("role", "?")
        if message.get("content"):
            print(f"[{role}] {message['content']}")
        for call in message.get("tool_calls") or ():
            function = call.get("function", {})
            print(f"[{role} calls] {function.get('name')}({function.get('arguments')})")
        if message.get("function_call"):
            call = message["function_call"]
            print(f"[{role} calls] {call.get('name')}({call.get('arguments')})")
    if entry.error_type:
        print(f"[error] {entry.error_type}: {entry.error}")
    return 0


def _line(text: str | None, width: int = 100) -> str:
    """The text on one line, cut to `width` characters."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."
