"""A bare number or item name refers to the checklist just shown, for a few minutes and until
another command; more than one item in a message gets the one-at-a-time answer, however named."""
from __future__ import annotations

import datetime as dt

from config import load_config
from emulator import inbound
from models import CheckIn
from tests.conftest import bind
from tests.test_binding import Clock


def chat(make_world):
    clock = Clock(dt.datetime(2026, 6, 1, 10, 0, tzinfo=load_config(environ={}).tz))
    world = make_world(clock=clock)
    bind(world, "13900000002", "o-bob")
    return world, clock


def done() -> set[tuple[str, str]]:
    return {(c.checklist, c.item) for c in CheckIn.select()}


def test_a_bare_number_after_a_listed_checklist_records_its_item_and_names_it(make_world):
    world, _ = chat(make_world)
    assert "结对认亲" in world.say("o-bob", "结对")
    reply = world.say("o-bob", "3")
    assert "交换一次礼物" in reply and "「结对认亲」已完成 1/6" in reply, reply
    assert "「结对认亲」已完成 2/6" in world.say("o-bob", "4")  # still that list: the person works through it
    assert done() == {("pairing", "gift"), ("pairing", "meal")}


def test_another_command_or_a_few_minutes_end_the_listed_checklist(make_world):
    world, clock = chat(make_world)
    world.say("o-bob", "结对")
    world.say("o-bob", "进度")
    assert "「五个一」已完成 1/5" in world.say("o-bob", "3")
    world.say("o-bob", "结对")
    clock.now += dt.timedelta(minutes=6)
    assert "「五个一」已完成 2/5" in world.say("o-bob", "4")
    world.say("o-bob", "结对")
    world.send(inbound.event("o-bob", "CLICK", "CHECKIN"))  # the menu shows the main list
    assert "「五个一」已完成 3/5" in world.say("o-bob", "5")
    assert done() == {("wuge", "letter"), ("wuge", "story"), ("wuge", "tree")}


def test_a_word_only_the_main_list_has_still_means_the_main_list(make_world):
    world, _ = chat(make_world)
    world.say("o-bob", "结对")
    assert "共照一张全家福" in world.say("o-bob", "全家福")
    assert "写一封信" in world.say("o-bob", "写信")  # both lists have it: the one shown wins
    assert done() == {("wuge", "family_photo"), ("pairing", "letter")}


def test_two_item_names_in_one_message_get_the_one_at_a_time_answer(make_world):
    world, _ = chat(make_world)
    numbers = world.say("o-bob", "打卡 1 2")
    assert world.say("o-bob", "打卡 全家福 书信") == numbers
    assert world.say("o-bob", "全家福、书信") == numbers
    assert world.say("o-bob", "打卡 全家福书信") == numbers
    assert "一次记录一项" in numbers
    # Two names of one item are not two items.
    assert "✅ 已记录：走一次亲" in world.say("o-bob", "结对 走亲 走访")
    assert done() == {("pairing", "visit")}
