"""When reminders fire: a pure function of the plan, the work calendar and a time range.

No scheduler is needed to test it; the scheduler only asks, every minute, which
occurrences are due.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from campaign.outbox import occurrence_key
from campaign.plan import WEEKLY, Phase, Plan, Reminder
from schedules.workdays import WorkCalendar


@dataclass(frozen=True)
class Firing:
    """A reminder due at one moment; fanned out, it becomes an occurrence row (campaign.outbox)."""

    reminder: Reminder
    due: dt.datetime  # aware
    phase: str | None = None  # the phase key for phase reminders

    @property
    def key(self) -> str:
        return occurrence_key(self.reminder.key, self.due.date())


def calendar_for(plan: Plan, extra_holidays=(), extra_workdays=()) -> WorkCalendar:
    holidays = set(plan.holidays) | {dt.date.fromisoformat(str(d)) for d in extra_holidays}
    workdays = set(plan.workdays) | {dt.date.fromisoformat(str(d)) for d in extra_workdays}
    return WorkCalendar(frozenset(holidays - workdays), frozenset(workdays))


def days_of(plan: Plan, reminder: Reminder, cal: WorkCalendar) -> list[tuple[dt.date, str | None]]:
    """The days a reminder fires in the plan's year, with the phase they belong to."""
    phases = [p for p in plan.phases if not reminder.phases or p.key in reminder.phases]
    out: list[tuple[dt.date, str | None]] = []
    if reminder.kind == "phase_start":
        for p in phases:
            day = cal.next_workday(p.start)
            if day <= p.end:
                out.append((day, p.key))
    elif reminder.kind == "phase_end":
        for p in phases:
            day = cal.next_workday(max(p.start, p.end - dt.timedelta(days=reminder.days_before)))
            if day <= p.end:
                out.append((day, p.key))
    elif reminder.kind == "monthly":
        for month in reminder.months:
            out.append((cal.first_workday(plan.year, month), None))
    elif reminder.kind in WEEKLY:
        for p in phases:
            out += [(day, p.key) for day, _ in weekly_days(reminder, p, cal)]
    return sorted(set(out), key=lambda dp: dp[0])


def weekly_days(reminder: Reminder, phase: Phase, cal: WorkCalendar) -> list[tuple[dt.date, bool]]:
    """(day, on cadence) of a weekly reminder in one phase: the set weekday of a week, or the next
    workday in the same week when it is a holiday. A nudge keeps every `every_weeks`-th week,
    counted back from the phase's last week with a nudge (so the last nudge before the deadline
    is one), and every week in the phase's last `weekly_last_days` days: those extra weeks are
    the ones off the cadence (False), only for people who answered a nudge (schedules/fanout.py)."""
    weeks = []
    monday = phase.start - dt.timedelta(days=phase.start.weekday())
    while monday <= phase.end:
        for offset in range(reminder.weekday - 1, 7):
            day = monday + dt.timedelta(days=offset)
            if phase.start <= day <= phase.end and cal.is_workday(day):
                weeks.append((monday, day))
                break
        monday += dt.timedelta(days=7)
    if not weeks:
        return []
    last, final = weeks[-1][0], phase.end - dt.timedelta(days=reminder.weekly_last_days)
    out = []
    for monday, day in weeks:
        on_cadence = (last - monday).days // 7 % reminder.every_weeks == 0
        if on_cadence or day > final:
            out.append((day, on_cadence))
    return out


def off_cadence(plan: Plan, reminder: Reminder, cal: WorkCalendar, day: dt.date) -> bool:
    """True when `day` is one of a nudge's extra weeks near its phase's end (see weekly_days)."""
    if reminder.kind != "nudge" or reminder.every_weeks == 1:
        return False
    phase = plan.phase_on(day)
    return phase is not None and (day, False) in weekly_days(reminder, phase, cal)


def occurrences(plan: Plan, cal: WorkCalendar, tz: ZoneInfo, start: dt.datetime, end: dt.datetime,
                only: str | None = None) -> list[Firing]:
    """Occurrences due in [start, end], in time order."""
    found = []
    for reminder in plan.reminders:
        if only is not None and reminder.key != only:
            continue
        for day, phase in days_of(plan, reminder, cal):
            due = dt.datetime.combine(day, reminder.at, tzinfo=tz)
            if start <= due <= end:
                found.append(Firing(reminder, due, phase))
    return sorted(found, key=lambda o: (o.due, o.reminder.key))


def next_allowed(now: dt.datetime, quiet: tuple[dt.time, dt.time], cal: WorkCalendar) -> dt.datetime:
    """The first moment from `now` when messages may go out: now itself, or the end of the
    quiet hours on the next workday."""
    moment = now
    for _ in range(400):  # bounded: a year of days
        if not is_quiet(moment, quiet, cal):
            return moment
        end = dt.datetime.combine(moment.date(), quiet[1], tzinfo=moment.tzinfo)
        moment = end if end > moment else end + dt.timedelta(days=1)
    raise ValueError(f"no time to send within a year of {now}")


NOT_A_WORKDAY, QUIET_HOURS = "not a workday", "quiet hours"  # how quiet_reason's answers begin


def quiet_reason(now: dt.datetime, quiet: tuple[dt.time, dt.time], cal: WorkCalendar) -> str | None:
    """Why nothing goes out at `now` ("not a workday", "quiet hours 20:00-08:30"), or None."""
    if not cal.is_workday(now.date()):
        return NOT_A_WORKDAY
    if is_quiet(now, quiet, cal):
        return f"{QUIET_HOURS} {quiet[0]:%H:%M}-{quiet[1]:%H:%M}"
    return None


def is_quiet(now: dt.datetime, quiet: tuple[dt.time, dt.time], cal: WorkCalendar) -> bool:
    """True on a day that is not a workday, or inside quiet hours (which may wrap midnight)."""
    if not cal.is_workday(now.date()):
        return True
    start, end = quiet
    t = now.timetz().replace(tzinfo=None)
    return (start <= t or t < end) if start > end else (start <= t < end)
