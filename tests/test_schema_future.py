"""Tools defined in a module with `from __future__ import annotations` (string annotations)."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Annotated, Literal

import pytest
from inline_snapshot import snapshot
from jsonschema import Draft202012Validator
from pydantic import BaseModel, Field

from agentkit import RunContext, tool

# These tests are about schemas and validation: most of their functions need no docstring.
pytestmark = pytest.mark.filterwarnings("ignore:.*has no description:UserWarning")


class Stop(BaseModel):
    name: str
    arrival: datetime.time | None = None


@dataclasses.dataclass
class Route:
    stops: list[Stop]
    loop: bool = False


@dataclasses.dataclass
class Deps:
    api_key: str


def plan(
    ctx: RunContext[Deps],
    route: Route,
    mode: Literal["bus", "train"] = "bus",
    budget: Annotated[Annotated[float, Field(gt=0)] | None, "Maximum fare in euros."] = None,
) -> str:
    """Plan a trip along a route.

    Args:
        route: The stops, in order.
        mode: How to travel.
    """
    return f"{len(route.stops)} stops by {mode} for {ctx.deps.api_key}"


class Planner:
    def cheapest(self, route: Route, *, days: int = 1) -> str:
        """Find the cheapest fare."""
        return "10 EUR"


def test_string_annotations_are_resolved():
    """Annotations written as strings resolve in the function's module, RunContext included."""
    planner = tool(plan)
    assert planner.takes_context
    Draft202012Validator.check_schema(planner.parameters)
    assert planner.schema == snapshot(
        {
            "name": "plan",
            "description": "Plan a trip along a route.",
            "parameters": {
                "$defs": {
                    "Route": {
                        "additionalProperties": False,
                        "properties": {
                            "stops": {"items": {"$ref": "#/$defs/Stop"}, "type": "array"},
                            "loop": {"default": False, "type": "boolean"},
                        },
                        "required": ["stops"],
                        "type": "object",
                    },
                    "Stop": {
                        "properties": {
                            "name": {"type": "string"},
                            "arrival": {
                                "anyOf": [{"format": "time", "type": "string"}, {"type": "null"}],
                                "default": None,
                            },
                        },
                        "required": ["name"],
                        "type": "object",
                    },
                },
                "properties": {
                    "route": {"$ref": "#/$defs/Route", "description": "The stops, in order."},
                    "mode": {
                        "default": "bus",
                        "description": "How to travel.",
                        "enum": ["bus", "train"],
                        "type": "string",
                    },
                    "budget": {
                        "anyOf": [{"exclusiveMinimum": 0, "type": "number"}, {"type": "null"}],
                        "default": None,
                        "description": "Maximum fare in euros.",
                    },
                },
                "required": ["route"],
                "type": "object",
            },
        }
    )


def test_string_annotations_validate_and_invoke():
    """The resolved model validates nested values and the context is passed first."""
    planner = tool(plan)
    values = planner.validate('{"route": {"stops": [{"name": "A"}, {"name": "B"}]}}')
    assert values["route"] == Route(stops=[Stop(name="A"), Stop(name="B")])
    context = RunContext(deps=Deps(api_key="k"), model="gpt-4")
    assert planner.invoke(values, context) == "2 stops by bus for k"


def test_bound_method_with_string_annotations():
    """A bound method of a class in such a module resolves its annotations too."""
    cheapest = tool(Planner().cheapest)
    assert cheapest.parameters["required"] == ["route"]
    assert cheapest.invoke(cheapest.validate({"route": {"stops": []}})) == "10 EUR"
