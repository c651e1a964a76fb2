"""Every rejection the webhook owes WeChat's callers, in each encryption mode."""
import time

import pytest
import requests

from emulator import inbound
from models import CheckIn, InboundMessage
from tests.conftest import bind


def get(world, **params):
    return requests.get(f"{world.base}/wechat", params=params, timeout=10)


def post_raw(world, query: dict, body: bytes):
    return requests.post(f"{world.base}/wechat", params=query, data=body, timeout=10)


def test_url_verification_echoes_only_with_a_good_signature(world):
    good = world.platform.sign_request("<xml/>").query
    r = get(world, timestamp=good["timestamp"], nonce=good["nonce"], signature=good["signature"], echostr="E42")
    assert (r.status_code, r.text) == (200, "E42")
    assert get(world, timestamp=good["timestamp"], nonce=good["nonce"], signature="0" * 40,
               echostr="E42").status_code == 403
    assert get(world, echostr="E42").status_code == 403


def test_bad_or_missing_msg_signature_is_403(world):
    signed = world.platform.sign_request(inbound.text("o-x", "打卡"))
    bad = dict(signed.query, msg_signature="f" * 40)
    assert post_raw(world, bad, signed.body).status_code == 403
    missing = {k: v for k, v in signed.query.items() if k != "msg_signature"}
    assert post_raw(world, missing, signed.body).status_code == 403
    assert InboundMessage.select().count() == 0


def test_safe_mode_refuses_plaintext_even_when_signed(world):
    plain = inbound.Signer(world.platform.token, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "x", "plain")
    signed = plain.sign_request(inbound.text("o-x", "打卡"))
    r = post_raw(world, signed.query, signed.body)
    assert r.status_code == 400 and "safe" in r.text


@pytest.mark.parametrize("skew", [-1000, 1000])
def test_timestamps_far_from_now_are_refused(world, skew):
    r = world.post(inbound.text("o-x", "打卡"), timestamp=int(time.time()) + skew)
    assert r.status_code == 403 and "timestamp" in r.text


def test_a_nonce_reused_on_another_message_is_a_replay(world):
    ts = int(time.time())
    assert world.post(inbound.text("o-x", "打卡", msg_id=1), timestamp=ts, nonce="n1").status_code == 200
    r = world.post(inbound.text("o-x", "打卡", msg_id=2), timestamp=ts, nonce="n1")
    assert r.status_code == 403
    assert InboundMessage.select().count() == 1


def test_redelivery_with_the_same_nonce_gets_the_stored_reply(world):
    bind(world, "13900000002", "o-bob")
    ts, xml = int(time.time()), inbound.text("o-bob", "打卡 1", msg_id=77)
    first = world.post(xml, timestamp=ts, nonce="same")
    again = world.post(xml, timestamp=ts, nonce="same")
    assert first.status_code == again.status_code == 200
    assert world.platform.reply_text(first.text, {}) == world.platform.reply_text(again.text, {})
    assert CheckIn.select().count() == 1


def test_body_over_64_kib_is_413(world):
    xml = inbound.text("o-x", "字" * 30000)
    r = world.post(xml)
    assert r.status_code == 413


def test_a_body_of_exactly_64_kib_is_answered_and_stored_whole(make_world):
    """The largest body accepted fits every database's column (MySQL's TEXT would not)."""
    world = make_world(mode="plain")
    bare = len(inbound.text("o-x", "", msg_id=64).encode())
    xml = inbound.text("o-x", "a" * (64 * 1024 - bare), msg_id=64)
    assert len(xml.encode()) == 64 * 1024
    r = world.post(xml)
    assert r.status_code == 200 and "绑定" in r.text
    assert len(InboundMessage.get(InboundMessage.dedup_key == "m:64").body.encode()) == 64 * 1024


@pytest.mark.parametrize("mode", ["plain", "safe"])
def test_doctype_and_entities_are_400(make_world, mode):
    world = make_world(mode=mode)
    evil = ('<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '<xml><ToUserName>a</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>'
            '<MsgType>text</MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>')
    assert world.post(evil).status_code == 400


MALFORMED = [
    b"",
    b"not xml at all",
    b"<xml>",
    b"<xml><MsgType>text</MsgType></xml>",
    b"<notxml><a>1</a></notxml>",
    b"<xml>just text</xml>",
    b"<xml><ToUserName>a</ToUserName><FromUserName>o</FromUserName><MsgType>text</MsgType>"
    b"<CreateTime>soon</CreateTime></xml>",
    "<xml><MsgType>文本</MsgType></xml>".encode("gbk"),
    b"\xff\xfe\x00<xml/>",
]


@pytest.mark.parametrize("body", MALFORMED)
def test_malformed_plaintext_is_4xx_or_success_never_500(make_world, body):
    world = make_world(mode="plain", roster=None)
    signed = world.platform.sign_request("")
    r = post_raw(world, signed.query, body)
    assert r.status_code in (400, 403, 413) or (r.status_code == 200 and r.text == "success"), (r.status_code, r.text)


def test_undecryptable_or_foreign_ciphertext_is_refused(world):
    signed = world.platform.sign_request(inbound.text("o-x", "打卡"))
    # A valid signature over garbage ciphertext.
    from bot.security import sign

    q = dict(signed.query)
    junk = "bm90IGEgY2lwaGVydGV4dA=="
    q["msg_signature"] = sign(world.platform.token, q["timestamp"], q["nonce"], junk)
    r = post_raw(world, q, f"<xml><Encrypt><![CDATA[{junk}]]></Encrypt></xml>".encode())
    assert r.status_code == 400
    other = inbound.Signer(world.platform.token, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                             "wxANOTHERAPP0000", "safe")
    signed = other.sign_request(inbound.text("o-x", "打卡"))
    assert post_raw(world, signed.query, signed.body).status_code == 403


def test_plain_mode_replies_in_plaintext(make_world):
    world = make_world(mode="plain")
    r = world.post(inbound.text("o-x", "打卡"))
    assert r.status_code == 200 and "<Encrypt>" not in r.text and "绑定" in r.text


def test_compat_mode_takes_both_and_answers_in_kind(make_world):
    world = make_world(mode="compat")
    sealed = world.post(inbound.text("o-x", "打卡"))
    assert "<Encrypt>" in sealed.text and "绑定" in world.platform.reply_text(sealed.text, {})
    plain = inbound.Signer(world.platform.token, "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "x", "plain")
    signed = plain.sign_request(inbound.text("o-y", "打卡"))
    r = post_raw(world, signed.query, signed.body)
    assert r.status_code == 200 and "<Encrypt>" not in r.text and "绑定" in r.text


def test_a_handler_crash_gets_an_apology_once(world, monkeypatch, caplog):
    from bot import handlers

    calls = []

    def boom(msg, ctx):
        calls.append(msg)
        raise RuntimeError("handler exploded")

    monkeypatch.setattr(handlers, "handle", boom)
    xml = inbound.text("o-x", "打卡", msg_id=99)
    assert "抱歉" in world.platform.reply_text(world.post(xml).text, {})
    assert "抱歉" in world.platform.reply_text(world.post(xml).text, {})
    assert len(calls) == 1
    assert "handler exploded" in caplog.text


def test_a_unique_rule_broken_by_the_handler_is_an_apology_not_a_replay(world, monkeypatch, caplog):
    """An IntegrityError from the handler's own statement (not from storing the message or
    its nonce) rolls the handler back and answers like any crash; it is no 403."""
    from bot import handlers
    from models import Department

    calls = []

    def clash(msg, ctx):
        calls.append(msg)
        Department.create(name="临时科")
        Department.create(name="办公室")  # already on the roster: the database refuses it

    monkeypatch.setattr(handlers, "handle", clash)
    xml = inbound.text("o-x", "打卡", msg_id=98)
    first, again = world.post(xml), world.post(xml)
    assert first.status_code == again.status_code == 200
    assert "抱歉" in world.platform.reply_text(first.text, {}) == world.platform.reply_text(again.text, {})
    assert len(calls) == 1 and "handling failed" in caplog.text
    assert not Department.select().where(Department.name == "临时科").exists()
    assert InboundMessage.get(InboundMessage.dedup_key == "m:98").failed


def test_events_without_reply_answer_success(world):
    r = world.post(inbound.event("o-x", "unsubscribe"))
    assert (r.status_code, r.text) == (200, "success")
    r = world.post(inbound.event("o-x", "TEMPLATESENDJOBFINISH"))
    assert (r.status_code, r.text) == (200, "success")


def test_a_look_alike_digit_timestamp_is_403_not_500(world):
    signed = world.platform.sign_request(inbound.text("o-x", "打卡"))
    r = post_raw(world, dict(signed.query, timestamp="²"), signed.body)
    assert r.status_code == 403


def test_echoed_cdata_terminator_keeps_the_reply_valid_xml(world):
    bind(world, "13900000002", "o-bob")
    reply = world.say("o-bob", "打卡 ]]><x>")
    assert reply is not None and "没有" in reply and "]]>" not in reply


def test_a_long_event_name_is_stored_on_every_database(world):
    r = world.post(inbound.event("o-x", "subscribe_msg_popup_event"))
    assert (r.status_code, r.text) == (200, "success")
    assert InboundMessage.get().msg_type == "event:subscribe_msg_popup_event"


def test_two_delivery_reports_in_one_second_are_two_events(world):
    now = int(time.time())
    for msgid in (1, 2):
        assert world.post(inbound.template_finished("o-x", msgid, create_time=now)).status_code == 200
    assert InboundMessage.select().count() == 2
