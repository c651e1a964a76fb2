"""A unit that had one machine moves its archive into the object store: copy-media copies the old
media_dir's files (checked against their names, whole, resumable), check-store proves the store
works and holds every stored piece's files, and says what is missing or damaged."""
from __future__ import annotations

import pytest

from config import load_config
from emulator import inbound
from models import Evidence
from tests.conftest import write_config
from tests.test_media import jpeg, media_world, upload  # noqa: F401  (the fixture)


def s3_app(world, moto, bucket: str):
    """A second app on the world's database, its archive in the bucket: the same unit after the move."""
    from server import create_app

    path = write_config(world.tmp, world.app.extensions["tuanjie"].config.database.url, name="moved.toml",
                        storage=moto.storage_toml(bucket))
    return create_app(load_config(path, environ={}))


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.mark.parametrize("media_world", ["local"], indirect=True)
def test_copy_media_moves_an_old_media_dir_into_the_bucket_and_check_store_finds_every_file(media_world, moto):
    world, emu = media_world
    world.say("o-bob", "1")
    for colour in ((200, 0, 0), (0, 200, 0)):
        world.send(inbound.image("o-bob", upload(emu, "image", jpeg(colour=colour))))
    assert "media: 2" in world.cli("run-job", "media").output
    old = world.app.extensions["tuanjie"].archive
    moved = s3_app(world, moto, moto.new_bucket())

    before = cli(moved, "check-store")
    assert before.exit_code == 1 and "4 files of 2 stored pieces are not in s3://" in before.output, before.output
    first = cli(moved, "copy-media", "--from", str(old.store.folder))
    assert first.exit_code == 0 and "copied 4, already there 0, damaged 0" in first.output, first.output
    again = cli(moved, "copy-media", "--from", str(old.store.folder))  # stopped and run again: nothing twice
    assert "copied 0, already there 4, damaged 0" in again.output, again.output
    checked = cli(moved, "check-store")
    assert checked.exit_code == 0, checked.output
    assert "writes, reads and deletes" in checked.output and "2 stored pieces: every file and thumbnail present" \
        in checked.output
    archive = moved.extensions["tuanjie"].archive
    assert all(archive.get(p.sha256) == old.get(p.sha256) for p in Evidence.select())
    assert len(list(archive.store.keys())) == 4  # the probe object is gone


@pytest.mark.parametrize("media_world", ["local"], indirect=True)
def test_a_damaged_file_is_listed_and_not_copied(media_world, moto):
    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg())))
    world.cli("run-job", "media")
    old = world.app.extensions["tuanjie"].archive
    piece = Evidence.get()
    old.store.path(old.key(piece.sha256)).write_bytes(b"a disk that rotted")
    moved = s3_app(world, moto, moto.new_bucket())
    result = cli(moved, "copy-media", "--from", str(old.store.folder))
    assert result.exit_code == 1 and f"damaged: {old.key(piece.sha256)}: its bytes no longer match" in result.output
    assert "copied 1, already there 0, damaged 1" in result.output, result.output
    checked = cli(moved, "check-store")
    assert checked.exit_code == 1 and f"missing: piece {piece.id} file {piece.sha256}" in checked.output


def test_check_store_names_a_bucket_that_does_not_exist(make_world, moto):
    world = make_world(storage=moto.storage_toml("bucket-nobody-made"))
    result = world.cli("check-store")
    assert result.exit_code == 1 and "storage.bucket: there is no bucket 'bucket-nobody-made'" in result.output
    assert "Traceback" not in result.output
