"""Web search for the model: `search` (the tool, `web_search` in Python) and `wikipedia_summary`.

`search` asks a `SearchProvider`; the default is `WikipediaSearch` (English Wikipedia, no
key needed). Plug in another with `set_search_provider`:

    >>> class Canned:
    ...     def search(self, query: str, limit: int) -> list[SearchResult]:
    ...         return [SearchResult("Example", "https://example.com/", f"About {query}.")]
    >>> previous = set_search_provider(Canned())
    >>> print(web_search("anything"))
    1. Example <https://example.com/>
       About anything.
    >>> _ = set_search_provider(previous)

The Python name is `web_search` so that it does not hide this module
(`agentkit_tools.search`); the model sees the tool as `search`.
"""

from __future__ import annotations

import html
import re
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from pydantic import Field

from agentkit import ToolRetry, tool

from ._http import ServiceError, get_json

__all__ = [
    "SearchProvider",
    "SearchResult",
    "WikipediaSearch",
    "get_search_provider",
    "set_search_provider",
    "strip_tags",
    "web_search",
    "wikipedia_summary",
]

MAX_QUERY = 300
"""Longest query accepted (Wikipedia's own limit)."""

MAX_RESULTS = 20


@dataclass(frozen=True)
class SearchResult:
    """One hit: its title, its address, and a plain-text snippet of the matching text."""

    title: str
    url: str
    snippet: str


class SearchProvider(Protocol):
    """Anything that can answer a query with up to `limit` results."""

    def search(self, query: str, limit: int) -> list[SearchResult]:
        """The best `limit` results for `query`, best first (an empty list for none).

        Raises:
            ServiceError: The search service failed.
        """
        ...


_TAG = re.compile(r"<[^>]*>")


def strip_tags(text: str) -> str:
    """Plain text from a snippet of HTML: tags removed, entities decoded, spaces squeezed.

    Examples:
        >>> strip_tags('<span class="searchmatch">Alan</span> Turing &amp; the  &quot;Bombe&quot;')
        'Alan Turing & the "Bombe"'
    """
    return " ".join(html.unescape(_TAG.sub("", text)).split())


class WikipediaSearch:
    """Search one Wikipedia (English by default) with the MediaWiki API; no key needed."""

    def __init__(self, language: str = "en") -> None:
        if not re.fullmatch(r"[a-z][a-z-]{1,15}", language):
            raise ValueError(f"not a Wikipedia language code: {language!r}")
        self.language = language
        self.base = f"https://{language}.wikipedia.org"

    def __repr__(self) -> str:
        return f"WikipediaSearch(language={self.language!r})"

    def article_url(self, title: str) -> str:
        """The address of the article with this title.

        Examples:
            >>> WikipediaSearch().article_url("AC/DC (band)")
            'https://en.wikipedia.org/wiki/AC%2FDC_%28band%29'
        """
        return f"{self.base}/wiki/{urllib.parse.quote(title.replace(' ', '_'), safe='')}"

    def search(self, query: str, limit: int) -> list[SearchResult]:
        """The articles that best match `query` (see `SearchProvider.search`)."""
        data = get_json(
            f"{self.base}/w/api.php",
            {
                "action": "query",
                "list": "search",
                "srsearch": query,
                "srlimit": limit,
                "srprop": "snippet",
                "format": "json",
                "formatversion": 2,
                "utf8": 1,
            },
            service="Wikipedia",
        )
        if not isinstance(data, dict):
            raise ServiceError("Wikipedia sent a reply that is not a JSON object.")
        error = data.get("error")
        if isinstance(error, dict):
            raise ServiceError(f"Wikipedia refused the search: {error.get('info', error)}")
        hits = (data.get("query") or {}).get("search")
        if not isinstance(hits, list):
            raise ServiceError("Wikipedia's reply has no search results section.")
        return [
            SearchResult(
                title=str(hit["title"]),
                url=self.article_url(str(hit["title"])),
                snippet=strip_tags(str(hit.get("snippet", ""))),
            )
            for hit in hits[:limit]
            if isinstance(hit, dict) and hit.get("title")
        ]

    def summary(self, title: str) -> dict[str, Any] | None:
        """The REST API's summary of the article (`None` when there is no such article).

        Redirects (an article's old or alternative title) are followed.
        """
        path = urllib.parse.quote(title.strip().replace(" ", "_"), safe="")
        data = get_json(
            f"{self.base}/api/rest_v1/page/summary/{path}",
            {},
            service="Wikipedia",
            ok_statuses=(404,),
        )
        if not isinstance(data, dict):
            raise ServiceError("Wikipedia sent a summary that is not a JSON object.")
        if "extract" not in data:
            return None  # the 404 body: {"type": ".../errors/not_found", "title": "Not found."}
        return data


_lock = threading.Lock()
_provider: SearchProvider = WikipediaSearch()


def set_search_provider(provider: SearchProvider) -> SearchProvider:
    """Make `search` use `provider` from now on; returns the one it replaces."""
    global _provider  # the setting is module-wide on purpose, like logging's
    with _lock:
        previous, _provider = _provider, provider
    return previous


def get_search_provider() -> SearchProvider:
    """The provider `search` uses now."""
    return _provider


@tool(name="search")
def web_search(query: str, limit: Annotated[int, Field(ge=1, le=MAX_RESULTS)] = 5) -> str:
    """Search the web (Wikipedia by default) and list the best matching pages.

    Each result has a title, its URL and a snippet of the matching text.

    Args:
        query: What to look for, in a few keywords.
        limit: How many results to list, from 1 to 20.
    """
    query = " ".join(query.split())
    if not query:
        raise ToolRetry("The query is empty; give a few keywords to search for.")
    if len(query) > MAX_QUERY:
        raise ToolRetry(f"The query is too long (at most {MAX_QUERY} characters); shorten it.")
    if not 1 <= limit <= MAX_RESULTS:
        raise ToolRetry(f"limit must be from 1 to {MAX_RESULTS}, not {limit}.")
    results = get_search_provider().search(query, limit)[:limit]
    if not results:
        return f"No results for {query!r}. Try fewer or different keywords."
    lines = []
    for number, result in enumerate(results, 1):
        lines.append(f"{number}. {result.title} <{result.url}>")
        if result.snippet:
            lines.append(f"   {result.snippet}")
    return "\n".join(lines)


@tool
def wikipedia_summary(title: str) -> str:
    """Get the introduction of an English Wikipedia article.

    Args:
        title: The article's exact title, e.g. "Alan Turing" (use search to find it).
    """
    title = " ".join(title.split())
    if not title:
        raise ToolRetry("The title is empty; give an article title such as 'Alan Turing'.")
    if len(title) > 255:
        raise ToolRetry("The title is too long: Wikipedia titles have at most 255 characters.")
    wikipedia = WikipediaSearch()
    data = wikipedia.summary(title)
    if data is None:
        raise ToolRetry(
            f"Wikipedia has no article titled {title!r}. Titles must match exactly; use "
            "search to find the right one."
        )
    name = str(data.get("title") or title)
    url = (((data.get("content_urls") or {}).get("desktop") or {}).get("page")) or (
        wikipedia.article_url(name)
    )
    lines = [f"{name} <{url}>"]
    if data.get("description"):
        lines.append(f"({data['description']})")
    lines.append(str(data.get("extract") or "(This article has no introduction.)"))
    if data.get("type") == "disambiguation":
        lines.append("This is a disambiguation page: search for a more specific title.")
    return "\n".join(lines)
