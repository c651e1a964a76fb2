"""The plan's assessment rules (加减分制, plan 篇八 (五)), as data: `[[assessment]]` tables.

    [[assessment]]
    key = "wuge_reached"          # names the rule on every entry it makes
    kind = "reached"              # reached | below | per_activity
    title = "「五个一」全员参与"     # the entry's reason
    points = 5                    # negative for a deduction
    checklist = "wuge"
    phase = "implement"           # reached / below: judged on the data at this phase's end
    measure = "participation"     # or "completion"
    threshold = 1.0               # reached: at least this (default: the plan's target); below: under it
    max = 5                       # per_activity: at most this many entries per department a year

`reached` gives its points to every department at or above the threshold at the end of the
phase; `below` to every department under it; `per_activity` for each collective activity
(集体打卡) with stored evidence, in the checklist when one is named.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

KINDS = ("reached", "below", "per_activity")
MEASURES = ("participation", "completion")
KEYS = ("key", "kind", "title", "points", "checklist", "phase", "measure", "threshold", "max")
MAX_POINTS = Decimal(100)


@dataclass(frozen=True)
class Rule:
    key: str
    kind: str
    title: str
    points: Decimal
    checklist: str | None = None
    phase: str | None = None
    measure: str = "participation"
    threshold: float | None = None  # None: the plan's target
    max: int = 0  # per_activity: 0 for no cap


def parse_rules(raw, parser, phase_keys: set[str], checklist_keys: set[str]) -> tuple[Rule, ...]:
    return tuple(parser.keyed(raw, "assessment",
                              lambda t, where: _rule(t, where, parser, phase_keys, checklist_keys)))


def _rule(t, where: str, parser, phase_keys: set[str], checklist_keys: set[str]) -> Rule:
    fail = parser.fail
    if not isinstance(t, dict):
        fail(where, f"must be a table (key = value lines), got {type(t).__name__}")
    unknown = sorted(set(t) - set(KEYS))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (known here: {', '.join(KEYS)})")
    key, title = parser.key_of(t, where), parser.text(t, "title", where)
    if len(title) > 60:
        fail(f"{where}.title", "at most 60 characters (it is the reason on every entry)")
    kind = t.get("kind")
    if kind not in KINDS:
        fail(f"{where}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    checklist, phase = t.get("checklist"), t.get("phase")
    if checklist is not None and checklist not in checklist_keys:
        fail(f"{where}.checklist", f"no checklist {checklist!r} in this plan")
    if kind != "per_activity":
        if checklist is None:
            fail(f"{where}.checklist", f"a {kind} rule judges one checklist: name it")
        if phase not in phase_keys:
            fail(f"{where}.phase", f"must be a phase key of this plan ({', '.join(sorted(phase_keys))}), got {phase!r}")
    measure = t.get("measure", "participation")
    if measure not in MEASURES:
        fail(f"{where}.measure", f"must be one of {', '.join(MEASURES)}, got {measure!r}")
    return Rule(key, kind, title, _points(t, where, fail), checklist, phase, measure,
                _threshold(t, where, fail), _cap(t, where, fail))


def _points(t, where: str, fail) -> Decimal:
    value = t.get("points")
    try:
        points = Decimal(str(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    except InvalidOperation:
        points = None
    if points is None or points == 0 or abs(points) > MAX_POINTS or points != points.quantize(Decimal("0.1")):
        fail(f"{where}.points", f"must be a non-zero number of points, at most {MAX_POINTS} either way, "
                                f"in tenths at the finest, got {value!r}")
    return points


def _threshold(t, where: str, fail) -> float | None:
    value = t.get("threshold")
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value <= 1:
        fail(f"{where}.threshold", f"must be a fraction in (0, 1], e.g. 0.8 for 80%, got {value!r}")
    return float(value)


def _cap(t, where: str, fail) -> int:
    value = t.get("max", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
        fail(f"{where}.max", f"must be a whole number from 0 (no cap) to 1000, got {value!r}")
    return value
