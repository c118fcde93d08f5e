"""A batch's usage and cost are the run's: every `Usage` field, each model at its own prices.

The agent under test hands questions to a sub-agent on a dearer model (`Agent.as_tool`);
pricing all the tokens at the outer model's price would be off by a factor of thirty.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from agentkit import Agent, BatchItem, MaxTurnsExceeded, Usage, batch, default_catalog
from agentkit.cli import main
from agentkit.testing import LoopbackServer, Reply

OUTER, INNER = "gpt-3.5-turbo", "gpt-4-1106-preview"
TOOLS = f"""
from agentkit import Agent

forecaster = Agent({INNER!r}, stream=False)  # at GOAPI_BASE_URL, with GOAPI_KEY
forecast = forecaster.as_tool(name="forecast", description="Forecasts.")
"""


def model(body: dict) -> Reply:
    """The inner model answers; the outer one calls it, then answers with what it said."""
    if body["model"] == INNER:
        return Reply.text("Sunny.").with_usage(1000, 100)
    if body["messages"][-1]["role"] in ("tool", "function"):
        return Reply.text("It is sunny.").with_usage(200, 20)
    return Reply.call("forecast", {"prompt": "Oslo tomorrow?"}).with_usage(100, 10)


def price(name: str, prompt: int, completion: int) -> float:
    cost = default_catalog.get(name).cost(Usage(1, prompt, completion))
    assert cost is not None
    return cost


#: One item: the outer model's two requests at its price, the inner one's at its own.
COST = price(OUTER, 300, 30) + price(INNER, 1000, 100)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    """The loopback server, where agents made without `base_url` (the tools file's) go."""
    with LoopbackServer(model) as server:
        monkeypatch.setenv("GOAPI_KEY", "sk-test")
        monkeypatch.setenv("GOAPI_BASE_URL", server.base_url)
        yield server


def test_the_command_writes_every_usage_field_and_prices_each_model_at_its_own(
    server: LoopbackServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    tools = tmp_path / "forecast_tools.py"
    tools.write_text(TOOLS, encoding="utf-8")
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "oslo", "prompt": "Weather in Oslo?"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    args = ["--out", str(out), "--tools", str(tools), "--no-stream", "--workers", "1"]
    assert main(["batch", str(source), *args]) == 0  # and closes the tools file's agent

    (record,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert record["output"] == "It is sunny."
    assert record["usage"] == {
        "requests": 3,
        "prompt_tokens": 1300,
        "completion_tokens": 130,
        "tool_calls": 1,
        "unreported_requests": 0,
        "counted_requests": 0,
    }
    assert list(record["usage"]) == [f.name for f in dataclasses.fields(Usage)]
    assert record["cost"] == pytest.approx(COST)
    assert price(OUTER, 1300, 130) < COST / 20  # what the outer price alone would say
    assert f"${COST:.4f}  " in capsys.readouterr().err  # the summary line
    checkpoint = json.loads(out.with_name("out.jsonl.checkpoint.json").read_text())
    assert (checkpoint["unreported_requests"], checkpoint["counted_requests"]) == (0, 0)


def test_batch_results_carry_the_runs_cost_also_when_the_run_failed(server: LoopbackServer):
    """A run that stops after its sub-agent ran (max_turns=1) still prices the sub-agent's
    tokens at its own model's prices."""
    answers = {}
    for max_turns in (20, 1):
        with Agent(INNER, stream=False) as inner:
            forecast = inner.as_tool(name="forecast", description="Forecasts.")
            agent = Agent(OUTER, tools=[forecast], stream=False, max_turns=max_turns)
            (answers[max_turns],) = batch(agent, [BatchItem("oslo", "Weather in Oslo?")])
    assert answers[20].ok
    assert answers[20].cost == pytest.approx(COST)
    failed = answers[1]
    assert isinstance(failed.error, MaxTurnsExceeded)
    assert failed.usage.requests == 2
    assert failed.cost == pytest.approx(price(OUTER, 100, 10) + price(INNER, 1000, 100))


def test_an_estimated_cost_says_so_on_the_progress_line():
    from agentkit._batchprogress import Progress

    assert "$0.0500 (estimated)  " in Progress(done=1, cost=0.05, counted=1).line()
    assert "cost unknown  " in Progress(done=1, unpriced=1, counted=1).line()
