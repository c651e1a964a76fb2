"""One scheduler at a time: a second one started by mistake must not send anything.

SQLite: an exclusive flock on a file beside the database (released by the kernel when the
process dies). PostgreSQL: pg_try_advisory_lock on a connection held for the process's life.
MySQL: GET_LOCK with no wait.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from peewee import MySQLDatabase, PostgresqlDatabase, SqliteDatabase

LOCK_ID = 727274  # arbitrary, constant: "tuanjie scheduler"


def pid_alive(pid: int) -> bool:
    """Whether a process of this machine still runs (the owner of a lease, a claim, a lock)."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True


class LockHeld(Exception):
    pass


class SchedulerLock:
    def __init__(self, database):
        self.database = database
        self._fh = None
        self._conn = None

    def acquire(self) -> "SchedulerLock":
        db = self.database
        if isinstance(db, SqliteDatabase):
            path = Path(db.database + ".scheduler.lock")
            self._fh = open(path, "a+")
            try:
                fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._fh.close()
                raise LockHeld(f"another scheduler holds {path}") from None
            self._fh.seek(0)
            self._fh.truncate()
            self._fh.write(str(os.getpid()))
            self._fh.flush()
        elif isinstance(db, (PostgresqlDatabase, MySQLDatabase)):
            # A connection of our own, outside peewee's per-thread pool, held until release.
            self._conn = db._connect()
            cur = self._conn.cursor()
            if isinstance(db, PostgresqlDatabase):
                cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_ID,))
            else:
                cur.execute("SELECT GET_LOCK(%s, 0)", (f"tuanjie-scheduler-{LOCK_ID}",))
            if not cur.fetchone()[0]:
                self._conn.close()
                raise LockHeld("another scheduler holds the database's scheduler lock")
        else:
            raise LockHeld(f"no scheduler lock for {type(db).__name__}")
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
