"""Next year's calendar before the official notice (issue 16).

chinese-calendar 1.11 stops at 2026. For 2027 the statutory holidays come from a rule until the
plan lists the State Council's notice (official by plan) or a chinese-calendar release covers
the year (official). Every function takes its time: nothing here reads the clock or sleeps.
"""
import dataclasses
import datetime as dt
import re
import tomllib
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from chinese_calendar import constants

from campaign.plan import parse_plan
from config import APP_ROOT
from schedules.occurrences import calendar_for, occurrences
from schedules.workdays import BY_PLAN, OFFICIAL, PROVISIONAL, WorkCalendar, by_rule, spans, statutory

TZ = ZoneInfo("Asia/Shanghai")
SEED = APP_ROOT / "plans" / "minzu_tuanjie.toml"
# The days the 2027 public holidays fall on by rule, with their observed days.
HOLIDAYS_2027 = {"元旦": ["01-01"], "春节": ["02-05", "02-06", "02-07", "02-08", "02-09", "02-10"],
                 "清明": ["04-05"], "劳动节": ["05-01", "05-02", "05-03", "05-04"], "端午": ["06-09"],
                 "中秋": ["09-15"], "国庆": ["10-01", "10-02", "10-03", "10-04", "10-05"]}
# A 2027 notice as it might read (made up here: the real one comes in November 2026).
NOTICE_2027 = {
    "holidays": ["2027-01-01", "2027-01-02", "2027-01-03"]
    + [f"2027-02-{d:02}" for d in range(5, 13)] + ["2027-04-03", "2027-04-04", "2027-04-05"]
    + [f"2027-05-0{d}" for d in range(1, 6)] + ["2027-06-09", "2027-09-15"]
    + [f"2027-10-0{d}" for d in range(1, 8)],
    "workdays": ["2027-01-31", "2027-02-20", "2027-04-25", "2027-05-08", "2027-09-26", "2027-10-09"],
}


def at(*args):
    return dt.datetime(*args, tzinfo=TZ)


def seed(today: dt.date, calendar: dict | None = None):
    raw = tomllib.loads(SEED.read_text(encoding="utf-8"))
    if calendar is not None:
        raw["calendar"] = calendar
    return parse_plan(raw, SEED, today)


def fired(plan, cal, year: int):
    return occurrences(plan, cal, TZ, at(year, 1, 1), at(year, 12, 31, 23, 59))


def days(year: int, *month_days: str) -> set[dt.date]:
    return {dt.date(year, int(md[:2]), int(md[3:])) for md in month_days}


def test_2027_is_provisional_with_the_statutory_holidays_by_rule_and_their_observed_days():
    cal = WorkCalendar()
    assert cal.state(2027) == PROVISIONAL == "provisional: statutory holidays by rule, make-up workdays unknown"
    assert by_rule(2027) == days(2027, *(md for mds in HOLIDAYS_2027.values() for md in mds))
    assert spans(by_rule(2027)) == "01-01, 02-05–02-10, 04-05, 05-01–05-04, 06-09, 09-15, 10-01–10-05"
    assert not any(cal.is_workday(d) for d in by_rule(2027))
    assert cal.is_workday(dt.date(2027, 5, 5)) and cal.is_workday(dt.date(2027, 10, 6))
    assert not cal.is_workday(dt.date(2027, 5, 8))  # a Saturday: make-up days are unknown until the notice


def test_the_may_prompt_and_the_party_day_of_2027_fall_on_the_first_workday_after_labour_day():
    plan = seed(dt.date(2027, 3, 1))
    may = [(f.reminder.key, f.due) for f in occurrences(plan, calendar_for(plan), TZ, at(2027, 5, 1), at(2027, 5, 31))
           if f.reminder.kind == "monthly"]
    assert may == [("monthly_talk", at(2027, 5, 5, 9, 30)), ("party_day", at(2027, 5, 5, 10, 0))]


def test_nothing_fires_in_2027_on_a_public_holiday():
    plan = seed(dt.date(2027, 3, 1))
    cal = calendar_for(plan)
    due = [f.due.date() for f in fired(plan, cal, 2027)]
    assert due and not set(due) & by_rule(2027)
    assert not set(due) & days(2027, "04-05", "06-09", "09-15", "10-04", "10-05")
    assert all(cal.is_workday(d) for d in due)
    # Moved, not dropped: a weekly nudge's Wednesday to the Thursday, October's prompt past 国庆.
    weekly = dataclasses.replace(plan, reminders=tuple(dataclasses.replace(r, every_weeks=1) for r in plan.reminders))
    assert days(2027, "06-10", "09-16", "10-06") <= {f.due.date() for f in fired(weekly, cal, 2027)}


def test_days_the_plan_or_the_config_lists_win_over_the_rule():
    plan = seed(dt.date(2027, 3, 1), {"holidays": ["2027-05-05"], "workdays": ["2027-05-04"]})
    cal = calendar_for(plan, extra_holidays=["2027-05-06"], extra_workdays=["2027-10-04"])
    assert cal.is_workday(dt.date(2027, 5, 4))  # off by rule (observed), listed as a workday
    assert not cal.is_workday(dt.date(2027, 5, 5)) and not cal.is_workday(dt.date(2027, 5, 6))
    assert cal.is_workday(dt.date(2027, 10, 4))  # the config's list counts the same
    assert not cal.is_workday(dt.date(2027, 5, 3))  # not listed: the rule still holds
    assert cal.state(2027) == PROVISIONAL  # a few days are extras, not the notice
    may = [f.due.date() for f in occurrences(plan, cal, TZ, at(2027, 5, 1), at(2027, 5, 31), only="monthly_talk")]
    assert may == [dt.date(2027, 5, 4)]


def test_a_list_that_misses_a_statutory_holiday_stays_provisional_and_names_what_is_missing():
    listed = statutory(2027) - days(2027, "05-01", "05-02")
    cal = WorkCalendar(extra_holidays=frozenset(listed))
    assert cal.state(2027) == PROVISIONAL
    assert "but not the statutory 05-01–05-02" in cal.describe(2027)


def test_a_plan_that_lists_the_notice_makes_the_year_official_by_plan_and_the_rule_steps_aside():
    plan = seed(dt.date(2027, 3, 1), NOTICE_2027)
    cal = calendar_for(plan)
    assert cal.state(2027) == BY_PLAN == "official by plan"
    assert cal.details(2027) == ["28 holidays and 6 调休 workdays listed for 2027"]
    assert not cal.is_workday(dt.date(2027, 10, 6)) and cal.is_workday(dt.date(2027, 10, 9))  # Saturday 调休
    monthly = {(f.reminder.key, f.due.date()) for f in fired(plan, cal, 2027) if f.reminder.kind == "monthly"}
    assert {("monthly_talk", dt.date(2027, 5, 6)), ("party_day", dt.date(2027, 5, 6)),
            ("monthly_talk", dt.date(2027, 10, 8))} <= monthly
    # The lists are the whole arrangement: a day the rule observes but the lists do not give is a workday.
    bare = WorkCalendar(extra_holidays=statutory(2027))
    assert bare.state(2027) == BY_PLAN and bare.is_workday(dt.date(2027, 5, 3))


def test_2026_is_unchanged_every_day_as_chinese_calendar_has_it():
    plan = seed(dt.date(2026, 3, 1))
    cal = calendar_for(plan)
    assert cal.state(2026) == OFFICIAL == "official (chinese-calendar)" and cal.details(2026) == []
    year = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    assert [cal.is_workday(d) for d in year] == [chinese_calendar.is_workday(d) for d in year]
    may = [f.due for f in occurrences(plan, cal, TZ, at(2026, 5, 1), at(2026, 5, 31)) if f.reminder.kind == "monthly"]
    assert may == [at(2026, 5, 6, 9, 30), at(2026, 5, 6, 10, 0)]  # 劳动节 1-5 May


def uncovered(monkeypatch, year: int, arrangement=None):
    """chinese-calendar as a release would be that lacks `year` (arrangement None) or has it
    (arrangement: the days off of that year)."""
    real = chinese_calendar.is_workday

    def is_workday(day):
        if day.year != year:
            return real(day)
        if arrangement is None:
            raise NotImplementedError(f"no data for {year}")
        return day.weekday() < 5 and day not in arrangement

    monkeypatch.setattr(chinese_calendar, "is_workday", is_workday)


def test_a_chinese_calendar_release_that_covers_2027_takes_over_with_no_code_change(monkeypatch):
    uncovered(monkeypatch, 2027, arrangement=days(2027, "05-03", "05-04", "05-05"))
    plan = seed(dt.date(2027, 3, 1), NOTICE_2027)
    cal = calendar_for(plan)
    assert cal.state(2027) == OFFICIAL and WorkCalendar.official(2027)
    assert not WorkCalendar().is_workday(dt.date(2027, 5, 5)) and WorkCalendar().is_workday(dt.date(2027, 10, 4))
    assert cal.details(2027) == ["plus 34 days listed in the plan or config"]  # the lists still win


def readme_calendars() -> list[dict]:
    """The [calendar] examples in the README, parsed as a plan file would be."""
    text = (APP_ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    return [tomllib.loads(b)["calendar"] for b in blocks if "[calendar]" in b]


def test_the_readme_shows_the_2026_notice_exactly_as_chinese_calendar_has_it_in_both_languages():
    examples = readme_calendars()
    assert len(examples) == 2  # the Chinese part and the English part
    off = {d for d in constants.holidays if d.year == 2026}
    make_up = {d for d in constants.workdays if d.year == 2026 and d.weekday() >= 5}
    for example in examples:
        assert {dt.date.fromisoformat(d) for d in example["holidays"]} == off
        assert {dt.date.fromisoformat(d) for d in example["workdays"]} == make_up


def test_the_readme_example_in_a_year_chinese_calendar_lacks_is_official_by_plan_and_exact(monkeypatch):
    year = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    official = [chinese_calendar.is_workday(d) for d in year]
    uncovered(monkeypatch, 2026)
    plan = seed(dt.date(2026, 3, 1), readme_calendars()[0])
    cal = calendar_for(plan)
    assert cal.state(2026) == BY_PLAN and WorkCalendar().state(2026) == PROVISIONAL
    assert [cal.is_workday(d) for d in year] == official


# --- where dates are shown: the CLI and the scheduler's log -------------------------------------

def test_jobs_names_the_provisional_calendar_of_2027_and_its_days_off(world):
    out = world.cli("jobs", "--now", "2027-03-01T09:00", "--days", "300").output
    assert "calendar 2027: provisional: statutory holidays by rule, make-up workdays unknown" in out, out
    assert "days off by rule: 01-01, 02-05–02-10, 04-05, 05-01–05-04, 06-09, 09-15, 10-01–10-05" in out
    assert "2027-05-05 Wed 09:30  monthly_talk" in out and "2027-05-05 Wed 10:00  party_day" in out
    listed = re.findall(r"^(2027-\d\d-\d\d) ", out, flags=re.M)
    assert listed and not {dt.date.fromisoformat(d) for d in listed} & by_rule(2027)


def test_jobs_lists_2027_as_official_by_plan_once_the_plan_lists_the_notice(make_world, tmp_path):
    text = SEED.read_text(encoding="utf-8").replace(
        "holidays = []\nworkdays = []",
        f"holidays = {NOTICE_2027['holidays']}\nworkdays = {NOTICE_2027['workdays']}".replace("'", '"'))
    (tmp_path / "plan.toml").write_text(text, encoding="utf-8")
    world = make_world(plan=str(tmp_path / "plan.toml"))
    out = world.cli("jobs", "--now", "2026-12-01T09:00", "--days", "300").output
    assert "calendar 2026: official (chinese-calendar)" in out, out
    assert "calendar 2027: official by plan\n  28 holidays and 6 调休 workdays listed for 2027" in out
    assert "2027-05-06 Thu 09:30  monthly_talk" in out and "provisional" not in out


def test_a_push_on_a_2027_holiday_says_when_it_goes_out_and_by_which_calendar(world):
    out = world.cli("push", "--reminder", "monthly_talk", "--dry-run", "--now", "2027-05-04T10:00").output
    assert "not now (not a workday): they would be sent from 2027-05-05 08:30 (calendar 2027: provisional" in out, out


def test_the_scheduler_logs_the_calendar_at_start_up_and_again_only_when_it_changes(make_world, monkeypatch,
                                                                                   caplog):
    from apscheduler.schedulers.blocking import BlockingScheduler

    monkeypatch.setattr(BlockingScheduler, "start", lambda self: None)  # start up, then stop at once
    world = make_world(roster=None, clock=lambda: at(2027, 3, 1, 9, 0))
    caplog.set_level("INFO", logger="tuanjie")
    result = world.cli("scheduler")
    assert result.exit_code == 0 and "scheduler started at 2027-03-01 09:00:00 (Asia/Shanghai)" in result.output, \
        result.output  # a plain log file has no time of its own
    warned = [r for r in caplog.records if r.getMessage().startswith("calendar 2027: provisional")]
    assert len(warned) == 1 and warned[0].levelname == "WARNING"
    jobs = world.app.extensions["tuanjie"].jobs
    caplog.clear()
    jobs.announce(at(2027, 3, 1, 9, 1))  # the next minute's run: unchanged, not said again
    jobs.announce(at(2026, 12, 1, 9, 0))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "calendar 2026: official (chinese-calendar)")]


def test_a_scheduler_started_in_december_also_warns_of_next_years_provisional_calendar(make_world, monkeypatch,
                                                                                        caplog):
    from apscheduler.schedulers.blocking import BlockingScheduler

    monkeypatch.setattr(BlockingScheduler, "start", lambda self: None)
    world = make_world(roster=None, clock=lambda: at(2026, 12, 2, 9, 0))
    caplog.set_level("INFO", logger="tuanjie")
    assert world.cli("scheduler").exit_code == 0
    said = [(r.levelname, r.getMessage().split(" (")[0][:40]) for r in caplog.records
            if r.getMessage().startswith("calendar 20")]
    assert said == [("INFO", "calendar 2026: official"), ("WARNING", "calendar 2027: provisional: statutory ho")]
