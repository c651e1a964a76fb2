"""Check-ins: record and undo one, attach a photo to the right one, a person's progress.

Each use case takes the person (the actor), its arguments and `now`, runs in its own
transaction (or the caller's: the webhook stores a message, its effect and its reply in
one) and returns a small result that the caller renders as text or HTML.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaign import collective, evidence, people, stats
from campaign.clock import from_utc, to_utc
from campaign.plan import Checklist, Item, Plan
from models import Activity, CheckIn, Staff
from storage.engine import transaction
from storage.prepared import Prepared

# How long after a check-in (or a request for its photo) the next photo or video documents it.
EVIDENCE_WINDOW = dt.timedelta(minutes=30)
# How long after a checklist was shown a bare number or item name refers to it.
LISTING_WINDOW = dt.timedelta(minutes=5)
EVIDENCE_TYPES = ("image", "video", "shortvideo")  # what a message of its own type documents
LONG_TEXT = 30  # characters: a text this long that is no command, sent after a check-in, documents it

# Outcomes.
RECORDED, ALREADY, CLOSED, NEEDS_EVIDENCE = "recorded", "already", "closed", "needs_evidence"
UNDONE, NOT_DONE = "undone", "not_done"
SAVED, NO_TARGET = "saved", "no_target"


@dataclass(frozen=True)
class CheckInResult:
    outcome: str  # RECORDED, ALREADY, CLOSED or NEEDS_EVIDENCE
    checklist: Checklist
    item: Item
    done: int = 0
    total: int = 0
    awaits_evidence: bool = False  # done without evidence: the next photo documents it
    counted: bool = True  # the person counts in the figures (not exempt)

    @property
    def all_done(self) -> bool:
        return self.outcome == RECORDED and self.done == self.total


@dataclass(frozen=True)
class UndoResult:
    outcome: str  # UNDONE, NOT_DONE or CLOSED
    checklist: Checklist
    item: Item
    done: int = 0
    total: int = 0
    had_evidence: bool = False


@dataclass(frozen=True)
class EvidenceResult:
    outcome: str  # SAVED, NO_TARGET, or "check_in": the photo completed an awaited item
    kind: str  # image, video, shortvideo, voice, text
    item: Item | None = None
    check_in: CheckInResult | None = None
    activity: int | None = None  # the collective check-in it documents


@dataclass(frozen=True)
class Progress:
    lists: list[tuple[Checklist, int]]  # (checklist, items done)
    department: stats.Rate  # the person's department on the main checklist
    counted: bool


# The check-in path runs these for every message: compiled once (storage.prepared).
_DONE = Prepared(CheckIn, lambda p: CheckIn.select(CheckIn.item).where(
    (CheckIn.staff == p.staff) & (CheckIn.checklist == p.checklist) & (CheckIn.year == p.year)))
# A repeated check-in also says which done items carry evidence (it reads the table, not only
# the index, so the new check-in path keeps to _DONE).
_DONE_EVIDENCE = Prepared(CheckIn, lambda p: CheckIn.select(CheckIn.item, CheckIn.evidence_count > 0).where(
    (CheckIn.staff == p.staff) & (CheckIn.checklist == p.checklist) & (CheckIn.year == p.year)))
_ADD = Prepared(CheckIn, lambda p: CheckIn.insert(
    staff=p.staff, department=p.department, checklist=p.checklist, item=p.item, year=p.year,
    created_at=p.created_at, evidence_count=0).on_conflict_ignore())
_LISTING = Prepared(Staff, lambda p: Staff.update(listing=p.listing, listing_at=p.listing_at)
                    .where(Staff.id == p.id))


def done_items(person: Staff, checklist: Checklist) -> set[str]:
    """Keys of the checklist's items the person has done this campaign year (or half)."""
    keys = {i.key for i in checklist.items}
    rows = _DONE.execute(staff=person.id, checklist=checklist.record_key, year=checklist.year)
    return {item for (item,) in rows} & keys


def check_in(person: Staff, checklist: Checklist, item: Item, now: dt.datetime,
             sent: evidence.Sent | None = None) -> CheckInResult:
    """Record that the person did item (with the evidence they sent, if any). An item whose
    plan requires evidence waits for its photo instead; a done item asked about again waits
    for more."""
    if not checklist.is_open(now.date()):
        return CheckInResult(CLOSED, checklist, item)
    total, counted = len(checklist.items), people.is_counted(person)
    with transaction():
        if item.evidence_required and sent is None and item.key not in done_items(person, checklist):
            _wait(person, _target(checklist, item), now)
            return CheckInResult(NEEDS_EVIDENCE, checklist, item)
        # rowcount, not the returned id: SQLite's lastrowid survives an ignored insert.
        created = _ADD.execute(staff=person.id, department=person.department_id, checklist=checklist.record_key,
                               item=item.key, year=checklist.year, created_at=to_utc(now)).rowcount == 1
        if sent is not None:
            _document(person, checklist, item, sent, now)
        if created:
            return CheckInResult(RECORDED, checklist, item, len(done_items(person, checklist)), total, counted=counted)
        rows = _DONE_EVIDENCE.execute(staff=person.id, checklist=checklist.record_key, year=checklist.year).fetchall()
        done = {key for key, _ in rows} & {i.key for i in checklist.items}
        has_evidence = any(has for key, has in rows if key == item.key)
        _wait(person, _target(checklist, item), now)  # asked again: the next photo documents it
        return CheckInResult(ALREADY, checklist, item, len(done), total, not has_evidence, counted)


def undo(person: Staff, checklist: Checklist, item: Item, now: dt.datetime) -> UndoResult:
    """Delete the person's own check-in of item (its evidence no longer documents it; the pieces
    stay in the archive); ends a wait for its photo."""
    if not checklist.is_open(now.date()):
        return UndoResult(CLOSED, checklist, item)
    with transaction():
        if person.awaiting == _target(checklist, item):  # "1" (asks for a photo), then "撤销 1"
            _wait(person, None, now)
        mine = _mine(person, checklist, item).first()
        if mine is None:
            return UndoResult(NOT_DONE, checklist, item)
        evidence.unlink_all([mine.id])
        mine.delete_instance()
        done = len(done_items(person, checklist))
        return UndoResult(UNDONE, checklist, item, done, len(checklist.items), mine.evidence_count > 0)


def department_done(department_id: int, checklist: Checklist) -> set[str]:
    """Keys of a collective checklist's items the department has done (anyone's check-in)."""
    keys = {i.key for i in checklist.items}
    rows = CheckIn.select(CheckIn.item).distinct().where(
        (CheckIn.department == department_id) & (CheckIn.checklist == checklist.record_key)
        & (CheckIn.year == checklist.year)).tuples()
    return {item for (item,) in rows} & keys


def done_for(person: Staff, checklist: Checklist) -> set[str]:
    """What counts as done for the person: their own items, or their department's on a
    collective checklist."""
    return department_done(person.department_id, checklist) if checklist.collective else done_items(person, checklist)


def progress(person: Staff, plan: Plan) -> Progress:
    lists = [(c, len(done_for(person, c))) for c in plan.checklists]
    department = stats.report(plan.main, plan.target, person.department_id).overall
    return Progress(lists, department, people.is_counted(person))


# --- the checklist in view: what a bare "3" refers to -------------------------------------------

def shown(person: Staff, checklist: Checklist, now: dt.datetime) -> None:
    """The person was shown `checklist`: for a few minutes a bare number or item name refers
    to it. Showing the main one ends that (it is what a bare number means anyway)."""
    target = None if checklist.main else checklist.key
    if target is None and person.listing is None:
        return  # nothing to write: the common case costs nothing
    _set_listing(person, target, now)


def forget_shown(person: Staff, now: dt.datetime) -> None:
    """Another command: a bare number means the main checklist again."""
    if person.listing is not None:
        _set_listing(person, None, now)


def in_view(person: Staff, plan: Plan, now: dt.datetime) -> Checklist | None:
    """The checklist shown to the person within LISTING_WINDOW, if any (and still in the plan)."""
    if person.listing is None or person.listing_at is None or person.listing_at < to_utc(now) - LISTING_WINDOW:
        return None
    return plan.checklist(person.listing)


def _set_listing(person: Staff, target: str | None, now: dt.datetime) -> None:
    at = to_utc(now)
    with transaction():
        _LISTING.execute(listing=target, listing_at=at, id=person.id)
    person.listing, person.listing_at = target, at


# --- the photo wait: which check-in a photo or video documents ---------------------------------

def attach_evidence(person: Staff, plan: Plan, sent: evidence.Sent, now: dt.datetime) -> EvidenceResult:
    """A photo, video, voice message or long text: evidence for whichever came last within
    EVIDENCE_WINDOW, the item the person was asked a photo for (the wait) or their latest
    check-in still without one. So "1", then "2", then a photo documents 2; chat or 进度 in
    between changes nothing. A wait is not ended by every other message: that would cost a
    write on the check-in path (bench/webhook.py); it ends with an undo of it, or the window.

    Each piece renews the wait for what it documented: photos sent together all go there.
    When a wait ends, awaiting_at keeps the moment: a wait is a fence, and check-ins from before
    it never take a later photo (one after a wait that is void: last year's, or for an item no
    longer in the plan)."""
    with transaction():
        since = to_utc(now) - EVIDENCE_WINDOW
        activity = _awaited_activity(person, since)
        if activity is not None:  # photos of a collective check-in just recorded
            collective.document(activity, person, sent, now)
            found = plan.item_of(activity.checklist, activity.item)
            return EvidenceResult(SAVED, sent.kind, found[1] if found else None, activity=activity.id)
        awaited = _awaited(person, plan, now, since)
        if awaited is None and person.awaiting_at is not None and person.awaiting_at > since:
            since = person.awaiting_at
        latest = (CheckIn.select().where((CheckIn.staff == person) & (CheckIn.created_at >= since)
                                         & (CheckIn.evidence_count == 0))
                  .order_by(CheckIn.created_at.desc(), CheckIn.id.desc()).first())
        found = plan.item_of(latest.checklist, latest.item) if latest else None
        if awaited is not None and (found is None or latest.created_at < awaited[2]):
            checklist, item, _ = awaited
            if item.key not in done_items(person, checklist):
                return EvidenceResult("check_in", sent.kind, item, check_in(person, checklist, item, now, sent))
            found = (checklist, item)
        if found is None:
            if person.awaiting:
                _wait(person, None, now)
            return EvidenceResult(NO_TARGET, sent.kind)
        _document(person, *found, sent, now)
        return EvidenceResult(SAVED, sent.kind, found[1])


def _document(person: Staff, checklist: Checklist, item: Item, sent: evidence.Sent, now: dt.datetime) -> None:
    """A new piece documenting the person's check-in of item; the wait now points there."""
    mine = _mine(person, checklist, item).first()
    if mine is None:
        return
    evidence.link(evidence.record(person, sent, now), [mine.id])
    _wait(person, _target(checklist, item), now)


def _awaited_activity(person: Staff, since: dt.datetime) -> Activity | None:
    if not (person.awaiting or "").startswith("activity:") or person.awaiting_at is None or person.awaiting_at < since:
        return None
    return Activity.get_or_none((Activity.id == int(person.awaiting.split(":", 1)[1])) & (Activity.state == "done"))


def _awaited(person: Staff, plan: Plan, now: dt.datetime, since: dt.datetime) -> tuple[Checklist, Item, dt.datetime] | None:
    """(checklist, item, since when) of the person's wait for a photo, if it still holds: within
    the window and asked in this campaign year (a wait from 23:50 on 31 December is over)."""
    at = person.awaiting_at
    if not person.awaiting or at is None or at < since or person.awaiting.startswith("activity:"):
        return None
    if from_utc(at, now.tzinfo).year != now.year:
        return None
    checklist_key, _, item_key = person.awaiting.partition("/")
    found = plan.item_of(checklist_key, item_key)
    return (*found, at) if found else None


def _target(checklist: Checklist, item: Item) -> str:
    return f"{checklist.key}/{item.key}"


def _wait(person: Staff, target: str | None, now: dt.datetime) -> None:
    people.await_evidence(person, target, now)


def _mine(person: Staff, checklist: Checklist, item: Item, query=None):
    """person's check-in of item this campaign year (a select, or the given update/delete)."""
    query = CheckIn.select() if query is None else query
    return query.where((CheckIn.staff == person) & (CheckIn.checklist == checklist.record_key)
                       & (CheckIn.year == checklist.year) & (CheckIn.item == item.key))
