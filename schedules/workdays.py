"""Which days are workdays: China's official calendar with 调休 make-up days.

chinese-calendar carries the State Council's announcements, so its data ends with the last
year announced (1.11.0: 2026). For a later year we fall back to Monday-Friday and say so;
a plan or the config can list extra holidays and make-up workdays, which take precedence.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import chinese_calendar


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

    def is_workday(self, day: dt.date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
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

    def warning(self, year: int) -> str | None:
        if self.official(year):
            return None
        return (f"chinese-calendar has no official data for {year}: workdays fall back to Monday-Friday "
                f"(list holidays and 调休 days under [calendar] in the plan or config)")
