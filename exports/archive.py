"""The evidence archive as one file organisers hand upward: a zip laid out 部门/清单/事项/, its
files named 姓名_日期_序号.ext (a collective activity's as 集体N_日期_序号), texts and voice
recognitions as .txt beside them, and index.xlsx: a row per piece and person, and a sheet of
the pieces lost, with why.

It streams: files are copied into the zip a chunk at a time, from media_dir or from the bucket
(campaign/objects.py) alike, the index is written row by row
(XlsxWriter's constant memory mode), so memory does not grow with the archive. Names are safe
on Windows and stored as UTF-8, which Windows Explorer shows as written.
"""
from __future__ import annotations

import datetime as dt
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from campaign import evidence
from campaign.archive import Archive
from campaign.clock import from_utc
from campaign.plan import Plan
from exports.book import Book
from exports.files import replaced_atomically

_UNSAFE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
INDEX_COLUMNS = ["姓名", "部门", "清单", "事项", "时间", "类型", "文件（压缩包内路径）", "文字", "sha256", "集体打卡"]
KIND_NAMES = {"image": "照片", "voice": "语音", "video": "视频", "shortvideo": "视频", "text": "文字"}


def safe(name: str, limit: int = 80) -> str:
    """A file or folder name Windows accepts: no reserved characters, no trailing dot or space,
    no reserved device name, not too long."""
    name = _UNSAFE.sub("_", name).strip().rstrip(". ") or "_"
    if name.split(".")[0].upper() in _RESERVED:
        name = "_" + name
    return name[:limit]


@dataclass
class Written:
    pieces: int = 0  # (piece, person) rows in the index
    files: int = 0
    lost: int = 0
    bytes: int = 0


class ArchiveExport:
    def __init__(self, plan: Plan, archive: Archive, tz, progress: Callable[[int], None] | None = None):
        self.plan, self.archive, self.tz, self.progress = plan, archive, tz, progress or (lambda n: None)
        self.names: dict[tuple[int, str], str] = {}  # (piece, folder) -> its path in the zip
        self.seq: dict[str, int] = {}

    def write(self, out: Path, department: str | None = None, checklist: str | None = None) -> Written:
        """Write the zip to `out` through a temporary file, flushed to disk and then renamed: a
        crash leaves the old file or the whole new one, and a failure leaves no .partial."""
        written = Written()
        with replaced_atomically(out) as partial:
            with tempfile.TemporaryDirectory(prefix="tuanjie-index-") as tmp, open(partial, "wb") as raw:
                with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
                    index = _Index(Path(tmp) / "index.xlsx")
                    for row in evidence.archive_rows(self.plan.year, department, checklist):
                        self._row(zf, index, row, written)
                    index.close()
                    zf.write(Path(tmp) / "index.xlsx", "index.xlsx")
        return written

    def _row(self, zf: zipfile.ZipFile, index: "_Index", row: evidence.ArchiveRow, written: Written) -> None:
        folder = self._folder(row)
        at = from_utc(row.received_at, self.tz)
        kind = KIND_NAMES.get(row.kind, row.kind)
        base = [row.person, row.department, folder.split("/")[1], folder.split("/")[2], at.strftime("%Y-%m-%d %H:%M")]
        missing = (row.sha256 is not None and (row.piece_id, folder) not in self.names
                   and not self.archive.has(row.sha256))  # one look per file: a HEAD each in a bucket
        if row.state == evidence.LOST or (row.sha256 is None and row.text is None) or missing:
            index.lost(base + [kind, _why_missing(row, self.archive.store.where if missing else None)])
            written.lost += 1
            return
        path = self._file(zf, row, folder, at, written)
        index.piece(base + [kind, path, row.text or "", row.sha256 or "", row.activity or ""])
        written.pieces += 1
        self.progress(1)

    def _folder(self, row: evidence.ArchiveRow) -> str:
        found = self.plan.item_of(row.checklist, row.item)
        checklist = self.plan.checklist(row.checklist)
        list_name = checklist.name if checklist else row.checklist
        if "@h" in row.checklist:
            list_name += "（上半年）" if row.checklist.endswith("@h1") else "（下半年）"
        item_name = found[1].name if found else row.item
        return "/".join(safe(part) for part in (row.department, list_name, item_name))

    def _file(self, zf: zipfile.ZipFile, row: evidence.ArchiveRow, folder: str, at: dt.datetime,
              written: Written) -> str:
        """The piece's file in this folder, added once however many people it documents."""
        key = (row.piece_id, folder)
        if key in self.names:
            return self.names[key]
        who = f"集体{row.activity}" if row.activity else row.sender
        stem = f"{folder}/{safe(who, 40)}_{at:%Y%m%d}"
        self.seq[stem] = n = self.seq.get(stem, 0) + 1
        name = f"{stem}_{n}"
        path = f"{name}.{row.ext or 'txt'}" if row.sha256 else f"{name}.txt"
        if row.sha256:
            # Stored as they are (ZipInfo's default, ZIP_STORED): photos and video do not compress.
            with self.archive.open(row.sha256) as src, zf.open(zipfile.ZipInfo(path, at.timetuple()[:6]), "w",
                                                               force_zip64=True) as dst:
                while chunk := src.read(1 << 16):
                    dst.write(chunk)
                    written.bytes += len(chunk)
            written.files += 1
        if row.text:  # a text piece, or a voice message's recognition beside its file
            zf.writestr(f"{name}.txt", "\ufeff" + row.text, compress_type=zipfile.ZIP_DEFLATED)
            written.files += 1
        self.names[key] = path
        return path


def _why_missing(row: evidence.ArchiveRow, missing_from: str | None = None) -> str:
    if missing_from:  # the database says stored, the store disagrees: say so, and go on
        return f"stored, but its file {row.sha256[:12]}… is missing from {missing_from} (restore it from a backup)"
    if row.state == evidence.LOST:
        return row.error or "lost"
    return "not fetched yet (the media job runs every few seconds)"


class _Index:
    """index.xlsx, written a row at a time: 凭证 (every piece and person) and 缺失 (lost)."""

    def __init__(self, path: Path):
        self.book = Book(path)
        self.pieces_sheet = self.book.sheet("凭证", INDEX_COLUMNS)
        self.lost_sheet = self.book.sheet("缺失", INDEX_COLUMNS[:6] + ["原因"])

    def piece(self, cells: list) -> None:
        self.pieces_sheet.append(cells)

    def lost(self, cells: list) -> None:
        self.lost_sheet.append(cells)

    def close(self) -> None:
        self.book.close()
