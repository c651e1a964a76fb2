"""`flask --app server init-db`, `backup` and `migrate-to`: create or upgrade the schema, copy
a live SQLite database, move a deployment into PostgreSQL (storage/moving.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from commands import progress, register, runtime, with_db
from config import redact
from storage import migrations, moving
from storage.engine import db

cli = AppGroup("storage")


@cli.command("init-db")
@with_db
def init_db():
    """Create or upgrade the schema (numbered migrations). Safe to run twice; adds no people."""
    changes = migrations.upgrade()
    click.echo("schema: " + (", ".join(changes) if changes else "up to date"))


@cli.command("backup")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="the file to write (refused if it exists, unless --force)")
@click.option("--force", is_flag=True, help="replace an existing file")
def backup(out, force):
    """A consistent copy of the live SQLite database (SQLite's online backup): the services
    may keep running. PostgreSQL: pg_dump; MySQL: mysqldump."""
    try:
        size = moving.backup_sqlite(db.obj, out, force)
    except moving.MoveError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup: {out} ({size / 1e6:.1f} MB), checked")


@cli.command("migrate-to")
@click.argument("url")
def migrate_to(url):
    """Copy every row of this deployment into an empty database at URL (postgresql://...),
    checked table by table; then point [database] url at it. Stop the services first."""
    rt = runtime()
    if not url.startswith(("postgresql://", "postgres://", "mysql://", "sqlite:///")):
        raise click.ClickException(f"migrate-to: {redact(url)} is not a database URL "
                                   "(postgresql://user@host:5432/tuanjie, mysql://..., sqlite:///...)")
    try:
        with db.connection_context():
            target = moving.open_target(url, rt.config.base_dir)
            try:
                version = moving.prepare_target(target)
                click.echo(f"target {redact(url)}: schema version {version}", err=True)
                tables = _copy_with_progress(target)
            finally:
                target.close()
    except moving.MoveError as exc:
        raise click.ClickException(f"migrate-to: {exc}") from None
    width = max(len(t.table) for t in tables)
    for t in tables:
        click.echo(f"  {t.table:<{width}}  {t.rows:>9} rows  sha256 {t.checksum[:16]}  same in both")
    click.echo(f"migrate-to: {sum(t.rows for t in tables)} rows in {len(tables)} tables copied and compared; "
               f"now set [database] url = \"{redact(url)}\" and start the services")


def _copy_with_progress(target):
    """A progress bar on a terminal; elsewhere (a log, a pipe) a line as each table starts."""
    if not sys.stderr.isatty():
        started = set()

        def line(table, n):
            if table not in started:
                started.add(table)
                click.echo(f"copying {table}", err=True)
        return moving.copy_all(target, line)
    total = sum(m.select().count() for m in moving.copied_models())
    with progress(total, "copying") as bar:
        return moving.copy_all(target, lambda table, n: bar.update(n))


def init_app(app) -> None:
    register(app, cli)
