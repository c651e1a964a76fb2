"""`flask --app server init-db`: create or upgrade the schema."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from commands import register, with_db
from storage import migrations

cli = AppGroup("storage")


@cli.command("init-db")
@with_db
def init_db():
    """Create or upgrade the schema (numbered migrations). Safe to run twice; adds no people."""
    changes = migrations.upgrade()
    click.echo("schema: " + (", ".join(changes) if changes else "up to date"))


def init_app(app) -> None:
    register(app, cli)
