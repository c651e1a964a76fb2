"""The year-end commands: the files organisers hand upward, and the assessment (加减分).

    flask --app server export-archive --out FILE.zip [--department D] [--checklist C] [--year Y]
    flask --app server export-workbook --out FILE.xlsx [--department D] [--year Y]
    flask --app server export-assessment --out FILE.xlsx [--department D] [--year Y]
    flask --app server export-report --year Y --out FILE.docx [--department D]
    flask --app server assessment list|add|reverse|apply|freeze ...
"""
from __future__ import annotations

import contextlib
import datetime as dt
import getpass
from pathlib import Path

import click
from flask.cli import AppGroup

from campaign import assessment, people
from campaign.objects import StoreError
from commands import parse_now, progress, register, require_department, runtime, with_db
from exports import charts, yearfiles
from exports.archive import ArchiveExport

cli = AppGroup("exports")
YEAR = click.IntRange(2000, 2100)


def _out(out: str, force: bool) -> Path:
    path = Path(out)
    if path.exists() and not force:
        raise click.ClickException(f"--out {out} already exists; choose another name, or add --force")
    if not path.parent.is_dir():
        raise click.ClickException(f"--out {out}: no folder {path.parent}")
    return path


def _department_id(name: str | None) -> int | None:
    require_department(name)
    return people.department_named(name).id if name else None


@contextlib.contextmanager
def _writing(out: str, what: str):
    """A disk error while a year-end file is written is the operator's to fix: one line, no trace."""
    try:
        yield
    except OSError as exc:
        raise click.ClickException(f"--out {out}: cannot write the {what} ({exc.strerror or exc}: "
                                   f"{exc.filename or out}); nothing was changed") from None


def _year_file(out: str, force: bool, department: str | None, year: int | None):
    """What every year-end file starts from: the runtime, the checked --out, the department, the year."""
    rt = runtime()
    path, department_id = _out(out, force), _department_id(department)
    return rt, path, department_id, year or rt.clock().year


@cli.command("export-archive")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="the .zip file to write")
@click.option("--department", default=None, help="only this department")
@click.option("--checklist", default=None, help="only this checklist (its key, or a word chat uses: 结对)")
@click.option("--year", default=None, type=YEAR, help="the campaign year (default: this one)")
@click.option("--force", is_flag=True, help="overwrite --out if it exists")
@with_db
def export_archive(out, department, checklist, year, force):
    """The evidence archive as a zip: 部门/清单/事项/ folders, index.xlsx, and the lost pieces."""
    rt = runtime()
    out_path = _out(out, force)
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
        with _writing(out, "archive"), progress(0, "archiving", show_pos=True) as bar:
            written = ArchiveExport(plan, rt.archive, rt.config.tz, progress=bar.update).write(out_path, department,
                                                                                               key)
    except StoreError as exc:
        raise click.ClickException(f"cannot read the evidence files: {exc}; {out} was not written") from None
    click.echo(f"{out}: {written.pieces} pieces in {written.files} files ({written.bytes / 2**20:.1f} MB), "
               f"{written.lost} lost (listed in index.xlsx)")


def _workbook_options(command):
    """--out, --department, --year and --force, as both workbooks take them."""
    for option in reversed([
            click.option("--out", required=True, type=click.Path(dir_okay=False), help="the .xlsx file to write"),
            click.option("--department", default=None, help="only this department"),
            click.option("--year", default=None, type=YEAR, help="the campaign year (default: this one)"),
            click.option("--force", is_flag=True, help="overwrite --out if it exists")]):
        command = option(command)
    return with_db(command)


@cli.command("export-workbook")
@_workbook_options
def export_workbook(out, department, year, force):
    """The participation workbook: 总览, 按部门, 按事项, 人员明细, 未完成名单."""
    rt, path, department_id, year = _year_file(out, force, department, year)
    with _writing(out, "workbook"), progress(people.roster_size(department_id), "people", show_pos=True) as bar:
        rows = yearfiles.workbook(rt, path, year, department_id, progress=bar.update)
    click.echo(f"{out}: {rows} people, {year}")


@cli.command("export-assessment")
@_workbook_options
def export_assessment(out, department, year, force):
    """The assessment workbook: 汇总, 明细 (every entry and correction), 校验 (the frozen checksum)."""
    rt, path, department_id, year = _year_file(out, force, department, year)
    with _writing(out, "workbook"):
        entries = yearfiles.assessment_book(rt, path, year, department_id)
    state = "frozen" if assessment.frozen(year) else "not frozen"
    click.echo(f"{out}: {entries} entries, {year} ({state})")


@cli.command("export-report")
@click.option("--year", required=True, type=YEAR, help="the campaign year")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="the .docx file to write")
@click.option("--department", default=None, help="only this department")
@click.option("--force", is_flag=True, help="overwrite --out if it exists")
@with_db
def export_report(year, out, department, force):
    """The drafted 工作总结 (.docx): every figure computed, the words for an organiser to edit."""
    rt, path, department_id, year = _year_file(out, force, department, year)
    try:
        with _writing(out, "report"), progress(3, "drafting") as bar:
            yearfiles.report(rt, path, year, department_id, progress=bar.update)
    except charts.FontMissing as exc:
        raise click.ClickException(f"{exc}; no report was written") from None
    except StoreError as exc:
        raise click.ClickException(f"cannot read the activity photos: {exc}; {out} was not written") from None
    click.echo(f"{out}: the {year} summary, drafted")


# --- the assessment -----------------------------------------------------------------------

@cli.group("assessment")
def assessment_group():
    """The year-end assessment (加减分): list, add, reverse, apply the plan's rules, freeze."""


def _operator() -> str:
    return f"cli:{getpass.getuser()}"


def _refused(exc: assessment.Refused) -> click.ClickException:
    return click.ClickException(str(exc))


@assessment_group.command("list")
@click.option("--year", default=None, type=YEAR, help="the campaign year (default: this one)")
@click.option("--department", default=None, help="only this department's entries")
@with_db
def assessment_list(year, department):
    """Each department's points, then every entry (corrections marked)."""
    rt = runtime()
    year, department_id = year or rt.clock().year, _department_id(department)
    for total in assessment.totals(year, department_id):
        click.echo(f"{total.name}\t{total.points:+.1f}\t{total.entries} entries")
    gone = assessment.reversed_ids(year)
    for e in assessment.entries(year, department_id):
        mark = " (reversed)" if e.id in gone else ""
        click.echo(f"#{e.id}\t{e.department.name}\t{e.points:+.1f}\t{assessment.KIND_NAMES[e.kind]}\t{e.reason}{mark}"
                   f"\t{assessment.describe_basis(assessment.basis_of(e))}\t{assessment.giver_name(e.given_by)}")
    done = assessment.frozen(year)
    if done:
        ok = "matches" if assessment.verify(done) else "DOES NOT MATCH the stored table"
        click.echo(f"frozen at {done.frozen_at:%Y-%m-%d %H:%M} UTC, sha256 {done.checksum} ({ok})")


@assessment_group.command("add")
@click.option("--department", required=True, help="the department the points are for")
@click.option("--points", required=True, help="e.g. 2 or -1.5")
@click.option("--reason", required=True, help="why, e.g. 获州局通报表扬")
@click.option("--activity", type=int, default=None, help="the collective activity it rests on (its id)")
@click.option("--evidence", type=int, default=None, help="the piece of evidence it rests on (its id)")
@click.option("--notice", type=int, default=None, help="the notice it rests on (its id)")
@click.option("--year", default=None, type=YEAR, help="the campaign year (default: this one)")
@with_db
def assessment_add(department, points, reason, activity, evidence, notice, year):
    """A manual entry: an award (表彰加分) or a 通报批评 (negative points)."""
    rt = runtime()
    require_department(department)
    now = rt.clock()
    try:
        entry = assessment.add(year or now.year, people.department_named(department), points, reason, _operator(),
                               now, activity=activity, evidence=evidence, notice=notice)
    except assessment.Refused as exc:
        raise _refused(exc) from None
    click.echo(f"#{entry.id} {department} {entry.points:+.1f} {entry.reason}")


@assessment_group.command("reverse")
@click.argument("entry", type=int)
@click.option("--reason", required=True, help="why it is corrected")
@with_db
def assessment_reverse(entry, reason):
    """Correct an entry: a new entry with the opposite points (the old one stays)."""
    rt = runtime()
    try:
        made = assessment.reverse(entry, reason, _operator(), rt.clock())
    except assessment.Refused as exc:
        raise _refused(exc) from None
    click.echo(f"#{made.id} reverses #{entry}: {made.points:+.1f}")


@assessment_group.command("apply")
@click.option("--now", "now_text", default=None, help="apply as at this time (ISO), e.g. 2026-12-21T09:00")
@with_db
def assessment_apply(now_text):
    """Apply the plan's rules whose occasion has come (each once; the job does this hourly)."""
    rt = runtime()
    now = parse_now(now_text, rt)
    try:
        written = assessment.apply_rules(rt.plan_on(now.date()), now)
    except assessment.Refused as exc:
        raise _refused(exc) from None
    for e in written:
        click.echo(f"#{e.id}\t{e.department.name}\t{e.points:+.1f}\t{e.reason}")
    click.echo(f"{len(written)} entries written")


@assessment_group.command("freeze")
@click.option("--year", default=None, type=YEAR, help="the campaign year (default: this one)")
@click.option("--yes", is_flag=True, help="do not ask")
@with_db
def assessment_freeze(year, yes):
    """Freeze the year's table: later entries are refused, the table is kept with its checksum."""
    rt = runtime()
    year = year or rt.clock().year
    if not yes:
        click.confirm(f"Freeze the {year} assessment? No entry can be added or corrected after it", abort=True)
    try:
        done = assessment.freeze(year, _operator(), rt.clock())
    except assessment.Refused as exc:
        raise _refused(exc) from None
    click.echo(f"{year} frozen, sha256 {done.checksum}")


def init_app(app) -> None:
    register(app, cli)
