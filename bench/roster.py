#!/usr/bin/env python3
"""Peak memory and time of `flask --app server import-staff FILE` on rosters up to 20 MB, hostile
ones included: each file is imported by a child process, and its peak RSS (ru_maxrss from wait4)
is reported against the target of 200 MB.

    .venv/bin/python bench/roster.py            # or: make bench-roster

Files (written to a temp dir, each at most 20 MB): a CSV of 300,000 people; an XLSX of 100,000;
an XLSX with one row of 5,000,000 empty cells (0.1 MB zipped); an XLSX whose shared strings unpack
to 600 MB; a CSV line of 19,000,000 commas; 400,000 bad rows (more than the row limit). The files
are written in pieces, so that no child starts with this process's memory. Only the
local SQLite file is touched; every child is bounded by a timeout.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import write_config  # noqa: E402

TARGET_MB = 200.0
HEADER = "姓名,部门,手机号\n"


def csv_people(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for i in range(n):
            fh.write(f"职工{i},第{i % 500}科,13{i:09d}\n")
    return path


def xlsx_people(path: Path, n: int) -> Path:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("花名册")
    sheet.append(["姓名", "部门", "手机号"])
    for i in range(n):
        sheet.append([f"职工{i}", f"第{i % 500}科", f"13{i:09d}"])
    book.save(path)
    return path


def xlsx_raw(path: Path, rows, shared_chunks=None) -> Path:
    """A hand-written workbook, its parts streamed: nothing large is held in this process,
    whose memory a child would otherwise start with."""
    from tests.test_roster_limits import xlsx

    xlsx(path, rows)
    if shared_chunks is not None:
        with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as z, z.open("xl/sharedStrings.xml", "w") as fh:
            for chunk in shared_chunks:
                fh.write(chunk)
    return path


def big_string(megabytes: int):
    yield b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>'
    for _ in range(megabytes):
        yield b"a" * (1 << 20)
    yield b"</t></si></sst>"


def files(tmp: Path) -> list[tuple[str, Path]]:
    empty = b'<c r="A1"/>' * 100_000
    commas = tmp / "commas.csv"
    with commas.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for _ in range(19):
            fh.write("," * 1_000_000)
        fh.write("\n")
    bad = tmp / "bad-rows.csv"
    with bad.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        for i in range(400_000):
            fh.write(f"p{i},d,1{i:05d}\n")
    return [
        ("CSV, 300,000 people", csv_people(tmp / "people.csv", 300_000)),
        ("XLSX, 100,000 people", xlsx_people(tmp / "people.xlsx", 100_000)),
        ("XLSX, one row of 5,000,000 cells", xlsx_raw(tmp / "cells.xlsx", [b'<row r="1">'] + [empty] * 50 + [b"</row>"])),
        ("XLSX, 600 MB shared string", xlsx_raw(tmp / "strings.xlsx", [b""], big_string(600))),
        ("CSV, a line of 19,000,000 commas", commas),
        ("CSV, 400,000 bad rows", bad),
    ]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tuanjie-roster-") as tmp:
        tmp = Path(tmp)
        config = write_config(tmp / "config.toml", app_id="wx0000bench00roster", app_secret="bench-secret",
                              token="benchRoster42", db_file=tmp / "roster.db", api_base="http://127.0.0.1:9",
                              api_token="bench-roster-token")
        subprocess.run([sys.executable, "-m", "flask", "--app", "server", "init-db"], cwd=REPO, check=True,
                       env={**os.environ, "TUANJIE_CONFIG": str(config)}, capture_output=True, timeout=60)
        print(f"bench/roster.py: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; target peak RSS <= "
              f"{TARGET_MB:.0f} MB for any file <= 20 MB")
        print(f"{'file':<36} {'size MB':>8} {'seconds':>8} {'peak MB':>8}  exit  last line")
        worst = 0.0
        for name, path in files(tmp):
            took, peak, code, last = measure(config, path)
            worst = max(worst, peak)
            print(f"{name:<36} {path.stat().st_size / 2**20:>8.1f} {took:>8.1f} {peak:>8.0f}  {code:>4}  {last}")
        print(f"worst peak RSS {worst:.0f} MB: {'PASS' if worst <= TARGET_MB else 'MISS'}")
    return 0


def measure(config: Path, path: Path) -> tuple[float, float, int, str]:
    """One import in a child; its peak RSS from the kernel (wait4's ru_maxrss)."""
    env = {**os.environ, "TUANJIE_CONFIG": str(config)}
    began = time.monotonic()
    with open(os.devnull, "w") as null, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "import-staff", str(path)],
                                cwd=REPO, env=env, stdout=null, stderr=err)
        deadline = time.monotonic() + 600
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.05)  # polling the child, bounded by the deadline
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        lines = err.read().strip().splitlines()
    return time.monotonic() - began, usage.ru_maxrss / 1024, proc.returncode, (lines[-1] if lines else "")[:110]


if __name__ == "__main__":
    sys.exit(main())
