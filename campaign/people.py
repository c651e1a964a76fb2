"""Who a person is to the campaign: found by openid, counted or not, and their department.

One rule decides who counts, in every figure, push and binding: everyone on the roster
whose status is not one of NOT_COUNTED, bound or not. Exempt people (leave, secondment) are
kept and may check in, counted nowhere; people who left (离职、调离、退休) are kept with their
history, counted nowhere, sent nothing and answered only that they are off the roster.
"""
from __future__ import annotations

from campaign.order import department_key, person_key
from models import CheckIn, Department, Staff
from storage.engine import transaction
from storage.prepared import Prepared

ACTIVE, EXEMPT, LEFT = "active", "exempt", "left"
NOT_COUNTED = (EXEMPT, LEFT)
STATUS_WORDS = {ACTIVE: "在岗", EXEMPT: "免于参与", LEFT: "已离开"}  # as pages and files show a status

_BY_OPENID = Prepared(Staff, lambda p: Staff.select().where(Staff.openid == p.openid))
_AWAIT = Prepared(Staff, lambda p: Staff.update(awaiting=p.awaiting, awaiting_at=p.awaiting_at)
                  .where(Staff.id == p.id))


def counted():
    """The peewee condition for people who count (eligible)."""
    return Staff.status.not_in(NOT_COUNTED)


def not_counted():
    return Staff.status.in_(NOT_COUNTED)


def is_counted(person: Staff) -> bool:
    return person.status not in NOT_COUNTED


def on_roster(person: Staff) -> bool:
    """Still one of the unit's people (not left)."""
    return person.status != LEFT


def streamed(departments: tuple[str, ...] = ()):
    """Everyone on record (left and exempt people too: the caller says why it passes them over)
    in these departments, or in all, by id and streamed: a fan-out to 100,000 holds none."""
    query = Staff.select(Staff.id, Staff.name, Staff.openid, Staff.status, Staff.department, Staff.role)
    if departments:
        query = query.join(Department).where(Department.name.in_(list(departments)))
    return query.order_by(Staff.id).iterator()


def by_openid(openid: str) -> Staff | None:
    """The person bound to this WeChat openid (the webhook asks for every message)."""
    return _BY_OPENID.get(openid=openid)


def department_named(name: str) -> Department | None:
    return Department.get_or_none(Department.name == name)


def department_by_id(department_id: int) -> Department:
    return Department.get_or_none(Department.id == department_id)


def departments() -> list[Department]:
    """Every department, in natural order."""
    return sorted(Department.select(), key=lambda d: department_key(d.name))


def department_names(limit: int | None = None) -> list[str]:
    """Department names in natural order (第2科 before 第10科), the first `limit` of them."""
    names = sorted((name for (name,) in Department.select(Department.name).tuples()), key=department_key)
    return names if limit is None else names[:limit]


def await_evidence(person: Staff, target: str | None, now) -> None:
    """Set (or with None, end) what the person's next photo documents: "checklist/item", or
    "activity:<id>" (a collective check-in they just recorded). The rules are campaign.checkins'."""
    from campaign.clock import to_utc

    at = to_utc(now)
    _AWAIT.execute(awaiting=target, awaiting_at=at, id=person.id)
    person.awaiting, person.awaiting_at = target, at


def move(person: Staff, department_id: int) -> None:
    """Put a person in another department (the caller saves the row). Check-ins carry a copy of
    the department, for counting without a join: the move carries them along."""
    if person.department_id != department_id:
        CheckIn.update(department=department_id).where(CheckIn.staff == person).execute()
        person.department = department_id


def listing(department: str | None = None, status: str | None = None) -> list[Staff]:
    """The roster as organisers read it: departments in natural order, people by pinyin."""
    query = Staff.select(Staff, Department).join(Department)
    if department is not None:
        query = query.where(Department.name == department)
    if status is not None:
        query = query.where(Staff.status == status)
    return sorted(query, key=lambda p: (department_key(p.department.name), person_key(p.name)))


def find(text: str, limit: int = 50) -> list[Staff]:
    """People whose name holds `text`, or whose phone is or holds it."""
    text = text.strip()
    digits = "".join(c for c in text if c.isdigit())
    condition = Staff.name.contains(text)
    if digits and len(digits) >= 4:
        condition |= Staff.phone.contains(digits)
    query = Staff.select(Staff, Department).join(Department).where(condition).limit(limit)
    return sorted(query, key=lambda p: (department_key(p.department.name), person_key(p.name)))


def by_phone(phone: str) -> Staff | None:
    return Staff.get_or_none(Staff.phone == phone.strip())


def set_status(person: Staff, status: str) -> str:
    """Change one person's status; returns the old one."""
    with transaction():
        old, person.status = person.status, status
        person.save()
    return old


def set_department(person: Staff, department: Department) -> str:
    """Move one person (and the department copy on their check-ins); returns the old name."""
    with transaction():
        old = person.department.name
        move(person, department.id)
        person.save()
    return old


def absent_from(phones: frozenset) -> list[Staff]:
    """People on the roster (not left) whose phone is not among `phones`: who a full roster file
    leaves out."""
    on = Staff.select(Staff, Department).join(Department).where(Staff.status != LEFT)
    return sorted((p for p in on if p.phone not in phones),
                  key=lambda p: (department_key(p.department.name), person_key(p.name)))


def mark_left(people: list[Staff]) -> int:
    with transaction():
        return Staff.update(status=LEFT).where(Staff.id.in_([p.id for p in people])).execute() if people else 0


def counted_in(department_id: int) -> int:
    """How many people of the department count (eligible)."""
    return Staff.select().where((Staff.department == department_id) & counted()).count()


def on_roster_count() -> int:
    return Staff.select().where(Staff.status != LEFT).count()


def roster_size(department_id: int | None = None) -> int:
    """Everyone on the roster (of one department), counted or not: the rows of a full list."""
    query = Staff.select()
    if department_id is not None:
        query = query.where(Staff.department == department_id)
    return query.count()
