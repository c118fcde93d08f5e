"""`current_time`, `date_add` and `days_between`."""

import datetime
import sys

import pytest
from agentkit_tools import clock
from agentkit_tools.clock import current_time, date_add, days_between

from agentkit import ToolRetry

NOW = datetime.datetime(2024, 7, 1, 12, 30, 5, tzinfo=datetime.timezone.utc)


@pytest.fixture
def frozen(monkeypatch):
    """The clock stands at 2024-07-01 12:30:05 UTC."""
    monkeypatch.setattr(clock, "_now", lambda zone: NOW.astimezone(zone))


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("UTC", "2024-07-01 12:30:05 UTC (UTC+00:00), Monday, in UTC"),
        ("utc", "2024-07-01 12:30:05 UTC (UTC+00:00), Monday, in UTC"),
        ("Europe/Paris", "2024-07-01 14:30:05 CEST (UTC+02:00), Monday, in Europe/Paris"),
        (
            "America/New_York",
            "2024-07-01 08:30:05 EDT (UTC-04:00), Monday, in America/New_York",
        ),
        ("Asia/Kolkata", "2024-07-01 18:00:05 IST (UTC+05:30), Monday, in Asia/Kolkata"),
        (
            "Pacific/Kiritimati",
            "2024-07-02 02:30:05 +14 (UTC+14:00), Tuesday, in Pacific/Kiritimati",
        ),
    ],
)
def test_current_time(frozen, zone, expected):
    assert current_time(zone) == expected


def test_current_time_defaults_to_utc_and_reads_the_real_clock():
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    shown = current_time()
    after = datetime.datetime.now(datetime.timezone.utc)
    moment = datetime.datetime.strptime(shown[:19], "%Y-%m-%d %H:%M:%S").replace(
        tzinfo=datetime.timezone.utc
    )
    assert before <= moment <= after
    assert shown.endswith(", in UTC")


@pytest.mark.parametrize(
    "zone",
    [
        "Mars/Olympus_Mons", "CEST", "", "../../etc/passwd", "/etc/localtime",
        "America",  # a folder of the zone database
        "Europe/",
        "a" * 300,  # longer than a file name may be
        "Europe/" * 60,
        "zone.tab", "tzdata.zi", "leapseconds",  # files of the database that are no zones
        "Europe/Paris\x00", "\ud800", "Europe\\Paris", "Europe/../Asia/Tokyo",
    ],
)  # fmt: skip
def test_unknown_time_zones_ask_for_a_retry_with_an_example(zone):
    """Any bad name is a clean refusal, never an OSError with a path of the zone database."""
    with pytest.raises(ToolRetry, match=r"Unknown time zone .* such as 'Europe/Paris'") as caught:
        current_time(zone)
    for leak in ("site-packages", "zoneinfo", "Errno", sys.prefix):
        assert leak not in caught.value.message
    assert len(caught.value.message) < 250


@pytest.mark.parametrize(
    ("date", "days", "weeks", "expected"),
    [
        ("2024-02-27", 3, 0, "2024-03-01 (Friday)"),  # a leap year
        ("2023-02-27", 3, 0, "2023-03-02 (Thursday)"),
        ("2024-05-01", 0, 2, "2024-05-15 (Wednesday)"),
        ("2024-05-01", -1, -1, "2024-04-23 (Tuesday)"),
        ("2024-05-01", 0, 0, "2024-05-01 (Wednesday)"),
        (" 2024-12-31 ", 1, 0, "2025-01-01 (Wednesday)"),
    ],
)
def test_date_add(date, days, weeks, expected):
    assert date_add(date, days=days, weeks=weeks) == expected


def test_today_is_the_utc_date(frozen):
    assert date_add("today", days=30) == "2024-07-31 (Wednesday)"
    assert days_between("today", "2024-12-25") == 177
    assert days_between("2024-12-25", "Today") == -177


def test_days_between():
    assert days_between("2024-01-01", "2024-12-31") == 365
    assert days_between("2024-03-01", "2024-02-01") == -29
    assert days_between("2024-03-01", "2024-03-01") == 0
    assert days_between.validate('{"start": "2024-01-01", "end": "2024-02-01"}') == {
        "start": "2024-01-01",
        "end": "2024-02-01",
    }


@pytest.mark.parametrize("text", ["next tuesday", "01/05/2024", "2024-13-01", "2024-02-30", ""])
def test_bad_dates_ask_for_a_retry(text):
    with pytest.raises(ToolRetry, match="must be a date written YYYY-MM-DD"):
        date_add(text, days=1)
    with pytest.raises(ToolRetry, match=r"^start must be a date"):
        days_between(text, "2024-01-01")
    with pytest.raises(ToolRetry, match=r"^end must be a date"):
        days_between("2024-01-01", text)


@pytest.mark.parametrize(
    ("date", "days"), [("9999-12-31", 1), ("0001-01-01", -1), ("2024-01-01", 10**12)]
)
def test_dates_beyond_the_calendar(date, days):
    with pytest.raises(ToolRetry, match="outside the years 1 to 9999"):
        date_add(date, days=days)
