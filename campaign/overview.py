"""What the dashboard's overview shows of a checklist: its participation (per department and
item), participation over time, and each department's pace of the last two weeks against the
end of the current phase.

A large unit's figures are read from a snapshot (the stats job refreshes it every minute) so
that the page answers in milliseconds; a small unit's, and a missing or stale snapshot's, are
computed on the spot and stored. Either way the figures say when they were computed.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from peewee import fn

from campaign import people, stats
from campaign.clock import from_utc, to_utc
from campaign.plan import Checklist, Phase, Plan
from models import CheckIn, Snapshot, Staff
from storage.engine import db, transaction

LIVE_UP_TO = 3000  # eligible people: below this, figures are computed for every page view
FRESH = dt.timedelta(seconds=90)  # a snapshot this old is still shown
PACE_DAYS = 14
REACHED, ON_TRACK, AT_RISK = "reached", "on_track", "at_risk"


@dataclass(frozen=True)
class Pace:
    department_id: int
    name: str
    now: float  # participation rate today
    projected: float  # at the end of the phase, at the last two weeks' pace
    state: str  # REACHED, ON_TRACK or AT_RISK


@dataclass(frozen=True)
class ChecklistView:
    report: dict  # stats.Report.as_dict(), with department ids
    timeline: list[tuple[str, float]]  # (date, participation rate) by day
    pace: list[Pace]
    computed_at: dt.datetime  # aware


def phase_now(plan: Plan, today: dt.date) -> tuple[Phase | None, int]:
    """The phase today is in, and the days left in it (0 outside every phase)."""
    phase = plan.phase_on(today)
    return phase, ((phase.end - today).days + 1) if phase else 0


def view(checklist: Checklist, plan: Plan, now: dt.datetime, department_id: int | None = None) -> ChecklistView:
    """The checklist as the overview shows it: a department's always live, the whole unit's
    from a fresh snapshot when the unit is large."""
    if department_id is not None:
        return compute(checklist, plan, now, department_id)
    # A fresh snapshot first: only a large unit has them (the stats job writes none for a small
    # one), and counting 100,000 people on every page view cost a quarter of the page.
    key = f"{checklist.record_key}/{checklist.year}"
    snap = Snapshot.get_or_none(Snapshot.key == key)
    if snap is not None and snap.computed_at >= to_utc(now - FRESH):
        return _loads(snap, now)
    if _eligible() <= LIVE_UP_TO:
        return compute(checklist, plan, now)
    return refresh(checklist, plan, now)


def refresh(checklist: Checklist, plan: Plan, now: dt.datetime) -> ChecklistView:
    """Compute the whole unit's view and store it as the checklist's snapshot."""
    computed = compute(checklist, plan, now)
    data = json.dumps({"report": computed.report, "timeline": computed.timeline,
                       "pace": [p.__dict__ for p in computed.pace]}, ensure_ascii=False)
    key = f"{checklist.record_key}/{checklist.year}"
    with transaction():
        if not Snapshot.update(computed_at=to_utc(now), data=data).where(Snapshot.key == key).execute():
            Snapshot.insert(key=key, computed_at=to_utc(now), data=data).on_conflict_ignore().execute()
    return computed


def refresh_all(plan: Plan, now: dt.datetime) -> int:
    """The stats job: every checklist's snapshot, for a large unit (a small one needs none)."""
    if _eligible() <= LIVE_UP_TO:
        return 0
    for checklist in plan.checklists:
        refresh(checklist, plan, now)
    return len(plan.checklists)


def compute(checklist: Checklist, plan: Plan, now: dt.datetime, department_id: int | None = None) -> ChecklistView:
    rep = stats.report(checklist, plan.target, department_id)
    report = rep.as_dict()
    for d, row in zip(rep.departments, report["departments"]):
        row["id"] = d.department_id
    firsts = _first_days(checklist, department_id, now.tzinfo)
    eligible = rep.overall.eligible
    return ChecklistView(report, _timeline(firsts, eligible, checklist, now, rep.unit),
                         _pace(rep, firsts, plan, now), now)


def _eligible() -> int:
    return Staff.select().where(people.counted()).count()


def _first_days(checklist: Checklist, department_id: int | None, tz) -> dict[tuple[int, int], dt.date]:
    """(department, staff) -> the local day of their first check-in on the checklist (eligible
    people). Local: a check-in at 07:30 in Shanghai is 23:30 UTC the day before."""
    query = (stats.eligible_checkins(checklist, department_id)
             .select(CheckIn.department, CheckIn.staff, fn.MIN(CheckIn.created_at))
             .group_by(CheckIn.department, CheckIn.staff))
    # A stale snapshot's page reads 100,000 of these: the rows straight from the cursor, and the
    # zone's offset looked up once per hour (peewee's row and datetime handling per row was 1.9 s
    # of a 2.3 s page, bench/dashboard.py --profile). Zones change offset on the hour.
    offsets: dict[dt.datetime, dt.timedelta] = {}

    def local_day(raw) -> dt.date:
        at = raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(raw)  # SQLite: text
        hour = at.replace(minute=0, second=0, microsecond=0)
        offset = offsets.get(hour)
        if offset is None:
            offset = offsets[hour] = from_utc(hour, tz).utcoffset()
        return (at + offset).date()

    return {(dept, staff): local_day(first) for dept, staff, first in db.execute(query).fetchall()}


def _timeline(firsts, eligible: int, checklist: Checklist, now: dt.datetime, unit: str) -> list[tuple[str, float]]:
    """Participation rate at the end of each day from the checklist's opening to today."""
    if not eligible or unit != "people":
        return []
    per_day: dict[dt.date, int] = {}
    for day in firsts.values():
        per_day[day] = per_day.get(day, 0) + 1
    start, today = max(checklist.opens, min(per_day, default=now.date())), now.date()
    points, running, day = [], 0, start
    running = sum(n for d, n in per_day.items() if d < start)
    while day <= today and len(points) < 400:
        running += per_day.get(day, 0)
        points.append((day.isoformat(), running * 10000 // eligible / 10000))
        day += dt.timedelta(days=1)
    return points


def _pace(rep: stats.Report, firsts, plan: Plan, now: dt.datetime) -> list[Pace]:
    phase, days_left = phase_now(plan, now.date())
    since = now.date() - dt.timedelta(days=PACE_DAYS)
    recent: dict[int, int] = {}
    for (dept, _), day in firsts.items():
        if day > since:
            recent[dept] = recent.get(dept, 0) + 1
    out = []
    for d in rep.departments:
        if not d.eligible:
            continue
        per_day = recent.get(d.department_id, 0) / PACE_DAYS if rep.unit == "people" else 0.0
        projected = min(1.0, (d.participants + per_day * days_left) / d.eligible)
        state = REACHED if d.participation_rate >= rep.target else ON_TRACK if projected >= rep.target else AT_RISK
        out.append(Pace(d.department_id, d.name, d.participation_rate, round(projected, 4), state))
    return out


def _loads(snap: Snapshot, now: dt.datetime) -> ChecklistView:
    data = json.loads(snap.data)
    return ChecklistView(data["report"], [tuple(p) for p in data["timeline"]], [Pace(**p) for p in data["pace"]],
                         from_utc(snap.computed_at, now.tzinfo))
