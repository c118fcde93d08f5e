import pytest

from agentkit import ModelCatalog, ModelInfo, Usage, default_catalog
from agentkit._models import GOAPI_MODELS

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


def test_catalog_lists_exactly_the_models_goapi_lists():
    assert sorted(m.name for m in GOAPI_MODELS) == sorted(GOAPI_LIST)
    assert [m.name for m in default_catalog] == sorted(GOAPI_LIST)
    assert len(default_catalog) == 10


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
        ("gpt-4o-mini", "tools"),
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
    catalog.register(ModelInfo("gpt-4o", style="tools", context_window=128_000))
    catalog.register(ModelInfo("gpt-3.5-turbo", style="tools", context_window=16_385))
    assert "gpt-4o" in catalog
    assert catalog.get("gpt-4o").context_window == 128_000
    assert catalog.get("gpt-3.5-turbo").style == "tools"
    assert default_catalog.get("gpt-3.5-turbo").style == "functions"
    assert "gpt-4o" not in default_catalog


def test_catalog_from_custom_data():
    catalog = ModelCatalog([ModelInfo("only-one", style="functions")], rules=())
    assert [m.name for m in catalog] == ["only-one"]
    assert catalog.get("gpt-4-0613").style == "tools"  # no rules: the plain fallback
