"""Roster import through the CLI: CSV and XLSX, bad rows by line, re-import updates."""
from openpyxl import Workbook

from models import CheckIn, Department, Staff
from tests.conftest import bind


def import_file(world, name: str, content: str | bytes):
    path = world.tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return world.cli("import-staff", str(path))


def test_bad_rows_are_reported_by_line_and_good_rows_still_imported(make_world):
    world = make_world(roster=None)
    result = import_file(world, "r.csv", (
        "姓名,部门,手机号,角色,状态\n"
        "甲,办公室,13700000001,,\n"
        ",办公室,13700000002,,\n"          # line 3: no name
        "丙,办公室,12345,,\n"              # line 4: bad phone
        "丁,,13700000004,,\n"              # line 5: no department
        "戊,办公室,13700000005,boss,\n"     # line 6: unknown role
        "己,办公室,13700000006,,gone\n"     # line 7: unknown status
        "\n"
        "庚,组织科,13700000001,,\n"         # line 9: phone repeated from line 2
        "辛,组织科,137 0000 0008,组织者,请假\n"
    ))
    assert result.exit_code == 1
    out = result.output
    for line, word in [(3, "name"), (4, "phone"), (5, "department"), (6, "role"), (7, "status"), (9, "line 2")]:
        assert f"line {line}:" in out and word in out.split(f"line {line}:")[1].splitlines()[0], (line, out)
    assert "created 2" in out and "rejected 6" in out
    xin = Staff.get(Staff.phone == "13700000008")
    assert (xin.role, xin.status) == ("organiser", "exempt")


def test_reimport_updates_by_phone_and_carries_check_ins_to_the_new_department(world):
    bind(world, "13900000002", "o-bob")
    world.say("o-bob", "1")
    result = import_file(world, "r2.csv", "name,department,phone,role,status\nRobert,组织科,13900000002,leader,\n")
    assert result.exit_code == 0 and "updated 1" in result.output
    assert Staff.select().where(Staff.phone == "13900000002").count() == 1
    bob = Staff.get(Staff.phone == "13900000002")
    assert (bob.name, bob.department.name, bob.role, bob.openid) == ("Robert", "组织科", "leader", "o-bob")
    assert CheckIn.get().department.name == "组织科"
    s = world.stats()
    org = next(d for d in s["departments"] if d["name"] == "组织科")
    assert (org["eligible"], org["participants"]) == (3, 1)
    again = import_file(world, "r2.csv", "name,department,phone,role,status\nRobert,组织科,13900000002,leader,\n")
    assert "unchanged 1" in again.output


def test_xlsx_with_chinese_headers(make_world):
    world = make_world(roster=None)
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "部门", "手机号", "角色", "状态"])
    sheet.append(["古丽", "办公室", 13600000001, "部门负责人", None])
    sheet.append(["坏行", "办公室", "x", None, None])
    path = world.tmp / "r.xlsx"
    book.save(path)
    result = world.cli("import-staff", str(path))
    assert "line 3:" in result.output and "created 1" in result.output
    assert Staff.get(Staff.phone == "13600000001").role == "leader"


def test_gbk_csv_from_excel_is_read(make_world):
    world = make_world(roster=None)
    result = import_file(world, "r.csv", "姓名,部门,手机号\n阿依,宣传科,13500000001\n".encode("gb18030"))
    assert result.exit_code == 0, result.output
    assert Department.get().name == "宣传科"


def test_unreadable_files_name_the_problem(make_world):
    world = make_world(roster=None)
    assert "missing column" in import_file(world, "r.csv", "who,where\na,b\n").output
    assert "unsupported file type" in import_file(world, "r.txt", "x").output
    assert "not a readable .xlsx" in import_file(world, "r.xlsx", b"not a zip").output
    assert "empty" in import_file(world, "e.csv", "").output
    assert Staff.select().count() == 0


def test_a_csv_field_too_large_names_its_line(make_world):
    world = make_world(roster=None)
    result = import_file(world, "r.csv", "姓名,部门,手机号\n甲,办公室,13700000001\n乙," + "x" * 200_000 + ",1\n")
    assert result.exit_code != 0 and "line 3" in result.output and "Traceback" not in result.output


def test_a_cell_with_a_line_break_keeps_later_line_numbers_true(make_world):
    world = make_world(roster=None)
    result = import_file(world, "r.csv", (
        "姓名,部门,手机号\n"
        "\"阿依\n古丽\",\"宣传科\n\",13700000001\n"  # lines 2-4: one record, a line break typed into each cell
        "坏行,宣传科,123\n"                            # line 5 (the third record)
    ))
    assert "line 5:" in result.output and "phone" in result.output.split("line 5:")[1], result.output
    person = Staff.get(Staff.phone == "13700000001")
    assert (person.name, person.department.name) == ("阿依 古丽", "宣传科")


def test_title_rows_above_the_header_are_skipped_and_rows_keep_their_numbers(make_world):
    world = make_world(roster=None)
    book = Workbook()
    sheet = book.active
    sheet["A1"] = "某某局职工花名册（2026年）"
    sheet.append([])
    sheet.append(["序号", "姓名", "部门", "手机号"])  # row 3
    sheet.append([1, "古丽", "办公室", 13600000001])
    sheet.append([2, "坏行", "办公室", "x"])  # row 5
    path = world.tmp / "titled.xlsx"
    book.save(path)
    result = world.cli("import-staff", str(path))
    assert "line 5:" in result.output and "created 1" in result.output, result.output
    assert Staff.get(Staff.phone == "13600000001").name == "古丽"
    # Without a header in the first rows the file is refused, naming the first non-blank line.
    out = import_file(world, "r.csv", "\n\n花名册\n甲,办公室,13700000001\n").output
    assert "line 3: missing column(s) name, department, phone" in out, out


def test_full_width_digits_are_the_same_phone_and_other_digits_are_refused(world):
    result = import_file(world, "r.csv", "name,department,phone\nAlice,办公室,１３９００００００01\n"
                                         "Eve,办公室,1٣900000099\n")
    assert "updated 0, unchanged 1" in result.output and "line 3:" in result.output, result.output
    assert Staff.select().where(Staff.name == "Alice").count() == 1
    assert not Staff.select().where(Staff.name == "Eve").exists()


def test_a_file_without_role_or_status_columns_keeps_them(world):
    # Alice is an organiser and Carol exempt; a plain name/department/phone sheet moves Alice.
    result = import_file(world, "r.csv", "姓名,部门,手机号\nAlice,组织科,13900000001\nCarol,办公室,13900000003\n"
                                         "New,办公室,13900000099\n")
    assert "created 1, updated 1, unchanged 1" in result.output, result.output
    alice, carol = Staff.get(Staff.phone == "13900000001"), Staff.get(Staff.phone == "13900000003")
    assert (alice.role, alice.department.name, carol.status) == ("organiser", "组织科", "exempt")
    assert (Staff.get(Staff.phone == "13900000099").role, Staff.get(Staff.phone == "13900000099").status) == (
        "staff", "active")
    # With the column there, an empty cell means staff / active, as documented.
    result = import_file(world, "r2.csv", "姓名,部门,手机号,角色,状态\nCarol,办公室,13900000003,,\n")
    assert "updated 1" in result.output and Staff.get(Staff.phone == "13900000003").status == "active"


def test_the_roster_sheet_is_found_past_hidden_and_instruction_sheets(make_world):
    world = make_world(roster=None)
    book = Workbook()
    book.active.title = "填表说明"
    book.active.append(["请按模板填写，手机号为11位"])
    old = book.create_sheet("旧名单")
    old.append(["姓名", "部门", "手机号"])
    old.append(["旧人", "办公室", 13600000009])
    old.sheet_state = "hidden"
    new = book.create_sheet("名单")
    new.append(["姓名", "部门", "手机号"])
    new.append(["古丽", "办公室", 13600000001])
    path = world.tmp / "sheets.xlsx"
    book.save(path)
    result = world.cli("import-staff", str(path))
    assert result.exit_code == 0 and "created 1" in result.output, result.output
    assert [p.name for p in Staff.select()] == ["古丽"]
    # No sheet with a header: the message lists the sheets it looked at.
    book.remove(new)
    book.create_sheet("统计").append(["部门", "人数"])
    book.save(path)
    result = world.cli("import-staff", str(path))
    assert result.exit_code != 0 and "no worksheet has a header row" in result.output and "填表说明" in result.output


def test_a_damaged_workbook_is_named_not_a_traceback(make_world):
    import zipfile

    world = make_world(roster=None)
    book = Workbook()
    book.active.append(["姓名", "部门", "手机号"])
    good = world.tmp / "good.xlsx"
    book.save(good)
    bad = world.tmp / "bad.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[: len(data) // 2] if item.filename.endswith("sheet1.xml") else data)
    result = world.cli("import-staff", str(bad))
    assert result.exit_code != 0 and "not a readable .xlsx workbook" in result.output, result.output
    assert "Traceback" not in result.output and Staff.select().count() == 0


def test_a_required_column_given_twice_is_named(make_world):
    world = make_world(roster=None)
    result = import_file(world, "r.csv", "姓名,部门,手机号,name\n,办公室,13700000001,甲\n")
    assert result.exit_code != 0 and "line 1: two columns are name (columns A, D)" in result.output, result.output
    assert Staff.select().count() == 0


def test_without_a_header_the_likeliest_row_is_named(make_world):
    world = make_world(roster=None)
    out = import_file(world, "r.csv", "花名册\n姓名,部门\n甲,办公室\n").output
    assert "line 2: missing column(s) phone" in out, out
