"""How every export reaches disk: through `NAME.partial` beside it, flushed, then renamed. A
crash leaves the old file or the whole new one; a failure leaves no .partial behind."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from campaign.objects import fsync_path


@contextlib.contextmanager
def replaced_atomically(out: Path) -> Iterator[Path]:
    """Yields the temporary path to write; on success it becomes `out`."""
    partial = out.with_name(out.name + ".partial")
    try:
        yield partial
        fsync_path(partial)
        os.replace(partial, out)
        fsync_path(out.parent if str(out.parent) else Path("."))  # the rename itself survives a crash
    except BaseException:
        if partial.is_file():
            partial.unlink()
        raise
