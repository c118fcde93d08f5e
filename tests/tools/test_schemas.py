"""What the model sees of each ready-made tool: names, descriptions, parameter schemas."""

import agentkit_tools
import pytest
from agentkit_tools import ALL_TOOLS, file_tools
from inline_snapshot import snapshot
from jsonschema import Draft202012Validator

from agentkit import Tool
from tests.spec import assert_valid_request


@pytest.fixture(scope="module")
def every_tool(tmp_path_factory):
    return [*ALL_TOOLS, *file_tools(tmp_path_factory.mktemp("root"))]


def test_the_tools_and_their_names(every_tool):
    assert [t.name for t in every_tool] == snapshot(
        [
            "get_current_weather",
            "get_forecast",
            "search",
            "wikipedia_summary",
            "calculate",
            "fetch_url",
            "current_time",
            "date_add",
            "days_between",
            "list_files",
            "read_file",
            "write_file",
        ]
    )


def test_every_schema_is_sensible(every_tool):
    """A name, a description of a sentence or more, an object schema that is valid JSON
    Schema 2020-12, and a description for every parameter."""
    for item in every_tool:
        assert isinstance(item, Tool)
        schema = item.schema
        assert set(schema) == {"name", "description", "parameters"}
        assert schema["description"].endswith(".")
        assert 20 < len(schema["description"]) < 500, item.name
        parameters = schema["parameters"]
        Draft202012Validator.check_schema(parameters)
        assert parameters["type"] == "object"
        assert parameters["properties"], item.name
        for name, prop in parameters["properties"].items():
            assert prop.get("description"), f"{item.name}.{name} has no description"
            assert "\n" not in prop["description"], f"{item.name}.{name}"
            assert "type" in prop
        for required in parameters.get("required", []):
            assert "default" not in parameters["properties"][required]
        assert not item.takes_context
        assert not item.is_async, "tools are sync: they run in worker threads"


def test_every_request_with_the_tools_passes_the_api_spec(every_tool):
    """Offered in either style, the tools make requests valid under both spec files."""
    messages = [{"role": "user", "content": "Hello"}]
    assert_valid_request(
        {
            "model": "gpt-3.5-turbo-0613",
            "messages": messages,
            "functions": [t.schema for t in every_tool],
        }
    )
    assert_valid_request(
        {
            "model": "gpt-3.5-turbo-1106",
            "messages": messages,
            "tools": [{"type": "function", "function": t.schema} for t in every_tool],
        }
    )


def test_get_current_weather_keeps_the_classic_shape():
    """The examples and the offline demo model call it by this name with a location."""
    assert agentkit_tools.get_current_weather.schema == snapshot(
        {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location.",
            "parameters": {
                "properties": {
                    "location": {
                        "description": (
                            'The city, with its region or country if needed, e.g. "Boston, MA".'
                        ),
                        "type": "string",
                    },
                    "unit": {
                        "default": "celsius",
                        "description": "Temperature unit.",
                        "enum": ["celsius", "fahrenheit"],
                        "type": "string",
                    },
                },
                "required": ["location"],
                "type": "object",
            },
        }
    )


def test_all_is_complete_and_sorted():
    public = {
        name
        for name, value in vars(agentkit_tools).items()
        if not name.startswith("_") and isinstance(value, (Tool, type))
    }
    assert public <= set(agentkit_tools.__all__)
    assert agentkit_tools.__all__ == sorted(agentkit_tools.__all__)
    for name in agentkit_tools.__all__:
        assert hasattr(agentkit_tools, name)


def test_tool_names_are_unique():
    names = [t.name for t in ALL_TOOLS]
    assert len(names) == len(set(names))


def test_the_search_module_is_not_hidden_by_the_tool():
    """`agentkit_tools.search` stays the module (the tool is `web_search` in Python)."""
    import agentkit_tools.search as module

    assert module.web_search.name == "search"
    assert agentkit_tools.search is module
