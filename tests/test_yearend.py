"""The year-end: the plan's assessment rules applied from the data at the phase's end, manual
entries and corrections that never edit an entry, the freeze, and the three files organisers
hand upward (the participation workbook, the assessment workbook, the drafted 工作总结), each
opened as Excel and Word would and checked against the database row by row.

One small world, stepped through a season: Bob does all of 五个一 in May, Alice, Erin (with a
photo), "=1+1" (a name a spreadsheet would run) and exempt Carol one item; 组织科's leader
records a 主题党日 with a group photo in June; Frank checks in only after the phase ended;
Carol went on leave (exempt) after her first item; Gina has left."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from decimal import Decimal

import pytest
from docx import Document
from openpyxl import load_workbook

from campaign import order
from campaign.clock import from_utc
from config import load_config
from emulator import inbound
from models import Activity, AssessmentEntry, AssessmentFreeze, CheckIn, Department, Staff, db
from tests.conftest import ROSTER, bind, start_emulator
from tests.dashboard_world import Dashboard, department_id
from tests.test_binding import Clock
from tests.test_media import fetch, jpeg, upload

TZ = load_config(environ={}).tz
FORMULA = "=1+1"
YEAR_ROSTER = ROSTER.replace("13900000003,staff,exempt", "13900000003,staff,") + f"Gina,宣传科,13900000022,staff,left\n{FORMULA},宣传科,13900000023,staff,\n"
PEOPLE = {"o-alice": "13900000001", "o-bob": "13900000002", "o-carol": "13900000003", "o-dave": "13900000011",
          "o-erin": "13900000012", "o-frank": "13900000021", "o-formula": "13900000023"}


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, 0, tzinfo=TZ)


@pytest.fixture
def season(make_world):
    """The world after the season, on 21 December, with the rules not yet applied."""
    emu, server = start_emulator("http://127.0.0.1:9/wechat")
    clock = Clock(at(5, 6))
    world = make_world(api_base=emu.base, roster=YEAR_ROSTER, clock=clock)
    for openid, phone in PEOPLE.items():
        bind(world, phone, openid)
        emu.call("POST", "/_emu/users", json={"openid": openid})
    for item in "12345":
        world.say("o-bob", item)
    for openid in ("o-alice", "o-erin", "o-formula", "o-carol"):
        world.say(openid, "1")
    cli_ok(world, "staff", "set", "13900000003", "--status", "exempt")  # on leave since: kept, counted nowhere
    world.send(inbound.image("o-erin", upload(emu, "image", jpeg())))
    clock.now = at(6, 15)
    for word in ("集体打卡 党日 1", "全部", "确认"):
        world.say("o-dave", word)
    world.send(inbound.image("o-dave", upload(emu, "image", jpeg(colour=(30, 30, 200)))))
    assert "media: 2" in fetch(world)
    clock.now = at(12, 21, 9)
    world.say("o-frank", "1")  # after the phase's end: counts today, not in the phase-end rules
    yield world, clock, emu
    server.shutdown()


def cli_ok(world, *args) -> str:
    result = world.cli(*args)
    assert result.exit_code == 0, result.output
    return result.output


def cli_refused(world, *args) -> str:
    result = world.cli(*args)
    assert result.exit_code != 0, result.output
    return result.output


def entries() -> list[tuple[str, Decimal, str, str | None]]:
    with db.connection_context():
        return [(e.department.name, e.points, e.kind, e.rule_key) for e in AssessmentEntry.select().order_by(AssessmentEntry.id)]


def counted_ids() -> set[int]:
    return {s.id for s in Staff.select().where(Staff.status.not_in(("exempt", "left")))}


def wuge_figures() -> dict[str, tuple[int, int, int]]:
    """(eligible, participants, completed) per department, straight from the rows."""
    counted = counted_ids()
    done: dict[int, set[str]] = {}
    for c in CheckIn.select().where((CheckIn.checklist == "wuge") & (CheckIn.year == 2026)):
        if c.staff_id in counted:
            done.setdefault(c.staff_id, set()).add(c.item)
    out = {}
    for d in Department.select():
        mine = [s.id for s in Staff.select().where(Staff.department == d.id) if s.id in counted]
        out[d.name] = (len(mine), sum(1 for s in mine if s in done), sum(1 for s in mine if len(done.get(s, ())) == 5))
    return out


def test_the_rules_judge_each_department_on_the_data_at_the_phase_end_once(season):
    world, clock, _ = season
    clock.now = at(12, 20, 23)
    early = cli_ok(world, "assessment", "apply")  # the phase has not ended: only the activity with its photo
    assert "组织科\t+1.0\t集体活动有影像资料" in early and "1 entries written" in early, early
    clock.now = at(12, 21, 9)
    out = cli_ok(world, "assessment", "apply")
    assert "3 entries written" in out, out
    with db.connection_context():
        activity = Activity.get().id
    assert sorted(entries()) == sorted([
        ("办公室", Decimal("5.0"), "rule", "wuge_reached"),  # Alice and Bob; exempt Carol counts nowhere
        ("组织科", Decimal("-3.0"), "rule", "wuge_below"),  # Erin of Dave and Erin: 50%
        ("宣传科", Decimal("-3.0"), "rule", "wuge_below"),  # Frank's check-in came after the phase
        ("组织科", Decimal("1.0"), "rule", f"activity_photos:activity:{activity}"),
    ])
    with db.connection_context():
        below = AssessmentEntry.get(AssessmentEntry.rule_key == "wuge_below",
                                    AssessmentEntry.department == department_id("宣传科"))
        assert json.loads(below.basis)["participants"] == 1 and json.loads(below.basis)["eligible"] == 2
    assert "0 entries written" in cli_ok(world, "assessment", "apply")  # applied once, whoever runs it again
    assert len(entries()) == 4


def test_an_undone_activity_has_its_points_reversed_by_a_new_entry(season):
    world, _, _ = season
    cli_ok(world, "assessment", "apply")
    with db.connection_context():
        number = Activity.get().id
    world.say("o-dave", f"撤销集体 {number}")
    assert "1 entries written" in cli_ok(world, "assessment", "apply")
    with db.connection_context():
        credit = AssessmentEntry.get(AssessmentEntry.rule_key == f"activity_photos:activity:{number}")
        reversal = AssessmentEntry.get(AssessmentEntry.reverses == credit.id)
        assert (credit.points, reversal.points, reversal.kind) == (Decimal("1.0"), Decimal("-1.0"), "reversal")
        assert "撤销" in reversal.reason


def test_manual_entries_check_their_records_and_corrections_add_never_edit(season):
    world, _, _ = season
    cli_ok(world, "assessment", "apply")
    with db.connection_context():
        activity = Activity.get().id
    assert f"no collective activity {activity} of 办公室" in cli_refused(
        world, "assessment", "add", "--department", "办公室", "--points", "2", "--reason", "x", "--activity", str(activity))
    assert "not a number" in cli_refused(world, "assessment", "add", "--department", "办公室", "--points", "两分",
                                         "--reason", "获表彰")
    assert "no department '财务科'" in cli_refused(world, "assessment", "add", "--department", "财务科", "--points", "1",
                                                   "--reason", "x")
    cli_ok(world, "assessment", "add", "--department", "组织科", "--points", "1.5", "--reason", "主题党日获评优秀",
           "--activity", str(activity))
    before = entries()
    with db.connection_context():
        wrong = AssessmentEntry.get(AssessmentEntry.rule_key == "wuge_below",
                                    AssessmentEntry.department == department_id("宣传科")).id
    cli_ok(world, "assessment", "reverse", str(wrong), "--reason", "核实后更正")
    assert "already reversed" in cli_refused(world, "assessment", "reverse", str(wrong), "--reason", "again")
    assert entries()[:len(before)] == before  # nothing stored was changed
    assert entries()[-1] == ("宣传科", Decimal("3.0"), "reversal", None)
    listed = cli_ok(world, "assessment", "list")
    assert "宣传科\t+0.0\t2 entries" in listed and "组织科\t-0.5\t3 entries" in listed, listed
    assert "(reversed)" in listed and "命令行" in listed


def test_the_frozen_table_refuses_every_later_entry_and_keeps_its_checksum(season):
    world, _, _ = season
    cli_ok(world, "assessment", "apply")
    out = cli_ok(world, "assessment", "freeze", "--yes")
    with db.connection_context():
        frozen = AssessmentFreeze.get()
        assert frozen.checksum in out and len(json.loads(frozen.table)["entries"]) == 4
    with db.connection_context():
        some = str(AssessmentEntry.select().first().id)
    for args in (("add", "--department", "办公室", "--points", "1", "--reason", "迟到的表彰"),
                 ("reverse", some, "--reason", "迟到的更正"), ("apply",), ("freeze", "--yes")):
        assert "frozen" in cli_refused(world, "assessment", *args)
    assert cli_ok(world, "run-job", "assessment").strip() == "assessment: 0"  # the hourly job: quiet, not an error
    assert len(entries()) == 4
    assert f"sha256 {frozen.checksum} (matches)" in cli_ok(world, "assessment", "list")
    with db.connection_context():  # someone edits the kept table in the database by hand
        AssessmentFreeze.update(table=frozen.table.replace('"+5.0"', '"+9.0"').replace('"5.0"', '"9.0"')).execute()
    assert "DOES NOT MATCH" in cli_ok(world, "assessment", "list")


def _rows(ws, header_row: int) -> list[list]:
    return [list(r) for r in ws.iter_rows(min_row=header_row + 1, values_only=True)]


def test_the_participation_workbook_matches_the_database_cell_by_cell(season, tmp_path):
    world, _, _ = season
    out = tmp_path / "参与情况.xlsx"
    with db.connection_context():
        everyone = Staff.select().count()
    assert f"{everyone} people" in cli_ok(world, "export-workbook", "--out", str(out))
    book = load_workbook(out)
    assert book.sheetnames == ["总览", "按部门", "按事项", "人员明细", "未完成名单"]
    with db.connection_context():
        figures = wuge_figures()
        overview = book["总览"]
        assert overview.freeze_panes == "A4" and overview.auto_filter.ref.startswith("A3")
        wuge = next(r for r in overview.iter_rows(min_row=4) if r[0].value == "五个一")
        eligible, participants, completed = (sum(f[i] for f in figures.values()) for i in range(3))
        assert [c.value for c in wuge[2:5]] == [eligible, participants, completed] == [6, 5, 1]
        assert wuge[5].value == pytest.approx(int(participants / eligible * 10000) / 10000)
        assert wuge[5].number_format == "0.0%" and wuge[8].value == "否"
        by_department = {(r[0], r[1]): r for r in _rows(book["按部门"], 1)}
        for name, (e, p, c) in figures.items():
            assert tuple(by_department[(name, "五个一")][3:6]) == (e, p, c), name
        _check_people(book["人员明细"])
        _check_left(book["未完成名单"], figures)


def _check_people(ws) -> None:
    header = [c.value for c in ws[1]]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1")
    rows = _rows(ws, 1)
    staff = order.people(Staff.select(), name=lambda s: s.name)
    staff = sorted(staff, key=lambda s: order.department_key(s.department.name))  # stable: pinyin within
    assert [(r[0], r[1]) for r in rows] == [(s.department.name, s.name) for s in staff]
    statuses = {"active": "在岗", "exempt": "免于参与", "left": "已离开"}  # the roster's own words
    for row, person in zip(rows, staff):
        assert row[2] == statuses[person.status]
        cells = dict(zip(header, row))
        for c in CheckIn.select().where((CheckIn.staff == person.id) & (CheckIn.checklist == "wuge")):
            label = _column_of(header, c.item)
            shown = cells[label]
            assert shown.replace(second=0, microsecond=0) == from_utc(c.created_at, TZ).replace(
                tzinfo=None, second=0, microsecond=0)
            assert cells[label.replace("日期", "凭证数")] == c.evidence_count
    formula = next(r for r in ws.iter_rows(min_row=2) if r[1].value == FORMULA)
    assert formula[1].data_type == "s"  # text, never a formula
    assert ws.column_dimensions["A"].width >= 2 * len("办公室")  # a Chinese character is two wide


def _column_of(header: list[str], item_key: str) -> str:
    from campaign.plan import load_plan
    from config import APP_ROOT

    plan = load_plan(APP_ROOT / "plans" / "minzu_tuanjie.toml", dt.date(2026, 12, 21))
    number = [i.key for i in plan.main.items].index(item_key) + 1
    return next(h for h in header if h.startswith(f"{plan.main.short}{number}·") and h.endswith("日期"))


def _check_left(ws, figures) -> None:
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r)) for r in _rows(ws, 1)]
    people_rows = [r for r in rows if r["姓名"] != "（部门集体）"]
    counted = {s.name for s in Staff.select() if s.id in counted_ids()}
    assert {r["姓名"] for r in people_rows if r["五个一未完成"]} == counted - {"Bob"}  # all counted but who did all five
    assert all(r["姓名"] not in ("Carol", "Gina") for r in rows)  # exempt and left people are chased by nobody
    assert next(r for r in people_rows if r["姓名"] == "Erin")["五个一未完成"].count("；") == 3  # 4 of 5 left
    party = {r["部门"]: r for r in rows if r["姓名"] == "（部门集体）"}
    assert set(party) == {"办公室", "组织科", "宣传科"}
    assert party["组织科"]["主题党日（上半年）未完成"].count("；") == 2  # 3 of 4 left after its one activity
    assert party["办公室"]["主题党日（上半年）未完成"].count("；") == 3
    widest = max(len(r["五个一未完成"] or "") for r in rows)
    assert ws.column_dimensions["C"].width >= min(2 * widest, 60)  # a Chinese character is two wide


def test_the_assessment_workbook_holds_every_entry_and_the_frozen_checksum(season, tmp_path):
    world, _, _ = season
    cli_ok(world, "assessment", "apply")
    with db.connection_context():
        wrong = AssessmentEntry.get(AssessmentEntry.rule_key == "wuge_below",
                                    AssessmentEntry.department == department_id("宣传科")).id
    cli_ok(world, "assessment", "reverse", str(wrong), "--reason", "核实后更正")
    cli_ok(world, "assessment", "freeze", "--yes")
    out = tmp_path / "考核.xlsx"
    assert "5 entries" in cli_ok(world, "export-assessment", "--out", str(out))
    book = load_workbook(out)
    with db.connection_context():
        detail = _rows(book["明细"], 1)
        stored = list(AssessmentEntry.select().order_by(AssessmentEntry.id))
        assert [(r[0], r[1], Decimal(str(r[2])).quantize(Decimal("0.1")), r[4], r[8]) for r in detail] == \
            [(e.id, e.department.name, e.points, e.reason, e.reverses_id) for e in stored]
        totals = {r[0]: Decimal(str(r[1])).quantize(Decimal("0.1")) for r in _rows(book["汇总"], 3)}
        for d in Department.select():
            assert totals[d.name] == sum((e.points for e in stored if e.department_id == d.id), Decimal("0.0"))
        check = dict((r[0], r[1]) for r in _rows(book["校验"], 1))
        assert check["SHA-256"] == AssessmentFreeze.get().checksum and check["校验结果"] == "一致"


def test_the_drafted_report_has_every_section_with_figures_from_the_records(season, tmp_path):
    world, _, _ = season
    cli_ok(world, "assessment", "apply")
    out = tmp_path / "总结.docx"
    cli_ok(world, "export-report", "--year", "2026", "--out", str(out))
    doc = Document(str(out))
    text = "\n".join(p.text for p in doc.paragraphs)
    for heading in ("一、工作开展情况", "二、取得成效", "三、存在问题", "四、下一步打算", "附件：考核加减分情况"):
        assert heading in text
    with db.connection_context():
        figures = wuge_figures()
        eligible, participants = sum(f[0] for f in figures.values()), sum(f[1] for f in figures.values())
        rate = int(participants * 10000 / eligible) / 10000
        assert f"参与率{rate:.1%}" in text.split("一、工作开展情况")[0]
        below = [name for name, (e, p, _) in figures.items() if e and p < e]
        problems = text.split("三、存在问题")[1].split("四、下一步打算")[0]
        assert all(name in problems for name in below) and "办公室（" not in problems
        appendix = doc.tables[-1]
        got = {r.cells[0].text: r.cells[1].text for r in appendix.rows[1:]}
        for d in Department.select():
            points = sum((e.points for e in AssessmentEntry.select().where(AssessmentEntry.department == d.id)),
                         Decimal("0.0"))
            assert got[d.name] == f"{points:+.1f}"
    assert len(doc.inline_shapes) == 3  # the departments' bars, participation over time, the 主题党日 photo
    assert "（请填写：" in text.split("四、下一步打算")[1]
    assert "组织科　主题党日·观看一部民族团结教育影片　6月15日" in text  # the photo's caption


def test_a_font_without_chinese_stops_the_report_instead_of_drawing_boxes(make_world, tmp_path):
    latin = subprocess.run(["fc-match", "-f", "%{file}", "DejaVu Sans"], capture_output=True, text=True,
                           timeout=10).stdout
    assert latin.endswith(".ttf"), latin
    world = make_world(campaign=f'report_font = "{latin}"')
    out = tmp_path / "总结.docx"
    assert "no Chinese glyphs" in cli_refused(world, "export-report", "--year", "2026", "--out", str(out))
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_leader_downloads_only_their_department_and_never_another(season):
    world, _, emu = season
    dash = Dashboard(world, emu)
    leader = dash.as_person("o-dave")
    assert dash.get(leader, f"/dashboard/export/workbook?department={department_id('办公室')}").status_code == 403
    r = dash.get(leader, "/dashboard/export/workbook")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    import io

    book = load_workbook(io.BytesIO(r.content))
    assert {row[0] for row in _rows(book["人员明细"], 1)} == {"组织科"}
    assert {row[0] for row in _rows(book["按部门"], 1)} == {"组织科"}
    organiser = dash.as_person("o-alice")
    whole = load_workbook(io.BytesIO(dash.get(organiser, "/dashboard/export/workbook").content))
    assert {row[0] for row in _rows(whole["人员明细"], 1)} == {"办公室", "组织科", "宣传科"}


def test_an_organiser_keeps_the_table_on_the_dashboard_and_a_leader_only_reads_it(season):
    world, _, emu = season
    dash = Dashboard(world, emu)
    organiser, leader = dash.as_person("o-alice"), dash.as_person("o-dave")
    assert dash.post(organiser, "/dashboard/assessment/apply").status_code == 302
    office = department_id("办公室")
    refused = dash.post(organiser, "/dashboard/assessment", {"department": office, "points": "0", "reason": "获表彰"})
    assert refused.status_code == 400 and "non-zero" in refused.text and 'value="获表彰"' in refused.text
    assert dash.post(organiser, "/dashboard/assessment",
                     {"department": office, "points": "+2", "reason": "获州局通报表扬"}).status_code == 302
    assert ("办公室", Decimal("2.0"), "manual", None) in entries()
    page = dash.get(organiser, "/dashboard/assessment").text
    assert "获州局通报表扬" in page and "Alice" in page and "+7.0" in page  # 5 by the rule, 2 by hand
    mine = dash.get(leader, "/dashboard/assessment").text
    assert "组织科" in mine and "获州局通报表扬" not in mine and 'name="points"' not in mine
    assert dash.post(leader, "/dashboard/assessment", {"department": office, "points": "9", "reason": "x"}
                     ).status_code == 403
    unconfirmed = dash.post(organiser, "/dashboard/assessment/freeze", {})
    assert unconfirmed.status_code == 400 and AssessmentFreeze.select().count() == 0
    assert dash.post(organiser, "/dashboard/assessment/freeze", {"confirm": "yes"}).status_code == 302
    frozen = dash.get(organiser, "/dashboard/assessment").text
    assert "已于" in frozen and "与冻结表一致" in frozen and 'name="points"' not in frozen
    late = dash.post(organiser, "/dashboard/assessment", {"department": office, "points": "1", "reason": "迟到"})
    assert late.status_code == 400 and "frozen" in late.text


def test_kaohe_in_the_chat_shows_a_leader_their_department_and_an_organiser_every_one(season):
    world, _, _ = season
    cli_ok(world, "assessment", "apply")
    leader = world.say("o-dave", "考核")
    assert leader.splitlines()[:3] == ["组织科 2026年考核：合计 -2.0 分（2 条）", "+1.0 集体活动有影像资料",
                                       "-3.0 「五个一」参与率低于80%"], leader  # the latest first
    organiser = world.say("o-alice", "考核")
    assert organiser.splitlines()[:4] == ["2026年考核（3个部门）：", "办公室 +5.0", "宣传科 -3.0", "组织科 -2.0"], organiser
    assert world.say("o-bob", "考核") == "考核加减分按部门计，请向本部门负责人了解。"
    cli_ok(world, "assessment", "freeze", "--yes")
    assert world.say("o-dave", "考核").startswith("组织科 2026年考核（已冻结）：")
