"""Who may see what, in one place: the chat, the API and the dashboard ask here.

- an organiser sees every department's figures, and the names of who is pending in any;
- a department leader sees their own department's figures and its pending names;
- everyone else sees only their own progress.
Nobody is ever shown a ranking of individuals: figures are per department and per item.
"""
from __future__ import annotations

from dataclasses import dataclass

from campaign import people
from models import Staff

ORGANISER, LEADER, STAFF, ADMIN = "organiser", "leader", "staff", "admin"

# The dashboard's pages, and the roles that may open them (a leader within their department).
# Pending names and evidence: organisers and that department's leader only. Admins keep the
# accounts and the roster; staff see their own progress and evidence.
PAGES = {
    "overview": {ORGANISER, LEADER, ADMIN},
    "pending": {ORGANISER, LEADER},
    "urge": {ORGANISER, LEADER},
    "gallery": {ORGANISER, LEADER},
    "notices": {ORGANISER},
    "roster": {ORGANISER, ADMIN},
    "me": {ORGANISER, LEADER, STAFF},
    # The assessment and the year-end files: a leader reads and downloads their department's.
    "assessment": {ORGANISER, LEADER},
    "assessment_edit": {ORGANISER},
    "exports": {ORGANISER, LEADER},
}


def may_open(role: str, page: str) -> bool:
    return role in PAGES.get(page, set())


@dataclass(frozen=True)
class Scope:
    """What a viewer may see beyond their own progress."""

    role: str
    department_id: int | None  # None: every department

    @property
    def whole_unit(self) -> bool:
        return self.department_id is None

    def sees(self, department_id: int) -> bool:
        """May see this department's figures and its pending names."""
        return self.department_id is None or self.department_id == department_id


def scope_of(person: Staff | None) -> Scope | None:
    """The viewer's scope; None for staff (and nobody), who see only their own progress."""
    if person is None or not people.on_roster(person):  # no figures, whatever the role was
        return None
    if person.role == ORGANISER:
        return Scope(ORGANISER, None)
    if person.role == LEADER:
        return Scope(LEADER, person.department_id)
    return None
