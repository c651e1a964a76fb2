"""Jobs are plain functions `job(now) -> count`, registered in one place.

The scheduler calls them every minute; `flask --app server run-job NAME --now ISO` calls the
same functions once. Each job reloads the plan for the year of `now`, so a scheduler that
runs across New Year follows the new year's dates.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Callable

from bot.client import Client, DatabaseTokenStore, RedisTokenStore
from campaign.binding import BindPolicy, prune_failures
from campaign.plan import Plan, load_plan
from config import Config
from models import Occurrence, db
from schedules import fanout
from schedules.occurrences import calendar_for, is_quiet, occurrences
from schedules.sender import Sender

log = logging.getLogger("tuanjie.schedules")
LOOKBACK = dt.timedelta(days=35)  # how far back a restarted scheduler looks for missed reminders


@dataclass
class Jobs:
    config: Config
    client: Client | None = None

    def plan(self, now: dt.datetime) -> Plan:
        return load_plan(self.config.plan_path, now.date())

    def calendar(self, plan: Plan):
        p = self.config.push
        return calendar_for(plan, p.holidays, p.workdays)

    def make_client(self) -> Client:
        if self.client is None:
            w, p = self.config.wechat, self.config.push
            store = RedisTokenStore(p.redis_url, w.app_id) if p.token_store == "redis" else DatabaseTokenStore(w.app_id)
            self.client = Client(w, store)
        return self.client

    def quiet_check(self, plan: Plan) -> Callable[[dt.datetime], bool]:
        cal, quiet = self.calendar(plan), self.config.push.quiet()
        return lambda now: is_quiet(now, quiet, cal)

    # the jobs ------------------------------------------------------------------------------
    def remind(self, now: dt.datetime) -> int:
        """Fan out every occurrence now due; record as expired those missed beyond their grace."""
        plan = self.plan(now)
        done = 0
        with db.connection_context():
            for occ in occurrences(plan, self.calendar(plan), self.config.tz, now - LOOKBACK, now):
                if Occurrence.get_or_none(Occurrence.key == occ.key) is not None:
                    continue
                try:
                    if now - occ.due > occ.reminder.grace:
                        result = fanout.expire(occ.reminder, occ.key, occ.due, now)
                    else:
                        result = fanout.fan_out(plan, occ.reminder, occ.key, occ.due, now, self.config.push,
                                                phase=occ.phase)
                        done += 0 if result.existed else 1
                except Exception:  # one broken occurrence must not hold up the others
                    log.exception("remind: %s failed", occ.key)
                    continue
                log.info("remind: %s", result.describe())
        return done

    def send(self, now: dt.datetime, max_seconds: float = 50) -> int:
        """Send what is due in the outbox (bounded so a minute's run ends before the next)."""
        summary = self.sender(now).run(max_seconds=max_seconds)
        if summary.sent or summary.failed or summary.retry or summary.unknown or summary.paused:
            log.info("send: %s", summary.describe())
        return summary.sent

    def sender(self, now: dt.datetime) -> Sender:
        """A sender whose clock starts at `now` and runs on with real time."""
        offset = now - dt.datetime.now(self.config.tz)
        tz = self.config.tz
        return Sender(self.make_client(), self.config.push, lambda: dt.datetime.now(tz) + offset,
                      self.quiet_check(self.plan(now)))

    def prune(self, now: dt.datetime) -> int:
        b = self.config.binding
        policy = BindPolicy(window=dt.timedelta(minutes=b.failure_window_minutes))
        with db.connection_context():
            return prune_failures(now, policy)

    def registry(self) -> dict[str, Callable[[dt.datetime], int]]:
        return {"remind": self.remind, "send": self.send, "prune": self.prune}


def register(scheduler, jobs: Jobs) -> None:
    """Wire the jobs into an APScheduler scheduler (its timezone set by the caller)."""
    tz = jobs.config.tz

    def wrap(name, fn):
        def run():
            try:
                fn(dt.datetime.now(tz))
            except Exception:
                log.exception("job %s failed", name)
        return run

    common = dict(coalesce=True, max_instances=1, misfire_grace_time=300, replace_existing=True)
    scheduler.add_job(wrap("remind", jobs.remind), "cron", second=0, id="remind", **common)
    scheduler.add_job(wrap("send", jobs.send), "cron", second=5, id="send", **common)
    scheduler.add_job(wrap("prune", jobs.prune), "cron", minute=17, id="prune", **common)

