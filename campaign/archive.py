"""The archive's files (资料储备库): kept by content, in the object store [storage] names
(campaign/objects.py: media_dir on this machine's disk, or a shared S3-compatible bucket).

A file is written to a temporary file in media_dir/tmp while its sha256 is computed, then handed
to the store under ab/cdef... (the hash's first two characters, then the rest): the same bytes
twice are stored once, and a half-written file is never seen under a name.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

from campaign.objects import LocalStore, Missing, ObjectStore, StoreError  # noqa: F401  (re-exported)

CHUNK = 1 << 16


class TooLarge(Exception):
    """A file over the size allowed for its kind."""


@dataclass(frozen=True)
class Kept:
    sha256: str
    size: int
    head: bytes  # its first bytes, to tell its type by


class Archive:
    def __init__(self, store: ObjectStore, scratch: str | os.PathLike):
        self.store, self.scratch = store, Path(scratch)

    @classmethod
    def on_disk(cls, folder: str | os.PathLike) -> "Archive":
        """The archive in a folder of this machine (the local backend)."""
        return cls(LocalStore(folder), Path(folder) / "tmp")

    @staticmethod
    def key(sha256: str) -> str:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")  # no key of any other shape: no traversal
        return f"{sha256[:2]}/{sha256[2:]}"

    def has(self, sha256: str) -> bool:
        return self.store.exists(self.key(sha256))

    def open(self, sha256: str) -> BinaryIO:
        """A stream of the file (Missing when it is not in the store)."""
        return self.store.open(self.key(sha256))

    def get(self, sha256: str) -> bytes:
        return self.store.get(self.key(sha256))

    def chunks(self, sha256: str) -> Iterator[bytes]:
        with self.open(sha256) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def writer(self, max_bytes: int) -> "_Writer":
        """A file to stream into; `keep()` hashes it and hands it to the store."""
        self.scratch.mkdir(parents=True, exist_ok=True)
        return _Writer(self, max_bytes)

    def sweep(self, older_than: float = 86400) -> int:
        """Remove temporary files a killed process left (none is written to for a day)."""
        import time

        cutoff, removed = time.time() - older_than, 0
        for leftover in self.scratch.glob("in-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    def put_bytes(self, data: bytes) -> Kept:
        with self.writer(len(data)) as w:
            w.write(data)
            return w.keep()

    def probe(self) -> None:
        """Write, read back and delete a small object of its own; StoreError saying why not."""
        import socket
        import time

        data = f"tuanjie check-store probe {socket.gethostname()} {time.time_ns()}".encode()
        kept = self.put_bytes(data)
        try:
            if self.get(kept.sha256) != data:
                raise StoreError(f"{self.store.where}: the probe object read back other bytes than were written")
        finally:
            self.store.delete(self.key(kept.sha256))

    def copy_from(self, source: ObjectStore) -> "Copied":
        """Every file of another store (an old media_dir) into this one, each checked against the
        sha256 its name says: a damaged file is listed, not copied; one already here with the
        same size is skipped, so a stopped copy can run again. Nothing is deleted."""
        done = Copied()
        for key in source.keys():
            sha = key.replace("/", "", 1)
            if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
                done.damaged.append(f"{key}: not an archive file's name")
            elif self.store.exists(key) and self.store.size(key) == source.size(key):
                done.already += 1
            else:
                with source.open(key) as src, self.writer(1 << 40) as w:
                    while chunk := src.read(CHUNK):
                        w.write(chunk)
                    if w.seal().sha256 != sha:
                        done.damaged.append(f"{key}: its bytes no longer match its name (sha256)")
                        continue
                    w.keep()
                done.copied += 1
        return done


@dataclass
class Copied:
    copied: int = 0
    already: int = 0
    damaged: list[str] = field(default_factory=list)


class _Writer:
    def __init__(self, archive: Archive, max_bytes: int):
        self.archive, self.max_bytes = archive, max_bytes
        fd, name = tempfile.mkstemp(dir=archive.scratch, prefix="in-")
        self.fh, self.path = os.fdopen(fd, "wb"), Path(name)
        self.hash, self.size, self.head = hashlib.sha256(), 0, b""
        self.sealed: Kept | None = None

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise TooLarge(f"over {self.max_bytes // 2**20} MB")
        if len(self.head) < 64:
            self.head += chunk[: 64 - len(self.head)]
        self.hash.update(chunk)
        self.fh.write(chunk)

    def seal(self) -> Kept:
        """Every byte is in; the temporary file (`path`) may be read before it is kept."""
        if self.sealed is None:
            self.fh.close()
            self.sealed = Kept(self.hash.hexdigest(), self.size, self.head)
        return self.sealed

    def keep(self) -> Kept:
        kept = self.seal()
        self.archive.store.put(self.archive.key(kept.sha256), self.path)
        self.path = None
        return kept

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.fh.closed:
            self.fh.close()
        if self.path is not None and self.path.exists():
            self.path.unlink()


# What the bytes say a file is: (magic at offset 0, or at `at`, mime, extension).
_SIGNATURES = [
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"GIF8", 0, "image/gif", "gif"),
    (b"#!AMR\n", 0, "audio/amr", "amr"),
    (b"#!SILK_V3", 0, "audio/silk", "silk"),
    (b"\x02#!SILK_V3", 0, "audio/silk", "silk"),
    (b"ID3", 0, "audio/mpeg", "mp3"),
    (b"OggS", 0, "audio/ogg", "ogg"),
    (b"ftyp", 4, "video/mp4", "mp4"),
]


def sniff(head: bytes) -> tuple[str, str]:
    """(mime, extension) from a file's first bytes; application/octet-stream when unknown."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "image/heic", "heic"
    for magic, at, mime, ext in _SIGNATURES:
        if head[at:at + len(magic)] == magic:
            return mime, ext
    return "application/octet-stream", "bin"
