"""Messages that arrive while the database cannot be reached: kept on local disk, applied
exactly once when it is back.

The webhook has verified and decrypted a message but cannot store it: it writes the message
here (a file per dedup key, fsynced, renamed into place) and answers within WeChat's 5 s.
Draining applies each file through the same exactly-once inbox as a live message, with the
time it arrived as `now`; a file is claimed by renaming it first, so two workers never apply
the same one, and deleted only after its transaction committed. A worker that dies holding a
claim leaves the file for the next drain: the inbox's dedup key makes a second apply a no-op.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from campaign.objects import fsync_path
from schedules.lock import pid_alive

log = logging.getLogger("tuanjie.spool")
CLAIM_STALE = 120  # seconds after which a claim of a living worker is taken over too


@dataclass(frozen=True)
class Spooled:
    key: str  # the message's dedup key
    xml: str  # the verified, decrypted message
    timestamp: int
    nonce: str
    received_at: str  # ISO, aware: when it reached us


class Spool:
    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self._checked = 0.0
        self._empty = True

    def put(self, item: Spooled) -> None:
        """Keep one message durably; a second copy of the same message is not written."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.folder / f"{hashlib.sha256(item.key.encode()).hexdigest()[:40]}.json"
        if path.exists():
            return
        partial = path.with_suffix(f".partial-{os.getpid()}")
        # the message's content (names, what was said): readable by the service's user only
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
            json.dump(item.__dict__, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, path)
        fsync_path(self.folder)
        self._empty = False

    def waiting(self) -> int:
        """How many messages wait (claimed ones included)."""
        try:
            return sum(1 for p in self.folder.iterdir() if p.suffix == ".json" or ".claimed-" in p.name)
        except FileNotFoundError:
            return 0

    def maybe_waiting(self, every: float = 5.0) -> bool:
        """Cheap enough for every request: looks at the folder at most once per `every` seconds."""
        now = time.monotonic()
        if self._empty and now - self._checked < every:
            return False
        self._checked = now
        self._empty = self.waiting() == 0
        return not self._empty

    def drain(self, apply: Callable[[Spooled], None], limit: int = 500) -> int:
        """Apply waiting messages in the order they arrived; stops at the first that fails
        (the database is still away) and leaves it for later. Returns how many were applied."""
        done = 0
        for path in self._claimable()[:limit]:
            claimed = path.with_name(f"{path.stem}.claimed-{os.getpid()}")
            try:
                os.replace(path, claimed)
            except FileNotFoundError:
                continue  # another worker claimed it
            try:
                item = Spooled(**json.loads(claimed.read_text(encoding="utf-8")))
                apply(item)
            except Exception:
                os.replace(claimed, path)  # back in line: the next drain tries again
                log.warning("spool: %s not applied yet", path.name, exc_info=True)
                break
            claimed.unlink()
            done += 1
        if done:
            log.info("spool: %d waiting message(s) applied", done)
        self._empty = self.waiting() == 0
        return done

    def _claimable(self) -> list[Path]:
        """Unclaimed files, and claims of workers that are gone (or stuck), oldest first."""
        try:
            entries = list(self.folder.iterdir())
        except FileNotFoundError:
            return []
        now, found = time.time(), []
        for p in entries:
            if p.suffix == ".json":
                found.append(p)
            elif ".claimed-" in p.name:
                pid = p.name.rsplit("-", 1)[-1]
                if not (pid.isdigit() and pid_alive(int(pid))) or now - p.stat().st_mtime > CLAIM_STALE:
                    back = p.with_name(p.name.split(".claimed-")[0] + ".json")
                    os.replace(p, back)
                    found.append(back)
        return [p for _, p in sorted((_mtime(p), p) for p in found)]


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # claimed meanwhile by another worker: it is skipped at its turn
        return 0
