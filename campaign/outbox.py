"""The outbox: every message we send is a stored row, and this module is the only writer of
its states and of the occurrences that create them.

An occurrence is one firing of a reminder (monthly_talk@2026-05-06) or one manual push; it
is fanned out once (its unique key) or recorded as expired. Each of its messages is a row
keyed by occurrence and person, so a fan-out that runs twice adds nothing.

A message moves pending -> sending (claimed by one sender with a conditional UPDATE and a
lease) -> sent | failed (permanent) | retry (transient, with a time for the next attempt)
| unknown (the request may have left, and we cannot tell: never resent automatically, a
duplicate being worse than a gap that organisers can see).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from peewee import IntegrityError, fn

from campaign.clock import from_utc, seconds_since, to_utc
from models import InboundMessage, Occurrence, Outbox, db
from storage.engine import is_mysql, is_postgres, is_sqlite
from storage.prepared import Prepared

# Message states.
PENDING, SENDING, SENT, FAILED, RETRY, UNKNOWN = "pending", "sending", "sent", "failed", "retry", "unknown"
STATES = (PENDING, SENDING, SENT, FAILED, RETRY, UNKNOWN)
CLAIMABLE = (PENDING, RETRY)
# Occurrence states.
FANNED_OUT, EXPIRED = "fanned_out", "expired"

BATCH = 500
# Suffix of a leader's row in a nudge occurrence, from before the weekly digest replaced them:
# such rows may still be stored, and are not nudges.
ESCALATION = "escalation"


# --- keys ---------------------------------------------------------------------------------------

def occurrence_key(reminder: str, day: dt.date, *, push: bool = False, department: str | None = None,
                   pending_only: bool = False) -> str:
    """The one spelling of an occurrence key: "monthly_talk@2026-05-06" for the scheduler's
    firing; "push:monthly_talk:2026-05-06[:办公室][:pending]" for a manual push, so that a
    rerun the same day resumes it. Long department names are hashed to fit the column."""
    if not push:
        return f"{reminder}@{day.isoformat()}"
    dept = department if department is None or len(department) <= 40 else \
        hashlib.sha256(department.encode()).hexdigest()[:16]
    return ":".join(filter(None, ["push", reminder, day.isoformat(), dept, "pending" if pending_only else None]))


def urge_key(checklist_key: str, department_id: int, day: dt.date) -> str:
    """An organiser's or leader's 催办 of one department for one checklist: once a day."""
    return f"urge:{checklist_key}:{department_id}:{day.isoformat()}"


def notice_key(notice_id: int) -> str:
    """A notice's one fan-out (a rerun resumes it; nobody gets a notice twice)."""
    return f"notice:{notice_id}"


def message_key(occurrence: str, staff_id: int, suffix: str = "") -> str:
    return f"{occurrence}:{staff_id}" + (f":{suffix}" if suffix else "")


# --- occurrences -------------------------------------------------------------------------------

def occurrence_exists(key: str) -> bool:
    return Occurrence.select(Occurrence.id).where(Occurrence.key == key).exists()


class AlreadyThere(Exception):
    """The occurrence was fanned out or expired before (by this or another process)."""


def expire(reminder: str, key: str, due: dt.datetime, now: dt.datetime) -> bool:
    """Record a missed occurrence as expired: never sent late, never silently dropped.
    False when it was already recorded."""
    try:
        with db.atomic():
            if occurrence_exists(key):
                return False
            Occurrence.create(key=key, reminder=reminder, due_at=to_utc(due), state=EXPIRED, created_at=to_utc(now))
    except IntegrityError:
        return False
    return True


def fan_out(reminder: str, key: str, due: dt.datetime, now: dt.datetime, rows: Iterable[dict],
            skipped: Counter, dry_run: bool = False, created_by: str | None = None) -> int:
    """Create the occurrence and one pending message per row ({staff, openid, channel,
    payload, suffix?}), all in one transaction; returns how many. Raises AlreadyThere.
    `skipped` is filled while `rows` is consumed, and stored with the occurrence."""
    try:
        with db.atomic():
            if occurrence_exists(key):
                raise AlreadyThere(key)
            occurrence = None if dry_run else Occurrence.create(
                key=key, reminder=reminder, due_at=to_utc(due), state=FANNED_OUT, created_at=to_utc(now),
                created_by=created_by)
            count = _insert(occurrence, key, rows, now)
            if occurrence is not None:
                occurrence.recipients = count
                occurrence.skipped = json.dumps(dict(skipped), ensure_ascii=False)
                occurrence.save()
            return count
    except IntegrityError:
        # Another scheduler inserted this occurrence first (PostgreSQL lets both get this far).
        raise AlreadyThere(key) from None


def _insert(occurrence, key: str, rows: Iterable[dict], now: dt.datetime) -> int:
    count, batch, at = 0, [], to_utc(now)
    for row in rows:
        count += 1
        if occurrence is None:
            continue
        batch.append({"key": message_key(key, row["staff"], row.get("suffix", "")), "occurrence": occurrence.id,
                      "staff": row["staff"], "openid": row["openid"], "channel": row["channel"],
                      "payload": json.dumps(row["payload"], ensure_ascii=False), "state": PENDING,
                      "next_attempt_at": at, "created_at": at})
        if len(batch) >= BATCH:
            Outbox.insert_many(batch).on_conflict_ignore().execute()
            batch.clear()
    if batch:
        Outbox.insert_many(batch).on_conflict_ignore().execute()
    return count


# --- what the push rules read ------------------------------------------------------------------

def sent_since(since: dt.datetime) -> dict[int, int]:
    """staff id -> messages created for them since `since` that did not fail (the weekly cap)."""
    return dict(Outbox.select(Outbox.staff, fn.COUNT(Outbox.id))
                .where((Outbox.created_at >= to_utc(since)) & (Outbox.state != FAILED))
                .group_by(Outbox.staff).tuples())


def reached_since(reminder: str, since: dt.datetime) -> set[int]:
    """Staff ids that have a message of this reminder since `since` that did not fail, however
    it was queued (the scheduler's occurrence or a manual push)."""
    at = to_utc(since)
    # Occurrences since then first: a weekly nudge's earlier ones hold a row per person each.
    return {staff for (staff,) in Outbox.select(Outbox.staff).join(Occurrence)
            .where((Occurrence.reminder == reminder) & (Occurrence.created_at >= at)
                   & (Outbox.created_at >= at) & (Outbox.state != FAILED)).tuples()}


def sent_counts(reminder: str) -> dict[int, int]:
    """staff id -> how many messages of this reminder were sent to them (escalations aside)."""
    return dict(Outbox.select(Outbox.staff, fn.COUNT(Outbox.id))
                .join(Occurrence)
                .where((Occurrence.reminder == reminder) & (Outbox.state == SENT)
                       & ~Outbox.key.endswith(f":{ESCALATION}"))
                .group_by(Outbox.staff).tuples())


def first_sent(reminder: str) -> dict[int, dt.datetime]:
    """staff id -> when the first message of this reminder reached them (naive UTC)."""
    rows = (Outbox.select(Outbox.staff, fn.MIN(Outbox.sent_at)).join(Occurrence)
            .where((Occurrence.reminder == reminder) & (Outbox.state == SENT)).group_by(Outbox.staff).tuples())
    return {staff: _stored(at) for staff, at in rows if at is not None}


def _stored(value) -> dt.datetime:
    """A naive-UTC value as an aggregate gives it back (SQLite's MIN/MAX: text)."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


def open_windows(now: dt.datetime, window: dt.timedelta, limit: int) -> dict[str, bool]:
    """openid -> True when the person wrote to us within `window` and has had fewer than
    `limit` customer-service messages since (the platform's rule: 45015 / 45047 otherwise)."""
    since = to_utc(now) - window
    last = dict(InboundMessage.select(InboundMessage.openid, fn.MAX(InboundMessage.received_at))
                .where((InboundMessage.received_at >= since) & ~InboundMessage.msg_type.startswith("event"))
                .group_by(InboundMessage.openid).tuples())
    last = {openid: from_utc(at, dt.timezone.utc).replace(tzinfo=None) for openid, at in last.items()}
    used: Counter = Counter()
    sent = (Outbox.select(Outbox.openid, Outbox.created_at)
            .where((Outbox.channel == "custom") & (Outbox.created_at >= since) & (Outbox.state != FAILED)).tuples())
    for openid, created in sent:  # one query, not one per person
        if openid in last and created >= last[openid]:
            used[openid] += 1
    return {openid: used[openid] < limit for openid in last}


def occurrence_of(key: str) -> Occurrence | None:
    return Occurrence.get_or_none(Occurrence.key == key)


WAITING = (PENDING, RETRY, SENDING)  # not sent yet, and still to be tried


def states_of(key: str) -> dict[str, int]:
    """An occurrence's messages per state (a 催办's sent, failed ...), and `waiting`: WAITING's sum."""
    have = dict(Outbox.select(Outbox.state, fn.COUNT(Outbox.id)).join(Occurrence).where(Occurrence.key == key)
                .group_by(Outbox.state).tuples())
    states = {state: int(have.get(state, 0)) for state in STATES}
    return {**states, "waiting": sum(states[s] for s in WAITING)}


def counts() -> dict[str, int]:
    """Messages per state, every state named (0 where none)."""
    have = dict(Outbox.select(Outbox.state, fn.COUNT(Outbox.id)).group_by(Outbox.state).tuples())
    return {state: int(have.get(state, 0)) for state in STATES}


def due_count() -> int:
    return Outbox.select().where(Outbox.state.in_(CLAIMABLE)).count()


def backlog(now: dt.datetime) -> tuple[int, float]:
    """(messages due now and not yet sent, seconds the oldest of them has waited): what a
    monitor watches, since a backlog that only grows means no sender is running."""
    count, oldest = (Outbox.select(fn.COUNT(Outbox.id), fn.MIN(Outbox.next_attempt_at))
                     .where(Outbox.state.in_(CLAIMABLE) & (Outbox.next_attempt_at <= to_utc(now))).tuples().get())
    return int(count), seconds_since(oldest, now)


# --- the sender's transitions ------------------------------------------------------------------

@dataclass(frozen=True)
class Claimed:
    id: int
    openid: str
    channel: str
    payload: str
    attempts: int


def _returning() -> bool:
    return not is_mysql()  # MariaDB/MySQL have no UPDATE ... RETURNING


def _claim_query(p):
    query = (Outbox.update(state=SENDING, owner=p.owner, attempts=Outbox.attempts + 1, lease_until=p.lease_until)
             .where((Outbox.id == p.id) & Outbox.state.in_(CLAIMABLE)))
    if _returning():
        query = query.returning(Outbox.id, Outbox.openid, Outbox.channel, Outbox.payload, Outbox.attempts)
    return query


# The sender runs these for every message: compiled once (storage.prepared).
_CLAIM = Prepared(Outbox, _claim_query)
_SENT = Prepared(Outbox, lambda p: Outbox.update(state=SENT, msgid=p.msgid, sent_at=p.sent_at, errcode=None,
                                                 last_error=None, lease_until=None)
                 .where((Outbox.id == p.id) & (Outbox.state == SENDING) & (Outbox.owner == p.owner)))


def _next_query(p, skip_locked: bool):
    """The first due row after `after`, claimed in the same statement. PostgreSQL: FOR UPDATE
    SKIP LOCKED, so several senders claim side by side without waiting on each other's row
    locks or trying the same rows. SQLite runs one writer at a time, so its subquery always
    sees the rows as the last claim left them: no two senders can pick the same one."""
    # `state || ''` keeps the planner off the (state, next_attempt_at) index: right after a
    # fan-out its statistics are stale, and reading every due row of that index to sort them by
    # id made each claim cost O(rows due) (12 ms at 10,000; bench/fanout.py --senders). Walking
    # the primary key from the cursor finds the next due row within a few entries.
    due = (Outbox.select(Outbox.id)
           .where((Outbox.id > p.id) & Outbox.state.concat("").in_(CLAIMABLE)
                  & (Outbox.next_attempt_at <= p.next_attempt_at))
           .order_by(Outbox.id).limit(1))
    if skip_locked:
        due = due.for_update(skip_locked=True)
    return (Outbox.update(state=SENDING, owner=p.owner, attempts=Outbox.attempts + 1, lease_until=p.lease_until)
            .where((Outbox.id == due) & Outbox.state.in_(CLAIMABLE))
            .returning(Outbox.id, Outbox.openid, Outbox.channel, Outbox.payload, Outbox.attempts))


_CLAIM_NEXT = {"postgres": Prepared(Outbox, lambda p: _next_query(p, skip_locked=True)),
               "sqlite": Prepared(Outbox, lambda p: _next_query(p, skip_locked=False))}


def claim_next(after: int, now: dt.datetime, owner: str, lease_until: dt.datetime, page: int = 20) -> Claimed | None:
    """The first message due at `now` with an id above `after`, claimed (see claim); None when
    nothing is left. One statement on PostgreSQL and SQLite; MySQL, which cannot UPDATE a
    table it selects from, tries the conditional UPDATE on each candidate in id order."""
    engine = "postgres" if is_postgres() else "sqlite" if is_sqlite() else None
    if engine:
        row = _CLAIM_NEXT[engine].execute(id=after, next_attempt_at=to_utc(now), owner=owner,
                                          lease_until=to_utc(lease_until)).fetchone()
        return Claimed(*row) if row else None
    for _ in range(10_000):  # pages of candidates; every page moves `after` on, so this ends
        ids = [r.id for r in Outbox.select(Outbox.id)
               .where(Outbox.state.in_(CLAIMABLE) & (Outbox.next_attempt_at <= to_utc(now)) & (Outbox.id > after))
               .order_by(Outbox.id).limit(page)]
        if not ids:
            return None
        for row_id in ids:
            row = claim(row_id, owner, lease_until)
            if row is not None:
                return row
        after = ids[-1]
    return None


def claim(row_id: int, owner: str, lease_until: dt.datetime) -> Claimed | None:
    """pending/retry -> sending, leased to owner: one conditional UPDATE. None when another
    sender got there first."""
    values = dict(id=row_id, owner=owner, lease_until=to_utc(lease_until))
    if _returning():
        row = _CLAIM.execute(**values).fetchone()
        return Claimed(*row) if row else None
    if _CLAIM.execute(**values).rowcount != 1:  # MySQL: read back the row just claimed
        return None
    r = Outbox.get_by_id(row_id)
    return Claimed(r.id, r.openid, r.channel, r.payload, r.attempts)


def mark_sent(row_id: int, owner: str, msgid: str | None, now: dt.datetime) -> None:
    _SENT.execute(id=row_id, owner=owner, msgid=msgid, sent_at=to_utc(now))


def mark_failed(row_id: int, owner: str, errcode: int, error: str) -> None:
    _finish(row_id, owner, state=FAILED, errcode=errcode, last_error=error[:500])


def mark_retry(row_id: int, owner: str, errcode: int, error: str, at: dt.datetime, attempts: int | None = None) -> None:
    changes = {} if attempts is None else {"attempts": attempts}
    _finish(row_id, owner, state=RETRY, errcode=errcode, last_error=error[:500], next_attempt_at=to_utc(at), **changes)


def mark_unknown(row_id: int, owner: str, error: str, errcode: int | None = None) -> None:
    changes = {} if errcode is None else {"errcode": errcode}
    _finish(row_id, owner, state=UNKNOWN, last_error=error[:500], **changes)


def _finish(row_id: int, owner: str, **changes) -> None:
    (Outbox.update(lease_until=None, **changes)
     .where((Outbox.id == row_id) & (Outbox.state == SENDING) & (Outbox.owner == owner)).execute())


def leased() -> list[tuple[int, str | None, dt.datetime | None]]:
    """(id, owner, lease_until) of every message being sent."""
    return [(r.id, r.owner, r.lease_until) for r in
            Outbox.select(Outbox.id, Outbox.owner, Outbox.lease_until).where(Outbox.state == SENDING)]


def give_up(row_id: int, reason: str) -> int:
    """A message left sending by a sender that stopped: unknown, never resent."""
    with db.atomic():
        return (Outbox.update(state=UNKNOWN, last_error=reason, lease_until=None)
                .where((Outbox.id == row_id) & (Outbox.state == SENDING)).execute())


def pause(now: dt.datetime, errcodes) -> tuple[dt.datetime, int] | None:
    """(end, errcode) of the latest pause that messages put back with one of `errcodes` mark
    (the platform's daily quota, the token budget), or None. The end is aware, in now's zone."""
    row = (Outbox.select(Outbox.next_attempt_at, Outbox.errcode)
           .where((Outbox.state == RETRY) & Outbox.errcode.in_(list(errcodes))
                  & (Outbox.next_attempt_at > to_utc(now)))
           .order_by(Outbox.next_attempt_at.desc()).first())
    return None if row is None else (from_utc(row.next_attempt_at, now.tzinfo), row.errcode)


# --- the platform's word on a message -----------------------------------------------------------

def record_delivery(msgid: str, status: str) -> int:
    """TEMPLATESENDJOBFINISH: the platform's word on a template message, matched by msgid."""
    changes = {"delivery": status[:40]}
    if status.startswith("failed"):
        # "failed:user block" is the person's choice: permanent, like 43101.
        changes.update(state=FAILED, last_error=f"delivery {status}", errcode=43101 if "block" in status else None)
    return Outbox.update(**changes).where(Outbox.msgid == msgid).execute()
