"""The organiser's commands: the roster, binding codes, the demo roster."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from campaign import binding, roster
from commands import register, require_department, runtime, upgrade_schema, with_db
from config import APP_ROOT

cli = AppGroup("dashboard")
DEMO_ROSTER = APP_ROOT / "plans" / "demo_roster.csv"
# Left unbound by `demo`, so that the chat page's 访客 has a binding code to try (bind-codes).
DEMO_GUEST_PHONE = "13800000024"


@cli.command("import-staff")
@click.argument("path", type=click.Path(dir_okay=False))
@with_db
def import_staff(path):
    """Import departments and staff from CSV or XLSX (re-import updates by phone)."""
    try:
        report = roster.import_roster(path)
    except (roster.RosterError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for line, reason in report.errors:
        click.echo(f"{path}: line {line}: {reason}", err=True)
    if report.unlisted:
        click.echo(f"{path}: {report.unlisted:,} more rows rejected (only the first {len(report.errors)} are listed)",
                   err=True)
    click.echo(report.summary())
    if report.rejected:
        sys.exit(1)


@cli.command("bind-codes")
@click.option("--department", default=None, help="only this department")
@click.option("--rebind", is_flag=True, help="also people already bound (their next code rebinds them)")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CSV file to write")
@click.option("--force", is_flag=True, help="overwrite --out if it exists")
@with_db
def bind_codes(department, rebind, out, force):
    """Issue one-time binding codes and write name,department,phone,code to a CSV."""
    rt = runtime()
    if not out.strip():
        raise click.ClickException("--out: give the name of the CSV file to write")
    if Path(out).exists() and not force:
        # Codes are stored hashed: the sheet is the only copy a person can be given.
        raise click.ClickException(f"--out {out} already exists (it may hold codes still to hand out); "
                                   "choose another name, or add --force to overwrite it")
    require_department(department)
    try:
        issued = binding.issue_codes(rt.clock(), rt.bind_policy, department, rebind,
                                     deliver=lambda codes: binding.write_codes(out, codes))
    except OSError as exc:
        raise click.ClickException(f"--out {out}: cannot write the codes ({exc.strerror or exc}); "
                                   "no code was changed") from None
    click.echo(f"{len(issued)} codes written to {out} (valid {rt.config.binding.code_ttl_days} days)")


@cli.command("demo")
@with_db
def demo():
    """Load the demo roster and pre-bind its people as openid demo-<phone> (local emulator only)."""
    rt = runtime()
    if not rt.config.local_api:
        raise click.ClickException(
            f"demo adds made-up people to the roster; refused while wechat.api_base is "
            f"{rt.config.wechat.api_base} (the real platform). It is for a local emulator, as `make run` uses.")
    upgrade_schema()
    report = roster.load_demo(DEMO_ROSTER, DEMO_GUEST_PHONE)
    click.echo(f"demo roster: {report.summary()}; demo users bound as demo-<phone>, "
               f"except {DEMO_GUEST_PHONE}, left for trying bind-codes")


def init_app(app) -> None:
    register(app, cli)
