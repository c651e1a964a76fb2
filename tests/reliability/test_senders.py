"""Senders as processes of their own (`flask --app server sender`): several at once share the
outbox without overlap, and the scheduler, told to leave sending to them, only fans out.

Four sender processes, in the long-running form systemd runs, are started and have said so
before one reminder's messages become due; then they race to the end, each at its own rate
limit (so that none can drain the outbox before the others are at work). Every person must get
the reminder exactly once, and each sender must have sent some of them."""
import collections
import datetime as dt
import os
import subprocess
import sys
import threading

from peewee import fn

from config import APP_ROOT
from models import Department, Outbox, Staff, db
from schedules.fanout import Audience
from tests.conftest import write_config

SENDERS = 4
# Each sender's own rate limit: four together need 10,000 / (4 x 40) = 62 s (2,000: 12 s), so a
# sender that a busy machine starts a few seconds late still finds most of the work waiting.
RATE = 40
NOW = "2026-12-02T10:00"  # a Wednesday, a workday, not quiet


def people_for(db_url: str) -> int:
    """The full 10,000 on PostgreSQL (SKIP LOCKED); the conditional UPDATE elsewhere, on fewer."""
    return 10_000 if db_url.startswith("postgres") else 2_000


def populate(emu, people: int) -> None:
    dept = Department.create(name="大部门")
    rows = [{"name": f"人{i}", "phone": f"137{i:08d}", "department": dept.id, "openid": f"o-{i}"}
            for i in range(people)]
    for start in range(0, people, 500):
        Staff.insert_many(rows[start:start + 500]).execute()
    emu.call("POST", "/_emu/users", json={"openids": [r["openid"] for r in rows]}, timeout=60)


def fan_out(world) -> int:
    """The reminder's rows, as the scheduler's remind job (or push) creates them: no sending."""
    rt = world.app.extensions["tuanjie"]
    now = dt.datetime.fromisoformat(NOW).replace(tzinfo=rt.config.tz)
    plan = rt.plan_on(now.date())
    with world.app.app_context(), db.connection_context():
        return rt.jobs.push(plan, plan.reminder("monthly_talk"), now, Audience()).created


def start_sender(config, *args):
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "server", "sender", *args],
                            cwd=APP_ROOT, env={**os.environ, "TUANJIE_CONFIG": str(config)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_start(proc) -> None:
    """Until the sender says it has started (its first line on stderr), or it ends."""
    for _ in range(1000):
        line = proc.stderr.readline()
        if not line or line.startswith("sender "):
            return


def test_four_sender_processes_send_every_message_exactly_once(make_world, tmp_path, db_url):
    from tests.conftest import start_emulator
    from tests.reliability.conftest import wait_until

    people = people_for(db_url)
    world = make_world(roster=None)
    emu, emu_server = start_emulator(f"{world.base}/wechat")
    procs = []
    try:
        populate(emu, people)
        config = write_config(tmp_path, db_url, name="senders.toml", api_base=emu.base,
                              push=f"concurrency = 8\nrate_per_second = {RATE}\nweekly_cap = 5",
                              scheduler='separate = ["send"]')
        assert fan_out(world) == people
        due = Outbox.select(fn.MIN(Outbox.next_attempt_at)).scalar()
        Outbox.update(next_attempt_at=due + dt.timedelta(days=1)).execute()  # not yet: all four start first
        procs = [start_sender(config, "--now", NOW, "--interval", "0.2") for _ in range(SENDERS)]
        for p in procs:
            wait_for_start(p)
        Outbox.update(next_attempt_at=due).execute()
        wait_until(lambda: Outbox.select().where(Outbox.state == "sent").count() == people, 600, "all sent")
        for p in procs:
            p.terminate()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err

        sends = [c for c in emu.emulator.platform.calls if c["endpoint"] == "message/template/send"]
        got = collections.Counter(c["json"]["touser"] for c in sends if c["errcode"] == 0)
        assert len(got) == people and max(got.values()) == 1, "someone got the reminder twice, or not at all"
        assert len(sends) == people
        states = collections.Counter(s for (s,) in Outbox.select(Outbox.state).tuples())
        assert states == {"sent": people}
        by_owner = collections.Counter(o for (o,) in Outbox.select(Outbox.owner).tuples())
        assert len(by_owner) == SENDERS, f"not every sender took part: {by_owner}"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate(timeout=30)
        emu_server.shutdown()


def test_a_sender_stopped_by_sigterm_finishes_its_requests_and_leaves_the_rest_pending(make_world, tmp_path,
                                                                                      db_url):
    """systemd stops a sender with SIGTERM: requests in flight are answered and recorded as
    sent, nothing more is claimed, no row is left "sending" or unknown; a later sender sends
    the rest."""
    import signal

    from tests.conftest import start_emulator

    world = make_world(roster=None)
    emu, emu_server = start_emulator(f"{world.base}/wechat")
    try:
        people = 60
        populate(emu, people)
        config = write_config(tmp_path, db_url, name="senders.toml", api_base=emu.base,
                              push="concurrency = 4\nweekly_cap = 5", scheduler='separate = ["send"]')
        assert fan_out(world) == people
        platform, held, release = emu.emulator.platform, threading.Event(), threading.Event()
        original_log = platform.log

        def log(entry):
            original_log(entry)
            if entry["endpoint"] == "message/template/send":
                held.set()
                release.wait(timeout=120)

        platform.log = log
        first = start_sender(config, "--now", NOW)  # the long-running form, as under systemd
        try:
            assert held.wait(timeout=120), first.communicate(timeout=5)
            first.send_signal(signal.SIGTERM)
            for _ in range(100):  # until the sender says it got the signal (or it ends)
                line = first.stderr.readline()
                if not line or line.startswith("stopping"):
                    break
            release.set()
            out, err = first.communicate(timeout=120)
        finally:
            release.set()
        assert first.returncode == 0, err
        assert "sender: stopped" in err
        states = collections.Counter(s for (s,) in Outbox.select(Outbox.state).tuples())
        assert set(states) <= {"sent", "pending"} and 1 <= states["sent"] <= 4, states

        platform.log = original_log
        second = start_sender(config, "--once", "--now", NOW)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        assert f"sent {states['pending']}" in out
        got = collections.Counter(c["json"]["touser"] for c in platform.calls
                                  if c["endpoint"] == "message/template/send")
        assert len(got) == people and max(got.values()) == 1
    finally:
        emu_server.shutdown()
