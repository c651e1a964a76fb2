"""The drafted year-end summary (工作总结.docx): the structure such reports use, every figure
computed from the records, none typed. It is a first draft: an organiser edits the words,
fills in 四、下一步打算, and sends it upward.

  opening paragraph
  一、工作开展情况  (一)组织领导 (二)宣传教育 (三)各项清单（参与率，各部门，随时间） (四)典型活动（照片）
  二、取得成效      the figures
  三、存在问题      drafted from the data: departments below target, items least done, media lost
  四、下一步打算    placeholders
  附件              the assessment table (frozen, with its checksum, when it is)
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Callable

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.image.exceptions import UnrecognizedImageError
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

from campaign import assessment, objects, overview, stats, yearend
from campaign.archive import Archive
from campaign.clock import md
from campaign.plan import Plan
from exports import charts

BODY_FONT, HEADING_FONT, TITLE_FONT = "仿宋_GB2312", "黑体", "方正小标宋简体"
CN_NUMBERS = "一二三四五六七八九十"
MAX_BAR_DEPARTMENTS = 30  # more than this, and the chart shows the departments furthest below target
PLACEHOLDER = "（请填写：{}）"


@dataclass(frozen=True)
class ReportInput:
    plan_on: Callable[[dt.date], Plan]
    year: int
    now: dt.datetime
    unit: str
    archive: Archive
    font: charts.FontFile  # checked before anything is computed (charts.find_font)
    department_id: int | None = None


def write_report(out: Path, given: ReportInput, progress: Callable[[int], None] = lambda n: None) -> None:
    plan = given.plan_on(dt.date(given.year, 12, 31))
    checklists = yearend.year_checklists(given.plan_on, given.year)
    reports = yearend.reports(checklists, plan.target, given.department_id)
    progress(1)
    main = next(r for r in reports if r.checklist.main)
    facts = yearend.facts(given.year, given.now.tzinfo, given.department_id)
    doc = _document()
    scope = given.unit if given.department_id is None else f"{given.unit}{main.departments[0].name}"
    _title(doc, f"{scope}{given.year}年{plan.name}工作总结")
    _para(doc, _opening(scope, given.year, plan, main, _as_of(given).date()))
    _heading(doc, "一、工作开展情况")
    _organisation(doc, plan, facts)
    _education(doc, facts)
    _checklists(doc, given, plan, reports)
    progress(1)
    _activities(doc, given, facts)
    _heading(doc, "二、取得成效")
    _results(doc, plan, main, reports, facts)
    _heading(doc, "三、存在问题")
    _problems(doc, plan, main, reports, facts)
    _heading(doc, "四、下一步打算")
    for what in ("巩固创建成果的具体措施", "常态化开展民族团结进步教育的安排", "下一年度重点工作"):
        _para(doc, PLACEHOLDER.format(what))
    _appendix(doc, given)
    progress(1)
    doc.save(str(out))


# --- sections ------------------------------------------------------------------------------

def _opening(scope: str, year: int, plan: Plan, main: stats.Report, as_of: dt.date) -> str:
    first = plan.phases[0] if plan.phases else None
    o = main.overall
    started = f"于{year}年{md(first.start)}启动，" if first else ""
    return (f"按照《{plan.name}》安排，{scope}{started}围绕「{main.checklist.name}」等重点内容，"
            f"组织{o.eligible}名干部职工参与，现将全年工作总结如下。"
            f"截至{md(as_of)}，「{main.checklist.name}」参与率{o.participation_rate:.1%}，"
            f"完成率{o.completion_rate:.1%}（目标参与率{main.target:.0%}）。")


def _organisation(doc, plan: Plan, facts: yearend.Facts) -> None:
    _subheading(doc, "（一）组织领导")
    phases = "；".join(f"{p.name}（{md(p.start)}至{md(p.end)}）" for p in plan.phases)
    _para(doc, f"活动分{len(plan.phases)}个阶段推进：{phases}。{facts.departments}个部门各由负责人牵头，"
               f"共有部门负责人{facts.leaders}名、活动组织人员{facts.organisers}名，"
               f"全年发布通知{facts.notices}次。{PLACEHOLDER.format('领导小组成立及会议研究情况')}")


def _education(doc, facts: yearend.Facts) -> None:
    _subheading(doc, "（二）宣传教育")
    _para(doc, f"通过微信公众号按计划推送阶段提醒和「每月一讲」等学习提示{facts.prompts}次，"
               f"送达消息{facts.messages_sent}条；推送只发给尚未完成的人员，不在节假日和夜间发送。"
               f"{PLACEHOLDER.format('专题学习、宣讲、展板等宣传教育活动')}")


def _checklists(doc, given: ReportInput, plan: Plan, reports: list[stats.Report]) -> None:
    _subheading(doc, "（三）各项清单落实情况")
    for rep in reports:
        o = rep.overall
        unit = "个部门" if rep.unit == "departments" else "人"
        least = min(rep.items, key=lambda i: i[2]) if rep.items else None
        text = (f"「{yearend.title(rep.checklist)}」：应参与{o.eligible}{unit}，已参与{o.participants}{unit}，"
                f"全部完成{o.completed}{unit}，参与率{o.participation_rate:.1%}，完成率{o.completion_rate:.1%}。")
        if least is not None and o.eligible:
            text += f"完成最少的是「{least[1]}」（{least[2]}{unit}）。"
        _para(doc, text)
        if rep.checklist.main:
            _main_charts(doc, given, plan, rep)
            _department_table(doc, rep)


def _main_charts(doc, given: ReportInput, plan: Plan, rep: stats.Report) -> None:
    rows = [(d.name, d.participation_rate) for d in rep.departments if d.eligible]
    title = f"「{rep.checklist.name}」各部门参与率"
    if len(rows) > MAX_BAR_DEPARTMENTS:
        rows = [(d.name, d.participation_rate) for d in stats.lowest(rep.departments, MAX_BAR_DEPARTMENTS)]
        title = f"「{rep.checklist.name}」参与率最低的{MAX_BAR_DEPARTMENTS}个部门"
    if rows:
        _picture(doc, charts.bars(given.font, title, rows, rep.target), f"图1　{title}")
    view = overview.compute(rep.checklist, plan, _as_of(given), given.department_id)
    if len(view.timeline) >= 2:
        title = f"「{rep.checklist.name}」参与率变化"
        _picture(doc, charts.line(given.font, title, view.timeline, rep.target), f"图2　{title}")


def _as_of(given: ReportInput) -> dt.datetime:
    end = dt.datetime(given.year, 12, 31, 23, 59, tzinfo=given.now.tzinfo)
    return min(given.now, end)


def _department_table(doc, rep: stats.Report) -> None:
    rows = [[d.name, str(d.eligible), str(d.participants), str(d.completed), f"{d.participation_rate:.1%}",
             f"{d.completion_rate:.1%}"] for d in rep.departments if d.eligible]
    _para(doc, f"表1　「{rep.checklist.name}」各部门参与情况", center=True)
    _table(doc, ["部门", "应参与", "已参与", "全部完成", "参与率", "完成率"], rows)


def _activities(doc, given: ReportInput, facts: yearend.Facts) -> None:
    _subheading(doc, "（四）典型活动")
    _para(doc, f"全年记录集体活动{facts.activities}次（主题党日、七个一等），"
               f"留存文字、图片、声像资料{sum(facts.evidence.values())}件。"
               f"{PLACEHOLDER.format('典型活动的具体做法和效果')}")
    plan = given.plan_on(dt.date(given.year, 12, 31))
    for photo in yearend.activity_photos(given.year, given.now.tzinfo, given.department_id):
        data = _photo_bytes(given.archive, photo)
        if data is None:
            continue
        found = plan.item_of(photo.checklist, photo.item)
        what = f"{found[0].name}·{found[1].name}" if found else photo.item
        try:
            _picture(doc, data, f"{photo.department}　{what}　{md(photo.day)}", width=Cm(10))
        except UnrecognizedImageError:  # a format Word cannot hold (the thumbnail is JPEG; this was not)
            continue


def _photo_bytes(archive: Archive, photo: yearend.Photo) -> bytes | None:
    """The photo's thumbnail (or the file), or None when the store no longer has it."""
    for sha in (photo.thumb, photo.sha256):
        if sha:
            try:
                return archive.get(sha)
            except objects.Missing:
                continue
    return None


def _results(doc, plan: Plan, main: stats.Report, reports: list[stats.Report], facts: yearend.Facts) -> None:
    people = [d for d in main.departments if d.eligible]
    reached = [d for d in people if d.participation_rate >= main.target]
    _para(doc, f"1. 「{main.checklist.name}」参与率{main.overall.participation_rate:.1%}，"
               f"{len(reached)}个部门（共{len(people)}个）达到{main.target:.0%}的目标。")
    done = sum(n for rep in reports if rep.unit == "people" for _, _, n in rep.items)
    _para(doc, f"2. 全年干部职工完成各项清单事项{done}人次，集体活动{facts.activities}次。")
    kinds = {"text": "文字", "image": "图片", "voice": "语音", "video": "视频", "shortvideo": "小视频"}
    archived = "、".join(f"{kinds.get(k, k)}{n}件" for k, n in sorted(facts.evidence.items())) or "暂无"
    _para(doc, f"3. 活动资料归档：{archived}。")


def _problems(doc, plan: Plan, main: stats.Report, reports: list[stats.Report], facts: yearend.Facts) -> None:
    below = [d for d in main.departments if d.eligible and d.participation_rate < main.target]
    number = 1
    if below:
        names = "、".join(f"{d.name}（{d.participation_rate:.1%}）" for d in stats.lowest(below, 10))
        more = f"等{len(below)}个部门" if len(below) > 10 else ""
        _para(doc, f"{number}. 「{main.checklist.name}」仍有部门未达到目标：{names}{more}。")
        number += 1
    for rep in reports:
        if rep.unit != "people" or not rep.overall.eligible or not rep.items:
            continue
        key, name, done = min(rep.items, key=lambda i: i[2])
        rate = stats.share(done, rep.overall.eligible)
        if rate < rep.target:
            _para(doc, f"{number}. 「{yearend.title(rep.checklist)}」中「{name}」完成最少，完成率{rate:.1%}。")
            number += 1
    if facts.lost:
        _para(doc, f"{number}. 有{facts.lost}件图片、语音或视频资料未能及时保存（微信服务器已不再保留），需补充留存。")
        number += 1
    if number == 1:
        _para(doc, "各项清单均达到目标，资料完整。")
    _para(doc, PLACEHOLDER.format("其他问题和不足"))


def _appendix(doc, given: ReportInput) -> None:
    _heading(doc, "附件：考核加减分情况")
    done = assessment.frozen(given.year)
    data = assessment.frozen_table(done) if done else assessment.table(given.year)
    rows = [[t["department"], f"{Decimal(t['points']):+.1f}", str(t["entries"])] for t in data["totals"]
            if given.department_id is None or t["department_id"] == given.department_id]
    _table(doc, ["部门", "加减分合计", "条目数"], rows)
    if done:
        _para(doc, f"考核表已于{done.frozen_at:%Y-%m-%d %H:%M}（UTC）冻结，SHA-256 校验值 {done.checksum}。")
    else:
        _para(doc, "考核表尚未冻结，以上为统计时的数据。")


# --- docx ----------------------------------------------------------------------------------

def _document():
    doc = Document()
    section = doc.sections[0]
    section.top_margin, section.bottom_margin = Cm(3.7), Cm(3.5)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    style = doc.styles["Normal"]
    _font(style, BODY_FONT, 16)
    style.paragraph_format.first_line_indent = Pt(32)
    style.paragraph_format.line_spacing = Pt(28)
    return doc


def _font(target, name: str, size: float, bold: bool = False) -> None:
    target.font.name = name
    target.font.size = Pt(size)
    target.font.bold = bold
    r_pr = target.element.get_or_add_rPr()
    r_pr.get_or_add_rFonts().set(qn("w:eastAsia"), name)


def _title(doc, text: str) -> None:
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.first_line_indent = Pt(0)
    _font(p.add_run(text), TITLE_FONT, 22)


def _heading(doc, text: str) -> None:
    p = doc.add_paragraph()
    _font(p.add_run(text), HEADING_FONT, 16)


def _subheading(doc, text: str) -> None:
    p = doc.add_paragraph()
    _font(p.add_run(text), "楷体_GB2312", 16, bold=True)


def _para(doc, text: str, center: bool = False) -> None:
    p = doc.add_paragraph(text)
    if center:
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.first_line_indent = Pt(0)


def _table(doc, header: list[str], rows: list[list[str]]) -> None:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header):
        cell.text = text
        cell.paragraphs[0].paragraph_format.first_line_indent = Pt(0)
    for values in rows:
        cells = table.add_row().cells
        for cell, text in zip(cells, values):
            cell.text = text
            cell.paragraphs[0].paragraph_format.first_line_indent = Pt(0)


def _picture(doc, data: bytes, caption: str, width=Cm(15)) -> None:
    doc.add_picture(io.BytesIO(data), width=width)
    doc.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.paragraphs[-1].paragraph_format.first_line_indent = Pt(0)
    _para(doc, caption, center=True)
