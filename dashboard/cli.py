"""The organiser's commands: the roster, binding codes, the evidence archive and its store, the demo roster."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from campaign import binding, evidence, people, roster, sessions
from campaign.clock import from_utc
from campaign.objects import LocalStore, StoreError
from commands import register, require_department, runtime, upgrade_schema, with_db
from config import APP_ROOT

cli = AppGroup("dashboard")
DEMO_ROSTER = APP_ROOT / "plans" / "demo_roster.csv"


@cli.command("import-staff")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--sync", is_flag=True,
              help="the file is the whole unit: mark everyone missing from it as left (离职), after listing them")
@click.option("--dry-run", is_flag=True, help="say what would change, and change nothing")
@click.option("--force", is_flag=True, help="with --sync: mark them left even when they are half the roster or more")
@with_db
def import_staff(path, sync, dry_run, force):
    """Import departments and staff from CSV, XLSX or XLS (re-import updates by phone)."""
    try:
        report = roster.import_roster(path, dry_run=dry_run)
    except (roster.RosterError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for line, reason in report.errors:
        click.echo(f"{path}: line {line}: {reason}", err=True)
    if report.unlisted:
        click.echo(f"{path}: {report.unlisted:,} more rows rejected (only the first {len(report.errors)} are listed)",
                   err=True)
    click.echo(("dry run, nothing changed: would have " if dry_run else "") + report.summary())
    if sync:
        _sync(report, dry_run, force)
    if report.rejected:
        sys.exit(1)


def _sync(report, dry_run: bool, force: bool) -> None:
    """Everyone on the roster whom the file leaves out: listed, then marked left."""
    missing = people.absent_from(report.phones)
    click.echo(f"not in the file: {len(missing)}" + (":" if missing else ""))
    for person in missing[:200]:
        click.echo(f"  {person.department.name}  {person.name}  {person.phone}")
    if len(missing) > 200:
        click.echo(f"  ... and {len(missing) - 200} more")
    if not missing:
        return
    refusal = roster.sync_refusal(report, missing, people.on_roster_count() + (report.created if dry_run else 0), force)
    if refusal:
        raise click.ClickException(refusal)
    if dry_run:
        click.echo(f"dry run: would mark {len(missing)} people left (离职); nothing changed")
        return
    click.echo(f"marked {people.mark_left(missing)} people left (离职): kept with their check-ins, counted nowhere, "
               "sent nothing")


@cli.command("bind-codes")
@click.option("--department", default=None, help="only this department")
@click.option("--rebind", is_flag=True, help="also people already bound (their next code rebinds them)")
@click.option("--out", default=None, type=click.Path(dir_okay=False),
              help="CSV file to write (default: a new file in [storage] private_dir)")
@click.option("--force", is_flag=True, help="overwrite --out if it exists")
@with_db
def bind_codes(department, rebind, out, force):
    """Issue one-time binding codes and write name,department,phone,code to a CSV (mode 0600)."""
    rt = runtime()
    if out is None:
        out = str(_private_file(rt, f"codes-{rt.clock():%Y%m%d-%H%M%S}.csv"))
    if not out.strip():
        raise click.ClickException("--out: give the name of the CSV file to write")
    if Path(out).exists() and not force:
        # Codes are stored hashed: the sheet is the only copy a person can be given.
        raise click.ClickException(f"--out {out} already exists (it may hold codes still to hand out); "
                                   "choose another name, or add --force to overwrite it")
    require_department(department)
    try:
        issued = binding.issue_codes(rt.clock(), rt.bind_policy, department, rebind,
                                     deliver=lambda codes: binding.write_codes(out, codes))
    except OSError as exc:
        raise click.ClickException(f"--out {out}: cannot write the codes ({exc.strerror or exc}); "
                                   "no code was changed") from None
    click.echo(f"{len(issued)} codes written to {out} (valid {rt.config.binding.code_ttl_days} days)")


def _private_file(rt, name: str) -> Path:
    """A path in the private folder (created readable by its owner only)."""
    folder = rt.config.path(rt.config.storage.private_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder / name


@cli.command("demo")
@with_db
def demo():
    """Load the demo roster and pre-bind its people as openid demo-<phone> (local emulator only)."""
    rt = runtime()
    if not rt.config.local_api:
        raise click.ClickException(
            f"demo adds made-up people to the roster; refused while wechat.api_base is "
            f"{rt.config.wechat.api_base} (the real platform). It is for a local emulator, as `make run` uses.")
    upgrade_schema()
    report = roster.load_demo(DEMO_ROSTER)
    unbound = "、".join(sorted(roster.demo_unbound(DEMO_ROSTER)))
    click.echo(f"demo roster: {report.summary()}; demo users bound as demo-<phone>, "
               f"except {unbound}, left for trying bind-codes")


staff = AppGroup("staff", help="List, find and change people on the roster.")


@staff.command("list")
@click.option("--department", default=None, help="only this department")
@click.option("--status", default=None, help="only this status (active, exempt, left, or a Chinese word)")
@with_db
def staff_list(department, status):
    """The roster: department, name, phone, role, status, bound or not."""
    require_department(department)
    shown = people.listing(department, _status(status) if status else None)
    for person in shown:
        click.echo(_line(person))
    click.echo(f"{len(shown)} people")


@staff.command("find")
@click.argument("text")
@with_db
def staff_find(text):
    """People whose name or phone holds TEXT."""
    found = people.find(text)
    for person in found:
        click.echo(_line(person))
    if not found:
        raise click.ClickException(f"nobody's name or phone holds {text!r}")


@staff.command("set")
@click.argument("phone")
@click.option("--status", default=None, help="active, exempt, left (or 请假, 借调, 离职, 退休 ...)")
@click.option("--department", default=None, help="a department on the roster")
@with_db
def staff_set(phone, status, department):
    """Change one person's status or department (by phone)."""
    if status is None and department is None:
        raise click.ClickException("give --status or --department (or both)")
    person = people.by_phone(phone)
    if person is None:
        raise click.ClickException(f"no one with phone {phone!r} on the roster (find them: staff find NAME)")
    if status is not None:
        new = _status(status)
        click.echo(f"{person.name}: status {people.set_status(person, new)} -> {new}")
    if department is not None:
        require_department(department)
        moved_to = people.department_named(department)
        click.echo(f"{person.name}: department {people.set_department(person, moved_to)} -> {department}")


def _status(word: str) -> str:
    status = roster.parse_status(word)
    if status is None:
        raise click.ClickException(f"--status {word!r} is not one of: {roster.words_for(roster.STATUS_WORDS, roster.STATUSES)}")
    return status


def _line(person) -> str:
    bound = "bound" if person.openid else "unbound"
    return f"{person.department.name}\t{person.name}\t{person.phone}\t{person.role}\t{person.status}\t{bound}"


cli.add_command(staff)


@cli.command("evidence")
@click.option("--all", "show_all", is_flag=True, help="list every piece waiting or lost, not the first 50")
@with_db
def evidence_list(show_all):
    """The evidence archive: pieces per state, and those still to fetch or lost (with why)."""
    rt = runtime()
    counts = evidence.counts()
    click.echo("evidence: " + ", ".join(f"{state} {n}" for state, n in counts.items()))
    pieces = evidence.waiting_or_lost(limit=100_000 if show_all else 50)
    for piece in pieces:
        at = from_utc(piece.received_at, rt.config.tz)
        why = f"  {piece.error}" if piece.error else ""
        click.echo(f"{piece.state:<8} {at:%Y-%m-%d %H:%M}  {piece.staff.name}  {piece.kind}{why}")


@cli.command("check-store")
@with_db
def check_store():
    """The archive's store: a probe object written, read and deleted; every stored piece's files there."""
    archive = runtime().archive
    missing, pieces = [], set()
    try:
        archive.probe()
        click.echo(f"{archive.store.where}: writes, reads and deletes (a probe object)")
        present = set(archive.store.keys())  # one listing (a request per 1,000 keys), not a HEAD per file
        for piece_id, sha256 in evidence.stored_files():
            pieces.add(piece_id)
            if archive.key(sha256) not in present:
                missing.append((piece_id, sha256))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for piece_id, sha256 in missing[:20]:
        click.echo(f"missing: piece {piece_id} file {sha256}")
    if missing:
        raise click.ClickException(f"{len(missing)} files of {len(pieces)} stored pieces are not in {archive.store.where} "
                                   f"(copy-media --from the old media_dir, or restore them from a backup)")
    click.echo(f"{len(pieces)} stored pieces: every file and thumbnail present")


@cli.command("copy-media")
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False),
              help="the media_dir the files are in now (its ab/cdef... layout)")
def copy_media(source):
    """Copy an archive folder into the configured store, each file checked; run again to resume."""
    archive = runtime().archive
    if isinstance(archive.store, LocalStore) and Path(source).resolve() == archive.store.folder.resolve():
        raise click.ClickException(f"--from {source}: is the configured store itself ([storage] backend = \"local\")")
    try:
        done = archive.copy_from(LocalStore(source))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    for line in done.damaged[:20]:
        click.echo(f"damaged: {line}")
    click.echo(f"copied {done.copied}, already there {done.already}, damaged {len(done.damaged)}")
    if done.damaged:
        raise click.ClickException(f"{len(done.damaged)} damaged files were not copied: restore them from a backup "
                                   "(the rest are in the store)")


@cli.command("create-user")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input (for scripts)")
@click.option("--reset", is_flag=True, help="the account exists: set its new password and end its sessions")
@with_db
def create_user(username, password_stdin, reset):
    """A password account for an admin of the dashboard (hashed with scrypt)."""
    rt = runtime()
    upgrade_schema()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = sessions.set_password(username, password, rt.clock(), reset)
    except sessions.BadAccount as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'password changed for' if reset else 'created'} admin account {user.username!r}; "
               f"log in at {rt.config.dashboard.public_url.rstrip('/')}/dashboard/login")


def init_app(app) -> None:
    register(app, cli)
