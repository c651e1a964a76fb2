"""Which days are workdays: China's official calendar with 调休 make-up days.

chinese-calendar carries the State Council's announcements, so its data ends with the last
year announced (1.11.0: 2026); the notice for the next year comes each November and the
library some weeks later. For a year it does not cover, one of two calendars is in force:

- official by plan: the plan's [calendar] (or the config's [push]) lists that year's notice,
  which is to say every statutory holiday of the year is among its holidays. Those lists are
  then the whole arrangement, on top of Monday-Friday.
- provisional: the statutory holidays computed by rule (the `holidays` package, observed days
  included) on top of Monday-Friday. Make-up workdays cannot be computed: the notice decides them.

Days the plan or the config lists always win. A chinese-calendar release that covers the
year takes over by itself: coverage is asked of the library, not written down here.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import chinese_calendar
import holidays

# The calendar in force for a year, as `state` names it (short enough for a dashboard cell).
OFFICIAL = "official (chinese-calendar)"
BY_PLAN = "official by plan"
PROVISIONAL = "provisional: statutory holidays by rule, make-up workdays unknown"


@lru_cache(maxsize=64)
def by_rule(year: int) -> frozenset[dt.date]:
    """The year's statutory holidays with their observed days (a holiday on a weekend moves to
    the next weekday), as the holidays package computes them. Cached: is_workday asks often."""
    return frozenset(d for d in holidays.China(years=year) if d.year == year)


@lru_cache(maxsize=64)
def statutory(year: int) -> frozenset[dt.date]:
    """The days the law fixes (元旦, 春节 …, 国庆 1-3): every notice gives them off, so a list
    that holds them all is a copy of the notice, and one that misses some is only extras."""
    return frozenset(d for d in holidays.China(years=year, observed=False) if d.year == year)


@dataclass(frozen=True)
class WorkCalendar:
    extra_holidays: frozenset[dt.date] = field(default_factory=frozenset)
    extra_workdays: frozenset[dt.date] = field(default_factory=frozenset)

    @staticmethod
    def official(year: int) -> bool:
        """True when the official calendar covers this year."""
        try:
            chinese_calendar.is_workday(dt.date(year, 6, 1))
            return True
        except NotImplementedError:
            return False

    def listed(self, year: int) -> bool:
        """True when the listed holidays hold every statutory holiday of the year: the notice.
        (A year the rule knows nothing of, past 2100, is never taken as listed.)"""
        fixed = statutory(year)
        return bool(fixed) and fixed <= self.extra_holidays

    def state(self, year: int) -> str:
        """Which calendar decides the year's days: OFFICIAL, BY_PLAN or PROVISIONAL."""
        if self.official(year):
            return OFFICIAL
        return BY_PLAN if self.listed(year) else PROVISIONAL

    def is_workday(self, day: dt.date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:  # no official data for the year (yet)
            pass
        if day in by_rule(day.year) and not self.listed(day.year):
            return False
        return day.weekday() < 5

    def first_workday(self, year: int, month: int) -> dt.date:
        return self.next_workday(dt.date(year, month, 1))

    def next_workday(self, day: dt.date) -> dt.date:
        """The day itself if it is a workday, else the next workday (bounded: a year ahead)."""
        for offset in range(366):
            candidate = day + dt.timedelta(days=offset)
            if self.is_workday(candidate):
                return candidate
        raise ValueError(f"no workday within a year of {day}")

    def details(self, year: int) -> list[str]:
        """What an organiser needs to know besides the state: what the lists add, the days the
        rule gives off, and what to do about a provisional year."""
        holidays_in = sorted(d for d in self.extra_holidays if d.year == year)
        workdays_in = sorted(d for d in self.extra_workdays if d.year == year)
        state = self.state(year)
        if state == BY_PLAN:
            return [f"{len(holidays_in)} holidays and {len(workdays_in)} 调休 workdays listed for {year}"]
        if state == OFFICIAL:
            extra = len(holidays_in) + len(workdays_in)
            return [f"plus {extra} days listed in the plan or config"] if extra else []
        out = [f"days off by rule: {spans(by_rule(year))}",
               f"when the State Council's notice for {year} is out, copy its holidays and 调休 days "
               f"into the plan's [calendar] (README: entering the official arrangement)"]
        if holidays_in or workdays_in:  # say why the lists did not make the year official
            missing = spans(statutory(year) - self.extra_holidays)
            out.append(f"the lists hold {len(holidays_in) + len(workdays_in)} days of {year} but not the "
                       f"statutory {missing}: taken as extras on top of the rule")
        return out

    def describe(self, year: int) -> str:
        """One line: the state, then the details."""
        return "; ".join([self.state(year), *self.details(year)])


def spans(days) -> str:
    """Days as month-day runs: "05-01–05-04, 06-09"."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and day - runs[-1][-1] == dt.timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(f"{r[0]:%m-%d}" + (f"–{r[-1]:%m-%d}" if len(r) > 1 else "") for r in runs)
