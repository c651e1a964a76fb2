"""The scheduler's commands: `scheduler`, `run-job`, `jobs` and `push`."""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import threading

import click
from flask.cli import AppGroup

from campaign import outbox
from commands import parse_now, progress, register, require_department, runtime, with_db
from schedules import fanout
from schedules.occurrences import occurrences
from schedules.sender import OWNER

cli = AppGroup("schedules")
log = logging.getLogger("tuanjie.sender")


@cli.command("scheduler")
def scheduler():
    """Run the reminder scheduler in this process (one per deployment; a second one exits)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from schedules.jobs import register as register_jobs
    from schedules.jobs import scheduled
    from schedules.lock import LockHeld, SchedulerLock
    from storage.engine import db

    rt = runtime()
    try:
        lock = SchedulerLock(db.obj).acquire()
    except LockHeld as exc:
        raise click.ClickException(f"not starting: {exc}") from None
    jobs, now = rt.jobs, rt.clock()
    jobs.announce(now)  # the calendar in force, logged again whenever it changes
    sched = BlockingScheduler(timezone=rt.config.tz)
    register_jobs(sched, jobs)
    separate = rt.config.scheduler.separate
    click.echo(f"scheduler started at {now:%Y-%m-%d %H:%M:%S} ({rt.config.campaign.timezone}); "
               f"jobs: {', '.join(scheduled(jobs))}"
               + (f"; left to processes of their own: {', '.join(separate)}" if separate else ""))
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        lock.release()


def _process_options(what: str):
    """--once, --now and --interval: what the commands running one job in a process share."""
    def decorate(command):
        command = click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0.1, 300),
                               help="seconds to wait when nothing is due")(command)
        command = click.option("--now", "now_text", default=None,
                               help="ISO time to start the clock at (default: now)")(command)
        return click.option("--once", is_flag=True, help=f"{what} what is due now, then exit")(command)
    return decorate


@cli.command("sender")
@_process_options("send")
def sender(once, now_text, interval):
    """Send the outbox in a process of its own; several may run at once (on one machine or
    more), each claiming messages no other has. Set [scheduler] separate = ["send"]."""
    rt = runtime()
    offset = parse_now(now_text, rt) - rt.clock()  # as run-job --now: the clock starts there, runs on
    stop = _stop_on_signals()
    p = rt.config.push
    rt.jobs.sender(rt.clock() + offset)  # the client and the plan built before it says it runs
    click.echo(f"sender {OWNER}: {p.concurrency} requests in flight, {p.rate_per_second}/s at most"
               + ("; once" if once else f"; every {interval:g} s when idle"), err=True)

    def run(now):
        summary = rt.jobs.sender(now).run(max_seconds=6 * 3600 if once else 300, stop=stop)
        handled = summary.sent + sum(summary.failed.values()) + sum(summary.retry.values()) + summary.unknown
        if handled and not once:
            log.info("sender: %s", summary.describe())
        return summary.describe(), handled

    _process_loop("sender", rt, offset, run, once, interval, stop)


@cli.command("media")
@_process_options("fetch")
def media(once, now_text, interval):
    """Fetch people's photos, voice and video into the archive in a process of its own (the
    media job). Set [scheduler] separate = ["media"]."""
    rt = runtime()
    offset = parse_now(now_text, rt) - rt.clock()
    stop = _stop_on_signals()
    rt.client, rt.archive  # built before it says it runs
    click.echo(f"media downloader: {rt.config.storage.media_concurrency} downloads at once"
               + ("; once" if once else f"; every {interval:g} s when idle"), err=True)

    def run(now):
        summary = rt.fetch_media(now, stop=stop)
        return summary.describe(), summary.handled

    _process_loop("media", rt, offset, run, once, interval, stop)


def _stop_on_signals() -> threading.Event:
    """SIGTERM (systemd's stop) and Ctrl-C end the process after the requests in flight."""
    stop = threading.Event()

    def handler(signum, frame):
        if not stop.is_set():  # (a raw write: logging's locks are not safe in a signal handler)
            os.write(2, b"stopping after the requests in flight\n")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return stop


def _process_loop(name: str, rt, offset: dt.timedelta, run, once: bool, interval: float,
                  stop: threading.Event) -> None:
    """`run(now) -> (description, handled)` until `stop`: again at once after a run that did
    something, after `interval` otherwise. With --once: until a run finds nothing to do."""
    said = False
    for _ in range(10_000_000):  # bounded: at 5 s a loop, longer than any process runs
        text, handled = run(rt.clock() + offset)
        if once and (handled or not said):
            click.echo(f"{name}: {text}")
            said = True
        if stop.is_set() or (once and not handled):
            break
        if not handled and stop.wait(interval):
            break
    if not once:
        click.echo(f"{name}: stopped", err=True)


@cli.command("run-job")
@click.argument("name")
@click.option("--now", "now_text", default=None, help="ISO time to run as (default: now)")
def run_job(name, now_text):
    """Run one job once, exactly as the scheduler would: remind, send or prune."""
    rt = runtime()
    registry = rt.jobs.registry()
    if name not in registry:
        raise click.ClickException(f"no job {name!r} (jobs: {', '.join(registry)})")
    count = registry[name](parse_now(now_text, rt))
    click.echo(f"{name}: {count}")


@cli.command("jobs")
@click.option("--days", default=60, show_default=True, type=click.IntRange(1, 366),
              help="how far ahead to list (1-366)")
@click.option("--now", "now_text", default=None, help="ISO time to list from (default: now)")
def list_jobs(days, now_text):
    """List the upcoming reminder occurrences and the calendar each year follows."""
    rt = runtime()
    jobs, now = rt.jobs, parse_now(now_text, rt)
    end = now + dt.timedelta(days=days)
    upcoming = []
    for year in range(now.year, end.year + 1):  # next year's plan fires too: list across New Year
        plan = jobs.plan(now) if year == now.year else jobs.plans.on(dt.date(year, 1, 1))
        cal = jobs.calendar(plan)
        click.echo(f"calendar {year}: {cal.state(year)}")
        for line in cal.details(year):
            click.echo(f"  {line}")
        start = max(now, dt.datetime(year, 1, 1, tzinfo=rt.config.tz))
        upcoming += occurrences(plan, cal, rt.config.tz, start, min(end, dt.datetime(year, 12, 31, 23, 59, 59,
                                                                                   tzinfo=rt.config.tz)))
    click.echo(_schedule_line(jobs))
    click.echo(_outbox_line(now))
    for firing in upcoming:
        r = firing.reminder
        click.echo(f"{firing.due:%Y-%m-%d %a %H:%M}  {r.key:<18} {r.channel:<9} {r.audience:<8} {r.title}")
    if not upcoming:
        click.echo(f"no reminders in the next {days} days")


@cli.command("push")
@click.option("--reminder", "name", required=True, help="a reminder key from the plan")
@click.option("--department", default=None, help="only this department")
@click.option("--pending-only", is_flag=True, default=False, help="only people who have not completed")
@click.option("--dry-run", is_flag=True, help="count who would get it, and why others would not")
@click.option("--now", "now_text", default=None, help="ISO time to push as (default: now)")
@with_db
def push(name, department, pending_only, dry_run, now_text):
    """Send a reminder now. Rerunning the same push the same day resumes it; nobody gets it twice."""
    rt = runtime()
    now = parse_now(now_text, rt)
    plan = rt.jobs.plan(now)
    reminder = plan.reminder(name)
    if reminder is None:
        known = ", ".join(r.key for r in plan.reminders) or "none"
        raise click.ClickException(f"no reminder {name!r} in the plan (known: {known})")
    require_department(department)
    result = rt.jobs.push(plan, reminder, now, fanout.Audience(department, pending_only or None), dry_run)
    not_now = rt.jobs.not_now(now)
    until = _until_text(rt.jobs.calendar(plan), now, not_now[1]) if not_now else ""
    if dry_run:
        line = f"dry run: {result.created} would get {name!r}; skipped: {result.skipped_text()}"
        if not_now:  # the real push queues them now, and the sender keeps them till then
            line += f"; not now ({not_now[0]}): they would be sent from {until}"
        click.echo(line)
        return
    click.echo(f"{result.key}: resuming" if result.existed else result.describe())
    summary = _send_with_progress(rt, now)
    click.echo(summary.describe())
    if summary.quiet and not_now:
        click.echo(f"queued ({not_now[0]}): the scheduler sends them from {until}")


def _schedule_line(jobs) -> str:
    separate = jobs.config.scheduler.separate
    send = "send by sender processes" if "send" in separate else "send at :05"
    extra = [f"{name} every {seconds} s" if name not in separate else f"{name} by its own process"
             for name, (_, seconds) in jobs.extra.items()]
    return f"scheduler: remind every minute at :00, {send}, prune hourly at :17, " + ", ".join(extra)


def _until_text(cal, now: dt.datetime, until: dt.datetime) -> str:
    """When sending may start, and which calendar (of each year in between) decided that day."""
    states = "; ".join(f"calendar {year}: {cal.state(year)}" for year in range(now.year, until.year + 1))
    return f"{until:%Y-%m-%d %H:%M} ({states})"


@with_db
def _outbox_line(now: dt.datetime) -> str:
    """The outbox as organisers need to see it: what waits, what is unknown, and any pause."""
    from schedules.sender import pause_text

    counts = outbox.counts()
    line = "outbox: " + ", ".join(f"{state} {counts[state]}" for state in outbox.STATES)
    paused = pause_text(now)
    return line + (f"; sending {paused}" if paused else "")


def _send_with_progress(rt, now: dt.datetime):
    """Send what is due, with a progress bar on stderr."""
    sender = rt.jobs.sender(now)
    lock = threading.Lock()
    with progress(outbox.due_count(), "sending") as bar:
        def tick(_outcome):
            with lock:
                bar.update(1)
        return sender.run(max_seconds=6 * 3600, on_done=tick)


def init_app(app) -> None:
    register(app, cli)
