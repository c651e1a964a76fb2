"""What the dashboard's pages show and do, over HTTP: the overview's figures, a department's
pending people and its 催办, notices, the evidence gallery, the roster and binding slips."""
from __future__ import annotations

import datetime as dt
import re

import pytest
import requests

from models import Occurrence, Outbox, Staff, db
from tests.dashboard_world import LEADER, ORGANISER, OTHER_STAFF, STAFF, dash, department_id, open_dashboard  # noqa: F401
from tests.test_dashboard_login import at
from tests.test_media import fetch, jpeg, upload
from emulator import inbound

WORKDAY = (2026, 6, 2, 10, 0)  # a Tuesday in 组织实施


def sent(dash) -> list[dict]:
    calls = dash.emu.call("GET", "/_emu/calls", params={"endpoint": "message/template/send"}).json()["calls"]
    return [c["json"] for c in calls if c["errcode"] == 0]


def send_outbox(dash) -> None:
    result = dash.world.cli("run-job", "send")
    assert result.exit_code == 0, result.output


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_overviews_figures_are_those_of_the_api(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY))
    from campaign.stats import pct

    dash.world.say(STAFF[1], "打卡 1")
    for item in "12345":
        dash.world.say(OTHER_STAFF[1], f"打卡 {item}")
    page = text_of(dash.get(dash.as_person(ORGANISER[1]), "/dashboard/").text)
    api = dash.world.stats()
    overall = api["overall"]
    assert (overall["participants"], overall["completed"], overall["eligible"]) == (2, 1, 5)
    assert f"参与率 {pct(overall['participation_rate'])} （2/5 人）" in page
    assert f"完成率 {pct(overall['completion_rate'])} （1/5）" in page
    for d in api["departments"]:
        assert f"{d['name']} {pct(d['participation_rate'])} {pct(d['completion_rate'])} {d['eligible']}" in page


def test_a_leader_sees_only_their_department_and_no_other_names(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY))
    leader = dash.as_person(LEADER[1])
    overview = dash.get(leader, "/dashboard/").text
    assert "组织科" in overview and "办公室" not in overview and "宣传科" not in overview
    pending = dash.get(leader, "/dashboard/pending").text  # no department named: their own
    assert "Erin" in pending and "Bob" not in pending
    assert dash.get(leader, f"/dashboard/pending?department={department_id('办公室')}").status_code == 403


def test_pending_lists_who_has_not_completed_and_what_each_has_left(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY))
    dash.world.say(STAFF[1], "打卡 1")
    page = text_of(dash.get(dash.as_person(ORGANISER[1]), f"/dashboard/pending?department={department_id('办公室')}").text)
    assert "Bob" in page and "Alice" in page and "Carol" not in page  # Carol is exempt
    bob = page[page.index("Bob"):page.index("Bob") + 80]
    assert "共照一张全家福" not in bob and "2 人未完成（1 人尚未参与）" in page


def test_one_press_of_urge_nudges_exactly_the_pending_once_a_day(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY))
    for item in "12345":
        dash.world.say(OTHER_STAFF[1], f"打卡 {item}")  # Erin has completed: not nudged
    leader = dash.as_person(LEADER[1])
    org = department_id("组织科")
    assert dash.post(leader, "/dashboard/urge", {"department": org, "checklist": "wuge"}).status_code == 302
    assert dash.post(leader, "/dashboard/urge", {"department": org, "checklist": "wuge"}).status_code == 302
    send_outbox(dash)
    assert [m["touser"] for m in sent(dash)] == [LEADER[1]]  # Dave, once; Erin has completed
    page = text_of(dash.get(leader, f"/dashboard/pending?department={org}").text)
    assert "今天已催办（Dave" in page and "发给 1 人" in page and "已送达 1" in page and "已完成 1 人" in page
    with db.connection_context():
        assert Occurrence.get().created_by == f"staff:{Staff.get(Staff.name == 'Dave').id}"


def test_an_urge_whose_outcome_is_unknown_says_so_beside_sent_and_waiting(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY))
    organiser = dash.as_person(ORGANISER[1])
    office = department_id("办公室")
    assert dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge"}).status_code == 302
    with db.connection_context():  # as a sender killed mid-send, or a read timeout, leaves one
        first = Outbox.select().order_by(Outbox.id).get()
        Outbox.update(state="unknown").where(Outbox.id == first.id).execute()
        waiting = Outbox.select().where(Outbox.state == "pending").count()
    page = text_of(dash.get(organiser, f"/dashboard/pending?department={office}").text)
    assert f"已送达 0，等待发送 {waiting}，失败 0，结果未知 1（微信可能已收到，不会重发）" in page


def test_urge_at_night_waits_for_the_morning_and_says_so(open_dashboard):
    clock = at(2026, 6, 2, 21, 30)
    dash = open_dashboard(clock=clock)
    organiser = dash.as_person(ORGANISER[1])
    office = department_id("办公室")
    dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge"})
    send_outbox(dash)
    assert sent(dash) == []
    page = text_of(dash.get(organiser, f"/dashboard/pending?department={office}").text)
    assert "现在不发送（免打扰时段），06-03 08:30 起发出" in page
    clock.now = clock.now.replace(day=3, hour=9)
    send_outbox(dash)
    assert sorted(m["touser"] for m in sent(dash)) == [ORGANISER[1], STAFF[1]]


def test_urge_respects_the_weekly_cap(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY), push="weekly_cap = 1")
    organiser = dash.as_person(ORGANISER[1])
    office = department_id("办公室")
    dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge"})
    send_outbox(dash)
    dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "pairing"})
    page = text_of(dash.get(organiser, f"/dashboard/pending?department={office}&checklist=pairing").text)
    assert "本周提醒已满 2 人" in page
    with db.connection_context():
        assert Outbox.select().count() == 2


def test_urge_respects_the_monthly_cap_and_says_so(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY), push="monthly_cap = 1")
    organiser = dash.as_person(ORGANISER[1])
    office = department_id("办公室")
    dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "wuge"})
    dash.post(organiser, "/dashboard/urge", {"department": office, "checklist": "pairing"})
    page = text_of(dash.get(organiser, f"/dashboard/pending?department={office}&checklist=pairing").text)
    assert "本月提醒已满 2 人" in page  # Alice and Bob had their one message of June
    with db.connection_context():
        assert Outbox.select().count() == 2


def test_a_notice_reaches_the_chosen_departments_with_a_link_only_its_recipient_opens(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY))
    organiser = dash.as_person(ORGANISER[1])
    r = dash.post(organiser, "/dashboard/notices", {"title": "周五下午集中学习", "body": "地点：三楼会议室。\n请带笔记本。",
                                                    "to": "some", "department": department_id("组织科")})
    assert r.status_code == 302
    send_outbox(dash)
    messages = sent(dash)
    assert sorted(m["touser"] for m in messages) == [LEADER[1], OTHER_STAFF[1]]
    link = next(m["url"] for m in messages if m["touser"] == OTHER_STAFF[1])
    path = link.split("127.0.0.1:8000", 1)[1]
    page = requests.get(dash.base + path, timeout=10)
    assert page.status_code == 200 and "请带笔记本" in page.text
    other = re.sub(r"/(\d+)\?s=", lambda m: f"/{int(m.group(1)) + 1}?s=", path)
    assert requests.get(dash.base + other, timeout=10).status_code == 404
    listed = text_of(dash.get(organiser, "/dashboard/notices").text)
    assert "周五下午集中学习 组织科 2 2" in listed


def test_a_notice_that_reached_nobody_says_why_in_the_list(dash):
    organiser = dash.as_person(ORGANISER[1])
    r = dash.post(organiser, "/dashboard/notices", {"title": "宣传科例会", "body": "周一九点。", "to": "some",
                                                    "department": department_id("宣传科")})  # Frank never bound
    assert r.status_code == 302
    listed = text_of(dash.get(organiser, "/dashboard/notices").text)
    assert "宣传科例会 宣传科 0 未发：未绑定 1 人。 0" in listed, listed


def test_a_notice_title_longer_than_a_template_keyword_is_refused_and_nothing_sent(dash):
    organiser = dash.as_person(ORGANISER[1])
    r = dash.post(organiser, "/dashboard/notices", {"title": "一" * 21, "body": "正文", "to": "all"})
    assert r.status_code == 400 and "标题需 1—20 字" in r.text and "一" * 21 in r.text  # what was typed stays
    with db.connection_context():
        assert Outbox.select().count() == 0


def _photo_from(dash, openid: str, colour=(200, 30, 30)) -> None:
    dash.world.say(openid, "1")
    dash.world.send(inbound.image(openid, upload(dash.emu, "image", jpeg(colour=colour))))


def test_the_gallery_shows_a_leader_only_their_departments_thumbnails(dash):
    _photo_from(dash, STAFF[1])
    _photo_from(dash, OTHER_STAFF[1], (0, 90, 200))
    fetch(dash.world)
    leader, organiser = dash.as_person(LEADER[1]), dash.as_person(ORGANISER[1])
    mine = re.findall(r"/dashboard/media/(\d+)/thumb", dash.get(leader, "/dashboard/gallery").text)
    every = re.findall(r"/dashboard/media/(\d+)/thumb", dash.get(organiser, "/dashboard/gallery").text)
    assert len(mine) == 1 and len(every) == 2 and set(mine) < set(every)
    office = re.findall(r"/dashboard/media/(\d+)/thumb",
                        dash.get(organiser, f"/dashboard/gallery?department={department_id('办公室')}").text)
    assert office == sorted(set(every) - set(mine))


def test_the_gallery_lists_lost_media_with_the_reason(dash):
    dash.world.say(STAFF[1], "1")
    dash.world.send(inbound.image(STAFF[1], "media-that-never-was"))
    fetch(dash.world)
    page = text_of(dash.get(dash.as_person(ORGANISER[1]), "/dashboard/gallery").text)
    assert "未能存档" in page and "40007" in page


def test_the_gallery_pages_by_48(dash):
    from models import Evidence

    _photo_from(dash, STAFF[1])
    fetch(dash.world)
    from models import CheckInEvidence

    with db.connection_context():
        piece, link = Evidence.get(), CheckInEvidence.get()
        for n in range(49):
            copy = Evidence.create(**{**piece.__data__, "id": None, "media_id": f"copy-{n}"})
            CheckInEvidence.create(checkin=link.checkin_id, evidence=copy.id)
    organiser = dash.as_person(ORGANISER[1])
    first = dash.get(organiser, "/dashboard/gallery").text
    second = dash.get(organiser, "/dashboard/gallery?page=2").text
    assert len(re.findall(r"/thumb", first)) == 48 and len(re.findall(r"/thumb", second)) == 2
    assert "第 1/2 页" in text_of(first)


def test_a_voice_piece_shows_its_recognition_and_offers_the_file(dash):
    from tests.test_media import AMR

    dash.world.say(STAFF[1], "1")
    dash.world.send(inbound.voice(STAFF[1], upload(dash.emu, "voice", AMR), recognition="我们一起学习了"))
    fetch(dash.world)
    page = dash.get(dash.as_person(ORGANISER[1]), "/dashboard/gallery").text
    assert "我们一起学习了" in page
    piece = re.search(r"/dashboard/media/(\d+)/file", page).group(1)
    import shutil

    audio = dash.get(dash.as_person(ORGANISER[1]), f"/dashboard/media/{piece}/audio")
    assert audio.status_code == (200 if shutil.which("ffmpeg") else 404)
    assert ("<audio" in page) == (shutil.which("ffmpeg") is not None)  # no player that could only fail


def test_a_voice_piece_browsers_play_as_it_is_gets_a_player_without_ffmpeg(dash):
    from models import Evidence, db

    dash.world.say(STAFF[1], "1")
    dash.world.send(inbound.voice(STAFF[1], upload(dash.emu, "voice", b"ID3" + bytes(600)), recognition="一段录音"))
    fetch(dash.world)
    with db.connection_context():
        assert Evidence.get(Evidence.kind == "voice").mime == "audio/mpeg"
    organiser = dash.as_person(ORGANISER[1])
    page = dash.get(organiser, "/dashboard/gallery").text
    piece = re.search(r"/dashboard/media/(\d+)/audio", page).group(1)
    audio = dash.get(organiser, f"/dashboard/media/{piece}/audio")
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/mpeg" and audio.content[:3] == b"ID3"


def test_a_roster_upload_shows_the_importers_line_numbered_report(dash):
    organiser = dash.as_person(ORGANISER[1])
    csv = "姓名,部门,手机号,角色,状态\nGina,宣传科,13900000022,staff,\nHal,宣传科,12345,staff,\n"
    r = dash.post(organiser, "/dashboard/roster/upload", {}, files={"file": ("roster.csv", csv.encode())})
    page = text_of(r.text)
    assert r.status_code == 200 and "第 3 行" in page and "新增 1，" in page
    with db.connection_context():
        assert Staff.get_or_none(Staff.name == "Gina") is not None


def test_a_sync_upload_previews_who_would_leave_and_marks_them_only_when_confirmed(dash):
    organiser = dash.as_person(ORGANISER[1])
    from tests.conftest import ROSTER

    without_frank = "\n".join(line for line in ROSTER.splitlines() if "Frank" not in line) + "\n"
    r = dash.post(organiser, "/dashboard/roster/upload", {"sync": "1"},
                  files={"file": ("roster.csv", without_frank.encode())})
    assert "Frank" in text_of(r.text)
    with db.connection_context():
        assert Staff.get(Staff.name == "Frank").status == "active"
    token = re.search(r'name="file" value="([^"]+)"', r.text).group(1)
    done = dash.post(organiser, "/dashboard/roster/sync", {"file": token})
    assert "已将 1 人标为离职" in done.text
    with db.connection_context():
        assert Staff.get(Staff.name == "Frank").status == "left"
    assert dash.post(organiser, "/dashboard/roster/sync", {"file": token}).status_code == 400  # used once


def test_binding_slips_carry_name_department_code_expiry_and_a_qr_that_binds(dash):
    organiser = dash.as_person(ORGANISER[1])
    r = dash.post(organiser, "/dashboard/roster/codes", {"department": "宣传科"})
    page = text_of(r.text)
    code = re.search(r'class="code">绑定 ([A-Z0-9]{8})<', r.text).group(1)
    assert "Frank" in page and "宣传科" in page and "前有效" in page and "<svg" in r.text
    url = re.search(r'data-url="([^"]+)"', r.text).group(1)
    dash.emu.call("POST", "/_emu/users", json={"openid": "o-frank"})
    scanned = dash.emu.call("POST", "/chat/api/scan", json={"openid": "o-frank", "url": url})
    assert "绑定成功" in str(scanned.json()) and code


def test_without_scene_qr_codes_slips_print_the_code_and_how_to_send_it(make_world):
    from tests.dashboard_world import Dashboard
    from tests.conftest import bind

    world = make_world()
    bind(world, *ORGANISER)
    dash = Dashboard(world, None)
    r = dash.post(dash.as_person(ORGANISER[1]), "/dashboard/roster/codes", {"department": "宣传科"})
    assert "<svg" not in r.text and "关注公众号后发送" in r.text and re.search(r"绑定 [A-Z0-9]{8}<", r.text)


def test_setting_a_status_from_the_roster_page_is_reported(dash):
    organiser = dash.as_person(ORGANISER[1])
    r = dash.post(organiser, "/dashboard/roster/status", {"phone": "13900000021", "status": "借调"})
    assert "Frank：active → exempt" in text_of(r.text)
    bad = dash.post(organiser, "/dashboard/roster/status", {"phone": "13900000099", "status": "active"})
    assert bad.status_code == 400


def test_staff_see_their_own_progress_and_evidence(dash):
    _photo_from(dash, STAFF[1])
    fetch(dash.world)
    page = dash.get(dash.as_person(STAFF[1]), "/dashboard/me")
    assert page.status_code == 200 and "Bob" in page.text and "/thumb" in page.text
    assert "Erin" not in page.text


def _many_staff(n: int) -> None:
    from models import Department

    with db.connection_context():
        office = Department.get(Department.name == "宣传科")
        rows = [{"name": f"人员{i}", "phone": f"137{i:08d}", "department": office.id, "role": "staff",
                 "status": "active"} for i in range(n)]
        for start in range(0, n, 500):
            Staff.insert_many(rows[start:start + 500]).execute()


def test_a_large_units_overview_reads_the_stats_jobs_snapshot_until_it_is_stale(open_dashboard):
    from campaign.overview import FRESH, LIVE_UP_TO

    clock = at(*WORKDAY)
    dash = open_dashboard(clock=clock)
    _many_staff(LIVE_UP_TO)
    assert dash.world.cli("run-job", "stats").output.strip() == "stats: 4"  # one snapshot per checklist
    organiser = dash.as_person(ORGANISER[1])
    dash.world.say(STAFF[1], "打卡 1")
    clock.now += dt.timedelta(seconds=30)
    snapshot = text_of(dash.get(organiser, "/dashboard/").text)
    assert "数据时间 10:00:00" in snapshot and f"（0/{LIVE_UP_TO + 5} 人）" in snapshot
    clock.now += FRESH
    live = text_of(dash.get(organiser, "/dashboard/").text)
    assert "数据时间 10:02:00" in live and f"（1/{LIVE_UP_TO + 5} 人）" in live


def test_a_check_in_before_eight_in_the_morning_counts_on_that_day_in_the_chart(open_dashboard):
    import html
    import json

    dash = open_dashboard(clock=at(2026, 6, 2, 7, 30))  # 23:30 UTC the day before
    dash.world.say(STAFF[1], "打卡 1")
    page = dash.get(dash.as_person(ORGANISER[1]), "/dashboard/").text
    chart = json.loads(html.unescape(re.search(r'data-chart="([^"]+)"', page).group(1)))
    rates = dict(zip(chart["labels"], chart["rates"]))
    assert rates["2026-06-02"] > 0 and rates.get("2026-06-01", 0) == 0, rates


def test_a_small_unit_needs_no_snapshot(dash):
    assert dash.world.cli("run-job", "stats").output.strip() == "stats: 0"


def test_prune_forgets_spent_links_old_failures_and_ended_sessions_after_a_day(open_dashboard):
    from models import LoginFailure

    clock = at(*WORKDAY)
    dash = open_dashboard(clock=clock)
    dash.as_person(ORGANISER[1])
    dash.link_from_bot(LEADER[1])
    dash.post(requests.Session(), "/dashboard/login", {"username": "x", "password": "y"})  # its page: a QR code
    clock.now += dt.timedelta(hours=12, minutes=1)  # the session has expired; a day has not passed
    dash.world.cli("run-job", "prune")
    from models import DashboardSession, LoginLink

    with db.connection_context():
        assert (LoginLink.select().count(), LoginFailure.select().count(), DashboardSession.select().count()) == (3, 2, 1)
    clock.now += dt.timedelta(days=1)
    dash.world.cli("run-job", "prune")
    with db.connection_context():
        assert (LoginLink.select().count(), LoginFailure.select().count(), DashboardSession.select().count()) == (0, 0, 0)


def test_a_collective_checklists_pending_page_names_the_departments_items_not_people(open_dashboard):
    dash = open_dashboard(clock=at(*WORKDAY))
    organiser = dash.as_person(ORGANISER[1])
    page = text_of(dash.get(organiser, f"/dashboard/pending?department={department_id('办公室')}&checklist=party_day").text)
    assert "本部门还差" in page and "Bob" not in page and "催办" not in page
