"""Moving up: `backup` copies a live SQLite database consistently and the copy serves again
once restored; `migrate-to` copies a deployment into an empty PostgreSQL with every row.

The restore is what docs/deploy.md tells an operator to do: stop, put the copy in the
database's place, start. Here "start" is a new app on the restored file, asked over HTTP."""
import os
import shutil
import sqlite3
import threading

import psycopg2
import pytest
import requests

from config import load_config
from models import ALL_MODELS, SchemaVersion, db
from tests.conftest import API_TOKEN, PG_URL, ROSTER, Server, World, bind, pg_available, start, write_config

BOUND = {"13900000002": "o-bob", "13900000011": "o-dave", "13900000012": "o-erin", "13900000021": "o-frank"}


def sqlite_world(tmp_path, name="tuanjie.db"):
    world, server = start(tmp_path, f"sqlite:///{tmp_path / name}")
    for phone, openid in BOUND.items():
        bind(world, phone, openid)
    return world, server


def serve(tmp_path, url: str) -> tuple[World, Server]:
    """A second app on `url`, as `gunicorn server:create_app()` would start on it."""
    from server import create_app
    from tests.conftest import APP_ID, DEMO_AES_KEY, TOKEN, inbound

    app = create_app(load_config(write_config(tmp_path, url, name="restored.toml"), environ={}))
    server = Server(app)
    return World(f"http://127.0.0.1:{server.server_port}", inbound.Signer(TOKEN, DEMO_AES_KEY, APP_ID, "safe"),
                 tmp_path, app), server


def stats(world) -> dict:
    r = requests.get(f"{world.base}/api/stats", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_backup_taken_while_people_check_in_restores_to_a_server_with_every_row(tmp_path):
    world, server = sqlite_world(tmp_path)
    try:
        world.say("o-bob", "打卡 1")
        backed_up, messages = threading.Event(), []

        def keep_writing():  # check-ins and listings while the backup runs; bounded
            for n in range(400):
                if backed_up.is_set():
                    return
                openid = list(BOUND.values())[n % 4]
                messages.append(world.say(openid, f"打卡 {n % 5 + 1}" if n % 3 else "打卡"))

        writer = threading.Thread(target=keep_writing)
        writer.start()
        out = tmp_path / "backup.db"
        try:
            result = world.cli("backup", "--out", str(out))
        finally:
            backed_up.set()
            writer.join(timeout=120)
        assert result.exit_code == 0, result.output
        assert "checked" in result.output
        copy = sqlite3.connect(out)
        checkins = copy.execute("SELECT COUNT(*) FROM checkin").fetchone()[0]
        inbound_rows = copy.execute("SELECT COUNT(*) FROM inboundmessage").fetchone()[0]
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copy.close()
        assert checkins >= 1 and inbound_rows >= 1 + len(BOUND)  # the binds and the first check-in at least
    finally:
        server.shutdown()

    restored = tmp_path / "restored" / "tuanjie.db"
    restored.parent.mkdir()
    shutil.copyfile(out, restored)  # the restore: the copy in the database's place
    again, again_server = serve(restored.parent, f"sqlite:///{restored}")
    try:
        figures = stats(again)
        assert sum(item["done"] for item in figures["items"]) == checkins
        assert again.cli("init-db").output.strip() == "schema: up to date"
        reply = again.say("o-frank", "进度")  # the restored copy answers, and takes writes
        assert reply and "抱歉" not in reply
    finally:
        again_server.shutdown()


def test_backup_refuses_to_overwrite_a_file_unless_forced(tmp_path):
    world, server = start(tmp_path, f"sqlite:///{tmp_path / 'tuanjie.db'}")
    try:
        out = tmp_path / "backup.db"
        out.write_text("an older backup")
        refused = world.cli("backup", "--out", str(out))
        assert refused.exit_code == 1 and "exists" in refused.output and "--force" in refused.output
        assert out.read_text() == "an older backup"
        forced = world.cli("backup", "--out", str(out), "--force")
        assert forced.exit_code == 0, forced.output
        assert sqlite3.connect(out).execute("SELECT COUNT(*) FROM staff").fetchone()[0] == ROSTER.count("\n") - 1
        missing = world.cli("backup", "--out", str(tmp_path / "no-such-folder" / "b.db"))
        assert missing.exit_code == 1 and "no folder" in missing.output
    finally:
        server.shutdown()


def test_backup_on_a_database_server_names_its_dump_tool(world, db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite is what backup copies")
    result = world.cli("backup", "--out", str(world.tmp / "backup.db"))
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "mysqldump" in result.output


def empty_postgres() -> None:
    conn = psycopg2.connect(PG_URL, connect_timeout=5)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()


def pg_counts() -> dict[str, int]:
    conn = psycopg2.connect(PG_URL, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            out = {}
            for m in ALL_MODELS:
                cur.execute(f'SELECT COUNT(*) FROM "{m._meta.table_name}"')
                out[m._meta.table_name] = cur.fetchone()[0]
            return out
    finally:
        conn.close()


def test_migrate_to_copies_a_deployment_into_an_empty_database_and_refuses_a_full_one(tmp_path):
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable at {PG_URL} (CI must start it)")
        pytest.skip("PostgreSQL not running here")
    empty_postgres()
    world, server = sqlite_world(tmp_path)
    try:
        for n, openid in enumerate(BOUND.values()):
            world.say(openid, f"打卡 {n + 1}")
        assert world.cli("push", "--reminder", "monthly_talk", "--now", "2026-12-02T10:00").exit_code == 0
        before = stats(world)
        source = sqlite3.connect(tmp_path / "tuanjie.db")
        counts = {m._meta.table_name: source.execute(f'SELECT COUNT(*) FROM "{m._meta.table_name}"').fetchone()[0]
                  for m in ALL_MODELS if m is not SchemaVersion}
        source.close()
        assert counts["outbox"] == len(BOUND) and counts["checkin"] == len(BOUND)

        result = world.cli("migrate-to", PG_URL)
        assert result.exit_code == 0, result.output
        for table, n in counts.items():
            assert f"{table} " in result.output and f" {n} rows" in result.output.split(f"  {table} ")[1].split("\n")[0]
        assert f"{sum(counts.values())} rows in {len(counts)} tables" in result.output
        assert {t: n for t, n in pg_counts().items() if t != "schemaversion"} == counts

        again = world.cli("migrate-to", PG_URL)
        assert again.exit_code == 1 and "not empty" in again.output
        assert {t: n for t, n in pg_counts().items() if t != "schemaversion"} == counts  # nothing touched
    finally:
        server.shutdown()

    (tmp_path / "pg").mkdir()
    moved, moved_server = serve(tmp_path / "pg", PG_URL)
    try:
        assert stats(moved) == before
        reply = moved.say("o-frank", "打卡 5")  # new rows get new ids: the sequences were moved on
        assert "已完成" in reply, reply
    finally:
        moved_server.shutdown()
        if not db.is_closed():
            db.close()


def test_migrate_to_refuses_what_is_not_a_database_url(tmp_path):
    world, server = start(tmp_path, f"sqlite:///{tmp_path / 'tuanjie.db'}")
    try:
        result = world.cli("migrate-to", "/var/lib/tuanjie/tuanjie.db")
        assert result.exit_code == 1 and "not a database URL" in result.output
    finally:
        server.shutdown()
