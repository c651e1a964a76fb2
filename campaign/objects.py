"""Where the evidence archive's bytes live: this machine's disk, or an S3-compatible object store
(MinIO, Aliyun OSS, Tencent COS, AWS S3) that every web machine shares.

One small interface (put, get, open, exists, delete, size, keys) and two backends, chosen once
from [storage] backend (`from_config`). Keys are the archive's "ab/cdef..." (campaign/archive.py),
the same on disk and in a bucket, so a folder copied into a bucket is an archive there. A put is
whole or nothing: on disk a fsynced file renamed into place, in a bucket one PUT (an object is
seen only once its upload has completed). Every failure is one of two errors: `Missing` (no such
object) and `StoreError`, whose message names the setting to check (docs/object-store.md).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

from storage.durable import fsync_path  # the one definition; bot/ and exports/ take it from here


class Missing(Exception):
    """No object under that key."""


class StoreError(Exception):
    """The store cannot be used as configured; the message names the setting and the problem."""


class ObjectStore(Protocol):
    where: str  # for messages: the folder, or s3://bucket/prefix at the endpoint

    def put(self, key: str, finished: Path) -> None:
        """Keep a finished local file under `key` (the file is gone afterwards); the same key
        twice keeps the first (keys are content hashes)."""

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """A stream to read in chunks; Missing when there is no such object."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def size(self, key: str) -> int: ...

    def keys(self) -> Iterator[str]: ...


class LocalStore:
    """A folder on this machine's disk: media_dir/ab/cdef... (the layout since the archive began)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.where = f"media_dir {self.folder}"

    def path(self, key: str) -> Path:
        return self.folder / key

    def put(self, key: str, finished: Path) -> None:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.unlink(finished)  # the same bytes are kept already
            return
        fsync_path(finished)
        os.replace(finished, final)
        fsync_path(final.parent)  # the rename itself survives a crash: the row will say stored

    def get(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise Missing(f"{key}: not in {self.where}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise Missing(f"{key}: not in {self.where}") from None

    def keys(self) -> Iterator[str]:
        """Every kept file (ab/cdef...), not the temporary ones under tmp/."""
        for sub in sorted(self.folder.glob("??")):
            if sub.is_dir() and sub.name != "tmp":
                for file in sorted(sub.iterdir()):
                    if file.is_file():
                        yield f"{sub.name}/{file.name}"


def from_config(storage, media_dir: Path, pool: int = 10) -> ObjectStore:
    """The store [storage] names (config.StorageConfig, validated): media_dir, or the bucket."""
    if storage.backend == "local":
        return LocalStore(media_dir)
    from campaign.s3 import S3Store

    return S3Store(bucket=storage.bucket, prefix=storage.prefix, endpoint_url=storage.endpoint_url or None,
                   region=storage.region, access_key=storage.access_key, secret_key=storage.secret_key,
                   addressing_style=storage.addressing_style, connect_timeout=storage.connect_timeout,
                   read_timeout=storage.read_timeout, max_attempts=storage.max_attempts, pool=pool)
