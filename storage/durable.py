"""Durability on a local disk: a file's bytes or a folder's names on the disk itself, so a rename
into place survives a crash. One definition for the spool, the archive, exports and backups."""
from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: Path) -> None:
    """A file's bytes, or a folder's names, on the disk itself."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
