"""`current_time`, `date_add` and `days_between`: what models cannot know or easily count.

Examples:
    >>> date_add("2024-02-27", days=3)
    '2024-03-01 (Friday)'
    >>> days_between("2024-01-01", "2024-12-25")
    359
"""

from __future__ import annotations

import datetime
import re
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


_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+){0,3}")
_MAX_ZONE_NAME = 64  # the longest IANA name, America/Argentina/ComodRivadavia, has 32


def _zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone `name` names, or `ToolRetry`: a name is checked before any file is read.

    `zoneinfo` reads the name as a path under the zone database, so a folder ("America"),
    a very long name or a stray file there fails with an `OSError` carrying the path.
    """
    name = name.strip()
    if name.upper() in ("UTC", "GMT", "Z"):
        name = "UTC"
    if len(name) <= _MAX_ZONE_NAME and _ZONE_NAME.fullmatch(name):
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
            pass
    shown = name if len(name) <= 60 else name[:60] + "..."
    raise ToolRetry(
        f"Unknown time zone {shown!r}. Use an IANA name such as 'Europe/Paris', "
        "'America/New_York' or 'Asia/Tokyo', or 'UTC'."
    )


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
