"""The schema: peewee models, bound to the deferred database of `storage.engine`.

Timestamps are stored as naive UTC datetimes; `campaign.clock` converts. Check-in rows carry
a copy of the person's department: participation by department is then a covering-index
scan instead of a JOIN (docs/architecture.md, "Measured facts that shaped the schema").
A change to a model needs a numbered migration in `storage/migrations.py`.
"""
from __future__ import annotations

from peewee import (BooleanField, CharField, DateTimeField, DecimalField, ForeignKeyField, IntegerField, Model,
                    TextField)

from storage.engine import db

__all__ = ["db"]  # re-exported: `from models import db` is how callers reach the bound database

ROLES = ("staff", "leader", "organiser")
STATUSES = ("active", "exempt", "left")


class BaseModel(Model):
    class Meta:
        database = db


class Department(BaseModel):
    name = CharField(max_length=100, unique=True)


class Staff(BaseModel):
    name = CharField(max_length=50)
    phone = CharField(max_length=20, unique=True)
    # Indexed below with status: the eligible count per department reads that index alone.
    department = ForeignKeyField(Department, backref="staff", on_delete="RESTRICT", index=False)
    role = CharField(max_length=10, default="staff")
    status = CharField(max_length=10, default="active")
    openid = CharField(max_length=64, null=True, unique=True)
    bound_at = DateTimeField(null=True)
    # The item the person's next photo belongs to ("checklist/item"): an evidence-required item
    # waiting for the photo that completes it, or a done one they asked about again. The rule
    # (how long it holds, what ends it) is campaign.evidence's; when it ends, awaiting_at keeps
    # the moment as a fence.
    awaiting = CharField(max_length=80, null=True)
    awaiting_at = DateTimeField(null=True)
    # The checklist the person was last shown, other than the main one: a bare "3" just after
    # "结对" listed the pairing checklist means its item 3 (campaign.checkins.in_view).
    listing = CharField(max_length=40, null=True)
    listing_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("status", "department"), False), (("department", "status"), False))


class BindCode(BaseModel):
    staff = ForeignKeyField(Staff, backref="codes", on_delete="CASCADE")
    code_hash = CharField(max_length=64, unique=True)
    created_at = DateTimeField()
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)
    used_by = CharField(max_length=64, null=True)


class BindFailure(BaseModel):
    openid = CharField(max_length=64)
    at = DateTimeField()

    class Meta:
        indexes = ((("openid", "at"), False),)


class Activity(BaseModel):
    """A collective check-in (集体打卡): one group activity recorded by a leader or organiser,
    crediting everyone who took part, with the evidence sent for it."""

    department = ForeignKeyField(Department, on_delete="RESTRICT")
    checklist = CharField(max_length=40)  # as check-ins store it (party_day@h1 for a half)
    item = CharField(max_length=40)
    year = IntegerField()
    created_by = ForeignKeyField(Staff, on_delete="RESTRICT")
    created_at = DateTimeField()
    state = CharField(max_length=10, default="draft")  # draft | done | undone
    # While a draft: the people it will credit (JSON [staff ids]); then how many it credited.
    draft = TextField(null=True)
    credited = IntegerField(default=0)
    undone_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("created_by", "state"), False),)


class CheckIn(BaseModel):
    # No index of its own: the unique index below starts with staff_id.
    staff = ForeignKeyField(Staff, backref="checkins", on_delete="CASCADE", index=False)
    # Not indexed alone either: departments are never deleted, and every count by department
    # goes through the (checklist, year, department, staff, item) index.
    department = ForeignKeyField(Department, on_delete="RESTRICT", index=False)
    checklist = CharField(max_length=40)
    item = CharField(max_length=40)
    # The campaign year: next year's campaign starts from zero, this year's stays countable.
    # (A half-year checklist's check-ins carry the half in `checklist`: party_day@h2.)
    year = IntegerField(default=0)
    created_at = DateTimeField()
    # How many pieces of evidence document it (CheckInEvidence): read on the check-in path
    # without a join.
    evidence_count = IntegerField(default=0)
    # The collective check-in that credited it, if one did.
    activity = ForeignKeyField(Activity, null=True, on_delete="SET NULL", backref="checkins")

    class Meta:
        indexes = (
            # Column order matters: a person's done items (staff, checklist, year) are a prefix
            # of it, so that lookup reads a few index entries instead of the whole checklist.
            (("staff", "checklist", "year", "item"), True),
            # With item last, counts by department that skip items no longer in the plan read
            # this index alone (covering), not the table.
            (("checklist", "year", "department", "staff", "item"), False),
            # Department before staff: one department's counts per item are a seek per item.
            (("checklist", "year", "item", "department", "staff"), False),
        )


class Evidence(BaseModel):
    """One piece of evidence (凭证): a photo, a voice message, a video or a text. Its file is
    fetched from WeChat by the media job and kept by content (sha256); one piece may document
    several check-ins (a group photo), through CheckInEvidence."""

    staff = ForeignKeyField(Staff, on_delete="RESTRICT")  # who sent it
    department = ForeignKeyField(Department, on_delete="RESTRICT", index=False)
    kind = CharField(max_length=10)  # image | voice | video | shortvideo | text
    media_id = CharField(max_length=128, null=True)  # WeChat's, until the file is ours
    text = TextField(null=True)  # a text piece, or a voice message's recognition
    received_at = DateTimeField()
    # pending -> fetching (leased) -> stored | lost; a text piece is stored at once.
    state = CharField(max_length=10, default="pending")
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    lease_until = DateTimeField(null=True)
    owner = CharField(max_length=80, null=True)
    sha256 = CharField(max_length=64, null=True)  # the stored file (media_dir/ab/cdef...)
    size = IntegerField(null=True)
    mime = CharField(max_length=60, null=True)
    ext = CharField(max_length=10, null=True)
    thumb = CharField(max_length=64, null=True)  # sha256 of its JPEG thumbnail (images)
    taken_at = DateTimeField(null=True)  # EXIF DateTimeOriginal, as the camera wrote it
    error = TextField(null=True)  # the last fetch error, or why the piece is lost
    activity = ForeignKeyField(Activity, null=True, on_delete="SET NULL", backref="evidence")

    class Meta:
        indexes = ((("state", "next_attempt_at"), False), (("department", "received_at"), False))


class CheckInEvidence(BaseModel):
    checkin = ForeignKeyField(CheckIn, on_delete="CASCADE", index=False)
    evidence = ForeignKeyField(Evidence, on_delete="CASCADE")

    class Meta:
        indexes = ((("checkin", "evidence"), True),)


class InboundMessage(BaseModel):
    """Every message and event from WeChat, stored once, with the reply we gave."""

    dedup_key = CharField(max_length=200, unique=True)
    openid = CharField(max_length=64)
    msg_type = CharField(max_length=64)  # "event:subscribe_msg_popup_event" is 31 characters
    body = TextField(null=True)
    received_at = DateTimeField()
    reply = TextField(null=True)
    failed = BooleanField(default=False)
    # The signed request's (timestamp, nonce): the same pair on another message is a replay.
    # Kept on this row rather than in a table of their own: one row and one index fewer to
    # write per message (bench/webhook.py). Rows from before these columns hold NULLs.
    timestamp = IntegerField(null=True)
    nonce = CharField(max_length=64, null=True)

    class Meta:
        indexes = ((("timestamp", "nonce"), True),)


class Occurrence(BaseModel):
    """One firing of a reminder (e.g. monthly_talk@2026-05-06): fanned out once, or expired."""

    key = CharField(max_length=120, unique=True)
    reminder = CharField(max_length=40)
    due_at = DateTimeField()
    state = CharField(max_length=12)  # fanned_out | expired
    recipients = IntegerField(default=0)
    skipped = TextField(null=True)  # JSON {reason: count}
    created_at = DateTimeField()
    # Who asked for it, for a 催办 or a notice pressed on the dashboard ("staff:12", "user:3").
    created_by = CharField(max_length=80, null=True)


class Outbox(BaseModel):
    """One message to one person for one occurrence. The unique key makes fan-out idempotent.

    pending -> sending (leased to one sender) -> sent | failed (permanent) | retry (transient,
    with backoff) | unknown (the sender died after the request may have left).
    """

    key = CharField(max_length=160, unique=True)
    occurrence = ForeignKeyField(Occurrence, backref="messages", on_delete="CASCADE")
    staff = ForeignKeyField(Staff, on_delete="CASCADE")
    openid = CharField(max_length=64)
    channel = CharField(max_length=12)  # template | subscribe | custom
    payload = TextField()  # JSON, built at fan-out so a resend is identical
    state = CharField(max_length=10, default="pending")
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField()
    lease_until = DateTimeField(null=True)
    owner = CharField(max_length=80, null=True)  # host:pid of the sender holding the lease
    msgid = CharField(max_length=32, null=True)
    errcode = IntegerField(null=True)
    last_error = TextField(null=True)
    delivery = CharField(max_length=40, null=True)  # TEMPLATESENDJOBFINISH Status
    created_at = DateTimeField()
    sent_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("state", "next_attempt_at"), False),
            (("staff", "created_at"), False),
            (("msgid",), False),
        )


class AccessToken(BaseModel):
    """The shared access_token: one row per AppID, so N workers share one token."""

    app_id = CharField(max_length=40, unique=True)
    token = TextField()
    expires_at = DateTimeField()
    updated_at = DateTimeField()
    # Forced refreshes in the hour since forced_since (bot/tokens.py keeps them to a few).
    forced_count = IntegerField(default=0)
    forced_since = DateTimeField(null=True)


class DashboardUser(BaseModel):
    """A password account for the dashboard (admins: accounts, roster, settings); created by
    `flask --app server create-user`, the password hashed with werkzeug's scrypt."""

    username = CharField(max_length=64, unique=True)
    password_hash = CharField(max_length=255)
    role = CharField(max_length=10, default="admin")
    created_at = DateTimeField()
    disabled = BooleanField(default=False)


class LoginLink(BaseModel):
    """A one-time way into the dashboard, stored hashed: a link the bot sent (kind link, for
    `staff`), or a desktop QR code (kind qr) that `staff` confirms by scanning it."""

    token_hash = CharField(max_length=64, unique=True)
    kind = CharField(max_length=8)
    staff = ForeignKeyField(Staff, null=True, on_delete="CASCADE")
    created_at = DateTimeField()
    expires_at = DateTimeField()
    confirmed_at = DateTimeField(null=True)  # a QR code scanned
    used_at = DateTimeField(null=True)


class LoginFailure(BaseModel):
    """A failed password login, counted per account and per address across every worker."""

    key = CharField(max_length=120)  # "user:alice" or "addr:203.0.113.9"
    at = DateTimeField()

    class Meta:
        indexes = ((("key", "at"), False),)


class DashboardSession(BaseModel):
    """A dashboard session, held on the server: logout, or a change of the person's role or
    department, ends it, so a copied cookie stops working."""

    token_hash = CharField(max_length=64, unique=True)
    staff = ForeignKeyField(Staff, null=True, on_delete="CASCADE")
    user = ForeignKeyField(DashboardUser, null=True, on_delete="CASCADE")
    role = CharField(max_length=10)  # as at login
    department = ForeignKeyField(Department, null=True, on_delete="CASCADE")  # as at login
    created_at = DateTimeField()
    expires_at = DateTimeField()
    ended_at = DateTimeField(null=True)


class Notice(BaseModel):
    """An organiser's notice (通知): a short title in the template message, the text on a page
    of its own that its recipients open through a signed link."""

    title = CharField(max_length=40)
    body = TextField()
    departments = TextField(null=True)  # JSON [department ids]; null: everyone
    created_by = CharField(max_length=80)
    created_at = DateTimeField()
    occurrence = ForeignKeyField(Occurrence, null=True, on_delete="SET NULL")


class Snapshot(BaseModel):
    """A checklist's participation as computed at `computed_at` (whole unit, timeline and
    pace): what the dashboard's overview reads for a large unit, refreshed by the stats job."""

    key = CharField(max_length=80, unique=True)  # wuge/2026, party_day@h2/2026
    computed_at = DateTimeField()
    data = TextField()  # JSON


class AssessmentEntry(BaseModel):
    """A year-end assessment entry (加减分) for a department: points with a reason, who gave them
    ("staff:12", "user:3", or "rule:<key>" when the plan's rule applied it) and when, and what it
    rests on. Never edited or deleted: a correction is a new entry that reverses one."""

    year = IntegerField()
    department = ForeignKeyField(Department, on_delete="RESTRICT")
    points = DecimalField(max_digits=6, decimal_places=1, auto_round=True)
    reason = CharField(max_length=200)
    kind = CharField(max_length=10)  # rule | manual | reversal
    rule_key = CharField(max_length=120, null=True)  # a rule's occasion: applied once
    given_by = CharField(max_length=80)
    created_at = DateTimeField()
    reverses = ForeignKeyField("self", null=True, unique=True, on_delete="RESTRICT")
    basis = TextField(null=True)  # JSON: the figures a rule saw; activity, evidence, notice ids

    class Meta:
        indexes = ((("year", "department", "rule_key"), True),)


class AssessmentFreeze(BaseModel):
    """The year's assessment table as frozen at the year's end: later entries are refused, and
    the table is kept with the sha256 of its canonical JSON."""

    year = IntegerField(unique=True)
    frozen_at = DateTimeField()
    frozen_by = CharField(max_length=80)
    checksum = CharField(max_length=64)
    table = TextField()  # JSON: totals and entries as they were


class SchemaVersion(BaseModel):
    """One row: the number of the last migration applied (storage/migrations.py)."""

    version = IntegerField()
    updated_at = DateTimeField()


ALL_MODELS = [Department, Staff, BindCode, BindFailure, Activity, CheckIn, Evidence, CheckInEvidence, InboundMessage,
              Occurrence, Outbox, AccessToken, DashboardUser, LoginLink, LoginFailure, DashboardSession, Notice,
              Snapshot, AssessmentEntry, AssessmentFreeze, SchemaVersion]


