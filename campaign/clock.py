"""Time, one way everywhere: moments are aware in the campaign's zone; the database holds
naive UTC; staff read dates as "5月6日".

Every function that depends on the time takes `now` (aware); nothing here reads the clock.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def to_utc(moment: dt.datetime) -> dt.datetime:
    """Aware datetime -> naive UTC, as stored."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware `now`")
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def from_utc(stored: dt.datetime | str, tz: dt.tzinfo | ZoneInfo) -> dt.datetime:
    """A stored naive-UTC value (SQLite's MAX() gives it back as text) -> aware, in tz."""
    if isinstance(stored, str):
        stored = dt.datetime.fromisoformat(stored)
    return stored.replace(tzinfo=dt.timezone.utc).astimezone(tz)


def utc_from_epoch(epoch: float) -> dt.datetime:
    """Seconds since the epoch -> naive UTC, as stored."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None)


def epoch_of(stored: dt.datetime) -> float:
    """A stored naive-UTC value -> seconds since the epoch."""
    return stored.replace(tzinfo=dt.timezone.utc).timestamp()


def midnight(now: dt.datetime) -> dt.datetime:
    """The start of now's local day."""
    return dt.datetime.combine(now.date(), dt.time(0), tzinfo=now.tzinfo)


def week_start(now: dt.datetime) -> dt.datetime:
    """Monday 00:00 of now's local week: the weekly cap counts from here."""
    return midnight(now) - dt.timedelta(days=now.weekday())


def month_start(now: dt.datetime) -> dt.datetime:
    """The 1st 00:00 of now's local month: the monthly cap counts from here."""
    return dt.datetime.combine(now.date().replace(day=1), dt.time(0), tzinfo=now.tzinfo)


def next_month(now: dt.datetime) -> dt.datetime:
    """The 1st 00:00 of the month after now's."""
    return month_start(month_start(now) + dt.timedelta(days=32))


def md(day: dt.date) -> str:
    """A date as staff read it: 5月6日."""
    return f"{day.month}月{day.day}日"


def md_hm(moment: dt.datetime) -> str:
    """A moment as staff read it: 5月6日 09:30."""
    return f"{md(moment)} {moment:%H:%M}"


def seconds_since(stored, now: dt.datetime) -> float:
    """Seconds from a stored (naive UTC) moment to `now`, 0 for None; SQLite hands MIN() of a
    date column back as text."""
    if stored is None:
        return 0.0
    if isinstance(stored, str):
        stored = dt.datetime.fromisoformat(stored)
    return max(0.0, round((to_utc(now) - stored).total_seconds(), 1))
