"""Schedules as pure functions of time: the Chinese work calendar, quiet hours, occurrences."""
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from campaign.plan import load_plan, parse_plan
from config import APP_ROOT
from schedules.occurrences import calendar_for, days_of, is_quiet, occurrences
from schedules.workdays import OFFICIAL, PROVISIONAL, WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
SEED = APP_ROOT / "plans" / "minzu_tuanjie.toml"
QUIET = (dt.time(20, 0), dt.time(8, 30))


@pytest.fixture
def plan():
    return load_plan(SEED, dt.date(2026, 12, 1))


def at(*args):
    return dt.datetime(*args, tzinfo=TZ)


def test_a_month_starting_on_a_holiday_prompts_on_its_first_workday(plan):
    cal = calendar_for(plan)
    talk = plan.reminder("monthly_talk")
    days = dict(days_of(plan, talk, cal)).keys()
    assert dt.date(2026, 10, 8) in days  # 国庆: 1-7 October off
    assert not any(d.month == 10 and d.day < 8 for d in days)
    assert cal.first_workday(2026, 1) == dt.date(2026, 1, 4)  # 元旦 1-3 off, Sunday 4th is a 调休 workday


def test_a_tiaoxiu_saturday_is_a_workday_and_an_ordinary_saturday_is_not():
    cal = WorkCalendar()
    assert cal.is_workday(dt.date(2026, 10, 10))  # make-up Saturday
    assert not cal.is_workday(dt.date(2026, 10, 17))
    assert not is_quiet(at(2026, 10, 10, 10, 0), QUIET, cal)
    assert is_quiet(at(2026, 10, 17, 10, 0), QUIET, cal)


def test_a_saturday_nudge_fires_only_on_make_up_saturdays(plan):
    raw = {"name": "p", "phases": [{"key": "implement", "name": "实施", "start": "04-11", "end": "12-20"}],
           "checklists": [{"key": "a", "name": "A", "main": True, "items": [{"key": "x", "name": "X"}]}],
           "reminders": [{"key": "sat", "kind": "nudge", "weekday": 6, "phases": ["implement"], "checklist": "a",
                          "title": "t", "text": "x"}]}
    p = parse_plan(raw, "p.toml", dt.date(2026, 6, 1))
    days = [d for d, _ in days_of(p, p.reminders[0], calendar_for(p))]
    assert days == [dt.date(2026, 5, 9), dt.date(2026, 9, 20), dt.date(2026, 10, 10)]  # 调休 weekend days


def test_the_seed_nudge_comes_every_other_week_and_every_week_in_the_last_30_days(plan):
    days = [d for d, _ in days_of(plan, plan.reminder("nudge_wuge"), calendar_for(plan))]
    assert days[:4] == [dt.date(2026, 4, 22), dt.date(2026, 5, 6), dt.date(2026, 5, 20), dt.date(2026, 6, 3)]
    # Counted back from the last one (16 December), which reaches everyone pending.
    assert days[-6:] == [dt.date(2026, 11, 4), dt.date(2026, 11, 18), dt.date(2026, 11, 25), dt.date(2026, 12, 2),
                         dt.date(2026, 12, 9), dt.date(2026, 12, 16)]


def test_weekly_nudge_moves_off_a_holiday_within_its_week(plan):
    nudge = plan.reminder("nudge_wuge")  # Wednesdays
    days = [d for d, _ in days_of(plan, nudge, calendar_for(plan))]
    assert dt.date(2026, 10, 8) in days  # Wednesday 7 October is 国庆: Thursday the 8th instead
    assert dt.date(2026, 10, 7) not in days
    assert all(d.weekday() == 2 or not WorkCalendar().is_workday(d - dt.timedelta(days=d.weekday() - 2))
               for d in days)
    assert min(days) >= dt.date(2026, 4, 11) and max(days) <= dt.date(2026, 12, 20)


@pytest.mark.parametrize("moment, quiet", [
    (at(2026, 12, 1, 10, 0), False),
    (at(2026, 12, 1, 8, 29), True),
    (at(2026, 12, 1, 8, 30), False),
    (at(2026, 12, 1, 19, 59), False),
    (at(2026, 12, 1, 20, 0), True),
    (at(2026, 12, 1, 23, 30), True),
    (at(2026, 12, 5, 10, 0), True),  # Saturday
    (at(2026, 10, 1, 10, 0), True),  # 国庆
])
def test_quiet_hours_and_days_off(moment, quiet):
    assert is_quiet(moment, QUIET, WorkCalendar()) is quiet


def test_a_year_without_official_data_is_provisional_and_takes_extras():
    cal = WorkCalendar(extra_holidays=frozenset({dt.date(2027, 1, 4)}),
                       extra_workdays=frozenset({dt.date(2027, 1, 9)}))
    assert not WorkCalendar.official(2027) and WorkCalendar().state(2027) == PROVISIONAL
    assert WorkCalendar().state(2026) == OFFICIAL
    assert not WorkCalendar().is_workday(dt.date(2027, 1, 1))  # 元旦, a Friday: off by rule
    assert WorkCalendar().is_workday(dt.date(2027, 1, 4))  # an ordinary Monday
    assert not cal.is_workday(dt.date(2027, 1, 4))  # listed holiday wins
    assert cal.is_workday(dt.date(2027, 1, 9))  # listed make-up Saturday wins
    assert cal.first_workday(2027, 1) == dt.date(2027, 1, 5)


def test_occurrences_in_a_range_are_ordered_and_keyed_by_day(plan):
    found = occurrences(plan, calendar_for(plan), TZ, at(2026, 11, 30), at(2026, 12, 3))
    assert [(o.key, o.due.hour) for o in found] == [("monthly_talk@2026-12-01", 9), ("nudge_wuge@2026-12-02", 10)]


def test_phase_reminders_name_their_phase(plan):
    found = occurrences(plan, calendar_for(plan), TZ, at(2026, 1, 1), at(2026, 12, 31), only="phase_start")
    assert [(o.due.date(), o.phase) for o in found] == [
        (dt.date(2026, 3, 23), "mobilise"),  # 21 March is a Saturday
        (dt.date(2026, 4, 1), "plan"), (dt.date(2026, 4, 13), "implement"), (dt.date(2026, 12, 21), "summary")]


@pytest.mark.parametrize("change, field", [
    ({"kind": "weekly"}, "reminders[0].kind"),
    ({"title": "一" * 21}, "reminders[0].title"),
    ({"time": "25:00"}, "reminders[0].time"),
    ({"channel": "sms"}, "reminders[0].channel"),
    ({"checklist": "nope"}, "reminders[0].checklist"),
    ({"phases": []}, "reminders[0].phases"),
    ({"weekday": 8}, "reminders[0].weekday"),
    ({"kind": "monthly", "every_weeks": 2}, "reminders[0].every_weeks"),  # only a nudge has a cadence
    ({"every_weeks": 9}, "reminders[0].every_weeks"),
    ({"weekly_last_days": -1}, "reminders[0].weekly_last_days"),
    ({"kind": "digest", "audience": "all"}, "reminders[0].audience"),  # a digest goes to leaders
    ({"kind": "digest", "text": "{left}"}, "reminders[0].text"),  # a digest's placeholders are its own
])
def test_reminder_errors_name_the_field(change, field):
    from campaign.plan import PlanError

    raw = {"name": "p", "phases": [{"key": "implement", "name": "实施", "start": "04-11", "end": "12-20"}],
           "checklists": [{"key": "a", "name": "A", "main": True, "items": [{"key": "x", "name": "X"}]}],
           "reminders": [{"key": "n", "kind": "nudge", "phases": ["implement"], "checklist": "a", "title": "t",
                          "text": "x", **change}]}
    with pytest.raises(PlanError) as err:
        parse_plan(raw, "p.toml", dt.date(2026, 6, 1))
    assert err.value.field == field
