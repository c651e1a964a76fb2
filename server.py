"""Flask app factory, blueprints and CLI commands. No business logic lives here.

    flask --app server init-db
    flask --app server import-staff roster.xlsx
    flask --app server bind-codes --out codes.csv [--department 办公室] [--rebind]
    flask --app server demo            # demo roster with pre-bound demo users
"""
from __future__ import annotations

import csv
import datetime as dt
import logging
import sys
from pathlib import Path

import click
import requests
from flask import Flask

from campaign import binding, roster
from campaign.plan import PlanError, load_plan
from config import APP_ROOT, Config, ConfigError, load_config
from models import Staff, create_schema, db, init_database
from runtime import Runtime

DEMO_ROSTER = APP_ROOT / "plans" / "demo_roster.csv"


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

    @app.teardown_request
    def _close(exc):
        if not db.is_closed():
            db.close()

    from bot.webhook import bp as wechat_bp
    from dashboard.api import bp as api_bp

    app.register_blueprint(wechat_bp)
    app.register_blueprint(api_bp)
    register_cli(app)
    return app


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
    def bind_codes(department, rebind, out):
        """Issue one-time binding codes and write name,department,phone,code to a CSV."""
        with db.connection_context():
            issued = binding.issue_codes(rt.clock(), rt.bind_policy, department, rebind)
            write_codes(out, issued)
        click.echo(f"{len(issued)} codes written to {out} (valid {rt.config.binding.code_ttl_days} days)")

    @app.cli.command("demo")
    def demo():
        """Load the demo roster and pre-bind its people as openid demo-<phone>."""
        with db.connection_context():
            create_schema()
            report = roster.import_roster(DEMO_ROSTER)
            with db.atomic():
                for person in Staff.select().where(Staff.openid.is_null()):
                    person.openid = f"demo-{person.phone}"
                    person.save()
        click.echo(f"demo roster: {report.summary()}; demo users bound as demo-<phone>")


    @app.cli.command("create-menu")
    def create_menu():
        """Create the account's menu (打卡 / 我的进度 / 帮助) through the WeChat API."""
        from bot.client import MENU, Client, WeChatError

        try:
            Client(rt.config.wechat).create_menu(MENU)
        except (WeChatError, requests.RequestException) as exc:
            raise click.ClickException(f"menu/create failed: {exc}") from None
        click.echo(f"menu created at {rt.config.wechat.api_base}")


def write_codes(out: str, issued) -> None:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "department", "phone", "code"])
        for person, code in issued:
            writer.writerow([person.name, person.department.name, person.phone, code])
