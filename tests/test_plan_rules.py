"""Plan rules at check-in time: closed checklists, evidence-required items."""
import datetime as dt

from emulator import inbound
from models import CheckIn, Evidence, Staff
from tests.conftest import bind, documented
from tests.test_binding import Clock

PLAN = """
name = "测试"
[[checklists]]
key = "main"
name = "主清单"
main = true
  [[checklists.items]]
  key = "photo"
  name = "交一张合影"
  aliases = ["合影"]
  evidence_required = true
  [[checklists.items]]
  key = "talk"
  name = "讲一次"
[[checklists]]
key = "autumn"
name = "秋季清单"
short = "秋季"
opens = "09-01"
closes = "11-30"
  [[checklists.items]]
  key = "walk"
  name = "走一走"
"""


def world_with_plan(make_world, tmp_path, now):
    (tmp_path / "plan.toml").write_text(PLAN, encoding="utf-8")
    clock = Clock(now)
    world = make_world(plan=str(tmp_path / "plan.toml"), clock=clock)
    bind(world, "13900000002", "o-bob")
    return world, clock


def test_a_closed_checklist_gets_a_clear_reply(make_world, tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    world, clock = world_with_plan(make_world, tmp_path, dt.datetime(2026, 12, 1, 10, tzinfo=tz))
    reply = world.say("o-bob", "秋季 1")
    assert "「秋季清单」不在开放期（9月1日—11月30日）" in reply
    assert CheckIn.select().count() == 0
    clock.now = dt.datetime(2026, 10, 1, 10, tzinfo=tz)
    assert "已记录" in world.say("o-bob", "秋季 1")


def test_an_evidence_item_is_completed_by_the_next_photo(make_world, tmp_path):
    world, _ = world_with_plan(make_world, tmp_path, dt.datetime.now(dt.timezone.utc))
    assert "1 交一张合影（需照片）" in world.say("o-bob", "打卡")  # the list says which items need one
    assert "请在30分钟内直接发送照片或视频" in world.say("o-bob", "合影")
    assert CheckIn.select().count() == 0
    reply = world.send(inbound.image("o-bob", "MEDIA-77"))
    assert reply.startswith("✅ 已记录：交一张合影")
    row = CheckIn.get()
    assert documented() == [("photo", ("MEDIA-77",))] and Evidence.get().kind == "image"
    # More photos sent with it document it too.
    assert world.send(inbound.image("o-bob", "MEDIA-78")) == "照片已作为「交一张合影」的凭证存档。"
    assert documented() == [("photo", ("MEDIA-77", "MEDIA-78"))]
    assert "已记录：讲一次" in world.say("o-bob", "2")  # items without the rule need nothing


def test_a_new_year_is_a_new_campaign_and_last_years_check_ins_are_kept(make_world, tmp_path):
    from config import APP_ROOT

    tz = dt.timezone(dt.timedelta(hours=8))
    clock = Clock(dt.datetime(2026, 12, 30, 10, tzinfo=tz))
    world = make_world(plan=str(APP_ROOT / "plans" / "minzu_tuanjie.toml"), clock=clock)
    bind(world, "13900000002", "o-bob")
    assert "已完成 1/5" in world.say("o-bob", "1")
    clock.now = dt.datetime(2027, 1, 5, 10, tzinfo=tz)  # the same server process, a new year
    assert world.stats()["overall"]["participants"] == 0
    reply = world.say("o-bob", "1")
    assert reply.startswith("✅ 已记录") and "已完成 1/5" in reply
    assert sorted(c.year for c in CheckIn.select()) == [2026, 2027]


def test_the_wait_for_a_photo_ends_with_another_command_an_undo_or_the_window(make_world, tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    world, clock = world_with_plan(make_world, tmp_path, dt.datetime(2026, 5, 11, 10, tzinfo=tz))
    assert "需要凭证" in world.say("o-bob", "1")
    assert "已记录：讲一次" in world.say("o-bob", "2")
    # The photo documents what was just recorded (item 2), not the item asked about before.
    assert world.send(inbound.image("o-bob", "M-2")) == "照片已作为「讲一次」的凭证存档。"
    assert documented() == [("talk", ("M-2",))]
    assert "需要凭证" in world.say("o-bob", "1")
    assert "还没有打卡" in world.say("o-bob", "撤销 1")  # cancelling ends the wait too
    assert "未存为凭证" in world.send(inbound.image("o-bob", "M-3"))
    assert "需要凭证" in world.say("o-bob", "1")
    clock.now += dt.timedelta(minutes=31)  # and so does the window
    assert "未存为凭证" in world.send(inbound.image("o-bob", "M-4"))
    assert [c.item for c in CheckIn.select()] == ["talk"]
    assert "需要凭证" in world.say("o-bob", "1")
    assert world.send(inbound.video("o-bob", "V-1")).startswith("✅ 已记录：交一张合影")  # a video serves too
    assert Evidence.select().order_by(Evidence.id.desc()).get().kind == "video"


def test_a_done_item_asked_about_again_takes_the_next_photo(make_world, tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    world, clock = world_with_plan(make_world, tmp_path, dt.datetime(2026, 5, 11, 10, tzinfo=tz))
    world.say("o-bob", "2")
    clock.now += dt.timedelta(hours=2)
    assert "未存为凭证" in world.send(inbound.image("o-bob", "LATE"))  # too late to belong to the check-in
    reply = world.say("o-bob", "2")
    assert "已打过卡" in reply and "如需补充凭证" in reply
    assert world.send(inbound.image("o-bob", "LATE")) == "照片已作为「讲一次」的凭证存档。"
    assert "如需补充凭证" not in world.say("o-bob", "2")  # it has one now
    assert world.say("o-bob", "撤销 2").endswith("（凭证一并删除）")


def test_a_closed_checklist_lists_its_dates_instead_of_inviting_check_ins(make_world, tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    world, _ = world_with_plan(make_world, tmp_path, dt.datetime(2026, 5, 11, 10, tzinfo=tz))
    listing = world.say("o-bob", "秋季")
    assert listing.endswith("本清单开放时间：9月1日—11月30日，届时再打卡") and "回复「秋季 序号」" not in listing
    assert "暂不能撤销" in world.say("o-bob", "撤销 秋季 1")


def test_a_photo_goes_to_what_came_last_the_awaited_item_or_a_check_in(make_world, tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    world, clock = world_with_plan(make_world, tmp_path, dt.datetime(2026, 5, 11, 10, tzinfo=tz))
    minute = dt.timedelta(minutes=1)
    world.say("o-bob", "2")
    clock.now += minute
    assert "需要凭证" in world.say("o-bob", "1")
    clock.now += minute
    assert "没看懂" in world.say("o-bob", "好的")  # chat, or a look at the progress, changes nothing
    world.send(inbound.event("o-bob", "CLICK", "PROGRESS"))
    assert world.send(inbound.image("o-bob", "P1")).startswith("✅ 已记录：交一张合影")
    # A second photo sent with it documents the same item: not the check-in from before the wait.
    assert world.send(inbound.image("o-bob", "P1b")) == "照片已作为「交一张合影」的凭证存档。"
    assert documented() == [("photo", ("P1", "P1b")), ("talk", ())]
    # Asked again about a done item that has no photo: the next photo documents it.
    clock.now += 10 * minute
    world.say("o-bob", "撤销 1")
    assert "如需补充凭证" in world.say("o-bob", "2")
    assert world.send(inbound.image("o-bob", "P2")) == "照片已作为「讲一次」的凭证存档。"


def test_a_wait_from_last_year_is_over(make_world, tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    world, clock = world_with_plan(make_world, tmp_path, dt.datetime(2026, 12, 31, 23, 45, tzinfo=tz))
    world.say("o-bob", "2")
    clock.now = dt.datetime(2026, 12, 31, 23, 50, tzinfo=tz)
    assert "需要凭证" in world.say("o-bob", "1")
    clock.now = dt.datetime(2027, 1, 1, 0, 5, tzinfo=tz)
    assert "未存为凭证" in world.send(inbound.image("o-bob", "P1"))  # nor is last year's check-in before it
    assert documented() == [("talk", ())]


def test_a_photo_after_a_check_in_of_an_item_since_removed_from_the_plan_is_no_crash(make_world, tmp_path):
    tz = dt.timezone(dt.timedelta(hours=8))
    world, clock = world_with_plan(make_world, tmp_path, dt.datetime(2026, 5, 11, 10, tzinfo=tz))
    world.say("o-bob", "2")
    CheckIn.update(item="dropped").execute()  # as if the plan had lost the item since
    assert "未存为凭证" in world.send(inbound.image("o-bob", "P1"))
