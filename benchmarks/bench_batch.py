"""Batch throughput against the simulator with 100 ms latency, at concurrency 1 to 256.

Run: python benchmarks/bench_batch.py [--seconds S] [--latency L]

Each item is one request (a question answered in text), so the bound is `concurrency /
latency` items a second. The simulator runs in its own process; the batch runs through
`agentkit.batch` as a library user would. Printed per concurrency: items, seconds,
throughput, its share of the bound, the peak memory (RSS) growth of this process per
conversation in flight, and how busy the client and the simulator kept a core (CPU seconds
per second: near 100% the process is the bottleneck).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from agentkit import Agent, BatchItem, ChatClient, batch

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="target length of each run")
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SERVER.format(latency=args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    rows = []
    try:
        for concurrency in (1, 16, 64, 256):
            bound = concurrency / args.latency
            count = max(int(bound * args.seconds), concurrency * 2)
            client = ChatClient(api_key="sk-bench", base_url=base_url)
            agent = Agent("gpt-3.5-turbo", client=client)
            items = (BatchItem(str(n), f"Question {n}") for n in range(count))
            before = peak_rss_mb()
            cpu = (cpu_seconds(), cpu_seconds(server.pid))
            started = time.perf_counter()
            failed = sum(not r.ok for r in batch(agent, items, concurrency=concurrency))
            seconds = time.perf_counter() - started
            busy = (cpu_seconds() - cpu[0], cpu_seconds(server.pid) - cpu[1])
            growth = peak_rss_mb() - before
            rate = count / seconds
            loads = (busy[0] / seconds, busy[1] / seconds)
            rows.append((concurrency, count, failed, seconds, rate, rate / bound, growth, loads))
    finally:
        server.kill()
    print(f"latency {args.latency * 1000:.0f} ms per request, one request per item")
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


if __name__ == "__main__":
    main()
