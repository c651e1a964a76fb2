"""Roster import from CSV, XLSX or XLS (read in bounded memory by campaign.roster_files).

Rows are keyed by phone number: importing a file again updates people instead of adding
them twice. A bad row is reported with its line number in the file (the header is line 1)
and the good rows are imported all the same.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from peewee import DatabaseError

from campaign import people
from campaign.roster_files import LIMITS, Limits, RosterError, read_table
from models import ROLES, STATUSES, Department, Staff, db

__all__ = ["RosterError", "ImportReport", "read_rows", "import_roster", "load_demo"]

HEADERS = {
    "姓名": "name", "name": "name",
    "部门": "department", "department": "department",
    "手机号": "phone", "手机": "phone", "phone": "phone",
    "角色": "role", "role": "role",
    "状态": "status", "status": "status",
}
REQUIRED = ("name", "department", "phone")
ROLE_WORDS = {
    "staff": "staff", "职工": "staff", "干部": "staff", "员工": "staff", "": "staff",
    "leader": "leader", "部门负责人": "leader", "负责人": "leader", "领导": "leader",
    "organiser": "organiser", "organizer": "organiser", "组织者": "organiser", "管理员": "organiser",
}
STATUS_WORDS = {
    "active": "active", "在岗": "active", "正常": "active", "在职": "active", "": "active",
    "exempt": "exempt", "免除": "exempt", "请假": "exempt", "借调": "exempt", "休假": "exempt", "病假": "exempt",
    "产假": "exempt", "挂职": "exempt", "外派": "exempt",
    "left": "left", "离职": "left", "调离": "left", "调出": "left", "退休": "left", "辞职": "left", "离岗": "left",
}


def words_for(words: dict[str, str], values) -> str:
    """Every accepted word, by the value it means: "active (在岗、正常), exempt (免除、请假 …)"."""
    return "; ".join(f"{v} ({'、'.join(w for w, m in words.items() if m == v and w and w != v)})" for v in values)


def parse_status(text: str) -> str | None:
    return STATUS_WORDS.get(text.strip().lower())


def parse_role(text: str) -> str | None:
    return ROLE_WORDS.get(text.strip().lower())
PHONE = re.compile(r"^1[0-9]{10}$")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # the first ERROR_LINES of them
    phones: frozenset = frozenset()  # every phone of a good row: who is in the file

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.errors) < ERROR_LINES:
            self.errors.append((line, reason))

    @property
    def unlisted(self) -> int:
        """Rejected rows beyond the ones listed in `errors`."""
        return self.rejected - len(self.errors)

    def summary(self) -> str:
        return (f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
                f"rejected {self.rejected}")


ERROR_LINES = 100  # rejected rows listed one by one; the rest are counted
HEADER_SEARCH = 5


def read_rows(path: str | Path, limits: Limits = LIMITS) -> Iterator[tuple[int, dict]]:
    """(line number, {field: value}) for every data row, streamed; raises RosterError.

    Blank rows are skipped, and so are title rows above the header (a sheet headed
    "XX单位职工花名册" is common): the header is the first row naming 姓名, 部门 and 手机号
    (or name, department, phone) among the first HEADER_SEARCH non-blank rows.
    """
    path = Path(path)
    rows = (row for row in read_table(path, _has_header, limits) if not _blank(row[1]))
    head = list(itertools.islice(rows, HEADER_SEARCH))
    if not head:
        raise RosterError(f"{path}: the file is empty")
    start = _header_at(head)
    if start is None:
        # Name the likeliest header: the early row naming most of the columns.
        header_line, header = max(head, key=lambda row: len(_columns(row[1])))
        missing = [f for f in REQUIRED if f not in _columns(header)]
        raise RosterError(f"{path}: line {header_line}: missing column(s) {', '.join(missing)} "
                          f"(expected 姓名, 部门, 手机号, 角色, 状态 or name, department, phone, role, status, "
                          f"in a header row among the first {HEADER_SEARCH} non-blank lines)")
    header_line, header = head[start]
    titles = _fields(header)
    twice = next((f for f in REQUIRED + ("role", "status") if titles.count(f) > 1), None)
    if twice:
        where = ", ".join(_column_letter(i) for i, t in enumerate(titles) if t == twice)
        raise RosterError(f"{path}: line {header_line}: two columns are {twice} (columns {where}); keep one")
    columns = _columns(header)
    for line, cells in itertools.chain(head[start + 1:], rows):
        yield line, {f: _cell(cells, i, limits) for f, i in columns.items()}


def _column_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: columns as a spreadsheet names them."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _blank(cells) -> bool:
    return not any(str(c or "").strip() for c in cells)


def _has_header(first_rows) -> bool:
    """A sheet's first rows hold the roster's header (how a workbook's sheet is chosen)."""
    return _header_at([row for row in first_rows if not _blank(row[1])]) is not None


def _header_at(table: list[tuple[int, list]]) -> int | None:
    """Index of the header row among the first HEADER_SEARCH rows of a table without blanks."""
    return next((i for i, (_, cells) in enumerate(table[:HEADER_SEARCH])
                 if all(f in _columns(cells) for f in REQUIRED)), None)


def _fields(header) -> list[str | None]:
    """The field each column's title names (姓名 -> name), None for other titles."""
    return [HEADERS.get(str(h or "").strip().lower()) for h in header]


def _columns(header) -> dict[str, int]:
    """{field: column index} for the titles of a header row that name a field (first wins)."""
    columns: dict[str, int] = {}
    for index, field_name in enumerate(_fields(header)):
        if field_name is not None:
            columns.setdefault(field_name, index)
    return columns


def _cell(cells, index, limits: Limits) -> str:
    if index >= len(cells) or cells[index] is None:
        return ""
    value = cells[index]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # Line breaks typed into a cell (Alt+Enter in Excel), tabs, runs of spaces and full-width
    # spaces become one space: a name must fit on one line of a reply or an export.
    text = " ".join(str(value)[: limits.cell_chars * 4].split())
    return text[: limits.cell_chars + 1]  # one over: validation names the cell as too long


def _control(text: str) -> str | None:
    """The first control or invisible formatting character of text, as U+XXXX (None: none):
    such a name breaks the XML of every reply that shows it, and a NUL aborts PostgreSQL."""
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")), None)
    return None if bad is None else f"U+{ord(bad):04X}"


def validate_row(row: dict) -> tuple[dict | None, str | None]:
    name, dept, phone = row.get("name", ""), row.get("department", ""), row.get("phone", "")
    # Full-width digits (１３９…) typed in a Chinese input method are the same number; other
    # scripts' digits (which \d would admit) are not a phone number at all.
    phone = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", phone))
    if phone.startswith("+86"):
        phone = phone[3:]
    for title, text in (("姓名/name", name), ("部门/department", dept)):
        bad = _control(text)
        if bad:
            return None, f"{title} {text!r} contains the control character {bad}; retype it"
    if not name:
        return None, "姓名/name is empty"
    if len(name) > 50:
        return None, "姓名/name is longer than 50 characters"
    if not dept:
        return None, "部门/department is empty"
    if len(dept) > 100:
        return None, "部门/department is longer than 100 characters"
    if not PHONE.match(phone):
        return None, f"手机号/phone {row.get('phone', '')!r} is not an 11-digit mainland mobile number"
    # A file without the role or status column leaves those of people already on the roster
    # as they are (None here); an empty cell means staff / active.
    role = status = None
    if "role" in row:
        role = parse_role(row["role"])
        if role is None:
            return None, f"角色/role {row['role']!r} is not one of: {words_for(ROLE_WORDS, ROLES)}"
    if "status" in row:
        status = parse_status(row["status"])
        if status is None:
            return None, f"状态/status {row['status']!r} is not one of: {words_for(STATUS_WORDS, STATUSES)}"
    return {"name": name, "department": dept, "phone": phone, "role": role, "status": status}, None


BATCH = 500  # rows per transaction: a commit per row made a 300,000-person import take minutes


def import_roster(path: str | Path, dry_run: bool = False) -> ImportReport:
    """Import every good row; with dry_run, only say what would change."""
    report, seen, departments, batch = ImportReport(), {}, {}, []
    for line, raw in read_rows(path):
        row, error = validate_row(raw)
        if error is None and row["phone"] in seen:
            error = f"phone {row['phone']} already appears on line {seen[row['phone']]}"
        if error:
            report.reject(line, error)
            continue
        seen[row["phone"]] = line
        batch.append((line, row))
        if len(batch) >= BATCH:
            _store(batch, report, departments, dry_run)
            batch = []
    _store(batch, report, departments, dry_run)
    report.phones = frozenset(seen)
    return report


def _store(batch: list[tuple[int, dict]], report: ImportReport, departments: dict[str, int], dry_run: bool) -> None:
    """One transaction for the batch: the people already there read in one query, the new ones
    inserted in one statement. A row the database refuses (a NUL on PostgreSQL, say) is
    reported, and the rows after it are stored all the same."""
    if not batch:
        return
    with db.atomic():
        existing = {p.phone: p for p in Staff.select().where(Staff.phone.in_([row["phone"] for _, row in batch]))}
        new = []
        for line, row in batch:
            dept_id = _department_id(row["department"], departments, dry_run)
            person = existing.get(row["phone"])
            if person is None:
                new.append((line, {"name": row["name"], "phone": row["phone"], "department": dept_id,
                                   "role": row["role"] or "staff", "status": row["status"] or people.ACTIVE}))
                continue
            _row_by_row(report, line, lambda: _update(person, row, dept_id, dry_run))
        if dry_run or not new:
            report.created += len(new)
            return
        try:
            with db.atomic():
                Staff.insert_many([fields for _, fields in new]).execute()
            report.created += len(new)
        except DatabaseError:  # one of them is refused: find which, and store the others
            for line, fields in new:
                _row_by_row(report, line, lambda fields=fields: Staff.create(**fields) and "created")


def _row_by_row(report: ImportReport, line: int, write) -> None:
    try:
        with db.atomic():  # a savepoint: only this row is undone if the database refuses it
            outcome = write()
    except DatabaseError as exc:
        text = str(exc).strip()
        report.reject(line, f"not stored: {text.splitlines()[0] if text else type(exc).__name__}")
        return
    setattr(report, outcome, getattr(report, outcome) + 1)


def _update(person: Staff, row: dict, dept_id: int, dry_run: bool) -> str:
    """Update one person already on the roster: "updated" or "unchanged". A file without the
    role or status column (None here) leaves them as they are."""
    # Someone marked left who is in the file again is back on the roster, unless it says otherwise.
    kept = person.status if person.status != people.LEFT else people.ACTIVE
    row = {**row, "role": row["role"] or person.role, "status": row["status"] or kept}
    if (person.name, person.department_id, person.role, person.status) == (row["name"], dept_id, row["role"],
                                                                          row["status"]):
        return "unchanged"
    if dry_run:
        return "updated"
    people.move(person, dept_id)
    person.name, person.role, person.status = row["name"], row["role"], row["status"]
    person.save()
    return "updated"


def _department_id(name: str, known: dict[str, int], dry_run: bool) -> int:
    """The department's id, created if new (a dry run makes none: -1 stands for a new one)."""
    if name not in known:
        found = Department.get_or_none(Department.name == name)
        known[name] = found.id if found else (-1 if dry_run else Department.create(name=name).id)
    return known[name]


DEMO_UNBOUND = "不预绑定"  # in the demo roster's 备注 column: left unbound, for trying binding codes


def demo_unbound(path: str | Path) -> set[str]:
    """Phones of the demo roster that `demo` leaves unbound (their 备注 says so)."""
    import csv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        return {row["手机号"] for row in csv.DictReader(fh) if DEMO_UNBOUND in (row.get("备注") or "")}


def load_demo(path: str | Path) -> ImportReport:
    """The demo roster, its people bound as openid demo-<phone> (as the emulator's chat page
    names them), except those whose 备注 says 不预绑定, left for trying binding codes. People
    already on the roster from elsewhere are left alone: they bind with a code."""
    unbound = demo_unbound(path)
    phones = [row["phone"] for _, row in read_rows(path) if row["phone"] not in unbound]
    report = import_roster(path)
    with db.atomic():
        for person in Staff.select().where(Staff.openid.is_null() & Staff.phone.in_(phones)):
            person.openid = f"demo-{person.phone}"
            person.save()
    return report


def sync_refusal(report: ImportReport, missing: list, on_roster: int, force: bool) -> str | None:
    """Why nobody may be marked left after this import, or None: a rejected row could be
    someone the file does list; half the roster missing is likely not the whole unit's file."""
    if report.rejected:
        return (f"nobody marked left: {report.rejected} rows were rejected, and a person on one of them would be "
                "marked left by mistake; correct them and import again")
    if len(missing) * 2 >= on_roster and len(missing) > 10 and not force:
        return (f"nobody marked left: {len(missing)} of {on_roster} people are missing from the file. "
                "--sync needs the whole unit's roster; if it is, add --force")
    return None
