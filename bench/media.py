#!/usr/bin/env python3
"""Throughput and memory of the media job (bot/media.py), and speed and memory of the archive export.

    .venv/bin/python bench/media.py            # or: make bench-media
    .venv/bin/python bench/media.py --files 20 --export-files 40      # a quick smoke run
    .venv/bin/python bench/media.py --files 1000 --export-files 0 --concurrency 16 --latency-ms 20
    .venv/bin/python bench/media.py --store s3 --files 200 --export-files 400   # the archive in a bucket

What is measured, all on 127.0.0.1, in a temp dir:

1. The downloader. --files (1,000) images of 1 MiB each, every one a JPEG header
   (FF D8 FF E0) then random bytes: incompressible, and all distinct, so none is deduplicated
   by the content-addressed archive (campaign/archive.py). They are uploaded to the emulator
   (emulator/app.py, its own gunicorn process: one gthread worker, 32 threads) with
   /cgi-bin/media/upload, and one Evidence row per image is written pending, for a bound
   person, in an SQLite file made by `flask --app server init-db`. The emulator then answers
   every media/get after --latency-ms (50 ms; POST /_emu/faults). `flask --app server run-job
   media` runs in a child process (TUANJIE_CONFIG names a temp config: [wechat] api_base the
   emulator, [storage] media_dir a temp folder, media_concurrency --concurrency, default 8),
   again and again until nothing is pending: one run takes at most 500 pieces
   (campaign/evidence.py due()) and about 50 s. Reported: files/s and MB/s over the runs'
   wall time less each run's start-up (the median wall time of three more runs with nothing
   due: imports, create_app, the token), and gross (start-up included). The target is for the
   first: in production the scheduler runs the job in a process already started. Then the
   in-flight limit, concurrency / latency (160 files/s at 8 and 50 ms), the throughput as a
   share of it (target >= 0.6x), the job's and the emulator's CPU per file, and the child's
   peak RSS: the kernel's ru_maxrss from wait4, the highest over the runs (target <= 150 MB).
   Every stored row is then checked against the archive (its file, its size). The thumbnail
   step runs but costs little here: Pillow refuses random bytes after a JPEG header in under
   1 ms (the job logs a warning and stores the piece without a thumbnail). Real photos are
   decoded, which this does not measure (bench/README.md gives a one-off figure).
2. The export. --export-files (2,000) such files in the archive: the downloader's, and the rest
   written with campaign.archive.Archive.put_bytes and Evidence rows stored; each piece linked
   (CheckInEvidence) to one check-in of its person (五个一 / 共照一张全家福). Then, in child
   processes, `zip -0 -r -q -D` of the archive folder (its tmp/ excluded), `flask --app server
   export-archive --out X.zip`, and the zip again (both zips reported; the ratio uses their
   mean). Reported: each time, MB/s of the files' bytes, export time / zip time (target <= 2x,
   i.e. the export >= 0.5x zip's speed) and the export child's peak RSS (target <= 150 MB). The
   export's zip is opened afterwards to count its entries and bytes. The files were just
   written, so both read them from the page cache: this compares CPU and writing, not the disk.

With --store s3 the archive is a bucket of moto's standalone S3 server (started here, on a free
port): the media job puts each file there, the check reads each object's size, and the export
streams every object back over HTTP; there is no zip to compare with. moto keeps objects in its
own Python process's memory and is much slower than MinIO: its figures show that the app's
memory stays flat, not how fast a real store is.

The export's time includes its start-up (the same imports as the media job's empty run);
nothing in production code is replaced or patched. A child's ru_maxrss is at least the RSS of
the process that started it (exec keeps the high-water mark), so this script's own RSS at each
start is printed beside the peaks. Before each part the script measures how busy the 2-core
machine already is and warns: other work there depresses the figures. Every loop is bounded
in count and in time, each child by a timeout; the processes started here (each in its own
process group: the emulator's gunicorn, the children) are ended on exit, error, SIGTERM or
Ctrl-C, and the temp dir (up to about 4 GB at the default sizes while it runs) is removed
unless --keep.

The figures are printed with MET / MISSED beside each target; the exit status does not depend
on them: 0 when the runs completed, 1 when a run failed or left pieces unstored, 2 when set-up
failed, 130 on Ctrl-C.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (SHIPPED_PLAN, Gunicorn, MotoS3, SetupError, clean_env, end_group, http_json,  # noqa: E402
                          proc_cpu, proc_status, temp_dir, warn_if_busy, write_config)

APP_ID = "wx0000bench000media"
APP_SECRET = "bench-media-secret"
TOKEN = "benchMedia42"
API_TOKEN = "bench-media-api-token"
CLOSED_WEBHOOK = "http://127.0.0.1:9/wechat"  # discard port: nothing listens
JPEG_HEAD = b"\xff\xd8\xff\xe0"
FILE_BYTES = 1 << 20
PER_RUN = 500  # campaign/evidence.py due(): a run of the job takes at most this many pieces
TZ = "Asia/Shanghai"  # the config's default campaign zone
CHECKLIST, ITEM = "wuge", "family_photo"

TARGET_LIMIT_RATIO = 0.6
TARGET_RSS_MB = 150.0
TARGET_EXPORT_VS_ZIP = 2.0  # export time <= 2x zip time

CHILDREN: set[subprocess.Popen] = set()  # running children, ended in the finally of benchmark()


# --------------------------------------------------------------------------- the emulator app

def emulator_app():
    """gunicorn factory: the emulator with the bench's keys and no users.

        gunicorn -k gthread -w 1 --threads 32 'bench.media:emulator_app()'
    """
    from config import DEMO_AES_KEY
    from emulator.app import Settings, create_emulator
    from flask import jsonify

    settings = Settings(webhook_url=CLOSED_WEBHOOK, token=TOKEN, encoding_aes_key=DEMO_AES_KEY, app_id=APP_ID,
                        app_secret=APP_SECRET, mode="safe", users=())
    app = create_emulator(settings)
    platform = app.extensions["emulator"].platform

    @app.get("/_bench/health")
    def health():
        return jsonify(pid=os.getpid(), media=len(platform.media))

    return app


class Emulator(Gunicorn):
    """gunicorn serving emulator_app(): one gthread worker (its state is in memory)."""

    def __init__(self, tmp: Path, threads: int):
        super().__init__("emulator", "bench.media:emulator_app()",
                         ["-k", "gthread", "-w", "1", "--threads", str(threads), "--timeout", "120"],
                         clean_env(), tmp / "emulator.log")
        self.worker_pid: int | None = None

    def wait_ready(self, timeout: float = 30.0) -> None:
        self.worker_pid = self.wait_for(lambda: http_json(self.port, "GET", "/_bench/health", timeout=2)["pid"],
                                        "not ready", timeout)

    def latency(self, ms: int) -> None:
        http_json(self.port, "POST", "/_emu/faults", {"endpoint": "media/get", "latency_ms": ms})

    def token(self) -> str:
        got = http_json(self.port, "POST", "/cgi-bin/stable_token",
                        {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET})
        if "access_token" not in got:
            raise SetupError(f"stable_token: {got}")
        return got["access_token"]

    def cpu(self) -> float | None:
        return proc_cpu(self.worker_pid) if self.worker_pid else None


# --------------------------------------------------------------------------- helpers

def image_bytes(size: int = FILE_BYTES) -> bytes:
    """A JPEG header, then random bytes: incompressible, and distinct from every other."""
    return JPEG_HEAD + os.urandom(size - len(JPEG_HEAD))


def mib(n: float) -> float:
    return n / 2**20


def fmt(value, spec: str = ".1f", none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "MISSED")


@dataclass
class Child:
    name: str
    returncode: int | None = None
    seconds: float = 0.0
    peak_mb: float | None = None
    cpu: float | None = None  # user + sys seconds
    sys_cpu: float | None = None
    timed_out: bool = False
    parent_mb: float | None = None  # this script's RSS when it started the child
    out_path: Path | None = None
    err_path: Path | None = None

    def out(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path else ""

    def err_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.err_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):
            return ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_child(name: str, argv: list[str], env: dict, tmp: Path, timeout: float, cwd: Path = REPO) -> Child:
    """One child in its own process group; its wall time, and its peak RSS and CPU from wait4.
    Killed (with its group) after `timeout` seconds.

    The kernel's ru_maxrss of a child is at least the RSS of the process that started it (exec
    carries the old address space's high-water mark over), so `parent_mb` is recorded: a peak
    is the child's own only when it is above that."""
    res = Child(name, out_path=tmp / f"{name}.out", err_path=tmp / f"{name}.err")
    with res.out_path.open("wb") as out, res.err_path.open("wb") as err:
        res.parent_mb = proc_status().get("VmRSS", 0) / 1024
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True)
        CHILDREN.add(proc)
        try:
            deadline = t0 + timeout
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    break
                if time.perf_counter() > deadline:
                    res.timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                    _, status, ru = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.01)  # polling the child, bounded by the deadline
            res.seconds = time.perf_counter() - t0
            proc.returncode = res.returncode = os.waitstatus_to_exitcode(status)
            res.peak_mb, res.cpu, res.sys_cpu = ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime, ru.ru_stime
        finally:
            if proc.returncode is None:
                end_group(proc)
            CHILDREN.discard(proc)
    return res


def flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "server", *args]


# --------------------------------------------------------------------------- set-up

def bench_config(tmp: Path, api_base: str, concurrency: int, storage: str = "") -> Path:
    return write_config(tmp / "config.toml", app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN,
                        db_file=tmp / "media.db", api_base=api_base, api_token=API_TOKEN, more=f"""
[campaign]
plan = "{SHIPPED_PLAN}"
timezone = "{TZ}"

[storage]
media_dir = "{tmp / 'media'}"
media_concurrency = {concurrency}
spool_dir = "{tmp / 'spool'}"
private_dir = "{tmp / 'private'}"
{storage}""")


def init_db(env: dict) -> None:
    r = subprocess.run(flask("init-db"), cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SetupError(f"flask init-db: exit {r.returncode}:\n{r.stderr[-2000:]}")


def connect(db_file: Path):
    from models import db
    from storage.engine import init_database

    init_database(f"sqlite:///{db_file}")
    return db


def populate_people(db_file: Path, people: int) -> None:
    """1 department per 100 people, `people` bound staff (openid o-<n>)."""
    from models import Department, Staff

    db = connect(db_file)
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with db.connection_context(), db.atomic():
        ndept = max(1, (people + 99) // 100)
        Department.insert_many([{"name": f"部门{d:03d}"} for d in range(ndept)]).execute()
        dept_ids = [d.id for d in Department.select(Department.id).order_by(Department.id)]
        for start in range(0, people, 500):
            Staff.insert_many([{"name": f"职工{i}", "phone": f"13{i:09d}", "department": dept_ids[i // 100],
                                "openid": f"o-{i}", "bound_at": now}
                               for i in range(start, min(people, start + 500))]).execute()
    db.close()


def people_ids(db) -> list[tuple[int, int]]:
    from models import Staff

    return [(s, d) for s, d in Staff.select(Staff.id, Staff.department).order_by(Staff.id).tuples()]


def upload_and_record(emu: Emulator, db_file: Path, files: int, max_seconds: float) -> float:
    """Upload `files` images to the emulator and write one pending Evidence row each. Seconds taken."""
    import requests

    from models import Evidence

    token = emu.token()
    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    received = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)
    db = connect(db_file)
    with db.connection_context():
        people = people_ids(db)
    rows = []
    with requests.Session() as s:
        s.trust_env = False
        for i in range(files):
            if time.perf_counter() > deadline:
                raise SetupError(f"upload: {i} of {files} files in {max_seconds:.0f} s")
            r = s.post(f"{emu.base}/cgi-bin/media/upload", params={"access_token": token, "type": "image"},
                       files={"media": (f"p{i}.jpg", image_bytes(), "image/jpeg")}, timeout=30)
            got = r.json() if r.status_code == 200 else {}
            if not got.get("media_id"):
                raise SetupError(f"media/upload #{i}: HTTP {r.status_code}: {r.text[:200]}")
            staff, dept = people[i]
            rows.append({"staff": staff, "department": dept, "kind": "image", "media_id": got["media_id"],
                         "received_at": received, "state": "pending", "next_attempt_at": received})
    with db.connection_context(), db.atomic():
        for start in range(0, len(rows), 500):
            Evidence.insert_many(rows[start:start + 500]).execute()
    db.close()
    return time.perf_counter() - t0


def states(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as con:
        return dict(con.execute("SELECT state, COUNT(*) FROM evidence GROUP BY state").fetchall())


# --------------------------------------------------------------------------- 1. the downloader

@dataclass
class FetchResult:
    runs: list[Child] = field(default_factory=list)
    empty: list[Child] = field(default_factory=list)
    states: dict = field(default_factory=dict)
    emu_cpu: float | None = None
    problems: list[str] = field(default_factory=list)


def fetch_all(files: int, env: dict, tmp: Path, db_file: Path, emu: Emulator, max_seconds: float) -> FetchResult:
    """`flask --app server run-job media` until nothing is pending (bounded in runs and time),
    then three times more with nothing due, for its start-up time (their median)."""
    res = FetchResult()
    max_runs = files // PER_RUN + 4
    deadline = time.monotonic() + max_seconds
    cpu0 = emu.cpu()
    for n in range(1, max_runs + 1):
        remaining = deadline - time.monotonic()
        if remaining < 5:
            res.problems.append(f"stopped after {n - 1} runs: the {max_seconds:.0f} s budget is spent")
            break
        run = run_child(f"media-run{n}", flask("run-job", "media"), env, tmp, timeout=min(180.0, remaining))
        res.runs.append(run)
        now = states(db_file)
        line = (run.out().strip().splitlines() or [""])[-1]
        print(f"  run {n}: {line or '(no output)'} in {run.seconds:.2f} s, peak RSS {fmt(run.peak_mb)} MB, "
              f"CPU {fmt(run.cpu, '.2f')} s, exit {run.returncode}{' TIMED OUT' if run.timed_out else ''}; "
              f"states {now}")
        if not run.ok:
            res.problems.append(f"run {n} exit {run.returncode}{' (timed out)' if run.timed_out else ''}:\n"
                                f"{run.err_tail()}")
            break
        if not now.get("pending") and not now.get("fetching"):
            break
        if line.endswith(": 0"):
            res.problems.append(f"run {n} stored nothing with {now.get('pending', 0)} pending "
                                f"(waiting for a retry?); stopped")
            break
    res.emu_cpu = None if cpu0 is None or emu.cpu() is None else emu.cpu() - cpu0
    res.empty = [run_child(f"media-empty{n}", flask("run-job", "media"), env, tmp, timeout=120) for n in (1, 2, 3)]
    res.states = states(db_file)
    return res


def archive_of(config: Path):
    """The archive the config names (media_dir, or the bucket), as the app builds it."""
    from campaign import objects
    from campaign.archive import Archive
    from config import load_config

    cfg = load_config(config, environ={})
    media_dir = cfg.path(cfg.storage.media_dir)
    return Archive(objects.from_config(cfg.storage, media_dir), media_dir / "tmp")


def check_archive(db_file: Path, archive) -> tuple[int, int, list[str]]:
    """Every stored row's file exists with its size; (files checked, distinct sha256, problems)."""
    from campaign.objects import Missing

    problems = []
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=10) as con:
        rows = con.execute("SELECT id, sha256, size FROM evidence WHERE state = 'stored'").fetchall()
    for piece, sha, size in rows:
        try:
            kept = archive.store.size(archive.key(sha))
        except Missing:
            kept = None
        if kept != size or size != FILE_BYTES:
            problems.append(f"piece {piece}: {archive.key(sha)} missing from {archive.store.where} or not {size} bytes")
    return len(rows), len({sha for _, sha, _ in rows}), problems[:5]


def report_fetch(res: FetchResult, files: int, concurrency: int, latency_ms: int, upload_s: float,
                 checked: tuple[int, int, list[str]]) -> dict:
    stored = res.states.get("stored", 0)
    wall = sum(r.seconds for r in res.runs)
    empty = sorted(r.seconds for r in res.empty if r.ok)
    startup = statistics.median(empty) if len(empty) == len(res.empty) and empty else None
    net = wall - startup * len(res.runs) if startup is not None else None
    rate = stored / net if net and net > 0 else None
    gross = stored / wall if wall else None
    limit = concurrency / (latency_ms / 1000) if latency_ms else None
    ratio = rate / limit if rate and limit else None
    peak = max((r.peak_mb for r in res.runs if r.peak_mb is not None), default=None)
    cpu = sum(r.cpu or 0 for r in res.runs)
    sys_cpu = sum(r.sys_cpu or 0 for r in res.runs)
    empty_cpu = statistics.median([r.cpu or 0 for r in res.empty]) if res.empty else 0.0
    net_cpu = cpu - empty_cpu * len(res.runs)
    print(f"\n== downloader: {files} images of 1 MiB, concurrency {concurrency}, emulator latency {latency_ms} ms "
          f"per media/get (uploaded in {upload_s:.1f} s)")
    print(f"  {stored} stored in {len(res.runs)} run(s) of `flask --app server run-job media`: {wall:.2f} s wall; "
          f"start-up of a run (median of 3 more with nothing due: {', '.join(f'{x:.2f}' for x in empty)}) "
          f"{fmt(startup, '.2f')} s, their peak RSS {fmt(max((r.peak_mb or 0 for r in res.empty), default=None))} MB")
    print(f"  throughput without start-up: {fmt(rate, '.1f')} files/s = {fmt(rate, '.1f')} MB/s over {fmt(net, '.2f')} s;"
          f" gross (start-up included): {fmt(gross, '.1f')} files/s")
    print(f"  in-flight limit {fmt(limit, '.0f')} files/s ({concurrency} / {latency_ms / 1000:g} s): ratio "
          f"{fmt(ratio, '.3f')}x (gross {fmt(gross / limit if gross and limit else None, '.3f')}x)"
          f"   target >= {TARGET_LIMIT_RATIO}x: {verdict(ratio >= TARGET_LIMIT_RATIO if ratio is not None else None)}")
    print(f"  job CPU {cpu:.2f} s (sys {sys_cpu:.2f} s), {net_cpu:.2f} s without start-up = "
          f"{net_cpu / stored * 1000 if stored else 0:.1f} ms/file, "
          f"{fmt(net_cpu / net if net else None, '.2f')} cores; emulator worker CPU {fmt(res.emu_cpu, '.2f')} s = "
          f"{fmt(res.emu_cpu / stored * 1000 if res.emu_cpu and stored else None, '.1f')} ms/file")
    parent = max((r.parent_mb for r in res.runs if r.parent_mb is not None), default=None)
    print(f"  child peak RSS {fmt(peak)} MB (ru_maxrss, highest of the runs; this script's RSS at their start "
          f"{fmt(parent)} MB)   target <= {TARGET_RSS_MB:.0f} MB: "
          f"{verdict(peak <= TARGET_RSS_MB if peak is not None else None)}")
    n, distinct, problems = checked
    print(f"  archive check: {n} stored rows, {distinct} distinct sha256, "
          + ("every file present with its size" if not problems else "PROBLEMS: " + "; ".join(problems)))
    print(f"  final states {res.states}")
    complete = stored == files and not problems and not res.problems
    return {"rate": rate, "ratio": ratio, "peak": peak, "complete": complete}


# --------------------------------------------------------------------------- 2. the export

def add_stored(db_file: Path, archive, count: int, first_person: int, max_seconds: float) -> float:
    """`count` more files written with Archive.put_bytes, and their Evidence rows stored."""
    from models import Evidence

    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    received = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)
    db = connect(db_file)
    with db.connection_context():
        people = people_ids(db)
        rows = []
        for i in range(count):
            if time.perf_counter() > deadline:
                raise SetupError(f"archive set-up: {i} of {count} files in {max_seconds:.0f} s")
            kept = archive.put_bytes(image_bytes())
            staff, dept = people[first_person + i]
            rows.append({"staff": staff, "department": dept, "kind": "image", "received_at": received,
                         "state": "stored", "attempts": 1, "sha256": kept.sha256, "size": kept.size,
                         "mime": "image/jpeg", "ext": "jpg"})
        with db.atomic():
            for start in range(0, len(rows), 500):
                Evidence.insert_many(rows[start:start + 500]).execute()
    db.close()
    return time.perf_counter() - t0


def link_checkins(db_file: Path, count: int, year: int) -> int:
    """A check-in (五个一 / 共照一张全家福) for the person of each of the first `count` stored
    pieces, the piece linked to it."""
    from models import CheckIn, CheckInEvidence, Evidence

    db = connect(db_file)
    created = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with db.connection_context(), db.atomic():
        pieces = list(Evidence.select(Evidence.id, Evidence.staff, Evidence.department)
                      .where(Evidence.state == "stored").order_by(Evidence.id).limit(count).tuples())
        for start in range(0, len(pieces), 500):
            CheckIn.insert_many([{"staff": s, "department": d, "checklist": CHECKLIST, "item": ITEM, "year": year,
                                  "created_at": created, "evidence_count": 1}
                                 for _, s, d in pieces[start:start + 500]]).execute()
        checkin_of = {s: c for c, s in CheckIn.select(CheckIn.id, CheckIn.staff).tuples()}
        links = [{"checkin": checkin_of[s], "evidence": e} for e, s, _ in pieces]
        for start in range(0, len(links), 500):
            CheckInEvidence.insert_many(links[start:start + 500]).execute()
        n = CheckInEvidence.select().count()
    db.close()
    return n


def zip_entries(path: Path) -> tuple[int, int, str]:
    """(entries other than index.xlsx, their bytes, how they are compressed)."""
    names = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and i.filename != "index.xlsx"]
    kinds = sorted({names.get(i.compress_type, str(i.compress_type)) for i in infos})
    return len(infos), sum(i.file_size for i in infos), "/".join(kinds) or "none"


def export_vs_zip(env: dict, tmp: Path, media_dir: Path | None, files: int, year: int) -> dict:
    """The export, between two runs of zip over media_dir (none when the files are in a bucket)."""
    data_mb = mib(files * FILE_BYTES)
    out_dir = tmp / "out"
    out_dir.mkdir(exist_ok=True)
    zips: list[Child] = []

    def plain_zip(n: int) -> Child | None:
        if media_dir is None:
            return None
        target = out_dir / f"plain{n}.zip"
        run = run_child(f"zip{n}", ["zip", "-0", "-r", "-q", "-D", str(target), ".", "-x", "tmp/*"],
                        clean_env(), tmp, timeout=600, cwd=media_dir)
        if run.ok:
            entries, size, _ = zip_entries(target)
            print(f"  zip -0 -r (#{n}): {run.seconds:.2f} s = {data_mb / run.seconds:.1f} MB/s, CPU {fmt(run.cpu, '.2f')} s "
                  f"(sys {fmt(run.sys_cpu, '.2f')} s), {entries} entries, "
                  f"{mib(target.stat().st_size):.1f} MB zip")
        else:
            print(f"  zip -0 -r (#{n}) failed: exit {run.returncode}:\n{run.err_tail()}")
        target.unlink(missing_ok=True)
        return run

    print(f"\n== export: {files} files of 1 MiB ({data_mb:.0f} MB) in the archive"
          f"{'' if media_dir else ' (a bucket of moto S3 over HTTP; no zip to compare)'}, all linked to check-ins")
    warn_if_busy("the export")
    zips.append(plain_zip(1))
    target = out_dir / "export.zip"
    export = run_child("export", flask("export-archive", "--out", str(target), "--year", str(year)), env, tmp,
                       timeout=1200)
    line = (export.out().strip().splitlines() or [""])[-1]
    ok = export.ok and target.exists()
    if ok:
        entries, size, kinds = zip_entries(target)
        print(f"  export-archive: {export.seconds:.2f} s = {data_mb / export.seconds:.1f} MB/s, CPU "
              f"{fmt(export.cpu, '.2f')} s (sys {fmt(export.sys_cpu, '.2f')} s); {entries} files "
              f"({mib(size):.1f} MB, {kinds}) + index.xlsx, {mib(target.stat().st_size):.1f} MB zip")
        print(f"    it said: {line}")
        if entries != files or size != files * FILE_BYTES:
            ok = False
            print(f"    PROBLEM: expected {files} files of {FILE_BYTES} bytes")
    else:
        print(f"  export-archive failed: exit {export.returncode}{' (timed out)' if export.timed_out else ''}:\n"
              f"{export.err_tail()}")
    target.unlink(missing_ok=True)
    zips.append(plain_zip(2))
    zips = [z for z in zips if z is not None]
    good = [z.seconds for z in zips if z.ok]
    zip_s = sum(good) / len(good) if good else None
    ratio = export.seconds / zip_s if ok and zip_s else None
    print(f"  export time / zip time: {fmt(ratio, '.2f')}x (zip mean {fmt(zip_s, '.2f')} s; export at "
          f"{fmt(1 / ratio if ratio else None, '.2f')}x zip's speed)   target <= {TARGET_EXPORT_VS_ZIP:g}x: "
          f"{verdict(ratio <= TARGET_EXPORT_VS_ZIP if ratio is not None else None)}")
    print(f"  export child peak RSS {fmt(export.peak_mb)} MB (ru_maxrss; this script's RSS at its start "
          f"{fmt(export.parent_mb)} MB)   target <= {TARGET_RSS_MB:.0f} MB: "
          f"{verdict(export.peak_mb <= TARGET_RSS_MB if ok and export.peak_mb is not None else None)}")
    return {"ok": ok and len(good) == len(zips), "ratio": ratio, "peak": export.peak_mb, "export_s": export.seconds,
            "zip_s": zip_s}


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000, help="images fetched by the media job (0 skips it)")
    parser.add_argument("--export-files", type=int, default=2000,
                        help="files in the archive for the export (0 skips it; >= --files)")
    parser.add_argument("--latency-ms", type=int, default=50, help="emulator latency per media/get")
    parser.add_argument("--concurrency", type=int, default=8, help="[storage] media_concurrency (1-64)")
    parser.add_argument("--emulator-threads", type=int, default=32)
    parser.add_argument("--max-seconds", type=float, default=900, help="budget for all the media job's runs")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (database, archive, logs)")
    parser.add_argument("--store", choices=("local", "s3"), default="local",
                        help="[storage] backend: media_dir, or a bucket of moto's S3 server (python -m moto.server)")
    args = parser.parse_args(argv)
    if not 1 <= args.concurrency <= 64:
        parser.error("--concurrency: 1 to 64 (the config's limits)")
    if not 0 <= args.files <= 20_000 or not 0 <= args.export_files <= 20_000:
        parser.error("--files and --export-files: 0 to 20,000")
    if args.export_files and args.export_files < args.files:
        parser.error("--export-files must be 0 or at least --files (the export reuses the fetched files)")
    if not args.files and not args.export_files:
        parser.error("nothing to do")
    if not 0 <= args.latency_ms <= 5000:
        parser.error("--latency-ms: 0 to 5000")

    def on_term(signum, frame):  # SIGTERM ends the run like Ctrl-C: through the finally blocks
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (&)
    with temp_dir("tuanjie-media-", args.keep) as tmp:
        return benchmark(args, tmp)


def benchmark(args, tmp: Path) -> int:
    emu: Emulator | None = None
    s3: MotoS3 | None = None
    status = 0
    try:
        print(f"bench/media.py: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, temp dir {tmp}")
        media_dir = tmp / "media"
        db_file = tmp / "media.db"
        try:
            emu = Emulator(tmp, args.emulator_threads)
            emu.wait_ready()
            if args.store == "s3":
                s3 = MotoS3(tmp / "moto.log")
                print(f"object store: moto S3 server on {s3.base}, bucket {s3.BUCKET}")
            config = bench_config(tmp, emu.base, args.concurrency, s3.storage_lines() if s3 else "")
            archive = archive_of(config)
            env = clean_env(TUANJIE_CONFIG=str(config))
            init_db(env)
            people = args.files + args.export_files  # a person per piece: one check-in each
            populate_people(db_file, people)
            print(f"emulator: gunicorn gthread, 1 worker x {args.emulator_threads} threads on {emu.base}; "
                  f"{people} bound staff")
            upload_s = 0.0
            if args.files:
                upload_s = upload_and_record(emu, db_file, args.files, max_seconds=900)
                print(f"set-up: {args.files} images uploaded and recorded pending in {upload_s:.1f} s")
                emu.latency(args.latency_ms)
        except (SetupError, OSError, subprocess.SubprocessError) as exc:
            print(f"set-up failed: {exc}", file=sys.stderr)
            return 2

        if args.files:
            warn_if_busy("the media job")
            res = fetch_all(args.files, env, tmp, db_file, emu, args.max_seconds)
            got = report_fetch(res, args.files, args.concurrency, args.latency_ms, upload_s,
                               check_archive(db_file, archive))
            for problem in res.problems:
                print(f"  {problem}")
            if not got["complete"]:
                status = 1
            emu.latency(0)

        if args.export_files:
            year = dt.datetime.now(ZoneInfo(TZ)).year
            try:
                fetched = states(db_file).get("stored", 0) if args.files else 0
                more = args.export_files - fetched
                took = add_stored(db_file, archive, more, args.files, max_seconds=900) if more > 0 else 0.0
                links = link_checkins(db_file, args.export_files, year)
                print(f"\nset-up: {fetched} fetched files reused, {more} more written with Archive.put_bytes "
                      f"in {took:.1f} s; {links} pieces linked to check-ins of {year}")
            except (SetupError, OSError) as exc:
                print(f"set-up failed: {exc}", file=sys.stderr)
                return 2
            got = export_vs_zip(env, tmp, None if s3 else media_dir, args.export_files, year)
            if not got["ok"]:
                status = 1
        return status
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for proc in list(CHILDREN):
            end_group(proc)
        if emu is not None:
            emu.stop()
        if s3 is not None:
            s3.stop()


if __name__ == "__main__":
    sys.exit(main())
