"""Who may see what, in one place: the chat, the API and the dashboard ask here.

- an organiser sees every department's figures, and the names of who is pending in any;
- a department leader sees their own department's figures and its pending names;
- an admin (who keeps the accounts and the roster) sees the whole unit's figures, no names;
- everyone else sees only their own progress.
Nobody is ever shown a ranking of individuals: figures are per department and per item.
"""
from __future__ import annotations

from dataclasses import dataclass

from campaign import evidence, people
from models import Evidence, Staff

ORGANISER, LEADER, STAFF, ADMIN = "organiser", "leader", "staff", "admin"
ROLE_WORDS = {STAFF: "职工", LEADER: "部门负责人", ORGANISER: "组织者", ADMIN: "管理员"}  # as pages show a role

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


class Forbidden(Exception):
    """The viewer asked for a department, or a piece of evidence, outside their scope."""


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
    """The viewer's scope; None for staff (and nobody, and admins), who see no names."""
    if person is None or not people.on_roster(person):  # no figures, whatever the role was
        return None
    if person.role == ORGANISER:
        return Scope(ORGANISER, None)
    if person.role == LEADER:
        return Scope(LEADER, person.department_id)
    return None


def figures_department(scope: Scope | None) -> int | None:
    """Whose figures an overview shows: a leader's department; the whole unit (None) for an
    organiser and for an admin (who opens the overview but no page with names)."""
    return scope.department_id if scope is not None else None


def department_for(scope: Scope | None, asked: int | None) -> int | None:
    """The department a page or file is for. A leader's is their own, always (naming another is
    Forbidden); an organiser's the one named, or None for the whole unit. No scope: Forbidden."""
    if scope is None:
        raise Forbidden("no department's names are in this viewer's scope")
    if asked is not None and not scope.sees(asked):
        raise Forbidden(f"department {asked} is not the viewer's")
    return asked if scope.whole_unit else scope.department_id


def may_see_piece(person: Staff | None, scope: Scope | None, piece: Evidence) -> bool:
    """A piece of evidence: its sender, the people it documents, and whoever may see one of
    their departments."""
    if person is not None and (piece.staff_id == person.id or person.id in evidence.people_of(piece)):
        return True
    return scope is not None and (scope.whole_unit or scope.department_id in evidence.departments_of(piece))
