"""Signed messages of odd shapes: the webhook never errs, and a redelivery gets the same answer.

The shapes are drawn from a fixed seed (so a failure replays), mixing every message type and
event WeChat sends, unknown ones, missing, repeated, nested and junk fields, absurd numbers,
long and full-width text, and openids that are unbound, empty or over the column's length.
Each message is delivered twice, as WeChat retries: the second answer must be the first.
"""
import random
import time

import pytest
import requests

from emulator import inbound
from tests.conftest import bind

WORDS = ["打卡", "打卡 1", "打卡 9", "打卡 0", "打卡 -1", "打卡 99999999999999999999999", "撤销", "撤销 2", "撤销 x",
         "进度", "统计", "帮助", "结对", "结对 2", "结对 99", "绑定", "绑定 ABCD", "全家福", "2", "", " ", "\u3000",
         "打卡\t3", "１", "打卡 １", "]]>", "<a>", "&amp;", "😀" * 300, "x" * 5000, "bind", "UNDO 1", "?",
         "打卡 1 2", "打卡 全家福 故事", "签到 故事", "七个一 1", "主题党日 1", "六个一 3", "四个一 2"]
TYPES = ["text", "image", "voice", "video", "shortvideo", "location", "link", "event", "file", "", "TEXT",
         "miniprogrampage"]
EVENTS = ["subscribe", "SCAN", "CLICK", "VIEW", "TEMPLATESENDJOBFINISH", "unsubscribe", "LOCATION",
          "subscribe_msg_popup_event", "weird", "", "MASSSENDJOBFINISH"]
KEYS = ["", "qrscene_", "qrscene_ABC", "CHECKIN", "PROGRESS", "HELP", "qrscene_" + "Z" * 300, "123", "x"]
OPENIDS = ["o-alice", "o-bob", "o-nobody", "x" * 70, "", "o-bob "]
BOUND = ["o-alice", "o-bob"]


def junk(rng: random.Random) -> str:
    return rng.choice([rng.choice(WORDS), str(rng.randint(-2**70, 2**70)), "", "1.5", "nan", "0x10",
                       "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(rng.randint(0, 40)))])


def odd_message(rng: random.Random, now: int) -> str:
    # Mostly text from bound people, so that most messages reach the commands and store an effect.
    fields = {"ToUserName": inbound.ACCOUNT, "FromUserName": rng.choice(BOUND if rng.random() < 0.6 else OPENIDS),
              "CreateTime": now, "MsgType": "text" if rng.random() < 0.5 else rng.choice(TYPES),
              "Content": rng.choice(WORDS), "MsgId": rng.getrandbits(62)}
    if rng.random() < 0.25:
        fields.update(MsgType="event", Event=rng.choice(EVENTS), EventKey=rng.choice(KEYS))
        del fields["MsgId"]
        if rng.random() < 0.3:
            fields.update(MsgID=junk(rng), Status=rng.choice(["success", "failed:user block", "x"]))
    for extra in ("MediaId", "PicUrl", "Recognition", "Format", "Location_X", "Label", "Url"):
        if rng.random() < 0.15:
            fields[extra] = junk(rng)
    for name in list(fields):
        r = rng.random()
        if r < 0.05:
            del fields[name]
        elif r < 0.12:
            fields[name] = junk(rng)
    xml, r = inbound._xml(fields), rng.random()
    name = rng.choice(list(fields) or ["Content"])
    if r < 0.08:
        xml = xml.replace("</xml>", f"<{name}>again</{name}></xml>")  # a repeated field becomes a list
    elif r < 0.14:
        xml = xml.replace("</xml>", f"<{name}><a>1</a><b/></{name}></xml>")  # a nested one, a dict
    elif r < 0.18:
        xml = xml.replace("<xml>", "<xml a='1'>")
    return xml


@pytest.mark.parametrize("mode", ["safe", "plain"])
def test_odd_signed_messages_never_err_and_redeliveries_get_the_same_answer(make_world, mode):
    world = make_world(mode=mode)
    bind(world, "13900000001", "o-alice")
    bind(world, "13900000002", "o-bob")
    rng = random.Random(f"odd-{mode}")
    now = int(time.time())
    for i in range(80):
        xml = odd_message(rng, now)
        signed = world.platform.sign_request(xml, nonce=f"odd{i}")
        answers = []
        for _ in range(2):
            r = requests.post(f"{world.base}/wechat?{signed.query_string}", data=signed.body, timeout=10)
            assert r.status_code == 200, (i, r.status_code, r.text, xml)
            # "success", or a reply that opens (signature checked) and parses.
            answers.append(world.platform.reply_text(r.text, {}))
        assert answers[0] == answers[1], (i, answers, xml)
