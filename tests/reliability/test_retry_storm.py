"""WeChat's retry storm against two sync workers: a thousand messages, each delivered three
times at once, make exactly a thousand effects, and every delivery of a message gets the same
answer."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests

from models import CheckIn, InboundMessage, db
from storage.engine import init_database
from tests.reliability.wechat import check_in

MESSAGES = 1000


def test_a_thousand_messages_delivered_three_times_at_once_make_a_thousand_effects(deployment):
    d = deployment
    # 200 people x 5 items: every message is a different check-in.
    messages = [check_in(d.openids[n // 5], n % 5 + 1, 7_000_000 + n) for n in range(MESSAGES)]

    def once(xml: str) -> tuple[int, str | None]:
        signed = d.signer.sign_request(xml)
        r = requests.post(f"{d.base}/wechat?{signed.query_string}", data=signed.body, timeout=30)
        return r.status_code, d.signer.reply_text(r.text, {}) if r.status_code == 200 else r.text

    with ThreadPoolExecutor(max_workers=24) as pool:
        deliveries = [[pool.submit(once, xml) for _ in range(3)] for xml in messages]
        answers = [[f.result(timeout=120) for f in three] for three in deliveries]
    assert all(status == 200 for three in answers for status, _ in three)
    assert all(len({reply for _, reply in three}) == 1 for three in answers), "a redelivery got another answer"
    assert all(three[0][1].startswith("✅ 已记录") for three in answers)
    init_database(d.env_db_url)
    with db.connection_context():
        assert CheckIn.select().count() == MESSAGES
        assert InboundMessage.select().count() == MESSAGES
