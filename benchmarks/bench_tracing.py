"""The CPU cost of tracing: off (the default), on without an SDK, on with an SDK exporter.

Run: python benchmarks/bench_tracing.py [--conversations N] [--repeats R] [--baseline DIR]
         [--instructions]

The conversation is bench_agent's: one question, one `get_current_weather` call, one answer
(two streamed requests, sync `run`), against `LoopbackServer(DemoModel())` in its own
process, so the CPU measured is the client's alone. Each mode runs in a fresh interpreter,
the modes alternating `R` times; the median and the best CPU time per conversation are
printed, with their ratios to tracing off (on a busy machine noise only adds time, so the
best of several runs is the steadier figure).

Modes:
- `off`: no `otel.instrument()`; the seam costs one attribute read per run.
- `api only`: `otel.instrument()` with no SDK installed as provider (the API's no-op spans).
- `sdk + memory`: an SDK `TracerProvider` with a `SimpleSpanProcessor` into an
  `InMemorySpanExporter` (cleared after each conversation): the cost of real spans.
- `baseline` (with `--baseline DIR`): the agentkit found in DIR, e.g. the code before the
  seam existed: `git archive <commit> | tar -x -C DIR`, or this tree without the seam's
  line in `Agent._start` (`--baseline-without-seam` makes that copy itself).

`--instructions` counts instructions instead of CPU time, a measure the machine's load does
not move: each mode runs once under valgrind's callgrind (`apt-get install valgrind`),
whose counters are read around the measured conversations (as in bench_instructions.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

SERVER = """
import sys
from agentkit.testing import DemoModel, LoopbackServer
with LoopbackServer(DemoModel()) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""

QUESTION = "What is the weather like in Boston?"
MODES = ("off", "api only", "sdk + memory")
MARK = "math_gcd"  # callgrind (`--dump-before=math_gcd`) writes its counters when entered
SEAM = "        return config, flow if hooks is None else hooks.observe(self, config, flow)\n"


def mark() -> None:
    """A phase boundary for callgrind; nearly nothing otherwise."""
    math.gcd(4, 6)


def worker(mode: str, base_url: str, conversations: int) -> None:
    """Measure one mode in this interpreter; print the CPU seconds per conversation."""
    import agentkit
    from agentkit import Agent, ChatClient, tool

    @tool
    def get_current_weather(
        location: str, unit: Literal["celsius", "fahrenheit"] = "celsius"
    ) -> str:
        """Get the current weather in a given location.

        Args:
            location: The city and state, e.g. San Francisco, CA
            unit: Temperature unit.
        """
        return json.dumps({"location": location, "temperature": "22", "unit": unit})

    clear: Any = lambda: None  # noqa: E731
    if mode == "api only":
        from agentkit import otel

        otel.instrument()
    elif mode == "sdk + memory":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from agentkit import otel

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        otel.instrument(tracer_provider=provider)
        clear = exporter.clear

    client = ChatClient(api_key="sk-bench", base_url=base_url)
    agent = Agent("gpt-3.5-turbo", tools=[get_current_weather], client=client)
    for _ in range(20):  # warm up: pools, imports, caches
        agent.run(QUESTION)
        clear()
    mark()
    started = time.process_time()
    for _ in range(conversations):
        agent.run(QUESTION)
        clear()
    cpu = (time.process_time() - started) / conversations
    mark()
    print(json.dumps({"cpu": cpu, "agentkit": agentkit.__file__}))


def measure(
    mode: str, base_url: str, conversations: int, path: str | None = None, *, count: bool = False
) -> tuple[float, str]:
    """CPU seconds (or, with `count`, instructions) per conversation; where agentkit was."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = path
    command = [sys.executable, __file__, "--worker", mode, "--url", base_url]
    command += ["--conversations", str(conversations)]
    with tempfile.TemporaryDirectory() as out:
        if count:
            env["PYTHONHASHSEED"] = "0"
            command = [
                "valgrind", "--tool=callgrind", f"--dump-before={MARK}", "--dump-instr=no",
                f"--callgrind-out-file={out}/cg.%p", *command,
            ]  # fmt: skip
        done = subprocess.run(  # noqa: S603  (this very script, in a fresh interpreter)
            command, capture_output=True, text=True, env=env, check=True
        )
        reading = json.loads(done.stdout.strip().splitlines()[-1])
        if not count:
            return float(reading["cpu"]), str(reading["agentkit"])
        dumps = sorted(Path(out).glob("cg.*.*"), key=lambda p: int(p.suffix[1:]))
        measured = re.search(r"^totals: (\d+)", dumps[1].read_text(), re.MULTILINE)
        assert measured is not None, "callgrind wrote no totals"
        return int(measured[1]) / conversations, str(reading["agentkit"])


def without_seam(folder: str) -> str:
    """A copy of this tree's agentkit in `folder` whose runs skip the instrumentation seam."""
    here = Path(__file__).resolve().parent.parent / "agentkit"
    copy = Path(folder, "agentkit")
    shutil.copytree(here, copy, ignore=shutil.ignore_patterns("__pycache__"))
    source = (copy / "_agent.py").read_text()
    if SEAM not in source:
        sys.exit("bench_tracing: Agent._start no longer ends with the seam's line; update SEAM")
    (copy / "_agent.py").write_text(source.replace(SEAM, "        return config, flow\n"))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", help="a directory holding another agentkit to compare")
    parser.add_argument(
        "--baseline-without-seam",
        action="store_true",
        help="the baseline is this tree without the seam's line (a copy made in a temporary "
        "directory)",
    )
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.conversations)
        return

    if args.instructions and shutil.which("valgrind") is None:
        sys.exit("bench_tracing: --instructions needs valgrind (apt-get install valgrind)")
    repeats = 1 if args.instructions else args.repeats  # instruction counts do not wander
    server = subprocess.Popen(  # noqa: S603  (the simulator, in its own process)
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    with tempfile.TemporaryDirectory() as scratch:
        try:
            assert server.stdout is not None
            base_url = server.stdout.readline().strip()
            modes: list[tuple[str, str | None]] = [(mode, None) for mode in MODES]
            if args.baseline_without_seam:
                modes.insert(0, ("baseline", without_seam(scratch)))
            elif args.baseline:
                modes.insert(0, ("baseline", os.path.abspath(args.baseline)))
            cost: dict[str, list[float]] = {name: [] for name, _ in modes}
            where: dict[str, str] = {}
            for _ in range(repeats):  # alternating, so drifts of the machine hit all alike
                for name, path in modes:
                    mode = "off" if name == "baseline" else name
                    figure, where[name] = measure(
                        mode, base_url, args.conversations, path, count=args.instructions
                    )
                    cost[name].append(figure)
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait()

    if args.instructions:
        print(
            f"Instructions per conversation (callgrind, {args.conversations} conversations, "
            "sync run, streamed, 1 tool call):"
        )
        off = cost["off"][0]
        for name, _ in modes:
            count = cost[name][0]
            print(f"  {name:<14} {count:>12,.0f}  {count / off:7.4f}  {count - off:>+9,.0f}")
    else:
        off, off_min = statistics.median(cost["off"]), min(cost["off"])
        print(
            f"CPU per conversation ({repeats} x {args.conversations} conversations, sync run, "
            "streamed, 1 tool call):"
        )
        print(f"  {'mode':<14} {'median':>8}  {'vs off':>6}   {'best':>8}  {'vs off':>6}")
        for name, _ in modes:
            median, best = statistics.median(cost[name]), min(cost[name])
            print(
                f"  {name:<14} {median * 1e6:5.0f} µs  {median / off:6.3f}"
                f"   {best * 1e6:5.0f} µs  {best / off_min:6.3f}"
            )
    if "baseline" in where:
        print(f"  (baseline agentkit: {where['baseline']})")


if __name__ == "__main__":
    main()
