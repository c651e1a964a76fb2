"""集体打卡: a leader (own department) or an organiser (naming one) records one activity and
credits everyone listed, after confirming; names are never guessed; a photo documents them all;
the activity is undone whole. Collective checklists count departments, half-year ones each half."""
from __future__ import annotations

import datetime as dt

import requests

from config import load_config
from emulator import inbound
from models import Activity, CheckIn, CheckInEvidence
from tests.conftest import API_TOKEN, ROSTER, bind, documented
from tests.test_binding import Clock

ROSTER_WITH_NAMESAKES = ROSTER + "王伟,组织科,13900000013,staff,\n王伟,组织科,13900000014,staff,\n"


def leader_world(make_world, when=dt.datetime(2026, 12, 2, 10, 0), roster=ROSTER_WITH_NAMESAKES):
    clock = Clock(when.replace(tzinfo=load_config(environ={}).tz))
    world = make_world(roster=roster, clock=clock)
    bind(world, "13900000011", "o-dave")  # Dave leads 组织科: Dave, Erin and the two 王伟
    return world, clock


def credited() -> list[tuple[str, str, int | None]]:
    return sorted((c.staff.name, c.item, c.activity_id) for c in CheckIn.select())


def test_a_leader_credits_the_whole_department_after_confirming(make_world):
    world, _ = leader_world(make_world)
    start = world.say("o-dave", "集体打卡 1")
    assert start.startswith("集体打卡：组织科「共照一张全家福」") and "本部门 4 人" in start, start
    proposal = world.say("o-dave", "全部")
    assert "将记入 4 人：Dave、Erin、王伟、王伟" in proposal and "确认" in proposal, proposal
    assert CheckIn.select().count() == 0  # nothing is written before the leader confirms
    done = world.say("o-dave", "确认")
    number = Activity.get().id
    assert done.startswith(f"已记入：组织科「共照一张全家福」4 人（集体打卡 {number} 号）"), done
    assert [c[0] for c in credited()] == ["Dave", "Erin", "王伟", "王伟"] and all(c[2] == number for c in credited())
    assert world.send(inbound.image("o-dave", "GROUP")) == \
        "照片已作为集体打卡「共照一张全家福」的凭证存档，记入的每个人都有了这份凭证。"
    assert [pieces for _, pieces in documented()] == [("GROUP",)] * 4
    bind(world, "13900000012", "o-erin")
    assert "「五个一」已完成 1/5" in world.say("o-erin", "进度")  # credited, and told nothing else


def test_names_that_match_nobody_or_several_are_reported_and_never_guessed(make_world):
    world, _ = leader_world(make_world)
    world.say("o-dave", "集体打卡 2")
    proposal = world.say("o-dave", "王伟 张三、Erin")
    assert "将记入 1 人：Erin" in proposal and "本部门没有：张三" in proposal, proposal
    assert "有 2 人叫王伟（13900000013、13900000014）" in proposal
    assert "将记入 2 人：Erin、王伟" in world.say("o-dave", "Erin 13900000014")  # a phone picks one
    world.say("o-dave", "确认")
    assert credited() == [("Erin", "festival", Activity.get().id), ("王伟", "festival", Activity.get().id)]
    assert sorted(c.staff.phone for c in CheckIn.select()) == ["13900000012", "13900000014"]  # that 王伟


def test_people_already_done_keep_their_own_check_in_and_gain_the_evidence(make_world):
    world, _ = leader_world(make_world)
    bind(world, "13900000012", "o-erin")
    world.say("o-erin", "1")
    world.say("o-dave", "集体打卡 1")
    assert "已打过卡的 1 人保留原记录并补充凭证：Erin" in world.say("o-dave", "Dave Erin")
    world.say("o-dave", "确认")
    world.send(inbound.image("o-dave", "GROUP"))
    own = CheckIn.get(CheckIn.activity.is_null())
    assert own.staff.name == "Erin" and own.evidence_count == 1
    number = Activity.get().id
    assert world.say("o-dave", f"撤销集体 {number}") == f"已撤销集体打卡 {number} 号：组织科「共照一张全家福」。"
    assert credited() == [("Erin", "family_photo", None)]  # hers is kept; the photo no longer documents it
    assert CheckIn.get().evidence_count == 0 and CheckInEvidence.select().count() == 0


def test_only_leaders_for_their_own_and_organisers_naming_one_may_record(make_world):
    world, _ = leader_world(make_world)
    bind(world, "13900000001", "o-alice")  # organiser
    bind(world, "13900000012", "o-erin")
    assert world.say("o-erin", "集体打卡 1") == "集体打卡仅限部门负责人（本部门）和组织者。"
    assert world.say("o-dave", "集体打卡 办公室 1") == "部门负责人只能为本部门集体打卡。"
    assert world.say("o-alice", "集体打卡 1").startswith("请写明部门")
    assert world.say("o-alice", "集体打卡 宣传科 结对 2").startswith("集体打卡：宣传科「走一次亲」")
    world.say("o-alice", "全部")
    world.say("o-alice", "确认")
    assert credited() == [("Frank", "visit", Activity.get().id)]
    assert world.say("o-dave", f"撤销集体 {Activity.get().id}").startswith("只能撤销自己记录的")
    assert world.say("o-dave", "撤销集体 99").startswith("没有编号为 99 的集体打卡")
    assert world.say("o-alice", "取消") == "「五个一」还没有打卡记录，无需撤销。"  # no draft: the usual 取消


def test_a_draft_can_be_cancelled_and_writes_nothing(make_world):
    world, _ = leader_world(make_world)
    world.say("o-dave", "集体打卡 3")
    world.say("o-dave", "全部")
    assert world.say("o-dave", "取消") == "已取消这次集体打卡，没有记入任何人。"
    assert world.say("o-dave", "确认") == "没看懂这条消息。回复「帮助」查看可用指令。"  # the draft is gone
    assert CheckIn.select().count() == 0 and Activity.select().count() == 0


def test_a_collective_checklist_is_recorded_together_and_counts_departments(make_world):
    world, _ = leader_world(make_world)
    bind(world, "13900000012", "o-erin")
    assert world.say("o-erin", "党日 1") == "「主题党日」由部门负责人集体打卡，请联系本部门负责人。"
    world.say("o-dave", "集体打卡 党日 1")
    world.say("o-dave", "Dave Erin")
    world.say("o-dave", "确认")
    stats = requests.get(f"{world.base}/api/stats", params={"checklist": "party_day"},
                         headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10).json()
    assert stats["counts"] == "departments" and stats["checklist"]["half"] == 2
    assert (stats["overall"]["eligible"], stats["overall"]["participants"]) == (3, 1)  # three departments
    assert stats["items"][0]["done"] == 1
    assert "✅1 观看一部民族团结教育影片" in world.say("o-erin", "党日")  # her department's list
    assert {c.checklist for c in CheckIn.select()} == {"party_day@h2"}


def test_each_half_year_of_a_half_year_checklist_counts_on_its_own(make_world):
    world, clock = leader_world(make_world, when=dt.datetime(2026, 6, 15, 10, 0))
    for word in ("集体打卡 党日 1", "全部", "确认"):
        world.say("o-dave", word)
    first = world.stats(checklist="party_day")
    assert first["overall"]["participants"] == 1 and first["checklist"]["half"] == 1
    clock.now = clock.now.replace(month=7, day=15)
    second = world.stats(checklist="party_day")
    assert second["overall"]["participants"] == 0 and second["checklist"]["half"] == 2
    assert "⬜1 观看一部民族团结教育影片" in world.say("o-dave", "党日")


def test_a_leader_naming_a_collective_item_is_shown_how_to_record_it_for_the_department(make_world):
    world, _ = leader_world(make_world)
    assert world.say("o-dave", "七个一 2") == "「七个一」按部门集体记：发「集体打卡 七个一 2」，再回复参加人员。"
