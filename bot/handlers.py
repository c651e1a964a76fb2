"""Commands: `handle(msg, ctx) -> reply text or None`. No Flask, no XML here.

Runs inside the caller's transaction; the caller stores the reply with the message.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from bot import texts as T
from bot.inbound import Inbound
from campaign import binding, checkins, stats
from campaign.plan import Checklist, Item, Plan, normalise, number_word
from models import S_ID, S_TEXT, S_TIME, CheckIn, Outbox, Prepared, Staff, to_utc

MENU_CHECKIN, MENU_PROGRESS, MENU_HELP = "CHECKIN", "PROGRESS", "HELP"
EVIDENCE_WINDOW = dt.timedelta(minutes=30)

_BIND = re.compile(r"^(?:绑定|bind)(.*)$", re.I)
_CHECKIN = re.compile(r"^(?:打卡|签到)(.*)$")
_UNDO = re.compile(r"^(?:撤销|取消|undo)(.*)$", re.I)
_PROGRESS = {"进度", "我的进度", "查看进度"}
_HELP = {"帮助", "help", "?", "菜单", "指令"}
_STATS = {"统计", "参与率", "stats"}
_STATS_OF = re.compile("^(" + "|".join(map(re.escape, _STATS)) + ")(.+)$")
# End punctuation that voice recognition adds ("打卡2。") or people type; "?" alone stays (help).
_PUNCT = "。．.，,、！!？?～~…；;：:\"'“”‘’（）()【】「」《》 \u3000"
# Two numbers in one message: "打卡 1 2", "1、2", "1和2".
_SEVERAL = re.compile(r"\d\s*(?:[、，,和及与&+/]|\s)\s*\d")
EVIDENCE_TYPES = ("image", "video", "shortvideo")


STAFF_BY_OPENID = Prepared(lambda: Staff.select().where(Staff.openid == S_TEXT), openid=S_TEXT)
AWAIT = Prepared(lambda: Staff.update(awaiting=S_TEXT, awaiting_at=S_TIME).where(Staff.id == S_ID),
                 target=S_TEXT, at=S_TIME, id=S_ID)


@dataclass(frozen=True)
class Context:
    plan: Plan
    policy: binding.BindPolicy
    now: dt.datetime  # aware, in the campaign's time zone

    @property
    def today(self) -> dt.date:
        return self.now.date()


def handle(msg: Inbound, ctx: Context) -> str | None:
    if msg.type == "event":
        return on_event(msg, ctx)
    person = STAFF_BY_OPENID.get(Staff, openid=msg.openid)
    raw = msg.content if msg.type == "text" else msg.recognition if msg.type == "voice" else ""
    text = command_text(raw)
    bind = _BIND.match(text)
    if bind:
        return bind_reply(msg.openid, bind.group(1), ctx)
    if person is None:
        if text and binding.looks_like_code(text):
            return bind_reply(msg.openid, text, ctx)
        return T.UNBOUND
    if msg.type in EVIDENCE_TYPES and not text:
        return on_evidence(person, msg, ctx)
    if msg.type == "voice" and not text:
        return T.VOICE_UNHEARD
    if text:
        several = sum(c.isdigit() for c in raw) > 1 and bool(_SEVERAL.search(unicodedata.normalize("NFKC", raw)))
        return on_command(person, text, ctx, several)
    return T.HINT


def command_text(raw: str) -> str:
    """A message as commands read it: normalised, without the punctuation around it that voice
    recognition adds ("打卡2。"). Punctuation alone is no text, but "?" and "？" ask for help."""
    stripped = raw.strip(_PUNCT)
    if stripped:
        return normalise(stripped)
    return "?" if raw.strip() in ("?", "？") else ""


def on_event(msg: Inbound, ctx: Context) -> str | None:
    event, key = msg.event, msg.event_key
    if key.startswith("qrscene_"):
        key = key[len("qrscene_"):]
    if event in ("subscribe", "subscribe_scan", "scan"):
        if key and binding.looks_like_code(key):
            return bind_reply(msg.openid, key, ctx)
        if event == "scan":
            return None
        person = Staff.get_or_none(Staff.openid == msg.openid)
        return T.WELCOME if person else T.WELCOME + "\n" + T.UNBOUND
    if event == "click":
        person = Staff.get_or_none(Staff.openid == msg.openid)
        if person is None:
            return T.UNBOUND
        menu = {MENU_CHECKIN: lambda: checklist_text(person, ctx.plan.main, ctx),
                MENU_PROGRESS: lambda: progress_text(person, ctx), MENU_HELP: lambda: help_text(ctx.plan, person)}
        return menu[key]() if key in menu else None
    if event == "templatesendjobfinish" and msg.job_msgid:
        record_delivery(msg.job_msgid, msg.status)
    # unsubscribe, view, location, templatesendjobfinish and the rest need no reply.
    return None


def record_delivery(msgid: str, status: str) -> int:
    """The platform's word on a template message, matched to its outbox row by msgid."""
    changes = {"delivery": status[:40]}
    if status.startswith("failed"):
        # "failed:user block" is the person's choice: permanent, like 43101.
        changes.update(state="failed", last_error=f"delivery {status}",
                       errcode=43101 if "block" in status else None)
    return Outbox.update(**changes).where(Outbox.msgid == msgid).execute()


def bind_reply(openid: str, code: str, ctx: Context) -> str:
    if not code.strip():
        return T.BIND_USAGE
    result = binding.redeem(openid, code, ctx.now, ctx.policy)
    if result.reason == "locked":
        return T.BIND_LOCKED.format(minutes=int(ctx.policy.window.total_seconds() // 60))
    if result.reason == "invalid":
        return T.BIND_INVALID
    person = result.person
    if result.reason == "openid_taken":
        return T.BIND_TAKEN.format(name=person.name)
    text = T.BIND_OK if result.reason == "bound" else T.BIND_ALREADY
    return text.format(dept=person.department.name, name=person.name)


def on_command(person: Staff, text: str, ctx: Context, several: bool = False) -> str:
    if text in _HELP:
        return help_text(ctx.plan, person)
    if text in _PROGRESS:
        return progress_text(person, ctx)
    if text in _STATS:
        return stats_text(person, ctx, ctx.plan.main)
    m = _STATS_OF.match(text)
    if m:  # "统计 结对": another checklist's participation
        word = m.group(2).strip(_PUNCT)
        checklist = ctx.plan.find_checklist(word)
        if person.role not in ("organiser", "leader"):
            return T.REFUSED
        if checklist is None:
            shorts = [c.short for c in ctx.plan.checklists]
            return T.NO_SUCH_CHECKLIST.format(word=word, names="、".join(shorts), example=shorts[-1])
        return stats_text(person, ctx, checklist)
    if any(text.startswith(word) for word in _PROGRESS):  # "进度 结对": progress lists every checklist
        return progress_text(person, ctx)
    m = _CHECKIN.match(text)
    if m:
        return check_in(person, m.group(1), ctx, bare=False, several=several)
    m = _UNDO.match(text)
    if m:
        return undo(person, m.group(1), ctx, several)
    return check_in(person, text, ctx, bare=True, several=several)


def resolve(plan: Plan, words: str) -> tuple[Checklist, str]:
    """Split "结对 2" into (checklist, "2"); text without a checklist word means the main one.
    Punctuation between the words ("打卡，结对，2", as voice recognition writes) is dropped."""
    words = words.strip(_PUNCT)
    for word, c in plan.prefixes:
        if words.startswith(word):
            return c, words[len(word):].strip(_PUNCT)
    return plan.main, words


def _command_for(checklist: Checklist, undo: bool = False) -> str:
    """How a person addresses an item of checklist: "打卡", "结对", "撤销", "撤销 结对"."""
    if undo:
        return "撤销" if checklist.main else f"撤销 {checklist.short}"
    return "打卡" if checklist.main else checklist.short


def check_in(person: Staff, words: str, ctx: Context, bare: bool, several: bool = False) -> str:
    checklist, rest = resolve(ctx.plan, words)
    if several and rest:  # "打卡 1 2"
        return T.ONE_AT_A_TIME.format(command=_command_for(checklist), n=1)
    if not rest:
        if bare and checklist.main and not words:
            return T.HINT
        return checklist_text(person, checklist, ctx)
    item = checklist.find_item(rest)
    if item is not None:
        return record(person, checklist, item, ctx)
    if number_word(rest) is not None:  # "6" on a list of five
        return T.OUT_OF_RANGE.format(checklist=checklist.name, total=len(checklist.items),
                                     command=_command_for(checklist))
    if checklist.main and words == rest:
        other = next((c for c in ctx.plan.checklists if not c.main and c.find_item(rest)), None)
        if other is not None:  # "走亲": an item of another list, said without its name
            return T.IN_OTHER.format(word=rest, checklist=other.name, short=other.short)
        if bare:
            return T.HINT
    return T.NO_SUCH_ITEM.format(checklist=checklist.name, word=rest, command=_command_for(checklist))


def record(person: Staff, checklist: Checklist, item: Item, ctx: Context,
           evidence_type: str | None = None, evidence: str | None = None) -> str:
    if not checklist.is_open(ctx.today):
        return T.CLOSED.format(checklist=checklist.name, opens=T.md(checklist.opens), closes=T.md(checklist.closes))
    if item.evidence_required and evidence is None:
        already = item.key in checkins.done_items(person, checklist)
        if not already:
            _await(person, f"{checklist.key}/{item.key}", ctx)
            return T.NEED_EVIDENCE.format(item=item.name)
    result = checkins.record(person, checklist, item, ctx.now, evidence_type, evidence)
    fields = dict(item=item.name, checklist=checklist.name, done=result.done, total=result.total)
    lines = [(T.RECORDED if result.created else T.ALREADY).format(**fields)]
    if result.created and result.done == result.total:
        lines.append(T.ALL_DONE.format(checklist=checklist.name))
    if not result.created and not result.has_evidence:
        # Asked again about a done item: the next photo documents it.
        _await(person, f"{checklist.key}/{item.key}", ctx)
        lines.append(T.ADD_EVIDENCE)
    if not person.eligible:
        lines.append(T.EXEMPT_NOTE)
    return "\n".join(lines)


def _await(person: Staff, target: str | None, ctx: Context) -> None:
    """Set (or with None, end) the item the person's next photo belongs to: see on_evidence."""
    at = to_utc(ctx.now)
    AWAIT.execute(target=target, at=at, id=person.id)
    person.awaiting, person.awaiting_at = target, at


def undo(person: Staff, words: str, ctx: Context, several: bool = False) -> str:
    checklist, rest = resolve(ctx.plan, words)
    if several and rest:
        return T.ONE_AT_A_TIME.format(command=_command_for(checklist, undo=True), n=1)
    if not rest:
        done = checkins.done_items(person, checklist)
        first = next((n for n, i in enumerate(checklist.items, start=1) if i.key in done), None)
        if first is None:
            return T.NOTHING_TO_UNDO.format(checklist=checklist.name)
        return T.UNDO_USAGE.format(command=_command_for(checklist, undo=True), n=first)
    item = checklist.find_item(rest)
    if item is None:
        if number_word(rest) is not None:
            return T.OUT_OF_RANGE.format(checklist=checklist.name, total=len(checklist.items),
                                         command=_command_for(checklist, undo=True))
        return T.NO_SUCH_ITEM.format(checklist=checklist.name, word=rest, command=_command_for(checklist))
    if not checklist.is_open(ctx.today):
        return T.CLOSED_UNDO.format(checklist=checklist.name, opens=T.md(checklist.opens),
                                    closes=T.md(checklist.closes))
    if person.awaiting == f"{checklist.key}/{item.key}":  # "1" (asks for a photo), then "撤销 1"
        _await(person, None, ctx)
    deleted, had_evidence = checkins.undo(person, checklist, item)
    if not deleted:
        return T.NOT_DONE.format(item=item.name)
    done = len(checkins.done_items(person, checklist))
    reply = T.UNDONE.format(item=item.name, checklist=checklist.name, done=done, total=len(checklist.items))
    return reply + T.UNDONE_EVIDENCE if had_evidence else reply


def on_evidence(person: Staff, msg: Inbound, ctx: Context) -> str:
    """A photo or video: evidence for whichever came last within EVIDENCE_WINDOW, the item the
    person was asked a photo for (awaiting) or their latest check-in still without one. So
    "1" (which waits for a photo), then "2", then a photo documents 2; chat or 进度 in between
    changes nothing. A wait is not ended by every other message: that would cost a write on
    the check-in path (bench/webhook.py); it ends with the photo, an undo of it, or the window.

    When a wait ends, awaiting_at keeps the moment: a wait is a fence, and check-ins from before
    it never take a later photo (the second of two photos sent together, or a photo after a
    wait that is void: last year's, or for an item no longer in the plan)."""
    evidence, kind = msg.media_id or msg.pic_url, T.EVIDENCE_KINDS[msg.type]
    since = to_utc(ctx.now) - EVIDENCE_WINDOW
    awaited = _awaited(person, ctx, since)
    if awaited is None and person.awaiting_at is not None and person.awaiting_at > since:
        since = person.awaiting_at
    latest = (CheckIn.select().where((CheckIn.staff == person) & (CheckIn.created_at >= since)
                                     & CheckIn.evidence.is_null())
              .order_by(CheckIn.created_at.desc(), CheckIn.id.desc()).first())
    found = ctx.plan.item_of(latest.checklist, latest.item) if latest else None
    latest_item = found[1] if found else None
    if person.awaiting:
        _await(person, None, ctx)
    if awaited is not None and (latest_item is None or latest.created_at < awaited[2]):
        checklist, item, _ = awaited
        if item.key not in checkins.done_items(person, checklist):
            return record(person, checklist, item, ctx, msg.type, evidence)
        if checkins.add_evidence(person, checklist, item, msg.type, evidence):
            return T.EVIDENCE_SAVED.format(kind=kind, item=item.name)
    if latest_item is None:
        return T.EVIDENCE_NO_TARGET.format(kind=kind)
    latest.evidence_type, latest.evidence = msg.type, evidence
    latest.save()
    return T.EVIDENCE_SAVED.format(kind=kind, item=latest_item.name)


def _awaited(person: Staff, ctx: Context, since: dt.datetime) -> tuple[Checklist, Item, dt.datetime] | None:
    """(checklist, item, since when) of the person's wait for a photo, if it still holds: within
    the window and asked in this campaign year (a wait from 23:50 on 31 December is over)."""
    at = person.awaiting_at
    if not person.awaiting or at is None or at < since:
        return None
    if at.replace(tzinfo=dt.timezone.utc).astimezone(ctx.now.tzinfo).year != ctx.today.year:
        return None
    checklist_key, _, item_key = person.awaiting.partition("/")
    found = ctx.plan.item_of(checklist_key, item_key)
    return (*found, at) if found else None


def checklist_text(person: Staff, checklist: Checklist, ctx: Context) -> str:
    done = checkins.done_items(person, checklist)
    lines = [T.LIST_HEAD.format(checklist=checklist.name, done=len(done), total=len(checklist.items))]
    first_pending = None
    for n, item in enumerate(checklist.items, start=1):
        mark = "✅" if item.key in done else "⬜"
        if item.key not in done and first_pending is None:
            first_pending = n
        lines.append(f"{mark}{n} {item.name}" + (T.LIST_EVIDENCE if item.evidence_required else ""))
    if not checklist.is_open(ctx.today):
        lines.append(T.LIST_CLOSED.format(opens=T.md(checklist.opens), closes=T.md(checklist.closes)))
    elif first_pending is not None:
        foot = T.LIST_FOOT_MAIN if checklist.main else T.LIST_FOOT_OTHER
        lines.append(foot.format(n=first_pending, short=checklist.short))
    return "\n".join(lines)


def progress_text(person: Staff, ctx: Context) -> str:
    lines = [T.PROGRESS_HEAD.format(name=person.name)]
    for checklist in ctx.plan.checklists:
        done = checkins.done_items(person, checklist)
        lines.append(T.PROGRESS_LINE.format(checklist=checklist.name, done=len(done), total=len(checklist.items)))
    main = ctx.plan.main
    dept = stats.report(main, ctx.plan.target, person.department_id).overall
    lines.append(T.PROGRESS_DEPT.format(checklist=main.name, rate=T.pct(dept.participation_rate),
                                        participants=dept.participants, eligible=dept.eligible))
    if not person.eligible:
        lines.append(T.EXEMPT_NOTE)
    return "\n".join(lines)


def help_text(plan: Plan, person: Staff) -> str:
    main = plan.main
    others = [c for c in plan.checklists if not c.main]
    example = main.items[0].aliases[0] if main.items[0].aliases else main.items[0].name
    other_line = T.HELP_OTHERS.format(examples="、".join(f"{c.short} 1" for c in others)) if others else ""
    text = T.HELP.format(main=main.name, example=example, others=other_line).rstrip()
    scope = {"organiser": "全单位", "leader": "本部门"}.get(person.role)
    if not scope:
        return text
    example = others[0].short if others else main.short
    return text + "\n" + T.HELP_STATS.format(scope=scope, example=example)


def stats_text(person: Staff, ctx: Context, main: Checklist) -> str:
    """Participation in checklist `main` (the plan's main one unless the organiser named another)."""
    plan = ctx.plan
    if person.role == "organiser":
        rep = stats.report(main, plan.target)
        o = rep.overall
        lines = [
            T.STATS_HEAD.format(checklist=main.name, rate=T.pct(o.participation_rate), participants=o.participants,
                                eligible=o.eligible, target=T.pct(plan.target)),
            T.STATS_DONE.format(rate=T.pct(o.completion_rate), completed=o.completed, eligible=o.eligible),
        ]
        low = [d for d in stats.lowest(rep.departments, 5) if d.participation_rate < plan.target]
        if low:
            lines.append(T.STATS_LOWEST)
            lines += [T.STATS_DEPT.format(n=n, name=d.name, rate=T.pct(d.participation_rate),
                                          participants=d.participants, eligible=d.eligible)
                      for n, d in enumerate(low, start=1)]
        else:
            lines.append(T.STATS_ALL_MET)
        return "\n".join(lines)
    if person.role == "leader":
        o = stats.report(main, plan.target, person.department_id).overall
        lines = [T.STATS_LEADER_HEAD.format(dept=person.department.name, checklist=main.name,
                                            rate=T.pct(o.participation_rate), participants=o.participants,
                                            eligible=o.eligible, target=T.pct(plan.target))]
        pending = stats.pending_people(main, person.department_id)
        if pending:
            names = "、".join(p.name for p in pending[:20]) + ("等" if len(pending) > 20 else "")
            lines.append(T.STATS_PENDING.format(count=len(pending), names=names))
        else:
            lines.append(T.STATS_NONE_PENDING)
        return "\n".join(lines)
    return T.REFUSED
