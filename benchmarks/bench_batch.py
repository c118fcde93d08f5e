"""Batch throughput against the simulator with 100 ms latency: concurrency, then workers.

Run: python benchmarks/bench_batch.py [--seconds S] [--latency L] [--workers N,...]
         [--concurrency C,...] [--scaling-concurrency C] [--engine local|ray] [--resume-lines N]
         [--memory-items N,...]

The default run (about 4 minutes on two cores) prints every figure issue 13's goals are
about, and a last block that sets each against its goal: c=64 on one worker (>= 90 % of
the bound), c=256 on all cores (>= 90 % of min(bound, N x one worker's saturated rate)),
the scaling from 1 to N workers (>= 0.85 x N), the simulator's CPU, and the peak memory per
input size. The simulator shares the machine's cores with the client: read the figures with
its CPU share in mind (on two cores, a simulator at 30 % of a core leaves the client 1.7).

Each item is one request (a question answered in text), so the bound is `concurrency /
latency` items a second. The simulator runs in its own process.

Part 1 (one process): the batch runs through `agentkit.batch` as a library user would, at
each `--concurrency`, each in a new agent (new pools). Printed: items, the whole run's rate,
the time to the first result, the throughput between the 10th and the 90th percent of
results (as in part 2: the process's first-run costs are left out, such as loading the
`tokens` extra's tokenizer, about 0.35 s of the first conversation, the event loop held) and
its share of the bound, the peak memory (RSS) growth of this process per conversation in
flight, and how busy the client and the simulator kept a core (CPU seconds per second: near
100% the process is the bottleneck).

Part 2 (scaling): `agentkit batch`'s own job (input file, output file, progress, and with
`--workers` above one, worker processes) at `--scaling-concurrency` over all workers, for
each `--workers`. The rate is measured between the 10th and the 90th percent of results, so
the workers' start-up (a fresh interpreter each) is left out; it is printed apart. Printed
per run: items/s, its share of the bound, the scaling over one worker, and the CPU share
of the client processes (together) and of the simulator.

`--engine ray` runs the same job on a Ray cluster it starts on this machine (127.0.0.1
only; not counted): `--workers` is then the number of actors, which share the concurrency.
The client CPU counts every process of the run (driver, raylet, actors), start-ups included,
and is also printed per item, with the growth of the driver's peak memory.

Part 3 (`--memory-items`): peak memory (RSS) against the input size. For each size a fresh
process runs `agentkit batch`'s job over that many items with all workers (the largest of
`--workers`), at `--scaling-concurrency`; printed: the parent's peak RSS and the largest
worker's. Flat in the input size is the goal.

Part 4 (`--resume-lines N`): what `--resume` keeps in memory per finished id, scanning an
output of N results.

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
import threading
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


def bench_agent(base_url: str, limiter: RateLimiter | None) -> Agent[str]:
    """The agent of each worker (module level: it is sent to the worker processes)."""
    client = ChatClient(api_key="sk-bench", base_url=base_url, rate_limiter=limiter)
    return Agent("gpt-3.5-turbo", client=client)


#: Figures the last block sets against issue 13's goals, filled in by the parts as they run.
GOALS: dict[str, Any] = {}


def cores() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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
        times, failed = [], 0
        for result in batch(agent, items, concurrency=concurrency):
            times.append(time.perf_counter())
            failed += not result.ok
        seconds = time.perf_counter() - started
        busy = (cpu_seconds() - cpu[0], cpu_seconds(server_pid) - cpu[1])
        growth = peak_rss_mb() - before
        rate = count / seconds
        # As in part two: the rate between the 10th and the 90th percent of results, with
        # the process's first-run costs (its first pools, the tokenizer's load) left out.
        low, high = times[len(times) // 10], times[len(times) * 9 // 10]
        steady = (len(times) * 8 // 10) / (high - low)
        loads = (busy[0] / seconds, busy[1] / seconds)
        first = times[0] - started
        rows.append((concurrency, count, failed, rate, first, steady, growth, loads))
        GOALS[f"one worker c={concurrency}"] = (steady, steady / bound, loads, rate / bound)
    print(
        f"one process (agentkit.batch); latency {args.latency * 1000:.0f} ms, one request an item"
    )
    print(
        f"{'conc':>5} {'items':>6} {'failed':>6} {'whole run':>10} {'first result':>12} "
        f"{'items/s':>9} {'of bound':>9} {'RSS growth / in flight':>23} "
        f"{'CPU: client, simulator':>23}"
    )
    for concurrency, count, failed, rate, first, steady, growth, loads in rows:
        print(
            f"{concurrency:>5} {count:>6} {failed:>6} {rate:>8.1f}/s {first:>11.2f}s "
            f"{steady:>9.1f} {steady / (concurrency / args.latency):>8.1%}"
            f" {growth * 1024 / concurrency:>19.0f} KiB {loads[0]:>14.0%} {loads[1]:>8.0%}"
        )


def run_local(
    base_url: str,
    source: Path,
    out: Path,
    workers: int,
    concurrency: int,
    prepare: Callable[[Any], None] | None = None,
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
    if prepare is not None:
        prepare(job)
    times: list[float] = []
    write = job.write

    def timed(file: Any, result: Any) -> None:
        write(file, result)
        times.append(time.perf_counter())

    job.write = timed  # type: ignore[method-assign]
    job.run()
    return times, job.progress.failed


def start_ray(cpus: int) -> None:
    """A Ray cluster of `cpus` CPUs on this machine, on 127.0.0.1 only, for `--engine ray`."""
    # Ray reads these when it is imported, not when the cluster starts: set after the import,
    # 127.0.0.1 becomes the machine's outward address and the servers listen on all of them.
    os.environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")
    import ray

    ray.init(
        num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False
    )


def run_ray(
    base_url: str, source: Path, out: Path, workers: int, concurrency: int
) -> tuple[list[float], int]:
    """The same job with `--engine ray`: `workers` actors share `concurrency`."""
    from agentkit._ray_job import use_ray

    def on_ray(job: Any) -> None:
        use_ray(job, address=None, actors=workers)

    return run_local(base_url, source, out, 1, max(concurrency // workers, 1), on_ray)


class TreeCpu:
    """CPU time of this process and all its descendants (Ray's raylet and actors included)
    but the simulator, from `start()` to `stop()`. Linux: /proc.

    Processes come and go during a run, and some parents (Ray's raylet) do not collect their
    children's times, so each process is sampled every 0.2 s and its last figure kept: a
    process that ends loses at most its last 0.2 s.
    """

    def __init__(self, exclude: int) -> None:
        self.exclude = exclude
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self.first = self._sample()
        self.last = dict(self.first)
        self.thread.start()

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        self.last.update(self._sample())
        return sum(seconds - self.first.get(pid, 0.0) for pid, seconds in self.last.items())

    def _watch(self) -> None:
        while not self.done.wait(0.2):
            self.last.update(self._sample())

    def _sample(self) -> dict[int, float]:
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            pid = int(stat.parent.name)
            parents[pid] = int(fields[1])
            times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        ours = {}
        for pid, seconds in times.items():
            ancestor = pid
            while ancestor not in (os.getpid(), self.exclude, 0, 1) and ancestor in parents:
                ancestor = parents[ancestor]
            if ancestor == os.getpid():
                ours[pid] = seconds
        return ours


#: The engines part 2 can run; each takes (base URL, input, output, workers, concurrency).
ENGINES: dict[str, Callable[..., tuple[list[float], int]]] = {"local": run_local, "ray": run_ray}


def part_two(base_url: str, server_pid: int, args: argparse.Namespace) -> None:
    concurrency = args.scaling_concurrency
    bound = concurrency / args.latency
    count = max(int(bound * args.seconds), concurrency * 4)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder, "in.jsonl")
        source.write_text("".join(f'"Question {n}"\n' for n in range(count)))
        if args.engine == "ray":
            start_ray(max(args.workers))  # the cluster's start is not part of a run
        for run, workers in enumerate(args.workers):
            out = Path(folder, f"out-{run}.jsonl")  # a --workers list may repeat a count
            tree = TreeCpu(exclude=server_pid)
            tree.start()
            simulator = cpu_seconds(server_pid)
            rss = peak_rss_mb()
            started = time.perf_counter()
            times, failed = ENGINES[args.engine](base_url, source, out, workers, concurrency)
            seconds = time.perf_counter() - started
            busy = (tree.stop(), cpu_seconds(server_pid) - simulator)
            low, high = times[len(times) // 10], times[len(times) * 9 // 10]
            rate = (len(times) * 8 // 10) / (high - low)
            growth = peak_rss_mb() - rss
            rows.append((workers, count, failed, times[0] - started, rate, busy, seconds, growth))
    print()
    print(
        f"agentkit batch's job, engine {args.engine}: concurrency {concurrency} over all "
        f"workers, {count} items, bound {bound:.0f}/s; {os.cpu_count()} cores"
    )
    print(
        f"{'workers':>7} {'failed':>6} {'first result':>12} {'items/s':>9} {'of bound':>9} "
        f"{'x 1 worker':>10} {'CPU: clients, simulator':>24} {'client CPU/item':>15} "
        f"{'driver RSS growth':>17}"
    )
    single = rows[0][4] if rows and rows[0][0] == 1 else None
    GOALS["scaling"] = (concurrency, bound, single, rows)
    for workers, count, failed, first, rate, busy, seconds, growth in rows:
        scaling = f"{rate / single:.2f}" if single else "-"
        print(
            f"{workers:>7} {failed:>6} {first:>11.1f}s {rate:>9.1f} {rate / bound:>8.1%} "
            f"{scaling:>10} {busy[0] / seconds:>15.0%} {busy[1] / seconds:>8.0%}"
            f" {busy[0] / count * 1000:>12.2f} ms {growth:>13.1f} MiB"
        )


MEMORY_CHILD = """
import functools, io, resource, sys
sys.path.insert(0, {here!r})
from pathlib import Path
from bench_batch import bench_agent
from agentkit._batchjob import BatchJob

job = BatchJob(functools.partial(bench_agent, {base_url!r}), Path({source!r}), Path({out!r}),
               settings={{}}, concurrency={concurrency}, workers={workers}, status=io.StringIO())
status = job.run()
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if {workers} > 1 else 0
print(status, job.progress.done, own, workers)
"""


def part_memory(base_url: str, args: argparse.Namespace) -> None:
    """Peak RSS of a whole `agentkit batch` job (a fresh process each) per input size."""
    workers = max(args.workers or [1])
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for size in args.memory_items:
            source, out = Path(folder, f"in-{size}.jsonl"), Path(folder, f"out-{size}.jsonl")
            source.write_text("".join(f'"Question {n}"\n' for n in range(size)))
            code = MEMORY_CHILD.format(
                here=str(Path(__file__).resolve().parent),
                base_url=base_url,
                source=str(source),
                out=str(out),
                concurrency=args.scaling_concurrency,
                workers=workers,
            )
            started = time.perf_counter()
            printed = subprocess.run(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()
            seconds = time.perf_counter() - started
            status, done, own, largest = (int(value) for value in printed[-4:])
            rows.append((size, status, done, own / 1024, largest / 1024, seconds))
    GOALS["memory"] = (workers, rows)
    print()
    print(
        f"peak memory of agentkit batch's job by input size: {workers} worker(s), "
        f"concurrency {args.scaling_concurrency}, a fresh process each"
    )
    print(f"{'items':>8} {'done':>8} {'parent peak RSS':>16} {'largest worker':>15} {'seconds':>8}")
    for size, _, done, own, largest, seconds in rows:
        worker = f"{largest:>11.1f} MiB" if workers > 1 else f"{'-':>15}"
        print(f"{size:>8} {done:>8} {own:>12.1f} MiB {worker} {seconds:>8.1f}")


def goals(args: argparse.Namespace) -> None:
    """Each of issue 13's throughput and memory goals, with the figure measured for it."""
    print()
    print(
        f"goals (issue 13), latency {args.latency * 1000:.0f} ms; {cores()} cores shared with the"
    )
    print("simulator (its CPU is in % of one core; the client's work is what is left):")
    one = GOALS.get("one worker c=64")
    if one is not None:
        rate, share, (client, simulator), whole = one
        print(
            f"  c=64, one worker: {rate:.0f} items/s = {share:.1%} of the bound "
            f"{64 / args.latency:.0f}/s"
            f" (goal >= 90%: {'met' if share >= 0.9 else 'NOT met'}; the whole run, first"
            f" result included: {whole:.1%}); CPU client {client:.0%}, simulator {simulator:.0%}"
        )
    scaling = GOALS.get("scaling")
    if scaling is not None and scaling[2]:
        concurrency, bound, single, rows = scaling
        workers, _, _, _, rate, busy, seconds, _ = max(rows, key=lambda row: row[0])
        drive = workers * single
        target = min(bound, drive)
        print(
            f"  c={concurrency}, {workers} workers: {rate:.0f} items/s = {rate / target:.1%} of "
            f"min(bound {bound:.0f}/s, {workers} x one worker's {single:.0f}/s = {drive:.0f}/s)"
            f" (goal >= 90%: {'met' if rate / target >= 0.9 else 'NOT met'})"
        )
        print(
            f"  scaling 1 -> {workers} workers: {rate / single:.2f}x "
            f"(goal >= {0.85 * workers:.2f}x:"
            f" {'met' if rate / single >= 0.85 * workers else 'NOT met'}); CPU clients "
            f"{busy[0] / seconds:.0%}, simulator {busy[1] / seconds:.0%}"
        )
    memory = GOALS.get("memory")
    if memory is not None:
        workers, rows = memory
        sizes = ", ".join(f"{size:,}: {own:.0f}" for size, _, _, own, _, _ in rows)
        spread = max(row[3] for row in rows) - min(row[3] for row in rows)
        print(f"  parent's peak RSS ({workers} worker(s)) by items, MiB: {sizes}")
        print(f"    (spread {spread:.1f} MiB; goal: flat in the input size)")
        if workers > 1:
            sizes = ", ".join(f"{size:,}: {big:.0f}" for size, _, _, _, big, _ in rows)
            print(f"  largest worker's peak RSS by items, MiB: {sizes}")


def part_three(lines: int) -> None:
    """What `--resume` keeps of an output of `lines` results (tracemalloc: Python's heap)."""
    import tracemalloc

    from agentkit._batchio import scan_output

    record = (
        '"ok": true, "settings": "abc", "output": "It is sunny in the city today.", '
        '"error": null, "usage": {"requests": 1}, "seconds": 0.1, "messages": []}'
    )
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder, "out.jsonl")
        with out.open("w") as file:
            for n in range(lines):
                file.write(f'{{"id": "item-{n}", {record}\n')
        size = out.stat().st_size
        tracemalloc.start()
        started = time.perf_counter()
        state = scan_output(out, "abc")
        seconds = time.perf_counter() - started
        kept, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert len(state.ok) == lines
    print()
    print(
        f"--resume over {lines:,} results ({size / 1e6:.0f} MB): keeps {kept / lines:.1f} "
        f"bytes an id, {peak / lines:.1f} at the peak, {seconds:.1f} s under tracemalloc"
    )


def numbers(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="target length of each run")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=numbers, default=[1, 16, 64, 256])
    parser.add_argument("--workers", type=numbers, default=[1, cores()], help="part 2; '' skips it")
    parser.add_argument("--scaling-concurrency", type=int, default=256)
    parser.add_argument("--engine", choices=sorted(ENGINES), default="local")
    parser.add_argument(
        "--memory-items",
        type=numbers,
        default=[2_000, 20_000, 100_000],
        help="part 3: input sizes; '' skips it",
    )
    parser.add_argument(
        "--resume-lines", type=int, default=0, help="part 4: scan an output of this many results"
    )
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
        if args.memory_items:
            part_memory(base_url, args)
        if args.resume_lines:
            part_three(args.resume_lines)
        goals(args)
    finally:
        server.kill()


if __name__ == "__main__":
    main()
