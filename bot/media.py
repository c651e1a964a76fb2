"""The media job: fetch every photo, voice message and video people sent before WeChat forgets
it (3 days), into the archive. Never inside a webhook answer: the scheduler runs it every few
seconds, `flask --app server run-job media` once.

Each piece is claimed (campaign.evidence.claim), streamed through the one outbound client into
a temporary file with its kind's size limit, told by its bytes what it is, and kept by content.
Photos get a JPEG thumbnail (about 320 px) and the time EXIF says they were taken. A transient
failure is tried again later; 40007 (expired or unknown), a file over its limit, or 3 days
without success leave the piece lost, with the reason, and still listed.
"""
from __future__ import annotations

import datetime as dt
import io
import logging
import os
import socket
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bot.client import Client
from bot.errors import WeChatError
from campaign import evidence
from campaign.archive import Archive, TooLarge, sniff

log = logging.getLogger("tuanjie.media")
OWNER = f"{socket.gethostname()}:{os.getpid()}"
LEASE = dt.timedelta(minutes=5)
LIMITS = {"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "shortvideo": 10 << 20}  # the platform's
THUMB_PX = 320
EXPIRED = 40007


@dataclass
class FetchSummary:
    stored: int = 0
    lost: Counter = field(default_factory=Counter)  # reason -> count
    retry: int = 0

    def describe(self) -> str:
        parts = [f"stored {self.stored}"]
        if self.lost:
            parts.append("lost " + ", ".join(f"{n} ({why})" for why, n in self.lost.items()))
        if self.retry:
            parts.append(f"to try again {self.retry}")
        return "; ".join(parts)

    @property
    def handled(self) -> int:
        """Pieces this run did something with (stored, lost or put back for later)."""
        return self.stored + sum(self.lost.values()) + self.retry


class Fetcher:
    def __init__(self, client: Client, archive: Archive, concurrency: int, clock):
        self.client, self.archive, self.concurrency, self.clock = client, archive, concurrency, clock
        self.lock = threading.Lock()

    def run(self, max_seconds: float = 50, connection=None, stop: threading.Event | None = None) -> FetchSummary:
        """Fetch what is due, `concurrency` at a time, for at most about `max_seconds`; `stop`
        (a signal, in a downloader process) ends it early, the downloads in progress finished."""
        summary, deadline = FetchSummary(), time.monotonic() + max_seconds
        stop = stop or threading.Event()
        with connection():
            evidence.release_stale(self.clock())
            due = evidence.due(self.clock())
        queue, halted = iter(due), threading.Event()

        def worker() -> None:
            # One connection per worker for the run: opening one per piece (SQLite's pragmas,
            # then the close) was a twentieth of the downloader's time (py-spy on bench/media.py).
            with connection():
                while time.monotonic() <= deadline and not stop.is_set() and not halted.is_set():
                    with self.lock:
                        piece_id = next(queue, None)
                    if piece_id is None:
                        return
                    try:
                        self._one(piece_id, summary)
                    except Exception:  # the database itself failed: the whole run ends, as one error
                        halted.set()
                        raise

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            running = [pool.submit(worker) for _ in range(min(self.concurrency, len(due)))]
        failed = next((f.exception() for f in running if f.exception() is not None), None)
        if failed is not None:
            log.error("media: run stopped by %s: %s; done before it: %s", type(failed).__name__, failed,
                      summary.describe())
            raise failed
        return summary

    def _one(self, piece_id: int, summary: FetchSummary) -> None:
        piece = evidence.claim(piece_id, OWNER, self.clock() + LEASE)
        if piece is None:
            return  # another fetcher has it
        try:
            self._fetch(piece)
            with self.lock:
                summary.stored += 1
        except Exception as exc:  # one piece must not stop the others
            self._failed(piece, exc, summary)

    def _fetch(self, piece) -> None:
        limit = LIMITS.get(piece.kind, 10 << 20)
        with self.archive.writer(limit) as w:
            self.client.download_media(piece.media_id, w)
            kept = w.seal()
            mime, ext = sniff(kept.head)
            # From the local file before it goes to the store: no second download from a bucket.
            thumb, taken = (self._thumbnail(w.path, kept.sha256) if mime.startswith("image/") else (None, None))
            w.keep()
        evidence.stored(piece.id, OWNER, kept.sha256, kept.size, mime, ext, thumb, taken)

    def _thumbnail(self, source, sha256: str) -> tuple[str | None, dt.datetime | None]:
        """A JPEG of about THUMB_PX on its longer side, and EXIF's DateTimeOriginal."""
        from PIL import Image, ImageOps, UnidentifiedImageError

        try:
            with Image.open(source) as image:
                if image.width * image.height > Image.MAX_IMAGE_PIXELS:  # (Pillow only warns up to 2x)
                    raise ValueError(f"{image.width}x{image.height} pixels: too large to decode for a thumbnail")
                taken = _taken_at(image)
                # Shrink first: a JPEG then decodes at 1/8 scale (a 12 MP photo: ~4 MB, not ~90),
                # and turning it upright costs nothing at thumbnail size.
                image.thumbnail((THUMB_PX, THUMB_PX))
                image = ImageOps.exif_transpose(image)
                out = io.BytesIO()
                image.convert("RGB").save(out, "JPEG", quality=80)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            log.warning("media: no thumbnail for %s: %s", sha256[:12], exc)
            return None, None
        return self.archive.put_bytes(out.getvalue()).sha256, taken

    def _failed(self, piece, exc: Exception, summary: FetchSummary) -> None:
        if isinstance(exc, TooLarge):
            reason = f"{piece.kind} {exc}, over the platform's limit"
        elif isinstance(exc, WeChatError) and exc.errcode == EXPIRED:
            reason = "WeChat no longer has it (40007: expired or unknown)"
        elif isinstance(exc, WeChatError) and exc.permanent:
            reason = f"WeChat refused it ({exc})"
        else:
            evidence.retry(piece, OWNER, f"{type(exc).__name__}: {exc}", self.clock())
            with self.lock:
                summary.retry += 1
            return
        evidence.lost(piece.id, OWNER, reason)
        with self.lock:
            summary.lost[reason.split(" (")[0]] += 1


def _taken_at(image) -> dt.datetime | None:
    """When the camera says the photo was taken (its own clock and zone, as written)."""
    try:
        raw = image.getexif().get_ifd(0x8769).get(36867) or image.getexif().get(306)
        return dt.datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S") if raw else None
    except (ValueError, TypeError, KeyError):
        return None
