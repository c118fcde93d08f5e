"""Batch throughput against the simulator with 100 ms latency: concurrency, then workers.

Run: python benchmarks/bench_batch.py [--seconds S] [--latency L] [--workers N,...]
         [--concurrency C,...] [--scaling-concurrency C] [--engine local]

Each item is one request (a question answered in text), so the bound is `concurrency /
latency` items a second. The simulator runs in its own process.

Part 1 (one process): the batch runs through `agentkit.batch` as a library user would, at
each `--concurrency`. Printed: items, seconds, throughput, its share of the bound, the peak
memory (RSS) growth of this process per conversation in flight, and how busy the client and
the simulator kept a core (CPU seconds per second: near 100% the process is the bottleneck).

Part 2 (scaling): `agentkit batch`'s own job (input file, output file, progress, and with
`--workers` above one, worker processes) at `--scaling-concurrency` over all workers, for
each `--workers`. The rate is measured between the 10th and the 90th percent of results, so
the workers' start-up (a fresh interpreter each) is left out; it is printed apart. Printed
per run: items/s, its share of the bound, the scaling over one worker, and the CPU share
of the client processes (together) and of the simulator.

On a shared or busy machine absolute figures move a lot; compare the rows of one run.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentkit import Agent, BatchItem, ChatClient, RateLimiter, batch

SERVER = """
import sys
from agentkit.testing import LoopbackServer, Reply
with LoopbackServer(lambda body: Reply.text("It is sunny."), latency={latency}) as server:
    print(server.base_url, flush=True)
    sys.stdin.read()
"""


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) of this process, or of process `pid` (Linux: /proc)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU time of the child processes that ended (the batch's workers, once joined)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_agent(base_url: str, limiter: RateLimiter | None) -> Agent[str]:
    """The agent of each worker (module level: it is sent to the worker processes)."""
    client = ChatClient(api_key="sk-bench", base_url=base_url, rate_limiter=limiter)
    return Agent("gpt-3.5-turbo", client=client)


def part_one(base_url: str, server_pid: int, args: argparse.Namespace) -> None:
    rows = []
    for concurrency in args.concurrency:
        bound = concurrency / args.latency
        count = max(int(bound * args.seconds), concurrency * 2)
        agent = bench_agent(base_url, None)
        items = (BatchItem(str(n), f"Question {n}") for n in range(count))
        before = peak_rss_mb()
        cpu = (cpu_seconds(), cpu_seconds(server_pid))
        started = time.perf_counter()
        failed = sum(not r.ok for r in batch(agent, items, concurrency=concurrency))
        seconds = time.perf_counter() - started
        busy = (cpu_seconds() - cpu[0], cpu_seconds(server_pid) - cpu[1])
        growth = peak_rss_mb() - before
        rate = count / seconds
        loads = (busy[0] / seconds, busy[1] / seconds)
        rows.append((concurrency, count, failed, seconds, rate, rate / bound, growth, loads))
    print(
        f"one process (agentkit.batch); latency {args.latency * 1000:.0f} ms, one request an item"
    )
    print(
        f"{'conc':>5} {'items':>6} {'failed':>6} {'seconds':>8} {'items/s':>9} "
        f"{'of bound':>9} {'RSS growth / in flight':>23} {'CPU: client, simulator':>23}"
    )
    for concurrency, count, failed, seconds, rate, share, growth, loads in rows:
        print(
            f"{concurrency:>5} {count:>6} {failed:>6} {seconds:>8.2f} {rate:>9.1f} "
            f"{share:>8.1%} {growth * 1024 / concurrency:>19.0f} KiB"
            f" {loads[0]:>14.0%} {loads[1]:>8.0%}"
        )


def run_local(
    base_url: str, source: Path, out: Path, workers: int, concurrency: int
) -> tuple[list[float], int]:
    """`agentkit batch`'s job on this machine; the times results were written, and failures."""
    import io

    from agentkit._batchjob import BatchJob

    job = BatchJob(
        functools.partial(bench_agent, base_url),
        source,
        out,
        settings={},
        concurrency=concurrency,
        workers=workers,
        status=io.StringIO(),
    )
    times: list[float] = []
    write = job.write

    def timed(file: Any, result: Any) -> None:
        write(file, result)
        times.append(time.perf_counter())

    job.write = timed  # type: ignore[method-assign]
    job.run()
    return times, job.progress.failed


#: The engines part 2 can run; each takes (base URL, input, output, workers, concurrency).
ENGINES: dict[str, Callable[..., tuple[list[float], int]]] = {"local": run_local}


def part_two(base_url: str, server_pid: int, args: argparse.Namespace) -> None:
    concurrency = args.scaling_concurrency
    bound = concurrency / args.latency
    count = max(int(bound * args.seconds), concurrency * 4)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder, "in.jsonl")
        source.write_text("".join(f'"Question {n}"\n' for n in range(count)))
        for workers in args.workers:
            out = Path(folder, f"out-{workers}.jsonl")
            cpu = (cpu_seconds() + children_cpu_seconds(), cpu_seconds(server_pid))
            started = time.perf_counter()
            times, failed = ENGINES[args.engine](base_url, source, out, workers, concurrency)
            seconds = time.perf_counter() - started
            busy = (
                cpu_seconds() + children_cpu_seconds() - cpu[0],
                cpu_seconds(server_pid) - cpu[1],
            )
            low, high = times[len(times) // 10], times[len(times) * 9 // 10]
            rate = (len(times) * 8 // 10) / (high - low)
            rows.append((workers, count, failed, times[0] - started, rate, busy, seconds))
    print()
    print(
        f"agentkit batch's job, engine {args.engine}: concurrency {concurrency} over all "
        f"workers, {count} items, bound {bound:.0f}/s; {os.cpu_count()} cores"
    )
    print(
        f"{'workers':>7} {'failed':>6} {'first result':>12} {'items/s':>9} {'of bound':>9} "
        f"{'x 1 worker':>10} {'CPU: clients, simulator':>24}"
    )
    single = rows[0][4] if rows and rows[0][0] == 1 else None
    for workers, _count, failed, first, rate, busy, seconds in rows:
        scaling = f"{rate / single:.2f}" if single else "-"
        print(
            f"{workers:>7} {failed:>6} {first:>11.1f}s {rate:>9.1f} {rate / bound:>8.1%} "
            f"{scaling:>10} {busy[0] / seconds:>15.0%} {busy[1] / seconds:>8.0%}"
        )


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="target length of each run")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=numbers, default=[1, 16, 64, 256])
    parser.add_argument("--workers", type=numbers, default=[1, 2], help="part 2; '' skips it")
    parser.add_argument("--scaling-concurrency", type=int, default=256)
    parser.add_argument("--engine", choices=sorted(ENGINES), default="local")
    args = parser.parse_args()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SERVER.format(latency=args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    try:
        if args.concurrency:
            part_one(base_url, server.pid, args)
        if args.workers:
            part_two(base_url, server.pid, args)
    finally:
        server.kill()


if __name__ == "__main__":
    main()
