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
EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # day 0 of Excel's 1900 date system, as XlsxWriter counts


@dataclass(frozen=True)
class Percent:
    """A rate (0.9512) shown as a percentage (95.1%)."""

    value: float


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)  # headers: exact


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
            if value is not None:
                self._cell(col, value)

    def _cell(self, col: int, value) -> None:
        """One cell, by its Python type (a workbook of 100,000 people writes millions of them:
        one dict lookup, and a width kept only for text)."""
        kind = type(value)
        if kind is str:
            if value:  # always a string cell, never a formula
                self.ws.write_string(self.row, col, value)
                width = (len(value.encode("utf-8")) + len(value)) // 2 + 2  # a CJK character: 3 bytes, 2 wide
                if width > self.widths[col]:
                    self.widths[col] = min(width, MAX_WIDTH)
            return
        writer = _WRITERS.get(kind)
        if writer is None:
            raise TypeError(f"no cell for a {kind.__name__}: {value!r}")
        writer(self, col, value)

    def _number(self, col: int, value) -> None:
        self.ws.write_number(self.row, col, value)

    def _percent(self, col: int, value: "Percent") -> None:
        self.ws.write_number(self.row, col, value.value, self.book.formats["percent"])
        self.widths[col] = max(self.widths[col], 8)

    def _points(self, col: int, value: Decimal) -> None:
        self.ws.write_number(self.row, col, float(value), self.book.formats["points"])

    def _flag(self, col: int, value: bool) -> None:
        self.ws.write_string(self.row, col, "是" if value else "否")

    def _datetime(self, col: int, value: dt.datetime) -> None:
        serial = (value.replace(tzinfo=None) - EXCEL_EPOCH).total_seconds() / 86400
        self.ws.write_number(self.row, col, serial, self.book.formats["datetime"])
        self.widths[col] = max(self.widths[col], 18)

    def _date(self, col: int, value: dt.date) -> None:
        self.ws.write_number(self.row, col, (value - EXCEL_EPOCH.date()).days, self.book.formats["date"])
        self.widths[col] = max(self.widths[col], 12)

    def finish(self) -> None:
        for col, width in enumerate(self.widths):
            self.ws.set_column(col, col, width)
        self.ws.freeze_panes(self.header_row + 1, 0)
        self.ws.autofilter(self.header_row, 0, max(self.row, self.header_row + 1), len(self.columns) - 1)


_WRITERS = {int: Sheet._number, float: Sheet._number, Percent: Sheet._percent, Decimal: Sheet._points,
            bool: Sheet._flag, dt.datetime: Sheet._datetime, dt.date: Sheet._date}
