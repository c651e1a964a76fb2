"""The app factory: config, plan, clock and database wired once, blueprints and each package's
CLI commands registered. No rule of the campaign lives here (docs/architecture.md).

    flask --app server init-db          # storage/cli.py
    flask --app server import-staff roster.xlsx
    flask --app server bind-codes --out codes.csv [--department 办公室] [--rebind]
    flask --app server demo             # dashboard/cli.py
    flask --app server create-menu      # bot/cli.py
    flask --app server scheduler | run-job | jobs | push   # schedules/cli.py
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading

import click
from flask import Flask, jsonify
from peewee import DatabaseError, InterfaceError, OperationalError

from campaign.plan import PlanError, PlanSource
from config import Config, ConfigError, load_config, redact
from runtime import Runtime, runtime
from storage.engine import db, drop_connection, init_database, is_outage, ping


def create_app(config: Config | None = None, clock=None) -> Flask:
    try:
        config = config or load_config()
        clock = clock or (lambda: dt.datetime.now(config.tz))
        plans = PlanSource(config.plan_path)
        plans.on(clock().date())  # a plan that cannot be read stops start-up
    except (ConfigError, PlanError) as exc:
        raise SystemExit(f"tuanjie: configuration error: {exc}") from None
    configure_logging(config.tz)
    if config.demo:
        logging.getLogger("tuanjie").warning("no config file: using demo defaults (secrets are public)")

    app = Flask(__name__)
    app.json.ensure_ascii = False  # organisers read the JSON; keep 办公室 legible
    app.extensions["tuanjie"] = Runtime(config, plans, clock)
    init_database(config.database.url, config.base_dir)
    _connect_per_request(app)
    app.add_url_rule("/healthz", "healthz", healthz)

    from bot import cli as bot_cli
    from bot.webhook import bp as wechat_bp
    from dashboard import cli as dashboard_cli
    from dashboard.api import bp as api_bp
    from exports import cli as exports_cli
    from schedules import cli as schedules_cli
    from storage import cli as storage_cli

    app.register_blueprint(wechat_bp)
    app.register_blueprint(api_bp)
    from dashboard import web as dashboard_web

    dashboard_web.init_app(app)
    for package in (storage_cli, dashboard_cli, bot_cli, schedules_cli, exports_cli):
        package.init_app(app)
    for command in app.cli.commands.values():
        _name_database_errors(command)
    return app


def _name_database_errors(command: click.Command) -> None:
    """Every command, those of a group (`staff list`) included; once, as commands are shared by
    every app a process builds."""
    if command.callback is not None and not getattr(command.callback, "names_database_errors", False):
        command.callback = _database_errors_named(command.callback)
    for sub in getattr(command, "commands", {}).values():
        _name_database_errors(sub)


class _CampaignTime(logging.Formatter):
    """Every line's time in the campaign's zone, with its offset: one zone in every log, whatever
    the machine's TZ is."""

    def __init__(self, tz, fmt: str):
        super().__init__(fmt)
        self.tz = tz

    def formatTime(self, record, datefmt=None):
        moment = dt.datetime.fromtimestamp(record.created, self.tz)
        return f"{moment:%Y-%m-%d %H:%M:%S},{int(record.msecs):03d} {moment:%z}"


class _NoOwnTimestamp(logging.Filter):
    """werkzeug's request lines carry a time of their own, in the machine's zone: dropped."""

    _STAMP = re.compile(r" - - \[[^\]]*\] ")

    def filter(self, record):
        if isinstance(record.msg, str) and " - - [" in record.msg:
            record.msg = self._STAMP.sub(" ", record.msg, count=1)
        return True


def configure_logging(tz, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    """Once per process: INFO to stderr, in the campaign's time zone (a handler already there,
    pytest's or gunicorn's, is left as it is)."""
    root, requests_log = logging.getLogger(), logging.getLogger("werkzeug")
    if not any(isinstance(f, _NoOwnTimestamp) for f in requests_log.filters):
        requests_log.addFilter(_NoOwnTimestamp())
    # APScheduler says twice a job ran, every ten seconds: the jobs log what they did instead.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(_CampaignTime(tz, fmt))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _connect_per_request(app: Flask) -> None:
    @app.before_request
    def _connect():
        if not db.is_closed() and getattr(db.connection(), "closed", 0):
            drop_connection()  # psycopg2 saw its server go away on an earlier request
        try:
            db.connect(reuse_if_open=True)
        except Exception as exc:  # each view says what a database it cannot reach means for it
            if not is_outage(exc):
                raise

    @app.errorhandler(DatabaseError)
    @app.errorhandler(InterfaceError)
    def _unavailable(exc):
        if not is_outage(exc):
            raise exc
        drop_connection()  # a kept connection may be the dead one: the next request opens anew
        reason = _first_line(exc)
        if "no such table" in reason:
            reason += " (the schema is not there: run flask --app server init-db)"
        logging.getLogger("tuanjie").warning("database unavailable: %s", reason)
        return jsonify(error=f"database unavailable: {reason}"), 503

    @app.teardown_request
    def _close(exc):
        # A sync worker serves requests on its main thread: there the connection is kept. For
        # SQLite re-opening costs the PRAGMAs and the last close checkpoints the WAL; for
        # PostgreSQL a connection is a server process forked for it (bench/webhook.py --engine
        # postgres: 78 req/s connecting per request, 257 with kept connections, under CI load).
        # Request threads of a threaded server close theirs. An outage drops it (above).
        if db.is_closed():
            return
        if exc is None and threading.current_thread() is threading.main_thread() and not db.in_transaction():
            return
        db.close()


def healthz():
    """200 when the database answers, 503 (and why) otherwise; with the messages waiting on
    this machine's disk for it (bot/spool.py), and the backlogs a monitor graphs: outbox
    messages due and unsent, media not yet fetched, each with how long its oldest has waited."""
    from campaign import evidence, outbox

    waiting = runtime().spool.waiting()
    try:
        ping()
        now = runtime().clock()
        (due, due_wait), (media, media_wait) = outbox.backlog(now), evidence.backlog(now)
    except Exception as exc:  # any database failure means "not healthy"
        drop_connection()  # a kept connection may be the dead one: the next check opens anew
        return jsonify(status="error", database=_first_line(exc), spooled=waiting), 503
    return jsonify(status="ok", spooled=waiting, outbox_due=due, outbox_oldest_seconds=due_wait,
                   media_due=media, media_oldest_seconds=media_wait)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _database_errors_named(callback):
    """A CLI command whose database cannot be reached or opened stops with one line naming it."""
    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            url = runtime().config.database.url
            raise click.ClickException(f"database {redact(url)}: {_first_line(exc)}") from None
    run.names_database_errors = True
    return run
