"""The assessment workbook (考核加减分.xlsx): 汇总 (each department's points), 明细 (every entry,
corrections included, with what it rests on) and 校验 (whether the table is frozen, and its
checksum). A frozen year prints the frozen table, as it was kept; a leader's copy holds only
their department.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from campaign import assessment
from exports.book import Book


def write_assessment(out: Path, year: int, now: dt.datetime, unit: str, department_id: int | None = None) -> int:
    """Write the workbook; returns the number of entries in it."""
    done = assessment.frozen(year)
    data = assessment.frozen_table(done) if done else assessment.table(year)
    totals = [t for t in data["totals"] if department_id is None or t["department_id"] == department_id]
    entries = [e for e in data["entries"] if department_id is None or e["department_id"] == department_id]
    book = Book(out)
    state = (f"已于{done.frozen_at:%Y-%m-%d %H:%M}（UTC）冻结" if done else f"未冻结，统计时间 {now:%Y-%m-%d %H:%M}")
    summary = book.sheet("汇总", ["部门", "合计", "加分", "减分", "条目数"],
                         [f"{unit}{year}年民族团结进步创建考核加减分", state])
    for t in totals:
        mine = [Decimal(e["points"]) for e in entries if e["department_id"] == t["department_id"]]
        summary.append([t["department"], Decimal(t["points"]), sum((p for p in mine if p > 0), Decimal("0.0")),
                        sum((p for p in mine if p < 0), Decimal("0.0")), t["entries"]])
    detail = book.sheet("明细", ["编号", "部门", "分值", "类别", "事由", "依据", "给分人", "时间（UTC）", "更正条目"])
    for e in entries:
        detail.append([e["id"], e["department"], Decimal(e["points"]), assessment.KIND_NAMES.get(e["kind"], e["kind"]),
                       e["reason"], assessment.describe_basis(e["basis"]), assessment.giver_name(e["given_by"]),
                       dt.datetime.fromisoformat(e["created_at"]), e["reverses"]])
    check = book.sheet("校验", ["项目", "内容"])
    check.append(["状态", state])
    if done:
        check.append(["冻结人", assessment.giver_name(done.frozen_by)])
        check.append(["SHA-256", done.checksum])
        check.append(["校验结果", "一致" if assessment.verify(done) else "不一致：冻结表已被改动"])
    book.close()
    return len(entries)
