"""Flask app factory, blueprints and CLI commands. No business logic lives here.

    flask --app server init-db
    flask --app server import-staff roster.xlsx
    flask --app server bind-codes --out codes.csv [--department 办公室] [--rebind]
    flask --app server demo            # demo roster with pre-bound demo users
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import logging
import sys
import threading
from pathlib import Path

import click
import requests
from flask import Flask
from peewee import InterfaceError, OperationalError, SqliteDatabase

from campaign import binding, roster
from campaign.plan import YEARS, PlanError, load_plan
from config import APP_ROOT, Config, ConfigError, load_config, redact
from models import Department, Outbox, Staff, create_schema, db, init_database
from schedules.jobs import Jobs
from runtime import Runtime

DEMO_ROSTER = APP_ROOT / "plans" / "demo_roster.csv"
# Left unbound by `demo`, so that the chat page's 访客 has a binding code to try (bind-codes).
DEMO_GUEST_PHONE = "13800000024"


def create_app(config: Config | None = None, clock=None) -> Flask:
    try:
        config = config or load_config()
        clock = clock or (lambda: dt.datetime.now(config.tz))
        plan = load_plan(config.plan_path, clock().date())
    except (ConfigError, PlanError) as exc:
        raise SystemExit(f"tuanjie: configuration error: {exc}") from None
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if config.demo:
        logging.getLogger("tuanjie").warning("no config file: using demo defaults (secrets are public)")

    app = Flask(__name__)
    app.json.ensure_ascii = False  # organisers read the JSON; keep 办公室 legible
    app.extensions["tuanjie"] = Runtime(config, plan, clock)
    init_database(config.database.url, config.base_dir)

    @app.before_request
    def _connect():
        db.connect(reuse_if_open=True)

    keep_open = isinstance(db.obj, SqliteDatabase)

    @app.teardown_request
    def _close(exc):
        # A sync worker serves requests on its main thread: there an SQLite connection is kept
        # (re-opening costs the PRAGMAs, and the last close checkpoints the WAL every time).
        # Request threads of a threaded server close theirs; so does every PostgreSQL request.
        if db.is_closed():
            return
        if keep_open and threading.current_thread() is threading.main_thread() and not db.in_transaction():
            return
        db.close()

    from bot.webhook import bp as wechat_bp
    from dashboard.api import bp as api_bp

    app.register_blueprint(wechat_bp)
    app.register_blueprint(api_bp)
    register_cli(app)
    for command in app.cli.commands.values():
        command.callback = _database_errors_named(command.callback, config.database.url)
    return app


def _database_errors_named(callback, url: str):
    """A CLI command whose database cannot be reached or opened stops with one line naming it."""
    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise click.ClickException(f"database {redact(url)}: {reason}") from None
    return run


def register_cli(app: Flask) -> None:
    rt = app.extensions["tuanjie"]

    @app.cli.command("init-db")
    def init_db():
        """Create or upgrade the schema. Safe to run twice; adds no people."""
        with db.connection_context():
            changes = create_schema()
        click.echo("schema: " + (", ".join(changes) if changes else "up to date"))

    @app.cli.command("import-staff")
    @click.argument("path", type=click.Path(dir_okay=False))
    def import_staff(path):
        """Import departments and staff from CSV or XLSX (re-import updates by phone)."""
        with db.connection_context():
            try:
                report = roster.import_roster(path)
            except (roster.RosterError, OSError) as exc:
                raise click.ClickException(str(exc)) from None
        for line, reason in report.errors:
            click.echo(f"{path}: line {line}: {reason}", err=True)
        click.echo(report.summary())
        if report.errors:
            sys.exit(1)

    @app.cli.command("bind-codes")
    @click.option("--department", default=None, help="only this department")
    @click.option("--rebind", is_flag=True, help="also people already bound (their next code rebinds them)")
    @click.option("--out", required=True, type=click.Path(dir_okay=False), help="CSV file to write")
    @click.option("--force", is_flag=True, help="overwrite --out if it exists")
    def bind_codes(department, rebind, out, force):
        """Issue one-time binding codes and write name,department,phone,code to a CSV."""
        if not out.strip():
            raise click.ClickException("--out: give the name of the CSV file to write")
        if Path(out).exists() and not force:
            # Codes are stored hashed: the sheet is the only copy a person can be given.
            raise click.ClickException(f"--out {out} already exists (it may hold codes still to hand out); "
                                       "choose another name, or add --force to overwrite it")
        with db.connection_context():
            require_department(department)
            try:
                issued = binding.issue_codes(rt.clock(), rt.bind_policy, department, rebind,
                                             deliver=lambda codes: write_codes(out, codes))
            except OSError as exc:
                raise click.ClickException(f"--out {out}: cannot write the codes ({exc.strerror or exc}); "
                                           "no code was changed") from None
        click.echo(f"{len(issued)} codes written to {out} (valid {rt.config.binding.code_ttl_days} days)")

    @app.cli.command("demo")
    def demo():
        """Load the demo roster and pre-bind its people as openid demo-<phone> (local emulator only)."""
        if not rt.config.local_api:
            raise click.ClickException(
                f"demo adds made-up people to the roster; refused while wechat.api_base is "
                f"{rt.config.wechat.api_base} (the real platform). It is for a local emulator, as `make run` uses.")
        phones = [row["phone"] for _, row in roster.read_rows(DEMO_ROSTER) if row["phone"] != DEMO_GUEST_PHONE]
        with db.connection_context():
            create_schema()
            report = roster.import_roster(DEMO_ROSTER)
            with db.atomic():  # the demo's own people only: anyone else binds with a code
                for person in Staff.select().where(Staff.openid.is_null() & Staff.phone.in_(phones)):
                    person.openid = f"demo-{person.phone}"
                    person.save()
        click.echo(f"demo roster: {report.summary()}; demo users bound as demo-<phone>, "
                   f"except {DEMO_GUEST_PHONE}, left for trying bind-codes")

    @app.cli.command("create-menu")
    def create_menu():
        """Create the account's menu (打卡 / 我的进度 / 帮助) through the WeChat API."""
        from bot.client import MENU, WeChatError

        try:
            Jobs(rt.config).make_client().create_menu(MENU)
        except (WeChatError, requests.RequestException) as exc:
            raise click.ClickException(f"menu/create failed: {exc}") from None
        click.echo(f"menu created at {rt.config.wechat.api_base}")

    @app.cli.command("scheduler")
    def scheduler():
        """Run the reminder scheduler in this process (one per deployment; a second one exits)."""
        from apscheduler.schedulers.blocking import BlockingScheduler

        from schedules.jobs import register
        from schedules.lock import LockHeld, SchedulerLock

        try:
            lock = SchedulerLock(db.obj).acquire()
        except LockHeld as exc:
            raise click.ClickException(f"not starting: {exc}") from None
        jobs = Jobs(rt.config)
        now = rt.clock()
        warning = jobs.calendar(jobs.plan(now)).warning(now.year)
        if warning:
            click.echo(f"warning: {warning}", err=True)
        sched = BlockingScheduler(timezone=rt.config.tz)
        register(sched, jobs)
        click.echo(f"scheduler started ({rt.config.campaign.timezone}); jobs: remind, send, prune")
        try:
            sched.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            lock.release()

    @app.cli.command("run-job")
    @click.argument("name")
    @click.option("--now", "now_text", default=None, help="ISO time to run as (default: now)")
    def run_job(name, now_text):
        """Run one job once, exactly as the scheduler would: remind, send or prune."""
        jobs = Jobs(rt.config)
        registry = jobs.registry()
        if name not in registry:
            raise click.ClickException(f"no job {name!r} (jobs: {', '.join(registry)})")
        count = registry[name](parse_now(now_text, rt))
        click.echo(f"{name}: {count}")

    @app.cli.command("jobs")
    @click.option("--days", default=60, show_default=True, type=click.IntRange(1, 366),
                  help="how far ahead to list (1-366)")
    @click.option("--now", "now_text", default=None, help="ISO time to list from (default: now)")
    def list_jobs(days, now_text):
        """List the upcoming reminder occurrences and the calendar they follow."""
        from schedules.occurrences import occurrences

        jobs = Jobs(rt.config)
        now = parse_now(now_text, rt)
        plan = jobs.plan(now)
        cal = jobs.calendar(plan)
        warning = cal.warning(now.year)
        click.echo(f"calendar {now.year}: " + (warning or "official (chinese-calendar), with the plan's extras"))
        click.echo("scheduler: remind every minute at :00, send at :05, prune hourly at :17")
        upcoming = occurrences(plan, cal, rt.config.tz, now, now + dt.timedelta(days=days))
        for occ in upcoming:
            r = occ.reminder
            click.echo(f"{occ.due:%Y-%m-%d %a %H:%M}  {r.key:<18} {r.channel:<9} {r.audience:<8} {r.title}")
        if not upcoming:
            click.echo(f"no reminders in the next {days} days")

    @app.cli.command("push")
    @click.option("--reminder", "name", required=True, help="a reminder key from the plan")
    @click.option("--department", default=None, help="only this department")
    @click.option("--pending-only", is_flag=True, default=False, help="only people who have not completed")
    @click.option("--dry-run", is_flag=True, help="count who would get it, and why others would not")
    @click.option("--now", "now_text", default=None, help="ISO time to push as (default: now)")
    def push(name, department, pending_only, dry_run, now_text):
        """Send a reminder now. Rerunning the same push the same day resumes it; nobody gets it twice."""
        from schedules import fanout

        jobs = Jobs(rt.config)
        now = parse_now(now_text, rt)
        plan = jobs.plan(now)
        reminder = plan.reminder(name)
        if reminder is None:
            known = ", ".join(r.key for r in plan.reminders) or "none"
            raise click.ClickException(f"no reminder {name!r} in the plan (known: {known})")
        require_department(department)
        # One manual push per reminder, day and audience: a rerun resumes it. Long department
        # names are hashed to keep the key within its column.
        dept = department if department is None or len(department) <= 40 else \
            hashlib.sha256(department.encode()).hexdigest()[:16]
        key = ":".join(filter(None, ["push", name, now.date().isoformat(), dept, "pending" if pending_only else None]))
        phase = plan.phase_on(now.date())
        with db.connection_context():
            result = fanout.fan_out(plan, reminder, key, now, now, rt.config.push, phase=phase.key if phase else None,
                                    department=department, pending_only=pending_only or None, dry_run=dry_run)
        if dry_run:
            click.echo(f"dry run: {result.created} would get {name!r}; skipped: {result.skipped_text()}")
            return
        click.echo(f"{key}: resuming" if result.existed else result.describe())
        sender = jobs.sender(now)
        with db.connection_context():
            total = Outbox.select().where(Outbox.state.in_(("pending", "retry"))).count()
        lock = threading.Lock()
        with click.progressbar(length=total, label="sending", file=sys.stderr) as bar:
            def tick(_outcome):
                with lock:
                    bar.update(1)
            summary = sender.run(max_seconds=6 * 3600, on_done=tick)
        click.echo(summary.describe())


def require_department(name: str | None, limit: int = 20) -> None:
    """--department names a department on the roster (None: all), or the command stops listing them."""
    if name is None or Department.select().where(Department.name == name).exists():
        return
    names = [d.name for d in Department.select(Department.name).order_by(Department.name).limit(limit + 1)]
    known = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "") if names else "none yet"
    raise click.ClickException(f"--department: no department {name!r} on the roster (departments: {known})")


def parse_now(text: str | None, rt: Runtime) -> dt.datetime:
    if not text:
        return rt.clock()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.ClickException(f"--now: {text!r} is not an ISO time like 2026-05-06T09:30") from None
    if value.year not in YEARS:
        raise click.ClickException(f"--now: {text!r} is outside the years {YEARS[0]}-{YEARS[-1]} a plan can cover")
    return value if value.tzinfo else value.replace(tzinfo=rt.config.tz)


def _cell(text: str) -> str:
    """A roster text for a sheet organisers open in Excel or WPS: one starting like a formula
    (=HYPERLINK(...), +, -, @) is kept as text, with the apostrophe spreadsheets use."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_codes(out: str, issued) -> None:
    """Write the sheet to a temporary file first, then rename: never half a sheet."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "department", "phone", "code"])
        for person, code in issued:
            writer.writerow([_cell(person.name), _cell(person.department.name), person.phone, code])
    partial.replace(path)
