"""The database object: deferred, bound by `init_database(url)`, so importing opens nothing.

SQLite gets WAL, a busy timeout, BEGIN IMMEDIATE and a writers' queue on an OS file lock;
MySQL/MariaDB get wide text and fractional seconds; PostgreSQL is used as peewee makes it.
"""
from __future__ import annotations

import contextlib
import fcntl
import threading
from pathlib import Path

from peewee import (DatabaseError, DatabaseProxy, InterfaceError, MySQLDatabase, OperationalError, PostgresqlDatabase,
                    SqliteDatabase)
from playhouse.db_url import connect as connect_url

db = DatabaseProxy()
CONNECT_TIMEOUT = 2  # seconds, for PostgreSQL and MySQL


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
        return connect_url(url, field_types={"TEXT": "MEDIUMTEXT", "DATETIME": "DATETIME(6)"},
                           connect_timeout=CONNECT_TIMEOUT)
    # A server that does not answer must fail fast: the webhook has 5 s for its reply.
    return connect_url(url, connect_timeout=CONNECT_TIMEOUT)


def init_database(url: str, base_dir: str | Path = "."):
    database = make_database(url, base_dir)
    db.initialize(database)
    return database


def is_mysql() -> bool:
    return isinstance(db.obj, MySQLDatabase)


def is_postgres() -> bool:
    return isinstance(db.obj, PostgresqlDatabase)


def is_sqlite() -> bool:
    return isinstance(db.obj, SqliteDatabase)


def quote(name: str) -> str:
    """An identifier quoted for the database in use."""
    return f"`{name}`" if is_mysql() else f'"{name}"'


def drop_index(table: str, index: str) -> None:
    db.execute_sql(f"DROP INDEX {quote(index)} ON {quote(table)}" if is_mysql() else f"DROP INDEX {quote(index)}")


def transaction():
    """A use case's own transaction, or the caller's when one is open: the webhook stores a
    message, its effect and its reply in one, and a nested savepoint would only cost two
    statements on its hot path."""
    return contextlib.nullcontext() if db.in_transaction() else db.atomic()


def is_outage(exc: BaseException) -> bool:
    """The database cannot be reached or opened (down, restarting, an unreadable file), as
    opposed to a statement it refused: what a message waits out on local disk."""
    return isinstance(exc, (OperationalError, InterfaceError)) or type(exc) is DatabaseError


def drop_connection() -> None:
    """After an outage the connection may be dead: the next use opens a new one."""
    try:
        db.close()
    except Exception:  # closing a broken connection may fail too; it is gone either way
        pass


def ping() -> None:
    """One round trip; raises what the database raises."""
    db.execute_sql("SELECT 1").fetchone()
