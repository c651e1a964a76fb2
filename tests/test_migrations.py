"""Numbered migrations: a database that init-db made before schema versions upgrades to the
shape of a new one with every row kept, on SQLite, PostgreSQL and MariaDB."""
from __future__ import annotations

import datetime as dt

from config import load_config
from models import db
from storage import migrations
from storage.engine import quote
from tests.conftest import reset_schema, write_config
from tests.legacy import schema_v0 as v0

AT = dt.datetime(2026, 5, 6, 1, 30, 15, 250000)  # naive UTC, with a fraction of a second


def fill_every_table() -> None:
    dept = v0.Department.create(name="办公室")
    person = v0.Staff.create(name="Alice", phone="13900000001", department=dept, role="organiser", openid="o-a",
                             bound_at=AT, awaiting="wuge/letter", awaiting_at=AT)
    v0.BindCode.create(staff=person, code_hash="h" * 64, created_at=AT, expires_at=AT, used_at=AT, used_by="o-a")
    v0.BindFailure.create(openid="o-x", at=AT)
    v0.CheckIn.create(staff=person, department=dept, checklist="wuge", item="letter", year=2026, created_at=AT,
                      evidence_type="image", evidence="MEDIA1")
    v0.InboundMessage.create(dedup_key="m:1", openid="o-a", msg_type="text", body="<xml/>" + "长" * 30000,
                             received_at=AT, reply="ok", timestamp=1778000000, nonce="n1")
    occurrence = v0.Occurrence.create(key="monthly_talk@2026-05-06", reminder="monthly_talk", due_at=AT,
                                      state="fanned_out", recipients=1, skipped="{}", created_at=AT)
    v0.Outbox.create(key="monthly_talk@2026-05-06:1", occurrence=occurrence, staff=person, openid="o-a",
                     channel="template", payload="{}", state="sent", attempts=1, next_attempt_at=AT, msgid="1001",
                     created_at=AT, sent_at=AT, delivery="success")
    v0.AccessToken.create(app_id="wx", token="t", expires_at=AT, updated_at=AT)


# Columns of v0 that a later migration moved elsewhere (checked on their own below).
MOVED = {("checkin", "evidence"), ("checkin", "evidence_type")}


def rows() -> dict[str, list[tuple]]:
    out = {}
    for model in v0.ALL_MODELS:
        table = model._meta.table_name
        columns = ", ".join(quote(f.column_name) for f in model._meta.sorted_fields
                            if (table, f.column_name) not in MOVED)
        out[table] = db.execute_sql(f"SELECT {columns} FROM {quote(table)} ORDER BY {quote('id')}").fetchall()
    return out


def shape() -> dict[str, tuple]:
    """Every table's columns (name, nullable) and index names."""
    return {table: (sorted((c.name, c.null) for c in db.get_columns(table)),
                    sorted(i.name for i in db.get_indexes(table)))
            for table in sorted(db.get_tables())}


def init_db(tmp_path, db_url) -> str:
    from server import create_app

    app = create_app(load_config(write_config(tmp_path, db_url), environ={}))
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_database_from_before_versions_upgrades_with_every_row_kept(tmp_path, db_url):
    reset_schema(db_url)
    with db.connection_context():
        db.create_tables(v0.ALL_MODELS)
        fill_every_table()
        before = rows()
    output = init_db(tmp_path, db_url)
    assert f"migration 1: {migrations.MIGRATIONS[0].name}" in output
    with db.connection_context():
        assert rows() == before
        assert all(before.values())  # a row in every table
        from models import CheckIn, CheckInEvidence, Evidence

        piece = Evidence.get()  # the check-in's evidence column became a piece linked to it
        assert (piece.kind, piece.media_id, piece.state, piece.staff.name) == ("image", "MEDIA1", "pending", "Alice")
        link = CheckInEvidence.get()
        assert (link.checkin_id, link.evidence_id) == (CheckIn.get().id, piece.id)
        assert CheckIn.get().evidence_count == 1
        assert migrations.version() == migrations.LATEST and not migrations.pending()
        upgraded = shape()
    assert "schema: up to date" in init_db(tmp_path, db_url)

    reset_schema(db_url)
    init_db(tmp_path, db_url)
    with db.connection_context():
        assert shape() == upgraded  # the same tables, columns and indexes as a new database


def test_a_new_database_is_stamped_with_the_last_migration(tmp_path, db_url):
    reset_schema(db_url)
    output = init_db(tmp_path, db_url)
    assert f"schema version {migrations.LATEST}" in output
    with db.connection_context():
        assert migrations.version() == migrations.LATEST


def test_a_migration_that_runs_again_changes_nothing(tmp_path, db_url):
    """An upgrade stopped after its changes but before its stamp runs safely a second time."""
    reset_schema(db_url)
    init_db(tmp_path, db_url)
    with db.connection_context():
        first = shape()
        assert migrations.MIGRATIONS[0].apply() == []
        assert shape() == first
