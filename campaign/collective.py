"""Collective check-ins (集体打卡): a leader (own department) or an organiser (any) records one
group activity, and everyone who took part is credited in one go.

It is a short conversation: start (which item, which department) -> who took part ("全部", or
names and phone numbers; names that match nobody, or several people, are reported and never
guessed) -> confirm, and only then is anything written. People already done keep their own
check-in and gain the activity's evidence; the others get a check-in linked to the activity.
Photos the recorder sends right after document the activity, hence every check-in it covers.
An activity is undone whole. Credited people are sent nothing: they see it in 进度.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from campaign import access, evidence, order, people
from campaign.clock import to_utc
from campaign.plan import Checklist, Item
from models import Activity, CheckIn, Department, Staff
from storage.engine import transaction

DRAFT_WINDOW = dt.timedelta(minutes=30)
DRAFT, DONE, UNDONE = "draft", "done", "undone"
EVERYONE = {"全部", "所有人", "全体", "all"}
_SEPARATORS = re.compile(r"[\s、，,;；/]+")


class Refused(Exception):
    """The actor may not record for that department (or any): names why, in a word."""


@dataclass(frozen=True)
class Proposal:
    """Whom a list names, before anything is written."""

    credited: list[Staff]  # to get a check-in
    kept: list[Staff]  # already done: keep theirs, gain the evidence
    unknown: list[str]  # words that name nobody of the department
    ambiguous: dict[str, list[Staff]] = field(default_factory=dict)  # a name several people have


@dataclass(frozen=True)
class Confirmed:
    activity: Activity
    created: int
    kept: int


def department_for(actor: Staff, named: Department | None) -> Department:
    """The department a collective check-in is for: a leader's own, or the one an organiser
    names (they must). Raises Refused."""
    scope = access.scope_of(actor)
    if scope is None:
        raise Refused("role")
    if scope.whole_unit:
        if named is None:
            raise Refused("name the department")
        return named
    if named is not None and named.id != actor.department_id:
        raise Refused("own department only")
    return Department.get_by_id(actor.department_id)


def start(actor: Staff, department: Department, checklist: Checklist, item: Item, now: dt.datetime) -> Activity:
    """A draft for one activity; an older draft of the actor's is dropped."""
    with transaction():
        Activity.delete().where((Activity.created_by == actor.id) & (Activity.state == DRAFT)).execute()
        return Activity.create(department=department.id, checklist=checklist.record_key, item=item.key,
                               year=checklist.year, created_by=actor.id, created_at=to_utc(now), state=DRAFT)


def open_draft(actor: Staff, now: dt.datetime) -> Activity | None:
    """The actor's draft still being filled in (within DRAFT_WINDOW), if any."""
    return (Activity.select().where((Activity.created_by == actor.id) & (Activity.state == DRAFT)
                                    & (Activity.created_at >= to_utc(now) - DRAFT_WINDOW)).first())


def propose(draft: Activity, text: str) -> Proposal:
    """Read "全部" or a list of names and phone numbers against the draft's department."""
    eligible = list(Staff.select().where((Staff.department == draft.department_id) & people.counted()))
    if text.strip() in EVERYONE:
        chosen, unknown, ambiguous = eligible, [], {}
    else:
        chosen, unknown, ambiguous = _resolve([w for w in _SEPARATORS.split(text.strip()) if w], eligible)
    done = _done_ids(draft, [p.id for p in chosen])
    proposal = Proposal(order.people([p for p in chosen if p.id not in done]),
                        order.people([p for p in chosen if p.id in done]), unknown, ambiguous)
    draft.draft = json.dumps({"people": [p.id for p in chosen]})
    draft.save()
    return proposal


def _resolve(words: list[str], eligible: list[Staff]) -> tuple[list[Staff], list[str], dict[str, list[Staff]]]:
    by_phone = {p.phone: p for p in eligible}
    chosen: dict[int, Staff] = {}
    unknown, ambiguous = [], {}
    for word in words:
        digits = "".join(c for c in word if c.isdigit())
        if len(digits) == 11 and digits in by_phone:
            chosen[by_phone[digits].id] = by_phone[digits]
            continue
        named = [p for p in eligible if p.name == word]
        if len(named) == 1:
            chosen[named[0].id] = named[0]
        elif named:
            ambiguous[word] = order.people(named)
        else:
            unknown.append(word)
    return list(chosen.values()), unknown, ambiguous


def _done_ids(draft: Activity, staff_ids: list[int]) -> set[int]:
    if not staff_ids:
        return set()
    return {s for (s,) in CheckIn.select(CheckIn.staff).where(
        (CheckIn.checklist == draft.checklist) & (CheckIn.year == draft.year) & (CheckIn.item == draft.item)
        & CheckIn.staff.in_(staff_ids)).tuples()}


def confirm(actor: Staff, draft: Activity, now: dt.datetime) -> Confirmed | None:
    """Write the proposal: None when no list was proposed yet (or it named nobody)."""
    chosen = json.loads(draft.draft or "{}").get("people") or []
    if not chosen:
        return None
    with transaction():
        done = _done_ids(draft, chosen)
        created_at = to_utc(now)
        for person in Staff.select().where(Staff.id.in_([i for i in chosen if i not in done])):
            CheckIn.insert(staff=person.id, department=person.department_id, checklist=draft.checklist,
                           item=draft.item, year=draft.year, created_at=created_at, evidence_count=0,
                           activity=draft.id).on_conflict_ignore().execute()
        covered = [c for (c,) in CheckIn.select(CheckIn.id).where(
            (CheckIn.checklist == draft.checklist) & (CheckIn.year == draft.year) & (CheckIn.item == draft.item)
            & CheckIn.staff.in_(chosen)).tuples()]
        draft.state, draft.credited = DONE, len(chosen) - len(done)
        draft.draft = json.dumps({"people": chosen, "checkins": covered, "kept": sorted(done)})
        draft.save()
        people.await_evidence(actor, f"activity:{draft.id}", now)  # its photos document them all
    return Confirmed(draft, len(chosen) - len(done), len(done))


def cancel(draft: Activity) -> None:
    draft.delete_instance()


def document(activity: Activity, person: Staff, sent: evidence.Sent, now: dt.datetime) -> None:
    """A piece the recorder sent for the activity: it documents every check-in the activity covers."""
    covered = json.loads(activity.draft or "{}").get("checkins") or []
    with transaction():
        evidence.link(evidence.record(person, sent, now, activity_id=activity.id), covered)
        people.await_evidence(person, f"activity:{activity.id}", now)


def undo(actor: Staff, number: int, now: dt.datetime) -> Activity:
    """Undo a whole activity: the check-ins it made are deleted, the ones it only documented
    lose its evidence. Its recorder, or an organiser. Raises Refused, or LookupError."""
    activity = Activity.get_or_none((Activity.id == number) & (Activity.state == DONE))
    if activity is None:
        raise LookupError(number)
    scope = access.scope_of(actor)
    if activity.created_by_id != actor.id and not (scope is not None and scope.whole_unit):
        raise Refused("not yours")
    covered = json.loads(activity.draft or "{}").get("checkins") or []
    with transaction():
        made = [c for (c,) in CheckIn.select(CheckIn.id).where(CheckIn.activity == activity.id).tuples()]
        evidence.unlink_activity(activity.id, covered)
        evidence.unlink_all(made)
        if made:
            CheckIn.delete().where(CheckIn.id.in_(made)).execute()
        activity.state, activity.undone_at = UNDONE, to_utc(now)
        activity.save()
    return activity
