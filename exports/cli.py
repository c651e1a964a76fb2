"""`flask --app server export-archive --out FILE.zip [--department D] [--checklist C] [--year Y]`."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from commands import register, require_department, runtime, with_db
from campaign.objects import StoreError
from exports.archive import ArchiveExport

cli = AppGroup("exports")


@cli.command("export-archive")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="the .zip file to write")
@click.option("--department", default=None, help="only this department")
@click.option("--checklist", default=None, help="only this checklist (its key, or a word chat uses: 结对)")
@click.option("--year", default=None, type=click.IntRange(2000, 2100), help="the campaign year (default: this one)")
@click.option("--force", is_flag=True, help="overwrite --out if it exists")
@with_db
def export_archive(out, department, checklist, year, force):
    """The evidence archive as a zip: 部门/清单/事项/ folders, index.xlsx, and the lost pieces."""
    rt = runtime()
    out_path = Path(out)
    if out_path.exists() and not force:
        raise click.ClickException(f"--out {out} already exists; choose another name, or add --force")
    require_department(department)
    plan = rt.plan_on(dt.date(year, 12, 31) if year else rt.clock().date())
    key = None
    if checklist is not None:
        found = plan.checklist(checklist) or plan.find_checklist(checklist)
        if found is None:
            raise click.ClickException(f"--checklist: no checklist {checklist!r} in the plan "
                                       f"(known: {', '.join(c.key for c in plan.checklists)})")
        key = found.key
    try:
        with click.progressbar(length=0, label="archiving", file=sys.stderr, show_pos=True) as bar:
            written = ArchiveExport(plan, rt.archive, rt.config.tz, progress=bar.update).write(out_path, department,
                                                                                               key)
    except StoreError as exc:
        raise click.ClickException(f"cannot read the evidence files: {exc}; {out} was not written") from None
    except OSError as exc:
        raise click.ClickException(f"--out {out}: cannot write the archive ({exc.strerror or exc}: "
                                   f"{exc.filename or out}); nothing was changed") from None
    click.echo(f"{out}: {written.pieces} pieces in {written.files} files ({written.bytes / 2**20:.1f} MB), "
               f"{written.lost} lost (listed in index.xlsx)")


def init_app(app) -> None:
    register(app, cli)
