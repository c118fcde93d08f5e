"""The CPU cost of tracing: off (the default), on without an SDK, on with an SDK exporter.

Run: python benchmarks/bench_tracing.py [--conversations N] [--repeats R] [--baseline DIR]

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
  seam existed: `git archive <commit> | tar -x -C DIR`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
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
    started = time.process_time()
    for _ in range(conversations):
        agent.run(QUESTION)
        clear()
    cpu = (time.process_time() - started) / conversations
    print(json.dumps({"cpu": cpu, "agentkit": agentkit.__file__}))


def measure(
    mode: str, base_url: str, conversations: int, path: str | None = None
) -> tuple[float, str]:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = path
    command = [sys.executable, __file__, "--worker", mode, "--url", base_url]
    done = subprocess.run(  # noqa: S603  (this very script, in a fresh interpreter)
        [*command, "--conversations", str(conversations)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    reading = json.loads(done.stdout.strip().splitlines()[-1])
    return float(reading["cpu"]), str(reading["agentkit"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", help="a directory holding another agentkit to compare")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url, args.conversations)
        return

    server = subprocess.Popen(  # noqa: S603  (the simulator, in its own process)
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        modes: list[tuple[str, str | None]] = [(mode, None) for mode in MODES]
        if args.baseline:
            modes.insert(0, ("baseline", os.path.abspath(args.baseline)))
        cpu: dict[str, list[float]] = {name: [] for name, _ in modes}
        where: dict[str, str] = {}
        for _ in range(args.repeats):  # alternating, so drifts of the machine hit all alike
            for name, path in modes:
                seconds, where[name] = measure(
                    "off" if name == "baseline" else name, base_url, args.conversations, path
                )
                cpu[name].append(seconds)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait()

    off, off_min = statistics.median(cpu["off"]), min(cpu["off"])
    print(
        f"CPU per conversation ({args.repeats} x {args.conversations} conversations, sync run, "
        "streamed, 1 tool call):"
    )
    print(f"  {'mode':<14} {'median':>8}  {'vs off':>6}   {'best':>8}  {'vs off':>6}")
    for name, _ in modes:
        median, best = statistics.median(cpu[name]), min(cpu[name])
        print(
            f"  {name:<14} {median * 1e6:5.0f} µs  {median / off:6.3f}"
            f"   {best * 1e6:5.0f} µs  {best / off_min:6.3f}"
        )
    if args.baseline:
        print(f"  (baseline agentkit: {where['baseline']})")


if __name__ == "__main__":
    main()
