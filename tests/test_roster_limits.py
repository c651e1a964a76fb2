"""Roster files that would exhaust memory or break replies are refused with the limit they
pass named, before anything is imported; one bad row never stops the good ones."""
from __future__ import annotations

import zipfile

from models import Staff

HEADER = "姓名,部门,手机号\n"


def xlsx(path, sheet_rows, shared: bytes | None = None):
    """A minimal workbook written by hand, streamed so that a test file can be huge inside."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
                   '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
        z.writestr("xl/workbook.xml", '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                   'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
                   '<sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
                   '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        if shared is not None:
            with z.open("xl/sharedStrings.xml", "w") as fh:
                fh.write(shared)
        with z.open("xl/worksheets/sheet1.xml", "w") as fh:
            fh.write(b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
            for chunk in sheet_rows:
                fh.write(chunk)
            fh.write(b"</sheetData></worksheet>")
    return path


def import_file(world, path):
    result = world.cli("import-staff", str(path))
    return result.exit_code, result.output


def test_a_small_workbook_with_five_million_cells_in_a_row_is_refused(make_world):
    world = make_world(roster=None)
    empty = b'<c r="A1"/>' * 100_000
    path = xlsx(world.tmp / "bomb.xlsx", [b'<row r="1">'] + [empty] * 50 + [b"</row>"])
    assert path.stat().st_size < 1_000_000
    code, out = import_file(world, path)
    assert code == 1 and "over the 64 columns a roster may have (more than 256 cells" in out, out
    assert Staff.select().count() == 0


def test_a_huge_shared_string_is_refused_before_it_is_read(make_world):
    world = make_world(roster=None)
    shared = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>' + b"a" * (61 << 20) \
        + b"</t></si></sst>"
    code, out = import_file(world, xlsx(world.tmp / "strings.xlsx", [b""], shared))
    assert code == 1 and "text table" in out and "over the 60 MB limit" in out, out


def test_a_file_over_twenty_megabytes_is_refused(make_world):
    world = make_world(roster=None)
    path = world.tmp / "big.csv"
    path.write_text(HEADER + ("张三,办公室,13900000001\n" * 800_000), encoding="utf-8")
    code, out = import_file(world, path)
    assert code == 1 and "over the 20 MB limit" in out, out


def test_too_many_rows_are_refused_before_any_is_imported(make_world):
    world = make_world(roster=None)
    path = world.tmp / "rows.csv"
    path.write_text(HEADER + "".join(f"p{i},d,139{i:08d}\n" for i in range(300_011)), encoding="utf-8")
    code, out = import_file(world, path)
    assert code == 1 and "more than 300,000 rows" in out, out
    assert Staff.select().count() == 0


def test_a_line_of_twenty_million_commas_is_named_not_read_into_memory(make_world):
    world = make_world(roster=None)
    path = world.tmp / "commas.csv"
    path.write_text(HEADER + "," * 19_000_000 + "\n", encoding="utf-8")
    code, out = import_file(world, path)
    assert code == 1 and "line 2 is 19,000,001 characters long" in out, out


def test_many_bad_rows_are_listed_up_to_a_hundred_then_counted(make_world):
    world = make_world(roster=None)
    path = world.tmp / "bad.csv"
    path.write_text(HEADER + "".join(f"p{i},d,12345\n" for i in range(1000)) + "好人,办公室,13900000001\n",
                    encoding="utf-8")
    code, out = import_file(world, path)
    assert code == 1
    assert out.count(": line ") == 100 and "900 more rows rejected" in out, out[-300:]
    assert "created 1, updated 0, unchanged 0, rejected 1000" in out
    assert Staff.get().name == "好人"


def test_control_characters_in_a_name_reject_that_row_only(make_world):
    world = make_world(roster=None)
    path = world.tmp / "ctrl.csv"
    path.write_text(HEADER + "A\x01B,办公室,13900000001\n\x00Nul,办公室,13900000002\n"
                    "零宽\u200b,办公室,13900000003\n好人,办公室,13900000004\n", encoding="utf-8")
    code, out = import_file(world, path)
    assert code == 1
    assert "line 2: 姓名/name 'A\\x01B' contains the control character U+0001" in out, out
    assert "U+0000" in out and "U+200B" in out
    assert [p.name for p in Staff.select()] == ["好人"]  # on PostgreSQL the NUL had aborted every later row


def test_an_old_xls_workbook_is_read(make_world):
    import xlwt

    world = make_world(roster=None)
    book = xlwt.Workbook()
    sheet = book.add_sheet("花名册")
    sheet.write(0, 0, "某单位职工花名册")
    for c, title in enumerate(["姓名", "部门", "手机号", "状态"]):
        sheet.write(2, c, title)
    sheet.write(3, 0, "王伟")
    sheet.write(3, 1, "办公室")
    sheet.write(3, 2, 13900000001)  # typed as a number, as Excel keeps a phone column
    sheet.write(3, 3, "请假")
    path = world.tmp / "old.xls"
    book.save(str(path))
    code, out = import_file(world, path)
    assert code == 0 and "created 1" in out, out
    person = Staff.get()
    assert (person.name, person.phone, person.status) == ("王伟", "13900000001", "exempt")
