"""Numbered schema migrations and the version row that says which have run.

A new database is created at the models' current shape and stamped with the last number.
An existing one runs, in order, every migration above the number in its `schemaversion`
row; a database made before versions existed has no such row and is at 0.

Each migration checks what is there before it changes anything (a column is added only
when missing, an index dropped only when present), so an upgrade that stopped half-way
runs again safely. A migration that creates a table creates it as its model is now: a later
migration that changes that table must therefore check the column or index first. Writing
one: append `Migration(n, "what it does", function)` to MIGRATIONS; the function returns
what it changed, in the words `init-db` prints ("column staff.status", "index x").
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable

from peewee import DateTimeField, Table, TextField
from playhouse.migrate import SchemaMigrator, migrate

from models import ALL_MODELS, CheckIn, InboundMessage, SchemaVersion
from storage.engine import db, drop_index, is_mysql, quote


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    apply: Callable[[], list[str]]


def upgrade() -> list[str]:
    """Create or upgrade the schema; returns what changed (empty: up to date)."""
    existing = set(db.get_tables())
    if not existing & {m._meta.table_name for m in ALL_MODELS if m is not SchemaVersion}:
        with db.atomic():
            db.create_tables(ALL_MODELS)
        _stamp(LATEST)
        return [f"table {m._meta.table_name}" for m in ALL_MODELS] + [f"schema version {LATEST}"]
    changes = []
    for migration in MIGRATIONS:
        if migration.number > version():
            changes += migration.apply()
            _stamp(migration.number)
            changes.append(f"migration {migration.number}: {migration.name}")
    return changes


def version() -> int:
    """The number of the last migration applied; 0 for a database from before versions."""
    if SchemaVersion._meta.table_name not in db.get_tables():
        return 0
    row = SchemaVersion.select(SchemaVersion.version).order_by(SchemaVersion.version.desc()).first()
    return row.version if row else 0


def pending() -> list[Migration]:
    current = version()
    return [m for m in MIGRATIONS if m.number > current]


def _stamp(number: int) -> None:
    with db.atomic():
        db.create_tables([SchemaVersion], safe=True)
        SchemaVersion.delete().execute()
        SchemaVersion.create(version=number, updated_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))


# --- helpers every migration may use ---------------------------------------------------------

def create_missing_tables(models) -> list[str]:
    existing = set(db.get_tables())
    missing = [m for m in models if m._meta.table_name not in existing]
    with db.atomic():
        db.create_tables(missing)
    return [f"table {m._meta.table_name}" for m in missing]


def add_missing_columns(model, names) -> list[str]:
    """Add the named fields of model that its table lacks (each nullable or with a default)."""
    table = model._meta.table_name
    have = {c.name for c in db.get_columns(table)}
    migrator, changes = SchemaMigrator.from_database(db.obj), []
    for name in names:
        f = model._meta.fields.get(name)
        if f is None:  # a column a later migration removed (after moving what it held)
            continue
        if f.column_name not in have:
            migrate(migrator.add_column(table, f.column_name, f))
            changes.append(f"column {table}.{f.column_name}")
    return changes


def add_missing_indexes(model) -> list[str]:
    """The model's indexes its table lacks. peewee's create_table(safe=True) skips an existing
    table on MySQL, new indexes included, so they are added one by one."""
    table = model._meta.table_name
    have = {i.name for i in db.get_indexes(table)}
    columns = {c.name for c in db.get_columns(table)}
    changes = []
    for index in model._meta.fields_to_index():
        # An index on a column a later migration adds waits for it (SQLite would even take the
        # missing column's quoted name for a string and index a constant).
        if not {f.column_name for f in _index_fields(index)} <= columns:
            continue
        if index._name not in have:
            db.execute(model._schema._create_index(index, safe=False))
            changes.append(f"index {index._name}")
    return changes


def _index_fields(index) -> list:
    from peewee import Field

    return [e for e in index._expressions if isinstance(e, Field)]


def drop_indexes_if_present(pairs) -> list[str]:
    changes = []
    for table, index in pairs:
        if table in db.get_tables() and index in {i.name for i in db.get_indexes(table)}:
            drop_index(table, index)
            changes.append(f"dropped index {index}")
    return changes


def widen_mysql_columns(model) -> list[str]:
    """MySQL columns made before storage.engine's field types: TEXT that should be MEDIUMTEXT,
    and DATETIME without the fractions of a second that DATETIME(6) keeps."""
    if not is_mysql():
        return []
    table, changes = model._meta.table_name, []
    have = {name: (kind.lower(), precision) for name, kind, precision in db.execute_sql(
        "SELECT COLUMN_NAME, DATA_TYPE, DATETIME_PRECISION FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (table,)).fetchall()}
    for f in model._meta.sorted_fields:
        kind, precision = have.get(f.column_name, (None, None))
        if isinstance(f, TextField) and kind == "text":
            wanted = "MEDIUMTEXT"
        elif isinstance(f, DateTimeField) and kind == "datetime" and (precision or 0) < 6:
            wanted = "DATETIME(6)"
        else:
            continue
        # Written out: playhouse.migrate's alter_column_type emits invalid MySQL here.
        db.execute_sql(f"ALTER TABLE {quote(table)} MODIFY {quote(f.column_name)} {wanted} "
                       + ("NULL" if f.null else "NOT NULL"))
        changes.append(f"column {table}.{f.column_name} to {wanted}")
    return changes


# --- 1: everything init-db did before versions ------------------------------------------------

# The tables and columns of the schema as migration 1 leaves it. Frozen here, not read off the
# models: a column a later migration adds (and perhaps backfills) must be left to it.
V1_COLUMNS = {
    "department": ("name",),
    "staff": ("name", "phone", "department", "role", "status", "openid", "bound_at", "awaiting", "awaiting_at"),
    "bindcode": ("staff", "code_hash", "created_at", "expires_at", "used_at", "used_by"),
    "bindfailure": ("openid", "at"),
    "checkin": ("staff", "department", "checklist", "item", "year", "created_at", "evidence_type", "evidence"),
    "inboundmessage": ("dedup_key", "openid", "msg_type", "body", "received_at", "reply", "failed", "timestamp",
                       "nonce"),
    "occurrence": ("key", "reminder", "due_at", "state", "recipients", "skipped", "created_at"),
    "outbox": ("key", "occurrence", "staff", "openid", "channel", "payload", "state", "attempts", "next_attempt_at",
               "lease_until", "owner", "msgid", "errcode", "last_error", "delivery", "created_at", "sent_at"),
    "accesstoken": ("app_id", "token", "expires_at", "updated_at"),
}

# Indexes of older schemas that stand in the way of wider ones.
V1_OBSOLETE_INDEXES = [
    ("checkin", "checkin_staff_id_checklist_item"),
    ("checkin", "checkin_checklist_department_id_staff_id"),
    ("checkin", "checkin_checklist_item_staff_id"),
    ("checkin", "checkin_staff_id_checklist_item_year"),
    ("checkin", "checkin_staff_id"),
    ("checkin", "checkin_department_id"),
    ("staff", "staff_department_id"),  # (department, status) serves its foreign key
    ("checkin", "checkin_checklist_year_department_id_staff_id"),
    ("checkin", "checkin_checklist_year_item_staff_id"),
]
# InnoDB refuses to drop the only index that serves a foreign key (error 1553), and on a new
# table it makes one itself: on MySQL this one stays.
MYSQL_FK_INDEXES = {("checkin", "checkin_department_id")}


def _v1_models():
    return [m for m in ALL_MODELS if m._meta.table_name in V1_COLUMNS]


def _v1_before_versions() -> list[str]:
    changes = create_missing_tables(_v1_models())
    checkin_had_year = "year" in {c.name for c in db.get_columns("checkin")}
    for model in _v1_models():
        changes += add_missing_columns(model, V1_COLUMNS[model._meta.table_name])
        changes += widen_mysql_columns(model)
    if not checkin_had_year:
        _backfill_checkin_year()
    # New indexes before the old ones go: on MySQL a foreign key needs some index at all times.
    for model in _v1_models():
        changes += add_missing_indexes(model)
    obsolete = [p for p in V1_OBSOLETE_INDEXES if not (is_mysql() and p in MYSQL_FK_INDEXES)]
    changes += drop_indexes_if_present(obsolete)
    if "seennonce" in db.get_tables():
        _move_recent_nonces()
        db.execute_sql(f"DROP TABLE {quote('seennonce')}")
        changes.append("dropped table seennonce")
    return changes


def _backfill_checkin_year() -> None:
    """Rows from before the year column belong to the year they were made in: one UPDATE
    (peewee writes the year extraction for each database), not one per row."""
    with db.atomic():
        CheckIn.update(year=CheckIn.created_at.year).execute()


def _move_recent_nonces() -> None:
    """Copy seennonce's recent pairs onto their messages before the table goes, so that a
    request signed just before the upgrade cannot be replayed just after it. Older pairs
    are refused by the 300 s timestamp window anyway."""
    old = Table("seennonce", ("timestamp", "nonce", "dedup_key")).bind(db)
    rows = old.select(old.timestamp, old.nonce, old.dedup_key).where(old.timestamp >= int(time.time()) - 600).tuples()
    with db.atomic():
        for timestamp, nonce, key in rows:
            (InboundMessage.update(timestamp=timestamp, nonce=nonce)
             .where((InboundMessage.dedup_key == key) & InboundMessage.nonce.is_null()).execute())


def _v2_forced_refreshes() -> list[str]:
    from models import AccessToken

    return add_missing_columns(AccessToken, ("forced_count", "forced_since"))


def _v3_listing() -> list[str]:
    from models import Staff

    return add_missing_columns(Staff, ("listing", "listing_at"))


def _v4_evidence_records() -> list[str]:
    """Evidence as records of its own: each check-in's single evidence column becomes a piece
    (still to be fetched, or lost with its reason if WeChat forgot it) linked to the check-in."""
    from models import Activity, CheckIn, CheckInEvidence, Evidence

    changes = create_missing_tables([Activity, Evidence, CheckInEvidence])
    changes += add_missing_columns(CheckIn, ("evidence_count", "activity"))
    changes += add_missing_indexes(CheckIn)
    if "evidence" in {c.name for c in db.get_columns("checkin")}:
        moved = _move_evidence_column()
        migrator = SchemaMigrator.from_database(db.obj)
        migrate(migrator.drop_column("checkin", "evidence"), migrator.drop_column("checkin", "evidence_type"))
        changes.append(f"{moved} pieces of evidence moved from checkin.evidence to evidence")
    return changes


def _move_evidence_column() -> int:
    from models import CheckIn, CheckInEvidence, Evidence

    old = Table("checkin", ("id", "staff_id", "department_id", "created_at", "evidence_type", "evidence")).bind(db)
    rows = list(old.select(old.id, old.staff_id, old.department_id, old.created_at, old.evidence_type, old.evidence)
                .where(old.evidence.is_null(False)).tuples())
    with db.atomic():
        for checkin, staff, department, created, kind, value in rows:
            media = kind in ("image", "voice", "video", "shortvideo")
            piece = Evidence.create(staff=staff, department=department, kind=kind or "image", received_at=created,
                                    media_id=value if media else None, text=None if media else value,
                                    state="pending" if media else "stored", next_attempt_at=created)
            CheckInEvidence.create(checkin=checkin, evidence=piece)
            CheckIn.update(evidence_count=1).where(CheckIn.id == checkin).execute()
    return len(rows)


def _v5_dashboard() -> list[str]:
    from models import DashboardSession, DashboardUser, LoginFailure, LoginLink, Notice, Occurrence, Snapshot

    changes = create_missing_tables([DashboardUser, LoginLink, LoginFailure, DashboardSession, Notice, Snapshot])
    return changes + add_missing_columns(Occurrence, ("created_by",))


def _v6_assessment() -> list[str]:
    from models import AssessmentEntry, AssessmentFreeze

    return create_missing_tables([AssessmentEntry, AssessmentFreeze])


MIGRATIONS: list[Migration] = [
    Migration(1, "the schema of init-db before versions", _v1_before_versions),
    Migration(2, "count forced token refreshes", _v2_forced_refreshes),
    Migration(3, "remember the checklist a person was shown", _v3_listing),
    Migration(4, "evidence as records of their own, collective activities", _v4_evidence_records),
    Migration(5, "the dashboard: accounts, login links, sessions, notices, snapshots", _v5_dashboard),
    Migration(6, "the year-end assessment: entries and the frozen table", _v6_assessment),
]
LATEST = MIGRATIONS[-1].number
