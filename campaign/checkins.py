"""Recording and undoing check-ins; a person's own progress."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from campaign.plan import Checklist, Item
from models import CheckIn, Staff, db, to_utc


@dataclass(frozen=True)
class Recorded:
    created: bool  # False when the item was already done
    done: int
    total: int


def done_items(person: Staff, checklist: Checklist) -> set[str]:
    keys = {i.key for i in checklist.items}
    rows = CheckIn.select(CheckIn.item).where((CheckIn.staff == person) & (CheckIn.checklist == checklist.key))
    return {r.item for r in rows} & keys


def record(person: Staff, checklist: Checklist, item: Item, now: dt.datetime,
           evidence_type: str | None = None, evidence: str | None = None) -> Recorded:
    query = (CheckIn.insert(staff=person, department=person.department_id, checklist=checklist.key,
                            item=item.key, created_at=to_utc(now), evidence_type=evidence_type,
                            evidence=evidence)
             .on_conflict_ignore())
    # rowcount, not the returned id: SQLite's lastrowid survives an ignored insert.
    created = db.execute(query).rowcount == 1
    if not created and evidence:
        (CheckIn.update(evidence_type=evidence_type, evidence=evidence)
         .where((CheckIn.staff == person) & (CheckIn.checklist == checklist.key)
                & (CheckIn.item == item.key) & CheckIn.evidence.is_null())
         .execute())
    return Recorded(created, len(done_items(person, checklist)), len(checklist.items))


def undo(person: Staff, checklist: Checklist, item: Item) -> bool:
    deleted = (CheckIn.delete()
               .where((CheckIn.staff == person) & (CheckIn.checklist == checklist.key) & (CheckIn.item == item.key))
               .execute())
    return deleted > 0
