"""The sender: works through the outbox with bounded concurrency and a rate limit.

Each message is claimed with a conditional UPDATE (pending/retry -> sending, with a lease
and the owner's host:pid), so two senders never send the same row. Outcomes:
sent (with the msgid), failed (permanent errcode), retry (transient, with backoff), and
unknown: a row left "sending" by a process that died, whose request may have left. Unknown
rows are never resent automatically: a duplicate is worse than a gap an organiser can see.
45009 (daily quota) pauses the whole run.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import requests
import urllib3
from peewee import MySQLDatabase, fn

from bot.client import QUOTA, Client, WeChatError
from config import PushConfig
from models import S_ID, S_TEXT, S_TEXT2, S_TIME, Outbox, Prepared, db, to_utc

BACKOFF = (60, 300, 1800, 3600)  # seconds before attempts 2, 3, 4, 5...
CLAIMABLE = ("pending", "retry")
OWNER = f"{socket.gethostname()}:{os.getpid()}"
log = logging.getLogger("tuanjie.sender")


@dataclass
class SendSummary:
    sent: int = 0
    failed: Counter = field(default_factory=Counter)  # errcode -> count
    retry: Counter = field(default_factory=Counter)
    unknown: int = 0
    paused: str | None = None
    quiet: bool = False
    reasons: dict = field(default_factory=dict)  # errcode -> the first error message seen with it

    def describe(self) -> str:
        parts = [f"sent {self.sent}"]
        if self.failed:
            parts.append("failed " + self._counts(self.failed))
        if self.retry:
            parts.append("to retry " + self._counts(self.retry))
        if self.unknown:
            parts.append(f"unknown {self.unknown} (sender died mid-request)")
        if self.paused:
            parts.append(f"paused: {self.paused}")
        if self.quiet:
            parts.append("not sending now: quiet hours or not a workday")
        return "; ".join(parts)

    def _counts(self, counts: Counter) -> str:
        """"-4×10 (ConnectionError: ... 127.0.0.1:9 ...)": the code, how often, and why."""
        return ", ".join(f"{code}×{n}" + (f" ({self.reasons[code][:160]})" if code in self.reasons else "")
                         for code, n in sorted(counts.items()))


class RateLimiter:
    """At most `rate` starts per second across threads (a simple spaced schedule)."""

    def __init__(self, rate: int):
        self.interval = 1.0 / rate
        self.lock = threading.Lock()
        self.next = time.monotonic()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        delay = start - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _owner_alive(owner: str | None) -> bool:
    if not owner:
        return False
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's sender: trust its lease
    try:
        os.kill(int(pid), 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _described(exc: Exception) -> str:
    """An error for logs, the summary and Outbox.last_error: requests puts the URL, with its
    access_token, in its messages; the token is masked."""
    return _TOKEN_IN_URL.sub(r"\1***", f"{type(exc).__name__}: {exc}")


_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s'\"),]+")


def _may_have_left(exc: requests.RequestException) -> bool:
    """False only when the request certainly never reached the platform."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)  # urllib3 MaxRetryError wraps the cause
        return not isinstance(inner, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))
    return True


def _paused_until(now: dt.datetime) -> dt.datetime | None:
    """After 45009 the quota is spent: no run sends anything until the pause is over."""
    row = (Outbox.select(fn.MAX(Outbox.next_attempt_at))
           .where((Outbox.state == "retry") & (Outbox.errcode == QUOTA) & (Outbox.next_attempt_at > to_utc(now)))
           .scalar())
    if isinstance(row, str):
        row = dt.datetime.fromisoformat(row)
    return row


def recover(now: dt.datetime) -> int:
    """Rows left "sending" by a dead sender (or past their lease) become "unknown"."""
    n = 0
    # Read everything first: an open SELECT holds a WAL snapshot that a later write cannot upgrade.
    for row in list(Outbox.select(Outbox.id, Outbox.owner, Outbox.lease_until).where(Outbox.state == "sending")):
        if row.lease_until is not None and row.lease_until > to_utc(now) and _owner_alive(row.owner):
            continue
        with db.atomic():
            n += (Outbox.update(state="unknown", last_error="sender stopped while sending; not resent",
                                lease_until=None)
                  .where((Outbox.id == row.id) & (Outbox.state == "sending")).execute())
    return n


class Sender:
    def __init__(self, client: Client, push: PushConfig, clock: Callable[[], dt.datetime],
                 is_quiet: Callable[[dt.datetime], bool] = lambda now: False):
        self.client, self.push, self.clock, self.is_quiet = client, push, clock, is_quiet
        self.limiter = RateLimiter(push.rate_per_second)
        self.lock = threading.Lock()

    def run(self, max_seconds: float = 3600, on_done: Callable[[str], None] | None = None) -> SendSummary:
        summary = SendSummary()
        now = self.clock()
        if self.is_quiet(now):
            summary.quiet = True
            return summary
        with db.connection_context():
            summary.unknown = recover(now)
            paused = _paused_until(now)
        if paused is not None:
            summary.paused = f"45009 daily quota reached; paused until {paused:%H:%M} UTC"
            return summary
        deadline = time.monotonic() + max_seconds
        work: queue.Queue = queue.Queue(maxsize=self.push.concurrency * 4)
        stop = threading.Event()

        def worker():
            with db.connection_context():
                while True:
                    row_id = work.get()
                    if row_id is None:
                        return
                    if stop.is_set():
                        continue
                    try:
                        outcome = self._one(row_id, summary, stop)
                    except Exception as exc:  # one bad row must not stop the run
                        log.exception("sender: row %s", row_id)
                        outcome = self._crashed(row_id, exc, summary)
                    if outcome and on_done:
                        on_done(outcome)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.push.concurrency)]
        for t in threads:
            t.start()
        try:
            with db.connection_context():
                for row_id in self._candidates(now):
                    if not self._feed(work, row_id, threads, stop, deadline):
                        break
        finally:
            for _ in threads:
                self._feed(work, None, threads, threading.Event(), time.monotonic() + 30)
            for t in threads:
                t.join(timeout=60)
        return summary

    @staticmethod
    def _feed(work: queue.Queue, item, threads, stop: threading.Event, deadline: float) -> bool:
        """Hand an item to the workers; False when the run should end instead (stopped, past
        its deadline, or no worker left): a run never blocks on a full queue."""
        while not stop.is_set() and time.monotonic() < deadline and any(t.is_alive() for t in threads):
            try:
                work.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _crashed(self, row_id: int, exc: Exception, summary: SendSummary) -> str:
        """An unexpected error around a send: we cannot tell whether it left, so never resend."""
        return self._unknown(row_id, f"sender error: {_described(exc)}", summary)

    def _unknown(self, row_id: int, error: str, summary: SendSummary, **changes) -> str:
        """The message may or may not have left: never resent, left for organisers to see."""
        self._finish(row_id, state="unknown", last_error=error[:500], **changes)
        with self.lock:
            summary.unknown += 1
        return "unknown"

    def _candidates(self, now: dt.datetime):
        """Ids of due rows, streamed in id order, a page at a time."""
        last = 0
        while True:
            page = [r.id for r in Outbox.select(Outbox.id)
                    .where(Outbox.state.in_(CLAIMABLE) & (Outbox.next_attempt_at <= to_utc(now)) & (Outbox.id > last))
                    .order_by(Outbox.id).limit(500)]
            if not page:
                return
            yield from page
            last = page[-1]

    def _claim(self, row_id: int) -> Claimed | None:
        """pending/retry -> sending, leased to this process: one conditional UPDATE."""
        lease = to_utc(self.clock()) + dt.timedelta(seconds=self.push.lease_seconds)
        if _returning():
            row = CLAIM.execute(id=row_id, lease=lease, owner=OWNER).fetchone()
            return Claimed(*row) if row else None
        # MySQL/MariaDB: read back the row we just claimed.
        if CLAIM.execute(id=row_id, lease=lease, owner=OWNER).rowcount != 1:
            return None
        r = Outbox.get_by_id(row_id)
        return Claimed(r.id, r.openid, r.channel, r.payload, r.attempts)

    def _one(self, row_id: int, summary: SendSummary, stop: threading.Event) -> str | None:
        row = self._claim(row_id)
        if row is None:
            return None  # another sender got there first
        self.limiter.wait()
        try:
            msgid = self._send(row)
        except WeChatError as exc:
            return self._failed(row, exc.errcode, str(exc), exc.permanent, summary, stop)
        except requests.RequestException as exc:
            if _may_have_left(exc):
                # A read timeout or a dropped answer: the platform may have delivered it.
                # Resending could make a duplicate, so the row is left for organisers to see.
                return self._unknown(row.id, _described(exc), summary, errcode=-4)
            return self._failed(row, -4, _described(exc), False, summary, stop)
        SENT.execute(id=row.id, msgid=msgid, sent_at=to_utc(self.clock()), owner=OWNER)
        with self.lock:
            summary.sent += 1
        return "sent"

    def _send(self, row: "Claimed") -> str | None:
        data = json.loads(row.payload)
        if row.channel == "template":
            return self.client.send_template(row.openid, self.push.template_id, data)
        if row.channel == "subscribe":
            self.client.send_subscribe(row.openid, self.push.subscribe_template_id or self.push.template_id, data)
            return None
        self.client.send_text(row.openid, "\n".join(data.values()))
        return None

    def _failed(self, row, errcode, message, permanent, summary, stop) -> str:
        now = self.clock()
        with self.lock:
            summary.reasons.setdefault(errcode, message)
        if errcode == QUOTA:
            stop.set()
            summary.paused = "45009 daily quota reached"
            self._finish(row.id, state="retry", errcode=errcode, last_error=message, attempts=row.attempts - 1,
                         next_attempt_at=to_utc(now) + dt.timedelta(minutes=self.push.quota_pause_minutes))
            with self.lock:
                summary.retry[errcode] += 1
            return "paused"
        if permanent or row.attempts >= self.push.max_attempts:
            self._finish(row.id, state="failed", errcode=errcode, last_error=message)
            with self.lock:
                summary.failed[errcode] += 1
            return "failed"
        delay = BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)]
        self._finish(row.id, state="retry", errcode=errcode, last_error=message,
                     next_attempt_at=to_utc(now) + dt.timedelta(seconds=delay))
        with self.lock:
            summary.retry[errcode] += 1
        return "retry"

    @staticmethod
    def _finish(row_id: int, **changes) -> None:
        (Outbox.update(lease_until=None, **changes)
         .where((Outbox.id == row_id) & (Outbox.state == "sending") & (Outbox.owner == OWNER)).execute())


@dataclass(frozen=True)
class Claimed:
    id: int
    openid: str
    channel: str
    payload: str
    attempts: int


def _claim_query():
    query = (Outbox.update(state="sending", owner=S_TEXT, attempts=Outbox.attempts + 1, lease_until=S_TIME)
             .where((Outbox.id == S_ID) & Outbox.state.in_(CLAIMABLE)))
    if _returning():
        query = query.returning(Outbox.id, Outbox.openid, Outbox.channel, Outbox.payload, Outbox.attempts)
    return query


def _returning() -> bool:
    return not isinstance(db.obj, MySQLDatabase)  # MariaDB/MySQL have no UPDATE ... RETURNING


CLAIM = Prepared(_claim_query, id=S_ID, owner=S_TEXT, lease=S_TIME)
SENT = Prepared(lambda: Outbox.update(state="sent", msgid=S_TEXT2, sent_at=S_TIME, errcode=None, last_error=None,
                                      lease_until=None)
                .where((Outbox.id == S_ID) & (Outbox.state == "sending") & (Outbox.owner == S_TEXT)),
                id=S_ID, msgid=S_TEXT2, sent_at=S_TIME, owner=S_TEXT)

