"""Moving up: a consistent copy of a live SQLite database (`backup`), and a deployment copied
row by row into another database, PostgreSQL above all (`migrate-to`).

backup uses SQLite's online backup API in one step: it reads every page inside one read
transaction, so the copy is the database as of one commit, while the web workers and the
scheduler go on writing (WAL lets them; a backup in several steps would start again after
each of their writes). The copy goes to a temporary file beside the target, is checked, fsynced
and renamed: a stopped backup leaves no half-written file under the name asked for.

migrate-to refuses a target that holds rows, brings the target's schema to this version (the
same numbered migrations as init-db), then copies every table in foreign-key order, in id
order, a batch at a time, inside one transaction on the target. Before that transaction
commits, every table's row count and checksum (sha256 over each row's values, normalised so
that SQLite's text dates and PostgreSQL's timestamps compare equal) are read back from the
target and compared with the source's; any difference rolls everything back. The source is
read inside one transaction too (on SQLite that holds the writers' queue: stop the services
first, docs/deploy.md).
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from peewee import DecimalField, PostgresqlDatabase, SqliteDatabase, sort_models

from models import ALL_MODELS, SchemaVersion
from storage import migrations
from storage.durable import fsync_path
from storage.engine import db, make_database

BATCH = 1000


class MoveError(Exception):
    """Why a backup or a migration was refused or failed; the message names the problem."""


# --- backup ----------------------------------------------------------------------------------

def backup_sqlite(database, out: Path, force: bool = False) -> int:
    """Copy the live SQLite database to `out`; returns its size in bytes."""
    if not isinstance(database, SqliteDatabase) or database.database == ":memory:":
        raise MoveError("backup copies an SQLite database file; for PostgreSQL use pg_dump "
                        "(pg_dump -Fc -f FILE DBNAME), for MySQL/MariaDB mysqldump --single-transaction")
    source = Path(database.database)
    if not source.is_file():
        raise MoveError(f"no database file at {source}")
    if out.exists() and not force:
        raise MoveError(f"{out} exists; choose another name, or --force to replace it")
    if not out.parent.is_dir():
        raise MoveError(f"no folder {out.parent} for {out.name}")
    if out.resolve() == source.resolve():
        raise MoveError(f"{out} is the database itself")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        _online_copy(source, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_path(out.parent)
    return out.stat().st_size


def _online_copy(source: Path, tmp: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=-1)  # one step: one read transaction, so one consistent state
        check = dst.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise MoveError(f"the copy failed its check: {check}")
    finally:
        dst.close()
        src.close()
    fsync_path(tmp)


# --- migrate-to ------------------------------------------------------------------------------

@dataclass
class TableCopy:
    table: str
    rows: int
    checksum: str  # the source's; the target's was equal, or the copy was rolled back


def copied_models() -> list:
    """Every table with data, parents before children; the version row is the target's own."""
    return [m for m in sort_models(ALL_MODELS) if m is not SchemaVersion]


def open_target(url: str, base_dir: str):
    """The target database, connected, refused when it is the source or holds any row."""
    target = make_database(url, base_dir)
    if type(target) is type(db.obj) and target.database == db.obj.database and _same_server(target, db.obj):
        raise MoveError("the target is the database this deployment already uses")
    try:
        target.connect()
    except Exception as exc:
        raise MoveError(f"cannot connect to the target: {str(exc).strip().splitlines()[0]}") from None
    existing = set(target.get_tables())
    for model in copied_models():
        name = model._meta.table_name
        if name in existing and target.execute_sql(f"SELECT 1 FROM {_q(target, name)} LIMIT 1").fetchone():
            target.close()
            raise MoveError(f"the target is not empty: table {name} has rows (migrate-to copies into an "
                            f"empty database only, so that nothing there is overwritten)")
    return target


def _same_server(a, b) -> bool:
    return getattr(a, "connect_params", {}).get("host") == getattr(b, "connect_params", {}).get("host") and \
        getattr(a, "connect_params", {}).get("port") == getattr(b, "connect_params", {}).get("port")


def prepare_target(target) -> int:
    """The target's schema at this version, made by the same migrations as init-db."""
    source_version = migrations.version()
    if source_version != migrations.LATEST:
        raise MoveError(f"this database is at schema version {source_version}, the code at "
                        f"{migrations.LATEST}: run flask --app server init-db first")
    source = db.obj
    db.initialize(target)
    try:
        migrations.upgrade()
        return migrations.version()
    finally:
        db.initialize(source)


def copy_all(target, progress: Callable[[str, int], None] = lambda table, n: None) -> list[TableCopy]:
    """Every table into the (empty, migrated) target, checked before it commits."""
    done = []
    with db.atomic(), target.atomic():
        for model in copied_models():
            rows, checksum = _copy_table(model, target, progress)
            got_rows, got_sum = table_checksum(model, target)
            if (got_rows, got_sum) != (rows, checksum):
                raise MoveError(f"table {model._meta.table_name}: the target read back {got_rows} rows "
                                f"(checksum {got_sum[:12]}), the source has {rows} ({checksum[:12]}); "
                                f"nothing was kept")
            done.append(TableCopy(model._meta.table_name, rows, checksum))
        _reset_sequences(target)
    return done


def _copy_table(model, target, progress) -> tuple[int, str]:
    fields = list(model._meta.sorted_fields)
    columns = ", ".join(_q(target, f.column_name) for f in fields)
    row_sql = "(" + ", ".join([target.param] * len(fields)) + ")"
    insert = f"INSERT INTO {_q(target, model._meta.table_name)} ({columns}) VALUES "
    digest, count = hashlib.sha256(), 0
    for batch in _batches(model, db.obj, fields):
        for chunk in _by_size(batch):
            values = [f.db_value(v) for row in chunk for f, v in zip(fields, row)]
            target.execute_sql(insert + ", ".join([row_sql] * len(chunk)), values)
        for row in batch:
            digest.update(_row_text(fields, row))
        count += len(batch)
        progress(model._meta.table_name, len(batch))
    return count, digest.hexdigest()


def _by_size(rows, limit: int = 4 << 20):
    """Rows in statements of at most about `limit` bytes of text (MySQL's max_allowed_packet
    is 16 MB by default, and a stored message body may be 64 KiB)."""
    chunk, size = [], 0
    for row in rows:
        chunk.append(row)
        size += sum(len(v) for v in row if isinstance(v, str))
        if size >= limit:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def table_checksum(model, database) -> tuple[int, str]:
    """(rows, sha256 over every row in id order) of a table in `database`."""
    fields = list(model._meta.sorted_fields)
    digest, count = hashlib.sha256(), 0
    for batch in _batches(model, database, fields):
        for row in batch:
            digest.update(_row_text(fields, row))
        count += len(batch)
    return count, digest.hexdigest()


def _batches(model, database, fields):
    """The table's rows as python values, in id order, BATCH at a time (keyset: no OFFSET)."""
    table, pk = _q(database, model._meta.table_name), _q(database, model._meta.primary_key.column_name)
    columns = ", ".join(_q(database, f.column_name) for f in fields)
    last = None
    for _ in range(10**9 // BATCH):  # every batch moves `last` on, so this ends
        where = "" if last is None else f" WHERE {pk} > {database.param}"
        cursor = database.execute_sql(f"SELECT {columns} FROM {table}{where} ORDER BY {pk} LIMIT {BATCH}",
                                      [] if last is None else [last])
        rows = [[f.python_value(v) for f, v in zip(fields, raw)] for raw in cursor.fetchall()]
        if not rows:
            return
        yield rows
        last = rows[-1][fields.index(model._meta.primary_key)]


def _row_text(fields, row) -> bytes:
    return ("\x1f".join(_normal(f, v) for f, v in zip(fields, row)) + "\x1e").encode()


def _normal(field, value) -> str:
    """One value as the same text whatever database it came from."""
    if value is None:
        return "\x00"
    if isinstance(field, DecimalField):
        return str(decimal.Decimal(value).quantize(decimal.Decimal(1).scaleb(-field.decimal_places)))
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return str(value)


def _reset_sequences(target) -> None:
    """PostgreSQL's id sequences past the copied ids (MySQL and SQLite follow explicit ids)."""
    if not isinstance(target, PostgresqlDatabase):
        return
    for model in copied_models():
        table, pk = model._meta.table_name, model._meta.primary_key.column_name
        target.execute_sql(f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({_q(target, pk)}), 1), "
                           f"MAX({_q(target, pk)}) IS NOT NULL) FROM {_q(target, table)}", [table, pk])


def _q(database, name: str) -> str:
    """An identifier quoted for `database` (peewee's quote characters: "" or ``)."""
    return f"{database.quote[0]}{name}{database.quote[1]}"
