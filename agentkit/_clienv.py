"""What a command that talks to a model takes from its environment.

Where to send requests (`--offline`, else `--base-url`, `GOAPI_BASE_URL`, GoAPI) and the key
(`GOAPI_KEY`, else the one `agentkit keys set` stored), in the library's order (`_endpoint`),
and the conversation log (on for `run` and `chat` unless `--no-log`, on for `batch` only with
`--log`). The resolved values go onto the parsed arguments (`api_key`, `base_url`,
`log_store`) for `cli._agent` to use.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._endpoint import KEYLESS, resolve_base_url, resolve_key
from ._exceptions import UsageError

if TYPE_CHECKING:
    from ._logstore import ConversationLog

__all__ = ["NO_KEY", "OFFLINE_KEY", "command_environment"]

NO_KEY = (
    "Set GOAPI_KEY or run 'agentkit keys set', "
    "or try it with no key and no network: --offline (a demo model and demo data)."
)
OFFLINE_KEY = "offline-demo"


@contextlib.contextmanager
def command_environment(args: argparse.Namespace) -> Iterator[None]:
    """Resolve the server, key and log onto `args`; offline, keep the simulator running."""
    if not hasattr(args, "offline"):  # a command that talks to no model
        yield
        return
    with contextlib.ExitStack() as stack:
        if args.offline:
            from .testing import offline

            _one_process(args)

            server = stack.enter_context(offline())
            args.base_url, args.api_key = server.base_url, OFFLINE_KEY
            print(
                "agentkit: offline: a demo model and demo weather and search services answer "
                "(demo data); nothing leaves this machine.",
                file=sys.stderr,
            )
        else:
            args.base_url = resolve_base_url(args.base_url, argument="--base-url")
            args.api_key = resolve_key(None, args.base_url, argument=None, advice=NO_KEY)
        args.log_store = _log(args)
        yield


def _one_process(args: argparse.Namespace) -> None:
    """Offline, a batch runs in this process: the demo services and the guard live here."""
    if getattr(args, "engine", "local") != "local":
        raise UsageError("--offline runs the batch on this machine: leave out --engine ray.")
    if getattr(args, "workers", None) not in (None, 1):
        raise UsageError("--offline runs the batch in this process: leave out --workers.")
    if hasattr(args, "workers"):
        args.workers = 1


def _log(args: argparse.Namespace) -> ConversationLog | None:
    """The conversation log for this command, or `None`."""
    wanted = getattr(args, "log", False) if args.command == "batch" else not args.no_log
    if not wanted:
        return None
    from ._logstore import ConversationLog

    warned = False

    def warn(message: str) -> None:
        nonlocal warned
        if not warned:  # once per command: a chat would repeat it every turn
            print(f"agentkit: warning: {message} (--no-log skips the log)", file=sys.stderr)
            warned = True

    secrets = [args.api_key] if args.api_key not in (OFFLINE_KEY, KEYLESS) else []
    return ConversationLog(
        secrets=secrets,
        on_error=warn,
        command=args.command,
        conversation=uuid.uuid4().hex if args.command == "chat" else None,
    )
