"""One-time binding codes that link a WeChat openid to a person on the roster.

Codes are random, stored only as SHA-256 hashes, single use and expire. Redemption is a
conditional UPDATE, so of two openids racing for one code exactly one wins. An openid that
fails too often within the window is refused until its failures age out of the window.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from campaign import people
from campaign.clock import to_utc
from campaign.order import department_key, person_key
from campaign.sheets import as_text
from models import BindCode, BindFailure, Department, Staff, db
from storage.engine import transaction

# No 0/O, 1/I/L: codes are read off paper and typed on phones.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


@dataclass(frozen=True)
class BindPolicy:
    ttl: dt.timedelta = dt.timedelta(days=7)
    max_failures: int = 5
    window: dt.timedelta = dt.timedelta(minutes=10)

    @classmethod
    def of(cls, binding) -> "BindPolicy":
        """The policy a config's [binding] section sets (config.BindingConfig)."""
        return cls(ttl=dt.timedelta(days=binding.code_ttl_days), max_failures=binding.max_failures,
                   window=dt.timedelta(minutes=binding.failure_window_minutes))


@dataclass(frozen=True)
class BindResult:
    ok: bool
    # bound | already (this account is bound: person says as whom) | invalid (no such code) |
    # used (by another account) | expired | locked | openid_taken | left (the person is off the roster)
    reason: str
    person: Staff | None = None


def hash_code(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def normalise_code(code: str) -> str:
    return "".join(code.split()).upper()


def looks_like_code(text: str) -> bool:
    code = normalise_code(text)
    return len(code) == CODE_LENGTH and all(c in ALPHABET for c in code)


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def issue_codes(now: dt.datetime, policy: BindPolicy, department: str | None = None,
                rebind: bool = False, deliver=None) -> list[tuple[Staff, str]]:
    """A fresh code for every non-exempt person not yet bound (and bound ones with rebind).

    Earlier unused codes of those people stop working: only the newest sheet is valid.
    `deliver(issued)` runs inside the transaction: if it fails (the sheet cannot be
    written), nothing changes and the previous sheet stays valid.
    """
    query = Staff.select(Staff, Department).join(Department).where(people.counted())
    if department is not None:
        query = query.where(Department.name == department)
    if not rebind:
        query = query.where(Staff.openid.is_null())
    issued = []
    created = to_utc(now)
    with db.atomic():
        for person in sorted(query, key=lambda p: (department_key(p.department.name), person_key(p.name), p.id)):
            BindCode.delete().where((BindCode.staff == person) & BindCode.used_at.is_null()).execute()
            code = new_code()
            BindCode.create(staff=person, code_hash=hash_code(code), created_at=created,
                            expires_at=created + policy.ttl)
            issued.append((person, code))
        if deliver is not None:
            deliver(issued)
    return issued


def is_locked(openid: str, now: dt.datetime, policy: BindPolicy) -> bool:
    since = to_utc(now) - policy.window
    failures = BindFailure.select().where((BindFailure.openid == openid) & (BindFailure.at > since)).count()
    return failures >= policy.max_failures


def redeem(openid: str, code: str, now: dt.datetime, policy: BindPolicy) -> BindResult:
    """Bind openid to the person the code was issued to."""
    with transaction():
        return _redeem(openid, code, now, policy)


def _redeem(openid: str, code: str, now: dt.datetime, policy: BindPolicy) -> BindResult:
    if is_locked(openid, now, policy):
        return BindResult(False, "locked")
    at = to_utc(now)
    current = Staff.get_or_none(Staff.openid == openid)
    row = BindCode.get_or_none(BindCode.code_hash == hash_code(code))
    if row is not None and row.used_at is not None and row.used_by == openid and current is not None:
        return BindResult(True, "already", current)  # its own code, sent again
    if row is None or row.used_at is not None or row.expires_at <= at:
        BindFailure.create(openid=openid, at=at)
        if current is not None:
            return BindResult(False, "already", current)
        return BindResult(False, "invalid" if row is None else "used" if row.used_at is not None else "expired")
    if current is not None and current.id != row.staff_id:
        return BindResult(False, "openid_taken", current)
    person = Staff.get_by_id(row.staff_id)
    if not people.on_roster(person):  # left after the code was issued: the code stays unused
        return BindResult(False, "left", person)
    claimed = (BindCode.update(used_at=at, used_by=openid)
               .where((BindCode.id == row.id) & BindCode.used_at.is_null())
               .execute())
    if claimed != 1:  # another account redeemed it a moment before
        BindFailure.create(openid=openid, at=at)
        return BindResult(False, "used")
    if person.openid == openid:
        return BindResult(True, "already", person)
    person.openid, person.bound_at = openid, at
    person.save()
    return BindResult(True, "bound", person)


def prune_failures(now: dt.datetime, policy: BindPolicy) -> int:
    return BindFailure.delete().where(BindFailure.at <= to_utc(now) - policy.window).execute()


def write_codes(out: str | Path, issued) -> None:
    """The codes sheet (name, department, phone, code) for organisers to hand out: readable by
    its owner only (it holds phones and live codes), written to a temporary file first, then
    renamed, so never half a sheet."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a .partial left by an earlier failure may have had other rights
    with open(fd, "w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "department", "phone", "code"])
        for person, code in issued:
            writer.writerow([as_text(person.name), as_text(person.department.name), person.phone, code])
    partial.replace(path)
