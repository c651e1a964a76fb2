"""Fan-out: who gets one reminder occurrence, under the push rules, as outbox messages.

The occurrence and all its messages are written in one transaction under unique keys
(campaign.outbox), so a fan-out happens once: a second scheduler, a rerun after a crash, or
a manual push of the same occurrence finds the occurrence and adds nothing. Recipients are
streamed from the database; only small per-person counters are held in memory.

The push rules, in the order a person is passed over: exempt or left, completed (for a
pending-only reminder), unbound, already reached by this reminder today, over the weekly cap, and for
customer-service messages, outside the window the person opened by writing to us.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

from campaign import outbox, people, stats
from campaign.clock import md, md_hm, midnight, week_start
from campaign.plan import Checklist, Plan, Reminder
from config import PushConfig
from models import Department, Staff

WINDOW, WINDOW_COUNT = dt.timedelta(hours=48), 5  # customer-service window after the person writes
MAX_VALUE = 20  # template keyword values: 20 characters, one line (platform rule since May 2023)
LINK = "_url"  # in a payload: the page the template message opens (not a keyword)


def cut(value: str, limit: int = MAX_VALUE) -> str:
    """Make a value acceptable to the template rule: one line, at most `limit` characters."""
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass
class FanoutResult:
    key: str
    created: int = 0
    skipped: Counter = field(default_factory=Counter)
    existed: bool = False
    expired: bool = False

    def skipped_text(self) -> str:
        return ", ".join(f"{reason} {n}" for reason, n in sorted(self.skipped.items())) or "none"

    def describe(self) -> str:
        if self.existed:
            return f"{self.key}: already fanned out"
        if self.expired:
            return f"{self.key}: expired (missed beyond its grace period)"
        return f"{self.key}: {self.created} recipients; skipped: {self.skipped_text()}"


@dataclass(frozen=True)
class Audience:
    """Whom a fan-out addresses: everyone or one department (or some), everyone or the pending
    only; and the link each message carries (a notice's page, signed for its recipient)."""

    department: str | None = None
    pending_only: bool | None = None  # None: as the reminder says
    departments: tuple[str, ...] = ()
    link: Callable[[int], str] | None = None  # staff id -> the URL of their message


def fan_out(plan: Plan, reminder: Reminder, key: str, due: dt.datetime, now: dt.datetime, push: PushConfig,
            phase: str | None = None, audience: Audience = Audience(), dry_run: bool = False,
            created_by: str | None = None) -> FanoutResult:
    result = FanoutResult(key)
    rows = _Recipients(plan, reminder, due, now, push, phase, audience, result.skipped).rows()
    try:
        result.created = outbox.fan_out(reminder.key, key, due, now, rows, result.skipped, dry_run, created_by)
    except outbox.AlreadyThere:
        return FanoutResult(key, existed=True)
    return result


def expire(reminder: Reminder, key: str, due: dt.datetime, now: dt.datetime) -> FanoutResult:
    """Record a missed occurrence as expired: never sent late, never silently dropped."""
    if not outbox.expire(reminder.key, key, due, now):
        return FanoutResult(key, existed=True)
    return FanoutResult(key, expired=True)


class _Recipients:
    """The people one occurrence reaches, with the reason for each one passed over."""

    def __init__(self, plan, reminder, due, now, push, phase, audience: Audience, skipped: Counter):
        self.plan, self.reminder, self.due, self.now, self.push = plan, reminder, due, now, push
        self.audience, self.skipped = audience, skipped
        self.phase = plan.phase(phase) if phase else None
        pending = reminder.audience == "pending" if audience.pending_only is None else audience.pending_only
        self.pending = pending
        self.checklist: Checklist | None = plan.checklist(reminder.checklist) if reminder.checklist else None
        if pending and self.checklist is None:
            self.checklist = plan.main

    def rows(self) -> Iterator[dict]:
        """Read lazily, inside the fan-out's transaction: counts and rows from one snapshot."""
        done = stats.done_counts(self.checklist) if self.checklist is not None else {}
        total = len(self.checklist.items) if self.checklist is not None else 0
        this_week = outbox.sent_since(week_start(self.now))
        # The same reminder reaches a person once a day, however it was sent: the scheduler's
        # occurrence, then an organiser's `push` of it (for a department, or the pending only).
        reached = outbox.reached_since(self.reminder.key, midnight(self.now))
        prior = outbox.sent_counts(self.reminder.key) if self.reminder.escalate_after else {}
        windows = outbox.open_windows(self.now, WINDOW, WINDOW_COUNT) if self.reminder.channel == "custom" else {}
        escalate: dict[int, list[str]] = {}
        for person in self._people():
            n_done = done.get(person.id, 0)
            if self.pending and people.is_counted(person) and n_done < total \
                    and prior.get(person.id, 0) >= self.reminder.escalate_after > 0:
                # Leaders hear of whoever stayed pending K nudges long, bound or not.
                escalate.setdefault(person.department_id, []).append(person.name)
            if not self._passed_over(person, n_done, total, reached, this_week, windows):
                yield self._row(person, self.reminder.title, self._text(n_done, total))
        yield from self._escalations(escalate)

    def _people(self):
        query = Staff.select(Staff.id, Staff.name, Staff.openid, Staff.status, Staff.department, Staff.role)
        if self.audience.department is not None:
            query = query.join(Department).where(Department.name == self.audience.department)
        elif self.audience.departments:
            query = query.join(Department).where(Department.name.in_(list(self.audience.departments)))
        return query.order_by(Staff.id).iterator()

    def _passed_over(self, person, n_done, total, reached, this_week, windows) -> bool:
        """True (and counted under its reason) when a push rule passes the person over."""
        reason = None
        if not people.is_counted(person):
            reason = person.status  # exempt, or left
        elif self.pending and n_done >= total:
            reason = "completed"
        elif not person.openid:
            reason = "unbound"
        elif person.id in reached:
            reason = "sent_today"
        elif this_week.get(person.id, 0) >= self.push.weekly_cap:
            reason = "weekly_cap"
        elif self.reminder.channel == "custom" and not windows.get(person.openid, False):
            reason = "no_window"  # customer-service messages only inside the window the person opened
        if reason:
            self.skipped[reason] += 1
        return reason is not None

    def _text(self, n_done: int, total: int) -> str:
        p, c = self.phase, self.checklist
        return self.reminder.text.format(phase=p.name if p else "", checklist=c.name if c else "",
                                         end=md(p.end) if p else "", left=total - n_done, done=n_done, total=total)

    def _escalations(self, escalate: dict[int, list[str]]) -> Iterator[dict]:
        for dept_id, names in escalate.items():
            leaders = Staff.select().where((Staff.department == dept_id) & (Staff.role == "leader")
                                           & people.counted() & Staff.openid.is_null(False))
            listing = "、".join(names[:3]) + (f"等{len(names)}人" if len(names) > 3 else "")
            for leader in leaders:
                yield self._row(leader, f"本部门{len(names)}人未完成", listing, suffix=outbox.ESCALATION)

    def _row(self, person, title: str, text: str, suffix: str = "") -> dict:
        push = self.push
        payload = {push.title_field: cut(title), push.text_field: cut(text), push.time_field: cut(md_hm(self.due))}
        if self.audience.link is not None:
            payload[LINK] = self.audience.link(person.id)
        return {"staff": person.id, "openid": person.openid, "channel": self.reminder.channel,
                "payload": payload, "suffix": suffix}
