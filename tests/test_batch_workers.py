"""`agentkit batch --workers N`: N processes, one input, one output, one rate budget, kills."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentkit import Agent, BatchItem, BatchResult, UsageError, abatch, batch
from agentkit.cli import main
from agentkit.testing import LoopbackServer, Reply

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("GOAPI_KEY", "sk-test")


def echo(body: dict) -> Reply:
    return Reply.text(f"answer to {body['messages'][-1]['content']}")


def prompts(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": n, "prompt": f"Q{n}"}) + "\n" for n in range(count)))
    return path


def ids_in(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in out.read_text().splitlines()]


def children(pid: int) -> list[int]:
    """The worker processes of `pid` (Linux: /proc)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(int(child))
        except FileNotFoundError:
            continue
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for_lines(out: Path, count: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{out} did not reach {count} lines")


def command(source: Path, out: Path, server: LoopbackServer, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "agentkit.cli", "batch", str(source), "--out", str(out)),
        *("--base-url", server.base_url, "--workers", "2", "--concurrency", "8", *extra),
    ]


def test_workers_run_every_item_once_within_one_rate_budget(tmp_path, key):
    """Two workers write every result once into one output, and at --rpm 1200 together obey
    one limiter's bound in every window: `rpm * (window + burst) / 60 + 1`, not twice that."""
    arrivals: list[float] = []
    lock = threading.Lock()

    def timed(body: dict) -> Reply:
        with lock:
            arrivals.append(time.monotonic())
        return echo(body)

    source, out = prompts(tmp_path, 100), tmp_path / "out.jsonl"
    with LoopbackServer(timed) as server:
        assert main(["batch", str(source), "--out", str(out), "--base-url", server.base_url,
                     "--workers", "2", "--concurrency", "16", "--rpm", "1200"]) == 0  # fmt: skip
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(int(r["id"]) for r in records) == list(range(100))
    assert all(r["ok"] and r["output"] == f"answer to Q{r['id']}" for r in records)
    arrivals.sort()
    for window in (2.0, 3.0):  # (two workers with a limiter each would send twice as many)
        most = max(
            sum(1 for later in arrivals[i:] if later < start + window)
            for i, start in enumerate(arrivals)
        )
        assert most <= 1200 * (window + 1.0) / 60 + 1 + 5  # 5: arrivals bunched by a busy CPU
    assert arrivals[-1] - arrivals[0] >= (100 - 41) / 20 * 0.9


def test_a_killed_worker_loses_nothing_and_duplicates_nothing(tmp_path, key):
    source, out = prompts(tmp_path, 300), tmp_path / "out.jsonl"
    with LoopbackServer(echo, latency=0.05) as server:
        with subprocess.Popen(
            command(source, out, server), stderr=subprocess.PIPE, text=True
        ) as process:
            wait_for_lines(out, 30, process)
            victim = children(process.pid)[0]
            os.kill(victim, signal.SIGKILL)
            _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "agentkit.batch.worker_died" in err
        assert "exit_status=-9" in err
    assert sorted(int(i) for i in ids_in(out)) == list(range(300))


def test_a_batch_killed_outright_resumes_to_exactly_one_line_per_input(tmp_path, key):
    """SIGKILL to the parent: the workers see their pipe close and exit; --resume finishes,
    every input ends with exactly one line."""
    source, out = prompts(tmp_path, 300), tmp_path / "out.jsonl"
    with LoopbackServer(echo, latency=0.05) as server:
        with subprocess.Popen(command(source, out, server), stderr=subprocess.DEVNULL) as process:
            wait_for_lines(out, 30, process)
            workers = children(process.pid)
            process.kill()
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in workers)
        assert len(ids_in(out)) < 300
        done = subprocess.run(
            command(source, out, server, "--resume"), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
    assert sorted(int(i) for i in ids_in(out)) == list(range(300))


def make_agent(base_url: str) -> Agent:
    """Each worker process builds its own agent (module level: it is sent to them)."""
    return Agent("gpt-3.5-turbo", api_key="sk-test", base_url=base_url)


def test_the_library_batch_runs_in_worker_processes_too():
    items = [BatchItem(str(n), f"Q{n}") for n in range(60)]
    with LoopbackServer(echo, latency=0.01) as server:
        factory = functools.partial(make_agent, server.base_url)
        results = list(batch(factory, items, workers=2, concurrency=8, requests_per_minute=60_000))
    assert sorted(int(r.id) for r in results) == list(range(60))
    assert all(r.ok and r.output == f"answer to Q{r.id}" for r in results)
    assert all(r.usage.requests == 1 for r in results)


def test_workers_need_a_function_that_builds_the_agent():
    agent = Agent("gpt-3.5-turbo", api_key="sk-test")
    with pytest.raises(UsageError, match="pass a function that builds the agent"):
        batch(agent, [], workers=2)


def broken_agent() -> Agent:
    raise ImportError("No module named 'my_tools'")


def test_a_worker_that_cannot_build_its_agent_stops_the_run_with_the_reason():
    with pytest.raises(UsageError, match="could not build its agent: ImportError: No module"):
        list(batch(broken_agent, [BatchItem("1", "Q")], workers=2))


async def numbered(count: int):
    for n in range(count):
        await asyncio.sleep(0)
        yield BatchItem(str(n), f"Q{n}")


def test_abatch_runs_in_worker_processes_and_leaves_its_event_loop_free():
    ticks = 0

    async def main(base_url: str) -> list[BatchResult]:
        nonlocal ticks
        stop_ticking = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not stop_ticking.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        factory = functools.partial(make_agent, base_url)
        results = [
            result
            async for result in abatch(
                factory, numbered(60), workers=2, concurrency=8, requests_per_minute=60_000
            )
        ]
        stop_ticking.set()
        await ticker
        return results

    with LoopbackServer(echo, latency=0.01) as server:
        started = time.monotonic()
        results = asyncio.run(main(server.base_url))
        seconds = time.monotonic() - started
    assert sorted(int(r.id) for r in results) == list(range(60))
    assert all(r.ok and r.output == f"answer to Q{r.id}" for r in results)
    # The loop went on ticking while the workers started and ran (a blocked loop: ~1 tick).
    assert ticks >= min(20, seconds * 100 / 4)


def test_abatch_with_workers_stops_at_once_and_ends_them():
    async def main(base_url: str) -> tuple[list[BatchResult], int]:
        stop = asyncio.Event()
        results = []
        factory = functools.partial(make_agent, base_url)
        async for result in abatch(factory, numbered(400), workers=2, concurrency=8, stop=stop):
            results.append(result)
            if len(results) == 5:
                stop.set()
        return results, len(multiprocessing.active_children())

    with LoopbackServer(echo, latency=0.2) as server:
        results, left = asyncio.run(main(server.base_url))
    ids = [r.id for r in results]
    assert 5 <= len(ids) < 400
    assert len(set(ids)) == len(ids)
    assert left == 0


def test_leaving_abatch_early_ends_its_worker_processes():
    async def main(base_url: str) -> list[str]:
        factory = functools.partial(make_agent, base_url)
        taken = []
        async with contextlib.aclosing(
            abatch(factory, [BatchItem(str(n), f"Q{n}") for n in range(400)], workers=2)
        ) as results:
            async for result in results:
                taken.append(result.id)
                if len(taken) == 3:
                    break
        return taken

    with LoopbackServer(echo, latency=0.05) as server:
        taken = asyncio.run(main(server.base_url))
    assert len(taken) == 3
    assert multiprocessing.active_children() == []


def test_abatch_checks_its_arguments_before_starting_workers():
    async def first(**arguments: Any) -> None:
        async for _ in abatch(items=[BatchItem("1", "Q")], **arguments):
            pass

    agent = Agent("gpt-3.5-turbo", api_key="sk-test")
    with pytest.raises(UsageError, match="pass a function that builds the agent"):
        asyncio.run(first(agent=agent, workers=2))
    with pytest.raises(UsageError, match="give the agent's ChatClient a rate_limiter"):
        asyncio.run(first(agent=agent, requests_per_minute=60))
    with pytest.raises(UsageError, match="could not build its agent: ImportError: No module"):
        asyncio.run(first(agent=broken_agent, workers=2))
