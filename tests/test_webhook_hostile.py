"""Hostile bodies: deep nesting before or after the signature, and text that XML cannot carry.
Every one gets a 4xx or "success", never a 500, and every reply is XML the platform can read."""
from __future__ import annotations

import time

import requests
import xmltodict

from emulator import inbound
from models import Staff
from tests.conftest import bind


def nested(depth: int) -> str:
    return "<a>" * depth + "x" + "</a>" * depth


def test_an_unsigned_encrypt_holding_a_thousand_nested_elements_is_refused(world):
    for depth in (970, 980, 1000, 5000):
        body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{nested(depth)}</Encrypt></xml>"
        q = f"timestamp={int(time.time())}&nonce=n{depth}&msg_signature=00&encrypt_type=aes"
        r = requests.post(f"{world.base}/wechat?{q}", data=body.encode(), timeout=10)
        assert r.status_code == 400, (depth, r.status_code, r.text)


def test_a_signed_message_nesting_a_thousand_elements_gets_success(world):
    xml = inbound.text("o-bob", "x").replace("<Content><![CDATA[x]]></Content>", f"<Content>{nested(1000)}</Content>")
    r = world.post(xml)
    assert r.status_code == 200 and r.text == "success"


def test_a_deep_plaintext_body_with_a_good_signature_gets_success(make_world):
    world = make_world(mode="plain")
    xml = inbound.text("o-bob", "x").replace("<Content><![CDATA[x]]></Content>", f"<Content>{nested(3000)}</Content>")
    r = world.post(xml)
    assert r.status_code == 200 and r.text == "success"


def test_two_encrypt_elements_are_refused(world):
    signed = world.platform.sign_request(inbound.text("o-bob", "打卡"))
    body = signed.body.replace(b"</xml>", b"<Encrypt><![CDATA[QUJD]]></Encrypt></xml>")
    r = requests.post(f"{world.base}/wechat?{signed.query_string}", data=body, timeout=10)
    assert r.status_code == 400


def test_a_name_with_control_characters_still_makes_a_readable_reply(world):
    bind(world, "13900000011", "o-dave")  # Dave leads 组织科, whose names 统计 lists
    Staff.update(name="E\x01r\x1fin\x0b").where(Staff.phone == "13900000012").execute()  # stored before the fix
    r = world.post(inbound.text("o-dave", "统计"))
    assert r.status_code == 200
    xml = world.platform.open_reply(r.text, {})
    content = xmltodict.parse(xml)["xml"]["Content"]  # would raise on U+0001
    assert "Erin" in content
