"""Reminders end to end: plan -> fan-out -> outbox -> sender -> the emulator's API, over HTTP."""
import dataclasses
import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest

from campaign import checkins
from models import Occurrence, Outbox, Staff, db
from schedules.jobs import Jobs
from tests.conftest import bind

TZ = ZoneInfo("Asia/Shanghai")
WED = dt.datetime(2026, 12, 2, 10, 0, tzinfo=TZ)  # nudge_wuge@2026-12-02 is due at 10:00


def jobs_for(world, emu, **push):
    cfg = world.app.extensions["tuanjie"].config
    cfg = dataclasses.replace(cfg, wechat=dataclasses.replace(cfg.wechat, api_base=emu.base),
                              push=dataclasses.replace(cfg.push, **push))
    return Jobs(cfg)


def follow_all(emu):
    for person in Staff.select().where(Staff.openid.is_null(False)):
        emu.call("POST", "/_emu/users", json={"openid": person.openid})


def bind_everyone(world, emu):
    for phone, openid in [("13900000001", "o-alice"), ("13900000002", "o-bob"), ("13900000011", "o-dave"),
                          ("13900000012", "o-erin"), ("13900000021", "o-frank")]:
        bind(world, phone, openid)
    follow_all(emu)


def sent_to(emu) -> list[str]:
    return [c["json"]["touser"] for c in emu.call("GET", "/_emu/calls", params={"endpoint": "message/template/send"})
            .json()["calls"] if c["errcode"] == 0]


def test_a_due_nudge_goes_once_to_pending_people_only(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu)
    main = jobs.plan(WED).main
    for item in main.items:  # Frank has completed, in the nudge's year (chat would stamp real time): never nudged
        checkins.check_in(Staff.get(Staff.name == "Frank"), main, item, WED - dt.timedelta(days=1))
    assert jobs.remind(WED) == 1
    states = {o.key: o.state for o in Occurrence.select()}
    assert states["nudge_wuge@2026-12-02"] == "fanned_out"
    # Missed beyond their grace (a first start looks back 35 days): recorded, not sent.
    assert states["monthly_talk@2026-12-01"] == states["nudge_wuge@2026-11-25"] == "expired"
    assert [k for k, v in states.items() if v == "fanned_out"] == ["nudge_wuge@2026-12-02"]
    assert jobs.send(WED) == 4
    assert sorted(sent_to(emu)) == ["o-alice", "o-bob", "o-dave", "o-erin"]  # not Carol (exempt), not Frank
    # Everything again: nothing new.
    assert jobs.remind(WED + dt.timedelta(minutes=1)) == 0
    assert jobs.send(WED + dt.timedelta(minutes=1)) == 0
    assert len(sent_to(emu)) == 4
    row = Outbox.get(Outbox.openid == "o-bob")
    assert (row.state, row.msgid is not None) == ("sent", True)
    nudge = emu.call("GET", "/_emu/calls", params={"endpoint": "message/template/send"}).json()["calls"][0]["json"]
    assert nudge["data"]["thing2"]["value"] == "还差5项，回复「打卡」"


def test_two_schedulers_racing_fan_out_once(world, emu):
    bind_everyone(world, emu)
    jobs = [jobs_for(world, emu), jobs_for(world, emu)]
    barrier = threading.Barrier(2)
    results = [None, None]

    def run(i):
        barrier.wait(timeout=10)
        with db.connection_context():
            results[i] = jobs[i].remind(WED)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join(timeout=30) for t in threads]
    assert sorted(results) == [0, 1]
    assert Outbox.select().count() == 5


def test_a_reminder_missed_within_its_grace_is_sent_late_once_beyond_it_expires(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu)
    late = WED + dt.timedelta(hours=5)  # the scheduler was down from 10:00 to 15:00
    assert jobs.remind(late) == 1
    assert Occurrence.get(Occurrence.key == "nudge_wuge@2026-12-02").state == "fanned_out"
    thursday = WED + dt.timedelta(days=1)
    assert Occurrence.get(Occurrence.key == "monthly_talk@2026-12-01").state == "expired"
    assert jobs.remind(thursday) == 0


def test_the_weekly_cap_holds(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu, weekly_cap=1)
    jobs.remind(WED)
    from schedules import fanout

    plan = jobs.plan(WED)
    result = fanout.fan_out(plan, plan.reminder("monthly_talk"), "extra@2026-12-02", WED, WED, jobs.config.push)
    assert result.created == 0 and result.skipped["weekly_cap"] == 5


def test_a_blocked_template_comes_back_as_a_permanent_failure(world, emu):
    bind_everyone(world, emu)
    emu.call("POST", "/_emu/users", json={"openid": "o-bob", "blocked": True})
    done, finished = threading.Event(), []
    original = emu.emulator._finish_job

    def finish(openid, msgid, status):
        original(openid, msgid, status)
        finished.append(openid)
        if len(finished) == 5:
            done.set()

    emu.emulator._finish_job = finish
    jobs = jobs_for(world, emu)
    jobs.remind(WED)
    assert jobs.send(WED) == 5
    assert done.wait(timeout=10)  # every delivery report is in
    row = Outbox.get(Outbox.openid == "o-bob")
    assert (row.state, row.delivery, row.errcode) == ("failed", "failed:user block", 43101)
    assert Outbox.get(Outbox.openid == "o-erin").delivery == "success"


def one_row(world, emu, sequence, **push):
    """Bob alone pending; the template endpoint answers with `sequence` first."""
    bind(world, "13900000002", "o-bob")
    follow_all(emu)
    emu.call("POST", "/_emu/faults", json={"endpoint": "message/template/send", "sequence": sequence,
                                           "timeout_seconds": 2})
    jobs = jobs_for(world, emu, **push)
    jobs.remind(WED)
    summary = jobs.sender(WED).run(max_seconds=30)
    return Outbox.get(), summary, jobs


def stable_token_calls(emu):
    return emu.call("GET", "/_emu/calls", params={"endpoint": "stable_token"}).json()["calls"]


def test_busy_minus_one_is_retried_later(world, emu):
    row, summary, _ = one_row(world, emu, [-1])
    assert (row.state, row.errcode, row.attempts) == ("retry", -1, 1)
    assert row.next_attempt_at > Outbox.get().created_at and summary.retry[-1] == 1


def test_quota_45009_pauses_the_run_without_spending_an_attempt(world, emu):
    row, summary, _ = one_row(world, emu, [45009])
    assert (row.state, row.errcode, row.attempts) == ("retry", 45009, 0)
    assert summary.paused and (row.next_attempt_at - row.created_at) >= dt.timedelta(minutes=59)


def test_a_token_refused_once_is_refreshed_once_and_the_message_sent(world, emu):
    row, summary, _ = one_row(world, emu, [40001])
    assert (row.state, summary.sent) == ("sent", 1)
    calls = stable_token_calls(emu)
    # The token in force is asked for first: the same token refused, so one forced refresh.
    assert [c["json"]["force_refresh"] for c in calls] == [False, False, True]


def test_a_token_refused_forever_is_refreshed_once_then_left_to_retry(world, emu):
    row, summary, _ = one_row(world, emu, [40001, 40001, 40001])
    assert (row.state, row.errcode) == ("retry", 40001)
    assert [c["json"]["force_refresh"] for c in stable_token_calls(emu)] == [False, False, True]


def test_a_read_timeout_is_never_resent_but_a_refused_connection_is_retried(world, emu):
    from bot.client import Client

    bind(world, "13900000002", "o-bob")
    follow_all(emu)
    emu.call("POST", "/_emu/faults", json={"endpoint": "message/template/send", "sequence": ["timeout"],
                                           "timeout_seconds": 2})
    jobs = jobs_for(world, emu)
    jobs.client = Client(jobs.config.wechat, timeout=(1, 0.5))
    jobs.client.token()
    jobs.remind(WED)
    summary = jobs.sender(WED).run(max_seconds=30)
    row = Outbox.get()
    # The platform may have delivered it before the answer was lost: a resend could duplicate.
    assert (row.state, row.errcode) == ("unknown", -4) and "ReadTimeout" in row.last_error
    assert summary.unknown == 1 and jobs.sender(WED).run(max_seconds=30).sent == 0
    # Nothing listening: the request never left, so it is retried later.
    Outbox.update(state="pending").execute()
    jobs.client = Client(dataclasses.replace(jobs.config.wechat, api_base="http://127.0.0.1:9"), timeout=(1, 1))
    jobs.client._cached.token, jobs.client._cached.expires = "t", 4e9
    summary = jobs.sender(WED).run(max_seconds=30)
    row = Outbox.get()
    assert (row.state, row.errcode) == ("retry", -4) and "ConnectionError" in row.last_error
    # The summary says why, not only the code.
    assert "to retry -4×1 (ConnectionError: " in summary.describe() and "127.0.0.1" in summary.describe()
    # requests names the URL in its message: the access_token in it is masked, in the summary and the row.
    assert "access_token=***" in row.last_error and "access_token=t" not in row.last_error


def test_an_unexpected_error_marks_the_row_unknown_and_the_run_goes_on(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu, concurrency=1)
    jobs.remind(WED)
    original = jobs.client.send_template

    def flaky(openid, *args, **kw):
        if openid == "o-bob":
            raise RuntimeError("bug in a payload")
        return original(openid, *args, **kw)

    jobs.client.send_template = flaky
    summary = jobs.sender(WED).run(max_seconds=30)
    assert summary.sent == 4 and summary.unknown == 1
    row = Outbox.get(Outbox.openid == "o-bob")
    assert row.state == "unknown" and "bug in a payload" in row.last_error


def test_a_quota_pause_holds_across_runs(world, emu):
    row, summary, jobs = one_row(world, emu, [45009])
    assert summary.paused
    Outbox.update(state="pending", next_attempt_at=row.created_at).where(Outbox.id != row.id).execute()
    again = jobs.sender(WED).run(max_seconds=30)
    assert again.paused and again.sent == 0
    assert len(emu.call("GET", "/_emu/calls", params={"endpoint": "message/template/send"}).json()["calls"]) == 1


def test_not_following_43004_fails_for_good(world, emu):
    row, summary, _ = one_row(world, emu, [43004])
    assert (row.state, row.errcode) == ("failed", 43004) and summary.failed[43004] == 1


def test_a_5xx_is_retried(world, emu):
    row, _, _ = one_row(world, emu, ["500"])
    assert (row.state, row.errcode) == ("retry", 500)


def test_retries_end_in_failure_after_max_attempts(world, emu):
    row, _, jobs = one_row(world, emu, [-1, -1], max_attempts=2)
    Outbox.update(next_attempt_at=row.created_at).execute()
    jobs.sender(WED).run(max_seconds=30)
    row = Outbox.get()
    assert (row.state, row.attempts, row.errcode) == ("failed", 2, -1)


def test_quiet_hours_hold_messages_until_morning(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu)
    evening = dt.datetime(2026, 12, 2, 21, 0, tzinfo=TZ)
    from schedules import fanout

    plan = jobs.plan(evening)
    fanout.fan_out(plan, plan.reminder("monthly_talk"), "evening@2026-12-02", evening, evening, jobs.config.push)
    assert jobs.send(evening) == 0 and sent_to(emu) == []
    assert jobs.send(dt.datetime(2026, 12, 3, 9, 0, tzinfo=TZ)) == 5


def test_eight_threads_finding_the_token_expired_fetch_one_token(world, emu):
    from bot.client import Client
    from models import AccessToken

    follow_all(emu)
    emu.call("POST", "/_emu/users", json={"openid": "o-x"})
    client = Client(jobs_for(world, emu).config.wechat)
    client.token()
    AccessToken.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    client._cached.expires = 0
    emu.call("DELETE", "/_emu/calls")
    barrier = threading.Barrier(8)
    errors = []

    def call():
        barrier.wait(timeout=10)
        try:
            with db.connection_context():
                client.call("GET", "user/info", params={"openid": "o-x"})
        except Exception as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    [t.start() for t in threads]
    [t.join(timeout=30) for t in threads]
    assert errors == []
    assert len(stable_token_calls(emu)) == 1
    assert len(emu.call("GET", "/_emu/calls", params={"endpoint": "user/info"}).json()["calls"]) == 8


def test_processes_share_the_stored_token(world, emu):
    from bot.client import Client

    config = jobs_for(world, emu).config.wechat
    first, second = Client(config), Client(config)  # two workers
    assert first.token() == second.token()
    assert len(stable_token_calls(emu)) == 1


def test_the_redis_token_store_shares_one_token_across_clients(world, emu):
    import os

    import redis

    from bot.client import Client, RedisTokenStore

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable on 127.0.0.1:6379")
        pytest.skip("no Redis here")
    config = jobs_for(world, emu).config.wechat
    store = RedisTokenStore(url, config.app_id)
    store.redis.delete(store.key, store.lock_key, store.forced_key)
    clients = [Client(config, RedisTokenStore(url, config.app_id)) for _ in range(4)]
    barrier = threading.Barrier(4)
    tokens = []

    def go(c):
        barrier.wait(timeout=10)
        tokens.append(c.token())

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    [t.start() for t in threads]
    [t.join(timeout=30) for t in threads]
    assert len(set(tokens)) == 1 and len(stable_token_calls(emu)) == 1
    # A refused token is replaced once, and the others pick the new one up without fetching.
    new = clients[0].token(failed=tokens[0])
    assert new != tokens[0] and clients[1].token(failed=tokens[0]) == new
    assert [c["json"]["force_refresh"] for c in stable_token_calls(emu)] == [False, False, True]
    store.redis.delete(store.key)


def test_customer_service_reminders_go_only_to_people_inside_their_window(world, emu):
    from models import InboundMessage
    from schedules import fanout

    bind_everyone(world, emu)
    now = dt.datetime.now(TZ)
    # Everyone wrote to bind; make that three days ago, then Bob writes again now.
    three_days_ago = (now - dt.timedelta(days=3)).astimezone(dt.timezone.utc).replace(tzinfo=None)
    InboundMessage.update(received_at=three_days_ago).execute()
    world.say("o-bob", "进度")
    emu.call("POST", "/_emu/users", json={"openid": "o-bob", "window": "message"})
    jobs = jobs_for(world, emu)
    plan = jobs.plan(now)
    custom = dataclasses.replace(plan.reminder("monthly_talk"), channel="custom")
    result = fanout.fan_out(plan, custom, "cs@today", now, now, jobs.config.push)
    assert result.created == 1 and result.skipped["no_window"] == 4
    Outbox.update(next_attempt_at=dt.datetime(2000, 1, 1)).execute()
    assert jobs.send(WED) == 1
    calls = emu.call("GET", "/_emu/calls", params={"endpoint": "message/custom/send"}).json()["calls"]
    assert [(c["json"]["touser"], c["errcode"]) for c in calls] == [("o-bob", 0)]
    assert Outbox.get().state == "sent"


def test_a_first_start_logs_the_missed_occurrences_in_one_line(world, emu, caplog):
    import logging

    jobs = jobs_for(world, emu)
    with caplog.at_level(logging.INFO, logger="tuanjie.schedules"):
        jobs.remind(WED)
    lines = [r.getMessage() for r in caplog.records if "expired" in r.getMessage()]
    assert len(lines) == 1 and "monthly_talk@2026-12-01" in lines[0] and "nudge_wuge@2026-11-25" in lines[0], lines


def test_a_token_replaced_elsewhere_is_taken_without_a_forced_refresh(world, emu):
    """A restarted platform (or another deployment's forced refresh) replaced the stored token:
    the token in force is asked for, and no forced refresh is spent."""
    from schedules import fanout

    bind(world, "13900000002", "o-bob")
    follow_all(emu)
    jobs = jobs_for(world, emu)
    jobs.client.token()
    emu.call("POST", "/_emu/reset")  # the platform forgets every token
    follow_all(emu)
    fanout.fan_out(jobs.plan(WED), jobs.plan(WED).reminder("monthly_talk"), "again@2026-12-02", WED, WED,
                   jobs.config.push)
    assert jobs.sender(WED).run(max_seconds=30).sent == 1
    assert not [c for c in stable_token_calls(emu) if c["json"]["force_refresh"]]
