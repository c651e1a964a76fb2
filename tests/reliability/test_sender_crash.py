"""SIGKILL the sender in the middle of 2,000 pushes, start it again: nobody gets a reminder twice,
nobody is silently skipped, and the messages in flight at the kill are marked unknown.

The kill is made deterministic: from the 500th send on, the emulator holds every request it
receives until the test lets go, and the sender is killed once all its threads wait there. A
kill at a random moment could land while the database server was still committing one of the
dead client's statements (PostgreSQL and MariaDB finish a statement whose client has gone), and
the count of rows in flight taken just after it would then be off by one."""
import collections
import os
import signal
import subprocess
import sys
import threading

import pytest

from config import APP_ROOT
from models import Department, Outbox, Staff
from tests.conftest import write_config
from tests.reliability.conftest import wait_until

PEOPLE = 2000


def populate(emu):
    dept = Department.create(name="大部门")
    rows = [{"name": f"人{i}", "phone": f"1370000{i:04d}", "department": dept.id, "openid": f"o-{i}"}
            for i in range(PEOPLE)]
    for start in range(0, PEOPLE, 500):
        Staff.insert_many(rows[start:start + 500]).execute()
    emu.call("POST", "/_emu/users", json={"openids": [r["openid"] for r in rows]})


def push(config, timeout=120):
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "server", "push", "--reminder", "monthly_talk",
         "--now", "2026-12-02T10:00"],
        cwd=APP_ROOT, env={**os.environ, "TUANJIE_CONFIG": str(config)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("concurrency", [1, 8])
def test_kill_and_restart_sends_each_person_at_most_once(make_world, tmp_path, db_url, concurrency):
    from tests.conftest import start_emulator

    world = make_world(roster=None)
    emu, emu_server = start_emulator(f"{world.base}/wechat")
    try:
        populate(emu)
        config = write_config(tmp_path, db_url, name="push.toml", api_base=emu.base,
                              push=f"concurrency = {concurrency}\nweekly_cap = 5")
        emu.call("POST", "/_emu/faults", json={"endpoint": "message/template/send", "latency_ms": 2})
        platform = emu.emulator.platform
        all_held, release = threading.Event(), threading.Event()
        held = []
        original_log = platform.log

        def log(entry):  # runs in the emulator's request thread, before it answers
            original_log(entry)
            if entry["endpoint"] == "message/template/send" and len(platform.calls) >= PEOPLE // 4:
                held.append(entry)
                if len(held) >= concurrency:
                    all_held.set()
                release.wait(timeout=120)

        platform.log = log
        first = push(config)
        try:
            assert all_held.wait(timeout=120), first.communicate(timeout=5)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            release.set()
        in_flight = Outbox.select().where(Outbox.state == "sending").count()
        assert in_flight == concurrency  # every thread was waiting for the platform's answer

        second = push(config)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        assert "resuming" in out

        got = collections.Counter(c["json"]["touser"] for c in platform.calls
                                  if c["endpoint"] == "message/template/send" and c["errcode"] == 0)
        states = collections.Counter(s for (s,) in Outbox.select(Outbox.state).tuples())
        assert max(got.values()) == 1, "someone got the reminder twice"
        assert states["sent"] + states["unknown"] == PEOPLE and states["unknown"] == in_flight
        assert states["unknown"] <= concurrency
        missing = PEOPLE - len(got)
        assert missing <= states["unknown"]  # only a message in flight at the kill can be missing
        assert f"unknown {in_flight}" in out if in_flight else "unknown" not in out
    finally:
        emu_server.shutdown()


def test_a_kill_while_threads_wait_their_turn_leaves_only_the_requests_in_flight_unknown(make_world, tmp_path,
                                                                                        db_url):
    """Eight threads, five sends a second: most threads are waiting for the rate limiter when the
    sender dies. Those messages were never claimed and go out after the restart; only the ones
    whose request had reached the platform are unknown."""
    from tests.conftest import start_emulator

    world = make_world(roster=None)
    emu, emu_server = start_emulator(f"{world.base}/wechat")
    try:
        people = 40
        dept = Department.create(name="小部门")
        Staff.insert_many([{"name": f"人{i}", "phone": f"1370000{i:04d}", "department": dept.id, "openid": f"o-{i}"}
                           for i in range(people)]).execute()
        emu.call("POST", "/_emu/users", json={"openids": [f"o-{i}" for i in range(people)]})
        config = write_config(tmp_path, db_url, name="push.toml", api_base=emu.base,
                              push="concurrency = 8\nrate_per_second = 5\nweekly_cap = 5")
        platform = emu.emulator.platform
        two_held, release, held = threading.Event(), threading.Event(), []
        original_log = platform.log

        def log(entry):
            original_log(entry)
            sends = [c for c in platform.calls if c["endpoint"] == "message/template/send"]
            if entry["endpoint"] == "message/template/send" and len(sends) > 5:
                held.append(entry)
                if len(held) >= 2:
                    two_held.set()
                release.wait(timeout=120)

        platform.log = log
        first = push(config)
        try:
            assert two_held.wait(timeout=120), first.communicate(timeout=5)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            release.set()
        in_flight = Outbox.select().where(Outbox.state == "sending").count()
        # A request that left the sender just before the kill may still be on its way into the
        # emulator's handler: wait for it (a claimed row whose request never left would not come).
        wait_until(lambda: len(held) >= in_flight, 10, "every claimed send reaching the platform")
        assert in_flight == len(held) < 8  # the threads at the rate limiter had claimed nothing
        assert Outbox.select().where(Outbox.state == "pending").count() == people - 5 - in_flight

        second = push(config)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 0, err
        got = collections.Counter(c["json"]["touser"] for c in platform.calls
                                  if c["endpoint"] == "message/template/send" and c["errcode"] == 0)
        states = collections.Counter(s for (s,) in Outbox.select(Outbox.state).tuples())
        assert max(got.values()) == 1 and len(got) == people
        assert states == {"sent": people - in_flight, "unknown": in_flight}
    finally:
        emu_server.shutdown()
