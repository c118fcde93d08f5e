"""Ready-made tools for agentkit agents, installed with agentkit as `agentkit_tools`.

Each is a typed, documented `@tool`, usable as it is: `Agent(..., tools=[get_current_weather])`.

| tool (as the model sees it) | module | what it does |
|---|---|---|
| `get_current_weather`, `get_forecast` | `weather` | weather now and for 1 to 7 days (Open-Meteo) |
| `search`, `wikipedia_summary` | `search` | search (Wikipedia, or your `SearchProvider`); an article's summary |
| `calculate` | `calculator` | arithmetic and math functions, parsed safely (never `eval`) |
| `fetch_url` | `fetch` | a public web page as text, guarded against SSRF |
| `list_files`, `read_file`, `write_file` | `files` | files under one root directory (`file_tools(root)`) |
| `current_time`, `date_add`, `days_between` | `clock` | the time in a time zone; date arithmetic |

`ALL_TOOLS` holds every tool that needs no setting up (all but the file tools, which need a
root). Bad arguments the model can fix raise `ToolRetry` with a text that says how; a failing
web service raises `ServiceError`. Tests route the tools' HTTP through an `httpx` transport of
their own with `use_transport`.
"""  # noqa: E501

from __future__ import annotations

from typing import TYPE_CHECKING

from ._http import ServiceError, use_transport
from .calculator import calculate
from .clock import current_time, date_add, days_between
from .fetch import UnsafeURL, fetch_url, make_fetch_url
from .files import FileTools, file_tools
from .search import (
    SearchProvider,
    SearchResult,
    WikipediaSearch,
    get_search_provider,
    set_search_provider,
    web_search,
    wikipedia_summary,
)
from .weather import get_current_weather, get_forecast

if TYPE_CHECKING:
    from typing import Any

    from agentkit import Tool

__all__ = [
    "ALL_TOOLS",
    "FileTools",
    "SearchProvider",
    "SearchResult",
    "ServiceError",
    "UnsafeURL",
    "WikipediaSearch",
    "calculate",
    "current_time",
    "date_add",
    "days_between",
    "fetch_url",
    "file_tools",
    "get_current_weather",
    "get_forecast",
    "get_search_provider",
    "make_fetch_url",
    "set_search_provider",
    "use_transport",
    "web_search",
    "wikipedia_summary",
]

ALL_TOOLS: tuple[Tool[..., Any], ...] = (
    get_current_weather,
    get_forecast,
    web_search,
    wikipedia_summary,
    calculate,
    fetch_url,
    current_time,
    date_add,
    days_between,
)
"""Every tool that needs no setting up, for `Agent(..., tools=ALL_TOOLS)`."""
