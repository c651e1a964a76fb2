"""Jobs are plain functions `job(now) -> count`, registered in one place.

The scheduler calls them every minute; `flask --app server run-job NAME --now ISO` calls the
same functions once. Each job asks the plan source for the year of `now`, so a scheduler
that runs across New Year follows the new year's dates, and an edited plan file is read again.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Callable

from bot.client import Client, build_client
from campaign import outbox, sessions
from campaign.binding import BindPolicy, prune_failures
from campaign.plan import Checklist, Plan, PlanSource, Reminder
from config import Config
from models import db
from schedules import fanout
from schedules.occurrences import calendar_for, is_quiet, next_allowed, occurrences, quiet_reason
from schedules.sender import Sender
from schedules.workdays import PROVISIONAL, WorkCalendar

log = logging.getLogger("tuanjie.schedules")
LOOKBACK = dt.timedelta(days=35)  # how far back a restarted scheduler looks for missed reminders
ANNOUNCE_AHEAD = dt.timedelta(days=60)  # next year's calendar is logged this long before it starts (as jobs lists)


class Jobs:
    def __init__(self, config: Config, plans: PlanSource | None = None, client: Client | None = None,
                 extra: dict[str, tuple[Callable[[dt.datetime], int], int]] | None = None):
        self.config = config
        # Jobs of other packages, run the same way every so many seconds (spool, media).
        self.extra = extra or {}
        self.plans = plans or PlanSource(config.plan_path)
        self.client = client or build_client(config)
        self.bind_policy = BindPolicy.of(config.binding)
        self._calendars: dict[int, str] = {}  # year -> the calendar line last logged

    def plan(self, now: dt.datetime) -> Plan:
        return self.plans.on(now.date())

    def calendar(self, plan: Plan) -> WorkCalendar:
        p = self.config.push
        return calendar_for(plan, p.holidays, p.workdays)

    def announce(self, now: dt.datetime) -> None:
        """Log which calendar decides the days of `now`'s year (and next year's, within
        ANNOUNCE_AHEAD of it): at start-up, and again when it changes (New Year, an edited
        plan). A provisional year is a warning: its make-up days are unknown and the notice
        should be copied into the plan."""
        years = [now.year] + ([now.year + 1] if (now + ANNOUNCE_AHEAD).year > now.year else [])
        for year in years:  # in December, next year's too: its mobilisation is weeks away
            plan = self.plan(now) if year == now.year else self.plans.on(dt.date(year, 1, 1))
            cal = self.calendar(plan)
            line = cal.describe(year)
            if self._calendars.get(year) != line:
                self._calendars[year] = line
                (log.warning if cal.state(year) == PROVISIONAL else log.info)("calendar %d: %s", year, line)

    def quiet_check(self, plan: Plan) -> Callable[[dt.datetime], bool]:
        cal, quiet = self.calendar(plan), self.config.push.quiet()
        return lambda now: is_quiet(now, quiet, cal)

    def not_now(self, now: dt.datetime) -> tuple[str, dt.datetime] | None:
        """(why, until when) nothing may be sent at `now`, or None when it may."""
        cal, quiet = self.calendar(self.plan(now)), self.config.push.quiet()
        why = quiet_reason(now, quiet, cal)
        return None if why is None else (why, next_allowed(now, quiet, cal))

    # the jobs ------------------------------------------------------------------------------
    def remind(self, now: dt.datetime) -> int:
        """Fan out every occurrence now due; record as expired those missed beyond their grace."""
        plan = self.plan(now)
        self.announce(now)
        done, expired = 0, []
        with db.connection_context():
            for firing in occurrences(plan, self.calendar(plan), self.config.tz, now - LOOKBACK, now):
                if outbox.occurrence_exists(firing.key):
                    continue
                try:
                    if now - firing.due > firing.reminder.grace:
                        if fanout.expire(firing.reminder, firing.key, firing.due, now).expired:
                            expired.append(firing.key)
                        continue
                    result = fanout.fan_out(plan, firing.reminder, firing.key, firing.due, now, self.config.push,
                                            phase=firing.phase, audience=self.audience())
                    done += 0 if result.existed else 1
                except Exception:  # one broken occurrence must not hold up the others
                    log.exception("remind: %s failed", firing.key)
                    continue
                log.info("remind: %s", result.describe())
        if expired:  # a first start finds a month of them: one line, not one each
            log.info("remind: %d missed beyond their grace, recorded as expired (never sent late): %s",
                     len(expired), ", ".join(expired))
        return done

    def send(self, now: dt.datetime, max_seconds: float = 50) -> int:
        """Send what is due in the outbox (bounded so a minute's run ends before the next)."""
        summary = self.sender(now).run(max_seconds=max_seconds)
        if summary.sent or summary.failed or summary.retry or summary.unknown or summary.paused:
            log.info("send: %s", summary.describe())
        return summary.sent

    def push(self, plan: Plan, reminder: Reminder, now: dt.datetime, audience: fanout.Audience = fanout.Audience(),
             dry_run: bool = False) -> fanout.FanoutResult:
        """A reminder sent now, by hand: one occurrence per reminder, day and audience, so that a
        rerun the same day resumes it and nobody gets it twice."""
        key = outbox.occurrence_key(reminder.key, now.date(), push=True, department=audience.department,
                                    pending_only=bool(audience.pending_only))
        phase = plan.phase_on(now.date())
        with db.connection_context():
            return fanout.fan_out(plan, reminder, key, now, now, self.config.push, phase=phase.key if phase else None,
                                  audience=self.audience(audience), dry_run=dry_run)

    def audience(self, audience: fanout.Audience = fanout.Audience()) -> fanout.Audience:
        """The audience with the dashboard's address, which a digest links to."""
        return dataclasses.replace(audience, dashboard=self.config.dashboard.public_url)

    def urge(self, plan: Plan, checklist: Checklist, department_id: int, department: str, by: str,
             now: dt.datetime) -> fanout.FanoutResult:
        """催办 from the dashboard: a nudge to the department's people who have not completed
        the checklist, under every push rule; once per department and day (a second press finds
        the first: existed)."""
        reminder = Reminder(key=f"urge_{checklist.key}", kind="nudge", title=f"「{checklist.short}」打卡提醒",
                            text="还差{left}项，回复「打卡」查看", at=now.timetz().replace(tzinfo=None),
                            audience="pending", checklist=checklist.key)
        key = outbox.urge_key(checklist.key, department_id, now.date())  # (the caller holds a connection)
        return fanout.fan_out(plan, reminder, key, now, now, self.config.push,
                              audience=fanout.Audience(department, True), created_by=by)

    def notify(self, plan: Plan, notice_id: int, title: str, departments: tuple[str, ...], link, by: str,
               now: dt.datetime) -> fanout.FanoutResult:
        """A notice to everyone (or to some departments), each message opening its own signed page."""
        # Its own reminder key: "once a day per reminder" must not hold back a second notice.
        reminder = Reminder(key=f"notice_{notice_id}", kind="notice", title=title, text="点击查看通知全文",
                            at=now.timetz().replace(tzinfo=None))
        return fanout.fan_out(plan, reminder, outbox.notice_key(notice_id), now, now, self.config.push,
                              audience=fanout.Audience(departments=departments, link=link), created_by=by)

    def sender(self, now: dt.datetime) -> Sender:
        """A sender whose clock starts at `now` and runs on with real time."""
        offset = now - dt.datetime.now(self.config.tz)
        tz = self.config.tz
        return Sender(self.client, self.config.push, lambda: dt.datetime.now(tz) + offset,
                      self.quiet_check(self.plan(now)))

    def prune(self, now: dt.datetime) -> int:
        """Forget what no longer counts: old binding failures, spent login links, ended sessions."""
        with db.connection_context():
            return prune_failures(now, self.bind_policy) + sessions.prune(now)

    def registry(self) -> dict[str, Callable[[dt.datetime], int]]:
        return {"remind": self.remind, "send": self.send, "prune": self.prune,
                **{name: job for name, (job, _) in self.extra.items()}}


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
    separate = set(jobs.config.scheduler.separate)  # run by processes of their own (sender, media)
    scheduler.add_job(wrap("remind", jobs.remind), "cron", second=0, id="remind", **common)
    if "send" not in separate:
        scheduler.add_job(wrap("send", jobs.send), "cron", second=5, id="send", **common)
    scheduler.add_job(wrap("prune", jobs.prune), "cron", minute=17, id="prune", **common)
    for name, (job, seconds) in jobs.extra.items():  # every few seconds: spool, media
        if name not in separate:
            scheduler.add_job(wrap(name, job), "interval", seconds=seconds, id=name, **common)


def scheduled(jobs: Jobs) -> list[str]:
    """The jobs the scheduler itself runs (the others run in processes of their own)."""
    return [name for name in jobs.registry() if name not in jobs.config.scheduler.separate]
