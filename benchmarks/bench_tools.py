"""How long defining tools and validating their arguments takes.

Run: python benchmarks/bench_tools.py

Prints the time the first `@tool` takes in a fresh process (after the imports: pydantic's
warm-up), the time to decorate 200 varied functions (each builds its lean JSON schema and its
validator, eagerly: what an agent needs to send and check them), the same with the fast path
of common parameter types switched off (every tool through a pydantic model, as before the
fast path), the time to validate 10,000 argument strings (valid and invalid mixed), and the
size of the `get_current_weather` schema from the README as compact JSON. With pydantic-ai
installed (the `bench` extra: `.venv-bench/bin/python benchmarks/bench_tools.py`), it also
times pydantic-ai's `Tool` on the same 200 functions, medians of 5 runs each.

Five of the eight signatures below take the fast path (`agentkit/_fastschema.py`); the
dataclass, pydantic-model and TypedDict ones take the pydantic path.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from typing import Literal
from unittest import mock

from agentkit import ArgumentError, _schema, tool

# Parameter lists cycled through to make 200 different functions.
SIGNATURES = [
    "location: str, unit: Literal['celsius', 'fahrenheit'] = 'celsius'",
    "query: str, limit: Annotated[int, Field(ge=1, le=50)] = 10, tags: list[str] | None = None",
    "when: datetime.datetime, duration: datetime.timedelta, id: uuid.UUID",
    "point: Point, zoom: float = 1.0",
    "items: list[Item], mode: Mode = Mode.FAST, dry_run: bool = False",
    "a: int, /, b: int, *, c: Annotated[int, 'The third.'] = 3",
    "address: Address, note: Optional[str] = None",
    "matrix: list[list[float]], labels: dict[str, int], pair: tuple[int, str]",
]

PRELUDE = """
import dataclasses, datetime, enum, uuid
from typing import Annotated, Literal, Optional
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

@dataclasses.dataclass
class Point:
    x: float
    y: float

class Item(BaseModel):
    name: str
    count: int = 1

class Mode(str, enum.Enum):
    FAST = "fast"
    SAFE = "safe"

class Address(TypedDict):
    street: str
    city: str
"""

TEMPLATE = '''
def f{i}({signature}) -> str:
    """Function number {i}.

    Args:
        {first}: The first parameter.
    """
    return "ok"
'''


def make_functions(count: int) -> list[object]:
    namespace: dict[str, object] = {}
    exec(PRELUDE, namespace)  # noqa: S102  (the benchmark builds its own functions)
    functions = []
    for i in range(count):
        signature = SIGNATURES[i % len(SIGNATURES)]
        first = signature.split(":")[0]
        exec(TEMPLATE.format(i=i, signature=signature, first=first), namespace)  # noqa: S102
        functions.append(namespace[f"f{i}"])
    return functions


@tool
def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
        unit: Temperature unit.
    """
    return f"20 degrees {unit} in {location}"


def argument_strings(count: int) -> list[str]:
    rng = random.Random(4)
    samples = [
        '{"location": "San Francisco, CA"}',
        '{"location": "Paris", "unit": "fahrenheit"}',
        '{"location": "Berlin", "unit": "celsius"}',
        "",
        '{"location": 5}',  # wrong type
        '{"unit": "kelvin"}',  # missing + bad literal
        '{"location": "Oslo", "extra": true}',  # unexpected
        '{"location": "Rome"',  # invalid JSON
    ]
    return [rng.choice(samples) for _ in range(count)]


def is_valid(arguments: str) -> bool:
    try:
        get_current_weather.validate(arguments)
    except ArgumentError:
        return False
    return True


def decorate(functions: list[object]) -> float:
    """Seconds to make a tool of each function (new function objects every time)."""
    start = time.perf_counter()
    tools = [tool(f) for f in functions]  # type: ignore[call-overload]
    seconds = time.perf_counter() - start
    assert len({t.name for t in tools}) == len(functions)
    return seconds


FIRST_TOOL = '''
import time
from typing import Literal
from agentkit import tool

def get_current_weather(location: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city and state, e.g. San Francisco, CA
        unit: Temperature unit.
    """
    return location

start = time.perf_counter()
tool(get_current_weather)
print(time.perf_counter() - start)
'''


def first_tool() -> float:
    """Seconds the first `@tool` takes in a fresh process, after `import agentkit`."""
    command = [sys.executable, "-c", FIRST_TOOL]  # this interpreter, our own code
    done = subprocess.run(command, capture_output=True, check=True, text=True)  # noqa: S603
    return float(done.stdout)


def pydantic_ai_tools(runs: int) -> float | None:
    """Median seconds of pydantic-ai's `Tool` on the same 200 functions (`bench` extra)."""
    try:
        from pydantic_ai import Tool
    except ImportError:
        return None
    times = []
    for _ in range(runs):
        functions = make_functions(200)
        start = time.perf_counter()
        for function in functions:
            Tool(function)  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    cold = min(first_tool() for _ in range(3))
    print(f"first @tool in a process:    {cold * 1e3:8.1f} ms  (best of 3 fresh processes)")
    seconds = decorate(make_functions(200))
    each = seconds / 200 * 1e6
    print(f"decorate 200 functions:      {seconds * 1e3:8.1f} ms  ({each:.0f} µs each)")
    with mock.patch.object(_schema, "fast_arguments", return_value=None):
        slow = decorate(make_functions(200))
    print(f"  without the fast path:      {slow * 1e3:8.1f} ms  ({slow / seconds:.2f}x)")
    peer = pydantic_ai_tools(5)
    if peer is not None:
        ours = statistics.median(decorate(make_functions(200)) for _ in range(5))
        print(
            f"  median of 5 runs:           {ours * 1e3:8.1f} ms; pydantic-ai's Tool on the "
            f"same functions {peer * 1e3:.1f} ms ({ours / peer:.2f}x)"
        )

    strings = argument_strings(10_000)
    start = time.perf_counter()
    errors = sum(not is_valid(arguments) for arguments in strings)
    validate = time.perf_counter() - start
    print(
        f"validate 10,000 arguments:   {validate * 1e3:8.1f} ms  "
        f"({validate / 10_000 * 1e6:.1f} µs each, {errors} of them invalid)"
    )
    valid = [arguments for arguments in strings if is_valid(arguments)]
    start = time.perf_counter()
    for arguments in valid:
        get_current_weather.validate(arguments)
    only_valid = time.perf_counter() - start
    print(f"  valid ones only:            {only_valid / len(valid) * 1e6:8.1f} µs each")

    size = len(json.dumps(get_current_weather.schema, separators=(",", ":")))
    print(f"get_current_weather schema:  {size:8d} bytes (compact JSON)")


if __name__ == "__main__":
    main()
