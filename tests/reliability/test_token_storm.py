"""A token refused over and over (40001 on every send) costs a few forced refreshes an hour,
counted across processes, then sending pauses with a status and resumes by itself."""
from __future__ import annotations

import datetime as dt

import pytest

from bot.client import Client
from bot.tokens import FORCED_PER_HOUR, RedisTokenStore
from campaign.clock import to_utc
from models import AccessToken, Department, Outbox, Staff
from schedules.jobs import Jobs
from tests.conftest import APP_ID
from tests.test_reminders import TZ, WED, jobs_for

PEOPLE = 400


def people(emu, n=PEOPLE):
    dept = Department.create(name="大部门")
    Staff.insert_many([{"name": f"人{i}", "phone": f"1370000{i:04d}", "department": dept.id, "openid": f"o-{i}"}
                       for i in range(n)]).execute()
    emu.call("POST", "/_emu/users", json={"openids": [f"o-{i}" for i in range(n)]})


def forced_refreshes(emu) -> int:
    calls = emu.call("GET", "/_emu/calls", params={"endpoint": "stable_token"}).json()["calls"]
    return sum(1 for c in calls if (c["json"] or {}).get("force_refresh"))


def storm(emu):
    emu.call("POST", "/_emu/faults", json={"endpoint": "message/template/send", "sequence": [40001] * 5000})


def push_monthly(jobs, now=WED):
    plan = jobs.plan(now)
    return jobs.push(plan, plan.reminder("monthly_talk"), now)


@pytest.fixture
def storm_world(make_world, emu_factory):
    world = make_world(roster=None)
    return world, emu_factory(world)


@pytest.fixture
def emu_factory():
    from tests.conftest import start_emulator

    servers = []

    def start(world):
        emu, server = start_emulator(f"{world.base}/wechat")
        servers.append(server)
        return emu

    yield start
    for server in servers:
        server.shutdown()


def test_a_token_storm_costs_a_few_forced_refreshes_then_pauses_and_resumes(storm_world):
    world, emu = storm_world
    people(emu)
    jobs = jobs_for(world, emu, weekly_cap=5)
    assert push_monthly(jobs).created == PEOPLE
    storm(emu)
    summary = jobs.sender(WED).run(max_seconds=60)
    assert forced_refreshes(emu) <= FORCED_PER_HOUR
    assert summary.sent == 0 and "paused until" in summary.paused and "access token refused" in summary.paused
    assert jobs.sender(WED).run(max_seconds=60).paused  # the next run does not try again
    # Organisers see why nothing goes out. The listing reads the sender's clock: the pause ends an
    # hour after WED, which real time may already have passed.
    shown = world.cli("jobs", "--now", WED.isoformat()).output
    assert "failed 0" in shown and "sending paused until" in shown and "access token refused" in shown, shown
    other = jobs_for(world, emu, weekly_cap=5)  # another process: its own client, the same store
    assert other.sender(WED).run(max_seconds=60).sent == 0
    assert forced_refreshes(emu) <= FORCED_PER_HOUR
    assert Outbox.select().where(Outbox.state == "failed").count() == 0  # nobody given up on

    # An hour later the platform is well again: the rows are due and the budget is fresh.
    emu.call("POST", "/_emu/faults", json={"endpoint": "message/template/send", "sequence": []})
    hour = dt.timedelta(hours=1, minutes=1)
    AccessToken.update(forced_since=to_utc(dt.datetime.now(TZ) - hour)).execute()
    later = WED + dt.timedelta(hours=1, minutes=5)
    assert jobs.sender(later).run(max_seconds=60).sent == PEOPLE


def test_the_forced_refresh_budget_holds_across_redis_clients(storm_world):
    import redis

    world, emu = storm_world
    r = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=2)
    try:
        r.ping()
    except redis.RedisError:
        pytest.skip("Redis not running here")
    for key in r.scan_iter(f"tuanjie:token:{APP_ID}*"):
        r.delete(key)
    people(emu, 30)
    jobs = jobs_for(world, emu, weekly_cap=5, token_store="redis")
    push_monthly(jobs)
    storm(emu)
    cfg = jobs.config
    for _ in range(3):  # three processes, each with its own client
        client = Client(cfg.wechat, RedisTokenStore(cfg.push.redis_url, APP_ID))
        Jobs(cfg, client=client).sender(WED).run(max_seconds=30)
    assert forced_refreshes(emu) <= FORCED_PER_HOUR
    assert r.ttl(f"tuanjie:token:{APP_ID}:forced") > 3000
