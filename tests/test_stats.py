"""Participation maths on a small roster, straight against the domain and the database."""
import datetime as dt

import pytest

from campaign import checkins, stats
from campaign.plan import load_plan
from config import APP_ROOT
from models import CheckIn, Department, Staff, db
from storage.engine import init_database
from storage.migrations import upgrade as create_schema
from tests.conftest import reset_schema

NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture
def plan():
    return load_plan(APP_ROOT / "plans" / "minzu_tuanjie.toml", NOW.date())


@pytest.fixture
def people(db_url):
    reset_schema(db_url)
    init_database(db_url)
    with db.connection_context():
        create_schema()
        a, b = Department.create(name="甲科"), Department.create(name="乙科")
        folks = {}
        for name, dept, status in [("p1", a, "active"), ("p2", a, "active"), ("p3", a, "exempt"),
                                   ("p4", b, "active"), ("p5", b, "active"), ("p6", b, "active")]:
            folks[name] = Staff.create(name=name, phone=f"1390000{len(folks):04d}", department=dept, status=status)
        yield folks


def do(person, plan, *numbers, checklist=None):
    checklist = checklist or plan.main
    for n in numbers:
        checkins.check_in(person, checklist, checklist.item_by_number(n), NOW)


def test_rates_by_department_item_and_overall(people, plan):
    p = people
    do(p["p1"], plan, 1, 2, 3, 4, 5)   # completed
    do(p["p2"], plan, 1)               # participant
    do(p["p3"], plan, 1, 2, 3, 4, 5)   # exempt: counts nowhere
    do(p["p4"], plan, 2, 2)            # the same item twice is one check-in
    rep = stats.report(plan.main, plan.target)
    assert (rep.overall.eligible, rep.overall.participants, rep.overall.completed) == (5, 3, 1)
    assert rep.overall.participation_rate == 0.6 and rep.overall.completion_rate == 0.2
    by_name = {d.name: d for d in rep.departments}
    assert (by_name["甲科"].eligible, by_name["甲科"].participants, by_name["甲科"].completed) == (2, 2, 1)
    assert (by_name["乙科"].eligible, by_name["乙科"].participants, by_name["乙科"].completed) == (3, 1, 0)
    assert [done for _, _, done in rep.items] == [2, 2, 1, 1, 1]
    assert [d.name for d in stats.lowest(rep.departments, 5)] == ["乙科", "甲科"]
    assert {s.name for s in stats.pending_people(plan.main, by_name["乙科"].department_id)} == {"p5", "p6"}


def test_checklists_are_counted_separately(people, plan):
    pairing = plan.checklist("pairing")
    do(people["p4"], plan, 1, checklist=pairing)
    assert stats.report(plan.main, 1.0).overall.participants == 0
    assert stats.report(pairing, 1.0).overall.participants == 1


def test_items_dropped_from_the_plan_count_nowhere(people, plan):
    CheckIn.create(staff=people["p1"], department=people["p1"].department_id, checklist="wuge",
                   item="retired_item", created_at=NOW.replace(tzinfo=None))
    assert stats.report(plan.main, 1.0).overall.participants == 0


def test_empty_roster_reports_zero_not_an_error(db_url, plan):
    reset_schema(db_url)
    init_database(db_url)
    with db.connection_context():
        create_schema()
        rep = stats.report(plan.main, 1.0)
    assert rep.overall.as_dict() == {"eligible": 0, "participants": 0, "completed": 0,
                                     "participation_rate": 0.0, "completion_rate": 0.0}


def test_rates_round_down_so_that_only_everyone_is_100_percent():
    from campaign.stats import pct

    almost = stats.Rate(eligible=100000, participants=99999, completed=2999)
    assert almost.participation_rate == 0.9999 and pct(almost.participation_rate) == "99.9%"
    assert stats.Rate(3000, 2999, 0).participation_rate < 1.0
    assert stats.Rate(100, 29, 0).participation_rate == 0.29 and pct(0.29) == "29%"
    assert stats.Rate(3, 1, 0).participation_rate == 0.3333 and pct(0.3333) == "33.3%"
    assert pct(stats.Rate(7, 7, 7).participation_rate) == "100%"


def test_one_rule_decides_who_counts_in_every_figure(people, plan):
    """Eligible, participants, items and pending agree on who counts (everyone not exempt), for
    the unit and for one department: even for a status the roster would not write, and for an
    exempt person whose check-in row still names an old department."""
    p = people
    do(p["p1"], plan, 1)
    do(p["p3"], plan, 1, 2)            # exempt, in 甲科
    do(p["p4"], plan, 1, 2)
    do(p["p5"], plan, 1, 2, 3, 4, 5)
    Staff.update(status="retired").where(Staff.id == p["p5"].id).execute()  # not exempt: counts
    dept_b = p["p4"].department_id
    CheckIn.update(department=dept_b).where(CheckIn.staff == p["p3"].id).execute()  # a stale copy
    whole, one = stats.report(plan.main, plan.target), stats.report(plan.main, plan.target, dept_b)
    assert (whole.overall.eligible, whole.overall.participants, whole.overall.completed) == (5, 3, 1)
    assert (one.overall.eligible, one.overall.participants, one.overall.completed) == (3, 2, 1)
    assert [done for _, _, done in one.items] == [2, 2, 1, 1, 1]
    assert stats.done_counts(plan.main, dept_b) == {p["p4"].id: 2, p["p5"].id: 5}
    assert [s.name for s in stats.pending_people(plan.main, dept_b)] == ["p6"]
