"""export-archive writes the archive organisers hand upward: folders 部门/清单/事项/, files named
姓名_日期_序号, texts beside them, an index whose every row matches the database, the lost pieces
with why, names safe on Windows and shown as written (UTF-8)."""
from __future__ import annotations

import re
import zipfile

import openpyxl

from emulator import inbound
from models import CheckInEvidence
from tests.conftest import ROSTER, bind
from tests.test_media import AMR, jpeg, media_world, upload  # noqa: F401  (the fixture)

ODD = ROSTER + "=HYPERLINK(\"x\"),组织科,13900000015,staff,\n"


def export(world, *args) -> tuple[str, zipfile.ZipFile]:
    out = world.tmp / "archive.zip"
    result = world.cli("export-archive", "--out", str(out), "--force", *args)
    assert result.exit_code == 0, result.output
    return result.output, zipfile.ZipFile(out)


def index_rows(zf: zipfile.ZipFile, sheet: str) -> list[tuple]:
    with zf.open("index.xlsx") as fh:
        book = openpyxl.load_workbook(fh, read_only=True)
        return [tuple(c.value for c in row) for row in book[sheet].iter_rows(min_row=2)]


def test_the_archive_zip_holds_every_piece_once_and_an_index_row_per_piece_and_person(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg())))
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg(colour=(9, 9, 9)))))
    world.say("o-bob", "4")
    world.send(inbound.voice("o-bob", upload(emu, "voice", AMR), "我们讲了石榴籽的故事"))
    world.say("o-bob", "结对 2")
    world.say("o-bob", "今天去牧民阿依古丽家走亲，一起包了饺子，孩子们学会了三句维吾尔语问候。")
    world.say("o-bob", "3")
    world.send(inbound.image("o-bob", "EXPIRED-ID"))  # the emulator never had it: 40007
    assert world.cli("run-job", "media").exit_code == 0
    output, zf = export(world)
    names = zf.namelist()
    assert "index.xlsx" in names and "4 pieces in 5 files" in output and "1 lost" in output, output
    photos = sorted(n for n in names if n.startswith("办公室/五个一/共照一张全家福/"))
    assert [re.sub(r"_\d{8}_", "_D_", n) for n in photos] == ["办公室/五个一/共照一张全家福/Bob_D_1.jpg",
                                                               "办公室/五个一/共照一张全家福/Bob_D_2.jpg"], photos
    assert zf.read(photos[0]) == jpeg()
    assert any(n.endswith(".amr") for n in names) and any(n.endswith(".txt") and "共讲一个团结故事" in n for n in names)
    story = next(n for n in names if "走一次亲" in n and n.endswith(".txt"))
    assert "包了饺子" in zf.read(story).decode("utf-8-sig")
    assert all(info.flag_bits & 0x800 for info in zf.infolist() if not info.filename.isascii())  # UTF-8 names
    rows = index_rows(zf, "凭证")
    assert len(rows) == CheckInEvidence.select().count() - 1  # every piece and person, but the lost one
    assert {r[6] for r in rows} <= set(names)
    lost = index_rows(zf, "缺失")
    assert len(lost) == 1 and "40007" in lost[0][6]


def test_a_group_photo_is_one_file_and_a_row_for_each_person_it_credits(media_world):
    world, emu = media_world
    bind(world, "13900000011", "o-dave")
    for text in ("集体打卡 1", "全部", "确认"):
        world.say("o-dave", text)
    world.send(inbound.image("o-dave", upload(emu, "image", jpeg())))
    world.cli("run-job", "media")
    _, zf = export(world, "--department", "组织科")
    files = [n for n in zf.namelist() if n.endswith(".jpg")]
    assert len(files) == 1 and files[0].startswith("组织科/五个一/共照一张全家福/集体")
    rows = index_rows(zf, "凭证")
    assert sorted(r[0] for r in rows) == ["Dave", "Erin"] and {r[6] for r in rows} == {files[0]}
    assert all(r[9] for r in rows)  # the activity's number
    _, office = export(world, "--department", "办公室")
    assert index_rows(office, "凭证") == []


def test_a_formula_like_name_stays_text_and_folder_names_are_safe_on_windows(make_world):
    from tests.conftest import start_emulator

    emu, server = start_emulator("http://127.0.0.1:9/wechat")
    try:
        roster = ODD + "Zed,研究室:A/B*,13900000031,staff,\n"
        world = make_world(roster=roster, api_base=emu.base)
        bind(world, "13900000015", "o-odd")
        bind(world, "13900000031", "o-zed")
        world.say("o-odd", "4")
        world.say("o-odd", "我们讲了石榴籽的故事，大家都很受触动，约好下个月再讲一个新的故事。")
        world.say("o-zed", "4")
        world.say("o-zed", "研究室的同事们讲了阿依古丽和邻居们互帮互助的故事，写成了一份小材料。")
        _, zf = export(world)
        rows = index_rows(zf, "凭证")
        assert ("=HYPERLINK(\"x\")" in [r[0] for r in rows])
        with zf.open("index.xlsx") as fh:
            cell = openpyxl.load_workbook(fh)["凭证"]["A2"]
            assert cell.data_type == "s"  # a string, never a formula
        assert any(n.startswith("研究室_A_B_/") for n in zf.namelist()), zf.namelist()
    finally:
        server.shutdown()


def test_a_file_missing_from_disk_is_listed_as_missing_and_the_rest_exported(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg())))
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg(colour=(9, 9, 9)))))
    world.cli("run-job", "media")
    from models import Evidence

    gone = Evidence.select().order_by(Evidence.id).first()
    archive = world.app.extensions["tuanjie"].archive
    archive.store.delete(archive.key(gone.sha256))
    output, zf = export(world)
    assert "1 pieces in 1 files" in output.replace("1 piece in", "1 pieces in") and "1 lost" in output, output
    lost = index_rows(zf, "缺失")
    assert len(lost) == 1 and "is missing from" in lost[0][6]


def test_a_failed_export_leaves_neither_a_partial_file_nor_a_changed_old_one(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg())))
    world.cli("run-job", "media")
    out = world.tmp / "archive.zip"
    out.write_bytes(b"the old export")
    (world.tmp / "archive.zip.partial").mkdir()  # the temporary file cannot be made
    result = world.cli("export-archive", "--out", str(out), "--force")
    assert result.exit_code == 1 and "cannot write the archive" in result.output and "Traceback" not in result.output
    assert out.read_bytes() == b"the old export"
    (world.tmp / "archive.zip.partial").rmdir()
