"""Participation against the target.

Definitions (also in README):
- eligible: a person on the roster who is not exempt, bound to WeChat or not;
- participant: an eligible person with at least one check-in on the checklist;
- completed: an eligible person who has done every item of the checklist.
Check-ins of exempt people stay stored but count nowhere; items no longer in the plan
count nowhere either.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from peewee import SQL, Case, fn

from campaign import order, people
from campaign.access import Scope, scope_of
from campaign.clock import to_utc
from campaign.order import department_key
from campaign.plan import Checklist
from models import CheckIn, Department, Staff


def _floor4(part: int, whole: int) -> float:
    """part/whole rounded down to 4 decimals: 99,999 of 100,000 must not read as 100%."""
    return (part * 10000 // whole) / 10000 if whole else 0.0


def share(part: int, whole: int) -> float:
    """A rate as every figure shows it (rounded down to 4 decimals; 0 of nobody is 0)."""
    return _floor4(part, whole)


@dataclass(frozen=True)
class Rate:
    eligible: int
    participants: int
    completed: int

    @property
    def participation_rate(self) -> float:
        return _floor4(self.participants, self.eligible)

    @property
    def completion_rate(self) -> float:
        return _floor4(self.completed, self.eligible)

    def as_dict(self) -> dict:
        return {**asdict(self), "participation_rate": self.participation_rate,
                "completion_rate": self.completion_rate}


@dataclass(frozen=True)
class DepartmentRate(Rate):
    department_id: int = 0
    name: str = ""


@dataclass(frozen=True)
class Report:
    checklist: Checklist
    target: float
    overall: Rate
    departments: list[DepartmentRate]
    items: list[tuple[str, str, int]]  # (key, name, number of eligible people done)
    unit: str = "people"  # what the figures count: people, or departments (a collective checklist)

    def as_dict(self) -> dict:
        return {
            "checklist": {"key": self.checklist.key, "name": self.checklist.name,
                          **({"half": self.checklist.half} if self.checklist.half else {})},
            "counts": self.unit,
            "target": self.target,
            "overall": self.overall.as_dict(),
            "departments": [{"name": d.name, **Rate.as_dict(d)} for d in self.departments],
            "items": [{"key": k, "name": n, "done": done} for k, n, done in self.items],
        }


def eligible_checkins(checklist: Checklist, department_id: int | None = None, as_of: dt.datetime | None = None):
    """Check-ins on the checklist's current items by eligible people (of one department), made
    up to `as_of` when given (a phase's end, as the assessment judges it)."""
    # Exempt people are few: excluding them by a NOT IN list (a seek on the status index)
    # keeps the count a scan of a covering index, where a JOIN to staff cost one lookup per
    # check-in. The list is the whole unit's even for one department: a check-in's stored
    # department could predate a move, and an exempt person counts nowhere.
    not_eligible = Staff.select(Staff.id).where(people.not_counted())
    query = CheckIn.select().where((CheckIn.checklist == checklist.record_key) & (CheckIn.year == checklist.year)
                                   & (CheckIn.item.in_([i.key for i in checklist.items])))
    if department_id is not None:
        query = query.where(CheckIn.department == department_id)
    if as_of is not None:
        query = query.where(CheckIn.created_at <= to_utc(as_of))
    return query.where(CheckIn.staff.not_in(not_eligible))


def _eligible_per_department(department_id: int | None) -> dict[int, int]:
    query = (Staff.select(Staff.department, fn.COUNT(Staff.id).alias("n"))
             .where(people.counted()).group_by(Staff.department))
    if department_id is not None:
        query = query.where(Staff.department == department_id)
    return {row.department_id: row.n for row in query}


def report(checklist: Checklist, target: float, department_id: int | None = None,
           as_of: dt.datetime | None = None) -> Report:
    """Participation in a checklist: per department, per item and overall (as it stood at
    `as_of`, when given; who counts is as the roster says now). A collective checklist (主题党日,
    七个一) counts departments: one is in when anyone of it did an item."""
    if checklist.collective:
        return _departments_report(checklist, target, department_id, as_of)
    per_person = (eligible_checkins(checklist, department_id, as_of)
                  .select(CheckIn.department, CheckIn.staff, fn.COUNT(CheckIn.id).alias("n"))
                  .group_by(CheckIn.department, CheckIn.staff))
    eligible = _eligible_per_department(department_id)
    sub = per_person.alias("p")
    size = len(checklist.items)
    done_q = (CheckIn.select(sub.c.department_id, fn.COUNT(SQL("*")).alias("participants"),
                             fn.SUM(Case(None, [(sub.c.n >= size, 1)], 0)).alias("completed"))
              .from_(sub).group_by(sub.c.department_id).tuples())
    done = {dept: (int(p), int(c or 0)) for dept, p, c in done_q}

    names = dict(Department.select(Department.id, Department.name).tuples())
    departments = []
    for dept_id in sorted(set(eligible) | set(done), key=lambda d: department_key(names.get(d, ""))):
        p, c = done.get(dept_id, (0, 0))
        departments.append(DepartmentRate(eligible.get(dept_id, 0), p, c, dept_id, names.get(dept_id, "?")))
    overall = Rate(sum(d.eligible for d in departments), sum(d.participants for d in departments),
                   sum(d.completed for d in departments))

    items_q = (eligible_checkins(checklist, department_id, as_of).select(CheckIn.item, fn.COUNT(CheckIn.id))
               .group_by(CheckIn.item))
    by_item = dict(items_q.tuples())
    items = [(i.key, i.name, int(by_item.get(i.key, 0))) for i in checklist.items]
    return Report(checklist, target, overall, departments, items)


def _departments_report(checklist: Checklist, target: float, department_id: int | None,
                        as_of: dt.datetime | None) -> Report:
    eligible = {d: n for d, n in _eligible_per_department(department_id).items() if n}
    done: dict[int, set[str]] = {}
    for dept, item in (eligible_checkins(checklist, department_id, as_of).select(CheckIn.department, CheckIn.item)
                       .distinct().tuples()):
        done.setdefault(dept, set()).add(item)
    names = dict(Department.select(Department.id, Department.name).tuples())
    size = len(checklist.items)
    departments = [DepartmentRate(1, int(bool(done.get(d))), int(len(done.get(d, ())) == size), d, names.get(d, "?"))
                   for d in sorted(eligible, key=lambda d: department_key(names.get(d, "")))]
    overall = Rate(len(departments), sum(d.participants for d in departments), sum(d.completed for d in departments))
    items = [(i.key, i.name, sum(1 for d in eligible if i.key in done.get(d, ()))) for i in checklist.items]
    return Report(checklist, target, overall, departments, items, unit="departments")


def lowest(departments: list[DepartmentRate], n: int) -> list[DepartmentRate]:
    """The n departments furthest from the target (only departments with eligible people)."""
    ranked = [d for d in departments if d.eligible]
    return sorted(ranked, key=lambda d: (d.participation_rate, -d.eligible, department_key(d.name)))[:n]


def pending_people(checklist: Checklist, department_id: int) -> list[Staff]:
    """Eligible people of a department who have not started the checklist."""
    started = eligible_checkins(checklist, department_id).select(CheckIn.staff)
    return order.people(Staff.select().where((Staff.department == department_id) & people.counted()
                                             & Staff.id.not_in(started)))


def done_by_department(checklist: Checklist, department_id: int | None = None) -> dict[int, set[str]]:
    """Items done per department (anyone of it does a collective checklist's items for all):
    one query for the whole unit, where a query per department cost 1,500 for a year-end file."""
    done: dict[int, set[str]] = {}
    for dept, item in (eligible_checkins(checklist, department_id).select(CheckIn.department, CheckIn.item)
                       .distinct().tuples()):
        done.setdefault(dept, set()).add(item)
    return done


def department_left(checklist: Checklist, department_id: int, done: dict[int, set[str]] | None = None) -> list:
    """A collective checklist's items the department has not done (`done`: done_by_department's)."""
    mine = (done if done is not None else done_by_department(checklist, department_id)).get(department_id, set())
    return [i for i in checklist.items if i.key not in mine]


@dataclass(frozen=True)
class Pending:
    person: Staff
    done: frozenset  # item keys done
    left: list  # the checklist's items not done (Item)


def pending_detail(checklist: Checklist, department_id: int) -> list[Pending]:
    """Eligible people of a department who have not completed the checklist, with what each has
    left, by pinyin: whom a leader chases, and for what."""
    done: dict[int, set[str]] = {}
    for staff, item in (eligible_checkins(checklist, department_id).select(CheckIn.staff, CheckIn.item)
                        .tuples()):
        done.setdefault(staff, set()).add(item)
    everyone = Staff.select().where((Staff.department == department_id) & people.counted())
    out = []
    for person in order.people(everyone):
        mine = done.get(person.id, set())
        left = [i for i in checklist.items if i.key not in mine]
        if left:
            out.append(Pending(person, frozenset(mine), left))
    return out


def done_counts(checklist: Checklist, department_id: int | None = None) -> dict[int, int]:
    """Items done per eligible person (staff id -> count); people with none are absent."""
    query = (eligible_checkins(checklist, department_id).select(CheckIn.staff, fn.COUNT(CheckIn.id))
             .group_by(CheckIn.staff))
    return dict(query.tuples())


def last_checkins(checklist: Checklist) -> dict[int, dt.datetime]:
    """staff id -> when they last checked in on the checklist (naive UTC): who answered a nudge."""
    rows = (CheckIn.select(CheckIn.staff, fn.MAX(CheckIn.created_at))
            .where((CheckIn.checklist == checklist.record_key) & (CheckIn.year == checklist.year))
            .group_by(CheckIn.staff).tuples())
    return {staff: dt.datetime.fromisoformat(at) if isinstance(at, str) else at for staff, at in rows}


@dataclass(frozen=True)
class Standing:
    """One department's week, as its leader's digest reports it."""

    rate: Rate
    pending: list[str]  # eligible people not done: those in `first` first, then by pinyin
    first: int  # how many of them were in `first`

    @property
    def percent(self) -> str:
        return f"{self.rate.participants * 100 // self.rate.eligible}%" if self.rate.eligible else "0%"


def pct(rate: float) -> str:
    """A rate as a percentage rounded down to 0.1 (rates are already rounded down)."""
    tenths = round(rate * 10000) // 10
    whole, tenth = divmod(tenths, 10)
    return f"{whole}%" if tenth == 0 else f"{whole}.{tenth}%"


def standings(checklist: Checklist, first: set[int]) -> dict[int, Standing]:
    """department id -> its standing on the checklist; `first`: staff ids to name first (those
    pending after K nudges). One pass over the eligible people."""
    done, size = done_counts(checklist), len(checklist.items)
    members: dict[int, list[Staff]] = {}
    for person in Staff.select(Staff.id, Staff.name, Staff.department).where(people.counted()):
        members.setdefault(person.department_id, []).append(person)
    out = {}
    for dept, group in members.items():
        counts = [done.get(p.id, 0) for p in group]
        rate = Rate(len(group), sum(1 for n in counts if n), sum(1 for n in counts if n >= size))
        pending = sorted((p for p in group if done.get(p.id, 0) < size),
                         key=lambda p: (p.id not in first, order.person_key(p.name)))
        out[dept] = Standing(rate, [p.name for p in pending], sum(1 for p in pending if p.id in first))
    return out


@dataclass(frozen=True)
class Overview:
    """What a viewer is shown of a checklist's participation, within their scope."""

    scope: Scope
    report: Report  # the whole unit, or the viewer's department
    lowest: list[DepartmentRate]  # whole unit: the departments furthest below target (at most 5)
    pending: list[Staff]  # one department: its eligible people who have not started


class NotAllowed(Exception):
    """The viewer may not see participation beyond their own progress."""


def overview(viewer: Staff, checklist: Checklist, target: float, lowest_n: int = 5) -> Overview:
    scope = scope_of(viewer)
    if scope is None:
        raise NotAllowed(viewer.role)
    if scope.whole_unit:
        rep = report(checklist, target)
        low = [d for d in lowest(rep.departments, lowest_n) if d.participation_rate < target]
        return Overview(scope, rep, low, [])
    rep = report(checklist, target, scope.department_id)
    return Overview(scope, rep, [], pending_people(checklist, scope.department_id))
