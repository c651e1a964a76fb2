"""One plan source per process: the web app and the scheduler read the same cached plan, and an
edited plan file is read again without a restart; a broken edit keeps the last good plan."""
from __future__ import annotations

import datetime as dt
import os
import shutil

from campaign.plan import PlanSource
from config import APP_ROOT
from tests.conftest import bind

SEED = APP_ROOT / "plans" / "minzu_tuanjie.toml"


def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    stat = path.stat()  # a later mtime even on a coarse clock: the change must be seen
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_an_edited_plan_is_read_again_and_a_broken_one_is_not_used(tmp_path, caplog):
    path = tmp_path / "plan.toml"
    shutil.copy(SEED, path)
    source = PlanSource(path)
    day = dt.date(2026, 5, 6)
    first = source.on(day)
    assert source.on(day) is first  # cached: not parsed again
    edit(path, 'name = "共照一张全家福"', 'name = "共照一张合影全家福"')
    assert source.on(day).main.items[0].name == "共照一张合影全家福"
    good = source.on(day)
    edit(path, 'target = 1.0', 'target = 7')
    assert source.on(day) is good
    assert "cannot be used" in caplog.text and "target" in caplog.text


def test_the_chat_follows_an_edited_plan_without_a_restart(make_world, tmp_path):
    path = tmp_path / "plan.toml"
    shutil.copy(SEED, path)
    world = make_world(plan=str(path))
    bind(world, "13900000002", "o-bob")
    assert "共照一张全家福" in world.say("o-bob", "打卡")
    edit(path, 'name = "共照一张全家福"', 'name = "共照一张团结全家福"')
    assert "共照一张团结全家福" in world.say("o-bob", "打卡")


def test_the_scheduler_and_the_web_app_share_one_plan_source(world):
    rt = world.app.extensions["tuanjie"]
    assert rt.jobs.plans is rt.plans
    now = rt.clock()
    assert rt.jobs.plan(now) is rt.plan_on(now.date())
