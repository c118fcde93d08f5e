"""The `agentkit` command.

Only the command configures logging; the library never does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _mcp_cli
from ._exceptions import AgentkitError, UsageError
from ._version import __version__

if TYPE_CHECKING:
    from ._agent import Agent
    from ._ratelimit import RateLimiter

__all__ = ["main"]


def _models(args: argparse.Namespace) -> int:
    from ._models import default_catalog

    if args.json:  # numbers as numbers (None when unknown), prices in USD per 1K tokens
        fields = (
            *("style", "context_window", "max_output_tokens"),
            *("vision", "input_price", "output_price"),
            *("structured_output", "tool_choice_required"),
        )
        models = [
            {"model": m.name, **{f: _number(getattr(m, f)) for f in fields}}
            for m in default_catalog
        ]
        print(json.dumps(models, indent=2))
        return 0
    rows = [("model", "style", "context", "max out", "vision", "schema", "$/1K in", "$/1K out")]
    rows += [
        (
            info.name,
            info.style or "none",
            f"{info.context_window:,}" if info.context_window else "?",
            f"{info.max_output_tokens:,}" if info.max_output_tokens else "-",
            "yes" if info.vision else "no",
            "yes" if info.structured_output else "no",
            f"{info.input_price:.5f}" if info.input_price is not None else "?",
            f"{info.output_price:.5f}" if info.output_price is not None else "?",
        )
        for info in default_catalog
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    return 0


def _number(value: Any) -> Any:
    """A price as the catalog means it (`0.0003`, not `0.00030000000000000003`)."""
    return float(f"{value:.12g}") if isinstance(value, float) else value


def _schema(args: argparse.Namespace) -> int:
    from ._toolspec import load_tools

    tools = [t for spec in args.spec for t in load_tools(spec)]
    entries = [t.schema for t in tools]
    if args.style == "tools":
        entries = [{"type": "function", "function": entry} for entry in entries]
    print(json.dumps(entries[0] if len(entries) == 1 else entries, indent=2))
    return 0


def _configure_logging(args: argparse.Namespace) -> None:
    """The command (never the library) sets up structlog: console or JSON, to stderr."""
    import structlog

    level = getattr(logging, str(args.log_level).upper())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if args.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


def _agent(args: argparse.Namespace, **extra: Any) -> Agent[str]:
    """The agent the options describe; one clear error for an unknown model or bad tools."""
    from ._agent import Agent
    from ._client import ChatClient
    from ._models import ModelSettings, default_catalog
    from ._toolspec import Resources, load_specs

    if default_catalog.find(args.model) is None and args.api_style is None:
        close = default_catalog.close_matches(args.model)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UsageError(
            f"Unknown model {args.model!r}: 'agentkit models' lists the catalog.{hint} "
            "To use it anyway, say how it takes functions: --api-style tools (or functions)."
        )
    tools, made = load_specs(args.tools)  # made: the tools files' own agents, clients, servers
    client = ChatClient(base_url=args.base_url, api_key=args.api_key, **extra)
    owned = Resources("the command's agents", [client, *made])  # closed as the agent stops
    return Agent(
        args.model,
        tools=[*tools, owned, *_mcp_cli.toolsets(args)],
        system=args.system,
        api_style=args.api_style,
        max_turns=args.max_turns,
        stream=not args.no_stream,
        settings=ModelSettings(temperature=args.temperature),
        client=client,
        log=args.log_store,
    )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """What shapes a batch item's answer, for the resume key."""
    return {
        "model": args.model,
        "system": args.system,
        "tools": sorted(args.tools),
        "temperature": args.temperature,
        "api_style": args.api_style,
        "max_turns": args.max_turns,
        **({"mcp": sorted(args.mcp + args.mcp_url)} if args.mcp or args.mcp_url else {}),
    }


def _run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ._wire import dump_messages

    with _agent(args) as agent:
        result = agent.run(args.prompt)
    if args.json:
        print(
            json.dumps(
                {
                    "output": result.output,
                    "turns": result.turns,
                    "usage": asdict(result.usage),  # every field, as in batch output lines
                    "cost": result.cost,
                    "messages": dump_messages(result.messages),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(result.output)
    return 0


def _chat(args: argparse.Namespace) -> int:
    from ._chat import chat
    from ._userdirs import data_dir

    def make_agent(model: str) -> Agent[str]:
        return _agent(argparse.Namespace(**{**vars(args), "model": model}))

    return chat(args.model, make_agent, data_dir() / "chat_history")


def _batch(args: argparse.Namespace) -> int:
    import functools

    import structlog

    from ._batchjob import BatchJob
    from ._batchprogress import StatusLine

    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {args.concurrency}.")
    if args.workers is not None and args.workers < 1:
        raise UsageError(f"--workers must be at least 1, not {args.workers}.")
    _agent(args).client.close()  # an unknown model or bad tools: one clear error, up front
    status = StatusLine(sys.stderr)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(status))  # type: ignore[arg-type]
    job = BatchJob(
        functools.partial(_batch_agent, args),
        Path(args.input),
        Path(args.out),
        settings=_settings(args),
        concurrency=args.concurrency,
        workers=args.workers,
        requests_per_minute=args.rpm,
        tokens_per_minute=args.tpm,
        resume=args.resume,
        retry_failed=args.retry_failed,
        status=status,
    )
    if args.engine == "ray":  # the conversations run on a Ray cluster; the rest stays here
        if args.address is None:
            # The cluster Ray starts is this run's alone: on 127.0.0.1, listening nowhere
            # else. Ray reads this when it is imported (next line); left unset, it puts a
            # one-machine cluster on the machine's outward address, open on every interface.
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        from ._ray_job import use_ray

        use_ray(job, address=args.address, actors=args.actors)
    return job.run()  # each worker (or Ray actor) starts and stops its agent's MCP servers


def _batch_agent(args: argparse.Namespace, limiter: RateLimiter | None) -> Agent[str]:
    """The agent of one batch worker (in a worker process, logging is set up there too)."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:
        _configure_logging(args)
    return _agent(args, rate_limiter=limiter, max_retries=args.max_retries)


def _agent_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="gpt-3.5-turbo", help="default: gpt-3.5-turbo")
    parser.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="SPEC",
        help="tools to offer: module, module:name or path/to/file.py[:name] (repeatable), "
        "e.g. agentkit_tools.weather",
    )
    parser.add_argument("--system", help="instructions sent before the chat")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--max-turns", type=int, default=20)
    parser.add_argument("--api-style", choices=["functions", "tools"])
    parser.add_argument(
        "--no-stream",
        action="store_true",
        help="send non-streamed requests (GoAPI's streams report no token usage)",
    )
    parser.add_argument(
        "--base-url",
        help="another OpenAI-compatible server (default: $GOAPI_BASE_URL, else GoAPI); "
        "the key comes from GOAPI_KEY, else 'agentkit keys set'",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="no key, no network: a demo model, and demo data for the weather and search tools",
    )
    _mcp_cli.add_agent_options(parser)


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="agentkit",
        allow_abbrev=False,  # `batch --log` is not an abbreviation of `--log-level`
        description=(
            "Run function-calling agents on GoAPI (or any OpenAI-compatible "
            "chat-completions service)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"agentkit {__version__}")
    parser.add_argument("--log-format", choices=["console", "json"], default="console")
    parser.add_argument(
        "--log-level", choices=["debug", "info", "warning", "error"], default="warning"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="one conversation: print the answer")
    run.add_argument("prompt")
    run.add_argument("--json", action="store_true", help="print messages and usage as JSON")
    run.add_argument("--no-log", action="store_true", help="leave this run out of the log")
    _agent_options(run)
    run.set_defaults(handler=_run)

    chat = commands.add_parser("chat", help="an interactive, streaming chat with memory")
    chat.add_argument("--no-log", action="store_true", help="leave this chat out of the log")
    _agent_options(chat)
    chat.set_defaults(handler=_chat)

    batch = commands.add_parser("batch", help="many prompts from a JSONL file, resumable")
    batch.add_argument("input", help="JSONL: a prompt string, or {id?, prompt | messages}")
    batch.add_argument("--out", required=True, help="results, one JSON line per input")
    batch.add_argument(
        "--concurrency", type=int, default=16, help="conversations in flight, over all workers"
    )
    batch.add_argument(
        "--workers",
        type=int,
        help="processes to run them in (default: the usable cores, at most 8, "
        "one per 16 conversations, one per 100 items)",
    )
    batch.add_argument("--rpm", type=float, help="requests per minute, across all workers")
    batch.add_argument("--tpm", type=float, help="tokens per minute, across all workers")
    batch.add_argument("--max-retries", type=int, default=2, help="per request")
    batch.add_argument("--resume", action="store_true", help="skip items already in --out")
    batch.add_argument(
        "--retry-failed", action="store_true", help="with --resume: run failed items again"
    )
    batch.add_argument(
        "--engine", choices=["local", "ray"], default="local",
        help="where conversations run: this process, or a Ray cluster (extra: ray)",
    )  # fmt: skip
    batch.add_argument("--address", help="with --engine ray: auto or host:port (on a cluster node)")
    batch.add_argument("--actors", type=int, help="with --engine ray: default, the cluster's CPUs")
    batch.add_argument("--log", action="store_true", help="log each item's conversation")
    _agent_options(batch)
    batch.set_defaults(handler=_batch)

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

    _mcp_cli.register(commands)
    from ._clicommands import add_keys_command, add_logs_command

    add_keys_command(commands)
    add_logs_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    _configure_logging(args)
    from ._clienv import command_environment

    try:
        with command_environment(args):
            return handler(args)
    except AgentkitError as error:
        print(f"agentkit: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("agentkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `agentkit models --json | head`: the reader left, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
