"""Fan-out: who gets one reminder occurrence, under the push rules, as outbox messages.

The occurrence and all its messages are written in one transaction under unique keys
(campaign.outbox), so a fan-out happens once: a second scheduler, a rerun after a crash, or
a manual push of the same occurrence finds the occurrence and adds nothing. Recipients are
streamed from the database; only small per-person counters are held in memory.

The push rules, in the order a person is passed over: exempt or left, completed (for a
pending-only reminder), unbound, already reached by this reminder today, an extra nudge week
for someone who never answered a nudge (cadence), over the weekly cap, over the monthly cap
(schedules/caps.py: the least important goes first), and for customer-service messages,
outside the window the person opened by writing to us. A digest goes to department leaders
only, and not where nobody is pending (none_pending).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator

from campaign import access, outbox, people, stats
from campaign.clock import md, md_hm, midnight, week_start
from campaign.plan import Checklist, Plan, Reminder
from config import PushConfig
from schedules import caps
from schedules.occurrences import calendar_for, off_cadence

WINDOW, WINDOW_COUNT = dt.timedelta(hours=48), 5  # customer-service window after the person writes
MAX_VALUE = 20  # template keyword values: 20 characters, one line (platform rule since May 2023)
LINK = "_url"  # in a payload: the page the template message opens (not a keyword)
# A digest opens its department's page of the dashboard (dashboard/pages.py's pending route;
# not logged in, it shows the login page, which says to send 登录 to the bot).
PENDING_PAGE = "/dashboard/pending?department={department}&checklist={checklist}"


def cut(value: str, limit: int = MAX_VALUE) -> str:
    """Make a value acceptable to the template rule: one line, at most `limit` characters."""
    value = " ".join(str(value).split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


# Why a fan-out passed people over, and the words organisers read for each (the notices table).
SKIPPED_WORDS = {people.EXEMPT: "免除", people.LEFT: "已离开", "completed": "已完成", "unbound": "未绑定",
                 "sent_today": "今天已收到", "cadence": "未到催办周期", "weekly_cap": "本周提醒已满",
                 "monthly_cap": "本月提醒已满", "no_window": "不在客服消息时段", "none_pending": "部门无人待办"}


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
    dashboard: str = ""  # the dashboard's public URL: a digest links to the department's page


def fan_out(plan: Plan, reminder: Reminder, key: str, due: dt.datetime, now: dt.datetime, push: PushConfig,
            phase: str | None = None, audience: Audience = Audience(), dry_run: bool = False,
            created_by: str | None = None) -> FanoutResult:
    result = FanoutResult(key)
    rows = _Recipients(plan, reminder, key, due, now, push, phase, audience, result.skipped).rows()
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

    def __init__(self, plan, reminder, key, due, now, push, phase, audience: Audience, skipped: Counter):
        self.plan, self.reminder, self.key, self.due, self.now, self.push = plan, reminder, key, due, now, push
        self.audience, self.skipped = audience, skipped
        self.phase = plan.phase(phase) if phase else None
        pending = reminder.audience == "pending" if audience.pending_only is None else audience.pending_only
        self.pending = pending
        self.checklist: Checklist | None = plan.checklist(reminder.checklist) if reminder.checklist else None
        if pending and self.checklist is None:
            self.checklist = plan.main

    def rows(self) -> Iterator[dict]:
        """Read lazily, inside the fan-out's transaction: counts and rows from one snapshot."""
        cal = calendar_for(self.plan, self.push.holidays, self.push.workdays)
        self.month = caps.MonthlyCap(self.plan, self.reminder, self.key, self.due, self.now, self.push, cal)
        self.this_week = outbox.sent_since(week_start(self.now))
        # The same reminder reaches a person once a day, however it was sent: the scheduler's
        # occurrence, then an organiser's `push` of it (for a department, or the pending only).
        self.reached = outbox.reached_since(self.reminder.key, midnight(self.now))
        self.windows = outbox.open_windows(self.now, WINDOW, WINDOW_COUNT) if self.reminder.channel == "custom" else {}
        if self.reminder.kind == "digest":
            yield from self._digests()
            return
        done = stats.done_counts(self.checklist) if self.checklist is not None else {}
        total = len(self.checklist.items) if self.checklist is not None else 0
        # An extra week near the phase's end is only for people who answered a nudge: someone
        # who never did is not nudged more often for it.
        answered = self._answered() if off_cadence(self.plan, self.reminder, cal, self.due.date()) else None
        for person in self._people():
            n_done = done.get(person.id, 0)
            if not self._passed_over(person, n_done, total, answered):
                yield self._row(person, self.reminder.title, self._text(n_done, total))

    def _people(self):
        a = self.audience
        return people.streamed((a.department,) if a.department is not None else a.departments)

    def _passed_over(self, person, n_done, total, answered: set[int] | None = None) -> bool:
        """True (and counted under its reason) when a push rule passes the person over."""
        reason = None
        if not people.is_counted(person):
            reason = person.status  # exempt, or left
        elif self.pending and n_done >= total:
            reason = "completed"
        elif not person.openid:
            reason = "unbound"
        elif person.id in self.reached:
            reason = "sent_today"
        elif answered is not None and person.id not in answered:
            reason = "cadence"
        elif caps.capped(self.reminder.kind) and self.this_week.get(person.id, 0) >= self.push.weekly_cap:
            reason = "weekly_cap"
        elif not self.month.allows(person):
            reason = "monthly_cap"
        elif self.reminder.channel == "custom" and not self.windows.get(person.openid, False):
            reason = "no_window"  # customer-service messages only inside the window the person opened
        if reason:
            self.skipped[reason] += 1
        return reason is not None

    def _answered(self) -> set[int]:
        """People who checked in on the checklist after this nudge first reached them."""
        first, last = outbox.first_sent(self.reminder.key), stats.last_checkins(self.checklist)
        return {staff for staff, at in first.items() if staff in last and last[staff] > at}

    def _text(self, n_done: int, total: int) -> str:
        p, c = self.phase, self.checklist
        return self.reminder.text.format(phase=p.name if p else "", checklist=c.name if c else "",
                                         end=md(p.end) if p else "", left=total - n_done, done=n_done, total=total)

    def _digests(self) -> Iterator[dict]:
        """The weekly digest: one message to each leader of a department with anyone pending."""
        standing = stats.standings(self.checklist, escalated(self.plan, self.checklist))
        for leader in self._people():
            if leader.role != access.LEADER:
                continue
            s = standing.get(leader.department_id)
            if s is None or not s.pending:
                self.skipped["none_pending"] += 1
            elif not self._passed_over(leader, 0, 0):
                text = self.reminder.text.format(checklist=self.checklist.name, rate=s.percent,
                                                 pending=len(s.pending), names="、".join(s.pending[:5]),
                                                 escalated=s.first)
                page = PENDING_PAGE.format(department=leader.department_id, checklist=self.checklist.key)
                yield self._row(leader, self.reminder.title, text, link=self.audience.dashboard.rstrip("/") + page
                                if self.audience.dashboard else None)

    def _row(self, person, title: str, text: str, link: str | None = None) -> dict:
        push = self.push
        payload = {push.title_field: cut(title), push.text_field: cut(text), push.time_field: cut(md_hm(self.due))}
        if self.audience.link is not None:
            payload[LINK] = self.audience.link(person.id)
        elif link is not None:
            payload[LINK] = link
        return {"staff": person.id, "openid": person.openid, "channel": self.reminder.channel, "payload": payload}


def escalated(plan: Plan, checklist: Checklist) -> set[int]:
    """Staff ids that stayed pending `escalate_after` nudges long (any nudge of the checklist):
    the escalation, which the digest names first."""
    out: set[int] = set()
    for nudge in plan.reminders:
        if nudge.kind == "nudge" and nudge.checklist == checklist.key and nudge.escalate_after:
            out |= {staff for staff, n in outbox.sent_counts(nudge.key).items() if n >= nudge.escalate_after}
    return out
