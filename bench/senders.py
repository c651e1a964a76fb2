"""`bench/fanout.py --senders 1 2 4`: the outbox sent by N `flask --app server sender` processes.

    .venv/bin/python bench/fanout.py --senders 1 2 4                      # SQLite file
    .venv/bin/python bench/fanout.py --senders 1 2 4 --database-url postgresql://postgres@127.0.0.1:5432/bench

For each --sender-messages count (10,000 and 100,000) and each N: a fresh database with that
many bound people; the fan-out by a child doing what push and the scheduler's remind job do
(jobs.push, timed, its VmHWM at the end: the scheduler's fan-out memory); then the
rows are made not yet due, N sender processes are started in their long-running form (as
under systemd, [scheduler] separate = ["send"]) and each has said it runs; then the rows are
made due again and the clock starts. It stops when the database says every row is sent (polled
every 0.1 s; the poll is the only figure-taking the bench does during the run). Each sender's
CPU over the run (/proc/PID/stat) and its VmHWM are read before SIGTERM ends it.

Reported: messages/s, as a share of the in-flight limit N x concurrency / latency, the CPU per
message of the senders and of the emulator, the machine's load, how the rows split between
the senders, and every row's state (all "sent", no row sent twice: the emulator's count of
template sends equals the rows). The emulator is bench/fanout.py's (one gthread worker): on this
2-core machine it and the senders share the CPU, so the figures show where the machine, not
the senders, sets the limit.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.common import SetupError, busy_share, clean_env, end_group, machine_cpu, proc_cpu, proc_status

NOW = "2026-12-02T10:00"


class Database:
    """The benchmark's database, by URL: an SQLite file per run, or a PostgreSQL it empties."""

    def __init__(self, url: str | None, tmp: Path):
        self.url, self.tmp = url, tmp

    def fresh(self, name: str, people: int) -> str:
        url = self.url or f"sqlite:///{self.tmp / (name + '.db')}"
        from models import ALL_MODELS, db
        from storage.engine import init_database

        init_database(url)
        with db.connection_context():
            if self.url:
                db.drop_tables(ALL_MODELS, safe=True, cascade=True)
        db.close()
        from bench.fanout import populate_url

        populate_url(url, people)
        return url

    def sql(self, url: str, statement: str, params=()):
        """One statement on its own connection, outside peewee's proxy; the rows it returns."""
        if url.startswith("sqlite:///"):
            import sqlite3

            conn = sqlite3.connect(url[len("sqlite:///"):], timeout=30)
            try:
                rows = conn.execute(statement.replace("%s", "?"), params).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()
        import psycopg2

        conn = psycopg2.connect(url, connect_timeout=5)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()


def start_senders(n: int, config: Path, tmp: Path, name: str) -> list[tuple[subprocess.Popen, Path]]:
    env = clean_env(TUANJIE_CONFIG=str(config), PYTHONUNBUFFERED="1")
    procs = []
    for i in range(n):
        log = tmp / f"{name}-sender{i}.log"
        procs.append((subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "sender", "--now", NOW,
                                        "--interval", "0.2"], cwd=Path(__file__).resolve().parent.parent, env=env,
                                       stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True),
                      log))
    deadline = time.monotonic() + 120
    for proc, log in procs:  # each has built its client and plan and said so
        while "sender " not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SetupError(f"a sender did not start: {log.read_text(errors='replace')[-800:]}")
            time.sleep(0.1)
    return procs


def stop_senders(procs) -> None:
    """SIGTERM each, and wait for it (SIGKILL after a minute)."""
    for proc, _ in procs:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for proc, _ in procs:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            end_group(proc)


def one_run(args, tmp: Path, emu, database: Database, messages: int, n: int) -> dict:
    from bench.fanout import run_sender, sender_config

    name = f"senders{n}-{messages}"
    url = database.fresh(name, messages)
    config = sender_config(tmp / f"{name}.toml", None, emu.base, args.sender_concurrency, args.rate, db_url=url,
                           more='\n[scheduler]\nseparate = ["send"]\n')
    fan = run_sender(f"{name}-fanout", config, None, emu, 600, tmp, child_args=("--child-fanout-only",))
    created = fan.marks.get("fanout_end", {}).get("created")
    if created != messages:
        raise SetupError(f"fan-out made {created} rows, not {messages}: {fan.stderr_tail}")
    database.sql(url, "UPDATE outbox SET next_attempt_at = '2030-01-01 00:00:00'")  # not due yet
    emu.faults(args.latency_ms)
    calls_before = emu.health().get("template_sends", 0)
    procs = start_senders(n, config, tmp, name)
    try:
        m0, e0, c0 = machine_cpu(), emu.cpu(), [proc_cpu(p.pid) or 0 for p, _ in procs]
        t0 = time.monotonic()
        database.sql(url, "UPDATE outbox SET next_attempt_at = '2026-12-02 01:00:00'")  # due, for all at once
        sent, deadline = 0, t0 + args.send_cap
        while sent < messages and time.monotonic() < deadline:
            time.sleep(0.1)
            sent = database.sql(url, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")[0][0]
        t1 = time.monotonic()
        m1, e1, c1 = machine_cpu(), emu.cpu(), [proc_cpu(p.pid) or 0 for p, _ in procs]
        # VmHWM, not wait4's ru_maxrss: that one starts from this (larger) process's own peak.
        peaks = [proc_status(p.pid).get("VmHWM", 0) / 1024 for p, _ in procs]
    finally:
        stop_senders(procs)
    states = dict(database.sql(url, "SELECT state, COUNT(*) FROM outbox GROUP BY state"))
    owners = Counter(dict(database.sql(url, "SELECT owner, COUNT(*) FROM outbox GROUP BY owner")))
    sends = emu.health().get("template_sends", 0) - calls_before
    return {"messages": messages, "senders": n, "seconds": t1 - t0, "sent": sent, "states": states,
            "owners": sorted(owners.values(), reverse=True), "sends": sends,
            "fanout_s": fan.span("fanout_start", "fanout_end"), "fanout_rss_mb": fan.marks.get("end", {}).get("hwm_kb", 0) / 1024,
            "sender_cpu_s": sum(c1) - sum(c0), "sender_rss_mb": max(peaks),
            "emu_cpu_s": (e1 - e0) if e0 is not None and e1 is not None else None,
            "busy_cores": (busy_share(m0, m1) or 0) * (os.cpu_count() or 1)}


def report(r: dict, concurrency: int, latency_ms: int) -> None:
    rate = r["sent"] / r["seconds"] if r["seconds"] else 0
    limit = r["senders"] * concurrency / (latency_ms / 1000)
    print(f"\n== {r['messages']} messages, {r['senders']} sender process(es) x concurrency {concurrency}, "
          f"emulator latency {latency_ms} ms")
    print(f"  fan-out {r['fanout_s']:.1f} s (fan-out process peak RSS {r['fanout_rss_mb']:.1f} MB)")
    print(f"  sent {r['sent']} in {r['seconds']:.1f} s -> {rate:.0f} msg/s = {rate / limit:.3f}x the in-flight "
          f"limit ({limit:.0f} msg/s)")
    print(f"  rows per sender {r['owners']}; states {r['states']}; template sends seen by the emulator "
          f"{r['sends']}" + ("" if r["sends"] == r["messages"] else "  <-- NOT ONE PER ROW"))
    cpu_ms = r["sender_cpu_s"] / r["sent"] * 1000 if r["sent"] else 0
    emu_ms = r["emu_cpu_s"] / r["sent"] * 1000 if r["sent"] and r["emu_cpu_s"] else 0
    print(f"  sender CPU {cpu_ms:.2f} ms/msg (all senders, during the send), emulator {emu_ms:.2f} ms/msg; "
          f"machine busy {r['busy_cores']:.2f} of {os.cpu_count()} cores; sender peak RSS {r['sender_rss_mb']:.1f} MB")


def senders_benchmark(args, tmp: Path, emu) -> int:
    database = Database(args.database_url, tmp)
    emu.register(max(args.sender_messages))
    status, results = 0, []
    for messages in args.sender_messages:
        for n in args.senders:
            from bench.common import warn_if_busy

            warn_if_busy(f"{n} senders, {messages} messages")
            r = one_run(args, tmp, emu, database, messages, n)
            report(r, args.sender_concurrency, args.latency_ms)
            results.append(r)
            if r["states"] != {"sent": messages} or r["sends"] != messages:
                status = 1
    print("\n== summary (msg/s; share of the in-flight limit)")
    for r in results:
        limit = r["senders"] * args.sender_concurrency / (args.latency_ms / 1000)
        rate = r["sent"] / r["seconds"]
        print(f"  {r['messages']:>7} messages, {r['senders']} sender(s): {rate:6.0f} msg/s = {rate / limit:.3f}x of "
              f"{limit:.0f}; sender peak RSS {r['sender_rss_mb']:.1f} MB; fan-out RSS {r['fanout_rss_mb']:.1f} MB")
    return status
