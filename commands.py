"""What the CLI commands of every package share: the runtime, a database connection, and the
options several of them take (--now, --department), each checked with a message naming it."""
from __future__ import annotations

import contextlib
import datetime as dt
import functools
import sys

import click

from campaign import people
from campaign.plan import YEARS
from runtime import Runtime, runtime
from storage import migrations
from storage.engine import db

__all__ = ["runtime", "register", "with_db", "upgrade_schema", "parse_now", "require_department", "progress",
           "Runtime"]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass


@contextlib.contextmanager
def progress(length: int, label: str, **options):
    """A progress bar on stderr when it is a terminal. Under cron, systemd or a pipe click prints
    only the label, which read as a stray line ("sending") beside the command's own output."""
    if not sys.stderr.isatty():
        yield _NoBar()
        return
    with click.progressbar(length=length, label=label, file=sys.stderr, **options) as bar:
        yield bar


def register(app, group) -> None:
    """A package's commands, as top-level commands of the app (`flask --app server init-db`)."""
    for command in group.commands.values():
        app.cli.add_command(command)


def with_db(callback):
    """Run the command with a database connection open (closed after, whatever happens)."""
    @functools.wraps(callback)
    def run(*args, **kwargs):
        with db.connection_context():
            return callback(*args, **kwargs)
    return run


def parse_now(text: str | None, rt: Runtime) -> dt.datetime:
    """--now: an ISO time (in the campaign's zone unless it names one), or the clock's now."""
    if not text:
        return rt.clock()
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.ClickException(f"--now: {text!r} is not an ISO time like 2026-05-06T09:30") from None
    if value.year not in YEARS:
        raise click.ClickException(f"--now: {text!r} is outside the years {YEARS[0]}-{YEARS[-1]} a plan can cover")
    return value if value.tzinfo else value.replace(tzinfo=rt.config.tz)


def require_department(name: str | None, limit: int = 20) -> None:
    """--department names a department on the roster (None: all), or the command stops listing them."""
    if name is None or people.department_named(name) is not None:
        return
    names = people.department_names(limit + 1)
    known = ", ".join(names[:limit]) + (", ..." if len(names) > limit else "") if names else "none yet"
    raise click.ClickException(f"--department: no department {name!r} on the roster (departments: {known})")


def upgrade_schema() -> list[str]:
    """What init-db does, for commands that set up a database themselves (demo)."""
    return migrations.upgrade()
