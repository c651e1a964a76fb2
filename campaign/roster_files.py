"""Reading a roster file (CSV, XLSX, old XLS) as a stream of (line number, cells), in bounded
memory: a file is measured before it is read, and every limit it passes is named in the error.

Line numbers are the file's own: a CSV record whose quoted cell holds a line break is reported
by the line it starts on; a worksheet row by its row number.
"""
from __future__ import annotations

import codecs
import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from xml.parsers import expat


class RosterError(Exception):
    """The file as a whole cannot be read (format, encoding, size, headers)."""


@dataclass(frozen=True)
class Limits:
    file_bytes: int = 20 * 1024 * 1024
    rows: int = 300_000  # data rows: a province's campaign is 200,000 people
    columns: int = 64
    cell_chars: int = 500
    line_chars: int = 64 * 1024  # a CSV line: 64 cells of 500 characters, quoted, fit
    unzipped_bytes: int = 400 * 1024 * 1024  # all of an .xlsx, decompressed
    sheet_bytes: int = 300 * 1024 * 1024  # one worksheet's XML
    strings_bytes: int = 60 * 1024 * 1024  # the shared strings (openpyxl holds them all)


LIMITS = Limits()
Table = Iterator[tuple[int, list]]


def measure(path: Path, limits: Limits = LIMITS) -> None:
    """Refuse a file too large to read, before anything is imported."""
    size = path.stat().st_size
    if size > limits.file_bytes:
        raise RosterError(f"{path}: the file is {size / 2**20:.1f} MB, over the {limits.file_bytes // 2**20} MB "
                          "limit for a roster; split it by department")


# --- CSV -----------------------------------------------------------------------------------------

def csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), or GB18030 as Excel saves it in China: read in chunks."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    raise RosterError(f"{path}: not UTF-8 or GB18030 text")


def read_csv(path: Path, limits: Limits = LIMITS) -> Table:
    """Counted first, read then: a file with too many rows is refused before any is imported."""
    encoding = csv_encoding(path)
    records = sum(1 for _ in _csv_rows(path, encoding, limits))
    if records > limits.rows + 10:  # a header and some title rows above the data
        raise RosterError(f"{path}: more than {limits.rows:,} rows; split it by department")
    return _csv_rows(path, encoding, limits)


def _csv_rows(path: Path, encoding: str, limits: Limits) -> Table:
    with path.open("r", encoding=encoding, newline="") as fh:
        reader = csv.reader(_bounded_lines(fh, path, limits))
        line = 1
        try:
            for cells in reader:
                yield line, _row(cells, path, line, limits)
                line = reader.line_num + 1  # the next record starts after this one's last line
        except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
            raise RosterError(f"{path}: line {line}: {exc}") from None


def _bounded_lines(fh, path: Path, limits: Limits) -> Iterator[str]:
    for number, text in enumerate(fh, start=1):
        if len(text) > limits.line_chars:
            raise RosterError(f"{path}: line {number} is {len(text):,} characters long, over the "
                              f"{limits.line_chars:,} a roster line may have")
        yield text


def _row(cells: list, path: Path, line: int, limits: Limits) -> list:
    """The row's cells, without empty ones past the last value; too many columns are refused."""
    end = len(cells)
    while end and (cells[end - 1] is None or str(cells[end - 1]).strip() == ""):
        end -= 1
    if end > limits.columns:
        raise RosterError(f"{path}: line {line} has {end} columns, over the {limits.columns} a roster may have")
    return list(cells[:end])


# --- XLSX ----------------------------------------------------------------------------------------

def measure_xlsx(path: Path, limits: Limits = LIMITS) -> None:
    """Sizes from the zip directory, then each worksheet's rows and cells counted by expat (which
    builds no tree), so that openpyxl is never handed a row of five million cells."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            total = sum(i.file_size for i in infos)
            if total > limits.unzipped_bytes:
                raise RosterError(f"{path}: the workbook unpacks to {total / 2**20:.0f} MB, over the "
                                  f"{limits.unzipped_bytes // 2**20} MB limit")
            for info in infos:
                name = info.filename
                if name.endswith("sharedStrings.xml") and info.file_size > limits.strings_bytes:
                    raise RosterError(f"{path}: its text table ({name}) unpacks to {info.file_size / 2**20:.0f} MB, "
                                      f"over the {limits.strings_bytes // 2**20} MB limit")
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    if info.file_size > limits.sheet_bytes:
                        raise RosterError(f"{path}: worksheet {name} unpacks to {info.file_size / 2**20:.0f} MB, "
                                          f"over the {limits.sheet_bytes // 2**20} MB limit")
                    with z.open(info) as fh:
                        _count_cells(fh, path, name, limits)
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise unreadable(path, exc) from None


def _count_cells(fh, path: Path, sheet: str, limits: Limits) -> None:
    rows = cells = 0
    row_ref = ""

    def start(tag, attrs):
        nonlocal rows, cells, row_ref
        if tag == "row":
            rows, cells, row_ref = rows + 1, 0, attrs.get("r", "")
            if rows > limits.rows + 10:  # a header and some title rows above the data
                raise RosterError(f"{path}: worksheet {sheet} has more than {limits.rows:,} rows; split it")
        elif tag == "c":
            cells += 1
            if cells > limits.columns * 4:  # formatted empty cells are written too: room for them
                raise RosterError(f"{path}: worksheet {sheet} row {row_ref or rows}: over the "
                                  f"{limits.columns} columns a roster may have (more than {limits.columns * 4} "
                                  f"cells, empty formatted ones included); delete the unused columns, "
                                  f"or save it as CSV")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    try:
        parser.ParseFile(fh)
    except expat.ExpatError as exc:
        raise RosterError(f"{path}: not a readable .xlsx workbook: worksheet {sheet} is damaged ({exc}). "
                          "Save it again from Excel or WPS as .xlsx, or as CSV") from None


def read_xlsx(path: Path, limits: Limits = LIMITS, has_header=None) -> Table:
    """The rows of the first visible worksheet with a header row (`has_header(first rows)`): a
    hidden sheet or a sheet of instructions (填表说明) before the roster is passed over."""
    from xml.etree.ElementTree import ParseError

    from openpyxl import load_workbook

    measure_xlsx(path, limits)
    broken = (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError, AttributeError, TypeError, IndexError)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except broken as exc:
        raise unreadable(path, exc) from None
    try:
        sheets = [ws for ws in book.worksheets if ws.sheet_state == "visible"]
        if not sheets:
            raise RosterError(f"{path}: the workbook has no visible worksheet")
        chosen = _sheet_with_header(sheets, has_header, limits) if len(sheets) > 1 else sheets[0]
        if chosen is None:
            raise RosterError(f"{path}: no worksheet has a header row 姓名, 部门, 手机号 (or name, department, phone) "
                              f"near its top (sheets: {', '.join(ws.title for ws in sheets)})")
        yield from _sheet_rows(chosen, path, limits)
    except broken as exc:
        raise unreadable(path, exc) from None
    finally:
        book.close()


def _sheet_rows(ws, path: Path, limits: Limits) -> Table:
    # min_row=1: rows are numbered as Excel numbers them, even above the sheet's first cell.
    for n, cells in enumerate(ws.iter_rows(min_row=1, max_col=limits.columns * 4, values_only=True), start=1):
        yield n, _row(list(cells), path, n, limits)


def _sheet_with_header(sheets, has_header, limits: Limits):
    for ws in sheets:
        first = [(n, list(cells)) for n, cells in enumerate(
            ws.iter_rows(min_row=1, max_row=30, max_col=limits.columns, values_only=True), start=1)]
        if has_header is None or has_header(first):
            return ws
    return None


def unreadable(path: Path, exc: Exception) -> RosterError:
    hint = " (an old .xls renamed, or a password-protected workbook?)" if isinstance(exc, zipfile.BadZipFile) else ""
    return RosterError(f"{path}: not a readable .xlsx workbook{hint}: {type(exc).__name__}: {exc}. "
                       "Save it again from Excel or WPS as .xlsx without a password, or as CSV")


# --- XLS (Excel 97-2003) -----------------------------------------------------------------------

def read_xls(path: Path, limits: Limits = LIMITS, has_header=None) -> Table:
    import xlrd

    try:
        book = xlrd.open_workbook(str(path), on_demand=True)
    except (xlrd.XLRDError, OSError, ValueError, AssertionError, IndexError, KeyError) as exc:
        raise RosterError(f"{path}: not a readable .xls workbook: {type(exc).__name__}: {exc}. "
                          "Save it again from Excel or WPS as .xlsx or CSV") from None
    try:
        sheets = [book.sheet_by_index(i) for i in range(book.nsheets)]
        visible = [s for s in sheets if not getattr(s, "visibility", 0)] or sheets
        chosen = next((s for s in visible if has_header is None or has_header(
            [(r + 1, s.row_values(r, 0, min(s.ncols, limits.columns))) for r in range(min(s.nrows, 30))])), None)
        if chosen is None:
            raise RosterError(f"{path}: no worksheet has a header row 姓名, 部门, 手机号 near its top")
        if chosen.nrows > limits.rows + 10:
            raise RosterError(f"{path}: worksheet {chosen.name} has more than {limits.rows:,} rows; split it")
        for r in range(chosen.nrows):
            yield r + 1, _row(_xls_values(chosen, r, limits), path, r + 1, limits)
    finally:
        book.release_resources()


def _xls_values(sheet, r: int, limits: Limits) -> list:
    import xlrd

    values = []
    for c in range(min(sheet.ncols, limits.columns * 4)):
        cell = sheet.cell(r, c)
        if cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
            values.append(int(cell.value))  # a phone number typed as a number: 13900000001.0
        else:
            values.append(cell.value)
    return values


def read_table(path: Path, has_header, limits: Limits = LIMITS) -> Table:
    """The file's rows by its type; `has_header(first rows)` picks the sheet of a workbook."""
    measure(path, limits)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, limits)
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(path, limits, has_header)
    if suffix == ".xls":
        return read_xls(path, limits, has_header)
    raise RosterError(f"{path}: unsupported file type {suffix or '(none)'}; use .csv, .xlsx or .xls")
