"""`search` (Python name `web_search`) and `wikipedia_summary` against Wikipedia-shaped replies."""

import httpx
import pytest
from agentkit_tools import ServiceError
from agentkit_tools.search import (
    SearchResult,
    WikipediaSearch,
    get_search_provider,
    set_search_provider,
    strip_tags,
    web_search,
    wikipedia_summary,
)

from agentkit import ArgumentError, ToolRetry

API = "https://en.wikipedia.org/w/api.php"
SUMMARY = "https://en.wikipedia.org/api/rest_v1/page/summary/"

SEARCH_REPLY = {
    "batchcomplete": True,
    "continue": {"sroffset": 2, "continue": "-||"},
    "query": {
        "searchinfo": {"totalhits": 4127},
        "search": [
            {
                "ns": 0,
                "title": "Alan Turing",
                "pageid": 1208,
                "snippet": '<span class="searchmatch">Alan</span> Mathison '
                '<span class="searchmatch">Turing</span> (23 June 1912 \u2013 7 June '
                "1954) was an English mathematician, computer scientist, logician",
            },
            {
                "ns": 0,
                "title": "Turing test",
                "pageid": 21391751,
                "snippet": 'The <span class="searchmatch">Turing</span> test, originally '
                'called the imitation game by Alan <span class="searchmatch">Turing</span> '
                "in 1949, is a test of a machine&#039;s ability &amp; &quot;intelligence&quot;",
            },
        ],
    },
}

SUMMARY_REPLY = {
    "type": "standard",
    "title": "Alan Turing",
    "displaytitle": '<span class="mw-page-title-main">Alan Turing</span>',
    "namespace": {"id": 0, "text": ""},
    "wikibase_item": "Q7251",
    "titles": {"canonical": "Alan_Turing", "normalized": "Alan Turing"},
    "pageid": 1208,
    "lang": "en",
    "dir": "ltr",
    "revision": "1195171035",
    "description": "English computer scientist (1912\u20131954)",
    "content_urls": {
        "desktop": {
            "page": "https://en.wikipedia.org/wiki/Alan_Turing",
            "revisions": "https://en.wikipedia.org/wiki/Alan_Turing?action=history",
        },
        "mobile": {"page": "https://en.m.wikipedia.org/wiki/Alan_Turing"},
    },
    "extract": "Alan Mathison Turing was an English mathematician, computer scientist, "
    "logician, cryptanalyst, philosopher and theoretical biologist.",
}

NOT_FOUND = {
    "type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
    "title": "Not found.",
    "method": "get",
    "detail": "Page or revision not found.",
    "uri": "/en.wikipedia.org/v1/page/summary/Alan_Turning",
}


def test_search_lists_titles_urls_and_plain_snippets(web):
    """Hits come back numbered, with their URL and the snippet stripped of HTML."""
    web.json(API, SEARCH_REPLY)
    assert web_search("alan turing", limit=2) == (
        "1. Alan Turing <https://en.wikipedia.org/wiki/Alan_Turing>\n"
        "   Alan Mathison Turing (23 June 1912 \u2013 7 June 1954) was an English "
        "mathematician, computer scientist, logician\n"
        "2. Turing test <https://en.wikipedia.org/wiki/Turing_test>\n"
        "   The Turing test, originally called the imitation game by Alan Turing in 1949, is a "
        'test of a machine\'s ability & "intelligence"'
    )
    params = web.params()
    assert params["action"] == "query"
    assert params["list"] == "search"
    assert params["srsearch"] == "alan turing"
    assert params["srlimit"] == "2"
    assert params["format"] == "json"


def test_the_model_sees_the_tool_as_search():
    """The Python name leaves the module visible; the model's name is `search`."""
    assert web_search.name == "search"
    assert web_search.parameters["properties"]["limit"] == {
        "default": 5,
        "description": "How many results to list, from 1 to 20.",
        "maximum": 20,
        "minimum": 1,
        "type": "integer",
    }


def test_no_results_is_an_answer(web):
    """Nothing found is said plainly, with a hint."""
    web.json(API, {"batchcomplete": True, "query": {"searchinfo": {"totalhits": 0}, "search": []}})
    assert web_search("qwzxv plorp") == (
        "No results for 'qwzxv plorp'. Try fewer or different keywords."
    )


@pytest.mark.parametrize(("query", "match"), [("  ", "empty"), ("x" * 301, "too long")])
def test_bad_queries_ask_for_a_retry(web, query, match):
    with pytest.raises(ToolRetry, match=match):
        web_search(query)
    assert web.requests == []


def test_limit_is_bounded(web):
    with pytest.raises(ArgumentError, match="'limit'"):
        web_search.validate({"query": "x", "limit": 50})
    with pytest.raises(ToolRetry, match="limit must be from 1 to 20"):
        web_search("x", limit=0)


def test_api_errors_are_service_errors(web):
    """MediaWiki reports errors with status 200 and an `error` object."""
    web.json(
        API,
        {
            "error": {
                "code": "srsearch-text-disabled",
                "info": "text search is disabled.",
                "*": "See https://en.wikipedia.org/w/api.php for API usage.",
            },
            "servedby": "mw1234",
        },
    )
    with pytest.raises(ServiceError, match="Wikipedia refused the search: text search is"):
        web_search("x")


def test_server_errors_are_service_errors(web):
    web.route(API, lambda request: httpx.Response(503, text="<html>busy</html>"))
    with pytest.raises(ServiceError, match="Wikipedia answered HTTP 503 Service Unavailable"):
        web_search("x")


def test_the_provider_is_pluggable(web):
    """`set_search_provider` swaps the provider and returns the old one."""

    class Catalog:
        def __init__(self):
            self.asked = []

        def search(self, query, limit):
            self.asked.append((query, limit))
            return [SearchResult(f"Item {i}", f"https://shop.example/{i}", "") for i in range(9)]

    catalog = Catalog()
    previous = set_search_provider(catalog)
    try:
        assert get_search_provider() is catalog
        assert web_search("  red   shoes ", limit=2) == (
            "1. Item 0 <https://shop.example/0>\n2. Item 1 <https://shop.example/1>"
        )
    finally:
        assert set_search_provider(previous) is catalog
    assert catalog.asked == [("red shoes", 2)]
    assert isinstance(get_search_provider(), WikipediaSearch)
    assert web.requests == []


def test_other_languages():
    assert (
        WikipediaSearch("de").article_url("Straße") == "https://de.wikipedia.org/wiki/Stra%C3%9Fe"
    )
    with pytest.raises(ValueError, match="language"):
        WikipediaSearch("en.evil.example/")


def test_strip_tags():
    assert strip_tags("<b>a</b>\n  <i>b</i> &lt;c&gt;") == "a b <c>"


def test_summary(web):
    """The summary names the article, its URL, its short description and the extract."""
    web.json(SUMMARY + "Alan_Turing", SUMMARY_REPLY)
    assert wikipedia_summary("Alan Turing") == (
        "Alan Turing <https://en.wikipedia.org/wiki/Alan_Turing>\n"
        "(English computer scientist (1912\u20131954))\n"
        "Alan Mathison Turing was an English mathematician, computer scientist, logician, "
        "cryptanalyst, philosopher and theoretical biologist."
    )


def test_summary_titles_are_escaped(web):
    """A slash in a title stays part of the title."""
    web.json(SUMMARY + "AC%2FDC", {**SUMMARY_REPLY, "title": "AC/DC", "description": ""})
    assert wikipedia_summary("AC/DC").startswith("AC/DC <")
    assert web.last.url.raw_path == b"/api/rest_v1/page/summary/AC%2FDC"


def test_summary_follows_redirects(web):
    """A redirect page's summary is its target's."""
    web.route(
        SUMMARY + "Turing",
        httpx.Response(302, headers={"location": "Alan_Turing"}),
    )
    web.json(SUMMARY + "Alan_Turing", SUMMARY_REPLY)
    assert wikipedia_summary("Turing").startswith("Alan Turing <")


def test_missing_article_asks_the_model_to_search(web):
    web.json(SUMMARY + "Alan_Turning", NOT_FOUND, status=404)
    with pytest.raises(ToolRetry, match=r"no article titled 'Alan Turning'.*use search"):
        wikipedia_summary("Alan Turning")


def test_disambiguation_pages_say_so(web):
    web.json(
        SUMMARY + "Mercury",
        {
            **SUMMARY_REPLY,
            "type": "disambiguation",
            "title": "Mercury",
            "description": "Topics referred to by the same term",
            "extract": "Mercury commonly refers to:",
        },
    )
    assert wikipedia_summary("Mercury").endswith(
        "Mercury commonly refers to:\n"
        "This is a disambiguation page: search for a more specific title."
    )


@pytest.mark.parametrize(("title", "match"), [(" ", "empty"), ("x" * 256, "too long")])
def test_bad_titles(web, title, match):
    with pytest.raises(ToolRetry, match=match):
        wikipedia_summary(title)
    assert web.requests == []
