"""`get_current_weather` and `get_forecast` against Open-Meteo-shaped replies."""

import httpx
import pytest
from agentkit_tools import ServiceError
from agentkit_tools.weather import describe_weather_code, get_current_weather, get_forecast

from agentkit import Agent, ArgumentError, ChatClient, ToolResult, ToolRetry
from agentkit.testing import Reply, ScriptedGoAPI

GEO = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST = "https://api.open-meteo.com/v1/forecast"

BOSTON_MA = {
    "id": 4930956,
    "name": "Boston",
    "latitude": 42.35843,
    "longitude": -71.05977,
    "elevation": 38.0,
    "feature_code": "PPLA",
    "country_code": "US",
    "admin1_id": 6254926,
    "admin2_id": 4943909,
    "timezone": "America/New_York",
    "population": 617594,
    "postcodes": ["02108", "02109"],
    "country_id": 6252001,
    "country": "United States",
    "admin1": "Massachusetts",
    "admin2": "Suffolk",
}
BOSTON_UK = {
    "id": 2655138,
    "name": "Boston",
    "latitude": 52.97633,
    "longitude": -0.02664,
    "elevation": 9.0,
    "feature_code": "PPL",
    "country_code": "GB",
    "admin1_id": 6269131,
    "timezone": "Europe/London",
    "population": 41340,
    "country_id": 2635167,
    "country": "United Kingdom",
    "admin1": "England",
    "admin2": "Lincolnshire",
}
NO_RESULTS = {"generationtime_ms": 0.71406364}


def current(unit="°C", speed="km/h", **values):
    return {
        "latitude": 42.36,
        "longitude": -71.06,
        "generationtime_ms": 0.04,
        "utc_offset_seconds": -18000,
        "timezone": "America/New_York",
        "timezone_abbreviation": "EST",
        "elevation": 38.0,
        "current_units": {
            "time": "iso8601",
            "interval": "seconds",
            "temperature_2m": unit,
            "weather_code": "wmo code",
            "wind_speed_10m": speed,
        },
        "current": {
            "time": "2024-01-15T10:00",
            "interval": 900,
            "temperature_2m": -2.3,
            "weather_code": 3,
            "wind_speed_10m": 14.2,
            **values,
        },
    }


DAILY = {
    "latitude": 48.86,
    "longitude": 2.3399997,
    "generationtime_ms": 0.1,
    "utc_offset_seconds": 3600,
    "timezone": "Europe/Paris",
    "timezone_abbreviation": "CET",
    "elevation": 43.0,
    "daily_units": {
        "time": "iso8601",
        "weather_code": "wmo code",
        "temperature_2m_max": "°C",
        "temperature_2m_min": "°C",
        "precipitation_sum": "mm",
        "precipitation_probability_max": "%",
    },
    "daily": {
        "time": ["2024-01-15", "2024-01-16"],
        "weather_code": [61, 95],
        "temperature_2m_max": [7.9, 10.2],
        "temperature_2m_min": [2.1, None],
        "precipitation_sum": [3.4, 12.0],
        "precipitation_probability_max": [80, None],
    },
}
PARIS = {
    "id": 2988507,
    "name": "Paris",
    "latitude": 48.85341,
    "longitude": 2.3488,
    "country_code": "FR",
    "country": "France",
    "admin1": "Île-de-France",
    "admin2": "Paris",
}


def test_current_weather(web):
    """The place is looked up, then its weather; the answer names the place found."""
    web.json(GEO, {"results": [BOSTON_MA], "generationtime_ms": 0.5})
    web.json(FORECAST, current())
    assert get_current_weather("Boston") == (
        "Boston, Massachusetts, United States: -2.3°C, overcast, wind 14.2 km/h "
        "(observed 2024-01-15T10:00 local time)."
    )
    geo, forecast = web.params(0), web.params(1)
    assert geo == {"name": "Boston", "count": "1", "language": "en", "format": "json"}
    assert forecast == {
        "latitude": "42.35843",
        "longitude": "-71.05977",
        "timezone": "auto",
        "wind_speed_unit": "kmh",
        "current": "temperature_2m,weather_code,wind_speed_10m",
        "forecast_days": "1",
    }
    assert web.last.headers["user-agent"].startswith("agentkit-tools/")


def test_fahrenheit_is_asked_of_the_service(web):
    """`unit="fahrenheit"` asks Open-Meteo for °F (and mph), and says so."""
    web.json(GEO, {"results": [BOSTON_MA]})
    web.json(FORECAST, current("°F", "mp/h", temperature_2m=27.9, weather_code=0))
    answer = get_current_weather("Boston", unit="fahrenheit")
    assert answer.startswith("Boston, Massachusetts, United States: 27.9°F, clear sky, wind ")
    assert web.params()["temperature_unit"] == "fahrenheit"
    assert web.params()["wind_speed_unit"] == "mph"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("Boston, MA", "Boston, Massachusetts, United States"),
        ("Boston, USA", "Boston, Massachusetts, United States"),
        ("Boston, Massachusetts", "Boston, Massachusetts, United States"),
        ("Boston, UK", "Boston, England, United Kingdom"),
        ("Boston, Lincolnshire, GB", "Boston, England, United Kingdom"),
        ("Boston, Narnia", "Boston, England, United Kingdom"),  # no match: the best hit
    ],
)
def test_region_and_country_narrow_the_lookup(web, location, expected):
    """ "City, Region" and "City, Country" pick the matching place among the hits."""
    web.json(GEO, {"results": [BOSTON_UK, BOSTON_MA]})
    web.json(FORECAST, current())
    assert get_current_weather(location).startswith(expected + ":")
    assert web.params(0)["name"] == "Boston"
    assert web.params(0)["count"] == "10"


def test_unknown_place_asks_the_model_to_retry(web):
    """No geocoding hit: a ToolRetry that suggests "City, Country"."""
    web.json(GEO, NO_RESULTS)
    with pytest.raises(ToolRetry, match="No place called 'Atlantis' was found") as caught:
        get_current_weather("Atlantis")
    assert '"City, Country"' in caught.value.message
    assert len(web.requests) == 1


@pytest.mark.parametrize("location", ["", "   ", " , ", "x" * 201])
def test_blank_or_huge_locations_are_refused_before_any_request(web, location):
    """Nothing is sent for a location that cannot be a place."""
    with pytest.raises(ToolRetry, match=r"location is (empty|too long)"):
        get_current_weather(location)
    assert web.requests == []


def test_forecast(web):
    """One line per day: conditions, low to high, precipitation; missing values say so."""
    web.json(GEO, {"results": [PARIS]})
    web.json(FORECAST, DAILY)
    assert get_forecast("Paris", days=2) == (
        "Forecast for Paris, Île-de-France, France:\n"
        "2024-01-15: slight rain, 2.1°C to 7.9°C, precipitation 3.4 mm (80% chance)\n"
        "2024-01-16: thunderstorm, unknown to 10.2°C, precipitation 12 mm"
    )
    params = web.params()
    assert params["forecast_days"] == "2"
    assert params["daily"] == (
        "weather_code,temperature_2m_max,temperature_2m_min,"
        "precipitation_sum,precipitation_probability_max"
    )
    assert "current" not in params


def test_forecast_days_are_bounded():
    """1 to 7 days: the schema says so, validation enforces it, a direct call too."""
    days = get_forecast.parameters["properties"]["days"]
    assert (days["minimum"], days["maximum"], days["default"]) == (1, 7, 3)
    with pytest.raises(ArgumentError, match="'days'"):
        get_forecast.validate({"location": "Paris", "days": 8})
    with pytest.raises(ToolRetry, match="days must be from 1 to 7"):
        get_forecast("Paris", days=0)


def test_forecast_without_days_is_a_service_error(web):
    """A reply without the `daily` section is the service's fault, not the model's."""
    web.json(GEO, {"results": [PARIS]})
    web.json(FORECAST, {"latitude": 48.86, "longitude": 2.34})
    with pytest.raises(ServiceError, match="no 'daily' section"):
        get_forecast("Paris")


def test_service_errors_carry_the_reason(web):
    """An Open-Meteo error status becomes a ServiceError quoting its `reason`."""
    web.json(GEO, {"results": [BOSTON_MA]})
    web.json(
        FORECAST,
        {"error": True, "reason": "Cannot initialize WeatherVariable from invalid String value"},
        status=400,
    )
    with pytest.raises(ServiceError, match="HTTP 400 Bad Request: Cannot initialize"):
        get_current_weather("Boston")


def test_unreachable_service(web):
    """A connection failure is a ServiceError naming the service."""

    def refuse(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    web.route(GEO, refuse)
    with pytest.raises(ServiceError, match="Open-Meteo geocoding could not be reached: no network"):
        get_current_weather("Boston")


def test_weather_codes():
    """WMO codes in words; an unknown code is named rather than guessed."""
    assert describe_weather_code(0) == "clear sky"
    assert describe_weather_code(99) == "thunderstorm with heavy hail"
    assert describe_weather_code(None) == "unknown conditions"
    assert describe_weather_code(4) == "unknown conditions (WMO code 4)"


def test_in_an_agent_the_model_reads_the_weather_and_the_retry_text(web):
    """Through a real run: the weather text and the ToolRetry text are the calls' results."""
    web.route(
        GEO,
        lambda request: httpx.Response(
            200,
            json={"results": [BOSTON_MA]} if request.url.params["name"] == "Boston" else NO_RESULTS,
        ),
    )
    web.json(FORECAST, current())
    goapi = ScriptedGoAPI(
        [
            Reply.call("get_current_weather", {"location": "Atlantis"}),
            Reply.call("get_current_weather", {"location": "Boston"}),
            Reply.text("It is overcast in Boston."),
        ]
    )
    client = ChatClient(
        api_key="test", base_url="http://goapi.test/v1", http_client=httpx.Client(transport=goapi)
    )
    with Agent("gpt-3.5-turbo-1106", tools=[get_current_weather], client=client) as agent:
        result = agent.run("What is the weather like in Boston?")
    goapi.assert_complete()
    assert result.output == "It is overcast in Boston."
    results = [m for m in result.messages if isinstance(m, ToolResult)]
    assert results[0].content.startswith("No place called 'Atlantis' was found.")
    assert results[1].content.startswith("Boston, Massachusetts, United States: -2.3°C")
