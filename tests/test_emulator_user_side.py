"""The emulator's user side: signed deliveries to the real server, WeChat's retry and failure rules."""
import csv
import threading

import pytest
from flask import Flask, Response
from werkzeug.serving import make_server

from emulator import inbound
from emulator.delivery import UNAVAILABLE, Delivery
from models import CheckIn, InboundMessage, Staff
from tests.conftest import APP_ID, TOKEN, bind, start_emulator
from config import DEMO_AES_KEY


def chat(emu, action, **body):
    r = emu.call("POST", f"/chat/api/{action}", json={"openid": "o-bob", **body})
    assert r.status_code == 200, r.text
    return r.json()


def test_text_from_the_chat_reaches_the_server_and_the_reply_comes_back(world, emu):
    bind(world, "13900000002", "o-bob")
    out = chat(emu, "send", text="打卡 1")
    assert out["status"] == "reply" and out["reply"].startswith("✅ 已记录") and out["attempts"] == 1
    msgs = emu.call("GET", "/chat/api/messages", params={"openid": "o-bob"}).json()["messages"]
    assert [(m["who"], m["kind"]) for m in msgs] == [("user", "text"), ("bot", "text")]
    assert CheckIn.select().count() == 1


def test_menu_click_follow_and_unfollow(world, emu):
    bind(world, "13900000002", "o-bob")
    assert "「五个一」打卡" in chat(emu, "click", key="CHECKIN")["reply"]
    assert chat(emu, "follow", follow=False)["status"] == "empty"
    assert emu.emulator.platform.users["o-bob"].following is False
    assert "欢迎" in chat(emu, "follow", follow=True)["reply"]


def test_a_photo_is_uploaded_as_media_and_delivered_as_an_image_message(world, emu):
    bind(world, "13900000002", "o-bob")
    chat(emu, "send", text="1")
    r = emu.call("POST", "/chat/api/image", data={"openid": "o-bob"},
                 files={"image": ("p.jpg", b"\xff\xd8photo", "image/jpeg")})
    assert "凭证" in r.json()["reply"]
    from models import Evidence

    media_id = Evidence.get().media_id
    assert emu.emulator.platform.get_media(media_id)["content"] == b"\xff\xd8photo"


def test_scanning_a_binding_qr_code_binds(world, emu):
    out = world.tmp / "codes.csv"
    world.cli("bind-codes", "--out", str(out))
    code = next(r["code"] for r in csv.DictReader(out.open(encoding="utf-8-sig")) if r["name"] == "Frank")
    token = emu.token()
    ticket = emu.api("POST", "qrcode/create", token, json={
        "expire_seconds": 600, "action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": code}}})["ticket"]
    emu.call("POST", "/_emu/users", json={"openid": "o-frank", "following": False})
    r = emu.call("POST", "/chat/api/scan", json={"openid": "o-frank", "ticket": ticket}).json()
    assert r["reply"].startswith("绑定成功：宣传科 Frank")
    assert Staff.get(Staff.name == "Frank").openid == "o-frank"


def test_template_job_finish_is_posted_back_to_the_webhook(world, emu):
    done = threading.Event()
    original = emu.emulator._finish_job

    def finish_and_signal(*args):
        original(*args)
        done.set()

    emu.emulator._finish_job = finish_and_signal
    emu.call("POST", "/_emu/users", json={"openid": "o-bob", "blocked": True})
    sent = emu.api("POST", "message/template/send", emu.token(), json={
        "touser": "o-bob", "template_id": "TPL_REMINDER",
        "data": {"thing1": {"value": "a"}, "thing2": {"value": "b"}, "time3": {"value": "c"}}})
    assert sent["errcode"] == 0
    assert done.wait(timeout=10)
    row = InboundMessage.get(InboundMessage.msg_type == "event:templatesendjobfinish")
    assert f"<MsgID>{sent['msgid']}</MsgID>" in row.body and "failed:user block" in row.body
    cards = [m for m in emu.call("GET", "/chat/api/messages", params={"openid": "o-bob"}).json()["messages"]
             if m["kind"] == "template"]
    assert cards and cards[0]["content"]["fields"]["thing1"] == "a"
    # Shown as the WeChat client shows a library template: its title and labels, not thing1.
    assert cards[0]["content"]["title"] == "活动提醒"
    assert cards[0]["content"]["labels"] == {"thing1": "活动名称", "thing2": "提醒内容", "time3": "时间"}


def test_the_chat_pages_people_show_their_role_and_who_is_there_to_try_binding():
    from config import APP_ROOT
    from emulator.app import users_from_roster

    labels = {u.name: u.label for u in users_from_roster(APP_ROOT / "plans" / "demo_roster.csv")}
    assert labels["王主任"] == "王主任（办公室·组织者）" and labels["张伟"] == "张伟（组织科·部门负责人）"
    assert labels["陈静"] == "陈静（组织科·请假）" and labels["李娜"] == "李娜（办公室）"
    assert "试绑定码" in labels["古丽娜"] and "试绑定码" in labels["访客"]
    assert sum("试绑定码" in label for label in labels.values()) == 2


class SlowWebhook:
    """A webhook that answers after `delays[i]` seconds on its i-th delivery (a stand-in for a slow server)."""

    def __init__(self, delays, body="success"):
        self.delays, self.body, self.calls = list(delays), body, 0
        self.release = threading.Event()
        app = Flask("slow")
        app.add_url_rule("/wechat", "wechat", self.view, methods=["POST"])
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/wechat"

    def view(self):
        delay = self.delays[self.calls] if self.calls < len(self.delays) else 0
        self.calls += 1
        if delay:
            self.release.wait(timeout=delay)  # held past the client's timeout; released at teardown
        return Response(self.body, content_type="text/plain")

    def close(self):
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def signer():
    return inbound.Signer(TOKEN, DEMO_AES_KEY, APP_ID, "safe")


@pytest.mark.parametrize("delays, status, text", [
    ([5, 5, 5], "failed", UNAVAILABLE),  # no answer in three deliveries: the user sees the failure
    ([5, 5, 0], "empty", None),  # answered on the third delivery: fine
])
def test_a_slow_webhook_gets_up_to_three_deliveries(signer, delays, status, text):
    hook = SlowWebhook(delays)
    try:
        outcome = Delivery(hook.url, signer, timeout=0.3).deliver(inbound.text("o-bob", "打卡"))
    finally:
        hook.close()
    assert (outcome.status, outcome.text, outcome.attempts, hook.calls) == (status, text, 3, 3)


@pytest.mark.parametrize("body", ["oops, a traceback", "<html>500</html>", "{\"ok\": true}"])
def test_an_answer_that_is_not_xml_shows_the_service_unavailable_message(signer, body):
    hook = SlowWebhook([], body=body)
    try:
        outcome = Delivery(hook.url, signer, timeout=2).deliver(inbound.text("o-bob", "打卡"))
    finally:
        hook.close()
    assert (outcome.status, outcome.text, hook.calls) == ("failed", UNAVAILABLE, 1)


def test_the_real_server_retried_after_a_timeout_still_checks_in_once(world):
    """Retries of one message (same MsgId) reach the server: one check-in, the same answer."""
    bind(world, "13900000002", "o-bob")
    e, server = start_emulator(f"{world.base}/wechat")
    try:
        xml = inbound.text("o-bob", "打卡 3", msg_id=31337)
        first = e.emulator.delivery.deliver(xml)
        again = e.emulator.delivery.deliver(xml)  # what a retry after a lost answer looks like
    finally:
        server.shutdown()
    assert first.text == again.text and first.text.startswith("✅")
    assert CheckIn.select().count() == 1


@pytest.mark.parametrize("mode", ["plain", "compat"])
def test_the_emulator_speaks_each_encryption_mode(make_world, mode):
    world = make_world(mode=mode)
    bind(world, "13900000002", "o-bob")
    e, server = start_emulator(f"{world.base}/wechat", mode=mode)
    try:
        out = e.call("POST", "/chat/api/send", json={"openid": "o-bob", "text": "打卡 2"}).json()
    finally:
        server.shutdown()
    assert out["status"] == "reply" and out["reply"].startswith("✅ 已记录：共度一个节庆日")


def test_a_voice_message_from_the_chat_page_carries_its_recognition_and_an_amr_file(world, emu):
    from models import Evidence

    bind(world, "13900000002", "o-bob")
    assert chat(emu, "voice", recognition="打卡 4")["reply"].startswith("✅ 已记录：共讲一个团结故事")
    reply = chat(emu, "voice", recognition="我们讲了石榴籽的故事")["reply"]
    assert reply == "语音已作为「共讲一个团结故事」的凭证存档。"
    piece = Evidence.get()
    assert piece.text == "我们讲了石榴籽的故事"
    assert emu.emulator.platform.get_media(piece.media_id)["content"].startswith(b"#!AMR\n")
