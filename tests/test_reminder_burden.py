"""Reminders that respect people (issue 17): the monthly cap and its drop order, the nudge's
cadence, and the leaders' weekly digest in place of one escalation per nudge round. Time is
frozen: each step runs the scheduler's jobs at a given `now`, as `run-job --now` does."""
import datetime as dt
import json
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from campaign import checkins
from campaign.plan import parse_plan
from config import ConfigError, load_config
from models import Occurrence, Outbox, Staff
from tests.conftest import write_config
from tests.test_reminders import bind_everyone, jobs_for

TZ = ZoneInfo("Asia/Shanghai")


def step(jobs, first: dt.date, last: dt.date, at=dt.time(10, 30)) -> None:
    """The scheduler once a day from `first` to `last`: remind, then send."""
    day = first
    while day <= last:
        now = dt.datetime.combine(day, at, tzinfo=TZ)
        jobs.remind(now)
        jobs.send(now)
        day += dt.timedelta(days=1)


def received(name: str) -> list[str]:
    """The occurrences that reached a person, in order: which reminders they got."""
    person = Staff.get(Staff.name == name)
    return [r.occurrence.key for r in Outbox.select().where(Outbox.staff == person).order_by(Outbox.id)]


def skipped(key: str) -> Counter:
    return Counter(json.loads(Occurrence.get(Occurrence.key == key).skipped or "{}"))


def check_in(name: str, jobs, item: int, day: dt.date) -> None:
    plan = jobs.plan(dt.datetime.combine(day, dt.time(12), tzinfo=TZ))
    checklist = plan.main
    checkins.check_in(Staff.get(Staff.name == name), checklist, checklist.items[item],
                      dt.datetime.combine(day, dt.time(12), tzinfo=TZ))


def test_a_full_month_drops_the_routine_nudges_first_and_keeps_the_phase_notices(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu, monthly_cap=3, weekly_cap=5)
    for n in range(5):
        check_in("Frank", jobs, n, dt.date(2026, 11, 2))  # Frank has completed
    step(jobs, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    # December brings Bob the monthly prompt, three nudges, the phase-end notice and the new
    # phase's notice: six for a cap of three. The nudges give way; the notices still to come
    # were kept room for.
    assert received("Bob") == ["monthly_talk@2026-12-01", "implement_ending@2026-12-15", "phase_start@2026-12-21"]
    assert received("Frank") == ["monthly_talk@2026-12-01", "phase_start@2026-12-21"]
    assert skipped("nudge_wuge@2026-12-02")["monthly_cap"] == 4  # Alice, Bob, Erin; Dave (below)
    assert not Outbox.select().where(Outbox.key.endswith(":escalation")).exists()


def test_a_leader_keeps_the_phase_notices_then_the_digests_and_the_monthly_prompt_goes_first(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu, monthly_cap=3, leader_monthly_cap=4, weekly_cap=5)
    step(jobs, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    # Dave's December: the prompt, nudges, three digests and two phase notices, for a cap of
    # four. The prompt and the nudges give way to what ranks above them; among the digests,
    # the first come are kept, and the last gives way to the phase notice still to come.
    assert received("Dave") == ["digest_wuge@2026-12-04", "digest_wuge@2026-12-11", "implement_ending@2026-12-15",
                                "phase_start@2026-12-21"]
    assert skipped("monthly_talk@2026-12-01")["monthly_cap"] == 1  # Dave alone: the others' three fit
    assert skipped("digest_wuge@2026-12-18") == {"monthly_cap": 1}


def test_an_organisers_notice_is_never_dropped_by_a_cap_but_counts(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu, monthly_cap=3, weekly_cap=1)
    step(jobs, dt.date(2026, 12, 1), dt.date(2026, 12, 1))  # the monthly prompt: the week is full
    now = dt.datetime(2026, 12, 1, 15, 0, tzinfo=TZ)
    plan = jobs.plan(now)
    for notice_id in (1, 2, 3):  # past the weekly cap, then past the monthly cap: all sent
        notice = jobs.notify(plan, notice_id, "周五下午集中学习", (), lambda staff: f"http://x/{staff}", "user:1", now)
        assert (notice.created, dict(notice.skipped)) == (5, {"exempt": 1})  # Carol
    # They count: the phase-end notice no longer fits, but for the leader's allowance (6).
    step(jobs, dt.date(2026, 12, 15), dt.date(2026, 12, 15))
    assert skipped("implement_ending@2026-12-15")["monthly_cap"] == 4
    assert [k for k in received("Dave") if not k.startswith("notice")] == ["monthly_talk@2026-12-01",
                                                                           "implement_ending@2026-12-15"]


def test_a_nudge_comes_every_other_week_and_weekly_at_the_end_only_for_people_who_answer(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu, monthly_cap=20, leader_monthly_cap=20, weekly_cap=5)
    for n in range(5):
        check_in("Frank", jobs, n, dt.date(2026, 11, 2))  # Frank has completed
    step(jobs, dt.date(2026, 11, 16), dt.date(2026, 11, 18))
    check_in("Erin", jobs, 0, dt.date(2026, 11, 19))  # Erin answers the nudge of 18 November
    step(jobs, dt.date(2026, 11, 19), dt.date(2026, 12, 20))
    nudges = lambda name: [k for k in received(name) if k.startswith("nudge_wuge")]  # noqa: E731
    every_other = ["nudge_wuge@2026-11-18", "nudge_wuge@2026-12-02", "nudge_wuge@2026-12-16"]
    assert nudges("Bob") == nudges("Dave") == every_other  # never answered: not nudged more often
    assert nudges("Erin") == ["nudge_wuge@2026-11-18", "nudge_wuge@2026-11-25", "nudge_wuge@2026-12-02",
                              "nudge_wuge@2026-12-09", "nudge_wuge@2026-12-16"]
    assert skipped("nudge_wuge@2026-11-25")["cadence"] == 3  # Alice, Bob, Dave
    assert not [k for k in received("Frank") if k.startswith("nudge")]  # finished: never nudged


def test_the_leader_gets_one_digest_a_week_naming_the_long_pending_first_with_a_dashboard_link(world, emu):
    bind_everyone(world, emu)
    jobs = jobs_for(world, emu, monthly_cap=20, leader_monthly_cap=20, weekly_cap=5)
    step(jobs, dt.date(2026, 12, 1), dt.date(2026, 12, 2))
    check_in("Erin", jobs, 0, dt.date(2026, 12, 3))  # she answers: the extra nudge of 9 December is hers
    step(jobs, dt.date(2026, 12, 3), dt.date(2026, 12, 11))
    digests = {r.occurrence.key: json.loads(r.payload) for r in
               Outbox.select().where(Outbox.occurrence.in_(Occurrence.select().where(Occurrence.reminder == "digest_wuge")))}
    assert set(digests) == {"digest_wuge@2026-12-04", "digest_wuge@2026-12-11"}  # one a week, to Dave alone
    dave = Staff.get(Staff.name == "Dave")
    assert {r.staff_id for r in Outbox.select().where(Outbox.key.startswith("digest_wuge@"))} == {dave.id}
    first, second = digests["digest_wuge@2026-12-04"], digests["digest_wuge@2026-12-11"]
    # A keyword holds 20 characters: the names are cut, and the link shows them all.
    assert (first["thing1"], first["thing2"]) == ("本部门「五个一」进展", "参与50%，2人未完成：Dave、Er…")
    # By the 11th Erin has had two nudges (escalate_after = 2) and Dave one: she is named first.
    assert second["thing2"] == "参与50%，2人未完成：Erin、Da…"
    assert first["_url"] == f"http://127.0.0.1:8000/dashboard/pending?department={dave.department_id}&checklist=wuge"
    calls = emu.call("GET", "/_emu/calls", params={"endpoint": "message/template/send"}).json()["calls"]
    assert any(c["json"]["touser"] == "o-dave" and c["json"].get("url") == first["_url"] for c in calls)
    assert not Outbox.select().where(Outbox.key.endswith(":escalation")).exists()


def test_a_plan_from_before_digests_gets_one_for_its_escalating_nudge():
    raw = {"name": "p", "phases": [{"key": "implement", "name": "实施", "start": "04-11", "end": "12-20"}],
           "checklists": [{"key": "a", "name": "A", "main": True, "items": [{"key": "x", "name": "X"}]}],
           "reminders": [{"key": "n", "kind": "nudge", "phases": ["implement"], "checklist": "a", "title": "t",
                          "text": "x", "escalate_after": 2, "weekday": 3}]}
    plan = parse_plan(raw, "p.toml", dt.date(2026, 6, 1))
    nudge, digest = plan.reminders
    assert (nudge.every_weeks, nudge.weekly_last_days) == (1, 0)  # weekly, as before
    assert (digest.key, digest.kind, digest.audience, digest.weekday, digest.checklist) == (
        "n_digest", "digest", "leaders", 3, "a")


def test_a_leaders_monthly_cap_below_everyones_is_refused(tmp_path):
    path = write_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", push="monthly_cap = 6\nleader_monthly_cap = 5")
    with pytest.raises(ConfigError, match="push.leader_monthly_cap"):
        load_config(path, environ={})


def test_config_defaults_are_five_a_month_and_six_for_a_leader():
    from config import PushConfig

    assert (PushConfig().monthly_cap, PushConfig().leader_monthly_cap) == (5, 6)
