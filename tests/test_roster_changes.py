"""A unit hands in a new roster every month: people who left leave every figure (kept with their
history), a synced import lists them before marking them, and `staff` changes one person."""
from __future__ import annotations

from models import CheckIn, Staff
from tests.conftest import bind

NEW_MONTH = """姓名,部门,手机号
Alice,办公室,13900000001
Carol,办公室,13900000003
Dave,组织科,13900000011
Erin,组织科,13900000012
"""  # Bob (办公室) and Frank (宣传科) are gone


def write(world, name: str, text: str):
    path = world.tmp / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def status(name: str) -> str:
    return Staff.get(Staff.name == name).status


def test_a_synced_roster_lists_who_is_missing_and_a_dry_run_changes_nothing(world):
    result = world.cli("import-staff", write(world, "new.csv", NEW_MONTH), "--sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "not in the file: 2:" in result.output and "Bob  13900000002" in result.output
    assert "宣传科  Frank" in result.output and "would mark 2 people left" in result.output
    assert status("Bob") == status("Frank") == "active"


def test_people_who_left_are_kept_with_their_history_and_counted_nowhere(world):
    bind(world, "13900000002", "o-bob")
    world.say("o-bob", "打卡 1")
    assert world.stats()["overall"]["eligible"] == 5
    result = world.cli("import-staff", write(world, "new.csv", NEW_MONTH), "--sync")
    assert "marked 2 people left" in result.output, result.output
    assert status("Bob") == status("Frank") == "left"
    overall = world.stats()["overall"]
    assert (overall["eligible"], overall["participants"]) == (3, 0)  # 100% is possible again
    assert CheckIn.select().count() == 1  # Bob's history is kept
    assert world.say("o-bob", "打卡 2").startswith("你已不在本单位活动名单中")
    assert CheckIn.select().count() == 1
    dry = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--now", "2026-12-02T10:00").output
    assert "left 2" in dry, dry
    codes = world.tmp / "codes.csv"
    world.cli("bind-codes", "--out", str(codes), "--rebind", "--force")
    assert "Frank" not in codes.read_text(encoding="utf-8-sig")
    # Back in next month's file (no status column): back on the roster.
    world.cli("import-staff", write(world, "back.csv", NEW_MONTH + "Bob,办公室,13900000002\n"))
    assert status("Bob") == "active" and status("Frank") == "left"


def test_a_sync_with_a_rejected_row_marks_nobody_left(world):
    text = NEW_MONTH + "Bob,办公室,1390000000\n"  # Bob's phone mistyped: he must not be marked left
    result = world.cli("import-staff", write(world, "typo.csv", text), "--sync")
    assert result.exit_code == 1 and "nobody marked left: 1 rows were rejected" in result.output, result.output
    assert status("Bob") == "active"


def test_a_sync_that_would_empty_half_the_roster_asks_for_force(make_world):
    roster = "姓名,部门,手机号\n" + "".join(f"人{i},部门,1370000{i:04d}\n" for i in range(30))
    world = make_world(roster=roster)
    one = write(world, "one.csv", "姓名,部门,手机号\n人0,部门,13700000000\n")
    result = world.cli("import-staff", one, "--sync")
    assert result.exit_code == 1 and "29 of 30 people are missing" in result.output, result.output
    assert Staff.select().where(Staff.status == "left").count() == 0
    assert "marked 29 people left" in world.cli("import-staff", one, "--sync", "--force").output


def test_an_unknown_status_names_every_accepted_word(world):
    result = world.cli("import-staff", write(world, "s.csv", "姓名,部门,手机号,状态\nZed,办公室,13900000099,出差\n"))
    assert result.exit_code == 1
    for word in ("active", "在岗", "exempt", "请假", "借调", "病假", "产假", "left", "离职", "退休", "调离"):
        assert word in result.output, (word, result.output)
    result = world.cli("import-staff", write(world, "t.csv", "姓名,部门,手机号,状态\nZed,办公室,13900000099,退休\n"))
    assert result.exit_code == 0 and status("Zed") == "left"


def test_staff_lists_finds_and_changes_one_person(world):
    listed = world.cli("staff", "list", "--department", "办公室").output
    assert [line.split("\t")[1] for line in listed.splitlines()[:-1]] == ["Alice", "Bob", "Carol"]
    assert "3 people" in listed
    assert "Erin" in world.cli("staff", "find", "Eri").output
    assert "Frank" in world.cli("staff", "find", "00000021").output
    assert "status active -> exempt" in world.cli("staff", "set", "13900000002", "--status", "产假").output
    assert status("Bob") == "exempt"
    bad = world.cli("staff", "set", "13900000002", "--status", "出差")
    assert bad.exit_code == 1 and "离职" in bad.output and "请假" in bad.output
    moved = world.cli("staff", "set", "13900000002", "--department", "宣传科")
    assert "department 办公室 -> 宣传科" in moved.output
    assert Staff.get(Staff.name == "Bob").department.name == "宣传科"
    assert "no department '财务科'" in world.cli("staff", "set", "13900000002", "--department", "财务科").output
    assert "no one with phone" in world.cli("staff", "set", "13999999999", "--status", "left").output
    assert "exempt" in world.cli("staff", "list", "--status", "请假").output


def test_a_code_issued_before_someone_left_does_not_bind_them(world):
    out = world.tmp / "codes.csv"
    world.cli("bind-codes", "--out", str(out))
    import csv

    code = {r["name"]: r["code"] for r in csv.DictReader(out.open(encoding="utf-8-sig"))}["Frank"]
    world.cli("staff", "set", "13900000021", "--status", "离职")
    assert world.say("o-frank", f"绑定 {code}").startswith("此绑定码对应的人员已不在活动名单中")
    assert Staff.get(Staff.name == "Frank").openid is None


def test_a_department_that_is_not_on_the_roster_is_answered_with_the_list_in_natural_order(make_world):
    world = make_world(roster="姓名,部门,手机号\n甲,第10科,13900000101\n乙,第2科,13900000102\nHeidi,第2科,13900000103\n"
                              "阿强,第2科,13900000104\n")
    out = world.cli("staff", "set", "13900000101", "--department", "财务科").output
    assert "(departments: 第2科, 第10科)" in out, out
    listed = world.cli("staff", "list", "--department", "第2科").output
    assert listed.index("阿强") < listed.index("Heidi") < listed.index("乙"), listed  # a, h, y: case is no rank
