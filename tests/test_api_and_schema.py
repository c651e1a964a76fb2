"""Organiser API auth and shape, health check, schema creation and upgrade."""
import time

import pytest
import requests
from peewee import SqliteDatabase

from models import Staff, db
from storage.engine import drop_index, quote
from tests.conftest import API_TOKEN, as_before_versions, bind


def test_stats_needs_the_bearer_token(world):
    url = f"{world.base}/api/stats"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer wrong-token-000"}, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": API_TOKEN}, timeout=10).status_code == 401
    r = requests.get(url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"checklist", "counts", "target", "overall", "departments", "items"}
    assert body["counts"] == "people"
    assert set(body["overall"]) == {"eligible", "participants", "completed", "participation_rate", "completion_rate"}
    assert body["target"] == 1.0 and body["checklist"]["key"] == "wuge"
    assert {d["name"] for d in body["departments"]} == {"办公室", "组织科", "宣传科"}


def test_unknown_checklist_is_404_naming_it(world):
    r = requests.get(f"{world.base}/api/stats", params={"checklist": "nope"},
                     headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert r.status_code == 404 and "nope" in r.json()["error"] and "wuge" in r.json()["error"]


def test_healthz_reports_the_database(world):
    r = requests.get(f"{world.base}/healthz", timeout=10)
    assert (r.status_code, r.json()["status"]) == (200, "ok")


def test_healthz_reports_the_outbox_and_media_backlogs_as_figures(world):
    """A fanned-out reminder nobody has sent yet, and a photo not yet fetched, show up as what
    is due and how long the oldest has waited: what a monitor alerts on."""
    import datetime as dt

    from models import Evidence, Outbox

    bind(world, "13900000002", "o-bob")
    bind(world, "13900000021", "o-frank")
    assert requests.get(f"{world.base}/healthz", timeout=10).json()["outbox_due"] == 0
    world.say("o-bob", "打卡 1")
    world.send(inbound_image("o-bob"))
    rt = world.app.extensions["tuanjie"]
    now = rt.clock()
    plan = rt.plan_on(now.date())
    from schedules.fanout import Audience

    with world.app.app_context():
        assert rt.jobs.push(plan, plan.reminder("monthly_talk"), now - dt.timedelta(minutes=10), Audience()).created == 2
    body = requests.get(f"{world.base}/healthz", timeout=10).json()
    assert body["outbox_due"] == Outbox.select().count() == 2
    assert 590 <= body["outbox_oldest_seconds"] <= 3600
    assert body["media_due"] == Evidence.select().count() == 1 and body["media_oldest_seconds"] < 600


def inbound_image(openid: str) -> str:
    from emulator import inbound

    return inbound.image(openid, media_id="m-1", msg_id=424242)


def test_init_db_twice_keeps_everything(world):
    bind(world, "13900000002", "o-bob")
    world.say("o-bob", "1")
    result = world.cli("init-db")
    assert result.exit_code == 0 and "up to date" in result.output
    assert Staff.select().count() == 6 and world.stats()["overall"]["participants"] == 1


def test_init_db_adds_a_column_missing_from_an_older_schema(world):
    with db.connection_context():
        db.execute_sql("ALTER TABLE staff DROP COLUMN awaiting")
    as_before_versions()
    result = world.cli("init-db")
    assert "column staff.awaiting" in result.output, result.output
    assert Staff.select().count() == 6


def test_demo_loads_the_roster_with_bound_users_and_exempt_people(world):
    result = world.cli("demo")
    assert result.exit_code == 0, result.output
    demo = Staff.get(Staff.phone == "13800000002")
    assert demo.openid == "demo-13800000002"
    assert "已完成 1/5" in world.say("demo-13800000002", "打卡 1")
    # The unit's own people are not the demo's: they still bind with a code.
    assert Staff.get(Staff.phone == "13900000001").openid is None
    # One demo person is left unbound, so the chat page's guest can try a binding code.
    guest = Staff.get(Staff.phone == "13800000024")
    assert guest.openid is None
    out = world.tmp / "guest.csv"
    assert world.cli("bind-codes", "--department", guest.department.name, "--out", str(out)).exit_code == 0
    code = next(line.split(",")[-1] for line in out.read_text(encoding="utf-8-sig").splitlines()
                if ",13800000024," in line)
    assert world.say("o-guest", f"绑定 {code}").startswith("绑定成功：宣传科 古丽娜")


def test_demo_is_refused_towards_the_real_platform(make_world):
    # Any API base that is not loopback counts as the real platform; this one resolves nowhere.
    world = make_world(api_base="https://wechat-api.invalid", aes_key="0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
    result = world.cli("demo")
    assert result.exit_code != 0 and "refused" in result.output and "wechat.api_base" in result.output
    assert not Staff.select().where(Staff.phone == "13800000002").exists()


def test_init_db_upgrades_check_ins_from_before_campaign_years(world):
    from models import CheckIn

    bind(world, "13900000002", "o-bob")
    world.say("o-bob", "1")
    with db.connection_context():  # the schema as it was: no year, a unique index without it, an index per FK
        db.execute_sql(f"CREATE UNIQUE INDEX {quote('checkin_staff_id_checklist_item')} "
                       "ON checkin (staff_id, checklist, item)")
        db.execute_sql(f"CREATE INDEX {quote('checkin_staff_id')} ON checkin (staff_id)")
        for index in ("checkin_staff_id_checklist_year_item", "checkin_checklist_year_department_id_staff_id_item",
                      "checkin_checklist_year_item_department_id_staff_id"):
            drop_index("checkin", index)
        db.execute_sql(f"ALTER TABLE checkin DROP COLUMN {quote('year')}")
    as_before_versions()
    result = world.cli("init-db")
    assert result.exit_code == 0, (result.output, result.exception)
    changes = result.output.split("schema: ", 1)[1].strip().split(", ")
    assert {"column checkin.year", "dropped index checkin_staff_id_checklist_item",
            "dropped index checkin_staff_id"} <= set(changes), changes
    with db.connection_context():
        names = {i.name for i in db.get_indexes("checkin")}
    assert {"checkin_staff_id_checklist_year_item", "checkin_checklist_year_department_id_staff_id_item",
            "checkin_checklist_year_item_department_id_staff_id"} <= names
    assert not names & {"checkin_staff_id_checklist_item", "checkin_staff_id"}
    assert [c.year for c in CheckIn.select()] == [CheckIn.get().created_at.year]
    assert world.stats()["overall"]["participants"] == 1  # still counted


def test_init_db_moves_nonces_onto_messages_and_drops_the_old_table(world):
    from emulator.inbound import text
    from models import InboundMessage

    bind(world, "13900000002", "o-bob")
    ts = int(time.time())
    assert world.post(text("o-bob", "1", msg_id=4), timestamp=ts, nonce="n4").status_code == 200
    with db.connection_context():
        before = InboundMessage.select().count()
    with db.connection_context():  # the schema as it was: nonces in a table of their own
        drop_index("inboundmessage", "inboundmessage_timestamp_nonce")
        db.execute_sql("ALTER TABLE inboundmessage DROP COLUMN nonce")
        db.execute_sql(f"ALTER TABLE inboundmessage DROP COLUMN {quote('timestamp')}")
        db.execute_sql(f"CREATE TABLE seennonce (id INTEGER PRIMARY KEY, {quote('timestamp')} INTEGER NOT NULL, "
                       "nonce VARCHAR(64) NOT NULL, dedup_key VARCHAR(200) NOT NULL)")
        db.execute_sql(f"INSERT INTO seennonce (id, {quote('timestamp')}, nonce, dedup_key) "
                       f"VALUES (1, {ts}, 'n4', 'm:4'), (2, {ts - 3600}, 'old', 'm:1')")
    as_before_versions()
    result = world.cli("init-db")
    assert "column inboundmessage.timestamp" in result.output and "dropped table seennonce" in result.output
    with db.connection_context():
        assert "seennonce" not in db.get_tables()
        assert InboundMessage.select().count() == before  # the messages from before are kept
        assert InboundMessage.get(InboundMessage.dedup_key == "m:4").nonce == "n4"
    # The request signed before the upgrade cannot be replayed after it, on another message.
    assert world.post(text("o-bob", "进度", msg_id=5), timestamp=ts, nonce="n4").status_code == 403
    assert world.post(text("o-bob", "进度", msg_id=6), timestamp=ts, nonce="n6").status_code == 200
    assert world.post(text("o-bob", "进度", msg_id=7), timestamp=ts, nonce="n6").status_code == 403


def test_init_db_widens_mysql_text_columns_and_keeps_their_rows(world):
    from peewee import MySQLDatabase

    from models import InboundMessage

    if not isinstance(db.obj, MySQLDatabase):
        pytest.skip("MySQL's TEXT holds 65,535 bytes; the others' text types are unbounded")
    world.say("o-x", "帮助")
    with db.connection_context():
        db.execute_sql("ALTER TABLE inboundmessage MODIFY body TEXT NULL")  # as made before MEDIUMTEXT
        before = list(InboundMessage.select(InboundMessage.dedup_key, InboundMessage.body).tuples())
    as_before_versions()
    result = world.cli("init-db")
    assert "column inboundmessage.body to MEDIUMTEXT" in result.output, result.output
    with db.connection_context():
        assert {c.name: c.data_type for c in db.get_columns("inboundmessage")}["body"] == "mediumtext"
        assert list(InboundMessage.select(InboundMessage.dedup_key, InboundMessage.body).tuples()) == before
    assert "up to date" in world.cli("init-db").output


def test_mysql_keeps_fractions_of_a_second_also_after_an_upgrade(world):
    import datetime as dt

    from peewee import MySQLDatabase

    from models import CheckIn

    if not isinstance(db.obj, MySQLDatabase):
        pytest.skip("SQLite and PostgreSQL keep microseconds anyway")
    bind(world, "13900000002", "o-bob")
    world.say("o-bob", "1")
    moment = dt.datetime(2026, 5, 11, 10, 0, 0, 700000)
    with db.connection_context():
        CheckIn.update(created_at=moment).execute()
        assert CheckIn.get().created_at == moment  # a new schema: DATETIME(6)
        db.execute_sql("ALTER TABLE checkin MODIFY created_at DATETIME NOT NULL")  # as made before
    as_before_versions()
    result = world.cli("init-db")
    assert "column checkin.created_at to DATETIME(6)" in result.output, result.output
    with db.connection_context():
        CheckIn.update(created_at=moment).execute()
        assert CheckIn.get().created_at == moment and CheckIn.select().count() == 1
    assert "up to date" in world.cli("init-db").output


def test_a_persons_done_items_are_read_from_a_prefix_of_the_unique_index(world):
    """Not a scan of everyone's check-ins: the check-in reply stays as fast at 300k rows as at 3."""
    from campaign.checkins import _DONE as DONE

    if not isinstance(db.obj, SqliteDatabase):
        pytest.skip("SQLite's query plan")
    DONE._compile()
    sql, params = DONE.sql, [value for _, value in DONE.slots]
    with db.connection_context():
        plan = " ".join(row[-1] for row in db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "INDEX checkin_staff_id_checklist_year_item (staff_id=? AND checklist=? AND year=?)" in plan, plan


def test_the_checklist_may_be_named_in_raw_utf8_as_curl_sends_it(world):
    """README's `curl .../api/stats?checklist=结对` sends the Chinese unencoded."""
    import socket
    from urllib.parse import urlsplit

    host = urlsplit(world.base)
    with socket.create_connection((host.hostname, host.port), timeout=10) as s:
        s.sendall("GET /api/stats?checklist=结对 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  f"Authorization: Bearer {API_TOKEN}\r\n\r\n".encode("utf-8"))
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), answer[:300]
    assert '"key":"pairing"' in body.decode("utf-8").replace(" ", "")
