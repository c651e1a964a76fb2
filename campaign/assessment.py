"""The year-end assessment (加减分制, plan 篇八 (五)): points per department, each entry with its
reason, who gave it, when, and the records or figures it rests on.

- Rules the plan declares (`[[assessment]]`, campaign.rules) are applied from the data by
  `apply_rules`, once per occasion (a unique key per department), and keep the figures that
  triggered them in `basis`.
- Organisers add manual entries (an award, a 通报批评) with `add`.
- Entries are never edited or deleted (tests/test_architecture.py holds the code to that): a
  correction is a new entry that reverses one (`reverse`). A rule's entry for a collective
  activity that was undone, or lost its evidence, is reversed by the next `apply_rules`.
- `freeze` keeps the year's table as it stands, with the sha256 of its canonical JSON; every
  write after it is refused.
Figures are per department only: nobody is ranked, and departments are listed in their
natural order, never by points.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from peewee import IntegrityError, fn

from campaign import stats
from campaign.clock import from_utc, md, to_utc
from campaign.order import department_key
from campaign.plan import Plan
from campaign.rules import MAX_POINTS, Rule
from models import Activity, AssessmentEntry, AssessmentFreeze, Department, Evidence, Notice
from storage.engine import db, transaction

RULE, MANUAL, REVERSAL = "rule", "manual", "reversal"
REASON_MAX = 200


class Refused(Exception):
    """An entry that cannot be written: the message names the problem (for the CLI, the page, the chat)."""


@dataclass(frozen=True)
class Total:
    department_id: int
    name: str
    points: Decimal
    entries: int


def points_of(value) -> Decimal:
    """Points as an organiser types them ("+2", "-1.5", 3): non-zero, in tenths, at most 100 either way."""
    try:
        points = Decimal(str(value).strip().replace("＋", "+").replace("－", "-"))
    except (InvalidOperation, ValueError):
        raise Refused(f"points: {value!r} is not a number (e.g. 2, -1.5)") from None
    if not points.is_finite() or points == 0 or abs(points) > MAX_POINTS or points != points.quantize(Decimal("0.1")):
        raise Refused(f"points: {value!r} must be a non-zero number of points, at most {MAX_POINTS} either way, "
                      f"in tenths at the finest")
    return points.quantize(Decimal("0.1"))


def _tenths(value) -> Decimal:
    """Points as stored, in tenths whatever the engine returns (SQLite gives Decimal('1'))."""
    return Decimal(str(value)).quantize(Decimal("0.1"))


def frozen(year: int) -> AssessmentFreeze | None:
    return AssessmentFreeze.get_or_none(AssessmentFreeze.year == year)


class Frozen(Refused):
    """The year's table is frozen: final, and nothing is left to apply to it."""


def refuse_if_frozen(year: int) -> None:
    done = frozen(year)
    if done is not None:
        raise Frozen(f"the {year} assessment was frozen at {done.frozen_at:%Y-%m-%d %H:%M} UTC: "
                      f"no entry can be added or reversed")


def _reason(text: str) -> str:
    text = " ".join((text or "").split())
    if not text:
        raise Refused("reason: say why (e.g. 获州局通报表扬)")
    if len(text) > REASON_MAX:
        raise Refused(f"reason: at most {REASON_MAX} characters, got {len(text)}")
    return text


def add(year: int, department: Department, points, reason: str, by: str, now: dt.datetime,
        activity: int | None = None, evidence: int | None = None, notice: int | None = None) -> AssessmentEntry:
    """An organiser's entry (an award, a 通报批评), optionally resting on records of the department."""
    points, reason = points_of(points), _reason(reason)
    basis = _basis(department, activity, evidence, notice)
    with transaction():
        refuse_if_frozen(year)
        return AssessmentEntry.create(year=year, department=department.id, points=points, reason=reason, kind=MANUAL,
                                      given_by=by, created_at=to_utc(now), basis=json.dumps(basis) if basis else None)


def _basis(department: Department, activity, evidence, notice) -> dict:
    basis = {}
    if activity is not None:
        found = Activity.get_or_none(Activity.id == activity)
        if found is None or found.department_id != department.id:
            raise Refused(f"activity: no collective activity {activity} of {department.name}")
        basis["activity"] = found.id
    if evidence is not None:
        found = Evidence.get_or_none(Evidence.id == evidence)
        if found is None or found.department_id != department.id:
            raise Refused(f"evidence: no evidence {evidence} sent in {department.name}")
        basis["evidence"] = found.id
    if notice is not None:
        if Notice.get_or_none(Notice.id == notice) is None:
            raise Refused(f"notice: no notice {notice}")
        basis["notice"] = notice
    return basis


def reverse(entry_id: int, reason: str, by: str, now: dt.datetime) -> AssessmentEntry:
    """A correction: a new entry with the opposite points, naming the one it reverses."""
    reason = _reason(reason)
    entry = AssessmentEntry.get_or_none(AssessmentEntry.id == entry_id)
    if entry is None:
        raise Refused(f"entry: no assessment entry {entry_id}")
    if entry.kind == REVERSAL:
        raise Refused(f"entry {entry_id} is itself a correction: add a new entry instead")
    with transaction():
        refuse_if_frozen(entry.year)
        if AssessmentEntry.get_or_none(AssessmentEntry.reverses == entry.id) is not None:
            raise Refused(f"entry {entry_id} is already reversed")
        try:
            return _reversal(entry, reason, by, now)
        except IntegrityError:  # a concurrent reversal won
            raise Refused(f"entry {entry_id} is already reversed") from None


def _reversal(entry: AssessmentEntry, reason: str, by: str, now: dt.datetime) -> AssessmentEntry:
    return AssessmentEntry.create(year=entry.year, department=entry.department_id, points=-Decimal(entry.points),
                                  reason=reason, kind=REVERSAL, given_by=by, created_at=to_utc(now),
                                  reverses=entry.id, basis=json.dumps({"reverses": entry.id}))


def entries(year: int, department_id: int | None = None) -> list[AssessmentEntry]:
    """Every entry of the year (of one department), oldest first."""
    query = AssessmentEntry.select().where(AssessmentEntry.year == year)
    if department_id is not None:
        query = query.where(AssessmentEntry.department == department_id)
    return list(query.order_by(AssessmentEntry.created_at, AssessmentEntry.id))


def reversed_ids(year: int) -> set[int]:
    return {r for (r,) in AssessmentEntry.select(AssessmentEntry.reverses)
            .where((AssessmentEntry.year == year) & AssessmentEntry.reverses.is_null(False)).tuples()}


def totals(year: int, department_id: int | None = None) -> list[Total]:
    """Points per department (every department, with none at 0), in natural order."""
    query = (AssessmentEntry.select(AssessmentEntry.department, fn.SUM(AssessmentEntry.points), fn.COUNT(AssessmentEntry.id))
             .where(AssessmentEntry.year == year).group_by(AssessmentEntry.department))
    sums = {d: (_tenths(p or 0), n) for d, p, n in query.tuples()}
    departments = Department.select()
    if department_id is not None:
        departments = departments.where(Department.id == department_id)
    out = [Total(d.id, d.name, *sums.get(d.id, (Decimal("0.0"), 0))) for d in departments]
    return sorted(out, key=lambda t: department_key(t.name))


def table(year: int) -> dict:
    """The year's table as data: what freeze keeps and checksums, and what exports print."""
    names = dict(Department.select(Department.id, Department.name).tuples())
    return {
        "year": year,
        "totals": [{"department_id": t.department_id, "department": t.name, "points": str(t.points),
                    "entries": t.entries} for t in totals(year)],
        "entries": [{"id": e.id, "department_id": e.department_id, "department": names.get(e.department_id, "?"),
                     "points": str(_tenths(e.points)), "reason": e.reason, "kind": e.kind, "rule_key": e.rule_key,
                     "given_by": e.given_by, "created_at": e.created_at.isoformat(timespec="seconds"),
                     "reverses": e.reverses_id, "basis": basis_of(e)}
                    for e in entries(year)],
    }


def checksum(data: dict) -> str:
    canonical = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def freeze(year: int, by: str, now: dt.datetime) -> AssessmentFreeze:
    """Keep the year's table as it stands; later entries are refused."""
    with transaction():
        refuse_if_frozen(year)
        data = table(year)
        try:
            return AssessmentFreeze.create(year=year, frozen_at=to_utc(now), frozen_by=by, checksum=checksum(data),
                                           table=json.dumps(data, ensure_ascii=False, sort_keys=True))
        except IntegrityError:
            raise Refused(f"the {year} assessment is already frozen") from None


def frozen_table(done: AssessmentFreeze) -> dict:
    return json.loads(done.table)


def verify(done: AssessmentFreeze) -> bool:
    """The frozen table still matches its checksum (nobody edited the stored copy)."""
    return checksum(json.loads(done.table)) == done.checksum


# --- rules ---------------------------------------------------------------------------------

def apply_rules(plan: Plan, now: dt.datetime) -> list[AssessmentEntry]:
    """Every rule whose occasion has come, applied once per department: `reached`/`below` on the
    data at their phase's end (the day after it), `per_activity` for each collective activity
    with stored evidence; and reversals for activities since undone or left without evidence.
    Returns the entries written; Refused once the year is frozen (the frozen table is final)."""
    refuse_if_frozen(plan.year)
    written: list[AssessmentEntry] = []
    for rule in plan.assessment:
        if rule.kind == "per_activity":
            written += _per_activity(plan, rule, now)
        else:
            written += _at_phase_end(plan, rule, now)
    return written


def phase_end(plan: Plan, rule: Rule, tz) -> dt.datetime:
    """The last moment of the rule's phase, in the campaign's zone."""
    day = plan.phase(rule.phase).end
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=tz)


def _at_phase_end(plan: Plan, rule: Rule, now: dt.datetime) -> list[AssessmentEntry]:
    as_of = phase_end(plan, rule, now.tzinfo)
    if now <= as_of:
        return []
    checklist = plan.checklist(rule.checklist)
    threshold = rule.threshold if rule.threshold is not None else plan.target
    rep = stats.report(checklist, plan.target, as_of=as_of)
    written = []
    for d in rep.departments:
        if not d.eligible:
            continue
        rate = d.participation_rate if rule.measure == "participation" else d.completion_rate
        if (rate >= threshold) != (rule.kind == "reached"):
            continue
        basis = {"rule": rule.key, "checklist": checklist.record_key, "measure": rule.measure, "rate": rate,
                 "threshold": threshold, "eligible": d.eligible, "participants": d.participants,
                 "completed": d.completed, "counts": rep.unit, "as_of": as_of.isoformat(timespec="seconds")}
        entry = _rule_entry(plan.year, d.department_id, rule, rule.key, basis, now)
        if entry is not None:
            written.append(entry)
    return written


def _per_activity(plan: Plan, rule: Rule, now: dt.datetime) -> list[AssessmentEntry]:
    with_evidence = Evidence.select(Evidence.activity).where(
        (Evidence.state == "stored") & Evidence.activity.is_null(False))
    query = Activity.select().where((Activity.year == plan.year) & (Activity.state == "done")
                                    & Activity.id.in_(with_evidence))
    if rule.checklist:
        query = query.where((Activity.checklist == rule.checklist) | Activity.checklist.startswith(rule.checklist + "@"))
    written = _reverse_gone(plan.year, rule, now)
    standing = _standing(plan.year, rule)
    for activity in query.order_by(Activity.created_at, Activity.id):
        if rule.max and standing.get(activity.department_id, 0) >= rule.max:
            continue
        basis = {"rule": rule.key, "activity": activity.id, "checklist": activity.checklist, "item": activity.item,
                 "credited": activity.credited,
                 "recorded_at": from_utc(activity.created_at, now.tzinfo).isoformat(timespec="seconds")}
        entry = _rule_entry(plan.year, activity.department_id, rule, f"{rule.key}:activity:{activity.id}", basis, now)
        if entry is not None:
            standing[activity.department_id] = standing.get(activity.department_id, 0) + 1
            written.append(entry)
    return written


def _rule_entries(year: int, rule: Rule):
    return AssessmentEntry.select().where((AssessmentEntry.year == year) & (AssessmentEntry.kind == RULE)
                                          & AssessmentEntry.rule_key.startswith(rule.key + ":activity:"))


def _standing(year: int, rule: Rule) -> dict[int, int]:
    """Per department, the rule's activity entries not reversed (what its cap counts)."""
    gone = reversed_ids(year)
    counts: dict[int, int] = {}
    for entry in _rule_entries(year, rule):
        if entry.id not in gone:
            counts[entry.department_id] = counts.get(entry.department_id, 0) + 1
    return counts


def _reverse_gone(year: int, rule: Rule, now: dt.datetime) -> list[AssessmentEntry]:
    """Reverse the rule's entries whose activity was undone or has no stored evidence any more."""
    gone = reversed_ids(year)
    written = []
    for entry in _rule_entries(year, rule):
        if entry.id in gone:
            continue
        activity_id = int(entry.rule_key.rsplit(":", 1)[1])
        activity = Activity.get_or_none(Activity.id == activity_id)
        kept = activity is not None and activity.state == "done" and Evidence.select().where(
            (Evidence.activity == activity_id) & (Evidence.state == "stored")).exists()
        if not kept:
            why = "集体活动已撤销" if activity is None or activity.state != "done" else "集体活动凭证已缺失"
            try:
                with db.atomic():
                    written.append(_reversal(entry, f"更正：{why}（{entry.reason}）"[:REASON_MAX], f"rule:{rule.key}", now))
            except IntegrityError:
                pass  # reversed meanwhile
    return written


def _rule_entry(year: int, department_id: int, rule: Rule, key: str, basis: dict,
                now: dt.datetime) -> AssessmentEntry | None:
    """The rule's entry for this occasion, unless one was written before (by this run or a
    concurrent one: the unique (year, department, rule_key) index decides)."""
    if AssessmentEntry.select().where((AssessmentEntry.year == year) & (AssessmentEntry.department == department_id)
                                      & (AssessmentEntry.rule_key == key)).exists():
        return None
    try:
        with db.atomic():  # a savepoint when nested: a lost race must not end the caller's transaction
            return AssessmentEntry.create(year=year, department=department_id, points=points_of(rule.points), reason=rule.title,
                                          kind=RULE, rule_key=key, given_by=f"rule:{rule.key}", created_at=to_utc(now),
                                          basis=json.dumps(basis, ensure_ascii=False))
    except IntegrityError:
        return None


# --- how entries read ---------------------------------------------------------------------

KIND_NAMES = {RULE: "规则", MANUAL: "手动", REVERSAL: "更正"}
MEASURE_NAMES = {"participation": "参与率", "completion": "完成率"}


def basis_of(entry: AssessmentEntry) -> dict | None:
    return json.loads(entry.basis) if entry.basis else None


def giver_name(who: str) -> str:
    """Who gave an entry, as a reader knows them."""
    from campaign.sessions import actor_name

    kind, _, rest = who.partition(":")
    if kind == "rule":
        return "计划规则"
    if kind == "cli":
        return f"命令行（{rest}）"
    return actor_name(who)


def describe_basis(basis: dict | None) -> str:
    """What an entry rests on, in a line: the figures a rule saw, or the records named."""
    if not basis:
        return ""
    if "measure" in basis:
        day = dt.date.fromisoformat(basis["as_of"][:10])
        unit = "个部门" if basis.get("counts") == "departments" else "人"
        part = basis["participants"] if basis["measure"] == "participation" else basis["completed"]
        return (f"截至{md(day)}{MEASURE_NAMES[basis['measure']]}{basis['rate']:.1%}"
                f"（{part}/{basis['eligible']}{unit}），标准{basis['threshold']:.0%}")
    parts = []
    if "activity" in basis:
        parts.append(f"集体活动#{basis['activity']}" + (f"（{basis['recorded_at'][:10]}）" if "recorded_at" in basis else ""))
    if "evidence" in basis:
        parts.append(f"凭证#{basis['evidence']}")
    if "notice" in basis:
        parts.append(f"通知#{basis['notice']}")
    if "reverses" in basis:
        parts.append(f"更正条目#{basis['reverses']}")
    return "；".join(parts)
