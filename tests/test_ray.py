"""The Ray engine on a real local cluster (127.0.0.1 only) against the loopback simulator.

One cluster serves the whole module (starting one costs seconds); every actor pool is made
anew by each test's dataset. Functions the actors run are pickled by value (see `cluster`),
since the workers cannot import this test module.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray  # the ray extra is part of dev: CI installs it, so this never skips
import ray.cloudpickle
import ray.data

from agentkit import Agent, Backoff, ChatClient, UsageError, tool
from agentkit.cli import main
from agentkit.ray import RESULT_SCHEMA, RateBudget, map_agents
from agentkit.testing import Fault, LoopbackServer, Reply

pytestmark = [
    pytest.mark.timeout(600),
    # Ray warns about its own settings' deprecations at start-up; not ours to fix.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-CPU Ray cluster on 127.0.0.1 for this module; its address, for other drivers.

    conftest.py keeps it there: it sets Ray's environment before Ray is imported.
    """
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        namespace="agentkit-tests",
    )
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


FAST = Backoff(initial=0.01, maximum=0.05, jitter=0)


def agent_at(base_url: str, **options: Any) -> Agent[str]:
    client = ChatClient(api_key="sk-test", base_url=base_url, backoff=FAST, max_retries=2)
    return Agent("gpt-4", client=client, **options)


def prompt_of(body: dict[str, Any]) -> str:
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


class FlakyModel:
    """Answers `answer N`; prompts `Say N` with N % 50 == 7 are refused (400) every time,
    N % 10 == 3 fail once (500) and then succeed. Counts requests per prompt."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply | Fault:
        prompt = prompt_of(body)
        with self.lock:
            self.seen[prompt] += 1
            first = self.seen[prompt] == 1
        number = int(prompt.split()[-1])
        if number % 50 == 7:
            return Fault.json_error(400, "Refused")
        if number % 10 == 3 and first:
            return Fault.server_error(500)
        return Reply.text(f"answer {number}")


def listening_hosts(port: int) -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses something on this machine listens on at TCP `port` (Linux: /proc);
    IPv4 addresses mapped into IPv6 as IPv4 ones."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # /proc writes each 32-bit word in host order (little-endian here).
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                host = ipaddress.ip_address(words)
                mapped = getattr(host, "ipv4_mapped", None)
                hosts.add(mapped or host)
    return hosts


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket tables")
def test_the_cluster_listens_on_loopback_only(cluster):
    """The test cluster is on 127.0.0.1, and its GCS and raylet listen nowhere else."""
    host, _, gcs_port = cluster.rpartition(":")
    assert host == "127.0.0.1"
    (node,) = ray.nodes()  # type: ignore[no-untyped-call]
    assert node["NodeManagerAddress"] == "127.0.0.1"
    for port in (int(gcs_port), node["NodeManagerPort"]):
        hosts = listening_hosts(port)
        assert hosts, port
        assert all(host.is_loopback for host in hosts), hosts


def test_engine_ray_without_address_starts_a_cluster_on_loopback_only(tmp_path):
    """Without --address the command's own cluster is on 127.0.0.1 (a fresh process, without
    the setting conftest.py gives the tests)."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 3)
    script = (
        "import sys; from agentkit.cli import main; status = main(sys.argv[1:]); "
        "import ray; print(status, ray.get_runtime_context().gcs_address)"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    with LoopbackServer(answer) as server:
        argv = ["batch", str(source), "--out", str(out), "--base-url", server.base_url]
        done = subprocess.run(
            [sys.executable, "-c", script, *argv, "--engine", "ray", "--actors", "1"],
            env={**env, "GOAPI_KEY": "sk-test"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    status, address = done.stdout.split()[-2:]
    assert status == "0"
    assert address.startswith("127.0.0.1:")
    assert len(records(out)) == 3


def test_map_agents_runs_500_items_with_faults_one_result_each(cluster):
    """Retried faults end ok, refused items end failed with their status, a row that is no
    prompt is a failed row (not the end of the job): one row per input, none twice."""
    model = FlakyModel()
    with LoopbackServer(model, latency=0.005) as server:
        url = server.base_url
        rows = [{"id": f"item{n}", "prompt": f"Say {n}"} for n in range(500)]
        rows.append({"id": "bad", "prompt": None, "messages": None})
        dataset = ray.data.from_items(rows)
        results = map_agents(dataset, lambda: agent_at(url), actors=2, concurrency=8)
        got = {row["id"]: row for row in results.iter_rows()}
        assert results.schema().names == RESULT_SCHEMA.names
    assert len(got) == 501
    refused = {f"item{n}" for n in range(500) if n % 50 == 7}
    assert {i for i, row in got.items() if not row["ok"]} == refused | {"bad"}
    for number in range(500):
        row = got[f"item{number}"]
        if f"item{number}" in refused:
            assert (row["error_type"], row["status"]) == ("BadRequestError", 400)
            continue
        assert row["output"] == f"answer {number}"
        assert row["requests"] == 1  # one model call, whatever its retries
        assert json.loads(row["messages"])[-1] == {
            "role": "assistant",
            "content": f"answer {number}",
        }
    assert got["bad"]["error_type"] == "UsageError"
    assert "prompt" in got["bad"]["error"]
    assert sum(model.seen.values()) == 500 + 50  # each item once, 50 of them retried once


def crashing_agent(base_url: str, marker: str) -> Agent[str]:
    @tool
    def crash() -> str:
        """Crash the worker, the first time only."""
        if not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)  # the actor dies mid-block, others in flight
        return "survived"

    return agent_at(base_url, tools=[crash])


def crash_on_13(body: dict[str, Any]) -> Reply:
    prompt = prompt_of(body)
    if prompt == "Say 13" and body["messages"][-1]["role"] == "user":
        return Reply.call("crash", {})
    return Reply.text(f"answer {prompt.split()[-1]}")


def test_an_actor_killed_mid_block_loses_nothing_and_duplicates_nothing(cluster, tmp_path):
    """SIGKILL one actor while it has conversations in flight: Ray restarts it and runs
    the block again; every item has exactly one result, all answered."""
    marker = str(tmp_path / "crashed")
    with LoopbackServer(crash_on_13, latency=0.05) as server:
        url = server.base_url
        dataset = ray.data.from_items([{"id": str(n), "prompt": f"Say {n}"} for n in range(64)])
        results = map_agents(
            dataset, lambda: crashing_agent(url, marker), actors=2, concurrency=4, batch_size=16
        )
        ids = [row["id"] for row in results.iter_rows() if row["ok"]]
        sent = len(server.requests)
    assert Path(marker).exists(), "the actor never crashed: the test proved nothing"
    assert sorted(ids, key=int) == [str(n) for n in range(64)]
    assert sent > 64 + 1  # the crashed block's items were sent again


def test_the_shared_budget_holds_across_actors(cluster):
    """Two actors share 600 requests a minute: in any window of w seconds, at most
    600 * (w + burst) / 60 + 1 requests reach the server."""
    arrivals: list[float] = []

    def model(body: dict[str, Any]) -> Reply:
        arrivals.append(time.monotonic())
        return Reply.text("ok")

    budget = RateBudget(requests_per_minute=600, burst=0.5, name="test-budget")
    with LoopbackServer(model) as server:
        url = server.base_url
        dataset = ray.data.from_items([{"id": str(n), "prompt": "Hi"} for n in range(50)])
        results = map_agents(
            dataset, lambda: agent_at(url), actors=2, concurrency=8, batch_size=5, budget=budget
        )
        assert all(row["ok"] for row in results.iter_rows())
    assert len(arrivals) == 50
    arrivals.sort()
    for first, start in enumerate(arrivals):
        for last in range(first, len(arrivals)):
            window = arrivals[last] - start
            assert last - first + 1 <= 10 * (window + 0.5) + 1 + 1e-9, (first, last, window)
    assert arrivals[-1] - arrivals[0] >= (50 - 1 - 10 * 0.5) / 10 - 0.05


def test_a_budget_name_holds_one_set_of_limits(cluster):
    """A second budget of the same name must keep the same limits, or say so (the actor
    lives as long as a budget object or a worker holds it)."""
    first = RateBudget(requests_per_minute=60, name="test-named")
    second = RateBudget(requests_per_minute=60, name="test-named")  # the same: shared
    assert second._actor._actor_id == first._actor._actor_id
    with pytest.raises(UsageError, match="already runs with other limits"):
        RateBudget(requests_per_minute=120, name="test-named")
    with pytest.raises(UsageError, match="needs requests_per_minute"):
        RateBudget()


def test_bad_pool_settings_are_usage_errors(cluster):
    dataset = ray.data.from_items([{"prompt": "Hi"}])
    with pytest.raises(UsageError, match="actors must be at least 1"):
        map_agents(dataset, lambda: agent_at("http://127.0.0.1:9/v1"), actors=0)
    with pytest.raises(UsageError, match="concurrency must be at least 1"):
        map_agents(dataset, lambda: agent_at("http://127.0.0.1:9/v1"), concurrency=0)


# ------------------------------------------------------- rows in and out (no cluster)


def test_rows_take_the_shapes_of_batch_lines():
    """A prompt, messages before a prompt, or messages ending with the user's; Arrow's
    nulls (a field another row had) are dropped; no id: a stable hash of the content."""
    from agentkit import BatchItem, SystemMessage, UserMessage
    from agentkit.ray import _row_item

    plain = _row_item({"id": 7, "prompt": "Hi", "messages": None})
    assert plain == BatchItem("7", "Hi")
    chat = _row_item(
        {
            "messages": [
                {"role": "system", "content": "Be brief.", "name": None},
                {"role": "user", "content": "2 + 2?", "name": None},
            ],
            "prompt": None,
        }
    )
    assert isinstance(chat, BatchItem)
    assert chat.prompt == UserMessage("2 + 2?")
    assert chat.history == (SystemMessage("Be brief."),)
    again = _row_item({"prompt": None, "messages": [{"role": "user", "content": "2 + 2?"}]})
    assert isinstance(again, BatchItem)
    assert len(chat.id) == 16
    assert chat.id == _row_item(
        {"messages": [{"role": "system", "content": "Be brief.", "name": None},
                      {"role": "user", "content": "2 + 2?", "name": None}], "prompt": None}
    ).id  # fmt: skip
    assert again.id != chat.id


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"id": "a"}, "needs a 'prompt'"),
        ({"id": "a", "prompt": 3}, "'prompt' must be text"),
        ({"id": "a", "messages": "hi"}, "'messages' must be a list"),
        ({"id": "a", "messages": [{"role": "human", "content": "x"}]}, "human"),
        ({"id": "a", "messages": [{"role": "system", "content": "x"}]}, "ending with a user"),
    ],
)
def test_a_row_that_is_no_prompt_is_a_failed_result(row, message):
    from agentkit import BatchResult
    from agentkit.ray import _row_item

    result = _row_item(row)
    assert isinstance(result, BatchResult)
    assert result.id == "a"
    assert isinstance(result.error, UsageError)
    assert message in str(result.error)


def test_result_rows_fit_the_schema():
    """Text stays text, structured output is JSON, errors keep their type and status."""
    import pyarrow as pa
    from pydantic import BaseModel

    from agentkit import AssistantMessage, BadRequestError, BatchResult, Usage, UserMessage
    from agentkit.ray import _row

    class Answer(BaseModel):
        value: int

    chat = (UserMessage("6 * 7?"), AssistantMessage("42"))
    rows = [
        _row(BatchResult("t", "42", usage=Usage(requests=1), messages=chat, seconds=0.5)),
        _row(BatchResult("s", Answer(value=42))),
        _row(BatchResult("e", error=BadRequestError("Refused", status_code=400))),
    ]
    table = pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)
    got = {row["id"]: row for row in table.to_pylist()}
    assert got["t"]["output"] == "42"
    assert json.loads(got["t"]["messages"])[1] == {"role": "assistant", "content": "42"}
    assert json.loads(got["s"]["output"]) == {"value": 42}
    assert (got["e"]["ok"], got["e"]["error_type"], got["e"]["status"]) == (
        False,
        "BadRequestError",
        400,
    )
    assert got["e"]["output"] is None


# ----------------------------------------------------------------------- the command


def answer(body: dict[str, Any]) -> Reply:
    return Reply.text(f"answer to {prompt_of(body)}")


def write_input(path: Path, count: int, start: int = 0) -> None:
    with path.open("a", encoding="utf-8") as out:
        for n in range(start, start + count):
            line = {"id": f"q{n}", "prompt": f"Question {n}"} if n % 3 else f"Question {n}"
            out.write(json.dumps(line) + "\n")


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_engine_ray_writes_what_the_local_engine_writes_and_resumes(cluster, tmp_path, monkeypatch):
    """The same input through both engines: the same lines (but for timings); then new
    inputs and --resume on the Ray engine run only the new ones."""
    monkeypatch.setenv("GOAPI_KEY", "sk-test")
    source = tmp_path / "in.jsonl"
    write_input(source, 40)
    with LoopbackServer(answer) as server:
        common = ["--base-url", server.base_url, "--concurrency", "4"]
        local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
        assert main(["batch", str(source), "--out", str(local), *common]) == 0
        engine = ["--engine", "ray", "--actors", "2"]
        assert main(["batch", str(source), "--out", str(on_ray), *common, *engine]) == 0
        assert len(server.requests) == 80

        def comparable(path: Path) -> dict[str, dict[str, Any]]:
            return {r["id"]: {k: v for k, v in r.items() if k != "seconds"} for r in records(path)}

        assert comparable(on_ray) == comparable(local)
        write_input(source, 10, start=40)
        resume = ["--resume", *common, *engine]
        assert main(["batch", str(source), "--out", str(on_ray), *resume]) == 0
        assert len(server.requests) == 90  # only the 10 new items were sent
    ids = [r["id"] for r in records(on_ray)]
    assert len(ids) == len(set(ids)) == 50
    assert all(r["ok"] for r in records(on_ray))


def test_engine_ray_refuses_bad_actor_counts_before_connecting(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GOAPI_KEY", "sk-test")
    source = tmp_path / "in.jsonl"
    write_input(source, 2)
    argv = ["batch", str(source), "--out", str(tmp_path / "o.jsonl"), "--engine", "ray"]
    assert main([*argv, "--actors", "0"]) == 2
    assert "--actors must be at least 1, not 0" in capsys.readouterr().err


def test_engine_ray_refuses_ray_client_addresses_and_says_what_to_use(
    tmp_path, monkeypatch, capsys
):
    """Ray Data cannot run from a Ray Client (ray://) driver: one clear line naming what
    works instead, before any connection is tried (port 1: nothing listens there)."""
    monkeypatch.setenv("GOAPI_KEY", "sk-test")
    source = tmp_path / "in.jsonl"
    write_input(source, 2)
    argv = ["batch", str(source), "--out", str(tmp_path / "o.jsonl"), "--engine", "ray"]
    started = time.monotonic()
    assert main([*argv, "--address", "ray://127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "Ray Client" in err
    assert "--address auto" in err
    assert "ray job submit" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o.jsonl").exists()
    assert time.monotonic() - started < 30  # no connection attempt and its timeouts


DEMO_MCP = str(Path(__file__).parent / "mcp_servers" / "demo.py")


def add_with_mcp(body: dict[str, Any]) -> Reply:
    """Asks the MCP server's `add` for N + 1, then answers with what it said."""
    last = body["messages"][-1]
    if last["role"] == "user":
        return Reply.call("add", {"a": int(prompt_of(body).split()[-1]), "b": 1})
    return Reply.text(f"the sum is {last['content']}")


def servers_running(script: str) -> list[int]:
    """The processes running `script` (the MCP servers the actors started)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and script in (proc / "cmdline").read_text(errors="replace"):
                found.append(int(proc.name))
        except OSError:  # it ended while we looked
            continue
    return found


def test_engine_ray_with_mcp_starts_a_server_in_each_actor(cluster, tmp_path, monkeypatch):
    """--mcp with --engine ray: each actor starts its own stdio MCP server, the tool calls
    go through it, and the servers stop when Ray ends the actors."""
    monkeypatch.setenv("GOAPI_KEY", "sk-test")
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 24)
    mcp = ["--mcp", f"{sys.executable} {DEMO_MCP}"]
    with LoopbackServer(add_with_mcp) as server:
        engine = ["--engine", "ray", "--actors", "2", "--concurrency", "4"]
        argv = ["batch", str(source), "--out", str(out), "--base-url", server.base_url]
        assert main([*argv, *engine, *mcp]) == 0
    lines = records(out)
    assert all(line["ok"] for line in lines)
    assert sorted(line["output"] for line in lines) == sorted(
        f"the sum is {n + 1}" for n in range(24)
    )
    deadline = time.monotonic() + 60
    while servers_running(DEMO_MCP):
        assert time.monotonic() < deadline, "the actors' MCP servers outlived the run"
        time.sleep(0.5)


def test_engine_ray_with_an_mcp_server_that_cannot_start_says_so(cluster, tmp_path):
    """An actor whose MCP server cannot start ends the run with that error, in one line, as
    the user sees it on the terminal: without Ray Data's records of it (tracebacks, "Failed
    to apply UDF transform", "internal code") and without Ray's retry note in its text."""
    source = tmp_path / "in.jsonl"
    write_input(source, 2)
    argv = ["batch", str(source), "--out", str(tmp_path / "o.jsonl"), "--engine", "ray"]
    with LoopbackServer(answer) as server:
        argv += ["--base-url", server.base_url, "--mcp", "python -c pass", "--address", cluster]
        done = subprocess.run(
            [sys.executable, "-m", "agentkit.cli", *argv],
            env={**os.environ, "GOAPI_KEY": "sk-test"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("agentkit")]
    (line,) = said
    assert line.startswith("agentkit: MCP server 'python -c pass' stopped working: could not")
    for noise in ("Traceback", "Failed to apply", "ERROR", "Exception occurred", "python -c"):
        assert done.stderr.count(noise) == (noise == "python -c"), done.stderr
    assert len(server.requests) == 0


def test_a_killed_driver_resumes_without_loss_or_duplicates(cluster, tmp_path, monkeypatch):
    """SIGKILL the driver (a separate process on the same cluster) mid-run, then resume:
    every input has exactly one line, all ok."""
    monkeypatch.setenv("GOAPI_KEY", "sk-test")
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 300)
    log = tmp_path / "driver.log"
    with LoopbackServer(answer, latency=0.1) as server, log.open("wb") as stderr:
        common = ["--base-url", server.base_url, "--concurrency", "4", "--engine", "ray"]
        command = [sys.executable, "-m", "agentkit.cli", "batch", str(source), "--out", str(out)]
        driver = subprocess.Popen(
            [*command, *common, "--address", cluster, "--actors", "2"],
            stderr=stderr,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 240
            while not out.exists() or len(out.read_bytes().splitlines()) < 30:
                assert driver.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the driver wrote too little in time"
                time.sleep(0.1)
        finally:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        written = len(out.read_bytes().splitlines())
        assert written < 300, "the driver finished before it was killed: nothing was tested"
        resume = ["batch", str(source), "--out", str(out), "--resume", *common, "--actors", "2"]
        assert main(resume) == 0
    lines = records(out)
    assert len(lines) == 300
    assert len({r["id"] for r in lines}) == 300
    assert all(r["ok"] for r in lines)


# ----------------------------------------------------------------------------- traces


SECRET = "sk-secret-ray-7f3a9c"


def export_spans_to(folder: str) -> None:
    """An actor's tracer provider (the `setup` of `map_agents`): the SDK exports each span
    as one JSON line to a file of this process's own."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    out = Path(folder, f"spans-{os.getpid()}.jsonl").open("a", encoding="utf-8")  # noqa: SIM115
    exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def weather_agent(base_url: str) -> Agent[str]:
    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    client = ChatClient(api_key=SECRET, base_url=base_url, backoff=FAST, max_retries=2)
    return Agent("gpt-4", client=client, tools=[get_weather])


def call_then_answer(body: dict[str, Any]) -> Reply:
    if body["messages"][-1]["role"] == "user":
        return Reply.call("get_weather", {"city": prompt_of(body)})
    return Reply.text("It is sunny.")


def test_actors_trace_each_row_under_the_drivers_span(cluster, tmp_path):
    """The driver traces runs and has a span current: each actor (set up by `setup`) traces
    each row's run as a child of it, in the driver's trace; neither the key nor the prompts
    (contents are off by default) reach a span."""
    import functools

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from agentkit import otel

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(tracer_provider=provider)
    folder = tmp_path / "spans"
    folder.mkdir()
    try:
        with LoopbackServer(call_then_answer) as server:
            url = server.base_url
            rows = [{"id": str(n), "prompt": f"Town {n}"} for n in range(20)]
            with provider.get_tracer("test").start_as_current_span("nightly batch") as job:
                results = map_agents(
                    ray.data.from_items(rows),
                    lambda: weather_agent(url),
                    actors=2,
                    concurrency=4,
                    batch_size=5,
                    setup=functools.partial(export_spans_to, str(folder)),
                )
            assert all(row["ok"] for row in results.iter_rows())
    finally:
        otel.uninstrument()
        provider.shutdown()
    assert [span.name for span in exporter.get_finished_spans()] == ["nightly batch"]
    files = list(folder.glob("spans-*.jsonl"))
    text = "".join(path.read_text(encoding="utf-8") for path in files)
    spans = [json.loads(line) for line in text.splitlines()]
    trace_id = f"0x{job.get_span_context().trace_id:032x}"
    assert {span["context"]["trace_id"] for span in spans} == {trace_id}
    runs = {span["context"]["span_id"]: span for span in spans if span["name"] == "invoke_agent"}
    assert len(runs) == 20  # one a row, each once
    assert {span["parent_id"] for span in runs.values()} == {
        f"0x{job.get_span_context().span_id:016x}"
    }
    children = Counter(
        (span["name"], span["parent_id"] in runs)
        for span in spans
        if span["name"] != "invoke_agent"
    )
    assert children == {("chat gpt-4", True): 40, ("execute_tool get_weather", True): 20}
    assert SECRET not in text
    assert "Town 3" not in text


def test_the_actors_get_the_key_the_driver_stored_when_goapi_key_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentkit._keys import store_key
    from agentkit._ray_job import _Keyed

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("GOAPI_KEY", "")  # recorded, so the key the actor sets is undone
    monkeypatch.delenv("GOAPI_KEY")
    store_key("sk-stored")
    keyed = ray.cloudpickle.loads(ray.cloudpickle.dumps(_Keyed.of_driver(lambda limiter: limiter)))
    assert "sk-stored" not in repr(keyed)
    store_key("sk-other")  # the actor's machine knows nothing of the driver's file
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    assert keyed("limiter") == "limiter"
    assert os.environ["GOAPI_KEY"] == "sk-stored"
    monkeypatch.setenv("GOAPI_KEY", "sk-env")
    assert _Keyed.of_driver(lambda limiter: limiter)._key == "sk-env"
