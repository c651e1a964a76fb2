"""The scheduler process and the CLI around jobs: one scheduler only, run-job, jobs, push."""
import datetime as dt
import os
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest

from config import APP_ROOT, load_config
from models import Occurrence, Outbox, db
from schedules.lock import LockHeld, SchedulerLock
from tests.conftest import write_config
from tests.test_reminders import bind_everyone, sent_to


def flask(config, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "flask", "--app", "server", *args], cwd=APP_ROOT,
                           env={**os.environ, "TUANJIE_CONFIG": str(config)}, capture_output=True, text=True,
                           timeout=timeout)


def test_a_second_scheduler_refuses_to_start(make_world, tmp_path, db_url):
    world = make_world(roster=None)
    config = write_config(tmp_path, db_url, name="sched.toml")
    held = SchedulerLock(db.obj).acquire()
    try:
        with pytest.raises(LockHeld):
            SchedulerLock(db.obj).acquire()
        proc = flask(config, "scheduler")
        assert proc.returncode != 0 and "another scheduler" in proc.stderr
    finally:
        held.release()
    again = SchedulerLock(db.obj).acquire()  # released: the next one may start
    again.release()
    assert world


def test_register_wires_the_jobs_with_the_configured_timezone(tmp_path, db_url):
    from apscheduler.schedulers.background import BackgroundScheduler

    from schedules.jobs import Jobs, register

    cfg = load_config(write_config(tmp_path, db_url), environ={})
    sched = BackgroundScheduler(timezone=cfg.tz)
    register(sched, Jobs(cfg))
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == {"remind", "send", "prune"}
    assert all(str(j.trigger.timezone) == "Asia/Shanghai" for j in jobs.values())
    assert jobs["remind"].max_instances == 1 and jobs["remind"].coalesce


def test_a_scheduler_told_to_leave_sending_and_media_to_their_own_processes_only_fans_out(tmp_path):
    from apscheduler.schedulers.background import BackgroundScheduler

    from campaign.plan import PlanSource
    from runtime import Runtime
    from schedules.jobs import register

    cfg = load_config(write_config(tmp_path, f"sqlite:///{tmp_path / 'tuanjie.db'}",
                                   scheduler='separate = ["send", "media"]'), environ={})
    rt = Runtime(cfg, PlanSource(cfg.plan_path), lambda: None)
    sched = BackgroundScheduler(timezone=cfg.tz)
    register(sched, rt.jobs)
    assert {j.id for j in sched.get_jobs()} == {"remind", "prune", "spool", "stats", "sweep", "assessment"}


def test_jobs_lists_upcoming_reminders_and_the_calendar_each_year_follows(world):
    out = world.cli("jobs", "--now", "2026-11-20T08:00", "--days", "14").output
    assert "official" in out and "2026-12-01 Tue 09:30  monthly_talk" in out and "2026-11-25 Wed 10:00  nudge_wuge" in out
    later = world.cli("jobs", "--now", "2027-03-01T08:00", "--days", "30").output
    assert "calendar 2027: provisional: statutory holidays by rule, make-up workdays unknown" in later, later
    assert "2027-03-22 Mon 09:30  phase_start" in later


def test_run_job_runs_the_scheduler_function_once(world):
    bind_everyone_offline(world)
    out = world.cli("run-job", "remind", "--now", "2026-12-02T10:00").output
    assert out.strip().endswith("remind: 1")
    assert Occurrence.get(Occurrence.key == "nudge_wuge@2026-12-02").recipients == 5
    assert "no job 'nope'" in world.cli("run-job", "nope").output
    assert "not an ISO time" in world.cli("run-job", "remind", "--now", "tomorrow").output


def bind_everyone_offline(world):
    from models import Staff

    for person in Staff.select().where(Staff.status != "exempt"):
        person.openid = f"o-{person.phone}"
        person.save()


def test_push_dry_run_counts_and_explains(make_world):
    # Frank's check-ins are stamped with the server's clock: the year they count for is --now's.
    world = make_world(clock=lambda: dt.datetime(2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    bind_everyone_offline(world)
    world.say("o-13900000021", "1")
    for n in range(2, 6):
        world.say("o-13900000021", str(n))
    out = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--now", "2026-12-02T10:00").output
    assert "dry run: 5 would get 'monthly_talk'; skipped: exempt 1" in out
    out = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--pending-only",
                    "--now", "2026-12-02T10:00").output
    assert "4 would get" in out and "completed 1" in out
    out = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--department", "组织科",
                    "--now", "2026-12-02T10:00").output
    assert "2 would get" in out
    assert Outbox.select().count() == 0 and Occurrence.select().count() == 0
    assert "no reminder 'nope'" in world.cli("push", "--reminder", "nope").output
    assert "no department '财务科'" in world.cli("push", "--reminder", "monthly_talk", "--department", "财务科").output


def test_push_sends_through_the_api_and_a_rerun_sends_nothing_more(world, emu, tmp_path, db_url):
    bind_everyone(world, emu)
    config = write_config(tmp_path, db_url, name="push.toml", api_base=emu.base)
    first = flask(config, "push", "--reminder", "monthly_talk", "--department", "办公室", "--now", "2026-12-02T10:00")
    assert first.returncode == 0, first.stderr
    assert "2 recipients" in first.stdout and "sent 2" in first.stdout
    assert "sending" not in first.stderr, first.stderr  # a pipe gets no progress label, only the summary
    again = flask(config, "push", "--reminder", "monthly_talk", "--department", "办公室", "--now", "2026-12-02T10:05")
    assert "resuming" in again.stdout and "sent 0" in again.stdout
    assert sorted(sent_to(emu)) == ["o-alice", "o-bob"]
    # The same reminder for everyone, later that day: those who had it are skipped, not sent it twice.
    whole = flask(config, "push", "--reminder", "monthly_talk", "--now", "2026-12-02T11:00")
    assert whole.returncode == 0 and "sent_today 2" in whole.stdout, whole.stdout
    assert sorted(sent_to(emu)) == ["o-alice", "o-bob", "o-dave", "o-erin", "o-frank"]
    # Another day is another reminder.
    next_day = flask(config, "push", "--reminder", "monthly_talk", "--department", "办公室", "--dry-run",
                     "--now", "2026-12-03T10:00")
    assert "2 would get" in next_day.stdout and "sent_today" not in next_day.stdout, next_day.stdout


def test_out_of_range_options_are_named(world):
    for args, words in ((["jobs", "--days", "100000000"], "--days"), (["jobs", "--days", "-5"], "--days"),
                        (["jobs", "--now", "1999-01-01"], "--now"), (["push", "--reminder", "x", "--now",
                                                                       "9999-01-01T09:00"], "--now")):
        result = world.cli(*args)
        assert result.exit_code != 0 and words in result.output, (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)


def test_a_dry_run_in_quiet_hours_says_nothing_would_go_out_now_and_when(world):
    night = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--now", "2026-12-02T03:35").output
    assert "would get 'monthly_talk'" in night and "not now (quiet hours 20:00-08:30)" in night, night
    assert "sent from 2026-12-02 08:30" in night
    sunday = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--now", "2026-12-06T10:00").output
    assert "not now (not a workday)" in sunday and "sent from 2026-12-07 08:30" in sunday, sunday
    day = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--now", "2026-12-02T10:00").output
    assert "not now" not in day


def test_jobs_lists_across_new_year_with_each_years_calendar(world):
    out = world.cli("jobs", "--days", "200", "--now", "2026-12-01T09:00").output
    assert "calendar 2026: official" in out and "calendar 2027:" in out, out
    assert "2027-03-22 Mon 09:30  phase_start" in out, out  # next year's mobilisation
    assert "2027-04-01 Thu 09:30  monthly_talk" in out
