"""Campaign plans as data: a TOML file describing phases and checklists.

Dates in a plan are month-day ("03-21"); the year is the plan's `year` when it names
one, otherwise the year of `today`, so the shipped plan follows the current year.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path


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

    def is_open(self, day: dt.date) -> bool:
        return self.opens <= day <= self.closes

    def item_by_number(self, number: int) -> Item | None:
        return self.items[number - 1] if 1 <= number <= len(self.items) else None

    def number_of(self, item: Item) -> int:
        return self.items.index(item) + 1

    def find_item(self, word: str) -> Item | None:
        """An item by its number, key, name or one of its aliases."""
        word = normalise(word)
        if word.isdigit():
            return self.item_by_number(int(word))
        for item in self.items:
            if word in (item.key, normalise(item.name)) or word in item.aliases:
                return item
        return None

    def item(self, key: str) -> Item:
        return next(i for i in self.items if i.key == key)


@dataclass(frozen=True)
class Plan:
    name: str
    year: int
    target: float
    phases: tuple[Phase, ...]
    checklists: tuple[Checklist, ...]
    path: str = ""

    @property
    def main(self) -> Checklist:
        return next(c for c in self.checklists if c.main)

    def checklist(self, key: str) -> Checklist | None:
        return next((c for c in self.checklists if c.key == key), None)

    def find_checklist(self, word: str) -> Checklist | None:
        """A checklist by its key, short name, name or alias."""
        word = normalise(word)
        for c in self.checklists:
            if word in (c.key, normalise(c.short), normalise(c.name)) or word in c.aliases:
                return c
        return None

    def phase_on(self, day: dt.date) -> Phase | None:
        return next((p for p in self.phases if p.start <= day <= p.end), None)


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


def parse_plan(raw: dict, path, today: dt.date) -> Plan:
    def fail(field, reason):
        raise PlanError(path, field, reason)

    def text(table, key, where, default=None):
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            fail(f"{where}.{key}" if where else key, "must be a non-empty string")
        return value.strip()

    year = raw.get("year", today.year)
    if not isinstance(year, int) or not 2000 <= year <= 2100:
        fail("year", f"must be a year between 2000 and 2100, got {year!r}")

    def date(table, key, where, default=None):
        value = table.get(key, default)
        if not isinstance(value, str) or not re.fullmatch(r"\d{2}-\d{2}", value):
            fail(f"{where}.{key}", f"must be a month-day like \"03-21\", got {value!r}")
        try:
            return dt.date(year, int(value[:2]), int(value[3:]))
        except ValueError:
            fail(f"{where}.{key}", f"no such date: {value}")

    def key_of(table, where):
        key = table.get("key")
        if not isinstance(key, str) or not _KEY.match(key):
            fail(f"{where}.key", "must be lower-case letters, digits or _, starting with a letter")
        return key

    name = text(raw, "name", "")
    target = raw.get("target", 1.0)
    if not isinstance(target, (int, float)) or isinstance(target, bool) or not 0 < target <= 1:
        fail("target", f"must be a fraction in (0, 1], e.g. 1.0 for 100%, got {target!r}")

    phases = []
    raw_phases = raw.get("phases", [])
    if not isinstance(raw_phases, list):
        fail("phases", "must be an array of tables [[phases]]")
    for i, p in enumerate(raw_phases):
        where = f"phases[{i}]"
        phase = Phase(key_of(p, where), text(p, "name", where), date(p, "start", where), date(p, "end", where))
        if phase.end < phase.start:
            fail(f"{where}.end", f"{phase.end} is before start {phase.start}")
        if phases and phase.start <= phases[-1].end:
            fail(f"{where}.start", f"overlaps or precedes phase {phases[-1].key!r}; list phases in order")
        phases.append(phase)

    checklists = []
    raw_lists = raw.get("checklists")
    if not isinstance(raw_lists, list) or not raw_lists:
        fail("checklists", "at least one [[checklists]] is required")
    seen_words: dict[str, str] = {}
    for i, c in enumerate(raw_lists):
        where = f"checklists[{i}]"
        key = key_of(c, where)
        short = text(c, "short", where, c.get("name"))
        aliases = _aliases(c, where, fail)
        for word in {key, normalise(short), normalise(text(c, "name", where)), *aliases}:
            if word in seen_words and seen_words[word] != key:
                fail(f"{where}.aliases", f"{word!r} already names checklist {seen_words[word]!r}")
            if word.isdigit():
                fail(f"{where}.aliases", f"{word!r}: a number cannot name a checklist")
            seen_words[word] = key
        items = _items(c, where, fail, key_of, text)
        opens = date(c, "opens", where, "01-01")
        closes = date(c, "closes", where, "12-31")
        if closes < opens:
            fail(f"{where}.closes", f"{closes} is before opens {opens}")
        main = c.get("main", False)
        if not isinstance(main, bool):
            fail(f"{where}.main", "must be true or false")
        checklists.append(Checklist(key, text(c, "name", where), short, aliases, items, opens, closes, main))
    keys = [c.key for c in checklists]
    dup = next((k for k in keys if keys.count(k) > 1), None)
    if dup:
        fail("checklists", f"key {dup!r} is used twice")
    mains = [c.key for c in checklists if c.main]
    if len(mains) != 1:
        fail("checklists", f"exactly one checklist must have main = true, found {len(mains)}")
    return Plan(name, year, float(target), tuple(phases), tuple(checklists), str(path))


def _aliases(table, where, fail) -> tuple[str, ...]:
    aliases = table.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        fail(f"{where}.aliases", "must be a list of non-empty strings")
    return tuple(normalise(a) for a in aliases)


def _items(c, where, fail, key_of, text) -> tuple[Item, ...]:
    raw_items = c.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        fail(f"{where}.items", "at least one item is required")
    items, words = [], {}
    for j, it in enumerate(raw_items):
        iw = f"{where}.items[{j}]"
        item_key = key_of(it, iw)
        name = text(it, "name", iw)
        aliases = _aliases(it, iw, fail)
        evidence = it.get("evidence_required", False)
        if not isinstance(evidence, bool):
            fail(f"{iw}.evidence_required", "must be true or false")
        for word in {item_key, normalise(name), *aliases}:
            if word.isdigit():
                fail(f"{iw}.aliases", f"{word!r}: numbers are reserved for item positions")
            if word in words and words[word] != item_key:
                fail(f"{iw}.aliases", f"{word!r} already names item {words[word]!r}")
            words[word] = item_key
        items.append(Item(item_key, name, aliases, evidence))
    return tuple(items)
