"""Demo stand-ins for the web services the ready tools use: weather and search, offline.

`DemoServices` is an httpx transport that answers the requests `agentkit_tools` sends to
Open-Meteo (geocoding and forecast) and to Wikipedia (search and page summaries) with
deterministic demo data in each service's own JSON shape, so the tools run their real code
path (parsing, place matching, formatting) without a network. Every answer is labelled: place
names and texts carry "(demo data)". Any other host fails as an unreachable host would.

The data is made up but plausible: a few well-known places have fixed weather (Boston is
22 °C and clear), any other place name gets coordinates and weather derived from its name.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["DEMO_LABEL", "DemoServices"]

DEMO_LABEL = "(demo data)"
"""What every demo answer carries, so that nobody mistakes it for a real one."""

_DAY = "2025-06-02"  # a fixed date: the same answer on every run


@dataclass(frozen=True)
class _Place:
    name: str
    latitude: float
    longitude: float
    admin1: str | None
    country: str | None
    country_code: str | None
    timezone: str
    celsius: float  # the current temperature
    code: int  # the current WMO weather code
    wind: float  # km/h


_PLACES = {
    place.name.casefold(): place
    for place in (
        _Place("Boston", 42.35843, -71.05977, "Massachusetts", "United States", "US",
               "America/New_York", 22.0, 0, 11.2),
        _Place("New York", 40.71427, -74.00597, "New York", "United States", "US",
               "America/New_York", 24.0, 2, 14.8),
        _Place("San Francisco", 37.77493, -122.41942, "California", "United States", "US",
               "America/Los_Angeles", 17.0, 45, 19.4),
        _Place("London", 51.50853, -0.12574, "England", "United Kingdom", "GB",
               "Europe/London", 16.0, 61, 20.5),
        _Place("Paris", 48.85341, 2.3488, "Île-de-France", "France", "FR",
               "Europe/Paris", 19.0, 1, 9.7),
        _Place("Berlin", 52.52437, 13.41053, "Land Berlin", "Germany", "DE",
               "Europe/Berlin", 18.0, 3, 12.1),
        _Place("Oslo", 59.91273, 10.74609, "Oslo", "Norway", "NO",
               "Europe/Oslo", 12.0, 80, 15.3),
        _Place("Tokyo", 35.6895, 139.69171, "Tokyo", "Japan", "JP",
               "Asia/Tokyo", 26.0, 2, 8.4),
        _Place("Sydney", -33.86785, 151.20732, "New South Wales", "Australia", "AU",
               "Australia/Sydney", 14.0, 63, 22.6),
    )
}  # fmt: skip

_CODES = (0, 1, 2, 3, 45, 61, 63, 71, 80, 95)


def _number(text: str, salt: str) -> int:
    """A stable number from a text: the same name always gets the same weather."""
    return int.from_bytes(hashlib.sha256(f"{salt}:{text}".encode()).digest()[:4], "big")


def _place(name: str) -> _Place | None:
    """The demo place a name means; made up from the name if it is not a known one."""
    key = " ".join(name.split()).casefold()
    if key in _PLACES:
        return _PLACES[key]
    if not re.fullmatch(r"[^\W\d_][\w' .-]{0,80}", key):
        return None  # nothing a geocoder would find
    n = _number(key, "place")
    return _weather(
        " ".join(w.capitalize() for w in key.split()),
        round((n % 12000) / 100 - 60, 5),
        round((n // 12000 % 36000) / 100 - 180, 5),
    )


def _weather(name: str, latitude: float, longitude: float) -> _Place:
    """A known place at these coordinates, or made-up weather that depends on them only."""
    for place in _PLACES.values():
        if abs(place.latitude - latitude) < 1e-3 and abs(place.longitude - longitude) < 1e-3:
            return place
    n = _number(f"{latitude:.3f},{longitude:.3f}", "weather")
    return _Place(
        name=name,
        latitude=latitude,
        longitude=longitude,
        admin1=None,
        country=None,
        country_code=None,
        timezone="GMT",
        celsius=float(n % 35 - 5),
        code=_CODES[n // 7 % len(_CODES)],
        wind=round(n % 300 / 10, 1),
    )


# --------------------------------------------------------------------------- Open-Meteo


def _geocode(params: Mapping[str, str]) -> tuple[int, Any]:
    name = params.get("name", "")
    if len(name) < 2:
        return 200, {"generationtime_ms": 0.1}  # Open-Meteo: no "results" for short names
    place = _place(name)
    if place is None:
        return 200, {"generationtime_ms": 0.1}
    result: dict[str, Any] = {
        "id": _number(place.name, "id") % 10_000_000,
        "name": f"{place.name} {DEMO_LABEL}",
        "latitude": place.latitude,
        "longitude": place.longitude,
        "timezone": place.timezone,
    }
    for key in ("admin1", "country", "country_code"):
        if getattr(place, key):
            result[key] = getattr(place, key)
    return 200, {"results": [result], "generationtime_ms": 0.1}


def _forecast(params: Mapping[str, str]) -> tuple[int, Any]:
    try:
        latitude, longitude = float(params["latitude"]), float(params["longitude"])
        days = int(params.get("forecast_days", "7"))
    except (KeyError, ValueError):
        return 400, {"error": True, "reason": "Latitude and longitude must be numbers"}
    if not 0 <= days <= 16:
        return 400, {"error": True, "reason": "Forecast days is invalid. Allowed range 0 to 16."}
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return 400, {"error": True, "reason": "Latitude must be in range of -90 to 90°."}
    place = _weather("", latitude, longitude)
    fahrenheit = params.get("temperature_unit") == "fahrenheit"
    mph = params.get("wind_speed_unit") == "mph"
    inch = params.get("precipitation_unit") == "inch"

    def temperature(celsius: float) -> float:
        return round(celsius * 9 / 5 + 32, 1) if fahrenheit else round(celsius, 1)

    units = {
        "time": "iso8601",
        "temperature_2m": "°F" if fahrenheit else "°C",
        "temperature_2m_max": "°F" if fahrenheit else "°C",
        "temperature_2m_min": "°F" if fahrenheit else "°C",
        "weather_code": "wmo code",
        "wind_speed_10m": "mp/h" if mph else "km/h",
        "precipitation_sum": "inch" if inch else "mm",
        "precipitation_probability_max": "%",
    }
    body: dict[str, Any] = {
        "latitude": place.latitude,
        "longitude": place.longitude,
        "timezone": place.timezone,
        "elevation": 10.0,
    }
    current = [f for f in params.get("current", "").split(",") if f]
    if current:
        values = {
            "temperature_2m": temperature(place.celsius),
            "weather_code": place.code,
            "wind_speed_10m": round(place.wind / 1.609, 1) if mph else place.wind,
        }
        body["current_units"] = {"time": "iso8601", **{f: units.get(f, "") for f in current}}
        body["current"] = {"time": f"{_DAY}T12:00", **{f: values.get(f) for f in current}}
    daily = [f for f in params.get("daily", "").split(",") if f]
    if daily:
        columns: dict[str, list[Any]] = {"time": [f"2025-06-{2 + d:02d}" for d in range(days)]}
        for field in daily:
            column = []
            for day in range(days):
                n = _number(f"{place.name}:{day}", "day")
                rain = n % 9 == 0
                column.append(
                    {
                        "weather_code": 61 if rain else place.code if day == 0 else n % 4,
                        "temperature_2m_max": temperature(place.celsius + 3 + n % 4),
                        "temperature_2m_min": temperature(place.celsius - 6 - n % 3),
                        "precipitation_sum": (round(n % 80 / (254 if inch else 10), 2))
                        if rain
                        else 0.0,
                        "precipitation_probability_max": 70 + n % 30 if rain else n % 20,
                    }.get(field)
                )
            columns[field] = column
        body["daily_units"] = {"time": "iso8601", **{f: units.get(f, "") for f in daily}}
        body["daily"] = columns
    return 200, body


# --------------------------------------------------------------------------- Wikipedia

_ARTICLES = {
    "Python (programming language)": (
        "General-purpose programming language",
        "Python is a high-level, general-purpose programming language. It was designed by "
        "Guido van Rossum, who began working on it in the late 1980s; it was first released "
        "in 1991. Its design philosophy emphasizes code readability.",
    ),
    "Guido van Rossum": (
        "Dutch programmer, creator of Python",
        "Guido van Rossum is a Dutch programmer who designed and created the Python "
        "programming language. He was Python's lead developer, its benevolent dictator for "
        "life, until 2018.",
    ),
    "Boston": (
        "Capital city of Massachusetts, United States",
        "Boston is the capital and most populous city of Massachusetts, in the United States. "
        "It is one of the oldest cities in the country, founded in 1630.",
    ),
    "Alan Turing": (
        "English mathematician and computer scientist",
        "Alan Turing was an English mathematician, computer scientist and logician. He "
        "formalised the concepts of algorithm and computation with the Turing machine.",
    ),
    "Ada Lovelace": (
        "English mathematician and writer",
        "Ada Lovelace was an English mathematician and writer, known for her work on Charles "
        "Babbage's Analytical Engine. She published the first algorithm meant for a machine.",
    ),
    "Weather forecasting": (
        "Prediction of the state of the atmosphere",
        "Weather forecasting is the use of science and technology to predict the state of the "
        "atmosphere at a future time and place.",
    ),
}

_STOP = {"the", "who", "what", "which", "and", "for", "web", "search", "about", "was", "did"}


def _words(text: str) -> set[str]:
    words = {w for w in re.split(r"[^\w]+", text.casefold()) if len(w) > 2}
    return words - _STOP


def _search(params: Mapping[str, str]) -> tuple[int, Any]:
    query = params.get("srsearch", "")
    if not query.strip():
        return 200, {
            "error": {"code": "nosrsearch", "info": 'The "srsearch" parameter must be set.'}
        }
    try:
        limit = max(1, min(int(params.get("srlimit", "10")), 500))
    except ValueError:
        limit = 10
    wanted = _words(query)
    scored = []
    for title, (_, extract) in _ARTICLES.items():
        score = 3 * len(wanted & _words(title)) + len(wanted & _words(extract))
        if score:
            scored.append((-score, title))
    hits = []
    for _, title in sorted(scored)[:limit]:
        sentence = _ARTICLES[title][1].split(". ")[0]
        snippet = html.escape(sentence)
        for word in sorted(wanted, key=len, reverse=True):
            snippet = re.sub(
                rf"\b({re.escape(word)})\b",
                r'<span class="searchmatch">\1</span>',
                snippet,
                flags=re.IGNORECASE,
            )
        hits.append(
            {
                "ns": 0,
                "title": title,
                "pageid": _number(title, "page") % 10_000_000,
                "snippet": f"{snippet} {DEMO_LABEL}",
            }
        )
    return 200, {
        "batchcomplete": True,
        "query": {"searchinfo": {"totalhits": len(scored)}, "search": hits},
    }


def _summary(host: str, raw_title: str) -> tuple[int, Any]:
    title = urllib.parse.unquote(raw_title).replace("_", " ")
    match = next((t for t in _ARTICLES if t.casefold() == title.casefold()), None)
    if match is None:
        return 404, {
            "type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
            "title": "Not found.",
            "method": "get",
            "detail": "Page or revision not found.",
            "uri": f"/en.wikipedia.org/v1/page/summary/{raw_title}",
        }
    description, extract = _ARTICLES[match]
    page = f"https://{host}/wiki/{urllib.parse.quote(match.replace(' ', '_'), safe='')}"
    return 200, {
        "type": "standard",
        "title": match,
        "description": description,
        "extract": f"{extract} {DEMO_LABEL}",
        "content_urls": {"desktop": {"page": page}},
    }


# --------------------------------------------------------------------------- the transport


class DemoServices(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Open-Meteo and Wikipedia, answered from demo data: an httpx transport.

    Route the ready tools through it with `agentkit_tools.use_transport(DemoServices())`
    (what `agentkit.testing.offline()` and `agentkit run --offline` do). A request to any
    other host fails with `httpx.ConnectError`, as it would without a network.

    Examples:
        >>> client = httpx.Client(transport=DemoServices())
        >>> place = client.get("https://geocoding-api.open-meteo.com/v1/search",
        ...                    params={"name": "Boston"}).json()["results"][0]
        >>> place["name"], place["country"]
        ('Boston (demo data)', 'United States')
    """

    def __init__(self) -> None:
        self.requests: list[httpx.URL] = []
        """Every URL asked for, in order (also those that failed)."""

    def _answer(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        self.requests.append(url)
        params = dict(url.params)
        path = url.path
        if request.method != "GET":
            status, body = 405, {"error": True, "reason": f"Method {request.method} not allowed"}
        elif url.host == "geocoding-api.open-meteo.com" and path == "/v1/search":
            status, body = _geocode(params)
        elif url.host == "api.open-meteo.com" and path == "/v1/forecast":
            status, body = _forecast(params)
        elif url.host.endswith(".wikipedia.org") and path == "/w/api.php":
            status, body = _search(params)
        elif url.host.endswith(".wikipedia.org") and path.startswith("/api/rest_v1/page/summary/"):
            status, body = _summary(url.host, url.raw_path.decode().rsplit("/", 1)[-1])
        elif url.host in ("geocoding-api.open-meteo.com", "api.open-meteo.com") or (
            url.host.endswith(".wikipedia.org")
        ):
            status, body = 404, {"error": True, "reason": f"No demo data for {path}"}
        else:
            raise httpx.ConnectError(
                f"offline: {url.host} is not reachable (no network; only the demo weather and "
                "search services answer)",
                request=request,
            )
        return httpx.Response(
            status,
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={"content-type": "application/json; charset=utf-8"},
            request=request,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer a sync client's request."""
        return self._answer(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer an async client's request."""
        return self._answer(request)
