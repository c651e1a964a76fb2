#!/usr/bin/env python3
"""Throughput and memory of the reminder outbox: fan-out, then schedules/sender.py's Sender.

    .venv/bin/python bench/fanout.py
    .venv/bin/python bench/fanout.py --messages 10000 --concurrency 16 32 --memory-recipients 100000
    .venv/bin/python bench/fanout.py --repeat 3 --py-spy /path/to/py-spy   # median of 3; plus a profile

What is measured, all against the local emulator (emulator/app.py) on 127.0.0.1:

1. Throughput. 10,000 template messages sent by our Sender, the emulator answering every
   message/template/send after 20 ms (POST /_emu/faults latency_ms), at push.concurrency 16
   (and 32 for information). Reported: messages/s over Sender.run(), that figure as a share
   of the in-flight limit (concurrency / latency: 800 msg/s at 16 and 20 ms), and as a
   multiple of a plain serial loop of wechatpy sends (WeChatClient.message.send_template in a
   for loop, its API_BASE_URL pointed at the emulator) measured in the same run against the
   same emulator. Targets: >= 10x the serial loop, >= 0.6x the in-flight limit at 16.
2. Memory. 100,000 recipients: fan-out time, then sending (emulator latency 1 ms by default,
   the send capped in wall time); the sender process's peak RSS (kernel ru_maxrss of the
   child from wait4, and VmHWM at each phase) must stay <= 200 MB.

The sender process. Each run is a child process doing what
`flask --app server push --reminder monthly_talk --now 2026-12-02T10:00` does, through the
same calls (schedules/cli.py push): it builds the app with server.create_app() (TUANJIE_CONFIG
names a config in a temp dir) and, in its app context, takes the plan (runtime.plan_on) and
the reminder, then calls runtime.jobs.push(plan, reminder, now, Audience(), dry_run=False)
(the fan-out) and runtime.jobs.sender(now).run(max_seconds=cap, on_done=...) (the send). No
production function is replaced. Between the calls it prints timestamps, CPU times and VmHWM
(lines starting "@@"). The send is capped at --send-cap / --memory-cap seconds where push asks
for 6 h, so that every run is bounded in time. Per message it adds only what push's progress
bar does: an on_done callback that takes a lock and counts the outcome.

The emulator runs in its own process so that it does not share the GIL with the sender:
gunicorn, ONE gthread worker (the emulator's state lives in memory) with 64 threads, serving
emulator_app() below. The emulator queues a TEMPLATESENDJOBFINISH callback for every template
message; each would be signed, AES-encrypted and POSTed (3 attempts) to a webhook. That is the
platform's work, not ours, and on this 2-core machine it would take CPU from the sender, so
by default the factory drops those callbacks (counted); --callbacks keeps them, delivering
to a closed port (127.0.0.1:9).

Set-up (not measured): SQLite file databases in a temp dir, departments and staff
(11-digit phones starting with 1, openid o-<n>) written with insert_many; a fresh copy of the
populated database for every run; the openids registered with the emulator via /_emu/users.
Only 127.0.0.1 is contacted; every loop is bounded in count and time; the processes started
here (each in its own process group) are ended on exit, error or Ctrl-C.

The 2-core machine is shared with whatever else runs on it: before each run the script measures
how busy the machine already is and warns, and each run reports the cores used by the sender,
the emulator and everything else. --py-spy adds one more run under `py-spy record --gil` and
prints which part of the sender's per-message work holds the GIL (its throughput is not counted).

Exit status: 0 when the runs completed (targets met or not), 1 when messages failed or a run
did not finish, 2 when set-up failed.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (SHIPPED_PLAN, Gunicorn, SetupError, busy_share, clean_env, end_group,  # noqa: E402
                          http_json, machine_cpu, proc_cpu, proc_status, temp_dir, warn_if_busy, write_config)

APP_ID = "wx0000bench00fanout"
APP_SECRET = "bench-fanout-secret"
TOKEN = "benchFanout42"
TEMPLATE_ID = "TPL_REMINDER"
REMINDER = "monthly_talk"
NOW = "2026-12-02T10:00"  # a Wednesday, a workday, 10:00: not quiet
CLOSED_WEBHOOK = "http://127.0.0.1:9/wechat"  # discard port: nothing listens, callbacks fail fast

TARGET_SERIAL_MULTIPLE = 10.0
TARGET_LIMIT_RATIO = 0.6
TARGET_AT = 16
TARGET_RSS_MB = 200.0


# --------------------------------------------------------------------------- the emulator app

def emulator_app():
    """gunicorn factory: the emulator with the bench's keys and no roster users.

        gunicorn -k gthread -w 1 --threads 64 'bench.fanout:emulator_app()'
    """
    from config import DEMO_AES_KEY
    from emulator.app import Settings, create_emulator
    from flask import jsonify

    settings = Settings(webhook_url=os.environ.get("BENCH_WEBHOOK", CLOSED_WEBHOOK), token=TOKEN,
                        encoding_aes_key=DEMO_AES_KEY, app_id=APP_ID, app_secret=APP_SECRET, mode="safe",
                        users=())
    app = create_emulator(settings)
    emu = app.extensions["emulator"]
    dropped = [0]
    lock = threading.Lock()
    if not os.environ.get("BENCH_CALLBACKS"):
        def drop(openid, msgid, status):
            with lock:
                dropped[0] += 1
        emu.finish_job_later = drop  # this instance only: the platform's callbacks are not our cost

    sends = [0]  # template sends received, counted apart from the bounded call log
    original_log = emu.platform.log

    def log(entry):
        original_log(entry)
        if entry.get("endpoint") == "message/template/send":
            with lock:
                sends[0] += 1
    emu.platform.log = log

    @app.get("/_bench/health")
    def health():
        return jsonify(pid=os.getpid(), dropped_callbacks=dropped[0],
                       queued_callbacks=emu._finish_queue.qsize(), template_sends=sends[0])

    return app


# --------------------------------------------------------------------------- helpers

# --------------------------------------------------------------------------- set-up

def sender_config(path: Path, db_file: Path | None, api_base: str, concurrency: int, rate: int,
                  db_url: str | None = None, more: str = "") -> Path:
    """Safe-mode values like tests/conftest.py write_config; the rate limit set out of the way."""
    return write_config(path, app_id=APP_ID, app_secret=APP_SECRET, token=TOKEN, db_file=db_file, api_base=api_base,
                        api_token="bench-fanout-api-token", db_url=db_url, more=more + f"""
[campaign]
plan = "{SHIPPED_PLAN}"

[push]
template_id = "{TEMPLATE_ID}"
concurrency = {concurrency}
rate_per_second = {rate}
weekly_cap = 5
""")


def openid(n: int) -> str:
    return f"o-{n}"


def populate(db_file: Path, people: int) -> float:
    """Schema, 1 department per 1,000 people, `people` bound staff. Returns seconds taken."""
    return populate_url(f"sqlite:///{db_file}", people)


def populate_url(url: str, people: int) -> float:
    """populate() for any database URL (bench/senders.py runs on PostgreSQL too)."""
    from models import Department, Staff, db
    from storage.engine import init_database
    from storage.migrations import upgrade as create_schema

    t0 = time.perf_counter()
    init_database(url)
    with db.connection_context():
        create_schema()
        with db.atomic():
            ndept = max(1, (people + 999) // 1000)
            Department.insert_many([{"name": f"部门{d:03d}"} for d in range(ndept)]).execute()
            dept_ids = [d.id for d in Department.select(Department.id).order_by(Department.id)]
            for start in range(0, people, 500):
                Staff.insert_many([{"name": f"职工{i}", "phone": f"13{i:09d}", "department": dept_ids[i // 1000],
                                    "openid": openid(i)} for i in range(start, min(people, start + 500))]).execute()
        count = Staff.select().count()
    db.close()  # the last connection checkpoints the WAL: the .db file alone is the database
    if count != people:
        raise SetupError(f"populate {url}: {count} staff, expected {people}")
    return time.perf_counter() - t0


def fresh_copy(template: Path, dest: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{dest}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, dest)
    return dest


class Emulator(Gunicorn):
    """gunicorn serving emulator_app(): one gthread worker (in-memory state), N threads."""

    def __init__(self, tmp: Path, threads: int, callbacks: bool):
        env = clean_env(BENCH_WEBHOOK=CLOSED_WEBHOOK)
        if callbacks:
            env["BENCH_CALLBACKS"] = "1"
        super().__init__("emulator", "bench.fanout:emulator_app()",
                         ["-k", "gthread", "-w", "1", "--threads", str(threads), "--timeout", "120"], env,
                         tmp / "emulator.log")
        self.worker_pid: int | None = None

    def wait_ready(self, timeout: float = 30.0) -> None:
        self.worker_pid = self.wait_for(lambda: http_json(self.port, "GET", "/_bench/health", timeout=2)["pid"],
                                        "not ready", timeout)

    def health(self) -> dict:
        return http_json(self.port, "GET", "/_bench/health")

    def faults(self, latency_ms: int) -> None:
        http_json(self.port, "POST", "/_emu/faults", {"endpoint": "message/template/send", "latency_ms": latency_ms})

    def register(self, count: int, chunk: int = 5000) -> None:
        for start in range(0, count, chunk):
            ids = [openid(i) for i in range(start, min(count, start + chunk))]
            got = http_json(self.port, "POST", "/_emu/users", {"openids": ids}, timeout=60)
            if got.get("count") != len(ids):
                raise SetupError(f"/_emu/users: registered {got.get('count')} of {len(ids)}")

    def token(self) -> str:
        got = http_json(self.port, "POST", "/cgi-bin/stable_token",
                        {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET})
        if "access_token" not in got:
            raise SetupError(f"stable_token: {got}")
        return got["access_token"]

    def cpu(self) -> float | None:
        return proc_cpu(self.worker_pid) if self.worker_pid else None


# --------------------------------------------------------------------------- the serial baseline

def serial_wechatpy(emu: Emulator, token: str, count: int, max_seconds: float) -> dict:
    """A plain for loop of wechatpy send_template calls: the naive way to push, for comparison."""
    from wechatpy.client import WeChatClient

    client = WeChatClient(APP_ID, APP_SECRET, access_token=token, timeout=10)
    client.API_BASE_URL = f"{emu.base}/cgi-bin/"
    data = {"thing1": {"value": "每月一讲"}, "thing2": {"value": "本月民族团结专题学习"},
            "time3": {"value": "12月2日 10:00"}}
    for i in range(3):  # warm-up: connection, imports
        client.message.send_template(openid(i), TEMPLATE_ID, data)
    sent, cpu0 = 0, time.process_time()
    t0 = time.perf_counter()
    deadline = t0 + max_seconds
    for i in range(count):
        result = client.message.send_template(openid(i), TEMPLATE_ID, data)
        if not result.get("msgid"):
            raise SetupError(f"wechatpy send_template: {result}")
        sent += 1
        if time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - t0
    return {"sent": sent, "seconds": elapsed, "rate": sent / elapsed,
            "cpu_per_msg_ms": (time.process_time() - cpu0) / sent * 1000}


# --------------------------------------------------------------------------- the sender process

def child_main(cap: float, fanout_only: bool = False) -> int:
    """Inside the child: what `flask --app server push --reminder monthly_talk --now NOW` does,
    through the same production calls (schedules/cli.py push), with marks between them."""

    def mark(name: str, **extra) -> None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        st = proc_status()
        print("@@" + json.dumps({"mark": name, "t": time.monotonic(), "cpu": ru.ru_utime + ru.ru_stime,
                                 "utime": ru.ru_utime, "stime": ru.ru_stime,
                                 "rss_kb": st.get("VmRSS"), "hwm_kb": st.get("VmHWM"), **extra},
                                ensure_ascii=False), flush=True)

    mark("start")
    import server
    from schedules.fanout import Audience

    app = server.create_app()  # TUANJIE_CONFIG names the temp config
    with app.app_context():
        rt = app.extensions["tuanjie"]
        now = dt.datetime.fromisoformat(NOW).replace(tzinfo=rt.config.tz)  # as push's --now reads it
        plan = rt.plan_on(now.date())
        reminder = plan.reminder(REMINDER)
        if reminder is None:
            print(f"no reminder {REMINDER!r} in the plan", file=sys.stderr)
            return 2
        jobs = rt.jobs  # built once per app: the outbound client and the plan source
        mark("ready")
        mark("fanout_start")
        result = jobs.push(plan, reminder, now, Audience(), dry_run=False)
        mark("fanout_end", created=result.created, existed=result.existed)
        print(result.describe(), flush=True)
        if fanout_only:  # --senders: sender processes of their own send them
            mark("end")
            return 0
        sender = jobs.sender(now)
        outcomes: Counter = Counter()
        lock = threading.Lock()

        def on_done(outcome: str) -> None:  # push's progress bar does as much per message
            with lock:
                outcomes[outcome] += 1

        mark("send_start", concurrency=sender.push.concurrency)
        # push asks for 6 h; the cap keeps every run bounded in time.
        summary = sender.run(max_seconds=cap, on_done=on_done)
        mark("send_end", sent=summary.sent, failed=sum(summary.failed.values()),
             retry=sum(summary.retry.values()), unknown=summary.unknown, summary=summary.describe(),
             outcomes=dict(outcomes))
        print(summary.describe(), flush=True)
    mark("end")
    return 0


@dataclass
class RunResult:
    name: str
    marks: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)  # mark -> /proc/stat snapshot
    emu_cpu: dict = field(default_factory=dict)  # mark -> emulator worker CPU seconds
    output: list = field(default_factory=list)
    returncode: int | None = None
    rusage: object = None
    rss_samples: list = field(default_factory=list)  # (t, VmRSS KiB)
    timed_out: bool = False
    states: dict = field(default_factory=dict)
    stderr_tail: str = ""

    def span(self, a: str, b: str) -> float | None:
        if a in self.marks and b in self.marks:
            return self.marks[b]["t"] - self.marks[a]["t"]
        return None

    def cpu(self, a: str, b: str) -> float | None:
        if a in self.marks and b in self.marks:
            return self.marks[b]["cpu"] - self.marks[a]["cpu"]
        return None

    @property
    def sent(self) -> int:
        return self.marks.get("send_end", {}).get("sent", self.states.get("sent", 0))

    @property
    def send_rate(self) -> float | None:
        span = self.span("send_start", "send_end")
        return self.sent / span if span else None

    @property
    def peak_rss_mb(self) -> float | None:
        if self.rusage is None:
            return None
        return self.rusage.ru_maxrss / 1024  # KiB on Linux


def run_sender(name: str, config: Path, db_file: Path | None, emu: Emulator, cap: float, tmp: Path,
               wrap: list[str] | None = None, child_args: tuple[str, ...] = ()) -> RunResult:
    """One child process: fan-out then send; marks, CPU, RSS and the kernel's rusage for it.

    `wrap` (py-spy record ... --) runs the child under a profiler; RSS and rusage are then the wrapper's.
    """
    res = RunResult(name)
    env = clean_env(TUANJIE_CONFIG=str(config), PYTHONUNBUFFERED="1")
    err_path = tmp / f"{name}.stderr"
    with err_path.open("wb") as err:
        proc = subprocess.Popen([*(wrap or []), sys.executable, str(Path(__file__).resolve()), "--child",
                                 "--child-cap", str(cap), *child_args],
                                cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err, start_new_session=True,
                                text=True, bufsize=1)

        def reader():
            for line in proc.stdout:  # ends when the child exits (bounded by the wait below)
                now_m = machine_cpu()
                now_e = emu.cpu()
                if line.startswith("@@"):
                    m = json.loads(line[2:])
                    res.marks[m["mark"]] = m
                    res.machine[m["mark"]], res.emu_cpu[m["mark"]] = now_m, now_e
                else:
                    res.output.append(line.rstrip("\n"))

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        # Fan-out + send + start-up; beyond this the child is killed and the run reported as timed out.
        deadline = time.monotonic() + cap + 600
        try:
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid == proc.pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    res.rusage = ru
                    break
                st = proc_status(proc.pid)
                if "VmRSS" in st:
                    res.rss_samples.append((time.monotonic(), st["VmRSS"]))
                if time.monotonic() > deadline:
                    res.timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                    _, status, ru = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    res.rusage = ru
                    break
                time.sleep(0.2)
        finally:
            if proc.returncode is None:
                end_group(proc)
        t.join(timeout=10)
        res.returncode = proc.returncode
    try:
        res.stderr_tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
    except OSError:
        pass
    res.states = outbox_states(db_file) if db_file else {}
    return res


def outbox_states(db_file: Path) -> dict:
    from peewee import fn

    from models import Outbox, db
    from storage.engine import init_database

    init_database(f"sqlite:///{db_file}")
    try:
        with db.connection_context():
            return {s: n for s, n in Outbox.select(Outbox.state, fn.COUNT(Outbox.id)).group_by(Outbox.state).tuples()}
    finally:
        if not db.is_closed():
            db.close()


# --------------------------------------------------------------------------- profile

def outbox_frame(*functions: str):
    """A test on one py-spy frame ("claim (campaign/outbox.py:243)"): one of these functions of
    campaign/outbox.py, where the sender's state changes live."""
    names = tuple(f"{name} " for name in functions)
    return lambda f: f.startswith(names) and "campaign/outbox.py" in f


# Where a sender worker's GIL-holding samples fall: (label, test on one frame). A sample counts for
# the first label one of its frames matches, checked from the top of this list.
PROFILE_BUCKETS = [
    ("claim: Outbox.get_by_id after the UPDATE, MySQL only (outbox.py claim)",
     lambda f: f.startswith("Model.get_by_id ")),
    ("claim: the next due row, UPDATE ... RETURNING (outbox.py claim_next, claim)",
     outbox_frame("claim", "claim_next")),
    ("sent: UPDATE to sent (outbox.py mark_sent)", outbox_frame("mark_sent")),
    ("failed/retry/unknown: UPDATE (outbox.py mark_failed, mark_retry, mark_unknown, _finish)",
     outbox_frame("mark_failed", "mark_retry", "mark_unknown", "_finish")),
    ("requests: environment/proxy/netrc merge (trust_env)", lambda f: f.startswith("Session.merge_environment_settings ")),
    ("requests/urllib3/http.client: the HTTP call", lambda f: f.startswith("Session.request ")),
    ("client: token, json.dumps, response JSON (client.py)", lambda f: "bot/client.py" in f),
    ("sender: payload json.loads, rate limiter, queue, counters", lambda f: "schedules/sender.py" in f),
]


def summarise_profile(path: Path) -> tuple[list[tuple[str, int, float]], int]:
    """py-spy --format raw (collapsed stacks) -> samples of sender workers per bucket."""
    counts: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or "Sender.run.<locals>.worker" not in stack:
            continue
        frames, n = stack.split(";"), int(n)
        total += n
        label = next((lbl for lbl, test in PROFILE_BUCKETS if any(test(f) for f in frames)), "other")
        counts[label] = counts.get(label, 0) + n
        if any("peewee.py" in f and f.startswith(("Context.sql ", "Query.sql ")) for f in frames):
            counts["  (of the above: peewee building SQL text)"] = counts.get("  (of the above: peewee building SQL text)", 0) + n
    order = [lbl for lbl, _ in PROFILE_BUCKETS] + ["other", "  (of the above: peewee building SQL text)"]
    return [(lbl, counts.get(lbl, 0), counts.get(lbl, 0) / total if total else 0.0) for lbl in order], total


# --------------------------------------------------------------------------- reporting

def fmt(value, spec: str = ".1f", none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("MET" if ok else "MISSED")


def report_throughput(res: RunResult, concurrency: int, latency_ms: int, messages: int, serial_rate: float) -> dict:
    rate = res.send_rate
    limit = concurrency / (latency_ms / 1000) if latency_ms else None
    send_s = res.span("send_start", "send_end")
    cpu_send = res.cpu("send_start", "send_end")
    emu_cpu = None
    if res.emu_cpu.get("send_start") is not None and res.emu_cpu.get("send_end") is not None:
        emu_cpu = res.emu_cpu["send_end"] - res.emu_cpu["send_start"]
    busy = busy_share(res.machine.get("send_start"), res.machine.get("send_end"))
    sent = res.sent
    print(f"\n== send {messages} at concurrency {concurrency}, emulator latency {latency_ms} ms ({res.name})")
    print(f"  fan-out: {res.marks.get('fanout_end', {}).get('created', '?')} rows in "
          f"{fmt(res.span('fanout_start', 'fanout_end'), '.2f')} s")
    print(f"  sent {sent} in {fmt(send_s, '.2f')} s -> {fmt(rate, '.0f')} msg/s; "
          f"outbox states {res.states}")
    ratio_limit = rate / limit if rate and limit else None
    ratio_serial = rate / serial_rate if rate and serial_rate else None
    print(f"  in-flight limit {fmt(limit, '.0f')} msg/s ({concurrency} / {latency_ms} ms): ratio {fmt(ratio_limit, '.3f')}x"
          + (f"   target >= {TARGET_LIMIT_RATIO}x: {verdict(ratio_limit is not None and ratio_limit >= TARGET_LIMIT_RATIO)}"
             if concurrency == TARGET_AT else "   (information)"))
    print(f"  vs serial wechatpy loop {serial_rate:.1f} msg/s: {fmt(ratio_serial, '.2f')}x"
          f"   target >= {TARGET_SERIAL_MULTIPLE:.0f}x: "
          f"{verdict(ratio_serial is not None and ratio_serial >= TARGET_SERIAL_MULTIPLE)}")
    if sent:
        print(f"  sender CPU: {fmt(cpu_send, '.2f')} s for the send = {fmt(cpu_send / sent * 1000 if cpu_send else None, '.2f')} "
              f"ms/msg (user {fmt(res.marks['send_end']['utime'] - res.marks['send_start']['utime'], '.2f')} s, "
              f"sys {fmt(res.marks['send_end']['stime'] - res.marks['send_start']['stime'], '.2f')} s); "
              f"{fmt(cpu_send / send_s if cpu_send and send_s else None, '.2f')} cores busy")
        ncpu = os.cpu_count() or 1
        other = (busy * ncpu - (cpu_send or 0) / send_s - (emu_cpu or 0) / send_s) if busy is not None and send_s else None
        print(f"  emulator CPU: {fmt(emu_cpu, '.2f')} s = {fmt(emu_cpu / sent * 1000 if emu_cpu else None, '.2f')} ms/msg "
              f"({fmt(emu_cpu / send_s if emu_cpu and send_s else None, '.2f')} cores); machine busy "
              f"{fmt(busy * ncpu if busy is not None else None, '.2f')} of {ncpu} cores, of which other processes "
              f"(this script, kernel, anything else running) {fmt(other, '.2f')}")
    print(f"  sender peak RSS {fmt(res.peak_rss_mb, '.1f')} MB; exit {res.returncode}"
          + ("; TIMED OUT (killed)" if res.timed_out else ""))
    return {"rate": rate, "ratio_limit": ratio_limit, "ratio_serial": ratio_serial, "sent": sent}


def report_memory(res: RunResult, people: int, latency_ms: int, cap: float) -> dict:
    m = res.marks
    print(f"\n== memory: {people} recipients, concurrency {m.get('send_start', {}).get('concurrency', '?')}, "
          f"emulator latency {latency_ms} ms, send capped at {cap:.0f} s ({res.name})")
    created = m.get("fanout_end", {}).get("created")
    print(f"  start-up (imports, create_app): {fmt(res.span('start', 'ready'), '.2f')} s, "
          f"RSS {fmt(m.get('ready', {}).get('rss_kb', 0) / 1024 if m.get('ready') else None, '.1f')} MB")
    print(f"  fan-out: {created} rows in {fmt(res.span('fanout_start', 'fanout_end'), '.2f')} s "
          f"(CPU {fmt(res.cpu('fanout_start', 'fanout_end'), '.2f')} s); VmHWM after fan-out "
          f"{fmt(m['fanout_end']['hwm_kb'] / 1024 if m.get('fanout_end') else None, '.1f')} MB")
    sent, send_s = res.sent, res.span("send_start", "send_end")
    complete = created is not None and sent >= created
    print(f"  send: {sent} sent in {fmt(send_s, '.1f')} s ({fmt(res.send_rate, '.0f')} msg/s, CPU "
          f"{fmt((res.cpu('send_start', 'send_end') or 0) / sent * 1000 if sent else None, '.2f')} ms/msg); "
          f"outbox states {res.states}")
    if not complete:
        print(f"  NOTE: the send stopped at the {cap:.0f} s cap (or failed) after {sent} of {created}: the peak "
              f"RSS below covers start-up, the whole fan-out and the first {sent} sends, not all {created}.")
    hwm_end = m.get("end", m.get("send_end", {})).get("hwm_kb")
    peak = res.peak_rss_mb
    sampled = max((kb for _, kb in res.rss_samples), default=0) / 1024
    print(f"  sender peak RSS: {fmt(peak, '.1f')} MB (kernel ru_maxrss via wait4); VmHWM at the end "
          f"{fmt(hwm_end / 1024 if hwm_end else None, '.1f')} MB; highest sampled VmRSS {sampled:.1f} MB"
          f"   target <= {TARGET_RSS_MB:.0f} MB: {verdict(peak is not None and peak <= TARGET_RSS_MB)}")
    if res.rusage is not None:
        print(f"  sender process CPU in total: user {res.rusage.ru_utime:.1f} s, sys {res.rusage.ru_stime:.1f} s; "
              f"exit {res.returncode}" + ("; TIMED OUT (killed)" if res.timed_out else ""))
    return {"peak_mb": peak, "complete": complete, "sent": sent}


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000, help="messages per throughput run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32], help="push.concurrency values")
    parser.add_argument("--repeat", type=int, default=1, help="throughput runs per concurrency (median reported)")
    parser.add_argument("--latency-ms", type=int, default=20, help="emulator latency per template send")
    parser.add_argument("--rate", type=int, default=5000, help="push.rate_per_second (kept out of the way)")
    parser.add_argument("--serial", type=int, default=300, help="sends in the serial wechatpy loop")
    parser.add_argument("--send-cap", type=float, default=300, help="max seconds of Sender.run per throughput run")
    parser.add_argument("--memory-recipients", type=int, default=100_000, help="0 skips the memory run")
    parser.add_argument("--memory-latency-ms", type=int, default=1)
    parser.add_argument("--memory-concurrency", type=int, default=16)
    parser.add_argument("--memory-cap", type=float, default=420, help="max seconds of Sender.run in the memory run")
    parser.add_argument("--emulator-threads", type=int, default=64)
    parser.add_argument("--callbacks", action="store_true",
                        help="let the emulator send TEMPLATESENDJOBFINISH callbacks (to a closed port)")
    parser.add_argument("--py-spy", metavar="PATH", default=None,
                        help="py-spy binary: add a profiled run at concurrency 16 and print where the time goes")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (databases, logs)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-cap", type=float, default=300, help=argparse.SUPPRESS)
    parser.add_argument("--child-fanout-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--senders", type=int, nargs="+", default=None, metavar="N",
                        help="instead of the runs above: fan out, then send with N `flask --app server sender` "
                             "processes (e.g. --senders 1 2 4), for each of --sender-messages")
    parser.add_argument("--sender-messages", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--sender-concurrency", type=int, default=16, help="push.concurrency of each sender")
    parser.add_argument("--database-url", default=None,
                        help="with --senders: a PostgreSQL URL whose tables the benchmark DROPS and fills "
                             "(default: an SQLite file in the temp dir)")
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child_cap, args.child_fanout_only)
    if any(c < 1 or c > 256 for c in args.concurrency) or min(args.messages, args.serial, args.repeat) < 1:
        parser.error("concurrency 1-256; messages, serial and repeat >= 1")

    # SIGTERM ends the run like Ctrl-C: through the finally below, which stops the emulator.
    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored (&)
    with temp_dir("tuanjie-fanout-", args.keep) as tmp:
        return benchmark(args, tmp)


def benchmark(args, tmp: Path) -> int:
    """Every run of one invocation, in `tmp`; the emulator is stopped at the end, whatever happens."""
    emu: Emulator | None = None
    status = 0
    try:
        print(f"bench/fanout.py: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, temp dir {tmp}")
        emu = Emulator(tmp, args.emulator_threads, args.callbacks)
        try:
            emu.wait_ready()
            print(f"emulator: gunicorn gthread, 1 worker x {args.emulator_threads} threads on {emu.base}; "
                  + ("TEMPLATESENDJOBFINISH callbacks sent to a closed port" if args.callbacks
                     else "TEMPLATESENDJOBFINISH callbacks dropped (--callbacks keeps them)"))
            if args.senders:
                from bench.senders import senders_benchmark

                return senders_benchmark(args, tmp, emu)
            t_pop = populate(tmp / "template-small.db", args.messages)
            print(f"set-up: {args.messages} staff populated in {t_pop:.1f} s")
            big = None
            if args.memory_recipients:
                big = tmp / "template-big.db"
                t_pop = populate(big, args.memory_recipients)
                print(f"set-up: {args.memory_recipients} staff populated in {t_pop:.1f} s")
            t0 = time.perf_counter()
            emu.register(max(args.messages, args.memory_recipients, args.serial + 3))
            print(f"set-up: openids registered with the emulator in {time.perf_counter() - t0:.1f} s")
            emu.faults(args.latency_ms)
            token = emu.token()
        except (SetupError, OSError) as exc:
            print(f"set-up failed: {exc}", file=sys.stderr)
            return 2

        warn_if_busy("the serial loop")
        serial = serial_wechatpy(emu, token, args.serial, max_seconds=120)
        print(f"\n== serial wechatpy loop, latency {args.latency_ms} ms: {serial['sent']} sends in "
              f"{serial['seconds']:.2f} s -> {serial['rate']:.1f} msg/s "
              f"(client CPU {serial['cpu_per_msg_ms']:.2f} ms/msg)")

        results: dict[int, list[dict]] = {c: [] for c in args.concurrency}
        for rep in range(args.repeat):  # interleaved (16, 32, 16, 32...) so that drift hits all alike
            for c in args.concurrency:
                name = f"send-c{c}" + (f"-{rep + 1}" if args.repeat > 1 else "")
                db_file = fresh_copy(tmp / "template-small.db", tmp / f"{name}.db")
                config = sender_config(tmp / f"{name}.toml", db_file, emu.base, c, args.rate)
                emu.faults(args.latency_ms)
                warn_if_busy(name)
                res = run_sender(name, config, db_file, emu, args.send_cap, tmp)
                results[c].append(report_throughput(res, c, args.latency_ms, args.messages, serial["rate"]))
                if res.returncode != 0 or res.states.get("sent", 0) != args.messages:
                    status = 1
                    print(f"  run incomplete: exit {res.returncode}; stderr:\n{res.stderr_tail}")

        if args.py_spy:
            c = TARGET_AT if TARGET_AT in args.concurrency else args.concurrency[0]
            name = f"profile-c{c}"
            db_file = fresh_copy(tmp / "template-small.db", tmp / f"{name}.db")
            config = sender_config(tmp / f"{name}.toml", db_file, emu.base, c, args.rate)
            emu.faults(args.latency_ms)
            raw = tmp / f"{name}.txt"
            res = run_sender(name, config, db_file, emu, args.send_cap, tmp,
                             wrap=[args.py_spy, "record", "--gil", "-r", "100", "-f", "raw", "-o", str(raw), "--"])
            print(f"\n== profile (py-spy --gil, an extra run at concurrency {c}; sampling slows it: "
                  f"{fmt(res.send_rate, '.0f')} msg/s)")
            if raw.exists():
                rows, total = summarise_profile(raw)
                cpu = res.cpu("send_start", "send_end")
                per_msg = cpu / res.sent * 1000 if cpu and res.sent else None
                print(f"  {total} GIL-holding samples in sender workers; sender CPU {fmt(per_msg, '.2f')} ms/msg")
                for label, n, share in rows:
                    print(f"  {share * 100:5.1f}%  ~{fmt(per_msg * share if per_msg else None, '.2f')} ms/msg  {label}")
            else:
                print(f"  py-spy wrote no profile; stderr:\n{res.stderr_tail}")

        mem = None
        if big is not None:
            name = "memory"
            db_file = fresh_copy(big, tmp / f"{name}.db")
            config = sender_config(tmp / f"{name}.toml", db_file, emu.base, args.memory_concurrency, args.rate)
            emu.faults(args.memory_latency_ms)
            warn_if_busy(name)
            res = run_sender(name, config, db_file, emu, args.memory_cap, tmp)
            mem = report_memory(res, args.memory_recipients, args.memory_latency_ms, args.memory_cap)
            if res.returncode != 0:
                status = 1
                print(f"  run failed: exit {res.returncode}; stderr:\n{res.stderr_tail}")

        health = emu.health()
        print(f"\nemulator: {health['dropped_callbacks']} callbacks dropped, {health['queued_callbacks']} queued")
        print("\n== summary")
        medians = {}
        for c, runs in results.items():
            rates = sorted(r["rate"] or 0.0 for r in runs)
            rate = statistics.median(rates)
            limit = c / (args.latency_ms / 1000) if args.latency_ms else None
            r = medians[c] = {"rate": rate, "ratio_limit": rate / limit if limit else None,
                              "ratio_serial": rate / serial["rate"]}
            spread = f" (median of {len(rates)}: {', '.join(f'{x:.0f}' for x in rates)})" if len(rates) > 1 else ""
            print(f"  concurrency {c}: {rate:.0f} msg/s{spread} = {fmt(r['ratio_limit'], '.3f')}x the in-flight "
                  f"limit, {fmt(r['ratio_serial'], '.2f')}x the serial wechatpy loop ({serial['rate']:.1f} msg/s)")
        if TARGET_AT in medians:
            r = medians[TARGET_AT]
            print(f"  target >= {TARGET_SERIAL_MULTIPLE:.0f}x serial: "
                  f"{verdict(r['ratio_serial'] is not None and r['ratio_serial'] >= TARGET_SERIAL_MULTIPLE)}; "
                  f"target >= {TARGET_LIMIT_RATIO}x in-flight limit at {TARGET_AT}: "
                  f"{verdict(r['ratio_limit'] is not None and r['ratio_limit'] >= TARGET_LIMIT_RATIO)}")
        if mem is not None:
            print(f"  peak RSS with {args.memory_recipients} recipients: {fmt(mem['peak_mb'], '.1f')} MB "
                  f"(target <= {TARGET_RSS_MB:.0f} MB: {verdict(mem['peak_mb'] is not None and mem['peak_mb'] <= TARGET_RSS_MB)})"
                  + ("" if mem["complete"] else f" -- over the fan-out and the first {mem['sent']} sends only"))
        return status
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if emu is not None:
            emu.stop()


if __name__ == "__main__":
    sys.exit(main())
