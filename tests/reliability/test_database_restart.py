"""PostgreSQL stopped in the middle of a stream of check-ins and started again: every message is
answered within WeChat's 5 s, waits on local disk while the database is away, and counts once."""
from __future__ import annotations

import requests

from models import CheckIn, InboundMessage, db
from storage.engine import init_database
from tests.reliability.conftest import deploy, wait_until
from tests.reliability.wechat import check_in, deliver

PEOPLE = 100


def test_a_database_stopped_and_started_mid_stream_loses_and_doubles_nothing(tmp_path, private_postgres):
    d = deploy(tmp_path, private_postgres.url, people=PEOPLE)
    try:
        messages = [check_in(d.openids[n // 3], n % 3 + 1, 9_000_000 + n) for n in range(PEOPLE * 3)]
        thirds = [messages[:100], messages[100:200], messages[200:]]
        before = [deliver(d.base, d.signer, xml) for xml in thirds[0]]
        private_postgres.stop()
        down = requests.get(f"{d.base}/healthz", timeout=10)
        assert down.status_code == 503 and down.json()["status"] == "error"
        during = [deliver(d.base, d.signer, xml) for xml in thirds[1]]
        assert requests.get(f"{d.base}/healthz", timeout=10).json()["spooled"] == 100
        private_postgres.start()
        after = [deliver(d.base, d.signer, xml) for xml in thirds[2]]
        def drained():
            health = requests.get(f"{d.base}/healthz", timeout=10).json()
            return (health["status"], health["spooled"]) == ("ok", 0)

        wait_until(drained, 30, "the waiting messages applied")
    finally:
        d.stop()
    answers = before + during + after
    assert all(status == 200 for status, _, _ in answers)
    assert max(took for _, _, took in answers) < 5
    assert all(reply.startswith("已收到") for _, reply, _ in during)
    init_database(private_postgres.url)
    with db.connection_context():
        assert CheckIn.select().count() == len(messages)
        assert InboundMessage.select().count() == len(messages)
    db.close()


def _end_other_connections(url: str) -> int:
    import psycopg2

    conn = psycopg2.connect(url, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_connections_the_server_ends_are_replaced_and_no_message_is_lost(tmp_path, private_postgres):
    # Each sync worker keeps its connection between requests; an administrator (or a failover)
    # may end it at any time. The next message must still count, once.
    d = deploy(tmp_path, private_postgres.url, people=20)
    try:
        messages = [check_in(d.openids[n], 1, 9_100_000 + n) for n in range(20)]
        first = [deliver(d.base, d.signer, xml) for xml in messages[:10]]
        assert _end_other_connections(private_postgres.url) >= 1  # the workers' kept connections
        second = [deliver(d.base, d.signer, xml) for xml in messages[10:]]
        wait_until(lambda: requests.get(f"{d.base}/healthz", timeout=10).json().get("spooled") == 0, 30,
                   "anything spooled applied")
        assert requests.get(f"{d.base}/healthz", timeout=10).status_code == 200
    finally:
        d.stop()
    assert all(status == 200 for status, _, _ in first + second)
    # Answered as if nothing happened: the dead connection is replaced within the request.
    assert all(reply and reply.startswith("✅") for _, reply, _ in second), second
    init_database(private_postgres.url)
    with db.connection_context():
        assert CheckIn.select().count() == InboundMessage.select().count() == 20
    db.close()
