"""The year-end files as the CLI and the dashboard ask for them: each written through a
temporary file beside its destination, from the runtime's plan, clock, unit and archive."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from exports import charts
from exports.assessment_book import write_assessment
from exports.files import replaced_atomically
from exports.report import ReportInput, write_report
from exports.workbook import write_participation

NAMES = {"workbook": "参与情况", "assessment": "考核加减分", "report": "工作总结"}
SUFFIXES = {"workbook": ".xlsx", "assessment": ".xlsx", "report": ".docx"}


def file_name(kind: str, unit: str, year: int, department: str | None = None) -> str:
    return f"{unit}{department or ''}{year}年{NAMES[kind]}{SUFFIXES[kind]}"


def workbook(rt, out: Path, year: int, department_id: int | None = None,
             progress: Callable[[int], None] = lambda n: None) -> int:
    with replaced_atomically(out) as partial:
        return write_participation(partial, rt.plan_on, year, rt.clock(), rt.config.campaign.unit, department_id,
                                   progress)


def assessment_book(rt, out: Path, year: int, department_id: int | None = None) -> int:
    with replaced_atomically(out) as partial:
        return write_assessment(partial, year, rt.clock(), rt.config.campaign.unit, department_id)


def report(rt, out: Path, year: int, department_id: int | None = None,
           progress: Callable[[int], None] = lambda n: None) -> None:
    """Raises charts.FontMissing before anything is computed when no font draws Chinese."""
    font = charts.find_font(str(rt.config.path(rt.config.campaign.report_font)) if rt.config.campaign.report_font
                            else None)
    given = ReportInput(rt.plan_on, year, rt.clock(), rt.config.campaign.unit, rt.archive, font, department_id)
    with replaced_atomically(out) as partial:
        write_report(partial, given, progress)


def writers() -> dict[str, Callable]:
    return {"workbook": workbook, "assessment": assessment_book, "report": report}


