"""The participation workbook organisers hand upward (参与情况.xlsx):

- 总览: each checklist of the year, overall;
- 按部门: each department and checklist;
- 按事项: each item, how many did it;
- 人员明细: one row per person on the roster (exempt and left people too, with their status),
  each item of the person checklists with the day it was done and its evidence count;
- 未完成名单: per department, a row per person with anything left (a column per checklist naming
  the items left), and the department's own row for the collective checklists.
A leader's copy holds only their department. Every figure is campaign.stats' (the dashboard's);
the rows are campaign.yearend's.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

from campaign import order, stats, yearend
from campaign.plan import Checklist, Plan
from exports.book import Book, Percent

UNITS = {"people": "人员", "departments": "部门"}


def write_participation(out: Path, plan_on: Callable[[dt.date], Plan], year: int, now: dt.datetime, unit: str,
                        department_id: int | None = None, progress: Callable[[int], None] = lambda n: None) -> int:
    """Write the workbook; returns the number of people rows."""
    plan = plan_on(dt.date(year, 12, 31))
    checklists = yearend.year_checklists(plan_on, year)
    reports = yearend.reports(checklists, plan.target, department_id)
    scope = "全单位" if department_id is None else (reports[0].departments[0].name if reports[0].departments else "")
    book = Book(out)
    preamble = [f"{unit}{year}年{plan.name}参与情况", f"范围：{scope}　统计时间：{now:%Y-%m-%d %H:%M}　"
                f"目标参与率：{plan.target:.0%}　（免于参与、已离开人员不计入）"]
    _overview(book.sheet("总览", ["清单", "统计对象", "应参与", "已参与", "已完成", "参与率", "完成率", "目标",
                                  "是否达标"], preamble), reports)
    _departments(book.sheet("按部门", ["部门", "清单", "统计对象", "应参与", "已参与", "已完成", "参与率", "完成率",
                                      "是否达标"]), reports)
    _items(book.sheet("按事项", ["清单", "序号", "事项", "统计对象", "已完成", "应参与", "完成率"]), reports)
    personal = [c for c in checklists if not c.collective]
    people_sheet = book.sheet("人员明细", ["部门", "姓名", "状态"] + _item_columns(personal))
    left_sheet = book.sheet("未完成名单", ["部门", "姓名"] + [f"{yearend.title(c)}未完成" for c in checklists])
    collective = _collective_left(reports, checklists, department_id)
    rows, current = 0, None
    for person in yearend.person_rows(personal, now.tzinfo, department_id):
        if person.department != current:
            _flush(left_sheet, collective, current)
            current = person.department
        people_sheet.append([person.department, person.name, person.status_word] + _item_cells(person, personal))
        if person.counted:
            _left(left_sheet, person, checklists)
        rows += 1
        if rows % 1000 == 0:
            progress(1000)
    _flush(left_sheet, collective, current)
    progress(rows % 1000)
    book.close()
    return rows


def _overview(sheet, reports: list[stats.Report]) -> None:
    for rep in reports:
        o = rep.overall
        sheet.append([yearend.title(rep.checklist), UNITS[rep.unit], o.eligible, o.participants, o.completed,
                      Percent(o.participation_rate), Percent(o.completion_rate), Percent(rep.target),
                      o.participation_rate >= rep.target])


def _departments(sheet, reports: list[stats.Report]) -> None:
    by_department: dict[str, list] = {}
    for rep in reports:
        for d in rep.departments:
            by_department.setdefault(d.name, []).append([
                d.name, yearend.title(rep.checklist), UNITS[rep.unit], d.eligible, d.participants, d.completed,
                Percent(d.participation_rate), Percent(d.completion_rate), d.participation_rate >= rep.target])
    for name in order.departments(by_department, name=lambda n: n):
        for cells in by_department[name]:
            sheet.append(cells)


def _items(sheet, reports: list[stats.Report]) -> None:
    for rep in reports:
        for number, (_, name, done) in enumerate(rep.items, start=1):
            whole = rep.overall.eligible
            sheet.append([yearend.title(rep.checklist), number, name, UNITS[rep.unit], done, whole,
                          Percent(stats.share(done, whole))])


def _item_columns(checklists: list[Checklist]) -> list[str]:
    columns = []
    for c in checklists:
        for number, item in enumerate(c.items, start=1):
            label = f"{c.short or c.name}{number}·{item.name[:8]}"
            columns += [f"{label} 日期", f"{label} 凭证数"]
    return columns


def _item_cells(person: yearend.PersonRow, checklists: list[Checklist]) -> list:
    cells = []
    for c in checklists:
        for item in c.items:
            at, evidence = person.done.get((c.record_key, item.key), (None, None))
            cells += [at, evidence]
    return cells


def _left(sheet, person: yearend.PersonRow, checklists: list[Checklist]) -> None:
    """One row per person with anything left: a column per checklist, naming the items left."""
    cells = [None if c.collective else "；".join(i.name for i in c.items if (c.record_key, i.key) not in person.done)
             for c in checklists]
    if any(cells):
        sheet.append([person.department, person.name] + cells)


def _collective_left(reports, checklists: list[Checklist], department_id: int | None) -> dict[str, list]:
    """A collective checklist is a department's to complete: one row per department, after its
    people, naming what the department has left."""
    rows: dict[str, list] = {}
    for column, (rep, c) in enumerate(zip(reports, checklists)):
        if not c.collective:
            continue
        done = stats.done_by_department(c, department_id)
        for d in rep.departments:
            left = stats.department_left(c, d.department_id, done)
            if left:
                row = rows.setdefault(d.name, [d.name, "（部门集体）"] + [None] * len(checklists))
                row[2 + column] = "；".join(i.name for i in left)
    return rows


def _flush(sheet, collective: dict[str, list], department: str | None) -> None:
    row = collective.pop(department, None)
    if row is not None:
        sheet.append(row)
