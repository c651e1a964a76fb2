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


# The check-in path runs these for every message: compiled once (see models.Prepared).
DONE = Prepared(lambda: CheckIn.select(CheckIn.item).where((CheckIn.staff == S_ID) & (CheckIn.checklist == S_TEXT)
                                                          & (CheckIn.year == S_YEAR)),
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
    if not created and evidence:
        (CheckIn.update(evidence_type=evidence_type, evidence=evidence)
         .where((CheckIn.staff == person) & (CheckIn.checklist == checklist.key) & (CheckIn.year == checklist.year)
                & (CheckIn.item == item.key) & CheckIn.evidence.is_null())
         .execute())
    return Recorded(created, len(done_items(person, checklist)), len(checklist.items))


def undo(person: Staff, checklist: Checklist, item: Item) -> bool:
    deleted = (CheckIn.delete()
               .where((CheckIn.staff == person) & (CheckIn.checklist == checklist.key) & (CheckIn.item == item.key)
                      & (CheckIn.year == checklist.year))
               .execute())
    return deleted > 0
