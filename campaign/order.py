"""The order a Chinese reader expects, wherever lists are shown (chat, CLI, exports): people by
pinyin (张 after 李, as a 花名册 lists them), departments in natural order (第2科 before 第10科)."""
from __future__ import annotations

from functools import lru_cache

from natsort import natsort_keygen
from pypinyin import Style, lazy_pinyin

_natural = natsort_keygen()


@lru_cache(maxsize=65536)
def person_key(name: str) -> tuple:
    """Sort key of a person's name: its pinyin syllables, then the characters (same-sounding
    names keep a fixed order). Each character is read on its own: a name is no phrase (高丽 the
    person is gāo lì, not Korea's gāo lí), and a unit's 100,000 names then cost a few thousand
    lookups instead of 100,000 segmentations (bench/exports.py: 14 s of a 46 s workbook)."""
    return tuple(_syllable(c) for c in name), name


@lru_cache(maxsize=32768)
def _syllable(char: str) -> str:
    # lower case: Heidi sorts among the h syllables (he2 ...), not before every Chinese name
    return (lazy_pinyin(char, style=Style.TONE3, errors="default") or [char])[0].lower()


@lru_cache(maxsize=8192)
def department_key(name: str):
    """Sort key of a department's name: by pinyin, numbers inside it compared as numbers."""
    return _natural(" ".join(lazy_pinyin(name, style=Style.TONE3, errors="default"))), name


def people(items, name=lambda p: p.name) -> list:
    return sorted(items, key=lambda p: person_key(name(p)))


def departments(items, name=lambda d: d.name) -> list:
    return sorted(items, key=lambda d: department_key(name(d)))
