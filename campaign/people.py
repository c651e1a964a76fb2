"""Who a person is to the campaign: found by openid, counted or not, and their department.

One rule decides who counts, in every figure, push and binding: everyone on the roster
whose status is not one of NOT_COUNTED (exempt: leave, secondment), bound or not.
"""
from __future__ import annotations

from models import Department, Staff
from storage.prepared import Prepared

NOT_COUNTED = ("exempt",)

_BY_OPENID = Prepared(Staff, lambda p: Staff.select().where(Staff.openid == p.openid))


def counted():
    """The peewee condition for people who count (eligible)."""
    return Staff.status.not_in(NOT_COUNTED)


def not_counted():
    return Staff.status.in_(NOT_COUNTED)


def is_counted(person: Staff) -> bool:
    return person.status not in NOT_COUNTED


def by_openid(openid: str) -> Staff | None:
    """The person bound to this WeChat openid (the webhook asks for every message)."""
    return _BY_OPENID.get(openid=openid)


def department_named(name: str) -> Department | None:
    return Department.get_or_none(Department.name == name)


def department_names(limit: int | None = None) -> list[str]:
    query = Department.select(Department.name).order_by(Department.name)
    if limit is not None:
        query = query.limit(limit)
    return [d.name for d in query]
