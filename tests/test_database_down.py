"""The database cannot be opened: every message still gets an answer within WeChat's 5 s, waits
on local disk, and is applied exactly once when the database is back; /healthz says 503 and why."""
from __future__ import annotations

import datetime as dt
import os
import shutil
import time

import pytest
import requests

from emulator import inbound
from models import CheckIn, InboundMessage, db
from tests.conftest import API_TOKEN, bind


@pytest.fixture
def sqlite_world(world):
    if not db.obj.database.endswith(".db"):
        pytest.skip("an unreadable file is SQLite's way of being down (PostgreSQL: tests/reliability)")
    return world


class Unopenable:
    """The database file moved aside and a folder put in its place: SQLite cannot open it."""

    def __init__(self, path: str):
        self.path, self.aside = path, path + ".aside"

    def __enter__(self):
        db.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.replace(self.path + suffix, self.aside + suffix)
        os.mkdir(self.path)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.aside + suffix):
                os.replace(self.aside + suffix, self.path + suffix)


def health(world) -> requests.Response:
    return requests.get(f"{world.base}/healthz", timeout=10)


def test_messages_wait_while_the_database_cannot_be_opened_and_count_once(sqlite_world):
    world = sqlite_world
    bind(world, "13900000002", "o-bob")
    first = inbound.text("o-bob", "打卡 1", msg_id=9001)
    with Unopenable(db.obj.database):
        started = time.monotonic()
        replies = [world.send(first), world.send(inbound.text("o-bob", "打卡 2", msg_id=9002)), world.send(first)]
        assert time.monotonic() - started < 5
        assert all(r.startswith("已收到，系统繁忙") for r in replies), replies
        down = health(world)
        assert down.status_code == 503 and down.json()["spooled"] == 2
        assert "unable to open database file" in down.json()["database"]
        stats = requests.get(f"{world.base}/api/stats", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
        assert stats.status_code == 503 and "database unavailable" in stats.json()["error"]
    drained = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    result = world.cli("run-job", "spool")
    assert result.exit_code == 0 and "spool: 2" in result.output, result.output
    body = health(world).json()
    assert (body["status"], body["spooled"]) == ("ok", 0)
    rows = list(CheckIn.select())
    assert sorted(r.item for r in rows) == ["family_photo", "festival"]
    assert all(r.created_at <= drained for r in rows)  # recorded as of their arrival, not of the drain
    assert InboundMessage.select().where(InboundMessage.dedup_key == "m:9001").count() == 1
    assert "已完成 2/5" in world.say("o-bob", "打卡")
    assert world.send(first).startswith("✅ 已记录")  # a redelivery gets the answer it would have had


def test_the_waiting_messages_are_applied_after_the_next_answer_by_themselves(sqlite_world):
    world = sqlite_world
    bind(world, "13900000002", "o-bob")
    with Unopenable(db.obj.database):
        assert world.say("o-bob", "打卡 3").startswith("已收到")
    assert "已完成 0/5" in world.say("o-bob", "打卡")  # this answer went out before the drain
    deadline = time.monotonic() + 10
    while health(world).json()["spooled"] and time.monotonic() < deadline:
        time.sleep(0.05)  # polls an observable outcome, bounded: the drain runs after that answer
    assert health(world).json()["spooled"] == 0
    assert world.stats()["items"][2]["done"] == 1


def test_a_spool_that_cannot_be_written_makes_wechat_deliver_again(make_world, tmp_path):
    world = make_world(push="")
    if not db.obj.database.endswith(".db"):
        pytest.skip("SQLite only")
    bind(world, "13900000002", "o-bob")
    spool = world.app.extensions["tuanjie"].spool
    spool.folder.parent.mkdir(parents=True, exist_ok=True)
    spool.folder.write_text("not a folder")  # the spool cannot be created
    with Unopenable(db.obj.database):
        r = world.post(inbound.text("o-bob", "打卡 1"))
        assert r.status_code == 503


def test_a_waiting_message_is_readable_by_the_services_user_alone(tmp_path):
    from bot.spool import Spool, Spooled

    spool = Spool(tmp_path / "spool")
    spool.put(Spooled("msg:1", "<xml>张三 打卡 1</xml>", 1796000000, "n1", "2026-12-02T10:00:00+08:00"))
    files = list((tmp_path / "spool").glob("*.json"))
    assert len(files) == 1 and files[0].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700
