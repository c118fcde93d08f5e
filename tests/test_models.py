import json
import subprocess
import sys

import httpx
import pytest
from pydantic import BaseModel

from agentkit import (
    Agent,
    ChatClient,
    ModelCatalog,
    ModelInfo,
    Usage,
    UsageError,
    default_catalog,
    tool,
)
from agentkit._models import GOAPI_MODELS, NEWER_MODELS
from agentkit.cli import main
from agentkit.testing import Reply, ScriptedGoAPI
from tests.spec import spec_errors


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


GOAPI_LIST = [
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-0301",
    "gpt-3.5-turbo-0613",
    "gpt-3.5-turbo-16k",
    "gpt-3.5-turbo-16k-0613",
    "gpt-3.5-turbo-1106",
    "gpt-4",
    "gpt-4-0613",
    "gpt-4-1106-preview",
    "gpt-4-vision-preview",
]
NEWER_LIST = [m.name for m in NEWER_MODELS]


def test_catalog_lists_exactly_the_models_goapi_lists():
    assert sorted(m.name for m in GOAPI_MODELS) == sorted(GOAPI_LIST)
    assert [m.name for m in default_catalog] == sorted(GOAPI_LIST + NEWER_LIST)
    assert len(default_catalog) == 26


@pytest.mark.parametrize(
    ("name", "style"),
    [
        ("gpt-3.5-turbo", "functions"),
        ("gpt-3.5-turbo-0613", "functions"),
        ("gpt-3.5-turbo-16k", "functions"),
        ("gpt-3.5-turbo-16k-0613", "functions"),
        ("gpt-4", "functions"),
        ("gpt-4-0613", "functions"),
        ("gpt-3.5-turbo-1106", "tools"),
        ("gpt-4-1106-preview", "tools"),
        ("gpt-3.5-turbo-0301", None),
        ("gpt-4-vision-preview", None),
    ],
)
def test_wire_style_per_model(name, style):
    """DESIGN decision 1: 0613 family and plain names take functions, 1106 takes tools."""
    info = default_catalog.get(name)
    assert info.style == style
    assert info.known
    assert info.supports_functions is (style is not None)
    assert info.parallel_calls is (style == "tools")


def test_windows_and_output_caps():
    assert default_catalog.get("gpt-3.5-turbo").context_window == 4_096
    assert default_catalog.get("gpt-3.5-turbo-16k").context_window == 16_385
    assert default_catalog.get("gpt-4").context_window == 8_192
    info = default_catalog.get("gpt-4-1106-preview")
    assert (info.context_window, info.max_output_tokens) == (128_000, 4_096)
    assert default_catalog.get("gpt-4-vision-preview").vision
    assert not default_catalog.get("gpt-4").vision


def test_gpt35_costs_one_fifth_of_openai_list_price():
    info = default_catalog.get("gpt-3.5-turbo")
    assert info.input_price == pytest.approx(0.0015 / 5)
    assert info.output_price == pytest.approx(0.002 / 5)
    assert default_catalog.get("gpt-4").input_price == pytest.approx(0.03)


def test_cost_from_reported_usage():
    info = default_catalog.get("gpt-4")
    assert info.cost(Usage(1, 1000, 500)) == pytest.approx(0.03 + 0.03)


def test_cost_is_unknown_when_tokens_or_prices_are():
    """A cost is never invented from missing token counts or prices."""
    info = default_catalog.get("gpt-4")
    assert info.cost(Usage(1, unreported_requests=1)) is None
    assert info.cost(Usage(2, 100, 10, unreported_requests=1)) is None
    assert default_catalog.get("some-new-model").cost(Usage(1, 100, 10)) is None


@pytest.mark.parametrize(
    ("name", "style"),
    [
        ("gpt-4-0613-custom", "functions"),
        ("gpt-3.5-turbo-1106-ft", "tools"),
        ("gpt-4-0314", None),
        ("gpt-4o-2026-01-15", "tools"),  # a dated snapshot the catalog does not list yet
        ("gpt-4.1-mini-2026-03-01", "tools"),
        ("llama-3-70b", "tools"),
    ],
)
def test_unknown_names_resolve_by_family_then_default_to_tools(name, style):
    info = default_catalog.get(name)
    assert info.style == style
    assert info.name == name
    assert not info.known
    assert info.context_window is None
    assert info.input_price is None


def test_register_adds_and_overrides_without_touching_the_default():
    catalog = ModelCatalog()
    catalog.register(ModelInfo("my-finetune", style="tools", context_window=128_000))
    catalog.register(ModelInfo("gpt-3.5-turbo", style="tools", context_window=16_385))
    assert "my-finetune" in catalog
    assert catalog.get("my-finetune").context_window == 128_000
    assert catalog.get("gpt-3.5-turbo").style == "tools"
    assert default_catalog.get("gpt-3.5-turbo").style == "functions"
    assert "my-finetune" not in default_catalog


def test_catalog_from_custom_data():
    catalog = ModelCatalog([ModelInfo("only-one", style="functions")], rules=())
    assert [m.name for m in catalog] == ["only-one"]
    assert catalog.get("gpt-4-0613").style == "tools"  # no rules: the plain fallback


# --------------------------------------------------------------------------- newer models

# OpenAI's list prices in USD per 1M tokens (platform.openai.com/docs/pricing), per 1K here.
LIST_PRICES = {
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


@pytest.mark.parametrize(("name", "per_million"), LIST_PRICES.items())
def test_newer_models_are_known_with_openai_list_prices_per_1k(name, per_million):
    info = default_catalog.get(name)
    assert info.known
    assert (info.input_price, info.output_price) == pytest.approx(
        (per_million[0] / 1000, per_million[1] / 1000)
    )
    assert info.style == "tools"
    assert info.parallel_calls
    assert info.vision
    assert info.tool_choice_required


def test_newer_models_windows_and_structured_output():
    """Native structured output came with gpt-4o-2024-08-06 and gpt-4o-mini, not before."""
    windows = {
        m.name: (m.context_window, m.max_output_tokens, m.structured_output) for m in NEWER_MODELS
    }
    assert windows["gpt-4o"] == (128_000, 16_384, True)
    assert windows["gpt-4o-mini"] == (128_000, 16_384, True)
    assert windows["gpt-4o-2024-05-13"] == (128_000, 4_096, False)
    assert windows["gpt-4-turbo"] == (128_000, 4_096, False)
    assert windows["gpt-4.1"] == windows["gpt-4.1-nano"] == (1_047_576, 32_768, True)
    for snapshot in ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "gpt-4.1-mini-2025-04-14"):
        alias = snapshot.rsplit("-", 3)[0]
        assert default_catalog.get(snapshot).cost(Usage(1, 1000, 1000)) == pytest.approx(
            default_catalog.get(alias).cost(Usage(1, 1000, 1000))
        )


def test_gpt_4o_mini_cost():
    """1,000 tokens in and 1,000 out at $0.15 and $0.60 per million."""
    assert default_catalog.get("gpt-4o-mini").cost(Usage(1, 1000, 1000)) == pytest.approx(0.00075)


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("gpt4o", "gpt-4o"),
        ("GPT-4o-mini", "gpt-4o-mini"),
        ("gpt-4.1mini", "gpt-4.1-mini"),
        ("gpt-4-trubo", "gpt-4-turbo"),
        ("gpt-3.5-turbo-16", "gpt-3.5-turbo-16k"),
    ],
)
def test_an_unknown_name_is_refused_with_the_closest_names_and_api_style(typed, suggested):
    with pytest.raises(UsageError) as caught:
        Agent(typed, api_key="sk-test")
    message = str(caught.value)
    assert message.startswith(f"Unknown model {typed!r}: the catalog does not list it.")
    assert f"Did you mean {suggested!r}" in message
    assert "Agent(..., api_style='tools')" in message
    assert Agent(typed, api_key="sk-test", api_style="tools").model.known is False


def test_the_command_suggests_the_closest_names_too(capsys):
    assert main(["run", "hi", "--model", "gpt4o-mini", "--offline"]) == 2
    (line,) = capsys.readouterr().err.splitlines()[-1:]
    assert line == (
        "agentkit: Unknown model 'gpt4o-mini': 'agentkit models' lists the catalog. Did you "
        "mean 'gpt-4o-mini' or 'gpt-4.1-mini' or 'gpt-4o-mini-2024-07-18'? To use it anyway, "
        "say how it takes functions: --api-style tools (or functions)."
    )


def test_the_command_takes_a_dated_snapshot_by_family_rule():
    """The library takes a name its family rules know; so does the command now."""
    command = [sys.executable, "-m", "agentkit.cli", "run", "Hello", "--offline"]
    done = subprocess.run(
        [*command, "--model", "gpt-4o-2026-01-15"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "You said: Hello" in done.stdout


def test_models_json_lists_the_capabilities(capsys):
    assert main(["models", "--json"]) == 0
    (entry,) = [m for m in json.loads(capsys.readouterr().out) if m["model"] == "gpt-4o-mini"]
    assert entry == {
        "model": "gpt-4o-mini",
        "style": "tools",
        "context_window": 128_000,
        "max_output_tokens": 16_384,
        "vision": True,
        "input_price": 0.00015,
        "output_price": 0.0006,
        "structured_output": True,
        "tool_choice_required": True,
    }


OLD_SCHEMA = "openai_chat_schema_2023-12-14.json: "


class City(BaseModel):
    name: str
    population: int


def test_gpt_4o_mini_end_to_end_required_tool_choice_and_native_output():
    """A GoAPI user types gpt-4o-mini: tools style, `required` sent as is, the structured
    output asked for natively, every body valid under today's OpenAI schema."""
    scripted = ScriptedGoAPI(
        [
            Reply.call("add", {"a": 2, "b": 3}),
            Reply.text('{"name": "Five", "population": 5}'),
        ]
    )
    with httpx.Client(transport=scripted) as http:
        client = ChatClient(api_key="sk-test", base_url="http://goapi.test/v1", http_client=http)
        agent = Agent("gpt-4o-mini", tools=[add], output_type=City, client=client)
        result = agent.run(
            "Add 2 and 3, then name a city of that many people.", tool_choice="required"
        )
    assert result.output == City(name="Five", population=5)
    first, second = scripted.requests
    assert first["model"] == "gpt-4o-mini"
    assert [t["function"]["name"] for t in first["tools"]] == ["add"]
    assert first["tool_choice"] == "required"
    assert first["response_format"]["type"] == "json_schema"
    assert "tool_choice" not in second  # forced on the first request only
    for body in scripted.requests:  # the 2023-12 schema predates "required" and json_schema
        assert [p for p in spec_errors("request", body) if not p.startswith(OLD_SCHEMA)] == []


def test_gpt_4_turbo_asks_for_structured_output_with_the_output_tool():
    """gpt-4-turbo predates native structured output: the answer comes as a call."""
    scripted = ScriptedGoAPI([Reply.call("final_result", {"name": "Oslo", "population": 700000})])
    with httpx.Client(transport=scripted) as http:
        client = ChatClient(api_key="sk-test", base_url="http://goapi.test/v1", http_client=http)
        result = Agent("gpt-4-turbo", output_type=City, client=client).run("A city?")
    assert result.output == City(name="Oslo", population=700000)
    (body,) = scripted.requests
    assert "response_format" not in body
    assert [t["function"]["name"] for t in body["tools"]] == ["final_result"]
    assert spec_errors("request", body) == []
