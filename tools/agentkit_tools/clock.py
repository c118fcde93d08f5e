"""`current_time`, `date_add` and `days_between`: what models cannot know or easily count.

Examples:
    >>> date_add("2024-02-27", days=3)
    '2024-03-01 (Friday)'
    >>> days_between("2024-01-01", "2024-12-25")
    359
"""

from __future__ import annotations

import datetime
import zoneinfo

from agentkit import ToolRetry, tool

__all__ = ["current_time", "date_add", "days_between"]


def _now(zone: datetime.tzinfo) -> datetime.datetime:
    """The current time in `zone` (tests replace this)."""
    return datetime.datetime.now(zone)


@tool
def current_time(timezone: str = "UTC") -> str:
    """Get the current date and time in a time zone.

    Args:
        timezone: An IANA time zone name, e.g. "Europe/Paris" or "America/New_York".
    """
    zone = _zone(timezone)
    now = _now(zone)
    offset = now.strftime("%z")
    return (
        f"{now:%Y-%m-%d %H:%M:%S} {now.tzname()} (UTC{offset[:3]}:{offset[3:]}), "
        f"{now:%A}, in {zone.key}"
    )


@tool
def date_add(date: str, days: int = 0, weeks: int = 0) -> str:
    """Add days and weeks to a date (negative numbers go back in time).

    Args:
        date: The date as YYYY-MM-DD, or "today" (in UTC).
        days: Days to add.
        weeks: Weeks to add.
    """
    start = _date(date, "date")
    try:
        result = start + datetime.timedelta(days=days, weeks=weeks)
    except OverflowError:
        raise ToolRetry("The result is outside the years 1 to 9999.") from None
    return f"{result.isoformat()} ({result:%A})"


@tool
def days_between(start: str, end: str) -> int:
    """Count the days from one date to another (negative if the end comes first).

    Args:
        start: The first date, as YYYY-MM-DD, or "today" (in UTC).
        end: The second date, as YYYY-MM-DD, or "today" (in UTC).
    """
    return (_date(end, "end") - _date(start, "start")).days


def _zone(name: str) -> zoneinfo.ZoneInfo:
    name = name.strip()
    if name.upper() in ("UTC", "GMT", "Z"):
        name = "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ToolRetry(
            f"Unknown time zone {name!r}. Use an IANA name such as 'Europe/Paris', "
            "'America/New_York' or 'Asia/Tokyo', or 'UTC'."
        ) from None


def _date(text: str, what: str) -> datetime.date:
    text = text.strip()
    if text.lower() == "today":
        return _now(datetime.timezone.utc).date()
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ToolRetry(
            f"{what} must be a date written YYYY-MM-DD (e.g. '2024-05-01') or 'today', "
            f"not {text[:40]!r}."
        ) from None
