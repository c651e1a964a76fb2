"""Commands: `handle(msg, ctx) -> reply text or None`. No Flask, no XML, no queries here:
a message is parsed into a use case of `campaign/`, and its result rendered as Chinese text.

Runs inside the caller's transaction; the caller stores the reply with the message.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from bot import menu
from bot import texts as T
from bot.inbound import Inbound
from campaign import access, assessment, binding, checkins, collective, evidence, outbox, people, sessions, stats
from campaign.clock import md
from campaign.plan import Checklist, Plan, normalise, number_word

_BIND = re.compile(r"^(?:绑定|bind)(.*)$", re.I)
_CHECKIN = re.compile(r"^(?:打卡|签到)(.*)$")
_UNDO = re.compile(r"^(?:撤销|取消|undo)(.*)$", re.I)
_COLLECTIVE = re.compile(r"^(?:集体打卡|集体签到)(.*)$")
_COLLECTIVE_UNDO = re.compile(r"^撤销集体(.*)$")
_PROGRESS = {"进度", "我的进度", "查看进度"}
_HELP = {"帮助", "help", "?", "菜单", "指令"}
_LOGIN = {"登录", "登陆", "后台", "登录后台", "login"}
_STATS = {"统计", "参与率", "stats"}
_ASSESSMENT = {"考核", "加减分", "考核分", "考核情况"}
_STATS_OF = re.compile("^(" + "|".join(map(re.escape, _STATS)) + ")(.+)$")
# End punctuation that voice recognition adds ("打卡2。") or people type; "?" alone stays (help).
_PUNCT = "。．.，,、！!？?～~…；;：:\"'“”‘’（）()【】「」《》 \u3000"
# Two numbers in one message: "打卡 1 2", "1、2", "1和2".
_SEVERAL = re.compile(r"\d\s*(?:[、，,和及与&+/]|\s)\s*\d")
_SEPARATORS = re.compile(r"[\s、，,和及与&+/]+")
MAX_PAIR = 40  # characters: two item names run together are shorter than this


@dataclass(frozen=True)
class Context:
    plan: Plan
    policy: binding.BindPolicy
    now: dt.datetime  # aware, in the campaign's time zone
    public_url: str = "http://127.0.0.1:8000"  # where the dashboard's links point
    login_minutes: int = 5

    @property
    def today(self) -> dt.date:
        return self.now.date()


def handle(msg: Inbound, ctx: Context) -> str | None:
    if msg.type == "event":
        return on_event(msg, ctx)
    person = people.by_openid(msg.openid)
    raw = msg.content if msg.type == "text" else msg.recognition if msg.type == "voice" else ""
    text = command_text(raw)
    bind = _BIND.match(text)
    if bind:
        return bind_reply(msg.openid, bind.group(1), ctx)
    if person is None:
        if text and binding.looks_like_code(text):
            return bind_reply(msg.openid, text, ctx)
        return T.UNBOUND
    if not people.on_roster(person):
        return T.OFF_ROSTER
    if msg.type in checkins.EVIDENCE_TYPES and not text:
        return evidence_reply(checkins.attach_evidence(person, ctx.plan, _sent(msg), ctx.now))
    reply = on_command(person, text, ctx, _several(raw, ctx.plan), raw) if text else None
    if reply in (None, T.HINT) and (msg.type == "voice" or len(raw.strip()) >= checkins.LONG_TEXT):
        # A voice message, or a long text, that is no command: evidence for what was just done.
        result = checkins.attach_evidence(person, ctx.plan, _sent(msg), ctx.now)
        if result.outcome != checkins.NO_TARGET:
            return evidence_reply(result)
    if reply is None:
        return T.VOICE_UNHEARD if msg.type == "voice" else T.HINT
    return reply


def _sent(msg: Inbound) -> evidence.Sent:
    if msg.type == "text":
        return evidence.Sent("text", text=msg.content)
    return evidence.Sent(msg.type, media_id=msg.media_id or None, text=msg.recognition or None)


def _several(raw: str, plan: Plan) -> bool:
    """The message names more than one item: "打卡 1 2", "1、2", "打卡 全家福 书信"."""
    raw = unicodedata.normalize("NFKC", raw)
    if sum(c.isdigit() for c in raw) > 1 and _SEVERAL.search(raw):
        return True
    words = [w for w in _SEPARATORS.split(raw.strip(_PUNCT)) if w]
    if not 2 <= len(words) <= 8:  # a long text is no list of items
        return False
    named = {(c.key, item.key) for w in words if number_word(normalise(w)) is None
             for c in plan.checklists for item in [c.find_item(w)] if item is not None}
    return len({item for _, item in named}) >= 2 and len(named) >= 2


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
        if key.startswith(sessions.QR_PREFIX):  # a desktop's login QR code
            return login_scan(msg.openid, key[len(sessions.QR_PREFIX):], ctx)
        if key and binding.looks_like_code(key):
            return bind_reply(msg.openid, key, ctx)
        if event == "scan":
            return None
        return T.WELCOME if people.by_openid(msg.openid) else T.WELCOME + "\n" + T.UNBOUND
    if event == "click":
        person = people.by_openid(msg.openid)
        if person is None:
            return T.UNBOUND
        answers = {menu.CHECKIN: lambda: show(person, ctx.plan.main, ctx),
                   menu.PROGRESS: lambda: progress_text(person, ctx), menu.HELP: lambda: help_text(ctx.plan, person),
                   menu.LOGIN: lambda: login_link(person, ctx)}
        return answers[key]() if key in answers else None
    if event == "templatesendjobfinish" and msg.job_msgid:
        outbox.record_delivery(msg.job_msgid, msg.status)
    # unsubscribe, view, location, templatesendjobfinish and the rest need no reply.
    return None


def login_link(person, ctx: Context) -> str:
    secret = sessions.issue_link(person, ctx.now, ctx.login_minutes)
    return T.LOGIN_LINK.format(url=f"{ctx.public_url.rstrip('/')}/dashboard/login/{secret}", minutes=ctx.login_minutes)


def login_scan(openid: str, secret: str, ctx: Context) -> str:
    person = people.by_openid(openid)
    if person is None:
        return T.UNBOUND
    return T.LOGIN_CONFIRMED if sessions.confirm_qr(secret, person, ctx.now) else T.LOGIN_QR_EXPIRED


def bind_reply(openid: str, code: str, ctx: Context) -> str:
    if not code.strip():
        return T.BIND_USAGE
    result = binding.redeem(openid, code, ctx.now, ctx.policy)
    if result.reason == "locked":
        return T.BIND_LOCKED.format(minutes=int(ctx.policy.window.total_seconds() // 60))
    simple = {"invalid": T.BIND_INVALID, "used": T.BIND_USED, "expired": T.BIND_EXPIRED, "left": T.BIND_LEFT}
    if result.reason in simple:
        return simple[result.reason]
    person = result.person
    if result.reason == "openid_taken":
        return T.BIND_TAKEN.format(name=person.name)
    text = T.BIND_OK if result.reason == "bound" else T.BIND_ALREADY
    return text.format(dept=person.department.name, name=person.name)


def on_command(person, text: str, ctx: Context, several: bool = False, raw: str = "") -> str:
    m = _CHECKIN.match(text)
    if m:
        return check_in(person, m.group(1), ctx, bare=False, several=several)
    if text in _LOGIN:
        return login_link(person, ctx)
    if text in _ASSESSMENT:
        return assessment_text(person, ctx)
    collective_reply = collective_command(person, text, raw, ctx)
    if collective_reply is not None:
        return collective_reply
    if not (text in _HELP or text in _PROGRESS or text in _STATS or _STATS_OF.match(text) or _UNDO.match(text)
            or any(text.startswith(word) for word in _PROGRESS)):
        return check_in(person, text, ctx, bare=True, several=several)
    checkins.forget_shown(person, ctx.now)  # another command: a bare "3" means the main list again
    if text in _HELP:
        return help_text(ctx.plan, person)
    if text in _STATS:
        return stats_text(person, ctx, ctx.plan.main)
    m = _STATS_OF.match(text)
    if m:  # "统计 结对": another checklist's participation
        return stats_of_text(person, m.group(2).strip(_PUNCT), ctx)
    m = _UNDO.match(text)
    if m:
        return undo(person, m.group(1), ctx, several)
    return progress_text(person, ctx)  # "进度", "进度 结对": progress lists every checklist


def collective_command(person, text: str, raw: str, ctx: Context) -> str | None:
    """集体打卡, 撤销集体, and the draft's conversation (the list, 确认, 取消); None otherwise.
    Only leaders and organisers have drafts: staff cost no query here."""
    m = _COLLECTIVE_UNDO.match(text)
    if m:
        return collective_undo(person, m.group(1).strip(_PUNCT), ctx)
    m = _COLLECTIVE.match(text)
    if m:
        return collective_start(person, m.group(1).strip(_PUNCT), ctx)
    if access.scope_of(person) is None:
        return None
    draft = collective.open_draft(person, ctx.now)
    if draft is None:
        return None
    if text in ("确认", "确定", "ok"):
        return collective_confirm(person, draft, ctx)
    if text in ("取消", "放弃"):
        collective.cancel(draft)
        return T.COLLECTIVE_CANCELLED
    if _is_command(text) or all(number_word(w) is not None for w in _SEPARATORS.split(text) if w):
        return None  # a command, or "1": their own check-in, not a list of names
    return proposal_text(collective.propose(draft, raw))


def _is_command(text: str) -> bool:
    return bool(text in _HELP or text in _ASSESSMENT or text in _PROGRESS or text in _STATS or _STATS_OF.match(text) or _UNDO.match(text)
                or _CHECKIN.match(text) or any(text.startswith(word) for word in _PROGRESS))


def collective_start(person, words: str, ctx: Context) -> str:
    named, rest = _department_prefix(words)
    try:
        department = collective.department_for(person, named)
    except collective.Refused as exc:
        if str(exc) == "name the department":
            return T.COLLECTIVE_NAME_DEPT.format(example=(people.department_names(1) or ["办公室"])[0])
        return T.COLLECTIVE_OWN_DEPT if str(exc) == "own department only" else T.COLLECTIVE_REFUSED
    checklist, rest = resolve(ctx.plan, rest)
    item = checklist.find_item(rest) if rest else None
    if item is None:
        other = next((c.short for c in ctx.plan.checklists if not c.main), checklist.short)
        return T.COLLECTIVE_USAGE.format(short=other)
    if not checklist.is_open(ctx.today):
        return T.CLOSED.format(checklist=checklist.name, opens=md(checklist.opens), closes=md(checklist.closes))
    collective.start(person, department, checklist, item, ctx.now)
    size = people.counted_in(department.id)
    return T.COLLECTIVE_START.format(dept=department.name, item=item.name, n=size)


def _department_prefix(words: str):
    """(the department a collective command names first, the rest): longest name first."""
    for name in sorted(people.department_names(), key=len, reverse=True):
        if words.startswith(normalise(name)):
            return people.department_named(name), words[len(normalise(name)):].strip(_PUNCT)
    return None, words


def proposal_text(p: collective.Proposal) -> str:
    lines = []
    if p.credited:
        lines.append(T.COLLECTIVE_CREDITED.format(n=len(p.credited), names=_names(p.credited)))
    if p.kept:
        lines.append(T.COLLECTIVE_KEPT.format(n=len(p.kept), names=_names(p.kept)))
    if p.unknown:
        lines.append(T.COLLECTIVE_UNKNOWN.format(words="、".join(p.unknown[:10])))
    for name, same in p.ambiguous.items():
        lines.append(T.COLLECTIVE_AMBIGUOUS.format(n=len(same), name=name, phones="、".join(s.phone for s in same)))
    if not (p.credited or p.kept):
        return "\n".join(lines[1:] + [T.COLLECTIVE_NOBODY]) if lines else T.COLLECTIVE_NOBODY
    return "\n".join(lines + [T.COLLECTIVE_CONFIRM])


def _names(people_list, limit: int = 20) -> str:
    return "、".join(p.name for p in people_list[:limit]) + ("等" if len(people_list) > limit else "")


def collective_confirm(person, draft, ctx: Context) -> str:
    done = collective.confirm(person, draft, ctx.now)
    if done is None:
        return T.COLLECTIVE_LIST_FIRST
    found = ctx.plan.item_of(draft.checklist, draft.item)
    return T.COLLECTIVE_DONE.format(dept=draft.department.name, item=found[1].name if found else draft.item,
                                    n=done.created + done.kept, id=draft.id)


def collective_undo(person, words: str, ctx: Context) -> str:
    number = number_word(words) if words else None
    if number is None:
        return T.COLLECTIVE_NO_SUCH.format(n=words or "?")
    try:
        activity = collective.undo(person, number, ctx.now)
    except LookupError:
        return T.COLLECTIVE_NO_SUCH.format(n=number)
    except collective.Refused:
        return T.COLLECTIVE_NOT_YOURS
    found = ctx.plan.item_of(activity.checklist, activity.item)
    return T.COLLECTIVE_UNDONE.format(id=activity.id, dept=activity.department.name,
                                      item=found[1].name if found else activity.item)


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


def check_in(person, words: str, ctx: Context, bare: bool, several: bool = False) -> str:
    checklist, rest = resolve(ctx.plan, words)
    if bare and checklist.main and rest:  # "3" just after "结对" listed the pairing checklist
        checklist = _in_view(person, rest, ctx, several) or checklist
    elif rest and checklist.key != person.listing:
        checkins.forget_shown(person, ctx.now)
    if several and rest:  # "打卡 1 2", "打卡 全家福 书信"
        return T.ONE_AT_A_TIME.format(command=_command_for(checklist), n=1)
    if not rest:
        if bare and checklist.main and not words:
            return T.HINT
        return show(person, checklist, ctx)
    halves = set() if checklist.find_item(rest) else _halves(checklist, rest)
    if len(halves) > 1:  # "全家福书信": two items run together
        return T.ONE_AT_A_TIME.format(command=_command_for(checklist), n=1)
    item = checklist.find_item(rest) or next(iter(halves), None)
    if item is not None and checklist.collective:  # done by a 集体打卡, not one by one
        if access.scope_of(person) is not None:  # the leader (or an organiser) records it
            return T.COLLECTIVE_USE.format(checklist=checklist.name, short=checklist.short,
                                           n=checklist.number_of(item))
        return T.COLLECTIVE_ONLY.format(checklist=checklist.name)
    if item is not None:
        return check_in_reply(checkins.check_in(person, checklist, item, ctx.now))
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


def _in_view(person, rest: str, ctx: Context, several: bool) -> Checklist | None:
    """The checklist shown a moment ago, when `rest` is a number or one of its items."""
    shown = checkins.in_view(person, ctx.plan, ctx.now)
    if shown is None or shown.main:
        return None
    return shown if several or number_word(rest) is not None or shown.find_item(rest) else None


def _halves(checklist: Checklist, rest: str) -> set:
    """The items of two words run together: {全家福, 书信} for "全家福书信"; one item for two of
    its own words ("看发展爱家乡"); empty when `rest` is no such pair. Tried on short texts only:
    each split costs two lookups, and a long message is no pair of item names."""
    if len(rest) > MAX_PAIR:
        return set()
    for i in range(1, len(rest)):
        first, second = checklist.find_item(rest[:i]), checklist.find_item(rest[i:])
        if first and second:
            return {first, second}
    return set()


def show(person, checklist: Checklist, ctx: Context) -> str:
    """A checklist's items and marks; for a few minutes a bare number refers to it."""
    checkins.shown(person, checklist, ctx.now)
    return checklist_text(person, checklist, ctx)


def check_in_reply(result: checkins.CheckInResult) -> str:
    checklist, item = result.checklist, result.item
    if result.outcome == checkins.CLOSED:
        return T.CLOSED.format(checklist=checklist.name, opens=md(checklist.opens), closes=md(checklist.closes))
    if result.outcome == checkins.NEEDS_EVIDENCE:
        return T.NEED_EVIDENCE.format(item=item.name)
    fields = dict(item=item.name, checklist=checklist.name, done=result.done, total=result.total)
    lines = [(T.RECORDED if result.outcome == checkins.RECORDED else T.ALREADY).format(**fields)]
    if result.all_done:
        lines.append(T.ALL_DONE.format(checklist=checklist.name))
    if result.awaits_evidence:  # asked again about a done item: the next photo documents it
        lines.append(T.ADD_EVIDENCE)
    if not result.counted:
        lines.append(T.EXEMPT_NOTE)
    return "\n".join(lines)


def undo(person, words: str, ctx: Context, several: bool = False) -> str:
    checklist, rest = resolve(ctx.plan, words)
    command = _command_for(checklist, undo=True)
    if several and rest:
        return T.ONE_AT_A_TIME.format(command=command, n=1)
    if not rest:
        done = checkins.done_items(person, checklist)
        first = next((n for n, i in enumerate(checklist.items, start=1) if i.key in done), None)
        if first is None:
            return T.NOTHING_TO_UNDO.format(checklist=checklist.name)
        return T.UNDO_USAGE.format(command=command, n=first)
    item = checklist.find_item(rest)
    if item is None:
        if number_word(rest) is not None:
            return T.OUT_OF_RANGE.format(checklist=checklist.name, total=len(checklist.items), command=command)
        return T.NO_SUCH_ITEM.format(checklist=checklist.name, word=rest, command=_command_for(checklist))
    result = checkins.undo(person, checklist, item, ctx.now)
    if result.outcome == checkins.CLOSED:
        return T.CLOSED_UNDO.format(checklist=checklist.name, opens=md(checklist.opens), closes=md(checklist.closes))
    if result.outcome == checkins.NOT_DONE:
        return T.NOT_DONE.format(item=item.name)
    reply = T.UNDONE.format(item=item.name, checklist=checklist.name, done=result.done, total=result.total)
    return reply + T.UNDONE_EVIDENCE if result.had_evidence else reply


def evidence_reply(result: checkins.EvidenceResult) -> str:
    kind = T.EVIDENCE_KINDS[result.kind]
    if result.check_in is not None:
        return check_in_reply(result.check_in)
    if result.activity is not None:
        return T.EVIDENCE_SAVED_ACTIVITY.format(kind=kind, item=result.item.name if result.item else "")
    if result.outcome == checkins.NO_TARGET:
        return T.EVIDENCE_NO_TARGET.format(kind=kind)
    return T.EVIDENCE_SAVED.format(kind=kind, item=result.item.name)


def checklist_text(person, checklist: Checklist, ctx: Context) -> str:
    done = checkins.done_for(person, checklist)
    lines = [T.LIST_HEAD.format(checklist=checklist.name, done=len(done), total=len(checklist.items))]
    first_pending = None
    for n, item in enumerate(checklist.items, start=1):
        mark = "✅" if item.key in done else "⬜"
        if item.key not in done and first_pending is None:
            first_pending = n
        lines.append(f"{mark}{n} {item.name}" + (T.LIST_EVIDENCE if item.evidence_required else ""))
    if not checklist.is_open(ctx.today):
        lines.append(T.LIST_CLOSED.format(opens=md(checklist.opens), closes=md(checklist.closes)))
    elif first_pending is not None:
        foot = T.LIST_FOOT_MAIN if checklist.main else T.LIST_FOOT_OTHER
        lines.append(foot.format(n=first_pending, short=checklist.short))
    return "\n".join(lines)


def progress_text(person, ctx: Context) -> str:
    p = checkins.progress(person, ctx.plan)
    lines = [T.PROGRESS_HEAD.format(name=person.name)]
    lines += [T.PROGRESS_LINE.format(checklist=c.name, done=done, total=len(c.items)) for c, done in p.lists]
    lines.append(T.PROGRESS_DEPT.format(checklist=ctx.plan.main.name, rate=stats.pct(p.department.participation_rate),
                                        participants=p.department.participants, eligible=p.department.eligible))
    if not p.counted:
        lines.append(T.EXEMPT_NOTE)
    return "\n".join(lines)


ASSESSMENT_LINES = 5  # a leader's latest entries shown
ASSESSMENT_DEPARTMENTS = 15  # an organiser's departments shown, in natural order (never by points)


def assessment_text(person, ctx: Context) -> str:
    """考核: a leader's department's points and latest entries; an organiser's per department."""
    scope = access.scope_of(person)
    if scope is None:
        return T.ASSESSMENT_STAFF
    year = ctx.now.year
    state = T.ASSESSMENT_FROZEN if assessment.frozen(year) else ""
    totals = assessment.totals(year, scope.department_id)
    if not scope.whole_unit:
        total = totals[0]
        latest = assessment.entries(year, scope.department_id)[-ASSESSMENT_LINES:]
        lines = [T.ASSESSMENT_DEPT.format(dept=total.name, year=year, points=total.points, n=total.entries, state=state)]
        lines += [T.ASSESSMENT_ENTRY.format(points=e.points, reason=e.reason) for e in reversed(latest)]
        return "\n".join(lines + ([T.ASSESSMENT_MORE] if total.entries else [T.ASSESSMENT_NONE]))
    lines = [T.ASSESSMENT_UNIT.format(year=year, n=len(totals), state=state)]
    lines += [T.ASSESSMENT_TOTAL.format(dept=t.name, points=t.points) for t in totals[:ASSESSMENT_DEPARTMENTS]]
    if len(totals) > ASSESSMENT_DEPARTMENTS:
        lines.append(T.ASSESSMENT_REST.format(n=len(totals) - ASSESSMENT_DEPARTMENTS))
    return "\n".join(lines + [T.ASSESSMENT_MORE])


def help_text(plan: Plan, person) -> str:
    main = plan.main
    others = [c for c in plan.checklists if not c.main]
    example = main.items[0].aliases[0] if main.items[0].aliases else main.items[0].name
    other_line = T.HELP_OTHERS.format(examples="、".join(f"{c.short} 1" for c in others)) if others else ""
    text = T.HELP.format(main=main.name, example=example, others=other_line).rstrip()
    scope = access.scope_of(person)
    if scope is None:
        return text
    example = others[0].short if others else main.short
    where = "全单位" if scope.whole_unit else "本部门"
    return "\n".join([text, T.HELP_STATS.format(scope=where, example=example),
                      T.HELP_COLLECTIVE.format(scope="为任一部门记" if scope.whole_unit else "为本部门记"),
                      T.HELP_ASSESSMENT.format(scope="各部门" if scope.whole_unit else "本部门")])


def stats_of_text(person, word: str, ctx: Context) -> str:
    checklist = ctx.plan.find_checklist(word)
    if access.scope_of(person) is None:
        return T.REFUSED
    if checklist is None:
        shorts = [c.short for c in ctx.plan.checklists]
        return T.NO_SUCH_CHECKLIST.format(word=word, names="、".join(shorts), example=shorts[-1])
    return stats_text(person, ctx, checklist)


def stats_text(person, ctx: Context, checklist: Checklist) -> str:
    """Participation in a checklist as the person may see it: the whole unit's figures and its
    lowest departments for an organiser, their department and its pending names for a leader."""
    target = ctx.plan.target
    try:
        view = stats.overview(person, checklist, target)
    except stats.NotAllowed:
        return T.REFUSED
    o = view.report.overall
    shown = dict(checklist=checklist.name, rate=stats.pct(o.participation_rate), participants=o.participants,
                 eligible=o.eligible, target=stats.pct(target))
    if not view.scope.whole_unit:
        lines = [T.STATS_LEADER_HEAD.format(dept=person.department.name, **shown)]
        if view.pending:
            names = "、".join(p.name for p in view.pending[:20]) + ("等" if len(view.pending) > 20 else "")
            lines.append(T.STATS_PENDING.format(count=len(view.pending), names=names))
        else:
            lines.append(T.STATS_NONE_PENDING)
        return "\n".join(lines)
    lines = [T.STATS_HEAD.format(**shown),
             T.STATS_DONE.format(rate=stats.pct(o.completion_rate), completed=o.completed, eligible=o.eligible)]
    if view.lowest:
        lines.append(T.STATS_LOWEST)
        lines += [T.STATS_DEPT.format(n=n, name=d.name, rate=stats.pct(d.participation_rate),
                                      participants=d.participants, eligible=d.eligible)
                  for n, d in enumerate(view.lowest, start=1)]
    else:
        lines.append(T.STATS_ALL_MET)
    lost = evidence.counts()[evidence.LOST]
    if lost:
        lines.append(T.STATS_LOST.format(lost=lost))
    return "\n".join(lines)
