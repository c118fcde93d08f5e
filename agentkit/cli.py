"""The `agentkit` command.

Only the command configures logging; the library never does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="agentkit",
        description=(
            "Run function-calling agents on GoAPI (or any OpenAI-compatible "
            "chat-completions service)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"agentkit {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return 0  # pragma: no cover - every subcommand returns its own status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
