"""The `agentkit` command.

Only the command configures logging; the library never does.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from ._exceptions import AgentkitError
from ._version import __version__

__all__ = ["main"]


def _models(args: argparse.Namespace) -> int:
    from ._models import default_catalog

    rows = [("model", "style", "context", "max out", "vision", "$/1K in", "$/1K out")]
    rows += [
        (
            info.name,
            info.style or "none",
            f"{info.context_window:,}" if info.context_window else "?",
            f"{info.max_output_tokens:,}" if info.max_output_tokens else "-",
            "yes" if info.vision else "no",
            f"{info.input_price:.4f}" if info.input_price is not None else "?",
            f"{info.output_price:.4f}" if info.output_price is not None else "?",
        )
        for info in default_catalog
    ]
    if args.json:
        keys = rows[0]
        print(json.dumps([dict(zip(keys, row, strict=True)) for row in rows[1:]], indent=2))
        return 0
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from ._toolspec import load_tools

    tools = [t for spec in args.spec for t in load_tools(spec)]
    entries = [t.schema for t in tools]
    if args.style == "tools":
        entries = [{"type": "function", "function": entry} for entry in entries]
    print(json.dumps(entries[0] if len(entries) == 1 else entries, indent=2))
    return 0


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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    models = commands.add_parser("models", help="the model catalog: styles, windows, prices")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(handler=_models)

    schema = commands.add_parser("schema", help="print the function entry of a tool")
    schema.add_argument(
        "spec", nargs="+", help="module, module:function, or path/to/file.py[:function]"
    )
    schema.add_argument(
        "--style",
        choices=["functions", "tools"],
        default="functions",
        help="the legacy functions entry (default) or the tools form",
    )
    schema.set_defaults(handler=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return handler(args)
    except AgentkitError as error:
        print(f"agentkit: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
