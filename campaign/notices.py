"""Notices (通知) from organisers. A template keyword holds 20 characters at most, so the message
carries a short title and a link to the notice's own page; each recipient's link is signed for
them, so the page opens without a login and for nobody else."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

from campaign.clock import to_utc
from models import Department, Notice
from storage.engine import transaction

TITLE_MAX = 20


class Invalid(Exception):
    """A notice that cannot be sent: names what is wrong."""


def create(title: str, body: str, department_ids: list[int] | None, by: str, now: dt.datetime) -> Notice:
    title, body = " ".join(title.split()), body.strip()
    if not title or len(title) > TITLE_MAX:
        raise Invalid(f"标题需 1—{TITLE_MAX} 字（模板消息的规定），现在是 {len(title)} 字")
    if not body:
        raise Invalid("正文不能为空")
    if len(body) > 5000:
        raise Invalid("正文最多 5000 字")
    if department_ids is not None:
        known = {d.id for d in Department.select(Department.id).where(Department.id.in_(department_ids))}
        if not department_ids or set(department_ids) - known:
            raise Invalid("请选择部门")
    with transaction():
        return Notice.create(title=title, body=body, created_by=by, created_at=to_utc(now),
                             departments=None if department_ids is None else json.dumps(sorted(department_ids)))


def department_names(notice: Notice) -> tuple[str, ...]:
    """The departments it goes to (empty: everyone)."""
    if notice.departments is None:
        return ()
    ids = json.loads(notice.departments)
    return tuple(d.name for d in Department.select(Department.name).where(Department.id.in_(ids)))


def signature(key: str, notice_id: int, staff_id: int) -> str:
    return hmac.new(key.encode(), f"notice:{notice_id}:{staff_id}".encode(), hashlib.sha256).hexdigest()[:32]


def readable(key: str, notice_id: int, staff_id: int, sig: str) -> bool:
    return hmac.compare_digest(signature(key, notice_id, staff_id), sig)


def attach_occurrence(notice: Notice, occurrence_id: int | None) -> None:
    notice.occurrence = occurrence_id
    notice.save()


def get(notice_id: int) -> Notice | None:
    return Notice.get_or_none(Notice.id == notice_id)


def recent(limit: int = 50) -> list[Notice]:
    return list(Notice.select().order_by(Notice.created_at.desc()).limit(limit))
