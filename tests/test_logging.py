"""One time zone in every log line, and no noise: werkzeug's own timestamp dropped, the chat
page's polling not logged at INFO."""
from __future__ import annotations

import logging
import time
from zoneinfo import ZoneInfo

from server import _CampaignTime, _NoOwnTimestamp


def formatted(record: logging.LogRecord) -> str:
    return _CampaignTime(ZoneInfo("Asia/Shanghai"), "%(asctime)s %(name)s: %(message)s").format(record)


def record(name: str, msg: str, created: float) -> logging.LogRecord:
    r = logging.LogRecord(name, logging.INFO, __file__, 1, msg, (), None)
    r.created, r.msecs = created, 0
    return r


def test_a_log_line_is_in_the_campaigns_zone_whatever_the_machines_is(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        line = formatted(record("tuanjie", "hello", 1796160000.0))  # 2026-12-01 21:20 UTC
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert line.startswith("2026-12-02 05:20:00,000 +0800 tuanjie: hello"), line


def test_werkzeugs_request_lines_lose_their_own_timestamp():
    r = record("werkzeug", '127.0.0.1 - - [01/Dec/2026 17:40:00] "POST /wechat HTTP/1.1" 200 -', 1796160000.0)
    assert _NoOwnTimestamp().filter(r)
    assert formatted(r).endswith('werkzeug: 127.0.0.1 "POST /wechat HTTP/1.1" 200 -')


def test_the_chat_pages_polling_is_not_logged_at_info():
    from emulator.__main__ import _quiet_polling

    poll = record("werkzeug", '127.0.0.1 "GET /chat/api/messages?openid=x&after=3 HTTP/1.1" 200 -', 0)
    send = record("werkzeug", '127.0.0.1 "POST /chat/api/send HTTP/1.1" 200 -', 0)
    failed = record("werkzeug", '127.0.0.1 "GET /chat/api/messages?openid=x HTTP/1.1" 500 -', 0)
    assert not _quiet_polling(poll) and _quiet_polling(send) and _quiet_polling(failed)
