"""Memory of `agentkit batch --engine ray` at several input sizes: is it flat in the input?

Run: python benchmarks/bench_ray_memory.py [--items 2000,20000] [--actors 2]
         [--concurrency 64] [--latency 0.1]

Each size runs in a fresh driver process (so its peak is its own), which starts a Ray
cluster on 127.0.0.1 (no dashboard, usage stats off) and runs `agentkit batch`'s job with
`--engine ray` (bench_batch's `run_ray`: the same job, input file and output file) against
the simulator (bench_batch's, one request an item, in its own process). Printed per size:
the driver's peak RSS, and the largest peak RSS (VmHWM) of the actors that ran the
conversations (Ray's `MapWorker` processes), sampled from /proc every 0.2 s while the job
runs (Linux only). Flat means: ten times the items, about the same peaks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_batch  # the job and the simulator are bench_batch's


class ActorPeaks:
    """The peak RSS of each Ray actor process running agentkit's worker (Linux: /proc)."""

    def __init__(self) -> None:
        self.peaks: dict[int, float] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ActorPeaks:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()

    def _watch(self) -> None:
        while not self.done.wait(0.2):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    if "MapWorker" not in (status.parent / "cmdline").read_text(errors="replace"):
                        continue
                    text = status.read_text()
                except OSError:  # it ended meanwhile
                    continue
                if not self._ours(int(status.parent.name)):
                    continue
                for line in text.splitlines():
                    if line.startswith("VmHWM:"):
                        mib = int(line.split()[1]) / 1024
                        pid = int(status.parent.name)
                        self.peaks[pid] = max(self.peaks.get(pid, 0.0), mib)

    @staticmethod
    def _ours(pid: int) -> bool:
        """Whether `pid` descends from this driver (other Ray clusters may run meanwhile)."""
        while pid not in (0, 1):
            if pid == os.getpid():
                return True
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                return False
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        return False


def one_size(items: int, actors: int, concurrency: int, base_url: str) -> None:
    """In a fresh driver: run `items` items on Ray; print one JSON line of figures."""
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder, "in.jsonl"), Path(folder, "out.jsonl")
        source.write_text("".join(f'"Question {n}"\n' for n in range(items)))
        bench_batch.start_ray(actors)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        with ActorPeaks() as peaks:
            _, failed = bench_batch.run_ray(base_url, source, out, actors, concurrency)
        seconds = time.perf_counter() - started
        driver = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        written = len(out.read_bytes().splitlines())
    print(
        json.dumps(
            {
                "items": items,
                "written": written,
                "failed": failed,
                "seconds": seconds,
                "driver_before_mib": before,
                "driver_peak_mib": driver,
                "actor_peaks_mib": sorted(peaks.peaks.values()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=bench_batch.numbers, default=[2000, 20000])
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=64, help="over all actors")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_size(args.one, args.actors, args.concurrency, args.url)
        return
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", bench_batch.SERVER.format(latency=args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    rows = []
    try:
        for items in args.items:
            command = [sys.executable, __file__, "--one", str(items), "--url", base_url]
            command += ["--actors", str(args.actors), "--concurrency", str(args.concurrency)]
            done = subprocess.run(  # noqa: S603 - this very script, in a fresh driver
                command, capture_output=True, text=True, check=False
            )
            if done.returncode:
                sys.exit(f"the driver for {items} items failed:\n{done.stderr[-3000:]}")
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        server.kill()
    print(
        f"agentkit batch --engine ray: {args.actors} actors, concurrency {args.concurrency} "
        f"over all, latency {args.latency * 1000:.0f} ms, one request an item"
    )
    print(
        f"{'items':>7} {'written':>7} {'failed':>6} {'seconds':>8} {'driver peak RSS':>16} "
        f"{'(at start)':>10} {'actor peak RSS (largest)':>25}"
    )
    for row in rows:
        actors = row["actor_peaks_mib"]
        largest = f"{max(actors):.0f} MiB" if actors else "-"
        print(
            f"{row['items']:>7} {row['written']:>7} {row['failed']:>6} {row['seconds']:>8.1f} "
            f"{row['driver_peak_mib']:>12.0f} MiB {row['driver_before_mib']:>6.0f} MiB "
            f"{largest:>25}"
        )


if __name__ == "__main__":
    main()
