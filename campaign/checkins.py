"""Recording and undoing check-ins; a person's own progress."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaign.plan import Checklist, Item
from models import S_ID, S_INT, S_YEAR, S_TEXT, S_TEXT2, S_TEXT3, S_TEXT4, S_TIME, CheckIn, Prepared, Staff, to_utc


@dataclass(frozen=True)
class Recorded:
    created: bool  # False when the item was already done
    done: int
    total: int
    has_evidence: bool = False  # the check-in (new or earlier) carries evidence


# The check-in path runs these for every message: compiled once (see models.Prepared).
DONE = Prepared(lambda: CheckIn.select(CheckIn.item).where((CheckIn.staff == S_ID) & (CheckIn.checklist == S_TEXT)
                                                          & (CheckIn.year == S_YEAR)),
                staff=S_ID, checklist=S_TEXT, year=S_YEAR)
# A repeated check-in also says which done items carry evidence (it reads the table, not only
# the index, so the new check-in path keeps to DONE).
DONE_EVIDENCE = Prepared(lambda: CheckIn.select(CheckIn.item, CheckIn.evidence.is_null(False))
                         .where((CheckIn.staff == S_ID) & (CheckIn.checklist == S_TEXT) & (CheckIn.year == S_YEAR)),
                         staff=S_ID, checklist=S_TEXT, year=S_YEAR)
ADD = Prepared(lambda: CheckIn.insert(staff=S_ID, department=S_INT, checklist=S_TEXT, item=S_TEXT2, year=S_YEAR,
                                      created_at=S_TIME, evidence_type=S_TEXT3, evidence=S_TEXT4).on_conflict_ignore(),
               staff=S_ID, department=S_INT, checklist=S_TEXT, item=S_TEXT2, year=S_YEAR, at=S_TIME,
               evidence_type=S_TEXT3, evidence=S_TEXT4)


def done_items(person: Staff, checklist: Checklist) -> set[str]:
    keys = {i.key for i in checklist.items}
    return {item for (item,) in DONE.execute(staff=person.id, checklist=checklist.key, year=checklist.year)} & keys


def record(person: Staff, checklist: Checklist, item: Item, now: dt.datetime,
           evidence_type: str | None = None, evidence: str | None = None) -> Recorded:
    # rowcount, not the returned id: SQLite's lastrowid survives an ignored insert.
    created = ADD.execute(staff=person.id, department=person.department_id, checklist=checklist.key, item=item.key,
                          year=checklist.year, at=to_utc(now), evidence_type=evidence_type, evidence=evidence).rowcount == 1
    if created:
        return Recorded(True, len(done_items(person, checklist)), len(checklist.items), bool(evidence))
    # Already done: attach evidence it lacks, and say whether it has some.
    if evidence:
        add_evidence(person, checklist, item, evidence_type, evidence)
    keys = {i.key for i in checklist.items}
    rows = DONE_EVIDENCE.execute(staff=person.id, checklist=checklist.key, year=checklist.year).fetchall()
    done = {key for key, _ in rows} & keys
    return Recorded(False, len(done), len(checklist.items), any(has for key, has in rows if key == item.key))


def add_evidence(person: Staff, checklist: Checklist, item: Item, evidence_type: str, evidence: str) -> bool:
    """Attach evidence to a done item that has none; False when there is no such check-in."""
    return _mine(person, checklist, item, CheckIn.update(evidence_type=evidence_type, evidence=evidence)) \
        .where(CheckIn.evidence.is_null()).execute() > 0


def undo(person: Staff, checklist: Checklist, item: Item) -> tuple[bool, bool]:
    """Delete my check-in of item: (deleted, it carried evidence)."""
    had_evidence = _mine(person, checklist, item).where(CheckIn.evidence.is_null(False)).exists()
    deleted = _mine(person, checklist, item, CheckIn.delete()).execute()
    return deleted > 0, deleted > 0 and had_evidence


def _mine(person: Staff, checklist: Checklist, item: Item, query=None):
    """person's check-in of item this campaign year (a select, or the given update/delete)."""
    query = CheckIn.select() if query is None else query
    return query.where((CheckIn.staff == person) & (CheckIn.checklist == checklist.key)
                       & (CheckIn.year == checklist.year) & (CheckIn.item == item.key))
