#!/usr/bin/env python3
"""Throughput and latency of the check-in path, against a bare wechatpy echo webhook.

    .venv/bin/python bench/webhook.py                 # or: make bench
    .venv/bin/python bench/webhook.py --requests 5000 --client python
    .venv/bin/python bench/webhook.py --floor         # adds bench/floor_app.py: the storage alone
    .venv/bin/python bench/webhook.py --baseline-tree ../old   # adds the app of an older checkout
    .venv/bin/python bench/webhook.py --engine postgres          # Tuanjie on PostgreSQL (no floor there)

What is measured: POST /wechat in safe mode, every request a real new message (distinct
MsgId and nonce, signed and AES-encrypted by emulator.inbound.Signer, i.e. by wechatpy)
saying "打卡 N" for a random bound person, served by gunicorn with 2 sync workers on a fresh
SQLite database. Next to it, in the same run and served the same way, bench/echo_app.py:
verify, decrypt, parse, TextReply, encrypt and nothing else. The runs are interleaved
(echo 16, tuanjie 16, echo 64, tuanjie 64) so that drift of the machine hits both apps alike,
and repeated --rounds times; the median round is reported, preferring rounds in which no
other program took CPU (the "other cores" column). With --floor a third app runs alongside:
the echo plus the least durable check-in in raw sqlite3 (bench/floor_app.py), which splits
Tuanjie's distance from the echo into the storage's share and its own code's share. With
--baseline-tree DIR one more app runs alongside, "baseline": server:create_app() served the
same way but from DIR (a git worktree of an older commit, say), on its own copy of the
database, so that an older version and the current code are compared in one run. With
--engine postgres Tuanjie (and a baseline) run on a private PostgreSQL database on 127.0.0.1
(tuanjie_bench_webhook, created and dropped here; never the tests' `test`); the floor is
SQLite's own and is not run then.

What is not measured: set-up. The roster (20,000 staff in 200 departments) is imported with
`flask import-staff`, and people are bound by a direct UPDATE of staff.openid, not through
binding codes; binding has its own path and is not part of the check-in figures.

The load generator is wrk (apt-get install wrk) when it is on PATH: a C client costs the
2-core machine far less CPU than a Python one, which would otherwise flatter the slower app.
Without wrk a lean asyncio client is used; the report says which, and how much CPU the
client took. gunicorn's sync workers close every connection after one response, so each
request opens a new TCP connection; both clients reconnect, and latency is counted from
sending the request (wrk) or from connecting (python) to the last byte of the response.

Only 127.0.0.1 is contacted. Every run is bounded by a request count and a wall-clock cap,
and the gunicorn process groups started here are terminated on exit, Ctrl-C, SIGTERM or
error. Exit status: 0 when every request succeeded (targets missed or not), 1 on request
errors, 2 when set-up failed, 130 on Ctrl-C.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import http.client
import json
import os
import random
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (Gunicorn, SetupError, clean_env, machine_cpu, proc_cpu, proc_status, temp_dir,  # noqa: E402
                          write_config)
from config import DEMO_AES_KEY  # noqa: E402
from emulator import inbound  # noqa: E402

TOKEN = "benchToken42"
APP_ID = "wx0000bench000app"
CONCURRENCY = (16, 64)
APPS = {"echo": "bench.echo_app:create_app()", "tuanjie": "server:create_app()"}
FLOOR = ("floor", "bench.floor_app:create_app()")  # with --floor: see bench/floor_app.py
BASELINE = ("baseline", "server:create_app()")  # with --baseline-tree DIR: the same app, DIR's code

# The targets this benchmark reports against.
TARGET_RATIO = 0.75  # tuanjie req/s as a share of echo req/s, at each concurrency
TARGET_RPS = 1000  # check-ins per second
TARGET_P99_MS = 40.0  # at concurrency 16
TARGET_P99_AT = 16

# The server refuses timestamps more than 300 s from its clock (bot/security.MAX_SKEW);
# requests are signed right before each run, so a run must end well inside that window.
MAX_RUN_SECONDS = 240

PG_DATABASE = "tuanjie_bench_webhook"
# Cores busy outside the servers and the client above which a run is flagged as disturbed.
OTHER_CPU_WARN = 0.3


# --------------------------------------------------------------------------- set-up

def app_config(path: Path, db_file: Path) -> Path:
    """The apps' safe-mode config; no [campaign] plan, so each tree reads its own shipped plan."""
    return write_config(path, app_id=APP_ID, app_secret="bench-secret", token=TOKEN, db_file=db_file,
                        api_base="http://127.0.0.1:9", api_token="bench-api-token-123")


def write_roster(path: Path, people: int, departments: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "department", "phone"])
        for n in range(people):
            writer.writerow([f"职工{n:04d}", f"部门{n % departments + 1:02d}", f"139{n:08d}"])


def flask_cli(env: dict, *args: str, tree: Path = REPO) -> str:
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "server", *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        where = "" if tree == REPO else f" in {tree}"
        raise SetupError(f"flask {' '.join(args)}{where} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout.strip()


def bind_everyone(config: Path, url: str | None = None) -> list[str]:
    """Give every person an openid directly in the database: set-up, not the measured path."""
    from config import load_config
    from peewee import Value

    from models import Staff, db
    from storage.engine import init_database

    cfg = load_config(config, environ={"TUANJIE_DATABASE_URL": url} if url else {})  # url: --engine postgres
    init_database(cfg.database.url, cfg.base_dir)
    with db.connection_context(), db.atomic():
        Staff.update(openid=Value("bench-").concat(Staff.phone)).execute()
        openids = [s.openid for s in Staff.select(Staff.openid)]
    return openids


# --------------------------------------------------------------------------- servers

def system_busy_seconds() -> float | None:
    """Busy CPU time of the whole machine so far (Linux /proc/stat), steal included."""
    cpu = machine_cpu()
    return None if cpu is None else cpu[0] / os.sysconf("SC_CLK_TCK")


class Server(Gunicorn):
    """One app under gunicorn with 2 sync workers; `tree` is its working directory and code."""

    def __init__(self, name: str, app_spec: str, env: dict, log: Path, tree: Path = REPO):
        super().__init__(name, app_spec, ["-w", "2", "-k", "sync"], env, log, chdir=tree, stop_grace=10.0)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        def healthy() -> bool:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            try:
                conn.request("GET", "/healthz")
                # Both workers up, or the first runs would include a worker still booting.
                return conn.getresponse().status == 200 and len(self.worker_pids()) == 2
            finally:
                conn.close()

        self.wait_for(healthy, "/healthz not ready", timeout)

    def worker_pids(self) -> list[int]:
        """The arbiter's children (Linux /proc); empty where that is not available."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float | None:
        """User+system CPU time of the workers so far (None where /proc is not available)."""
        cpu = [proc_cpu(pid) for pid in self.worker_pids()]
        if not cpu or None in cpu:
            return None
        return sum(cpu)


# --------------------------------------------------------------------------- load

@dataclass
class Run:
    app: str
    concurrency: int
    requests: int = 0
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: Counter = field(default_factory=Counter)
    samples: list[tuple[int, str]] = field(default_factory=list)  # (status, body)
    server_cpu_ms: float | None = None  # per request
    new_share: float | None = None  # of the sampled Tuanjie replies, how many recorded a new check-in
    client_cpu_s: float = 0.0  # CPU seconds used by the load generator
    other_cpu: float | None = None  # cores busy with anything else: kernel networking, other programs

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def client_cpu(self) -> float:
        """Cores the load generator used on average."""
        return self.client_cpu_s / self.seconds if self.seconds else 0.0


class Messages:
    """Signed, encrypted check-in requests; every one a new MsgId and nonce."""

    def __init__(self, openids: list[str], seed: int):
        self.platform = inbound.Signer(TOKEN, DEMO_AES_KEY, APP_ID, "safe")
        self.openids = openids
        self.rng = random.Random(seed)
        self.serial = 0

    def build(self, count: int) -> list[tuple[str, bytes]]:
        """(target, body) pairs, timestamped now: build them right before they are sent."""
        out = []
        for _ in range(count):
            self.serial += 1
            xml = inbound.text(self.rng.choice(self.openids), f"打卡 {self.rng.randint(1, 5)}",
                               msg_id=10**12 + self.serial)
            signed = self.platform.sign_request(xml, nonce=f"{self.serial:x}{secrets.token_hex(4)}")
            out.append((f"/wechat?{signed.query_string}", signed.body))
        return out


WRK_SCRIPT = r"""
-- Sends each pre-built request once, in order, and stops after `n` responses. The file
-- holds one spare request per connection, for the requests still in flight at the end.
-- wrk itself only knows durations: the run is timed here (CLOCK_MONOTONIC through LuaJIT's
-- ffi), and wrk's main thread, which sleeps for -d, is woken with SIGINT when all is in.
local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *tp);
  int getpid(void);
  int kill(int pid, int sig);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  reqs, n, every = {}, tonumber(args[2]), tonumber(args[4])
  samples = io.open(args[3], "w")
  for line in io.lines(args[1]) do
    local target, body = line:match("^([^\t]*)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", target, {["Content-Type"] = "text/xml"}, body)
  end
  sent, seen, non200, unsealed, extra, t_first, t_last = 0, 0, 0, 0, 0, 0, 0
end

function request()
  sent = sent + 1
  if sent == 1 then t_first = now_us() end
  if sent > #reqs then
    -- More sends than the padding allows means responses went missing: stop, never resend.
    extra = extra + 1
    wrk.thread:stop()
    return "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
  end
  return reqs[sent]
end

function response(status, headers, body)
  seen = seen + 1
  if seen > n then return end
  local bad = status ~= 200
  if bad then non200 = non200 + 1 end
  if not body:find("<Encrypt>", 1, true) then unsealed = unsealed + 1; bad = true end
  if bad or seen % every == 0 then
    samples:write(status, "\t", (body:gsub("[\r\n]", " ")), "\n")
  end
  if seen == n then
    t_last = now_us()
    samples:close()
    wrk.thread:stop()
    ffi.C.kill(ffi.C.getpid(), 2)
  end
end

function done(summary, latency, requests)
  -- Counters live in the thread's Lua state; done() runs in the main one.
  local t = {non200 = 0, unsealed = 0, extra = 0, t_first = 0, t_last = 0}
  local responses = 0
  for _, thread in ipairs(threads) do
    for k in pairs(t) do t[k] = t[k] + thread:get(k) end
    responses = responses + math.min(thread:get("seen"), thread:get("n"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"responses": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non200": %d, "unsealed": %d, ' ..
    '"extra_sends": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    responses, t.t_last - t.t_first, latency:percentile(50), latency:percentile(99),
    t.non200, t.unsealed, t.extra, e.connect, e.read, e.write, e.timeout))
end
"""


def run_wrk(server: Server, reqs: list[tuple[str, bytes]], count: int, concurrency: int,
            cap: int, tmp: Path) -> Run:
    script, req_file, sample_file = tmp / "bench.lua", tmp / "requests.txt", tmp / "samples.txt"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    with req_file.open("wb") as fh:
        for target, body in reqs:
            fh.write(target.encode() + b"\t" + body + b"\n")
    # One wrk thread drives 64 connections with CPU to spare, and keeps the Lua counting global.
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{cap}s", "--timeout", "10s", "-s", str(script),
           f"http://127.0.0.1:{server.port}/", "--", str(req_file), str(count), str(sample_file),
           str(max(1, count // 100))]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SetupError(f"wrk printed no result (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    out = json.loads(line[len("BENCH "):])
    run = Run(server.name, concurrency, requests=out["responses"], p50_ms=out["p50_us"] / 1000,
              p99_ms=out["p99_us"] / 1000)
    if out["responses"] < count:
        # Cut short by the time cap: the run did not finish, so it has no end time of its own.
        run.errors["stopped by the time cap"] = count - out["responses"]
        run.seconds = cap
    else:
        run.seconds = out["duration_us"] / 1e6
    for key in ("non200", "unsealed", "extra_sends", "connect", "read", "write", "timeout"):
        if out[key]:
            run.errors[f"wrk {key}"] = out[key]
    run.client_cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if sample_file.exists():
        for ln in sample_file.read_text(encoding="utf-8", errors="replace").splitlines():
            status, _, body = ln.partition("\t")
            run.samples.append((int(status), body))
    return run


def run_python(server: Server, reqs: list[tuple[str, bytes]], count: int, concurrency: int,
               cap: int) -> Run:
    """The fallback client: asyncio, one new connection per request, as gunicorn sync wants."""
    raw = [(f"POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
           for target, body in reqs[:count]]
    latencies: list[float] = []
    run = Run(server.name, concurrency)
    every = max(1, count // 100)
    pending = iter(range(count))  # shared: each request is sent exactly once
    deadline = time.monotonic() + cap

    async def connection():
        for i in pending:
            if time.monotonic() > deadline:
                run.errors["stopped by the time cap"] += 1
                continue
            start = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(raw[i])
                data = await asyncio.wait_for(reader.read(), 10)
                writer.close()
            except (OSError, asyncio.TimeoutError) as exc:
                run.errors[f"python {type(exc).__name__}"] += 1
                continue
            latencies.append(time.perf_counter() - start)
            head, _, body = data.partition(b"\r\n\r\n")
            status = int(head[9:12] or 0)
            bad = status != 200 or b"<Encrypt>" not in body
            if status != 200:
                run.errors["non200"] += 1
            elif bad:
                run.errors["unsealed"] += 1
            if bad or i % every == 0:
                run.samples.append((status, body.decode("utf-8", "replace")))

    async def drive():
        await asyncio.gather(*(connection() for _ in range(concurrency)))

    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    asyncio.run(drive())
    run.seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    run.requests = len(latencies)
    if latencies:
        cuts = statistics.quantiles(latencies, n=100, method="inclusive")
        run.p50_ms, run.p99_ms = cuts[49] * 1000, cuts[98] * 1000
    run.client_cpu_s = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return run


def check_samples(run: Run, platform: inbound.Signer) -> None:
    """Decrypt sampled replies: Tuanjie must have answered with a check-in text ("已...")."""
    expect = "echo:" if run.app == "echo" else "已"
    opened = new = 0
    for status, body in run.samples:
        if status != 200:
            continue  # already counted
        try:
            text = platform.reply_text(body, {}) or ""
        except Exception as exc:  # any failure to open the reply is the finding
            run.errors[f"sample: {type(exc).__name__}"] += 1
            continue
        if expect not in text:
            run.errors[f"sample without {expect!r}: {text[:40]!r}"] += 1
        opened += 1
        new += text.startswith("✅")  # bot/texts.RECORDED; the rest say "already done"
    if run.app != "echo" and opened:
        run.new_share = new / opened


def measure(server: Server, msgs: Messages, count: int, concurrency: int, cap: int, client: str,
            tmp: Path) -> Run:
    # wrk may have up to `concurrency` requests in flight when it stops: give it that many spare.
    reqs = msgs.build(count + concurrency)
    cpu_before, busy_before, t0 = server.cpu_seconds(), system_busy_seconds(), time.monotonic()
    if client == "wrk":
        run = run_wrk(server, reqs, count, concurrency, cap, tmp)
    else:
        run = run_python(server, reqs, count, concurrency, cap)
    cpu_after, busy_after, t1 = server.cpu_seconds(), system_busy_seconds(), time.monotonic()
    if cpu_before is not None and cpu_after is not None and run.requests:
        # Includes the few padding requests still being served when wrk stopped: a slight overestimate.
        run.server_cpu_ms = (cpu_after - cpu_before) * 1000 / run.requests
        if busy_before is not None and busy_after is not None:
            # Kernel networking shows up here too, but much more than a few tenths of a core
            # means another program was busy and the figures are suspect.
            rest = busy_after - busy_before - (cpu_after - cpu_before) - run.client_cpu_s
            run.other_cpu = max(0.0, rest / (t1 - t0))
    check_samples(run, msgs.platform)
    return run


# --------------------------------------------------------------------------- report

def report(runs: dict[tuple[str, int], list[Run]], apps: list[str], args, client: str) -> None:
    print()
    print(f"{'app':<8} {'conc':>4} {'reqs':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'server CPU ms/req':>17} {'client cores':>12} {'other cores':>11}")
    median = {}
    for conc in CONCURRENCY:
        for app in apps:
            rounds = runs[(app, conc)]
            # The median round by throughput, among the undisturbed rounds where there are any.
            quiet = [r for r in rounds if (r.other_cpu or 0) <= OTHER_CPU_WARN] or rounds
            run = sorted(quiet, key=lambda r: r.rps)[len(quiet) // 2]
            median[(app, conc)] = run
            cpu = f"{run.server_cpu_ms:.2f}" if run.server_cpu_ms is not None else "n/a"
            other = f"{run.other_cpu:.2f}" if run.other_cpu is not None else "n/a"
            print(f"{app:<8} {conc:>4} {run.requests:>6} {run.rps:>8.0f} {run.p50_ms:>7.1f} {run.p99_ms:>7.1f} "
                  f"{sum(run.errors.values()):>6} {cpu:>17} {run.client_cpu:>12.2f} {other:>11}")
            if args.rounds > 1:
                print(f"{'':<13} rounds req/s: {', '.join(f'{r.rps:.0f}' for r in rounds)}")

    busy = [r for rs in runs.values() for r in rs if (r.other_cpu or 0) > OTHER_CPU_WARN]
    if busy:
        print(f"\nwarning: in {len(busy)} run(s) more than {OTHER_CPU_WARN} of a core went to other programs; "
              f"the table uses the other rounds where it can, but the machine was not quiet: run again")

    print()
    for conc in CONCURRENCY:
        t, e = median[("tuanjie", conc)], median[("echo", conc)]
        print(f"ratio tuanjie/echo at concurrency {conc}: {t.rps / e.rps:.2f}x  "
              f"(p99 {t.p99_ms:.1f} ms vs {e.p99_ms:.1f} ms)")
        f = median.get((FLOOR[0], conc))
        if f is not None:
            print(f"  floor/echo {f.rps / e.rps:.2f}x (the storage alone), tuanjie/floor {t.rps / f.rps:.2f}x "
                  f"(Tuanjie's own code)")
        b = median.get((BASELINE[0], conc))
        if b is not None:
            floor = f", baseline/floor {b.rps / f.rps:.2f}x" if f is not None else ""
            print(f"  baseline/echo {b.rps / e.rps:.2f}x (p99 {b.p99_ms:.1f} ms){floor}; "
                  f"tuanjie/baseline {t.rps / b.rps:.2f}x (p99 {t.p99_ms:.1f} ms vs {b.p99_ms:.1f} ms)")

    print()
    print("targets:")

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    for conc in CONCURRENCY:
        ratio = median[("tuanjie", conc)].rps / median[("echo", conc)].rps
        print(f"  >= {TARGET_RATIO:.2f}x the bare echo      @{conc:<3} {ratio:>6.2f}x        {verdict(ratio >= TARGET_RATIO)}")
    for conc in CONCURRENCY:
        rps = median[("tuanjie", conc)].rps
        print(f"  >= {TARGET_RPS:,} check-ins/s         @{conc:<3} {rps:>6.0f} req/s   {verdict(rps >= TARGET_RPS)}")
    p99 = median[("tuanjie", TARGET_P99_AT)].p99_ms
    print(f"  p99 <= {TARGET_P99_MS:.0f} ms                  @{TARGET_P99_AT:<3} {p99:>6.1f} ms      "
          f"{verdict(p99 <= TARGET_P99_MS)}")

    failed = [(k, r) for k, rs in runs.items() for r in rs if r.errors]
    if failed:
        print()
        print("errors:")
        for (app, conc), run in failed:
            for what, n in run.errors.most_common(5):
                print(f"  {app} @{conc}: {n} x {what}")


# --------------------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=4000, help="requests per measured run (default 4000)")
    p.add_argument("--warmup", type=int, default=300, help="unmeasured requests per app first (default 300)")
    p.add_argument("--rounds", type=int, default=3,
                   help="repeat the interleaved runs; the median round is reported (default 3)")
    p.add_argument("--max-seconds", type=int, default=60, help="wall-clock cap of one run (default 60)")
    p.add_argument("--people", type=int, default=20000,
                   help="roster size (default 20,000: enough that most check-ins of 3 rounds are new ones)")
    p.add_argument("--departments", type=int, default=200)
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto",
                   help="load generator: wrk when installed (auto), else python")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (config, database, gunicorn logs)")
    p.add_argument("--floor", action="store_true",
                   help="also run bench/floor_app.py: the echo plus the least durable check-in, on its own copy "
                        "of the database")
    p.add_argument("--baseline-tree", metavar="DIR", type=Path, default=None,
                   help="also run server:create_app() from DIR (an older checkout, e.g. a git worktree) as "
                        "'baseline': same gunicorn set-up and config, its own copy of the database")
    p.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite",
                   help="Tuanjie's database: an SQLite file (default), or a private PostgreSQL database "
                        "(tuanjie_bench_webhook on 127.0.0.1, created and dropped here)")
    p.add_argument("--pool", action="store_true",
                   help="with --engine postgres: the apps get a postgresql+pool:// URL (peewee's connection pool)")
    args = p.parse_args()
    if args.engine == "postgres" and (args.floor or args.baseline_tree):
        p.error("--floor (raw sqlite3) and --baseline-tree (a copy of the SQLite file) need --engine sqlite")
    if args.baseline_tree is not None:
        args.baseline_tree = args.baseline_tree.resolve()
        if not (args.baseline_tree / "server.py").is_file():
            p.error(f"--baseline-tree: {args.baseline_tree} has no server.py")
    if not 0 < args.max_seconds <= MAX_RUN_SECONDS:
        p.error(f"--max-seconds must be in (0, {MAX_RUN_SECONDS}]: requests are signed before the run "
                f"and the server refuses timestamps older than 300 s")
    if args.requests < 100 or args.rounds < 1:
        p.error("--requests must be at least 100 and --rounds at least 1")
    return args


def tree_commit(tree: Path) -> str:
    """"35ab790 subject" of a git checkout's HEAD (read only), or why not."""
    try:
        proc = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"commit unknown: {exc}"
    return proc.stdout.strip() if proc.returncode == 0 else "not a git checkout"


def start_servers(args, tmp: Path, env: dict, servers: list[Server]) -> None:
    """echo and tuanjie; floor and baseline when asked, each on its own copy of the database
    (bind_everyone's close checkpointed the WAL: the .db file alone is the database). Each
    server is added to `servers` as soon as it is started, for the caller to stop."""
    apps = [(name, spec, env, REPO) for name, spec in APPS.items()]
    if args.floor:
        shutil.copy(tmp / "tuanjie.db", tmp / "floor.db")
        apps.append((*FLOOR, dict(env, FLOOR_DB=str(tmp / "floor.db")), REPO))
    if args.baseline_tree is not None:
        tree = args.baseline_tree
        shutil.copy(tmp / "tuanjie.db", tmp / "baseline.db")
        base_env = clean_env(TUANJIE_CONFIG=str(app_config(tmp / "baseline.toml", tmp / "baseline.db")))
        # The tree's own init-db on its copy: whatever that version's schema step adds.
        said = flask_cli(base_env, "init-db", tree=tree).replace("\n", "; ")
        print(f"set-up: baseline {tree} ({tree_commit(tree)}); its init-db on its copy of the database: {said}")
        apps.append((*BASELINE, base_env, tree))
    for name, spec, app_env, tree in apps:
        servers.append(Server(name, spec, app_env, tmp / f"gunicorn-{name}.log", tree=tree))


def main() -> int:
    args = parse_args()
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    elif client == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    # SIGTERM must unwind through the finally blocks below like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    with temp_dir("tuanjie-bench-", args.keep) as tmp:
        servers: list[Server] = []
        pg_url = None
        try:
            engine = "SQLite (WAL)" if args.engine == "sqlite" else "PostgreSQL"
            print(f"Tuanjie webhook benchmark: safe mode, gunicorn -w 2 -k sync, {engine}, {os.cpu_count()} CPUs")
            config = app_config(tmp / "config.toml", tmp / "tuanjie.db")
            if args.engine == "postgres":
                from bench.dashboard import pg_create

                pg_url = pg_create(PG_DATABASE)
            app_url = pg_url.replace("postgresql://", "postgresql+pool://", 1) if pg_url and args.pool else pg_url
            env = clean_env(TUANJIE_CONFIG=str(config), **({"TUANJIE_DATABASE_URL": app_url} if pg_url else {}))
            roster = tmp / "roster.csv"
            write_roster(roster, args.people, args.departments)
            t0 = time.monotonic()
            flask_cli(env, "init-db")
            print(f"set-up: {flask_cli(env, 'import-staff', str(roster))}")
            openids = bind_everyone(config, pg_url)
            print(f"set-up: {len(openids)} people in {args.departments} departments, bound by direct UPDATE "
                  f"of staff.openid (binding is not measured) in {time.monotonic() - t0:.1f} s")

            start_servers(args, tmp, env, servers)
            for server in servers:
                server.wait_healthy()
            print(f"client: {client}; {args.requests} requests per run, each a new MsgId saying 打卡 1..5 "
                  f"for a random person; cap {args.max_seconds} s per run")

            msgs = Messages(openids, seed=20240401)
            for server in servers:
                warm = measure(server, msgs, args.warmup, 16, args.max_seconds, client, tmp)
                if warm.errors:
                    raise SetupError(f"{server.name}: warm-up failed: {dict(warm.errors)}\n{server.log_tail()}")

            apps = [server.name for server in servers]
            runs: dict[tuple[str, int], list[Run]] = {(a, c): [] for a in apps for c in CONCURRENCY}
            for r in range(args.rounds):
                for conc in CONCURRENCY:
                    for server in servers:
                        run = measure(server, msgs, args.requests, conc, args.max_seconds, client, tmp)
                        runs[(server.name, conc)].append(run)
                        new = f"  new check-ins {run.new_share:.0%} of sampled" if run.new_share is not None else ""
                        print(f"  round {r + 1} {server.name:<8} @{conc:<3} {run.rps:>6.0f} req/s  "
                              f"p50 {run.p50_ms:5.1f} ms  p99 {run.p99_ms:5.1f} ms  errors {sum(run.errors.values())}  "
                              f"other cores {run.other_cpu or 0:.2f}{new}", flush=True)

            report(runs, apps, args, client)
            for server in servers:  # after every round: each worker's high-water mark of memory
                peaks = [proc_status(pid).get("VmHWM", 0) / 1024 for pid in server.worker_pids()]
                print(f"peak RSS (VmHWM) of {server.name}'s gunicorn workers: "
                      + ", ".join(f"{mb:.1f} MB" for mb in peaks))
            return 1 if any(r.errors for rs in runs.values() for r in rs) else 0
        except SetupError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("bench: interrupted; stopping the servers", file=sys.stderr)
            return 130
        finally:
            for server in servers:
                server.stop()
            if pg_url is not None:
                from bench.dashboard import pg_drop

                pg_drop(PG_DATABASE)


if __name__ == "__main__":
    sys.exit(main())
