"""How long the organisers' participation report takes on a large unit.

Builds a SQLite file in a temp dir with --staff people in --departments departments (one in
--exempt-every exempt) and --checkins random check-ins on the main checklist of the shipped
plan, then times `campaign.stats.report` (what `统计` and GET /api/stats run) for the
whole unit and for one department, and prints the query plans of its statements.

    .venv/bin/python bench/stats.py            # 100,000 people, 500 departments, 300,000 check-ins
"""
from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import SHIPPED_PLAN  # noqa: E402
from campaign import stats  # noqa: E402
from campaign.plan import load_plan  # noqa: E402
from models import CheckIn, Department, Staff, db  # noqa: E402
from storage.engine import init_database  # noqa: E402
from storage.migrations import upgrade as create_schema  # noqa: E402

BATCH = 1000  # rows per INSERT: SQLite allows at most 32,766 parameters per statement


def build(args, main) -> None:
    rng = random.Random(args.seed)
    with db.atomic():
        for i in range(0, args.departments, BATCH):
            Department.insert_many([{"name": f"部门{n:04d}"} for n in range(i, min(i + BATCH, args.departments))]).execute()
        people = [{"name": f"职工{n}", "phone": f"1{n:010d}", "department": n % args.departments + 1,
                   "status": "exempt" if n % args.exempt_every == 0 else "active"} for n in range(args.staff)]
        for i in range(0, len(people), BATCH):
            Staff.insert_many(people[i:i + BATCH]).execute()
        pairs: set[tuple[int, str]] = set()
        most = args.staff * len(main.items)
        while len(pairs) < min(args.checkins, most):
            pairs.add((rng.randint(1, args.staff), rng.choice(main.items).key))
        at = dt.datetime(main.year, 6, 1)
        rows = [{"staff": s, "department": (s - 1) % args.departments + 1, "checklist": main.key, "item": item,
                 "year": main.year, "created_at": at} for s, item in sorted(pairs)]
        for i in range(0, len(rows), BATCH):
            CheckIn.insert_many(rows[i:i + BATCH]).execute()


def timed(fn, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--staff", type=int, default=100_000)
    ap.add_argument("--departments", type=int, default=500)
    ap.add_argument("--checkins", type=int, default=300_000)
    ap.add_argument("--exempt-every", type=int, default=50, help="one person in N is exempt (default 50)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tuanjie-stats-"))
    init_database(f"sqlite:///{tmp / 'stats.db'}")
    create_schema()
    plan = load_plan(SHIPPED_PLAN, dt.date.today())
    main_list = plan.main
    start = time.perf_counter()
    build(args, main_list)
    print(f"built {args.staff:,} people, {args.departments:,} departments, "
          f"{CheckIn.select().count():,} check-ins in {time.perf_counter() - start:.1f} s ({tmp})")

    report = stats.report(main_list, plan.target)
    o = report.overall
    print(f"overall: {o.participants:,}/{o.eligible:,} participating, {o.completed:,} completed")
    whole = timed(lambda: stats.report(main_list, plan.target), args.repeat)
    one = timed(lambda: stats.report(main_list, plan.target, department_id=1), args.repeat)
    print(f"report, whole unit:     median {whole[0]:7.1f} ms  max {whole[1]:7.1f} ms  ({args.repeat} runs)")
    print(f"report, one department: median {one[0]:7.1f} ms  max {one[1]:7.1f} ms")

    for label, department_id in (("whole unit", None), ("one department", 1)):
        print(f"statements of the report, {label} (time to the last row, query plan):")
        for ms, line in statements(lambda: stats.report(main_list, plan.target, department_id=department_id)):
            print(f"  {ms:7.1f} ms  {line}")
    return 0


def statements(fn) -> list[tuple[float, str]]:
    """Each SELECT that fn runs, timed alone to its last row, with its query plan."""
    seen: list[tuple[str, tuple]] = []
    original = db.obj.execute_sql

    def record(sql, params=None, *a, **kw):
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append((sql, tuple(params or ())))
        return original(sql, params, *a, **kw)

    db.obj.execute_sql = record
    try:
        fn()
    finally:
        db.obj.execute_sql = original
    out = []
    for sql, params in seen:
        start = time.perf_counter()
        original(sql, params).fetchall()
        ms = (time.perf_counter() - start) * 1000
        out.append((ms, " | ".join(row[-1] for row in original(f"EXPLAIN QUERY PLAN {sql}", params))))
    return out


if __name__ == "__main__":
    sys.exit(main())
