"""WeChat delivers a message up to three times; the effect happens once, the answer is the same."""
import threading
import time

import requests

from emulator import inbound
from models import CheckIn, InboundMessage
from tests.conftest import bind


def deliver_concurrently(world, xml: str, copies: int = 3) -> list[requests.Response]:
    """POST the same message `copies` times at once, each signed with its own nonce like a retry."""
    signed = [world.platform.sign_request(xml) for _ in range(copies)]
    barrier = threading.Barrier(copies)
    results: list = [None] * copies

    def worker(i):
        barrier.wait(timeout=10)
        results[i] = requests.post(f"{world.base}/wechat?{signed[i].query_string}", data=signed[i].body,
                                   timeout=10)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    return results


def test_three_concurrent_deliveries_make_one_check_in_and_one_answer(world):
    bind(world, "13900000002", "o-bob")
    for round_ in range(5):  # several rounds: races are probabilistic
        responses = deliver_concurrently(world, inbound.text("o-bob", f"打卡 {round_ + 1}", msg_id=1000 + round_))
        assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
        replies = {world.platform.reply_text(r.text, {}) for r in responses}
        assert len(replies) == 1, replies
        assert replies.pop().startswith("✅ 已记录")
    assert CheckIn.select().count() == 5
    assert InboundMessage.select().where(InboundMessage.openid == "o-bob").count() == 1 + 5  # bind + 5


def test_an_undo_redelivered_undoes_once_and_answers_the_same(world):
    bind(world, "13900000002", "o-bob")
    world.say("o-bob", "1")
    world.say("o-bob", "2")
    responses = deliver_concurrently(world, inbound.text("o-bob", "撤销 1", msg_id=555))
    replies = {world.platform.reply_text(r.text, {}) for r in responses}
    assert len(replies) == 1 and replies.pop().startswith("已撤销")
    assert CheckIn.select().count() == 1


def test_events_are_deduplicated_by_sender_time_event_and_key(world):
    bind(world, "13900000002", "o-bob")
    created = int(time.time())
    click = inbound.event("o-bob", "CLICK", "CHECKIN", create_time=created)
    responses = deliver_concurrently(world, click)
    assert len({world.platform.reply_text(r.text, {}) for r in responses}) == 1
    world.send(inbound.event("o-bob", "CLICK", "PROGRESS", create_time=created))  # another key: another event
    rows = InboundMessage.select().where(InboundMessage.msg_type == "event:click")
    assert rows.count() == 2


def test_a_binding_code_redelivered_binds_once_and_repeats_success(world):
    out = world.tmp / "codes.csv"
    world.cli("bind-codes", "--out", str(out))
    import csv

    code = next(r["code"] for r in csv.DictReader(out.open(encoding="utf-8-sig")) if r["name"] == "Bob")
    responses = deliver_concurrently(world, inbound.text("o-bob", f"绑定 {code}", msg_id=4242))
    replies = {world.platform.reply_text(r.text, {}) for r in responses}
    assert len(replies) == 1 and replies.pop().startswith("绑定成功")
