"""Calendar arithmetic relative to the as-of date, shared by every engine."""

from __future__ import annotations

import calendar
import datetime as dt

EPOCH = dt.date(1970, 1, 1)


def shift(day: dt.date, amount: int, unit: str) -> dt.date:
    """`day` moved by `amount` units (negative: back). Months and years keep the day of month,
    clamped to the month's length (2024-03-31 minus 1 month is 2024-02-29)."""
    if unit == "day":
        return _clamp_days(day, amount)
    if unit == "week":
        return _clamp_days(day, 7 * amount)
    months = amount * (12 if unit == "year" else 1)
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    if year < dt.MINYEAR:  # past either end of the calendar: the end itself
        return dt.date.min
    if year > dt.MAXYEAR:
        return dt.date.max
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _clamp_days(day: dt.date, days: int) -> dt.date:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.min if days < 0 else dt.date.max


def window(as_of: dt.date, amount: int, unit: str, future: bool) -> tuple[dt.date, dt.date]:
    """The inclusive window of `within [next] N unit`: [as_of - N, as_of] or [as_of, as_of + N]."""
    if future:
        return as_of, shift(as_of, amount, unit)
    return shift(as_of, -amount, unit), as_of


def to_days(day: dt.date) -> int:
    return (day - EPOCH).days


def from_days(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(days))
