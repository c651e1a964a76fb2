"""Workbooks organisers open in Excel or WPS, written a row at a time with XlsxWriter's
constant-memory mode (a sheet of 100,000 people never sits in memory).

Every sheet is frozen and filtered at its header, and its columns are as wide as their widest
cell (a Chinese character counts two). Numbers are numbers, rates are percentages, dates are
dates, and text is always a string cell: a name like "=HYPERLINK(…)" or "-1" stays text.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import xlsxwriter

MAX_WIDTH = 60


@dataclass(frozen=True)
class Percent:
    """A rate (0.9512) shown as a percentage (95.1%)."""

    value: float


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class Book:
    def __init__(self, path: Path):
        self.workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                                        "strings_to_urls": False, "strings_to_numbers": False,
                                                        "default_date_format": "yyyy-mm-dd"})
        self.formats = {
            "header": self.workbook.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1}),
            "percent": self.workbook.add_format({"num_format": "0.0%"}),
            "date": self.workbook.add_format({"num_format": "yyyy-mm-dd"}),
            "datetime": self.workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
            "points": self.workbook.add_format({"num_format": "+0.0;-0.0;0.0"}),
            "title": self.workbook.add_format({"bold": True, "font_size": 14}),
        }
        self.sheets: list[Sheet] = []

    def sheet(self, name: str, columns: list[str], preamble: list[str] = ()) -> "Sheet":
        sheet = Sheet(self, self.workbook.add_worksheet(name), columns, list(preamble))
        self.sheets.append(sheet)
        return sheet

    def close(self) -> None:
        for sheet in self.sheets:
            sheet.finish()
        self.workbook.close()


class Sheet:
    """One sheet: optional preamble lines (a title, when it was made), then a header and rows."""

    def __init__(self, book: Book, worksheet, columns: list[str], preamble: list[str]):
        self.book, self.ws, self.columns = book, worksheet, columns
        self.widths = [display_width(c) + 2 for c in columns]
        for row, line in enumerate(preamble):
            self.ws.write_string(row, 0, line, book.formats["title"] if row == 0 else None)
        self.header_row = len(preamble)
        for col, title in enumerate(columns):
            self.ws.write_string(self.header_row, col, title, book.formats["header"])
        self.row = self.header_row

    def append(self, cells: list) -> None:
        self.row += 1
        for col, value in enumerate(cells):
            self._cell(col, value)

    def _cell(self, col: int, value) -> None:
        ws, formats, row = self.ws, self.book.formats, self.row
        if value is None or value == "":
            return
        if isinstance(value, Percent):
            ws.write_number(row, col, value.value, formats["percent"])
            shown = f"{value.value:.1%}"
        elif isinstance(value, Decimal):
            ws.write_number(row, col, float(value), formats["points"])
            shown = f"{value:+}"
        elif isinstance(value, bool):
            ws.write_string(row, col, "是" if value else "否")
            shown = "是"
        elif isinstance(value, (int, float)):
            ws.write_number(row, col, value)
            shown = str(value)
        elif isinstance(value, dt.datetime):
            ws.write_datetime(row, col, value.replace(tzinfo=None), formats["datetime"])
            shown = "2026-12-21 09:30"
        elif isinstance(value, dt.date):
            ws.write_datetime(row, col, dt.datetime.combine(value, dt.time()), formats["date"])
            shown = "2026-12-21"
        else:  # always a string cell, never a formula
            shown = str(value)
            ws.write_string(row, col, shown)
        if col < len(self.widths):
            self.widths[col] = max(self.widths[col], min(display_width(shown) + 2, MAX_WIDTH))

    def finish(self) -> None:
        for col, width in enumerate(self.widths):
            self.ws.set_column(col, col, width)
        self.ws.freeze_panes(self.header_row + 1, 0)
        self.ws.autofilter(self.header_row, 0, max(self.row, self.header_row + 1), len(self.columns) - 1)
