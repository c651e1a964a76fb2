"""Campaign plans as data: a TOML file describing phases and checklists.

Dates in a plan are month-day ("03-21"); the year is the plan's `year` when it names
one, otherwise the year of `today`, so the shipped plan follows the current year.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import string
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from campaign.rules import parse_rules


log = logging.getLogger("tuanjie.plan")


class PlanError(Exception):
    """A plan file is invalid: names the file, the field and the reason."""

    def __init__(self, path, field, reason):
        self.path, self.field, self.reason = str(path), field, reason
        super().__init__(f"{path}: {field}: {reason}")


@dataclass(frozen=True)
class Phase:
    key: str
    name: str
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class Item:
    key: str
    name: str
    aliases: tuple[str, ...]
    evidence_required: bool = False

    @cached_property
    def words(self) -> frozenset[str]:
        """Every word that names the item in a message (normalised): key, name, aliases."""
        return frozenset({self.key, normalise(self.name), *self.aliases})


@dataclass(frozen=True)
class Checklist:
    key: str
    name: str
    short: str
    aliases: tuple[str, ...]
    items: tuple[Item, ...]
    opens: dt.date
    closes: dt.date
    main: bool = False
    year: int = 0  # the campaign year: check-ins are counted per year
    # "person": each person checks in; "department": done by a collective record (集体打卡) and
    # counted by departments, not people (主题党日 by a 支部, 七个一 by a unit).
    scope: str = "person"
    # "year", or "half-year": each half counted on its own (this plan is for one half: `half`).
    period: str = "year"
    half: int = 0  # 1 or 2 for a half-year checklist, in the half of the day the plan is for

    @property
    def record_key(self) -> str:
        """How check-ins store the checklist: its key, with the half for a half-year one
        (party_day@h2), so that each half is counted on its own."""
        return f"{self.key}@h{self.half}" if self.half else self.key

    @property
    def collective(self) -> bool:
        return self.scope == "department"

    @cached_property
    def words(self) -> frozenset[str]:
        """Every word that names the checklist in a message (normalised): key, short name, name, aliases."""
        return frozenset({self.key, normalise(self.short), normalise(self.name), *self.aliases})

    def is_open(self, day: dt.date) -> bool:
        return self.opens <= day <= self.closes

    def item_by_number(self, number: int) -> Item | None:
        return self.items[number - 1] if 1 <= number <= len(self.items) else None

    def number_of(self, item: Item) -> int:
        return self.items.index(item) + 1

    def find_item(self, word: str) -> Item | None:
        """An item by its number (2, ２, ②, 二), key, name or one of its aliases."""
        word = normalise(word)
        number = number_word(word)
        if number is not None:
            return self.item_by_number(number)
        return self._items_by_word.get(word)

    @cached_property
    def _items_by_word(self) -> dict[str, Item]:
        """Word -> item, the first item naming it winning (every message asks every checklist)."""
        return {w: item for item in reversed(self.items) for w in item.words}

    def item(self, key: str) -> Item | None:
        return next((i for i in self.items if i.key == key), None)


REMINDER_KINDS = ("phase_start", "phase_end", "monthly", "nudge", "digest")
CHANNELS = ("template", "subscribe", "custom")
AUDIENCES = ("all", "pending")


@dataclass(frozen=True)
class Reminder:
    """A reminder the plan declares; schedules/ turns it into dated occurrences.

    phase_start: on the first workday of each listed phase (all phases by default);
    phase_end: `days_before` days before each listed phase ends (next workday);
    monthly: on the first workday of each listed month;
    nudge: on `weekday` (1 = Monday) during the listed phases, to pending people only: every
    `every_weeks` weeks, counted back from the phase's last nudge (so that one reaches everyone
    pending), and weekly in the last `weekly_last_days` days of the phase for people who have
    answered a nudge (checked in since one); whoever stayed pending `escalate_after` nudges long
    is named first in the department leader's digest;
    digest: weekly on `weekday` during the listed phases, to each department leader: the
    department's participation, how many are pending and who (schedules/digest.py).
    """

    key: str
    kind: str
    title: str  # the template's first keyword: 20 characters at most
    text: str  # may use {phase} {end} {checklist} {left} {done} {total}
    at: dt.time
    channel: str = "template"
    audience: str = "all"
    checklist: str | None = None
    phases: tuple[str, ...] = ()
    months: tuple[int, ...] = ()
    weekday: int = 1
    days_before: int = 0
    escalate_after: int = 0
    grace: dt.timedelta = dt.timedelta(hours=12)
    every_weeks: int = 1
    weekly_last_days: int = 0


@dataclass(frozen=True)
class Plan:
    name: str
    year: int
    target: float
    phases: tuple[Phase, ...]
    checklists: tuple[Checklist, ...]
    path: str = ""
    reminders: tuple[Reminder, ...] = ()
    holidays: frozenset = frozenset()
    workdays: frozenset = frozenset()
    assessment: tuple = ()  # campaign.rules.Rule: the plan's 加减分 rules

    def reminder(self, key: str) -> Reminder | None:
        return next((r for r in self.reminders if r.key == key), None)

    def phase(self, key: str) -> Phase | None:
        return next((p for p in self.phases if p.key == key), None)

    @property
    def main(self) -> Checklist:
        return next(c for c in self.checklists if c.main)

    def checklist(self, key: str) -> Checklist | None:
        """By its key, or as check-ins store it (party_day@h1)."""
        key = key.split("@", 1)[0]
        return next((c for c in self.checklists if c.key == key), None)

    def item_of(self, checklist_key: str, item_key: str) -> tuple[Checklist, Item] | None:
        """(checklist, item) by their keys, as a check-in row stores them; None when either has
        left the plan."""
        checklist = self.checklist(checklist_key)
        item = checklist.item(item_key) if checklist else None
        return (checklist, item) if item else None

    @cached_property
    def prefixes(self) -> tuple[tuple[str, Checklist], ...]:
        """(word, checklist) for every word that names a checklist, longest first: how a
        message like "结对 2" is split. Computed once per plan; the webhook asks for every message."""
        pairs = {(word, c.key): c for c in self.checklists for word in c.words}
        return tuple((word, c) for (word, _), c in sorted(pairs.items(), key=lambda kv: -len(kv[0][0])))

    def find_checklist(self, word: str) -> Checklist | None:
        """A checklist by its key, short name, name or alias."""
        word = normalise(word)
        return next((c for c in self.checklists if word in c.words), None)

    def phase_on(self, day: dt.date) -> Phase | None:
        return next((p for p in self.phases if p.start <= day <= p.end), None)


YEARS = range(2000, 2101)  # the campaign years a plan can have

_CN_DIGITS = {c: n for n, c in enumerate("一二三四五六七八九", start=1)}
_CN_NUMBER = re.compile(r"^([一二三四五六七八九]?)(十?)([一二三四五六七八九]?)$")


def number_word(word: str) -> int | None:
    """The item number a word means: ASCII digits (after normalise) or a Chinese numeral up to
    九十九, as voice recognition writes "打卡三", "打卡十二"; None for any other word."""
    if word.isdigit():
        return int(word) if word.isascii() and len(word) <= 6 else None
    m = _CN_NUMBER.match(word)
    if not word or m is None or (not m.group(2) and m.group(1) and m.group(3)):  # "一二" is no number
        return None
    tens, ten, units = m.groups()
    if ten:
        return _CN_DIGITS.get(tens, 1) * 10 + _CN_DIGITS.get(units, 0)
    return _CN_DIGITS[tens or units]


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, no inner spaces: how staff input is compared."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def load_plan(path: str | Path, today: dt.date) -> Plan:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(path, "(file)", "does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(path, "(file)", f"not valid TOML: {exc}") from None
    return parse_plan(raw, path, today)


class PlanSource:
    """The plan file as every process reads it: one parsed Plan per campaign year (and half), read again
    when the file changes (its size or modification time), so the web app and the scheduler
    follow an organiser's edit without a restart. An edit that breaks the file is logged and
    the last good plan kept: a typo must not stop check-ins. Thread-safe."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._by_year: dict[tuple[int, int], Plan] = {}  # (year, half): half-year checklists differ

    def on(self, day: dt.date) -> Plan:
        """The plan for the year of `day` (dates without a year fall in that year)."""
        stamp = self._stat()
        with self._lock:
            if stamp != self._stamp:
                self._reload(stamp)
            when = (day.year, 1 if day.month <= 6 else 2)
            plan = self._by_year.get(when)
            if plan is None:
                plan = self._by_year[when] = load_plan(self.path, day)
            return plan

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _reload(self, stamp) -> None:
        """The file changed: parse it for the years already asked, or keep them if it broke."""
        if self._by_year:
            try:
                fresh = {(year, half): load_plan(self.path, dt.date(year, 1 if half == 1 else 7, 1))
                         for year, half in self._by_year}
            except PlanError as exc:
                log.error("plan file changed but cannot be used; keeping the plan loaded before: %s", exc)
                self._stamp = stamp
                return
            log.info("plan file %s changed: reloaded", self.path)
            self._by_year = fresh
        self._stamp = stamp


def parse_plan(raw: dict, path, today: dt.date) -> Plan:
    """The plan for the year of `today` (or its `year`), and for half-year checklists, for the
    half `today` is in."""
    return _Parser(path, raw.get("year", today.year), 1 if today.month <= 6 else 2).plan(raw)


SCOPES, PERIODS = ("person", "department"), ("year", "half-year")


class _Parser:
    """Reads one plan's tables; every problem is a PlanError naming the field."""

    def __init__(self, path, year, half: int = 1):
        self.path, self.half = path, half
        if not isinstance(year, int) or isinstance(year, bool) or year not in YEARS:
            self.fail("year", f"must be a year between {YEARS[0]} and {YEARS[-1]}, got {year!r}")
        self.year = year

    def fail(self, field, reason):
        raise PlanError(self.path, field, reason)

    def text(self, table, key, where, default=None) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{where}.{key}" if where else key, "must be a non-empty string")
        return value.strip()

    def date(self, table, key, where, default=None) -> dt.date:
        value = table.get(key, default)
        if not isinstance(value, str) or not re.fullmatch(r"\d{2}-\d{2}", value):
            self.fail(f"{where}.{key}", f"must be a month-day like \"03-21\", got {value!r}")
        try:
            return dt.date(self.year, int(value[:2]), int(value[3:]))
        except ValueError:
            self.fail(f"{where}.{key}", f"no such date: {value}")

    def table(self, value, where) -> None:
        """A [[phases]], [[checklists]], items or [[reminders]] entry: a table of known keys."""
        if not isinstance(value, dict):
            self.fail(where, f"must be a table (key = value lines), got {type(value).__name__}")
        _known_keys(value, where, KNOWN[where.rsplit(".", 1)[-1].split("[")[0]], self.fail)

    def keyed(self, raw, section: str, build) -> list:
        """An array of tables [[section]], each built by build(table, "section[i]"), keys unique."""
        if not isinstance(raw, list):
            self.fail(section, f"must be an array of tables [[{section}]]")
        built: list = []
        for i, table in enumerate(raw):
            thing = build(table, f"{section}[{i}]")
            if any(other.key == thing.key for other in built):
                self.fail(f"{section}[{i}].key", f"{thing.key!r} is used twice")
            built.append(thing)
        return built

    def key_of(self, table, where) -> str:
        key = table.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            self.fail(f"{where}.key", "must be lower-case letters, digits or _, starting with a letter")
        return key

    def plan(self, raw: dict) -> Plan:
        _known_keys(raw, "", KNOWN["plan"], self.fail)
        name = self.text(raw, "name", "")
        target = raw.get("target", 1.0)
        if not isinstance(target, (int, float)) or isinstance(target, bool) or not 0 < target <= 1:
            self.fail("target", f"must be a fraction in (0, 1], e.g. 1.0 for 100%, got {target!r}")
        phases = self.phases(raw.get("phases", []))
        checklists = self.checklists(raw.get("checklists"))
        holidays, workdays = _calendar(raw.get("calendar", {}), self.fail)
        keys = {p.key for p in phases}, {c.key for c in checklists}
        reminders = _reminders(raw.get("reminders", []), self, *keys)
        rules = parse_rules(raw.get("assessment", []), self, *keys)
        return Plan(name, self.year, float(target), phases, checklists, str(self.path), reminders,
                    holidays, workdays, rules)

    def phases(self, raw) -> tuple[Phase, ...]:
        if not isinstance(raw, list):
            self.fail("phases", "must be an array of tables [[phases]]")
        phases: list[Phase] = []
        for i, p in enumerate(raw):
            where = f"phases[{i}]"
            self.table(p, where)
            phase = Phase(self.key_of(p, where), self.text(p, "name", where), self.date(p, "start", where),
                          self.date(p, "end", where))
            if phase.end < phase.start:
                self.fail(f"{where}.end", f"{phase.end} is before start {phase.start}")
            if any(q.key == phase.key for q in phases):
                self.fail(f"{where}.key", f"{phase.key!r} is used twice")
            if phases and phase.start <= phases[-1].end:
                self.fail(f"{where}.start", f"overlaps or precedes phase {phases[-1].key!r}; list phases in order")
            phases.append(phase)
        return tuple(phases)

    def checklists(self, raw) -> tuple[Checklist, ...]:
        if not isinstance(raw, list) or not raw:
            self.fail("checklists", "at least one [[checklists]] is required")
        seen_words: dict[str, str] = {}
        checklists = [self.checklist(c, f"checklists[{i}]", seen_words) for i, c in enumerate(raw)]
        keys = [c.key for c in checklists]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup:
            self.fail("checklists", f"key {dup!r} is used twice")
        mains = [c.key for c in checklists if c.main]
        if len(mains) != 1:
            self.fail("checklists", f"exactly one checklist must have main = true, found {len(mains)}")
        _check_shadowing(checklists, self.fail)
        return tuple(checklists)

    def checklist(self, c, where: str, seen_words: dict[str, str]) -> Checklist:
        self.table(c, where)
        key = self.key_of(c, where)
        short = self.text(c, "short", where, c.get("name"))
        aliases = _aliases(c, where, self.fail)
        for word in {key, normalise(short), normalise(self.text(c, "name", where)), *aliases}:
            if word in seen_words and seen_words[word] != key:
                self.fail(f"{where}.aliases", f"{word!r} already names checklist {seen_words[word]!r}")
            if word.isnumeric():
                self.fail(f"{where}.aliases", f"{word!r}: a number cannot name a checklist")
            seen_words[word] = key
        items = _items(c, where, self)
        opens, closes = self.date(c, "opens", where, "01-01"), self.date(c, "closes", where, "12-31")
        if closes < opens:
            self.fail(f"{where}.closes", f"{closes} is before opens {opens}")
        main = c.get("main", False)
        if not isinstance(main, bool):
            self.fail(f"{where}.main", "must be true or false")
        scope = _one_of(c, "scope", where, SCOPES, "person", self.fail)
        period = _one_of(c, "period", where, PERIODS, "year", self.fail)
        if main and scope != "person":
            self.fail(f"{where}.scope", "the main checklist is one each person checks in: scope = \"person\"")
        half = self.half if period == "half-year" else 0
        if half:  # open within this half only
            first, last = (dt.date(self.year, 1, 1), dt.date(self.year, 6, 30)) if half == 1 else \
                (dt.date(self.year, 7, 1), dt.date(self.year, 12, 31))
            opens, closes = max(opens, first), min(closes, last)
        return Checklist(key, self.text(c, "name", where), short, aliases, items, opens, closes, main, self.year,
                         scope, period, half)


def _calendar(table, fail) -> tuple[frozenset, frozenset]:
    if not isinstance(table, dict):
        fail("calendar", "must be a table [calendar]")
    _known_keys(table, "calendar", KNOWN["calendar"], fail)
    out = []
    for key in ("holidays", "workdays"):
        days = set()
        values = table.get(key, [])
        if not isinstance(values, list):
            fail(f"calendar.{key}", "must be a list of dates like \"2027-10-01\"")
        for value in values:
            try:
                days.add(dt.date.fromisoformat(str(value)))
            except ValueError:
                fail(f"calendar.{key}", f"{value!r} is not a date like \"2027-10-01\"")
        out.append(frozenset(days))
    if out[0] & out[1]:
        fail("calendar", f"{sorted(out[0] & out[1])[0]} is listed as both holiday and workday")
    return out[0], out[1]


PLACEHOLDERS = {"phase": "宣传动员", "end": "12月20日", "checklist": "五个一", "left": 2, "done": 3, "total": 5}
# A digest's text: the department's participation, how many are pending, who (the longest
# pending first), and how many of them stayed pending `escalate_after` nudges long.
DIGEST_PLACEHOLDERS = {"checklist": "五个一", "rate": "80%", "pending": 3, "names": "张三、李四、王五",
                       "escalated": 2}
LEADERS = "leaders"  # a digest's audience: each department's leaders
WEEKLY = ("nudge", "digest")  # the kinds that fire weekly on `weekday` during their phases

# The keys each kind of table may hold: a misspelt key (evidence = true) is an error, not ignored.
KNOWN = {
    "plan": ("name", "year", "target", "phases", "checklists", "reminders", "calendar", "assessment"),
    "phases": ("key", "name", "start", "end"),
    "checklists": ("key", "name", "short", "aliases", "items", "opens", "closes", "main", "scope", "period"),
    "items": ("key", "name", "aliases", "evidence_required"),
    "reminders": ("key", "kind", "title", "text", "time", "channel", "audience", "checklist", "phases", "months",
                  "weekday", "days_before", "escalate_after", "grace_hours", "every_weeks", "weekly_last_days"),
    "calendar": ("holidays", "workdays"),
}


def _known_keys(table: dict, where: str, known, fail) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        fail(f"{where}.{unknown[0]}" if where else unknown[0], f"unknown key (known here: {', '.join(known)})")


def _check_placeholders(body: str, where: str, fail, placeholders: dict = PLACEHOLDERS) -> None:
    """Only plain {name} placeholders: "{phase.upper}" or "{done:>999999999}" would format
    into nonsense or eat memory at send time."""
    known = ", ".join("{" + k + "}" for k in placeholders)
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(body) if name is not None]
    except ValueError as exc:
        fail(where, f"bad placeholder: {exc} (write {{{{ and }}}} for literal braces; known: {known})")
    for name, spec, conv in fields:
        if name not in placeholders or spec or conv:
            shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            fail(where, f"bad placeholder {shown} (known: {known}, with nothing after the name)")


def _reminders(raw, parser: _Parser, phase_keys, checklist_keys) -> tuple[Reminder, ...]:
    reminders = parser.keyed(raw, "reminders",
                             lambda r, where: _reminder(r, where, parser, phase_keys, checklist_keys))
    return tuple(reminders) + _implied_digests(reminders)


def _implied_digests(reminders: list[Reminder]) -> tuple[Reminder, ...]:
    """Plans written before digests escalated each nudge round to the leaders: a nudge with
    `escalate_after` and no digest for its checklist gets one, on the nudge's own day and time."""
    digested = {r.checklist for r in reminders if r.kind == "digest"}
    implied = []
    for r in reminders:
        if r.kind == "nudge" and r.escalate_after and r.checklist not in digested:
            digested.add(r.checklist)
            implied.append(Reminder(key=f"{r.key}_digest", kind="digest", title="本部门打卡进展",
                                    text="参与{rate}，{pending}人未完成：{names}", at=r.at, channel=r.channel,
                                    audience=LEADERS, checklist=r.checklist, phases=r.phases, weekday=r.weekday,
                                    grace=r.grace))
    return tuple(implied)


def _reminder(r, where: str, parser: _Parser, phase_keys, checklist_keys) -> Reminder:
    fail = parser.fail
    parser.table(r, where)
    key = parser.key_of(r, where)
    kind = _one_of(r, "kind", where, REMINDER_KINDS, None, fail)
    title = parser.text(r, "title", where)
    if len(title) > 20 or "\n" in title:
        fail(f"{where}.title", "at most 20 characters on one line (the template keyword rule)")
    channel = _one_of(r, "channel", where, CHANNELS, "template", fail)
    if kind == "digest" and "audience" in r:
        fail(f"{where}.audience", "a digest goes to department leaders: leave audience out")
    audience = LEADERS if kind == "digest" else \
        _one_of(r, "audience", where, AUDIENCES, "pending" if kind == "nudge" else "all", fail)
    checklist = r.get("checklist")
    if checklist is not None and (not isinstance(checklist, str) or checklist not in checklist_keys):
        fail(f"{where}.checklist", f"no checklist {checklist!r} in this plan")
    if (kind in WEEKLY or audience == "pending") and checklist is None:
        fail(f"{where}.checklist", f"a {kind} or a pending-only reminder must name its checklist")
    phases = r.get("phases", [])
    if not isinstance(phases, list) or any(not isinstance(p, str) or p not in phase_keys for p in phases):
        fail(f"{where}.phases", f"must list phase keys of this plan ({', '.join(sorted(phase_keys))})")
    if kind in WEEKLY and not phases:
        fail(f"{where}.phases", f"a {kind} must name the phases it runs in")
    for cadence in ("every_weeks", "weekly_last_days"):
        if cadence in r and kind != "nudge":
            fail(f"{where}.{cadence}", "only a nudge has a cadence")
    months = r.get("months", list(range(1, 13)))
    if not isinstance(months, list) or not months or any(
            not isinstance(m, int) or isinstance(m, bool) or not 1 <= m <= 12 for m in months):
        fail(f"{where}.months", "must be a list of month numbers 1-12")
    ints = _whole_numbers(r, where, fail)
    body = parser.text(r, "text", where)
    _check_placeholders(body, f"{where}.text", fail, DIGEST_PLACEHOLDERS if kind == "digest" else PLACEHOLDERS)
    return Reminder(
        key=key, kind=kind, title=title, text=body, at=_time_of_day(r, where, fail), channel=channel,
        audience=audience, checklist=checklist, phases=tuple(phases), months=tuple(sorted(set(months))),
        weekday=ints["weekday"], days_before=ints["days_before"], escalate_after=ints["escalate_after"],
        grace=dt.timedelta(hours=ints["grace_hours"]), every_weeks=ints["every_weeks"],
        weekly_last_days=ints["weekly_last_days"])


def _one_of(table, key, where, allowed, default, fail):
    value = table.get(key, default)
    if value not in allowed:
        fail(f"{where}.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _time_of_day(r, where, fail) -> dt.time:
    at = r.get("time", "09:30")
    if not isinstance(at, str) or not re.fullmatch(r"\d{2}:\d{2}", at):
        fail(f"{where}.time", f"must be a time like \"09:30\", got {at!r}")
    try:
        return dt.time(int(at[:2]), int(at[3:]))
    except ValueError:
        fail(f"{where}.time", f"no such time: {at}")


# Whole-number keys of a reminder: (default, lowest, highest).
_REMINDER_INTS = {"weekday": (1, 1, 7), "days_before": (0, 0, 60), "escalate_after": (0, 0, 52),
                  "grace_hours": (12, 1, 24 * 7), "every_weeks": (1, 1, 8), "weekly_last_days": (0, 0, 120)}


def _whole_numbers(r, where, fail) -> dict[str, int]:
    ints = {}
    for name, (default, low, high) in _REMINDER_INTS.items():
        value = r.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            fail(f"{where}.{name}", f"must be a whole number from {low} to {high}, got {value!r}")
        ints[name] = value
    return ints


def _check_shadowing(checklists: list[Checklist], fail) -> None:
    """A word naming a checklist must not begin a word of a main-list item: messages are split
    on checklist words first (bot.handlers.resolve), so with 团结 naming a checklist, 团结故事
    would be read as that checklist's item 故事, not the main list's 团结故事."""
    main = next(c for c in checklists if c.main)
    item_words = {word: item.key for item in main.items for word in item.words}
    for i, c in enumerate(checklists):
        for word in sorted(c.words):
            clash = next((w for w in sorted(item_words) if w.startswith(word)), None)
            if clash is not None:
                fail(f"checklists[{i}].aliases", f"{word!r} names checklist {c.key!r} and begins {clash!r}, a word of "
                     f"main-list item {item_words[clash]!r}: a message {clash!r} would be read as checklist {c.key!r}")


def _aliases(table, where, fail) -> tuple[str, ...]:
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        fail(f"{where}.aliases", "must be a list of non-empty strings")
    return tuple(normalise(a) for a in aliases)


def _items(c, where, parser: _Parser) -> tuple[Item, ...]:
    fail = parser.fail
    raw_items = c.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        fail(f"{where}.items", "at least one item is required")
    items, words = [], {}
    for j, it in enumerate(raw_items):
        iw = f"{where}.items[{j}]"
        parser.table(it, iw)
        item_key = parser.key_of(it, iw)
        if any(i.key == item_key for i in items):
            fail(f"{iw}.key", f"{item_key!r} is used twice in this checklist")
        name = parser.text(it, "name", iw)
        aliases = _aliases(it, iw, fail)
        evidence = it.get("evidence_required", False)
        if not isinstance(evidence, bool):
            fail(f"{iw}.evidence_required", "must be true or false")
        for word in {item_key, normalise(name), *aliases}:
            if word.isnumeric():  # 2, 二: numbers say an item's position
                fail(f"{iw}.aliases", f"{word!r}: numbers are reserved for item positions")
            if word in words and words[word] != item_key:
                fail(f"{iw}.aliases", f"{word!r} already names item {words[word]!r}")
            words[word] = item_key
        items.append(Item(item_key, name, aliases, evidence))
    return tuple(items)
