"""The archive's files (资料储备库): kept by content, under [storage] media_dir.

A file is written to a temporary file beside the archive while its sha256 is computed, then
renamed into place as media_dir/ab/cdef... (the hash's first two characters, then the rest):
the same bytes twice are stored once, and a half-written file is never seen under a name.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

CHUNK = 1 << 16


class TooLarge(Exception):
    """A file over the size allowed for its kind."""


@dataclass(frozen=True)
class Kept:
    sha256: str
    size: int
    head: bytes  # its first bytes, to tell its type by


class Archive:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")  # no path of any other shape: no traversal
        return self.folder / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def chunks(self, sha256: str) -> Iterator[bytes]:
        with self.open(sha256) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def writer(self, max_bytes: int) -> "_Writer":
        """A file to stream into; `keep()` hashes and renames it into place."""
        (self.folder / "tmp").mkdir(parents=True, exist_ok=True)
        return _Writer(self, max_bytes)

    def sweep(self, older_than: float = 86400) -> int:
        """Remove temporary files a killed process left (none is written to for a day)."""
        import time

        cutoff, removed = time.time() - older_than, 0
        for leftover in (self.folder / "tmp").glob("in-*"):
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


class _Writer:
    def __init__(self, archive: Archive, max_bytes: int):
        self.archive, self.max_bytes = archive, max_bytes
        fd, name = tempfile.mkstemp(dir=archive.folder / "tmp", prefix="in-")
        self.fh, self.name = os.fdopen(fd, "wb"), name
        self.hash, self.size, self.head = hashlib.sha256(), 0, b""

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise TooLarge(f"over {self.max_bytes // 2**20} MB")
        if len(self.head) < 64:
            self.head += chunk[: 64 - len(self.head)]
        self.hash.update(chunk)
        self.fh.write(chunk)

    def keep(self) -> Kept:
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        sha = self.hash.hexdigest()
        final = self.archive.path(sha)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.unlink(self.name)  # the same bytes are kept already
        else:
            os.replace(self.name, final)
            _sync_folder(final.parent)  # the rename itself survives a crash: the row will say stored
        self.name = None
        return Kept(sha, self.size, self.head)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self.fh.closed:
            self.fh.close()
        if self.name is not None and os.path.exists(self.name):
            os.unlink(self.name)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
