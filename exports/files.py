"""How every export reaches disk: through `NAME.partial` beside it, flushed, then renamed. A
crash leaves the old file or the whole new one; a failure leaves no .partial behind."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from campaign.archive import _sync_folder  # the archive's own: a rename that survives a crash


@contextlib.contextmanager
def replaced_atomically(out: Path) -> Iterator[Path]:
    """Yields the temporary path to write; on success it becomes `out`."""
    partial = out.with_name(out.name + ".partial")
    try:
        yield partial
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, out)
        _sync_folder(out.parent)
    except BaseException:
        if partial.is_file():
            partial.unlink()
        raise
