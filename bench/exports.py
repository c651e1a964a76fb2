"""Time and peak memory of the year-end files on a large unit, each made by the real CLI.

    .venv/bin/python bench/exports.py                  # or: make bench-exports
    .venv/bin/python bench/exports.py --engine postgres --staff 20000 --departments 100 --checkins 60000

Issue 14, item 5: with 100,000 staff in 500 departments and 300,000 check-ins, the
participation workbook in <= 30 s and <= 300 MB RSS, the drafted report in <= 20 s.

The unit is bench/dashboard.py's (`build`: natural department names 第N科, random Chinese names,
one in --exempt-every exempt, one leader per department and an organiser, --checkins distinct
check-ins on 五个一 spread over the implementation phase, --other-checkins on 结对认亲, and
collective check-ins on 主题党日 and 七个一), on SQLite (a file in a temp dir) or PostgreSQL (a
private database, tuanjie_bench_exports, created and dropped here; never the tests' `test`).
Entries of the year-end assessment are added as on 21 December (the plan's rules applied, and
an award for one department in ten), so the assessment workbook and the report's appendix have
rows. The unit is built in a child process, so that this script's own RSS stays small (a
child's ru_maxrss starts from its parent's).

Each file is made by `flask --app server export-workbook | export-assessment | export-report`
in a process of its own (as an organiser runs it), --runs times; wall time from start to exit
and the child's peak RSS (getrusage of that child: ru_maxrss) are printed per run, with the
targets MET or MISSED, and the machine's load (bench/common.py). Each file is then opened
(openpyxl read-only / python-docx) and its row counts checked against the database, so a
broken file cannot look fast.

Exit status: 0 when every file was right (targets met or not), 1 when one was not, 2 when
set-up failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import SHIPPED_PLAN, SetupError, clean_env, temp_dir, write_config  # noqa: E402
from bench.dashboard import build, close_db, pg_create, pg_drop  # noqa: E402

PG_DATABASE = "tuanjie_bench_exports"
TZ = "Asia/Shanghai"
TARGETS = {"export-workbook": (30.0, 300.0), "export-report": (20.0, None), "export-assessment": (None, None)}


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def run_cli(args: list[str], env: dict, cwd: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS in MB, output) of one CLI run in a child process."""
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - began
    out = proc.stdout.read().decode("utf-8", "replace")
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SetupError(f"flask {' '.join(args)} exited {proc.returncode}: {out[-800:]}")
    return took, usage.ru_maxrss / 1024, out


def verdict(value: float, target: float | None) -> str:
    return "" if target is None else (" MET" if value <= target else " MISSED")


def check_file(command: str, path: Path, staff: int) -> str | None:
    """What is wrong with the file, or None."""
    if command == "export-workbook":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        rows = sum(1 for _ in book["人员明细"].iter_rows(min_row=2, values_only=True))
        return None if rows == staff else f"人员明细 has {rows} rows, the roster {staff}"
    if command == "export-report":
        from docx import Document

        doc = Document(str(path))
        text = "\n".join(p.text for p in doc.paragraphs)
        return None if "三、存在问题" in text and len(doc.inline_shapes) >= 2 else "report lacks sections or charts"
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    return None if book.sheetnames == ["汇总", "明细", "校验"] else f"sheets {book.sheetnames}"


def build_unit(url: str, tmp: Path, args, now: dt.datetime) -> None:
    """Make the unit (in a child process of its own: see own_rss)."""
    from campaign.plan import load_plan
    from models import CheckIn, Staff, db
    from storage.engine import init_database
    from storage.migrations import upgrade

    init_database(url, tmp)
    with db.connection_context():
        upgrade()
        began = time.perf_counter()
        build(args, load_plan(SHIPPED_PLAN, now.date()), now)
        written = seed_assessment(load_plan(SHIPPED_PLAN, now.date()), args.departments, now)
        if url.startswith("postgresql"):
            db.execute_sql("VACUUM ANALYZE")
        print(f"{written} assessment entries; built {args.departments:,} departments, {Staff.select().count():,} people, "
              f"{CheckIn.select().count():,} check-ins in {time.perf_counter() - began:.1f} s", flush=True)
    close_db()


def seed_assessment(plan, departments: int, now: dt.datetime) -> int:
    """The rules applied as the job would on 21 December, and an award for one department in ten."""
    from campaign import assessment
    from models import Department

    written = len(assessment.apply_rules(plan, now))
    # Every tenth in Python: peewee's `%` is LIKE, which PostgreSQL refuses between integers.
    for department in list(Department.select().order_by(Department.id))[::10][:max(1, departments // 10)]:
        assessment.add(now.year, department, "2", "获州局通报表扬", "cli:bench", now)
        written += 1
    return written


def own_rss() -> float:
    """This process's peak RSS in MB. A child's ru_maxrss starts from its parent's (the fork),
    so the unit is built in a child and the files are checked after every run: this stays small."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_engine(engine: str, args, tmp: Path, now: dt.datetime) -> bool:
    print(f"\n=== {engine} ===")
    url = f"sqlite:///{tmp / 'exports.db'}" if engine == "sqlite" else pg_create(PG_DATABASE)
    built = subprocess.run([sys.executable, __file__, "--build-into", url, "--tmp", str(tmp), *args.argv], timeout=3600)
    if built.returncode != 0:
        raise SetupError(f"building the unit failed (exit {built.returncode})")
    config = write_config(tmp / "config.toml", app_id="wx00bench00exports", app_secret="bench-secret",
                          token="benchToken42", db_file=tmp / "exports.db", api_base="http://127.0.0.1:9",
                          api_token="bench-api-token-123",
                          more=f'\n[campaign]\nplan = "{SHIPPED_PLAN}"\ntimezone = "{TZ}"\nunit = "基准测试局"\n')
    env = clean_env(TUANJIE_CONFIG=str(config), **({"TUANJIE_DATABASE_URL": url} if engine == "postgres" else {}))
    made = []
    for command, suffix in (("export-workbook", "xlsx"), ("export-assessment", "xlsx"), ("export-report", "docx")):
        seconds_target, rss_target = TARGETS[command]
        for run in range(1, args.runs + 1):
            out = tmp / f"{command}-{run}.{suffix}"
            extra = ["--year", "2026"] if command == "export-report" else []
            print(f"{command} run {run}: {machine()}; this script's own peak RSS {own_rss():.0f} MB")
            took, rss, _ = run_cli([command, "--out", str(out), *extra], env, REPO)
            print(f"  {took:6.1f} s{verdict(took, seconds_target)}  peak RSS {rss:6.1f} MB{verdict(rss, rss_target)}  "
                  f"{out.stat().st_size / 2**20:.1f} MB file", flush=True)
            made.append((command, out))
    staff = args.staff
    problems = [(out.name, check_file(command, out, staff)) for command, out in made]
    for name, problem in problems:
        print(f"{name}: {'OK' if problem is None else 'WRONG: ' + problem}")
    if engine == "postgres" and not args.keep:
        pg_drop(PG_DATABASE)
    return all(problem is None for _, problem in problems)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--staff", type=int, default=100_000)
    parser.add_argument("--departments", type=int, default=500)
    parser.add_argument("--checkins", type=int, default=300_000, help="distinct check-ins on the main checklist")
    parser.add_argument("--other-checkins", type=int, default=0, help="check-ins on 结对认亲 (pairing)")
    parser.add_argument("--exempt-every", type=int, default=50)
    parser.add_argument("--runs", type=int, default=2, help="runs of each export (default 2)")
    parser.add_argument("--now", default="2026-12-21T09:00", help=f"the data's 'now', local time in {TZ}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and the PostgreSQL database")
    parser.add_argument("--build-into", help=argparse.SUPPRESS)  # the child that builds the unit
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.departments < args.staff <= 2_000_000 or not 1 <= args.runs <= 20 or args.checkins < 0:
        parser.error("--departments 1 to --staff - 1, --staff at most 2,000,000, --runs 1-20, --checkins >= 0")
    now = dt.datetime.fromisoformat(args.now).replace(tzinfo=ZoneInfo(TZ))
    build_args = SimpleNamespace(seed=args.seed, departments=args.departments, staff=args.staff,
                                 checkins=args.checkins, other_checkins=args.other_checkins,
                                 exempt_every=args.exempt_every, runs=args.runs, keep=args.keep,
                                 argv=[f"--{k}={getattr(args, k.replace('-', '_'))}" for k in
                                       ("staff", "departments", "checkins", "other-checkins", "exempt-every", "now",
                                        "seed")])
    if args.build_into:
        build_unit(args.build_into, Path(args.tmp), build_args, now)
        return 0
    print(f"bench/exports.py: Python {sys.version.split()[0]}, {machine()}")
    engines = ("sqlite", "postgres") if args.engine == "both" else (args.engine,)
    ok = True
    try:
        for engine in engines:
            with temp_dir("tuanjie-bench-exports-", args.keep) as tmp:
                ok = run_engine(engine, build_args, tmp, now) and ok
    except SetupError as exc:
        print(f"set-up failed: {exc}", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
