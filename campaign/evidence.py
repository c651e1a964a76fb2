"""Evidence (凭证) as records: a piece is a photo, voice message, video or text, linked to the
check-ins it documents (one group photo may document a whole activity's).

A media piece arrives as WeChat's MediaId, which WeChat forgets after 3 days: the media job
(bot/media.py) fetches it at once. A piece moves pending -> fetching (leased to one fetcher) ->
stored (the file is in the archive) | lost (expired, 40007, or too large: with the reason,
and still listed); transient failures go back to pending with a later next_attempt_at.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import fn

from campaign.clock import from_utc, seconds_since, to_utc
from models import CheckIn, CheckInEvidence, Evidence, Staff
from storage.engine import transaction

PENDING, FETCHING, STORED, LOST = "pending", "fetching", "stored", "lost"
MEDIA_KINDS = ("image", "voice", "video", "shortvideo")
KINDS = MEDIA_KINDS + ("text",)
KEPT_BY_WECHAT = dt.timedelta(days=3)  # after this, WeChat answers 40007 for the MediaId
BACKOFF = (10, 30, 120, 600, 1800)  # seconds before fetch attempts 2, 3, ...


@dataclass(frozen=True)
class Sent:
    """What a person sent as evidence, before it is a record."""

    kind: str  # image, voice, video, shortvideo, text
    media_id: str | None = None
    text: str | None = None  # a text piece, or a voice message's recognition


def record(person: Staff, sent: Sent, now: dt.datetime, activity_id: int | None = None) -> Evidence:
    """A new piece from `person`; media waits for the media job, a text is stored at once."""
    media = sent.kind in MEDIA_KINDS
    state = (PENDING if sent.media_id else LOST) if media else STORED
    return Evidence.create(staff=person.id, department=person.department_id, kind=sent.kind,
                           media_id=sent.media_id if media else None, text=sent.text, received_at=to_utc(now),
                           state=state, next_attempt_at=to_utc(now) if state == PENDING else None,
                           error=None if state != LOST else "the message carried no MediaId", activity=activity_id)


def link(piece: Evidence, checkin_ids: list[int]) -> int:
    """Let `piece` document these check-ins (already documented ones are skipped)."""
    if not checkin_ids:
        return 0
    with transaction():
        have = {c for (c,) in CheckInEvidence.select(CheckInEvidence.checkin)
                .where((CheckInEvidence.evidence == piece.id) & CheckInEvidence.checkin.in_(checkin_ids)).tuples()}
        new = [c for c in checkin_ids if c not in have]
        if new:
            CheckInEvidence.insert_many([{"checkin": c, "evidence": piece.id} for c in new]).execute()
            CheckIn.update(evidence_count=CheckIn.evidence_count + 1).where(CheckIn.id.in_(new)).execute()
        return len(new)


def unlink_all(checkin_ids: list[int]) -> int:
    """Before check-ins are deleted: the links go with them (the pieces stay in the archive)."""
    if not checkin_ids:
        return 0
    return CheckInEvidence.delete().where(CheckInEvidence.checkin.in_(checkin_ids)).execute()


def unlink_activity(activity_id: int, checkin_ids: list[int]) -> int:
    """An activity undone: its pieces no longer document these check-ins (they stay archived)."""
    pieces = [e for (e,) in Evidence.select(Evidence.id).where(Evidence.activity == activity_id).tuples()]
    if not pieces or not checkin_ids:
        return 0
    with transaction():
        links = CheckInEvidence.select().where(CheckInEvidence.evidence.in_(pieces)
                                               & CheckInEvidence.checkin.in_(checkin_ids))
        touched = [link.checkin_id for link in links]
        for checkin in set(touched):
            CheckIn.update(evidence_count=CheckIn.evidence_count - touched.count(checkin)) \
                .where(CheckIn.id == checkin).execute()
        return CheckInEvidence.delete().where(CheckInEvidence.evidence.in_(pieces)
                                              & CheckInEvidence.checkin.in_(checkin_ids)).execute()


def counts() -> dict[str, int]:
    """Pieces per state, every state named."""
    have = dict(Evidence.select(Evidence.state, fn.COUNT(Evidence.id)).group_by(Evidence.state).tuples())
    return {state: int(have.get(state, 0)) for state in (PENDING, FETCHING, STORED, LOST)}


def waiting_or_lost(limit: int = 200) -> list[Evidence]:
    """The pieces organisers should know of: not yet fetched, and lost (with why)."""
    return list(Evidence.select(Evidence, Staff).join(Staff)
                .where(Evidence.state.in_((PENDING, FETCHING, LOST)))
                .order_by(Evidence.state, Evidence.received_at).limit(limit))


# --- the media job's transitions -------------------------------------------------------------

def due(now: dt.datetime, limit: int = 500) -> list[int]:
    """Ids of pieces to fetch now, oldest first."""
    return [e.id for e in Evidence.select(Evidence.id)
            .where((Evidence.state == PENDING) & (Evidence.next_attempt_at <= to_utc(now)))
            .order_by(Evidence.received_at).limit(limit)]


def backlog(now: dt.datetime) -> tuple[int, float]:
    """(pieces due to be fetched now, seconds the oldest was received ago): WeChat forgets
    them after 3 days, so a monitor watches this."""
    count, oldest = (Evidence.select(fn.COUNT(Evidence.id), fn.MIN(Evidence.received_at))
                     .where((Evidence.state == PENDING) & (Evidence.next_attempt_at <= to_utc(now))).tuples().get())
    return int(count), seconds_since(oldest, now)


def claim(piece_id: int, owner: str, lease_until: dt.datetime) -> Evidence | None:
    """pending -> fetching, leased to owner: a conditional UPDATE, so two fetchers never fetch
    the same piece. None when another got there first."""
    claimed = (Evidence.update(state=FETCHING, owner=owner, lease_until=to_utc(lease_until),
                               attempts=Evidence.attempts + 1)
               .where((Evidence.id == piece_id) & (Evidence.state == PENDING)).execute())
    return Evidence.get_by_id(piece_id) if claimed == 1 else None


def stored(piece_id: int, owner: str, sha256: str, size: int, mime: str, ext: str, thumb: str | None,
           taken_at: dt.datetime | None) -> None:
    _finish(piece_id, owner, state=STORED, sha256=sha256, size=size, mime=mime, ext=ext, thumb=thumb,
            taken_at=taken_at, media_id=None, error=None)


def lost(piece_id: int, owner: str, reason: str) -> None:
    _finish(piece_id, owner, state=LOST, error=reason[:500])


def retry(piece: Evidence, owner: str, error: str, now: dt.datetime) -> None:
    """Back to pending for later; past WeChat's 3 days the piece is lost instead."""
    if now - from_utc(piece.received_at, now.tzinfo) >= KEPT_BY_WECHAT:
        lost(piece.id, owner, f"not fetched within WeChat's 3 days (last error: {error})")
        return
    delay = BACKOFF[min(piece.attempts - 1, len(BACKOFF) - 1)]
    _finish(piece.id, owner, state=PENDING, error=error[:500], next_attempt_at=to_utc(now) + dt.timedelta(seconds=delay))


def release_stale(now: dt.datetime) -> int:
    """Pieces left fetching by a fetcher that stopped (its lease is over) are fetched again:
    unlike a message, fetching twice sends nobody anything."""
    return (Evidence.update(state=PENDING, lease_until=None, owner=None)
            .where((Evidence.state == FETCHING) & (Evidence.lease_until < to_utc(now))).execute())


def _finish(piece_id: int, owner: str, **changes) -> None:
    (Evidence.update(lease_until=None, **changes)
     .where((Evidence.id == piece_id) & (Evidence.state == FETCHING) & (Evidence.owner == owner)).execute())


# --- what the archive export reads ---------------------------------------------------------

@dataclass(frozen=True)
class ArchiveRow:
    """One piece documenting one person's check-in."""

    person: str
    department: str
    checklist: str  # as stored: wuge, party_day@h2
    item: str
    piece_id: int
    kind: str
    state: str
    received_at: dt.datetime  # naive UTC
    sha256: str | None
    ext: str | None
    text: str | None
    activity: int | None
    sender: str
    error: str | None  # why a lost piece is lost


def archive_rows(year: int, department: str | None = None, checklist: str | None = None):
    """Every (piece, person) pair of a campaign year, by department, checklist, item and person:
    streamed (an archive may hold tens of thousands)."""
    from models import Department

    sender = Staff.alias()
    query = (CheckInEvidence.select(Staff.name, Department.name, CheckIn.checklist, CheckIn.item, Evidence.id,
                                    Evidence.kind, Evidence.state, Evidence.received_at, Evidence.sha256,
                                    Evidence.ext, Evidence.text, Evidence.activity, sender.name, Evidence.error)
             .join(CheckIn).join(Staff).switch(CheckIn).join(Department)
             .switch(CheckInEvidence).join(Evidence).join(sender, on=(Evidence.staff == sender.id))
             .where(CheckIn.year == year))
    if department is not None:
        query = query.where(Department.name == department)
    if checklist is not None:
        query = query.where((CheckIn.checklist == checklist) | CheckIn.checklist.startswith(f"{checklist}@"))
    query = query.order_by(Department.name, CheckIn.checklist, CheckIn.item, Staff.name, Evidence.received_at)
    for row in query.tuples().iterator():
        yield ArchiveRow(*row)


# --- what the dashboard's gallery reads ---------------------------------------------------------

@dataclass(frozen=True)
class Shown:
    piece: Evidence
    checklist: str  # as stored
    item: str
    people: int  # how many check-ins it documents


def gallery(department_id: int | None, checklist: str | None = None, item: str | None = None,
            day: dt.date | None = None, tz=None, page: int = 1, per_page: int = 48) -> tuple[list[Shown], int]:
    """(one page of pieces, how many there are in all), newest first, each once however many
    check-ins it documents; lost ones included (they say why)."""
    from models import Department  # noqa: F401  (Evidence.department is the sender's at the time)

    query = (Evidence.select(Evidence, CheckIn.checklist, CheckIn.item, fn.COUNT(CheckInEvidence.id).alias("n"))
             .join(CheckInEvidence).join(CheckIn).group_by(Evidence.id, CheckIn.checklist, CheckIn.item))
    if department_id is not None:
        query = query.where(CheckIn.department == department_id)
    if checklist:
        query = query.where((CheckIn.checklist == checklist) | CheckIn.checklist.startswith(f"{checklist}@"))
    if item:
        query = query.where(CheckIn.item == item)
    if day is not None and tz is not None:
        start = dt.datetime.combine(day, dt.time(0), tzinfo=tz)
        query = query.where((Evidence.received_at >= to_utc(start))
                            & (Evidence.received_at < to_utc(start + dt.timedelta(days=1))))
    total = query.count()
    rows = query.order_by(Evidence.received_at.desc(), Evidence.id.desc()).paginate(page, per_page)
    return [Shown(r, r.checkinevidence.checkin.checklist, r.checkinevidence.checkin.item, r.n) for r in rows], total


def stored_files():
    """(piece id, sha256) of every file a stored piece names, its thumbnail's too: streamed."""
    query = (Evidence.select(Evidence.id, Evidence.sha256, Evidence.thumb)
             .where((Evidence.state == STORED) & Evidence.sha256.is_null(False)).order_by(Evidence.id))
    for piece_id, sha256, thumb in query.tuples().iterator():
        yield piece_id, sha256
        if thumb:
            yield piece_id, thumb


def get(piece_id: int) -> Evidence | None:
    return Evidence.get_or_none(Evidence.id == piece_id)


def departments_of(piece: Evidence) -> set[int]:
    """The departments whose check-ins the piece documents (who may see it: those departments'
    viewers, and whoever sent it)."""
    return {d for (d,) in CheckIn.select(CheckIn.department).join(CheckInEvidence)
            .where(CheckInEvidence.evidence == piece.id).distinct().tuples()} | {piece.department_id}


def people_of(piece: Evidence) -> set[int]:
    """Staff ids of the check-ins the piece documents."""
    return {s for (s,) in CheckIn.select(CheckIn.staff).join(CheckInEvidence)
            .where(CheckInEvidence.evidence == piece.id).tuples()}


def of_person(person: Staff, limit: int = 100) -> list[Evidence]:
    """The pieces documenting the person's own check-ins."""
    return list(Evidence.select().join(CheckInEvidence).join(CheckIn).where(CheckIn.staff == person.id)
                .distinct().order_by(Evidence.received_at.desc()).limit(limit))
