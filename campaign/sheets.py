"""Cells for the sheets organisers open in Excel or WPS."""
from __future__ import annotations

# A cell starting with one of these is read as a formula (=HYPERLINK(...), +, -, @).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(text: str) -> str:
    """A roster text kept as text in a CSV, with the apostrophe spreadsheets use."""
    return "'" + text if text[:1] in FORMULA_STARTS else text
