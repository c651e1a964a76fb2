"""The monthly cap: at most `[push] monthly_cap` messages a person in a calendar month (a
department leader `leader_monthly_cap`, which holds the weekly digest too), every kind counted.

Fan-outs come one at a time through the month, so importance is kept by reserving room: a
message is dropped when what the person already had this month, this message, and the more
important reminders still due this month that will reach them would pass the cap. The least
important therefore goes first, in whatever order the month brings them. An organiser's notice
(通知) cannot be foreseen: it is never dropped by a cap, and it counts.
"""
from __future__ import annotations

import datetime as dt

from campaign import access, outbox, stats
from campaign.clock import month_start, next_month
from campaign.plan import Plan, Reminder
from config import PushConfig
from schedules.occurrences import Firing, occurrences
from schedules.workdays import WorkCalendar

# What the monthly cap drops first, least important first: the one place the order is declared.
DROP_ORDER = (("nudge",), ("monthly",), ("digest",), ("phase_start", "phase_end"))
NEVER_DROPPED = ("notice",)  # never dropped by the weekly or the monthly cap; counted by both


def rank(kind: str) -> int | None:
    """A kind's place in DROP_ORDER (higher: kept longer); None for a kind never dropped."""
    return next((i for i, kinds in enumerate(DROP_ORDER) if kind in kinds), None)


def capped(kind: str) -> bool:
    return kind not in NEVER_DROPPED


class MonthlyCap:
    """One fan-out's view of the month: what each person had, and what is still to come."""

    def __init__(self, plan: Plan, reminder: Reminder, key: str, due: dt.datetime, now: dt.datetime,
                 push: PushConfig, cal: WorkCalendar):
        self.plan, self.push = plan, push
        self.rank = rank(reminder.kind)
        self.had = outbox.sent_since(month_start(now)) if capped(reminder.kind) else {}
        self.later = [] if self.rank is None else self._later(cal, key, due, now)
        self._done: dict[str, dict[int, int]] = {}

    def _later(self, cal: WorkCalendar, key: str, due: dt.datetime, now: dt.datetime) -> list[Firing]:
        """The more important occurrences due later this month and not yet fanned out."""
        end = next_month(now) - dt.timedelta(microseconds=1)
        found = occurrences(self.plan, cal, due.tzinfo, due, end)
        return [f for f in found if f.key != key and (rank(f.reminder.kind) or 0) > self.rank
                and not outbox.occurrence_exists(f.key)]

    def allows(self, person) -> bool:
        """True when one more message leaves room for what is to come (see the module's note)."""
        if self.rank is None:
            return True
        cap = self.push.leader_monthly_cap if person.role == access.LEADER else self.push.monthly_cap
        reserved = sum(1 for f in self.later if self._reaches(person, f.reminder))
        return self.had.get(person.id, 0) + 1 + reserved <= cap

    def _reaches(self, person, reminder: Reminder) -> bool:
        if reminder.kind == "digest":
            return person.role == access.LEADER
        if reminder.audience == "pending":
            checklist = self.plan.checklist(reminder.checklist)
            if checklist.key not in self._done:
                self._done[checklist.key] = stats.done_counts(checklist)
            return self._done[checklist.key].get(person.id, 0) < len(checklist.items)
        return True
