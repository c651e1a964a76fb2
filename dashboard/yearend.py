"""The year-end pages: the assessment (加减分) table with its entries, the organisers' forms
(a manual entry, a correction, applying the plan's rules, the freeze), and the downloads of
the workbook, the assessment workbook and the drafted report. Leaders see and download only
their own department; organisers the whole unit or the department they choose."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from flask import Response, abort, redirect, render_template, request, url_for

from campaign import assessment, objects, people
from dashboard.web import bp, department_asked, require, scope, viewer, whole_number
from exports import charts, yearfiles
from runtime import runtime

CHUNK = 256 * 1024


def _year() -> int:
    raw = request.values.get("year")
    if raw is None:
        return runtime().clock().year
    year = whole_number(raw)
    if year is None or not 2000 <= year <= 2100:
        abort(400)
    return year


@bp.get("/assessment")
@require("assessment")
def assessment_page(error: str | None = None, status: int = 200):
    year, department = _year(), department_asked()
    department_id = department.id if department else None
    done = assessment.frozen(year)
    gone = assessment.reversed_ids(year)
    rows = [(e, assessment.KIND_NAMES[e.kind], assessment.describe_basis(assessment.basis_of(e)),
             assessment.giver_name(e.given_by), e.id in gone) for e in assessment.entries(year, department_id)]
    return render_template("assessment.html", year=year, totals=assessment.totals(year, department_id), rows=rows,
                           frozen=done, verified=assessment.verify(done) if done else None,
                           editable=scope().whole_unit and done is None, department_id=department_id,
                           departments=people.departments() if scope().whole_unit else [], error=error,
                           form=request.form), status


def _edit(action):
    """Run an organiser's change; a refusal is shown on the page with what was typed."""
    try:
        action()
    except assessment.Refused as exc:
        return assessment_page(error=str(exc), status=400)
    return redirect(url_for("dashboard.assessment_page", year=_year()) + "#entries")


@bp.post("/assessment")
@require("assessment_edit")
def add_entry():
    rt, form = runtime(), request.form

    def add():
        raw = form.get("department", "")
        number = whole_number(raw)
        department = people.department_by_id(number) if number is not None else None
        if department is None:
            raise assessment.Refused("department: choose the department the points are for")
        assessment.add(_year(), department, form.get("points", ""), form.get("reason", ""), viewer().who,
                       rt.clock(), activity=_optional_id("activity"), evidence=_optional_id("evidence"),
                       notice=_optional_id("notice"))
    return _edit(add)


def _optional_id(name: str) -> int | None:
    raw = request.form.get(name, "").strip().lstrip("#")
    if not raw:
        return None
    number = whole_number(raw)
    if number is None:
        raise assessment.Refused(f"{name}: {raw!r} is not a record number")
    return number


@bp.post("/assessment/reverse")
@require("assessment_edit")
def reverse_entry():
    rt, form = runtime(), request.form

    def reverse():
        raw = form.get("entry", "").strip().lstrip("#")
        number = whole_number(raw)
        if number is None:
            raise assessment.Refused("entry: give the number of the entry to correct")
        assessment.reverse(number, form.get("reason", ""), viewer().who, rt.clock())
    return _edit(reverse)


@bp.post("/assessment/apply")
@require("assessment_edit")
def apply_rules():
    rt = runtime()
    now = rt.clock()

    def apply():
        assessment.apply_rules(rt.plan_on(now.date()), now)
    return _edit(apply)


@bp.post("/assessment/freeze")
@require("assessment_edit")
def freeze():
    rt = runtime()

    def freeze_year():
        if request.form.get("confirm") != "yes":
            raise assessment.Refused("freeze: tick the box to confirm (no entry can be added or corrected after it)")
        assessment.freeze(_year(), viewer().who, rt.clock())
    return _edit(freeze_year)


@bp.get("/export/<any(workbook, assessment, report):kind>")
@require("exports")
def export(kind: str):
    """A year-end file, written to a temporary file and streamed; a leader's holds only their department."""
    rt, year, asked = runtime(), _year(), department_asked()
    department_id, department = (asked.id, asked.name) if asked else (None, None)
    fd, name = tempfile.mkstemp(prefix="tuanjie-export-", suffix=yearfiles.SUFFIXES[kind])
    os.close(fd)
    path = Path(name)
    try:
        yearfiles.writers()[kind](rt, path, year, department_id)
    except (charts.FontMissing, objects.StoreError) as exc:
        path.unlink(missing_ok=True)
        return render_template("error.html", title="暂时无法生成", text=str(exc)), 503
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    filename = yearfiles.file_name(kind, rt.config.campaign.unit, year, department)
    mime = ("application/vnd.openxmlformats-officedocument.wordprocessingml.document" if kind == "report" else
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
               "Content-Length": str(path.stat().st_size)}
    return Response(_stream_and_remove(path), mimetype=mime, headers=headers)


def _stream_and_remove(path: Path):
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
