"""Weather now and for the coming days, from Open-Meteo (free, no key needed).

A place name is looked up with Open-Meteo's geocoding API, then its weather with the forecast
API. "City, Region" and "City, Country" narrow the look-up ("Paris, Texas", "Paris, FR",
"Boston, MA"); the answer always names the place it found, so the model can tell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from agentkit import ToolRetry, tool

from ._http import ServiceError, get_json

__all__ = [
    "FORECAST_URL",
    "GEOCODING_URL",
    "WMO_CODES",
    "describe_weather_code",
    "get_current_weather",
    "get_forecast",
]

GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"

Unit = Literal["celsius", "fahrenheit"]

WMO_CODES: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "depositing rime fog",
    51: "light drizzle",
    53: "moderate drizzle",
    55: "dense drizzle",
    56: "light freezing drizzle",
    57: "dense freezing drizzle",
    61: "slight rain",
    63: "moderate rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "heavy freezing rain",
    71: "slight snowfall",
    73: "moderate snowfall",
    75: "heavy snowfall",
    77: "snow grains",
    80: "slight rain showers",
    81: "moderate rain showers",
    82: "violent rain showers",
    85: "slight snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with slight hail",
    99: "thunderstorm with heavy hail",
}
"""WMO weather interpretation codes, in the words of Open-Meteo's documentation."""

_US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip
"""US state abbreviations, so that the classic "Boston, MA" finds Massachusetts."""

_COUNTRY_ALIASES = {"usa": "us", "america": "us", "uk": "gb", "england": "gb", "britain": "gb"}

_MAX_LOCATION = 200


@dataclass(frozen=True)
class _Place:
    name: str
    latitude: float
    longitude: float


def describe_weather_code(code: int | None) -> str:
    """A WMO weather code in words.

    Examples:
        >>> describe_weather_code(3), describe_weather_code(63), describe_weather_code(42)
        ('overcast', 'moderate rain', 'unknown conditions (WMO code 42)')
    """
    if code is None:
        return "unknown conditions"
    return WMO_CODES.get(code, f"unknown conditions (WMO code {code})")


@tool
def get_current_weather(location: str, unit: Unit = "celsius") -> str:
    """Get the current weather in a given location.

    Args:
        location: The city, with its region or country if needed, e.g. "Boston, MA".
        unit: Temperature unit.
    """
    place = _geocode(location)
    data = _forecast(
        place, unit, current="temperature_2m,weather_code,wind_speed_10m", forecast_days=1
    )
    current, units = _section(data, "current"), _section(data, "current_units")
    return (
        f"{place.name}: {_amount(current.get('temperature_2m'), units.get('temperature_2m'))}, "
        f"{describe_weather_code(current.get('weather_code'))}, wind "
        f"{_amount(current.get('wind_speed_10m'), units.get('wind_speed_10m'), ' ')}"
        f" (observed {current.get('time', 'recently')} local time)."
    )


@tool
def get_forecast(
    location: str,
    days: Annotated[int, Field(ge=1, le=7)] = 3,
    unit: Unit = "celsius",
) -> str:
    """Get the daily weather forecast for a location, starting today.

    Args:
        location: The city, with its region or country if needed, e.g. "Boston, MA".
        days: How many days to forecast, from 1 to 7.
        unit: Temperature unit.
    """
    if not 1 <= days <= 7:
        raise ToolRetry(f"days must be from 1 to 7, not {days}.")
    place = _geocode(location)
    data = _forecast(
        place,
        unit,
        daily="weather_code,temperature_2m_max,temperature_2m_min,"
        "precipitation_sum,precipitation_probability_max",
        forecast_days=days,
    )
    daily, units = _section(data, "daily"), _section(data, "daily_units")
    dates = daily.get("time")
    if not isinstance(dates, list) or not dates:
        raise ServiceError("Open-Meteo sent a forecast without days.")

    def value(name: str, day: int) -> Any:
        column = daily.get(name)
        return column[day] if isinstance(column, list) and day < len(column) else None

    def amount(name: str, day: int, space: str = "") -> str:
        return _amount(value(name, day), units.get(name), space)

    lines = [f"Forecast for {place.name}:"]
    for day, date in enumerate(dates):
        line = (
            f"{date}: {describe_weather_code(value('weather_code', day))}, "
            f"{amount('temperature_2m_min', day)} to {amount('temperature_2m_max', day)}, "
            f"precipitation {amount('precipitation_sum', day, ' ')}"
        )
        chance = value("precipitation_probability_max", day)
        if chance is not None:
            line += f" ({chance}% chance)"
        lines.append(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------- the two APIs


def _geocode(location: str) -> _Place:
    """The place a name means, or `ToolRetry` when there is none."""
    location = " ".join(location.split())
    if not location.strip(" ,"):
        raise ToolRetry('The location is empty; give a place name such as "Paris, France".')
    if len(location) > _MAX_LOCATION:
        raise ToolRetry(f"The location is too long (at most {_MAX_LOCATION} characters).")
    name, *qualifiers = [part.strip() for part in location.split(",") if part.strip()]
    data = get_json(
        GEOCODING_URL,
        {"name": name, "count": 10 if qualifiers else 1, "language": "en", "format": "json"},
        service="Open-Meteo geocoding",
    )
    results = data.get("results") if isinstance(data, dict) else None
    candidates = [r for r in results or () if isinstance(r, dict) and _has_coordinates(r)]
    if not candidates:
        raise ToolRetry(
            f"No place called {location!r} was found. Check the spelling, or give the city "
            'with its country, such as "City, Country" ("Springfield, United States").'
        )
    chosen = next((r for r in candidates if _matches(r, qualifiers)), candidates[0])
    parts = [chosen.get("name"), chosen.get("admin1"), chosen.get("country")]
    label = ", ".join(dict.fromkeys(str(p) for p in parts if p))
    return _Place(label, float(chosen["latitude"]), float(chosen["longitude"]))


def _has_coordinates(result: Mapping[str, Any]) -> bool:
    return all(isinstance(result.get(key), (int, float)) for key in ("latitude", "longitude"))


def _matches(result: Mapping[str, Any], qualifiers: Sequence[str]) -> bool:
    """Whether every qualifier ("MA", "France", "GB") names the result's region or country."""
    known = {
        str(result[key]).casefold()
        for key in ("admin1", "admin2", "admin3", "country", "country_code")
        if result.get(key)
    }
    for qualifier in qualifiers:
        wanted = qualifier.casefold()
        names = {wanted, _COUNTRY_ALIASES.get(wanted, wanted)}
        if qualifier.upper() in _US_STATES:
            names.add(_US_STATES[qualifier.upper()].casefold())
        if not names & known:
            return False
    return True


def _forecast(place: _Place, unit: Unit, **fields: str | int) -> dict[str, Any]:
    params: dict[str, str | int | float] = {
        "latitude": place.latitude,
        "longitude": place.longitude,
        "timezone": "auto",
        "wind_speed_unit": "mph" if unit == "fahrenheit" else "kmh",
        **fields,
    }
    if unit == "fahrenheit":
        params["temperature_unit"] = "fahrenheit"
        params["precipitation_unit"] = "inch"
    data = get_json(FORECAST_URL, params, service="Open-Meteo")
    if not isinstance(data, dict):
        raise ServiceError("Open-Meteo sent a forecast that is not a JSON object.")
    return data


def _section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ServiceError(f"Open-Meteo's reply has no {key!r} section.")
    return value


def _amount(value: Any, unit: Any, space: str = "") -> str:
    """`12.3°C`, `14.2 km/h`, or `unknown` for a missing value."""
    if not isinstance(value, (int, float)):
        return "unknown"
    return f"{value:g}{space}{unit or ''}"
