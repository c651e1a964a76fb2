"""peewee models and database set-up.

The database is deferred (a DatabaseProxy) and bound by `init_database(url)`, so that
importing this module opens nothing. Timestamps are stored as naive UTC datetimes;
callers convert with `to_utc()`.

Check-in rows carry a copy of the person's department: participation by department
is then a covering-index scan instead of a JOIN (see DESIGN.md, measured facts).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import threading
import time
from pathlib import Path

from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    MySQLDatabase,
    SqliteDatabase,
    Table,
    TextField,
)
from playhouse.db_url import connect as connect_url

db = DatabaseProxy()

ROLES = ("staff", "leader", "organiser")
STATUSES = ("active", "exempt")


def to_utc(moment: dt.datetime) -> dt.datetime:
    """Aware datetime -> naive UTC for storage."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware `now`")
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


class BaseModel(Model):
    class Meta:
        database = db


class Department(BaseModel):
    name = CharField(max_length=100, unique=True)


class Staff(BaseModel):
    name = CharField(max_length=50)
    phone = CharField(max_length=20, unique=True)
    # Indexed below with status: the eligible count per department reads that index alone.
    department = ForeignKeyField(Department, backref="staff", on_delete="RESTRICT", index=False)
    role = CharField(max_length=10, default="staff")
    status = CharField(max_length=10, default="active")
    openid = CharField(max_length=64, null=True, unique=True)
    bound_at = DateTimeField(null=True)
    # The item the person's next photo belongs to ("checklist/item"): an evidence-required item
    # waiting for the photo that completes it, or a done one they asked about again. It holds
    # for handlers.EVIDENCE_WINDOW from awaiting_at unless a newer check-in comes; when it ends,
    # awaiting_at keeps the moment (see handlers.on_evidence).
    awaiting = CharField(max_length=80, null=True)
    awaiting_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "department"), False), (("department", "status"), False))

    @property
    def eligible(self) -> bool:
        return self.status != "exempt"


class BindCode(BaseModel):
    staff = ForeignKeyField(Staff, backref="codes", on_delete="CASCADE")
    code_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField()
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    used_by = CharField(max_length=64, null=True)


class BindFailure(BaseModel):
    openid = CharField(max_length=64)
    at = DateTimeField()

    class Meta:
        indexes = ((("openid", "at"), False),)


class CheckIn(BaseModel):
    # No index of its own: the unique index below starts with staff_id.
    staff = ForeignKeyField(Staff, backref="checkins", on_delete="CASCADE", index=False)
    # Not indexed alone either: departments are never deleted, and every count by department
    # goes through the (checklist, year, department, staff, item) index.
    department = ForeignKeyField(Department, on_delete="RESTRICT", index=False)
    checklist = CharField(max_length=40)
    item = CharField(max_length=40)
    # The campaign year: next year's campaign starts from zero, this year's stays countable.
    year = IntegerField(default=0)
    created_at = DateTimeField()
    # Evidence: media id of a photo/voice/video sent by the person, or a short text.
    evidence_type = CharField(max_length=10, null=True)
    evidence = TextField(null=True)

    class Meta:
        indexes = (
            # Column order matters: a person's done items (staff, checklist, year) are a prefix
            # of it, so that lookup reads a few index entries instead of the whole checklist.
            (("staff", "checklist", "year", "item"), True),
            # With item last, counts by department that skip items no longer in the plan read
            # this index alone (covering), not the table.
            (("checklist", "year", "department", "staff", "item"), False),
            # Department before staff: one department's counts per item are a seek per item.
            (("checklist", "year", "item", "department", "staff"), False),
        )


class InboundMessage(BaseModel):
    """Every message and event from WeChat, stored once, with the reply we gave."""

    dedup_key = CharField(max_length=200, unique=True)
    openid = CharField(max_length=64)
    msg_type = CharField(max_length=64)  # "event:subscribe_msg_popup_event" is 31 characters
    body = TextField(null=True)
    received_at = DateTimeField()
    reply = TextField(null=True)
    failed = BooleanField(default=False)
    # The signed request's (timestamp, nonce): the same pair on another message is a replay.
    # Kept on this row rather than in a table of their own: one row and one index fewer to
    # write per message (bench/webhook.py). Rows from before these columns hold NULLs.
    timestamp = IntegerField(null=True)
    nonce = CharField(max_length=64, null=True)

    class Meta:
        indexes = ((("timestamp", "nonce"), True),)


class Occurrence(BaseModel):
    """One firing of a reminder (e.g. monthly_talk@2026-05-06): fanned out once, or expired."""

    key = CharField(max_length=120, unique=True)
    reminder = CharField(max_length=40)
    due_at = DateTimeField()
    state = CharField(max_length=12)  # fanned_out | expired
    recipients = IntegerField(default=0)
    skipped = TextField(null=True)  # JSON {reason: count}
    created_at = DateTimeField()


class Outbox(BaseModel):
    """One message to one person for one occurrence. The unique key makes fan-out idempotent.

    pending -> sending (leased to one sender) -> sent | failed (permanent) | retry (transient,
    with backoff) | unknown (the sender died after the request may have left).
    """

    key = CharField(max_length=160, unique=True)
    occurrence = ForeignKeyField(Occurrence, backref="messages", on_delete="CASCADE")
    staff = ForeignKeyField(Staff, on_delete="CASCADE")
    openid = CharField(max_length=64)
    channel = CharField(max_length=12)  # template | subscribe | custom
    payload = TextField()  # JSON, built at fan-out so a resend is identical
    state = CharField(max_length=10, default="pending")
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField()
    lease_until = DateTimeField(null=True)
    owner = CharField(max_length=80, null=True)  # host:pid of the sender holding the lease
    msgid = CharField(max_length=32, null=True)
    errcode = IntegerField(null=True)
    last_error = TextField(null=True)
    delivery = CharField(max_length=40, null=True)  # TEMPLATESENDJOBFINISH Status
    created_at = DateTimeField()
    sent_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("state", "next_attempt_at"), False),
            (("staff", "created_at"), False),
            (("msgid",), False),
        )


class AccessToken(BaseModel):
    """The shared access_token: one row per AppID, so N workers share one token."""

    app_id = CharField(max_length=40, unique=True)
    token = TextField()
    expires_at = DateTimeField()
    updated_at = DateTimeField()


ALL_MODELS = [Department, Staff, BindCode, BindFailure, CheckIn, InboundMessage, Occurrence, Outbox, AccessToken]


class QueuedSqliteDatabase(SqliteDatabase):
    """SQLite whose write transactions queue on an OS file lock before BEGIN IMMEDIATE.

    SQLite's busy handler retries after sleeping 1, 2, 5, 10, 15... ms, so a waiting writer
    often sleeps through the moment the lock frees; a blocking flock wakes the next writer
    at once. Each thread opens its own lock file object (flock excludes per open file, so
    threads of one process queue too); it is closed with the thread.
    """

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        self._queue_path = f"{database}.writers"
        self._queue = threading.local()

    def _queue_file(self):
        fh = getattr(self._queue, "fh", None)
        if fh is None:
            fh = self._queue.fh = open(self._queue_path, "a")
        return fh

    def begin(self, lock_type=None):
        fh = self._queue_file()
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            super().begin(lock_type)
        except BaseException:
            fcntl.flock(fh, fcntl.LOCK_UN)
            raise

    def _dequeue(self):
        fh = getattr(self._queue, "fh", None)
        if fh is not None:
            fcntl.flock(fh, fcntl.LOCK_UN)

    def commit(self):
        try:
            return super().commit()
        finally:
            self._dequeue()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self._dequeue()


class Prepared:
    """A peewee query compiled once and executed again with some parameters swapped.

    On the hot paths (the webhook's check-in, the sender's claim) peewee rebuilding the same
    SQL text cost more CPU than running it: about 0.4 ms per statement-heavy message
    (bench/fanout.py, bench/webhook.py profiles). `build` returns the query with sentinel
    values where parameters change; peewee still does the quoting and parameter style of
    the database in use. The SQL is recompiled when the database is re-initialised.
    """

    def __init__(self, build, **sentinels):
        self.build, self.sentinels = build, sentinels
        self._for = None

    def _compile(self) -> None:
        sql, params = self.build().sql()
        where = {(type(v), v): name for name, v in self.sentinels.items()}
        slots = [(where.get((type(p), p)), p) for p in params]
        missing = set(self.sentinels) - {n for n, _ in slots if n}
        if missing:
            raise ValueError(f"sentinels not found in the SQL: {sorted(missing)}")
        self.sql, self.slots, self._for = sql, slots, db.obj

    def execute(self, **values):
        if self._for is not db.obj:
            self._compile()
        return db.execute_sql(self.sql, [values[name] if name else p for name, p in self.slots])

    def get(self, model, **values):
        """The first row as a `model` instance (fields converted as peewee would), or None."""
        cursor = self.execute(**values)
        row = cursor.fetchone()
        if row is None:
            return None
        columns = model._meta.columns
        fields = [columns[d[0]] for d in cursor.description]
        return model(**{f.name: f.python_value(v) for f, v in zip(fields, row)})


# Sentinels for Prepared: values no real row carries.
S_ID, S_INT, S_YEAR = -7270001, -7270002, -7270003
S_TEXT, S_TEXT2, S_TEXT3, S_TEXT4, S_TEXT5, S_TEXT6 = (f"\x00sentinel{i}" for i in range(1, 7))
S_TIME = dt.datetime(1901, 1, 1, 0, 0, 1)


def make_database(url: str, base_dir: str | Path = "."):
    """Database object for a URL; SQLite paths are relative to base_dir."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        if str(path) != ":memory:":
            path = path if path.is_absolute() else Path(base_dir) / path
            path.parent.mkdir(parents=True, exist_ok=True)
        # BEGIN IMMEDIATE takes the write lock up front, so two writers never deadlock
        # upgrading read locks; WAL lets readers go on while one writes.
        database = QueuedSqliteDatabase if str(path) != ":memory:" else SqliteDatabase
        return database(
            str(path),
            lock_type="IMMEDIATE",
            pragmas={
                "journal_mode": "wal",
                "busy_timeout": 10000,
                "foreign_keys": 1,
                "synchronous": "normal",
            },
        )
    if url.startswith(("mysql://", "mysql+pool://")):
        # MySQL's TEXT holds 65,535 bytes, one short of the largest body the webhook accepts; its
        # DATETIME drops fractions of a second, which order a person's messages within a second.
        return connect_url(url, field_types={"TEXT": "MEDIUMTEXT", "DATETIME": "DATETIME(6)"})
    return connect_url(url)


def init_database(url: str, base_dir: str | Path = "."):
    database = make_database(url, base_dir)
    db.initialize(database)
    return database


def create_schema() -> list[str]:
    """Create missing tables, columns and indexes, and drop replaced ones; safe to run again.

    Returns what changed, e.g. ["table staff", "column staff.awaiting"]. Columns added to
    an existing table must be nullable or have a default (old rows get it).
    """
    existing = set(db.get_tables())
    changes = [f"table {m._meta.table_name}" for m in ALL_MODELS if m._meta.table_name not in existing]
    changes += _add_columns(existing)
    if isinstance(db.obj, MySQLDatabase):
        changes += _widen_mysql(existing)
    if "column checkin.year" in changes:
        _backfill_checkin_year()
    # New indexes before the old ones go: on MySQL a foreign key needs some index at all times.
    changes += _add_indexes(existing)
    changes += _drop_obsolete(existing)
    with db.atomic():
        db.create_tables(ALL_MODELS, safe=True)
    return changes


def _upgraded(existing: set[str]):
    """(model, table) for the models whose table is already there."""
    return [(m, m._meta.table_name) for m in ALL_MODELS if m._meta.table_name in existing]


def _add_columns(existing: set[str]) -> list[str]:
    from playhouse.migrate import SchemaMigrator, migrate

    migrator, changes = SchemaMigrator.from_database(db.obj), []
    for model, table in _upgraded(existing):
        have = {c.name for c in db.get_columns(table)}
        for f in model._meta.sorted_fields:
            if f.column_name not in have:
                migrate(migrator.add_column(table, f.column_name, f))
                changes.append(f"column {table}.{f.column_name}")
    return changes


def _backfill_checkin_year() -> None:
    """Rows from before the year column belong to the year they were made in: one UPDATE
    (peewee writes the year extraction for each database), not one per row."""
    with db.atomic():
        CheckIn.update(year=CheckIn.created_at.year).execute()


def _add_indexes(existing: set[str]) -> list[str]:
    """Indexes new to an existing table. Done here because peewee's create_table(safe=True)
    skips a table that exists on MySQL, new indexes included."""
    changes = []
    for model, table in _upgraded(existing):
        have = {i.name for i in db.get_indexes(table)}
        for index in model._meta.fields_to_index():
            if index._name not in have:
                db.execute(model._schema._create_index(index, safe=False))
                changes.append(f"index {index._name}")
    return changes


def _drop_obsolete(existing: set[str]) -> list[str]:
    changes, mysql = [], isinstance(db.obj, MySQLDatabase)
    for table, index in OBSOLETE_INDEXES:
        if mysql and (table, index) in MYSQL_FK_INDEXES:
            continue
        if table in existing and index in {i.name for i in db.get_indexes(table)}:
            drop_index(table, index)
            changes.append(f"dropped index {index}")
    for table in OBSOLETE_TABLES:
        if table in existing:
            if table == "seennonce":
                _move_recent_nonces()
            db.execute_sql(f"DROP TABLE {quote(table)}")
            changes.append(f"dropped table {table}")
    return changes


def _widen_mysql(existing: set[str]) -> list[str]:
    """Columns of a MySQL schema made before make_database's field types: TEXT that should be
    MEDIUMTEXT, and DATETIME without the fractions of a second that DATETIME(6) keeps."""
    changes = []
    for model, table in _upgraded(existing):
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


def quote(name: str) -> str:
    """An identifier quoted for the database in use."""
    return f"`{name}`" if isinstance(db.obj, MySQLDatabase) else f'"{name}"'


def drop_index(table: str, index: str) -> None:
    db.execute_sql(f"DROP INDEX {quote(index)} ON {quote(table)}" if isinstance(db.obj, MySQLDatabase)
                   else f"DROP INDEX {quote(index)}")


# Tables an older schema had, holding nothing worth keeping: seennonce held (timestamp, nonce)
# pairs for ten minutes; they now live on inboundmessage.
OBSOLETE_TABLES = ["seennonce"]

# InnoDB refuses to drop the only index that serves a foreign key (error 1553), and on a new
# table it makes one itself; on an upgraded MySQL database these stay.
MYSQL_FK_INDEXES = {("checkin", "checkin_department_id")}

# Indexes an older schema had that now stand in the way (replaced by wider ones).
OBSOLETE_INDEXES = [
    ("checkin", "checkin_staff_id_checklist_item"),
    ("checkin", "checkin_checklist_department_id_staff_id"),
    ("checkin", "checkin_checklist_item_staff_id"),
    ("checkin", "checkin_staff_id_checklist_item_year"),
    ("checkin", "checkin_staff_id"),
    ("checkin", "checkin_department_id"),  # kept on MySQL, see MYSQL_FK_INDEXES
    ("staff", "staff_department_id"),  # (department, status) serves its foreign key
    ("checkin", "checkin_checklist_year_department_id_staff_id"),
    ("checkin", "checkin_checklist_year_item_staff_id"),
]
