"""The sender: works through the outbox with bounded concurrency and a rate limit.

Each message is claimed (campaign.outbox.claim_next: on PostgreSQL the next due row FOR UPDATE
SKIP LOCKED, on SQLite the same statement, on MySQL a conditional UPDATE; with a lease and the owner's host:pid), so several
senders, threads of one process or processes of their own (`flask --app server sender`), never
send the same row. Outcomes: sent (with the msgid),
failed (permanent errcode), retry (transient, with backoff), and unknown: the request may
have left (a read timeout, a sender that died). Unknown rows are never resent automatically:
a duplicate is worse than a gap an organiser can see. 45009 (daily quota) pauses the run.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from bot.client import QUOTA, Client
from bot.errors import WeChatError, mask_token
from bot.tokens import TOKEN_LIMITED, ForcedRefreshLimited
from campaign import outbox
from campaign.clock import to_utc
from config import PushConfig
from models import db
from schedules.lock import pid_alive

BACKOFF = (60, 300, 1800, 3600)  # seconds before attempts 2, 3, 4, 5...
# Errors that pause every run until a time stored on the row: the platform's daily quota, and
# the token refused again after this hour's forced refreshes (bot/tokens.py).
PAUSE_REASONS = {QUOTA: "45009 daily quota reached", TOKEN_LIMITED: "access token refused repeatedly"}
PAUSES = tuple(PAUSE_REASONS)
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
    return pid_alive(int(pid))


def _hhmm(epoch: float, tz) -> str:
    return dt.datetime.fromtimestamp(epoch, tz).strftime("%H:%M")


def pause_text(now: dt.datetime) -> str | None:
    """Why and until when every run is paused ("paused until 11:05: ..."), or None."""
    paused = outbox.pause(now, PAUSES)
    if paused is None:
        return None
    until, errcode = paused
    return f"paused until {_hhmm(until.timestamp(), now.tzinfo)}: {PAUSE_REASONS[errcode]}"


def recover(now: dt.datetime) -> int:
    """Messages left "sending" by a dead sender (or past their lease) become "unknown"."""
    n = 0
    # Read everything first: an open SELECT holds a WAL snapshot that a later write cannot upgrade.
    for row_id, owner, lease_until in outbox.leased():
        if lease_until is not None and lease_until > to_utc(now) and _owner_alive(owner):
            continue
        n += outbox.give_up(row_id, "sender stopped while sending; not resent")
    return n


class Sender:
    def __init__(self, client: Client, push: PushConfig, clock: Callable[[], dt.datetime],
                 is_quiet: Callable[[dt.datetime], bool] = lambda now: False):
        self.client, self.push, self.clock, self.is_quiet = client, push, clock, is_quiet
        self.limiter = RateLimiter(push.rate_per_second)
        self.lock = threading.Lock()
        self._token_limited_until: float | None = None

    def run(self, max_seconds: float = 3600, on_done: Callable[[str], None] | None = None,
            stop: threading.Event | None = None) -> SendSummary:
        """Send what is due at the start, `concurrency` requests at a time, for at most about
        `max_seconds`. `stop` (a signal, in a sender process) ends it early: requests in flight
        finish, nothing more is claimed."""
        summary = SendSummary()
        now = self.clock()
        if self.is_quiet(now):
            summary.quiet = True
            return summary
        with db.connection_context():
            summary.unknown = recover(now)
            summary.paused = pause_text(now)
        if summary.paused:
            return summary
        deadline = time.monotonic() + max_seconds
        halt = threading.Event()  # this run's own: a pause or no token ends it
        self._after = 0  # the claim cursor: ids up to it were claimed, or were not due
        done = (lambda: halt.is_set() or stop.is_set()) if stop else halt.is_set

        def worker():
            with db.connection_context():
                while not done() and time.monotonic() < deadline:
                    try:
                        outcome = self._next(now, summary, halt)
                    except Exception:  # the database itself failed: this worker stops
                        log.exception("sender: claiming the next message")
                        return
                    if outcome is None:
                        return  # nothing left that is due
                    if on_done:
                        on_done(outcome)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.push.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, deadline - time.monotonic()) + 60)
        return summary

    def _next(self, now: dt.datetime, summary: SendSummary, halt: threading.Event) -> str | None:
        """Send the next due message; its outcome, or None when none is left."""
        # Wait for a slot and a token first, claim last: a row is "sending" only while its
        # request is being made, so a sender killed at any moment leaves no more unknown rows
        # than it had requests in flight, and the rows still waiting their turn stay pending.
        self.limiter.wait()
        if halt.is_set():
            return None
        try:
            self.client.token()
        except WeChatError as exc:
            return self._no_token(exc, summary, halt)
        row = self._claim_next(now)
        if row is None:
            return None
        try:
            return self._deliver(row, summary, halt)
        except Exception as exc:  # one bad row must not stop the run
            log.exception("sender: row %s", row.id)
            return self._crashed(row.id, exc, summary)

    def _crashed(self, row_id: int, exc: Exception, summary: SendSummary) -> str:
        """An unexpected error around a send: we cannot tell whether it left, so never resend."""
        return self._unknown(row_id, mask_token(f"sender error: {type(exc).__name__}: {exc}"), summary)

    def _unknown(self, row_id: int, error: str, summary: SendSummary, errcode: int | None = None) -> str:
        """The message may or may not have left: never resent, left for organisers to see."""
        outbox.mark_unknown(row_id, OWNER, error, errcode)
        with self.lock:
            summary.unknown += 1
        return outbox.UNKNOWN

    def _claim_next(self, now: dt.datetime) -> outbox.Claimed | None:
        lease = self.clock() + dt.timedelta(seconds=self.push.lease_seconds)
        row = outbox.claim_next(self._after, now, OWNER, lease)
        if row is not None:
            with self.lock:
                self._after = max(self._after, row.id)
        return row

    def _deliver(self, row: outbox.Claimed, summary: SendSummary, stop: threading.Event) -> str:
        try:
            msgid = self._send(row)
        except WeChatError as exc:
            if isinstance(exc, ForcedRefreshLimited):
                self._token_limited_until = exc.until
            if exc.may_have_left:
                # A read timeout or a dropped answer: the platform may have delivered it.
                # Resending could make a duplicate, so the row is left for organisers to see.
                return self._unknown(row.id, str(exc), summary, errcode=exc.errcode)
            return self._failed(row, exc.errcode, str(exc), exc.permanent, summary, stop)
        outbox.mark_sent(row.id, OWNER, msgid, self.clock())
        with self.lock:
            summary.sent += 1
        return outbox.SENT

    def _pause_end(self, errcode: int, now: dt.datetime, summary: SendSummary) -> dt.datetime:
        if errcode == QUOTA:
            until = now + dt.timedelta(minutes=self.push.quota_pause_minutes)
        else:
            # The token budget ends at a real (epoch) moment; the pause is that much of this run's
            # clock, so a run with --now (or a test's clock) waits as long as the budget does.
            left = self._token_limited_until - time.time() if self._token_limited_until else 3600.0
            until = now + dt.timedelta(seconds=max(0.0, left))
        summary.paused = f"paused until {_hhmm(until.timestamp(), now.tzinfo)}: {PAUSE_REASONS[errcode]}"
        return until

    def _send(self, row: outbox.Claimed) -> str | None:
        data = json.loads(row.payload)
        url = data.pop("_url", None)  # a notice's page: the message opens it (fanout.LINK)
        if row.channel == "template":
            return self.client.send_template(row.openid, self.push.template_id, data, url)
        if row.channel == "subscribe":
            self.client.send_subscribe(row.openid, self.push.subscribe_template_id or self.push.template_id, data)
            return None
        self.client.send_text(row.openid, "\n".join(data.values()))
        return None

    def _no_token(self, exc: WeChatError, summary: SendSummary, stop: threading.Event) -> str:
        """No token, so nothing can be sent: the run ends, and the rows stay as they are."""
        stop.set()
        summary.paused = summary.paused or f"no access token ({exc}); nothing sent until one can be had"
        return "paused"

    def _failed(self, row, errcode, message, permanent, summary, stop) -> str:
        now = self.clock()
        with self.lock:
            summary.reasons.setdefault(errcode, message)
        if errcode in PAUSES:
            stop.set()
            until = self._pause_end(errcode, now, summary)
            # Not an attempt of this message's: the quota or the token budget was spent before it.
            outbox.mark_retry(row.id, OWNER, errcode, message, until, attempts=row.attempts - 1)
            with self.lock:
                summary.retry[errcode] += 1
            return "paused"
        if permanent or row.attempts >= self.push.max_attempts:
            outbox.mark_failed(row.id, OWNER, errcode, message)
            with self.lock:
                summary.failed[errcode] += 1
            return outbox.FAILED
        delay = BACKOFF[min(row.attempts - 1, len(BACKOFF) - 1)]
        outbox.mark_retry(row.id, OWNER, errcode, message, now + dt.timedelta(seconds=delay))
        with self.lock:
            summary.retry[errcode] += 1
        return outbox.RETRY
