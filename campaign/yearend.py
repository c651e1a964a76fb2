"""What the year-end files are made of, read once from the database: the year's checklists
(both halves of a half-year one), every person with what they did, and the figures of each
checklist. The workbook and the drafted report print these; they compute nothing of their own.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterator

from peewee import fn

from campaign import access, evidence, order, outbox, people, stats
from campaign.clock import from_utc, to_utc
from campaign.plan import Checklist, Plan
from models import Activity, CheckIn, Department, Evidence, Notice, Occurrence, Outbox, Staff


def year_checklists(plan_on: Callable[[dt.date], Plan], year: int) -> list[Checklist]:
    """The year's checklists as the year-end plan has them, a half-year one once per half."""
    late = plan_on(dt.date(year, 12, 31))
    out = []
    for checklist in late.checklists:
        if checklist.half:
            out.append(plan_on(dt.date(year, 6, 30)).checklist(checklist.key))
        out.append(checklist)
    return out


def title(checklist: Checklist) -> str:
    return checklist.name + ({1: "（上半年）", 2: "（下半年）"}.get(checklist.half, ""))


@dataclass
class PersonRow:
    name: str
    department: str
    status: str  # as stored: active, exempt, left
    role: str
    done: dict = field(default_factory=dict)  # (record_key, item) -> (local datetime, evidence count)

    @property
    def counted(self) -> bool:
        return people.is_counted(self)

    @property
    def status_word(self) -> str:
        return people.STATUS_WORDS.get(self.status, self.status)


def departments(department_id: int | None = None) -> list[Department]:
    query = Department.select()
    if department_id is not None:
        query = query.where(Department.id == department_id)
    return order.departments(query)


def person_rows(checklists: list[Checklist], tz, department_id: int | None = None) -> Iterator[PersonRow]:
    """Everyone on the roster (exempt and left people too, with their status), by department
    in natural order and by pinyin within it, with each check-in's time and evidence count."""
    for department in departments(department_id):
        members = Staff.select(Staff.id).where(Staff.department == department.id)
        staff = list(Staff.select(Staff.id, Staff.name, Staff.status, Staff.role)
                     .where(Staff.department == department.id).tuples())
        done = _done(checklists, members, tz)
        for sid, name, status, role in sorted(staff, key=lambda s: order.person_key(s[1])):
            yield PersonRow(name, department.name, status, role, done.get(sid, {}))


def _done(checklists: list[Checklist], members, tz) -> dict[int, dict]:
    """(record_key, item) -> (local time, evidence count) per person of `members` (a subquery:
    the database joins, where 5,000 ids as parameters cost more to build than to run)."""
    keys = {(c.record_key, c.year) for c in checklists}
    out: dict[int, dict] = {}
    query = (CheckIn.select(CheckIn.staff, CheckIn.checklist, CheckIn.year, CheckIn.item, CheckIn.created_at,
                            CheckIn.evidence_count)
             .where(CheckIn.staff.in_(members) & CheckIn.checklist.in_(sorted({k for k, _ in keys}))))
    for sid, checklist, year, item, at, pieces in query.tuples():
        if (checklist, year) in keys:
            out.setdefault(sid, {})[(checklist, item)] = (from_utc(at, tz).replace(tzinfo=None), pieces)
    return out


def reports(checklists: list[Checklist], target: float, department_id: int | None = None) -> list[stats.Report]:
    return [stats.report(c, target, department_id) for c in checklists]


def _year_utc(year: int, tz) -> tuple[dt.datetime, dt.datetime]:
    """The campaign year's bounds, as stored (naive UTC)."""
    start = dt.datetime(year, 1, 1, tzinfo=tz)
    end = dt.datetime(year + 1, 1, 1, tzinfo=tz)
    return to_utc(start), to_utc(end)


@dataclass(frozen=True)
class Photo:
    department: str
    checklist: str  # as stored (party_day@h1)
    item: str
    day: dt.date
    sha256: str
    thumb: str | None


def activity_photos(year: int, tz, department_id: int | None = None, limit: int = 6) -> list[Photo]:
    """Photos of collective activities (典型活动): the first photo of each of the year's
    activities, one activity per department before a second of any, at most `limit`."""
    names = dict(Department.select(Department.id, Department.name).tuples())
    query = (Evidence.select(Evidence, Activity)
             .join(Activity, on=(Evidence.activity == Activity.id))
             .where((Activity.year == year) & (Activity.state == "done") & (Evidence.kind == "image")
                    & (Evidence.state == evidence.STORED))
             .order_by(Activity.created_at, Evidence.id))
    if department_id is not None:
        query = query.where(Activity.department == department_id)
    seen_activities, per_department, photos = set(), {}, []
    for piece in query.limit(2000):
        activity = piece.activity
        if activity.id in seen_activities:
            continue
        seen_activities.add(activity.id)
        photos.append((per_department.get(activity.department_id, 0),
                       Photo(names.get(activity.department_id, ""), activity.checklist, activity.item, from_utc(activity.created_at, tz).date(),
                             piece.sha256, piece.thumb)))
        per_department[activity.department_id] = per_department.get(activity.department_id, 0) + 1
    return [p for _, p in sorted(photos, key=lambda t: t[0])][:limit]


@dataclass(frozen=True)
class Facts:
    """The year in figures beyond participation: who organised it and what was sent and kept."""

    departments: int
    leaders: int
    organisers: int
    notices: int
    prompts: int  # reminder occurrences fanned out (每月一讲, phase notices, nudges)
    messages_sent: int
    activities: int  # collective activities recorded
    evidence: dict  # kind -> pieces stored
    lost: int  # pieces WeChat no longer had


def facts(year: int, tz, department_id: int | None = None) -> Facts:
    start, end = _year_utc(year, tz)
    staff = Staff.select().where(people.counted())
    activities = Activity.select().where((Activity.year == year) & (Activity.state == "done"))
    pieces = Evidence.select(Evidence.kind, fn.COUNT(Evidence.id)).where(
        (Evidence.state == evidence.STORED) & (Evidence.received_at >= start) & (Evidence.received_at < end))
    lost = Evidence.select().where((Evidence.state == evidence.LOST) & (Evidence.received_at >= start)
                                   & (Evidence.received_at < end))
    sent = Outbox.select().where((Outbox.state == outbox.SENT) & (Outbox.sent_at >= start) & (Outbox.sent_at < end))
    if department_id is not None:
        staff = staff.where(Staff.department == department_id)
        activities = activities.where(Activity.department == department_id)
        pieces = pieces.where(Evidence.department == department_id)
        lost = lost.where(Evidence.department == department_id)
        sent = sent.join(Staff, on=(Outbox.staff == Staff.id)).where(Staff.department == department_id)
    occurrences = Occurrence.select().where((Occurrence.state == outbox.FANNED_OUT) & (Occurrence.due_at >= start)
                                            & (Occurrence.due_at < end))
    return Facts(
        departments=1 if department_id is not None else Department.select().count(),
        leaders=staff.where(Staff.role == access.LEADER).count(),
        organisers=staff.where(Staff.role == access.ORGANISER).count(),
        notices=Notice.select().where((Notice.created_at >= start) & (Notice.created_at < end)).count(),
        prompts=occurrences.count(), messages_sent=sent.count(), activities=activities.count(),
        evidence=dict(pieces.group_by(Evidence.kind).tuples()), lost=lost.count())
