"""The archive's two stores behave alike: on disk and in an S3-compatible bucket (moto's server over
HTTP). What is missing is Missing; a store that cannot be used says which [storage] key to check;
a large file goes in and comes out a chunk at a time."""
from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from campaign.archive import Archive
from campaign.objects import LocalStore, Missing, StoreError
from campaign.s3 import S3Store
from config import ConfigError, load_config
from tests.conftest import write_config
from tests.objectstore import ACCESS_KEY, REGION, SECRET_KEY, free_port


def s3(endpoint: str, bucket: str, **kw) -> S3Store:
    kw.setdefault("prefix", "tuanjie/")
    return S3Store(bucket=bucket, endpoint_url=endpoint, region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                   addressing_style="path", **kw)


@pytest.fixture(params=["local", "s3"])
def archive(request, tmp_path):
    if request.param == "local":
        return Archive.on_disk(tmp_path / "media")
    moto = request.getfixturevalue("moto")
    return Archive(s3(moto.endpoint, moto.new_bucket()), tmp_path / "media" / "tmp")


def test_a_kept_file_is_read_back_whole_and_its_temporary_file_is_gone(archive):
    kept = archive.put_bytes(b"a photo's bytes")
    assert kept.sha256 == hashlib.sha256(b"a photo's bytes").hexdigest()
    key = archive.key(kept.sha256)
    assert archive.has(kept.sha256) and archive.get(kept.sha256) == b"a photo's bytes"
    assert archive.store.size(key) == 15 and list(archive.store.keys()) == [key]
    assert b"".join(archive.chunks(kept.sha256)) == b"a photo's bytes"
    assert not list(archive.scratch.glob("in-*"))
    archive.store.delete(key)
    assert not archive.has(kept.sha256)


def test_a_missing_object_is_missing_for_every_way_of_reading_it(archive):
    absent = archive.key("0" * 64)
    assert not archive.store.exists(absent)
    for read in (archive.store.get, archive.store.open, archive.store.size):
        with pytest.raises(Missing, match="not in"):
            read(absent)
    archive.store.delete(absent)  # deleting what is not there is no error


def test_a_file_that_fails_midway_leaves_nothing_under_any_name(archive):
    from campaign.archive import TooLarge

    with pytest.raises(TooLarge):
        with archive.writer(10) as w:
            w.write(b"0123456789abc")
    assert not list(archive.store.keys()) and not list(archive.scratch.glob("in-*"))


def test_a_bucket_that_does_not_exist_is_named_as_the_problem(moto, tmp_path):
    store = s3(moto.endpoint, "no-such-bucket-here")
    archive = Archive(store, tmp_path / "tmp")
    with pytest.raises(StoreError, match="storage.bucket: there is no bucket 'no-such-bucket-here'"):
        archive.put_bytes(b"x")
    with pytest.raises(StoreError, match="storage.bucket"):
        store.get("ab/" + "c" * 62)
    with pytest.raises(StoreError, match="storage.bucket"):
        store.exists("ab/" + "c" * 62)
    with pytest.raises(StoreError, match="storage.bucket"):
        list(store.keys())
    assert not list((tmp_path / "tmp").glob("in-*"))  # the file that could not be kept is not left behind


def test_an_endpoint_nobody_answers_is_named_after_a_bounded_try(tmp_path):
    import time

    store = s3(f"http://127.0.0.1:{free_port()}", "any-bucket", connect_timeout=1, read_timeout=1, max_attempts=2)
    began = time.monotonic()
    with pytest.raises(StoreError, match="storage.endpoint_url: cannot reach http://127.0.0.1:"):
        store.exists("ab/cd")
    assert time.monotonic() - began < 10


def test_a_large_object_goes_in_and_comes_out_a_chunk_at_a_time(moto, tmp_path):
    archive = Archive(s3(moto.endpoint, moto.new_bucket()), tmp_path / "tmp")
    block, blocks = os.urandom(1 << 20), 48  # 48 MiB
    archive.has("0" * 64)  # the client made (botocore's model of S3 is loaded once, outside the count)
    tracemalloc.start()
    try:
        with archive.writer(64 << 20) as w:
            for _ in range(blocks):
                w.write(block)
            kept = w.keep()
        base, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        digest, size = hashlib.sha256(), 0
        for chunk in archive.chunks(kept.sha256):
            digest.update(chunk)
            size += len(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
        read_peak -= base
    finally:
        tracemalloc.stop()
    assert (size, digest.hexdigest()) == (blocks << 20, kept.sha256)
    assert archive.store.size(archive.key(kept.sha256)) == blocks << 20
    # A few buffers of a chunk or two: never the 48 MiB.
    assert put_peak < 4 << 20 and read_peak < 4 << 20, (put_peak, read_peak)


def test_the_keys_of_a_prefixed_store_leave_the_rest_of_the_bucket_alone(moto):
    bucket = moto.new_bucket()
    moto.client().put_object(Bucket=bucket, Key="someone-else/file", Body=b"theirs")
    store = s3(moto.endpoint, bucket, prefix="tuanjie")
    archive = Archive(store, "/nonexistent")  # no writing here
    assert list(store.keys()) == []
    moto.client().put_object(Bucket=bucket, Key="tuanjie/ab/" + "c" * 62, Body=b"ours")
    assert list(store.keys()) == ["ab/" + "c" * 62] and archive.get("ab" + "c" * 62) == b"ours"


def test_the_local_store_keeps_todays_layout(tmp_path):
    archive = Archive.on_disk(tmp_path / "media")
    kept = archive.put_bytes(b"bytes")
    assert (tmp_path / "media" / kept.sha256[:2] / kept.sha256[2:]).read_bytes() == b"bytes"
    assert isinstance(archive.store, LocalStore) and archive.scratch == tmp_path / "media" / "tmp"


@pytest.mark.parametrize("storage, problem", [
    ('backend = "minio"', "storage.backend: must be local or s3"),
    ('backend = "s3"', "storage.bucket: required with backend = \"s3\""),
    ('backend = "s3"\nbucket = "Bad_Bucket"', "storage.bucket: required"),
    ('backend = "s3"\nbucket = "evidence"\nendpoint_url = "minio:9000"', "storage.endpoint_url: must be an http(s) URL"),
    ('backend = "s3"\nbucket = "evidence"\naddressing_style = "dns"', "storage.addressing_style: must be one of"),
    ('backend = "s3"\nbucket = "evidence"\nprefix = "/x"', "storage.prefix"),
    ('backend = "s3"\nbucket = "evidence"', "storage.access_key: required with backend = \"s3\""),
    ('backend = "s3"\nbucket = "evidence"\naccess_key = "k"', "TUANJIE_S3_SECRET_KEY"),
    ('read_timeout = 0', "storage.read_timeout: must be from 1 to 600"),
    ('max_attempts = 50', "storage.max_attempts: must be from 1 to 10"),
])
def test_a_bad_object_store_setting_stops_the_start_naming_it(tmp_path, storage, problem):
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", storage=storage)
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_config(config, environ={})


def test_the_keys_to_the_bucket_may_come_from_the_environment(tmp_path):
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", storage='backend = "s3"\nbucket = "evidence"')
    cfg = load_config(config, environ={"TUANJIE_S3_ACCESS_KEY": "AK", "TUANJIE_S3_SECRET_KEY": "SK"})
    assert (cfg.storage.access_key, cfg.storage.secret_key, cfg.storage.backend) == ("AK", "SK", "s3")
