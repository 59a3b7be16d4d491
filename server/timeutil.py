"""Times: device times keep their UTC offset; stored comparisons use UTC; tallies use local days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def parse_time(value: str) -> datetime | None:
    """An ISO 8601 time WITH its UTC offset, or None (a time without offset is ambiguous)."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None
    return parsed


def utc_text(moment: datetime) -> str:
    """A fixed-width UTC text that sorts in time order: 2026-11-26T03:04:05.000006Z.
    (isoformat, not strftime: a sixth of a synced record's Python time went to strftime.)"""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def now_utc() -> datetime:
    return datetime.now(UTC)


def local_day(moment: datetime, zone: str) -> str:
    """The jurisdiction's calendar day of a moment (Asia/Shanghai by default), never a UTC day."""
    return moment.astimezone(ZoneInfo(zone)).date().isoformat()


def today(zone: str) -> date:
    return now_utc().astimezone(ZoneInfo(zone)).date()
