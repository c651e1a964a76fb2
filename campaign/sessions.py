"""Who is logged in to the dashboard, and how they got in, without another password for staff.

- A bound person sends 登录: the bot answers with a one-time link (valid a few minutes, used
  once, stored as a hash) that opens the dashboard in WeChat's browser.
- On a desktop, the login page shows a QR code whose scene is a secret; scanning it with a
  bound WeChat account (the SCAN or subscribe event) confirms it, and that browser is in.
- Admins have password accounts (werkzeug's scrypt); failed attempts are counted in the
  database per account and per address, so the limit holds across workers.

A session lives on the server: its cookie holds a random token, stored hashed. Logout ends it;
so does a change of the person's role, department or status, so a copied cookie stops working.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from campaign import people
from campaign.access import ADMIN
from campaign.clock import to_utc
from models import DashboardSession, DashboardUser, LoginFailure, LoginLink, Staff
from storage.engine import transaction

QR_PREFIX = "login_"  # a login QR code's scene: login_<secret>


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Viewer:
    """Who a dashboard request is from: a person on the roster, or an admin account."""

    role: str  # organiser | leader | staff | admin
    staff: Staff | None = None
    user: DashboardUser | None = None
    session_id: int = 0

    @property
    def name(self) -> str:
        return self.staff.name if self.staff else self.user.username

    @property
    def who(self) -> str:
        """How records name who did something: staff:12, user:3."""
        return f"staff:{self.staff.id}" if self.staff else f"user:{self.user.id}"


class TooMany(Exception):
    """Too many failed logins: names what is locked (the account, or the address)."""


# --- one-time links and QR codes ------------------------------------------------------------

def issue_link(person: Staff, now: dt.datetime, minutes: int) -> str:
    """A one-time secret for a login link for `person` (the link carries it; we keep its hash)."""
    secret = secrets.token_urlsafe(32)
    with transaction():
        LoginLink.create(token_hash=_hash(secret), kind="link", staff=person.id, created_at=to_utc(now),
                         expires_at=to_utc(now + dt.timedelta(minutes=minutes)))
    return secret


def redeem_link(secret: str, now: dt.datetime) -> Staff | None:
    """The person a link logs in, once: used, expired or unknown links give None."""
    with transaction():
        claimed = (LoginLink.update(used_at=to_utc(now))
                   .where((LoginLink.token_hash == _hash(secret)) & (LoginLink.kind == "link")
                          & LoginLink.used_at.is_null() & (LoginLink.expires_at > to_utc(now))).execute())
        if claimed != 1:
            return None
        link = LoginLink.get(LoginLink.token_hash == _hash(secret))
        person = Staff.get_or_none(Staff.id == link.staff_id)
        return person if person is not None and people.on_roster(person) else None


def issue_qr(now: dt.datetime, minutes: int) -> str:
    """A secret for a desktop's login QR code (its scene is QR_PREFIX + secret)."""
    secret = secrets.token_urlsafe(24)
    with transaction():
        LoginLink.create(token_hash=_hash(secret), kind="qr", created_at=to_utc(now),
                         expires_at=to_utc(now + dt.timedelta(minutes=minutes)))
    return secret


def confirm_qr(secret: str, person: Staff, now: dt.datetime) -> bool:
    """`person` scanned the code: the browser showing it may log in as them (once)."""
    if not people.on_roster(person):
        return False
    with transaction():
        return (LoginLink.update(staff=person.id, confirmed_at=to_utc(now))
                .where((LoginLink.token_hash == _hash(secret)) & (LoginLink.kind == "qr")
                       & LoginLink.confirmed_at.is_null() & (LoginLink.expires_at > to_utc(now))).execute()) == 1


def qr_person(secret: str, now: dt.datetime) -> tuple[str, Staff | None]:
    """("waiting" | "expired" | "confirmed", who) for the browser polling its QR code; a
    confirmed code is used by that answer."""
    with transaction():
        link = LoginLink.get_or_none((LoginLink.token_hash == _hash(secret)) & (LoginLink.kind == "qr"))
        if link is None or link.used_at is not None or link.expires_at <= to_utc(now):
            return "expired", None
        if link.confirmed_at is None:
            return "waiting", None
        claimed = (LoginLink.update(used_at=to_utc(now))
                   .where((LoginLink.id == link.id) & LoginLink.used_at.is_null()).execute())
        return ("confirmed", Staff.get_by_id(link.staff_id)) if claimed == 1 else ("expired", None)


# --- password accounts ------------------------------------------------------------------------

class BadAccount(Exception):
    """An account that cannot be created as asked: names why."""


USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
PASSWORD_MIN = 10


def set_password(username: str, password: str, now: dt.datetime, reset: bool = False) -> DashboardUser:
    """A new admin account, or (reset) an existing one's new password, which ends its sessions."""
    from werkzeug.security import generate_password_hash

    if not USERNAME.match(username):
        raise BadAccount(f"username {username!r}: 1-64 letters, digits or _ . @ -")
    if len(password) < PASSWORD_MIN:
        raise BadAccount(f"the password needs {PASSWORD_MIN} characters or more (it has {len(password)})")
    hashed = generate_password_hash(password, "scrypt")
    with transaction():
        user = DashboardUser.get_or_none(DashboardUser.username == username)
        if user is None and reset:
            raise BadAccount(f"no account {username!r} to reset (leave out --reset to create it)")
        if user is not None and not reset:
            raise BadAccount(f"account {username!r} exists; add --reset to set a new password")
        if user is None:
            return DashboardUser.create(username=username, password_hash=hashed, role=ADMIN, created_at=to_utc(now))
        user.password_hash = hashed
        user.save()
        DashboardSession.update(ended_at=to_utc(now)).where(
            (DashboardSession.user == user.id) & DashboardSession.ended_at.is_null()).execute()
        return user


def check_password(username: str, password: str, address: str, now: dt.datetime, limits) -> DashboardUser | None:
    """The account when the password is right. Raises TooMany past `limits` (config's
    [dashboard]); a wrong password is counted against the account and the address."""
    from werkzeug.security import check_password_hash

    since = to_utc(now - dt.timedelta(minutes=limits.failure_window_minutes))
    for key, allowed, what in ((f"user:{username}", limits.max_failures_per_account, "this account"),
                               (f"addr:{address}", limits.max_failures_per_address, "this address")):
        if LoginFailure.select().where((LoginFailure.key == key) & (LoginFailure.at > since)).count() >= allowed:
            raise TooMany(what)
    user = DashboardUser.get_or_none((DashboardUser.username == username) & ~DashboardUser.disabled)
    if user is not None and check_password_hash(user.password_hash, password):
        return user
    with transaction():
        LoginFailure.insert_many([{"key": f"user:{username}", "at": to_utc(now)},
                                  {"key": f"addr:{address}", "at": to_utc(now)}]).execute()
    return None


# --- sessions ----------------------------------------------------------------------------------

def start(now: dt.datetime, hours: int, person: Staff | None = None, user: DashboardUser | None = None) -> str:
    """A new session (a new id at every login); returns the cookie's secret."""
    secret = secrets.token_urlsafe(32)
    role = user.role if user else person.role
    with transaction():
        DashboardSession.create(token_hash=_hash(secret), staff=person.id if person else None,
                                user=user.id if user else None, role=role,
                                department=person.department_id if person else None,
                                created_at=to_utc(now), expires_at=to_utc(now + dt.timedelta(hours=hours)))
    return secret


def viewer(secret: str | None, now: dt.datetime) -> Viewer | None:
    """Who the cookie's session is, if it still holds: not ended, not expired, and the person
    still has the role and department they logged in with."""
    if not secret:
        return None
    s = DashboardSession.get_or_none((DashboardSession.token_hash == _hash(secret))
                                     & DashboardSession.ended_at.is_null() & (DashboardSession.expires_at > to_utc(now)))
    if s is None:
        return None
    if s.user_id is not None:
        user = DashboardUser.get_or_none(DashboardUser.id == s.user_id)
        return Viewer(user.role, user=user, session_id=s.id) if user and not user.disabled else None
    person = Staff.get_or_none(Staff.id == s.staff_id)
    if person is None or not people.on_roster(person) or (person.role, person.department_id) != (s.role, s.department_id):
        end(s.id, now)  # the roster changed who this is: the session is over
        return None
    return Viewer(person.role, staff=person, session_id=s.id)


def end(session_id: int, now: dt.datetime) -> None:
    with transaction():
        DashboardSession.update(ended_at=to_utc(now)).where(DashboardSession.id == session_id).execute()


def actor_name(who: str | None) -> str:
    """The name of whoever a record says did something ("staff:12", "user:3")."""
    kind, _, number = (who or "").partition(":")
    if kind == "staff" and number.isdigit():
        person = Staff.get_or_none(Staff.id == int(number))
        return person.name if person else "已删除的人员"
    if kind == "user" and number.isdigit():
        user = DashboardUser.get_or_none(DashboardUser.id == int(number))
        return user.username if user else "已删除的账号"
    return who or "计划提醒"


KEEP = dt.timedelta(days=1)  # spent links, old failures and ended sessions, kept a day for the curious


def prune(now: dt.datetime) -> int:
    """Delete login links, failed logins and sessions that can no longer matter."""
    before = to_utc(now - KEEP)
    with transaction():
        return (LoginLink.delete().where(LoginLink.expires_at < before).execute()
                + LoginFailure.delete().where(LoginFailure.at < before).execute()
                + DashboardSession.delete().where((DashboardSession.expires_at < before)
                                                  | (DashboardSession.ended_at < before)).execute())
