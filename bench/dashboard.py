"""Server time of the dashboard's overview and a department's pending page on a large unit.

    .venv/bin/python bench/dashboard.py            # or: make bench-dashboard
    .venv/bin/python bench/dashboard.py --engine sqlite --staff 5000 --departments 50 --checkins 15000

Issue 13, item 8: with 100,000 staff, 500 departments and 300,000 check-ins, the overview and a
department's pending page answer in p50 <= 100 ms and p99 <= 200 ms of server time, on SQLite
and on PostgreSQL.

What is built, per engine (--engine sqlite|postgres|both):

- SQLite: a file in a temp dir. PostgreSQL: a private database, tuanjie_bench_dashboard, on
  127.0.0.1:5432 (user postgres, trust auth), created here with CREATE DATABASE and dropped at
  the end, also on Ctrl-C and SIGTERM (never the test-suite's `test`). The schema is made by
  storage.engine.init_database + storage.migrations.upgrade; PostgreSQL's tables then get
  VACUUM ANALYZE (what autovacuum leaves a loaded table with: statistics, and a visibility map
  that lets the covering indexes be read without the table).
- --departments departments, --staff people (one in --exempt-every exempt), one leader per
  department and one organiser; --checkins distinct (person, item) check-ins on the shipped
  plan's main checklist (五个一), their created_at spread evenly over the implementation phase
  up to "now", so that the timeline and the two-week pace have work to do; --other-checkins
  on 结对认亲 spread the same way, and a few collective check-ins (主题党日 of this half, 七个一)
  by each department's leader. Bulk inserts of 1,000 rows (SQLite allows 32,766 parameters).
- "Now" is fixed, --now (2026-11-10 10:00 Asia/Shanghai, inside the implementation phase): the
  app's clock (server.create_app(config, clock=...)) returns it.
- The app: server.create_app on a safe-mode config.toml written with bench.common.write_config
  (api_base a loopback port that is never called); PostgreSQL's URL through
  TUANJIE_DATABASE_URL. Sessions are made with campaign.sessions.start for the organiser and a
  leader, and their cookie (tj_session, path /dashboard) is set on Flask test clients: every
  request runs the whole WSGI app in this process (the per-request connection, the session
  lookup, the view, the template), which is what "server time" means here. Not measured: the
  network, a proxy, gunicorn, the browser. On PostgreSQL each request opens and closes its own
  connection to 127.0.0.1, as the app does in production (server._connect_per_request).

What is timed: time.perf_counter around each client.get(); each response must be 200 and hold
the figures computed beforehand (the participation percentage and counts, or the number of
people pending), and the snapshot's time where it matters, so a broken page cannot look fast.
Per engine, after one refresh like the stats job's (campaign.overview.refresh_all at now - 30 s:
the job runs every minute):

1. the organiser's overview of the whole unit, from the fresh snapshot (the normal case);
   the stats job itself (refresh_all: every checklist, --refresh-runs times), and the page when
   the snapshot is stale (computed on the spot and stored: --stale-requests times, the
   snapshot's computed_at set 10 minutes back before each, outside the timing);
2. the organiser's overview of 结对认亲 (?checklist=pairing), from its snapshot;
3. a leader's overview (their department, always computed live);
4. a department's pending page (GET /dashboard/pending?department=ID) as its leader and as the
   organiser.

Each route gets --warmup requests, then --requests timed ones, at most --max-seconds each;
p50, p90, p99 (nearest rank) and max in ms, and MET / MISSED against the targets. Before each
engine's measurements, the machine: cores, load average, and how busy it is (bench/common.py);
per route, the cores busy on the whole machine and in this process while it ran. A route
that misses a target (every route with --profile) is profiled: cProfile over a few requests,
and each SQL statement of one request timed alone, with its query plan (PostgreSQL: EXPLAIN
ANALYZE). Nothing in production code is replaced or patched, except that the profile wraps
the database's execute_sql to record the statements.

Exit status: 0 when every response was right (targets met or not), 1 when one was not, 2 when
set-up failed, 130 on Ctrl-C. The temp dir is removed unless --keep (which also keeps the
PostgreSQL database; the next run drops it).
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import pstats
import random
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import SHIPPED_PLAN, SetupError, busy_share, machine_cpu, proc_cpu, temp_dir, write_config  # noqa: E402

BATCH = 1000  # rows per INSERT: SQLite allows at most 32,766 parameters per statement
TARGET_P50_MS, TARGET_P99_MS = 100.0, 200.0
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
PG_DATABASE = "tuanjie_bench_dashboard"  # ours alone: the test-suite uses `test`
TZ = "Asia/Shanghai"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏建国文辉力斌宇浩凯健俊帆帅旭宁龙林欣佳阳晨雪琳晶倩婷颖楠蕾琪瑶雅"


# --------------------------------------------------------------------------- engines

def pg_admin():
    import psycopg2

    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3)
    conn.autocommit = True
    return conn


def pg_create(database: str = PG_DATABASE) -> str:
    """A fresh private database (one an earlier run kept or left is dropped first); its URL."""
    PG_DATABASE = database  # noqa: N806  (the name below; bench/exports.py has its own)
    import psycopg2

    try:
        conn = pg_admin()
    except psycopg2.OperationalError as exc:
        raise SetupError(f"PostgreSQL at {PG_HOST}:{PG_PORT} (user {PG_USER}): {str(exc).strip()}") from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DATABASE,))
            if cur.fetchone():
                print(f"dropping database {PG_DATABASE}, left by an earlier run")
                cur.execute(f"DROP DATABASE {PG_DATABASE} WITH (FORCE)")
            cur.execute(f"CREATE DATABASE {PG_DATABASE}")
            cur.execute("SELECT version()")
            print(f"PostgreSQL: {cur.fetchone()[0].split(',')[0]}; database {PG_DATABASE} created")
    finally:
        conn.close()
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"


def pg_drop(database: str = PG_DATABASE) -> None:
    PG_DATABASE = database  # noqa: N806
    try:
        conn = pg_admin()
    except Exception as exc:  # noqa: BLE001  (say it, and leave the name for the next run)
        print(f"could not drop database {PG_DATABASE}: {exc}", file=sys.stderr)
        return
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)")
        print(f"database {PG_DATABASE} dropped")
    finally:
        conn.close()


def close_db() -> None:
    from models import db

    if db.obj is not None and not db.is_closed():
        db.close()


# --------------------------------------------------------------------------- the unit

@dataclass
class Unit:
    organiser: int = 0  # staff ids
    leaders: dict[int, int] = field(default_factory=dict)  # department id -> its leader's staff id
    counts: dict[str, int] = field(default_factory=dict)  # check-ins per stored checklist key


def name_of(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def spread(rng: random.Random, start_utc: dt.datetime, span_s: float) -> dt.datetime:
    return start_utc + dt.timedelta(seconds=rng.random() * span_s)


def build(args, plan, now: dt.datetime) -> Unit:
    """Departments, people, and check-ins, in bulk (runs inside db.connection_context())."""
    from campaign.clock import to_utc
    from models import CheckIn, Department, Staff, db

    rng = random.Random(args.seed)
    unit = Unit()
    n_dept = args.departments
    implement = plan.phase("implement")
    start = to_utc(dt.datetime.combine(implement.start, dt.time(8, 0), now.tzinfo))
    span = (to_utc(now) - start).total_seconds()
    if span <= 0:
        raise SetupError(f"--now {now} is before the implementation phase ({implement.start})")

    with db.atomic():
        for i in range(0, n_dept, BATCH):
            Department.insert_many([{"name": f"第{n + 1}科"} for n in range(i, min(i + BATCH, n_dept))]).execute()
        # Person n (0-based) is staff id n + 1, in department n % D + 1. The first D people are
        # the leaders (one per department), person D the organiser; none of them is exempt.
        people = []
        for n in range(args.staff):
            role = "leader" if n < n_dept else "organiser" if n == n_dept else "staff"
            exempt = role == "staff" and n % args.exempt_every == 0
            people.append({"name": name_of(rng), "phone": f"1{n:010d}", "department": n % n_dept + 1, "role": role,
                           "status": "exempt" if exempt else "active"})
        for i in range(0, len(people), BATCH):
            Staff.insert_many(people[i:i + BATCH]).execute()
        unit.leaders = {d + 1: d + 1 for d in range(n_dept)}
        unit.organiser = n_dept + 1

        def person_checkins(checklist, k: int) -> int:
            items = [i.key for i in checklist.items]
            k = min(k, args.staff * len(items))
            picks = sorted(rng.sample(range(args.staff * len(items)), k))  # distinct (person, item)
            rows = [{"staff": p // len(items) + 1, "department": (p // len(items)) % n_dept + 1,
                     "checklist": checklist.record_key, "item": items[p % len(items)], "year": checklist.year,
                     "created_at": spread(rng, start, span)} for p in picks]
            for i in range(0, len(rows), BATCH):
                CheckIn.insert_many(rows[i:i + BATCH]).execute()
            return len(rows)

        unit.counts[plan.main.record_key] = person_checkins(plan.main, args.checkins)
        pairing = plan.checklist("pairing")
        if pairing is not None and args.other_checkins:
            unit.counts[pairing.record_key] = person_checkins(pairing, args.other_checkins)
        # Collective checklists: what a leader's 集体打卡 leaves, here only the leader's own row
        # per item done (a department counts once anyone of it has done an item).
        for checklist in (c for c in plan.checklists if c.collective):
            rows = [{"staff": unit.leaders[d], "department": d, "checklist": checklist.record_key, "item": item.key,
                     "year": checklist.year, "created_at": spread(rng, start, span)}
                    for d in range(1, n_dept + 1) for item in checklist.items if rng.random() < 0.5]
            for i in range(0, len(rows), BATCH):
                CheckIn.insert_many(rows[i:i + BATCH]).execute()
            unit.counts[checklist.record_key] = len(rows)
    return unit


# --------------------------------------------------------------------------- measuring

class Clock:
    """The app's clock: a fixed aware "now"."""

    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Route:
    label: str
    client: object
    path: str
    expect: list[str]  # strings the body must hold
    before: object = None  # called before each request, outside the timing
    after: object = None  # called after each request, outside the timing: returns a problem or None
    target: bool = True  # judged against the targets


@dataclass
class Result:
    route: Route
    ms: list[float]
    problems: list[str]
    machine_cores: float | None
    own_cores: float | None

    def pct(self, p: float) -> float:
        ranked = sorted(self.ms)
        return ranked[max(0, min(len(ranked) - 1, -(-len(ranked) * p // 100) - 1))] if ranked else float("nan")

    @property
    def met(self) -> bool | None:
        if not self.ms or self.problems:
            return None
        return self.pct(50) <= TARGET_P50_MS and self.pct(99) <= TARGET_P99_MS


def check(route: Route, response) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code} (location {response.headers.get('Location')})"
    body = response.get_data(as_text=True)
    missing = [e for e in route.expect if e not in body]
    return f"body lacks {missing!r}" if missing else None


def measure(route: Route, requests: int, warmup: int, max_seconds: float) -> Result:
    problems: list[str] = []

    def one() -> float:
        if route.before:
            route.before()
        start = time.perf_counter()
        response = route.client.get(route.path)
        ms = (time.perf_counter() - start) * 1000
        problem = check(route, response) or (route.after() if route.after else None)
        if problem and len(problems) < 3:
            problems.append(problem)
        return ms

    for _ in range(warmup):
        one()
    ms: list[float] = []
    cpu0, own0, t0 = machine_cpu(), proc_cpu(os.getpid()), time.perf_counter()
    while len(ms) < requests and time.perf_counter() - t0 < max_seconds:
        ms.append(one())
    cpu1, own1, elapsed = machine_cpu(), proc_cpu(os.getpid()), time.perf_counter() - t0
    share = busy_share(cpu0, cpu1)
    own = (own1 - own0) / elapsed if own0 is not None and own1 is not None and elapsed else None
    return Result(route, ms, problems, share * (os.cpu_count() or 1) if share is not None else None, own)


def machine_context(label: str) -> str:
    a = machine_cpu()
    time.sleep(1.0)
    share = busy_share(a, machine_cpu())
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    busy = f"{share * (os.cpu_count() or 1):.2f} cores busy over 1 s" if share is not None else "busy: unknown"
    warn = "  (WARNING: the machine is not quiet; the figures will be slower than they could be)" \
        if share is not None and share * (os.cpu_count() or 1) > 0.3 else ""
    return f"machine before {label}: {os.cpu_count()} cores, load average {load}, {busy}{warn}"


def fmt_ms(value: float) -> str:
    return f"{value:8.1f}"


def print_results(engine: str, results: list[Result]) -> None:
    print(f"\n{engine}: server time per request, ms (p50/p99 targets {TARGET_P50_MS:g}/{TARGET_P99_MS:g})")
    print(f"  {'route':66} {'n':>4} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}  {'cores':>11}  target")
    for r in results:
        verdict = "—" if not r.route.target else {True: "MET", False: "MISSED", None: "BROKEN"}[r.met]
        if r.problems:
            verdict = "BROKEN"
        cores = f"{r.machine_cores:.2f}/{r.own_cores:.2f}" if r.machine_cores is not None and r.own_cores else "?"
        print(f"  {r.route.label:66} {len(r.ms):4d} {fmt_ms(r.pct(50))} {fmt_ms(r.pct(90))} {fmt_ms(r.pct(99))} "
              f"{fmt_ms(max(r.ms) if r.ms else float('nan'))}  {cores:>11}  {verdict}")
        for problem in r.problems:
            print(f"      problem: {problem}")
    print("  (cores: the whole machine's busy cores / this process's, while the route ran)")


# --------------------------------------------------------------------------- profiling

def profile(route: Route, runs: int, engine: str) -> None:
    """Where a route's time goes: cProfile over `runs` requests, then each statement of one
    request timed alone with its plan."""
    from models import db

    print(f"\n  profile of {route.label!r} ({engine}): cProfile over {runs} requests, ms per request")
    prof = cProfile.Profile()
    for _ in range(runs):
        if route.before:
            route.before()
        prof.enable()
        route.client.get(route.path)
        prof.disable()
    print(_profile_table(prof, runs))

    seen: list[tuple[str, tuple]] = []
    database = db.obj
    original = type(database).execute_sql

    def record(self, sql, params=None, *a, **kw):
        seen.append((sql, tuple(params or ())))
        return original(self, sql, params, *a, **kw)

    if route.before:
        route.before()
    database.execute_sql = record.__get__(database)
    try:
        start = time.perf_counter()
        route.client.get(route.path)
        total = (time.perf_counter() - start) * 1000
    finally:
        del database.execute_sql
    print(f"  statements of one request ({len(seen)}, request {total:.1f} ms), each run again alone:")
    db.connect(reuse_if_open=True)
    try:
        timed = []
        for sql, params in seen:
            if not sql.lstrip().upper().startswith("SELECT"):
                print(f"    {'':>8}     {_short(sql)}")
                continue
            start = time.perf_counter()
            rows = database.execute_sql(sql, params).fetchall()
            ms = (time.perf_counter() - start) * 1000
            timed.append((ms, sql, params))
            print(f"    {ms:8.1f} ms {len(rows):7d} rows  {_short(sql)}")
            if engine == "sqlite":
                plan = " | ".join(row[-1] for row in database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params))
                print(f"    {'':>27}plan: {plan}")
        print(f"    sum of the SELECTs alone: {sum(t[0] for t in timed):.1f} ms")
        if engine == "postgres":
            for ms, sql, params in sorted(timed, key=lambda t: -t[0])[:3]:
                if ms < 5:
                    break
                print(f"\n    EXPLAIN (ANALYZE, BUFFERS) of the {ms:.1f} ms statement {_short(sql, 100)}:")
                for (line,) in database.execute_sql(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params):
                    print(f"      {line}")
    finally:
        if engine == "postgres":
            db.close()


def _short(sql: str, width: int = 150) -> str:
    sql = re.sub(r"\s+", " ", sql)
    return sql if len(sql) <= width else sql[:width - 1] + "…"


def _profile_table(prof: cProfile.Profile, runs: int, cumulative: int = 22, own: int = 12) -> str:
    """The repository's functions by cumulative time, then every function by its own time, in ms
    per request (calls per request beside)."""
    rows = [(file, line, name, nc, tt, ct) for (file, line, name), (_, nc, tt, ct, _) in pstats.Stats(prof).stats.items()]
    total = max((ct for *_, ct in rows), default=0.0)

    def where(file: str, line: int, name: str) -> str:
        path = file.split("site-packages/", 1)[-1] if "site-packages/" in file else \
            str(Path(file).relative_to(REPO)) if file.startswith(str(REPO)) else Path(file).name
        return f"{path}:{line}({name})" if line else name

    ours = sorted((r for r in rows if r[0].startswith(str(REPO)) and "/.venv/" not in r[0]), key=lambda r: -r[5])
    out = [f"    {'cumul':>8} {'own':>8} {'calls':>8}  (the request: {total / runs * 1000:.1f} ms under cProfile)"]
    out += [f"    {ct / runs * 1000:8.1f} {tt / runs * 1000:8.1f} {nc / runs:8.0f}  {where(f, ln, n)}"
            for f, ln, n, nc, tt, ct in ours[:cumulative]]
    out.append("    by own time, every function:")
    out += [f"    {ct / runs * 1000:8.1f} {tt / runs * 1000:8.1f} {nc / runs:8.0f}  {where(f, ln, n)}"
            for f, ln, n, nc, tt, ct in sorted(rows, key=lambda r: -r[4])[:own]]
    return "\n".join(out)


# --------------------------------------------------------------------------- one engine

def run_engine(engine: str, args, tmp: Path, now: dt.datetime) -> tuple[list[Result], dict]:
    from campaign.stats import pct
    from campaign import overview, sessions, stats
    from campaign.clock import to_utc
    from campaign.plan import load_plan
    from config import load_config
    from models import CheckIn, Snapshot, Staff, db
    from server import create_app
    from storage.engine import init_database
    from storage.migrations import upgrade

    print(f"\n=== {engine} ===")
    if engine == "sqlite":
        url = f"sqlite:///{tmp / 'dashboard.db'}"
    else:
        url = pg_create()
    init_database(url, tmp)
    with db.connection_context():
        upgrade()
    plan = load_plan(SHIPPED_PLAN, now.date())
    start = time.perf_counter()
    with db.connection_context():
        unit = build(args, plan, now)
    built = time.perf_counter() - start
    if engine == "postgres":
        start = time.perf_counter()
        with db.connection_context():
            db.execute_sql("VACUUM ANALYZE")
        print(f"VACUUM ANALYZE in {time.perf_counter() - start:.1f} s")
    with db.connection_context():
        total = CheckIn.select().count()
        eligible = overview._eligible()
    print(f"built {args.departments:,} departments, {args.staff:,} people ({eligible:,} eligible), {total:,} "
          f"check-ins ({', '.join(f'{k} {n:,}' for k, n in unit.counts.items())}) in {built:.1f} s")
    if engine == "sqlite":
        size = sum(p.stat().st_size for p in tmp.glob("dashboard.db*"))
        print(f"SQLite file {size / 2**20:.0f} MB (with its WAL)")

    config_path = write_config(tmp / "config.toml", app_id="wx00bench00dashboard", app_secret="bench-secret",
                               token="benchToken42", db_file=tmp / "dashboard.db", api_base="http://127.0.0.1:9",
                               api_token="bench-api-token-123",
                               more=f'\n[campaign]\nplan = "{SHIPPED_PLAN}"\ntimezone = "{TZ}"\n')
    cfg = load_config(config_path, environ={"TUANJIE_DATABASE_URL": url} if engine == "postgres" else {})
    clock = Clock(now)
    app = create_app(cfg, clock=clock)
    plan = app.extensions["tuanjie"].plan_on(now.date())
    main, pairing = plan.main, plan.checklist("pairing")
    large = eligible > overview.LIVE_UP_TO
    leader_dept = 1
    pending_dept = 1

    # The stats job, as the scheduler runs it (its own connection), timed; the last run is
    # at now - 30 s, so the page's snapshot is fresh (FRESH is 90 s) and says 09:59:30.
    job_at = now - dt.timedelta(seconds=30)
    job_ms = []
    for _ in range(args.refresh_runs):
        start = time.perf_counter()
        with db.connection_context():
            refreshed = overview.refresh_all(plan, job_at)
        job_ms.append((time.perf_counter() - start) * 1000)
    print(f"stats job (overview.refresh_all, {refreshed} checklists): median {statistics.median(job_ms):.0f} ms, "
          f"max {max(job_ms):.0f} ms over {len(job_ms)} runs"
          + ("" if large else f"  (a unit of {eligible:,} eligible is below LIVE_UP_TO={overview.LIVE_UP_TO:,}: "
                              "no snapshot, every page is live)"))
    one_by_one = {}
    with db.connection_context():
        for c in plan.checklists:
            start = time.perf_counter()
            overview.compute(c, plan, job_at)
            one_by_one[c.key] = (time.perf_counter() - start) * 1000
    print("  compute() per checklist: " + ", ".join(f"{k} {ms:.0f} ms" for k, ms in one_by_one.items()))

    # What each page must show, computed here beforehand.
    with db.connection_context():
        whole = stats.report(main, plan.target).overall
        pair = stats.report(pairing, plan.target).overall
        dept = stats.report(main, plan.target, leader_dept).overall
        rows = stats.pending_detail(main, pending_dept)
        organiser = Staff.get_by_id(unit.organiser)
        leader = Staff.get_by_id(unit.leaders[leader_dept])
        hours = cfg.dashboard.session_hours
        as_organiser, as_leader = app.test_client(), app.test_client()
        as_organiser.set_cookie("tj_session", sessions.start(now, hours, person=organiser), path="/dashboard")
        as_leader.set_cookie("tj_session", sessions.start(now, hours, person=leader), path="/dashboard")
    not_started = sum(1 for r in rows if not r.done)

    def figures(r) -> list[str]:
        return [f'id="participation">{pct(r.participation_rate)}</strong>', f"（{r.participants}/{r.eligible} 人）",
                f'id="completion">{pct(r.completion_rate)}</strong>']

    snap_time = f"数据时间 {job_at.strftime('%H:%M:%S')}" if large else f"数据时间 {now.strftime('%H:%M:%S')}"
    pending_expect = [f"共 {len(rows)} 人未完成（{not_started} 人尚未参与）"] if rows else ["本部门人人都已完成"]
    key = f"{main.record_key}/{main.year}"

    def in_app_connection(fn):
        """Run fn on the connection the app keeps (SQLite), or one of its own (PostgreSQL)."""
        opened = db.is_closed()
        db.connect(reuse_if_open=True)
        try:
            return fn()
        finally:
            if opened and engine == "postgres":
                db.close()

    def make_stale():
        in_app_connection(lambda: Snapshot.update(computed_at=to_utc(now - dt.timedelta(minutes=10)))
                          .where(Snapshot.key == key).execute())

    def refreshed_now():
        at = in_app_connection(lambda: Snapshot.get(Snapshot.key == key).computed_at)
        return None if at == to_utc(now) else f"the snapshot was not recomputed (computed_at {at})"

    snapshot_note = "snapshot" if large else "live: small unit"
    routes = [
        Route(f"overview, 五个一, whole unit (organiser, {snapshot_note})", as_organiser, "/dashboard/",
              figures(whole) + [snap_time]),
        Route(f"overview, 结对认亲, whole unit (organiser, {snapshot_note})", as_organiser,
              "/dashboard/?checklist=pairing", figures(pair) + [snap_time]),
        Route(f"overview, 五个一, department {leader_dept} (its leader, live)", as_leader, "/dashboard/",
              figures(dept)),
        Route(f"pending, 五个一, department {pending_dept} (its leader)", as_leader,
              f"/dashboard/pending?department={pending_dept}", pending_expect),
        Route(f"pending, 五个一, department {pending_dept} (organiser)", as_organiser,
              f"/dashboard/pending?department={pending_dept}", pending_expect),
    ]
    print(machine_context(f"{engine}'s measurements"))
    results = []
    for route in routes:
        results.append(measure(route, args.requests, args.warmup, args.max_seconds))
    stale = None
    if large:
        stale = Route("overview, 五个一, whole unit (organiser, stale snapshot: computed)", as_organiser,
                      "/dashboard/", figures(whole) + [f"数据时间 {now.strftime('%H:%M:%S')}"],
                      before=make_stale, after=refreshed_now)
        results.append(measure(stale, args.stale_requests, 1, args.max_seconds))
    print_results(engine, results)
    print(f"  stats job (refresh_all, {refreshed} checklists): median {statistics.median(job_ms):.0f} ms, "
          f"max {max(job_ms):.0f} ms ({statistics.median(job_ms) / 600:.1f}% of a core at once a minute)")

    for result in results:
        if result.route.target and (args.profile or result.met is False):
            profile(result.route, args.profile_runs, engine)
    close_db()
    summary = {"job_ms": job_ms, "compute_ms": one_by_one, "eligible": eligible, "checkins": total}
    return results, summary


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--staff", type=int, default=100_000)
    parser.add_argument("--departments", type=int, default=500)
    parser.add_argument("--checkins", type=int, default=300_000, help="distinct check-ins on the main checklist")
    parser.add_argument("--other-checkins", type=int, default=60_000, help="check-ins on 结对认亲 (pairing)")
    parser.add_argument("--exempt-every", type=int, default=50, help="one person in N is exempt (default 50)")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per route (default 200)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests before each route's")
    parser.add_argument("--stale-requests", type=int, default=10, help="timed pages from a stale snapshot")
    parser.add_argument("--refresh-runs", type=int, default=3, help="timed runs of the stats job")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time budget per route (default 60)")
    parser.add_argument("--now", default="2026-11-10T10:00", help=f"the app's clock, local time in {TZ}")
    parser.add_argument("--profile", action="store_true", help="profile every route, not only those that miss")
    parser.add_argument("--profile-runs", type=int, default=5, help="requests under cProfile per profiled route")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir and the PostgreSQL database")
    args = parser.parse_args(argv)
    if not 1 <= args.departments <= args.staff - 1:
        parser.error("--departments: at least 1, and fewer than --staff (each needs a leader, and an organiser)")
    if args.staff > 2_000_000 or args.checkins < 0 or args.other_checkins < 0:
        parser.error("--staff: at most 2,000,000; check-in counts: 0 or more")
    if not 1 <= args.requests <= 100_000 or not 1 <= args.stale_requests <= 1000 or args.refresh_runs < 1:
        parser.error("--requests 1-100,000, --stale-requests 1-1,000, --refresh-runs 1 or more")
    if not 0 < args.max_seconds <= 3600:
        parser.error("--max-seconds: more than 0, at most 3,600")
    try:
        now = dt.datetime.fromisoformat(args.now).replace(tzinfo=ZoneInfo(TZ))
    except ValueError:
        parser.error(f"--now: not an ISO date and time: {args.now!r}")

    def on_term(signum, frame):  # SIGTERM ends the run like Ctrl-C: through the finally blocks
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    engines = ("sqlite", "postgres") if args.engine == "both" else (args.engine,)
    print(f"bench/dashboard.py: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, now = {now.isoformat()}, "
          f"{args.staff:,} staff, {args.departments:,} departments, {args.checkins:,} + {args.other_checkins:,} "
          f"check-ins, {args.requests} requests a route")
    status, everything = 0, {}
    try:
        for engine in engines:
            with temp_dir(f"tuanjie-dashboard-{engine}-", args.keep) as tmp:
                try:
                    results, summary = run_engine(engine, args, tmp, now)
                except SetupError as exc:
                    print(f"{engine}: set-up failed: {exc}", file=sys.stderr)
                    return 2
                finally:
                    close_db()
                    if engine == "postgres" and not args.keep:
                        pg_drop()
                    elif engine == "postgres":
                        print(f"kept database {PG_DATABASE} (the next run drops it)")
            everything[engine] = results
            if any(r.problems for r in results):
                status = 1
        print("\nsummary (ms):")
        for engine, results in everything.items():
            for r in results:
                verdict = "—" if not r.route.target else {True: "MET", False: "MISSED", None: "BROKEN"}[r.met]
                print(f"  {engine:8} {r.route.label:66} p50 {r.pct(50):7.1f}  p99 {r.pct(99):7.1f}  {verdict}")
        return status
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
