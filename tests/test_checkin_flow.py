"""Staff check in over the webhook (safe mode, wechatpy-encrypted), organisers read the API."""
from emulator import inbound
from models import CheckIn
from tests.conftest import bind


def test_unbound_user_is_told_how_to_bind(world):
    reply = world.say("o-stranger", "打卡")
    assert reply.count("\n") == 1
    assert "绑定" in reply


def test_bound_user_checks_in_and_sees_it_in_stats(world):
    bind(world, "13900000002", "o-bob")
    listing = world.say("o-bob", "打卡")
    assert "⬜1 共照一张全家福" in listing and "已完成 0/5" in listing

    assert world.say("o-bob", "打卡 1").startswith("✅ 已记录：共照一张全家福\n「五个一」已完成 1/5")
    assert "已完成 2/5" in world.say("o-bob", "2")
    assert "已完成 3/5" in world.say("o-bob", "写信")
    assert "已打过卡" in world.say("o-bob", "全家福")
    assert "✅1" in world.say("o-bob", "打卡") and "⬜4" in world.say("o-bob", "打卡")

    s = world.stats()
    assert s["overall"]["participants"] == 1
    assert s["overall"]["eligible"] == 5  # Carol is exempt
    office = next(d for d in s["departments"] if d["name"] == "办公室")
    assert (office["eligible"], office["participants"], office["completed"]) == (2, 1, 0)
    assert {i["key"]: i["done"] for i in s["items"]} == {
        "family_photo": 1, "festival": 1, "letter": 1, "story": 0, "tree": 0}


def test_undo_removes_only_my_own_check_in(world):
    bind(world, "13900000002", "o-bob")
    bind(world, "13900000012", "o-erin")
    world.say("o-bob", "1")
    world.say("o-erin", "1")
    assert world.say("o-bob", "撤销 1").startswith("已撤销：共照一张全家福")
    assert "还没有打卡" in world.say("o-bob", "撤销 1")
    assert world.stats()["items"][0]["done"] == 1


def test_other_checklists_are_addressed_by_short_name(world):
    bind(world, "13900000002", "o-bob")
    reply = world.say("o-bob", "结对 2")
    assert "走一次亲" in reply and "「结对认亲」已完成 1/6" in reply
    assert world.stats()["overall"]["participants"] == 0
    pairing = world.stats(checklist="pairing")
    assert pairing["overall"]["participants"] == 1 and pairing["checklist"]["name"] == "结对认亲"
    assert world.stats(checklist="结对") == pairing  # the API takes the chat's words too
    assert "「结对认亲」打卡" in world.say("o-bob", "结对")


def test_completing_every_item_says_so_and_counts_as_completed(world):
    bind(world, "13900000021", "o-frank")
    for n in range(1, 5):
        world.say("o-frank", str(n))
    assert "全部完成" in world.say("o-frank", "5")
    s = world.stats()
    assert s["overall"]["completed"] == 1
    assert s["overall"]["completion_rate"] == round(1 / 5, 4)


def test_menu_clicks_and_help(world):
    bind(world, "13900000002", "o-bob")
    assert "「五个一」打卡" in world.send(inbound.event("o-bob", "CLICK", "CHECKIN"))
    assert "Bob的进度" in world.send(inbound.event("o-bob", "CLICK", "PROGRESS"))
    assert "撤销" in world.send(inbound.event("o-bob", "CLICK", "HELP"))
    assert "撤销" in world.say("o-bob", "帮助")
    assert "帮助" in world.say("o-bob", "今天天气不错")


def test_progress_shows_department_rate(world):
    bind(world, "13900000002", "o-bob")
    world.say("o-bob", "1")
    reply = world.say("o-bob", "进度")
    assert "「五个一」已完成 1/5" in reply
    assert "本部门「五个一」参与率 50%（1/2）" in reply


def test_organiser_and_leader_stats_and_refusal(world):
    bind(world, "13900000001", "o-alice")
    bind(world, "13900000011", "o-dave")
    bind(world, "13900000012", "o-erin")
    world.say("o-erin", "1")
    organiser = world.say("o-alice", "统计")
    assert "参与率 20%（1/5）" in organiser and "最低的部门" in organiser
    assert organiser.index("宣传科") < organiser.index("组织科")  # 0% before 50%
    leader = world.say("o-dave", "统计")
    assert "组织科" in leader and "（1/2）" in leader and "Dave" in leader and "Erin" not in leader
    assert "仅对组织者" in world.say("o-erin", "统计")


def test_photo_after_check_in_is_kept_as_evidence(world):
    bind(world, "13900000002", "o-bob")
    assert "凭证" in world.send(inbound.image("o-bob", "MEDIA1"))  # nothing to attach yet
    world.say("o-bob", "1")
    assert "全家福" in world.send(inbound.image("o-bob", "MEDIA2"))
    from tests.conftest import documented

    assert documented() == [("family_photo", ("MEDIA2",))]


def test_subscribe_with_code_binds(world):
    out = world.tmp / "codes.csv"
    assert world.cli("bind-codes", "--out", str(out)).exit_code == 0
    import csv

    code = next(r["code"] for r in csv.DictReader(out.open(encoding="utf-8-sig")) if r["name"] == "Frank")
    reply = world.send(inbound.event("o-frank", "subscribe", f"qrscene_{code}"))
    assert reply.startswith("绑定成功：宣传科 Frank")
    assert "已完成 1/5" in world.say("o-frank", "1")


def test_voice_and_typed_variants_reach_the_same_commands(world):
    bind(world, "13900000002", "o-bob")
    assert "已记录：共度一个节庆日" in world.send(inbound.voice("o-bob", "V1", "打卡2。"))
    assert "已记录：共照一张全家福" in world.say("o-bob", "全家福。")
    assert "已记录：互写一封书信" in world.send(inbound.voice("o-bob", "V2", "打卡三！"))
    assert "Bob的进度" in world.send(inbound.voice("o-bob", "V3", "进度？"))
    # A voice message that is no command, just after a check-in, documents it; with nothing
    # to document it gets a hint.
    assert world.send(inbound.voice("o-bob", "V4")) == "语音已作为「互写一封书信」的凭证存档。"
    assert world.send(inbound.voice("o-bob", "V5", "。")) == "语音已作为「互写一封书信」的凭证存档。"
    bind(world, "13900000012", "o-erin")
    assert world.send(inbound.voice("o-erin", "V9")) == "没听清这条语音，请发文字，如「打卡 1」。"
    assert "已记录：共讲一个团结故事" in world.send(inbound.voice("o-bob", "V6", "打卡，4。"))
    assert "已记录" in world.send(inbound.voice("o-bob", "V7", "结对，1。"))
    assert "撤销" in world.say("o-bob", "？")  # a question mark alone still asks for help
    assert "共 5 项" in world.send(inbound.voice("o-bob", "V8", "打卡十二"))
    from models import Evidence

    assert Evidence.select().where(Evidence.kind == "voice").count() == 2  # V4 and V5


def test_replies_to_near_misses_say_what_to_send(world):
    bind(world, "13900000002", "o-bob")
    assert world.say("o-bob", "打卡 1 2") == "一次记录一项，请分开发送，如「打卡 1」。"
    assert world.say("o-bob", "1、2") == "一次记录一项，请分开发送，如「打卡 1」。"
    assert world.say("o-bob", "6") == "「五个一」共 5 项，请回复 1—5 的序号，如「打卡 1」。"
    assert "共 5 项" in world.say("o-bob", "撤销 9")
    # Hints for another list name that list.
    assert world.say("o-bob", "结对 1 2") == "一次记录一项，请分开发送，如「结对 1」。"
    assert world.say("o-bob", "撤销 结对 9").endswith("如「撤销 结对 1」。")
    assert world.say("o-bob", "走亲") == "「走亲」在「结对认亲」里，请回复「结对 走亲」。"
    assert world.say("o-bob", "撤销") == "「五个一」还没有打卡记录，无需撤销。"
    world.say("o-bob", "3")
    assert world.say("o-bob", "撤销") == "请回复「撤销 序号」，如「撤销 3」。"
    assert CheckIn.select().count() == 1


def test_an_exempt_person_is_told_their_check_ins_do_not_count(world):
    bind(world, "13900000002", "o-bob")
    (world.tmp / "leave.csv").write_text("姓名,部门,手机号,状态\nBob,办公室,13900000002,请假\n", encoding="utf-8")
    assert world.cli("import-staff", str(world.tmp / "leave.csv")).exit_code == 0
    reply = world.say("o-bob", "1")
    assert reply.startswith("✅ 已记录") and reply.endswith("你目前为免除人员，打卡会保留，但不计入统计。")
    assert world.say("o-bob", "进度").endswith("但不计入统计。")
    assert world.stats()["overall"]["participants"] == 0


def test_help_names_stats_for_those_who_may_use_it_and_stats_says_when_all_met(world):
    bind(world, "13900000001", "o-alice")
    bind(world, "13900000002", "o-bob")
    organiser_help = world.say("o-alice", "帮助")
    assert "统计：全单位参与情况（统计 结对：其他清单）" in organiser_help and "集体打卡 1：为任一部门记" in organiser_help
    assert "统计" not in world.say("o-bob", "帮助") and "集体打卡" not in world.say("o-bob", "帮助")
    for phone, openid in (("13900000011", "o-dave"), ("13900000012", "o-erin"), ("13900000021", "o-frank")):
        bind(world, phone, openid)
    for openid in ("o-alice", "o-bob", "o-dave", "o-erin", "o-frank"):
        world.say(openid, "1")
    reply = world.say("o-alice", "统计")
    assert "参与率 100%（5/5）" in reply and reply.endswith("各部门参与率均已达到目标。") and "最低" not in reply


def test_stats_of_another_checklist_by_its_name(world):
    bind(world, "13900000001", "o-alice")
    bind(world, "13900000011", "o-dave")
    bind(world, "13900000012", "o-erin")
    world.say("o-erin", "结对 1")
    assert world.say("o-alice", "统计 结对").startswith("「结对认亲」参与率 20%（1/5）")
    assert world.say("o-alice", "统计").startswith("「五个一」参与率 0%（0/5）")
    assert world.say("o-dave", "统计 结对").startswith("组织科「结对认亲」参与率 50%（1/2）")
    assert world.say("o-alice", "统计 春游").startswith("没有「春游」清单。可统计：五个一、结对")
    assert world.say("o-alice", "统计：结对。").startswith("「结对认亲」参与率")  # as voice writes it
    assert "仅对组织者" in world.say("o-erin", "统计 结对")
    assert "仅对组织者" in world.say("o-erin", "统计 春游")
    assert "Erin的进度" in world.say("o-erin", "进度 结对")
