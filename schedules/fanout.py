"""Fan-out: turn one reminder occurrence into one outbox row per recipient.

The occurrence row and all its messages are written in one transaction under unique keys,
so a fan-out happens once: a second scheduler, a rerun after a crash, or a manual push of
the same occurrence finds the occurrence and adds nothing. Recipients are streamed from the
database; only small per-person counters are held in memory.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field

from peewee import IntegrityError, fn

from campaign import stats
from campaign.plan import Plan, Reminder
from config import PushConfig
from models import Department, InboundMessage, Occurrence, Outbox, Staff, db, to_utc

BATCH = 500
WINDOW, WINDOW_COUNT = dt.timedelta(hours=48), 5  # customer-service window after the person writes
MAX_VALUE = 20  # template keyword values: 20 characters, one line (platform rule since May 2023)


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


def week_start(now: dt.datetime) -> dt.datetime:
    monday = now.date() - dt.timedelta(days=now.weekday())
    return dt.datetime.combine(monday, dt.time(0), tzinfo=now.tzinfo)


def fan_out(plan: Plan, reminder: Reminder, key: str, due: dt.datetime, now: dt.datetime, push: PushConfig,
            phase: str | None = None, department: str | None = None, pending_only: bool | None = None,
            dry_run: bool = False) -> FanoutResult:
    try:
        return _fan_out(plan, reminder, key, due, now, push, phase, department, pending_only, dry_run)
    except IntegrityError:
        # Another scheduler inserted this occurrence first (PostgreSQL lets both get this far).
        return FanoutResult(key, existed=True)


def _fan_out(plan, reminder, key, due, now, push, phase, department, pending_only, dry_run) -> FanoutResult:
    result = FanoutResult(key)
    with db.atomic():
        if Occurrence.get_or_none(Occurrence.key == key) is not None:
            result.existed = True
            return result
        occurrence = None
        if not dry_run:
            occurrence = Occurrence.create(key=key, reminder=reminder.key, due_at=to_utc(due), state="fanned_out",
                                           created_at=to_utc(now))
        rows = _recipients(plan, reminder, key, due, now, push, phase, department, pending_only, result)
        batch = []
        for row in rows:
            result.created += 1
            if dry_run:
                continue
            batch.append({**row, "occurrence": occurrence.id})
            if len(batch) >= BATCH:
                Outbox.insert_many(batch).on_conflict_ignore().execute()
                batch.clear()
        if batch:
            Outbox.insert_many(batch).on_conflict_ignore().execute()
        if occurrence is not None:
            occurrence.recipients = result.created
            occurrence.skipped = json.dumps(dict(result.skipped), ensure_ascii=False)
            occurrence.save()
    return result


def expire(reminder: Reminder, key: str, due: dt.datetime, now: dt.datetime) -> FanoutResult:
    """Record a missed occurrence as expired: never sent late, never silently dropped."""
    try:
        with db.atomic():
            if Occurrence.get_or_none(Occurrence.key == key) is not None:
                return FanoutResult(key, existed=True)
            Occurrence.create(key=key, reminder=reminder.key, due_at=to_utc(due), state="expired",
                              created_at=to_utc(now))
    except IntegrityError:
        return FanoutResult(key, existed=True)
    return FanoutResult(key, expired=True)


def _recipients(plan, reminder, key, due, now, push, phase, department, pending_only, result):
    checklist = plan.checklist(reminder.checklist) if reminder.checklist else None
    pending = reminder.audience == "pending" if pending_only is None else pending_only
    if pending and checklist is None:
        checklist = plan.main
    done = stats.done_counts(checklist) if checklist is not None else {}
    total = len(checklist.items) if checklist is not None else 0
    since = to_utc(week_start(now))
    this_week = dict(Outbox.select(Outbox.staff, fn.COUNT(Outbox.id))
                     .where((Outbox.created_at >= since) & (Outbox.state != "failed"))
                     .group_by(Outbox.staff).tuples())
    # The same reminder reaches a person once a day, however it was sent: the scheduler's
    # occurrence, then an organiser's `push` of it (for a department, or the pending only).
    midnight = to_utc(dt.datetime.combine(now.date(), dt.time(0), tzinfo=now.tzinfo))
    # (Today's occurrences first: a weekly nudge's earlier ones hold a row per person each.)
    sent_today = {staff for (staff,) in Outbox.select(Outbox.staff).join(Occurrence)
                  .where((Occurrence.reminder == reminder.key) & (Occurrence.created_at >= midnight)
                         & (Outbox.created_at >= midnight) & (Outbox.state != "failed")).tuples()}
    prior = _prior_nudges(reminder) if reminder.escalate_after else {}
    window = _open_windows(now) if reminder.channel == "custom" else {}
    phase_obj = plan.phase(phase) if phase else None
    escalate: dict[int, list[str]] = {}

    query = Staff.select(Staff.id, Staff.name, Staff.openid, Staff.status, Staff.department, Staff.role)
    if department is not None:
        query = query.join(Department).where(Department.name == department)
    for person in query.order_by(Staff.id).iterator():
        if person.status == "exempt":
            result.skipped["exempt"] += 1
            continue
        n_done = done.get(person.id, 0)
        if pending and n_done >= total:
            result.skipped["completed"] += 1
            continue
        if pending and prior.get(person.id, 0) >= reminder.escalate_after > 0:
            escalate.setdefault(person.department_id, []).append(person.name)
        if not person.openid:
            result.skipped["unbound"] += 1
            continue
        if person.id in sent_today:
            result.skipped["sent_today"] += 1
            continue
        if this_week.get(person.id, 0) >= push.weekly_cap:
            result.skipped["weekly_cap"] += 1
            continue
        if reminder.channel == "custom" and not window.get(person.openid, False):
            # Customer-service messages only inside the window the person opened by writing to us.
            result.skipped["no_window"] += 1
            continue
        text = reminder.text.format(phase=phase_obj.name if phase_obj else "", checklist=checklist.name if checklist
                                    else "", end=f"{phase_obj.end.month}月{phase_obj.end.day}日" if phase_obj else "",
                                    left=total - n_done, done=n_done, total=total)
        yield _row(key, person, reminder.channel, reminder.title, text, due, now, push)

    for dept_id, names in escalate.items():
        leaders = Staff.select().where((Staff.department == dept_id) & (Staff.role == "leader")
                                       & (Staff.status != "exempt") & Staff.openid.is_null(False))
        listing = "、".join(names[:3]) + (f"等{len(names)}人" if len(names) > 3 else "")
        for leader in leaders:
            yield _row(key, leader, reminder.channel, f"本部门{len(names)}人未完成",
                       listing, due, now, push, suffix="escalation")


def _row(key, person, channel, title, text, due, now, push, suffix="") -> dict:
    payload = {push.title_field: cut(title), push.text_field: cut(text),
               push.time_field: cut(f"{due.month}月{due.day}日 {due:%H:%M}")}
    return {
        "key": f"{key}:{person.id}" + (f":{suffix}" if suffix else ""),
        "staff": person.id,
        "openid": person.openid,
        "channel": channel,
        "payload": json.dumps(payload, ensure_ascii=False),
        "state": "pending",
        "next_attempt_at": to_utc(now),
        "created_at": to_utc(now),
    }


def _open_windows(now: dt.datetime) -> dict[str, bool]:
    """openid -> True when the person wrote to us within 48 h and has had fewer than 5
    customer-service messages since (the platform's rule; outside it the call fails 45015/45047)."""
    since = to_utc(now) - WINDOW
    last = dict(InboundMessage.select(InboundMessage.openid, fn.MAX(InboundMessage.received_at))
                .where((InboundMessage.received_at >= since) & ~InboundMessage.msg_type.startswith("event"))
                .group_by(InboundMessage.openid).tuples())
    last = {openid: dt.datetime.fromisoformat(at) if isinstance(at, str) else at  # SQLite's MAX() is text
            for openid, at in last.items()}
    used: Counter = Counter()
    sent = (Outbox.select(Outbox.openid, Outbox.created_at)
            .where((Outbox.channel == "custom") & (Outbox.created_at >= since) & (Outbox.state != "failed")).tuples())
    for openid, created in sent:  # one query, not one per person
        if openid in last and created >= last[openid]:
            used[openid] += 1
    return {openid: used[openid] < WINDOW_COUNT for openid in last}


def _prior_nudges(reminder: Reminder) -> dict[int, int]:
    """How many nudges of this reminder each person has been sent before."""
    return dict(Outbox.select(Outbox.staff, fn.COUNT(Outbox.id))
                .join(Occurrence)
                .where((Occurrence.reminder == reminder.key) & (Outbox.state == "sent")
                       & ~Outbox.key.endswith(":escalation"))
                .group_by(Outbox.staff).tuples())
