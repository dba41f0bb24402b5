"""Roster import: a unit's list of members from an .xlsx or .csv file, validated row by row.

An official (or the operator, with `unionbot members import`) sends the roster their school
keeps in Excel. Three steps, each timed by bench/roster_import.py:

1. `read_roster` finds the header row (Vietnamese or English names, any case, accents
   optional) and takes the rows as they are, with their spreadsheet row numbers;
2. `check_roster` validates every row and names every problem (a row may have several), and
   finds the member each row describes: by member code, else by phone. It loads what it needs
   in a few queries whatever the file's size: units by code, members by code and by phone;
3. `apply_roster` creates the new members (ACTIVE: the roster is the union's own record, they
   have no chat account yet) and updates the changed ones, in one flush, with one audit entry
   for the import and one per updated member (before and after).

A file with any problem imports nothing unless `valid_rows=True`. An empty cell means "not
given": a new member gets the default (position "other", gender unknown), an existing member
keeps what they have; so re-importing a file, or a shorter version of it, changes nothing.
Problems are `InvalidInput` errors whose code the caller translates (`error.<code>`); the
report of them is an .xlsx built here with the caller's translate function.

`PendingImport` keeps an upload between the report and the official's "import the valid
rows", so a restart in between loses nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import chain
from typing import Any
from xml.etree.ElementTree import ParseError

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import Column, LargeBinary, String, delete, func, insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, authorize, may
from models.base import UTCDateTime, fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import (
    Gender,
    Identity,
    Member,
    MemberStatus,
    Position,
    normalize_phone,
    validate_full_name,
)
from models.org import OrgUnit

log = logging.getLogger(__name__)

MAX_UPLOAD_MB = 5
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
EXTENSIONS = (".xlsx", ".csv")
MEMBER_CODE_MAX = 32
# An upload nobody decided about is personal data kept for nothing: dropped after this.
PENDING_KEPT_FOR = timedelta(days=2)
# The header is the first row naming two known columns among the first few (a title such as
# "DANH SÁCH ĐOÀN VIÊN" often sits above it).
HEADER_SEARCH_ROWS = 10
# IN (…) lists are sent in chunks: SQLite and asyncpg cap the parameters of one statement.
CHUNK = 500
# More rows than a 5 MB upload of real data holds: a larger file (a compressed .xlsx can unpack
# to millions of rows) is refused before it fills the memory.
MAX_ROWS = 100_000
# A problem shared by several rows names this many of them, then "…" (a cell holds 32,767
# characters, a chat message 4,096).
ROWS_NAMED = 10
# No member was born earlier: an Excel number below it is a year (1985), not a date (7 June 1905).
BORN_AFTER = date(1920, 1, 1)


class RosterColumn(StrEnum):
    FULL_NAME = "full_name"
    UNIT_CODE = "unit_code"
    POSITION = "position"
    GENDER = "gender"
    DATE_OF_BIRTH = "date_of_birth"
    PHONE = "phone"
    UNION_MEMBER = "union_member"
    MEMBER_CODE = "member_code"


# The header names recognised for each column, as people write them; the first two are the
# official ones (shown when a column is missing). Compared folded: case and accents ignored.
HEADER_NAMES: dict[RosterColumn, tuple[str, ...]] = {
    RosterColumn.FULL_NAME: ("Họ và tên", "Full name", "Họ tên", "Name"),
    RosterColumn.UNIT_CODE: ("Mã đơn vị", "Unit code", "Unit"),
    RosterColumn.POSITION: ("Chức vụ", "Position", "Chức danh"),
    RosterColumn.GENDER: ("Giới tính", "Gender", "Sex"),
    RosterColumn.DATE_OF_BIRTH: ("Ngày sinh", "Date of birth", "Birth date", "DOB"),
    RosterColumn.PHONE: ("Số điện thoại", "Phone", "Điện thoại", "SĐT", "Phone number"),
    RosterColumn.UNION_MEMBER: ("Đoàn viên", "Union member", "Là đoàn viên"),
    RosterColumn.MEMBER_CODE: ("Mã đoàn viên", "Member code", "Mã số đoàn viên"),
}


def header_key(text: str) -> str:
    """A header cell as compared: folded, without "(dd/mm/yyyy)"-style notes or a '*'."""
    return fold(re.sub(r"\(.*?\)|[*:]", " ", text))


_HEADERS = {header_key(name): column for column, names in HEADER_NAMES.items() for name in names}


def column_label(column: RosterColumn) -> str:
    """"Họ và tên (Full name)": how a missing column is named, in both languages."""
    vietnamese, english = HEADER_NAMES[column][:2]
    return f"{vietnamese} ({english})"


# Position words, folded, most specific first ("phó hiệu trưởng kiêm giáo viên" manages).
_POSITIONS: list[tuple[re.Pattern[str], Position]] = [
    (re.compile(rf"\b(?:{words})\b"), position)
    for words, position in (
        ("hieu truong|can bo quan ly|cbql|manager|principal", Position.MANAGER),
        ("giang vien|lecturer", Position.LECTURER),
        ("giao vien|gv|teacher", Position.TEACHER),
        ("nhan vien|nv|ke toan|van thu|y te|bao ve|thu quy|staff", Position.STAFF),
    )
]
_GENDERS = {
    "nu": Gender.FEMALE, "female": Gender.FEMALE, "f": Gender.FEMALE,
    "nam": Gender.MALE, "male": Gender.MALE, "m": Gender.MALE,
    "khac": Gender.UNDISCLOSED, "khong ro": Gender.UNDISCLOSED, "other": Gender.UNDISCLOSED,
}
_YES = {"co", "yes", "y", "x", "1", "true", "dung", "roi"}
_NO = {"khong", "no", "n", "0", "false", "chua"}
_DMY = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?")


# --- 1. reading the file ---------------------------------------------------------------------


@dataclass
class Sheet:
    """The roster as read: its header cells, which column is which, and the non-empty rows
    with their spreadsheet row numbers (the header row counts, as in Excel)."""

    filename: str
    headers: list[str]
    columns: dict[RosterColumn, int]
    rows: list[tuple[int, tuple[Any, ...]]]


def check_upload(*, filename: str, size: int | None) -> None:
    """Whether a file sent to the bot may be a roster: its type, and at most 5 MB."""
    if not filename.lower().endswith(EXTENSIONS):
        raise InvalidInput("roster_file_type", name=filename)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            "roster_file_too_big", size=f"{size / 1024 / 1024:.1f}", limit=MAX_UPLOAD_MB
        )


def read_roster(*, filename: str, content: bytes) -> Sheet:
    """The rows of an .xlsx or .csv roster; InvalidInput for a file that cannot be one (wrong
    type, unreadable, no header, a required column missing or named twice)."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        cells = xlsx_rows(content)
    elif lower.endswith(".csv"):
        cells = csv_rows(content)
    else:
        raise InvalidInput("roster_file_type", name=filename)
    head: list[tuple[int, tuple[Any, ...]]] = []
    rows = iter(cells)
    for number, values in rows:
        head.append((number, values))
        if _known_columns(values) >= 2 or len(head) >= HEADER_SEARCH_ROWS:
            break
    filled = [(n, v) for n, v in head if not is_empty(v)]
    if not filled:
        raise InvalidInput("roster_empty")
    header_at = next(
        (i for i, (_, values) in enumerate(head) if _known_columns(values) >= 2),
        head.index(filled[0]),
    )
    header = head[header_at][1]
    columns: dict[RosterColumn, int] = {}
    for index, cell in enumerate(header):
        column = _HEADERS.get(header_key(cell_text(cell)))
        if column is None:
            continue
        if column in columns:
            raise InvalidInput("roster_duplicate_column", column=cell_text(cell))
        columns[column] = index
    missing = []
    if RosterColumn.FULL_NAME not in columns:
        missing.append(column_label(RosterColumn.FULL_NAME))
    if RosterColumn.PHONE not in columns and RosterColumn.MEMBER_CODE not in columns:
        missing.append(
            f"{column_label(RosterColumn.PHONE)} / {column_label(RosterColumn.MEMBER_CODE)}"
        )
    if missing:
        raise InvalidInput("roster_missing_columns", columns=", ".join(missing))
    body: list[tuple[int, tuple[Any, ...]]] = []
    for number, values in chain(head[header_at + 1 :], rows):
        if not is_empty(values):
            body.append((number, values))
            if len(body) > MAX_ROWS:
                raise InvalidInput("roster_too_many_rows", max=MAX_ROWS)
    if not body:
        raise InvalidInput("roster_empty")
    return Sheet(
        filename=filename,
        headers=[cell_text(cell) for cell in header],
        columns=columns,
        rows=body,
    )


def xlsx_rows(content: bytes) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """The first sheet's rows with their Excel row numbers; InvalidInput for a damaged file.
    Shared with the other spreadsheet imports (models/achievements.py)."""
    if not content.startswith(b"PK"):
        raise InvalidInput("roster_file_unreadable")
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except _UNREADABLE as error:
        log.info("unreadable roster workbook: %s", type(error).__name__)
        raise InvalidInput("roster_file_unreadable") from None
    sheet = workbook.worksheets[0]
    # Files written by other programs often carry a wrong (too small) dimension.
    sheet.reset_dimensions()  # type: ignore[union-attr]
    return _numbered(sheet.iter_rows(values_only=True), workbook)


# What openpyxl raises on a damaged or foreign file (it reads the sheet lazily, row by row).
_UNREADABLE = (
    zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError,
    ParseError,
)


def _numbered(rows: Iterable[tuple[Any, ...]], workbook: Any) -> Iterator[tuple[int, tuple]]:  # type: ignore[type-arg]
    try:
        # openpyxl yields every row from the first, empty ones included: numbers match Excel.
        yield from enumerate(rows, start=1)
    except _UNREADABLE as error:
        log.info("unreadable roster sheet: %s", type(error).__name__)
        raise InvalidInput("roster_file_unreadable") from None
    finally:
        workbook.close()


def csv_rows(content: bytes) -> list[tuple[int, tuple[Any, ...]]]:
    """The rows of a UTF-8 CSV (comma or semicolon, as Excel writes it in Vietnam) with their
    line numbers."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("roster_csv_encoding") from None
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return [(number, tuple(values)) for number, values in enumerate(reader, start=1)]
    except csv.Error:
        raise InvalidInput("roster_file_unreadable") from None


def _known_columns(values: tuple[Any, ...]) -> int:
    return len({_HEADERS.get(header_key(cell_text(cell))) for cell in values} - {None})


def is_empty(values: tuple[Any, ...]) -> bool:
    """Whether a row has nothing in it but blanks (skipped, never an error)."""
    return all(cell_text(value) == "" for value in values)


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a trailing ".0", outer spaces trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.strftime("%d/%m/%Y")
    return " ".join(str(value).split())


# --- 2. checking every row -------------------------------------------------------------------


@dataclass
class RowCheck:
    """One row: what it says once normalised (only the cells given), its problems, and the
    member it describes (None: a new member)."""

    number: int
    values: tuple[Any, ...]
    problems: list[InvalidInput] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    unit: OrgUnit | None = None
    member: Member | None = None


@dataclass
class CheckedRoster:
    sheet: Sheet
    rows: list[RowCheck]
    default_unit: OrgUnit | None

    @property
    def bad_rows(self) -> list[RowCheck]:
        return [row for row in self.rows if row.problems]

    @property
    def valid_rows(self) -> list[RowCheck]:
        return [row for row in self.rows if not row.problems]


async def check_roster(
    session: AsyncSession, actor: Actor | None, *, sheet: Sheet, default_unit: OrgUnit | None
) -> CheckedRoster:
    """Validates every row, and finds the member each row describes. `actor` None is the
    operator (CLI), who may import anywhere; an official imports into their scope only, and
    `default_unit` (where rows without a unit code go) must be in it."""
    if actor is not None and default_unit is not None:
        await authorize(session, actor, Action.IMPORT_MEMBERS, unit=default_unit)
    checks = [_parse_row(number, values, sheet.columns) for number, values in sheet.rows]
    await _place_in_units(session, actor, checks, default_unit)
    _find_duplicates(checks, "member_code", "roster_duplicate_code", "member_code")
    _find_duplicates(checks, "phone", "roster_duplicate_phone", "phone")
    await _match_members(session, actor, checks)
    return CheckedRoster(sheet=sheet, rows=checks, default_unit=default_unit)


def _parse_row(number: int, values: tuple[Any, ...], columns: dict[RosterColumn, int]) -> RowCheck:
    row = RowCheck(number=number, values=values)

    def cell(column: RosterColumn) -> Any:
        index = columns.get(column)
        return values[index] if index is not None and index < len(values) else None

    name = cell_text(cell(RosterColumn.FULL_NAME))
    if not name:
        row.problems.append(InvalidInput("roster_name_missing"))
    else:
        try:
            row.fields["full_name"] = validate_full_name(name)
        except InvalidInput as error:
            if error.code == "name_too_short":
                row.problems.append(InvalidInput("roster_name_too_short", **error.params))
            elif error.code == "name_too_long":
                row.problems.append(InvalidInput("roster_name_too_long", **error.params))
            else:
                row.problems.append(InvalidInput("roster_name_bad_characters", name=name))

    position = fold(cell_text(cell(RosterColumn.POSITION)))
    if position:
        row.fields["position"] = next(
            (value for pattern, value in _POSITIONS if pattern.search(position)),
            Position(position) if position in set(Position) else Position.OTHER,
        )

    gender = fold(cell_text(cell(RosterColumn.GENDER)))
    if gender in _GENDERS:
        row.fields["gender"] = _GENDERS[gender]
    elif gender:
        row.problems.append(
            InvalidInput("roster_gender_invalid", value=cell_text(cell(RosterColumn.GENDER)))
        )

    born = cell(RosterColumn.DATE_OF_BIRTH)
    if cell_text(born):
        try:
            row.fields["date_of_birth"] = _date(born)
        except ValueError:
            row.problems.append(InvalidInput("roster_date_invalid", value=cell_text(born)))

    phone = phone_text(cell(RosterColumn.PHONE))
    if phone:
        try:
            row.fields["phone"] = normalize_phone(phone)
        except InvalidInput:
            row.problems.append(
                InvalidInput("roster_phone_invalid", value=cell_text(cell(RosterColumn.PHONE)))
            )

    union_member = cell(RosterColumn.UNION_MEMBER)
    if cell_text(union_member):
        answer = fold(cell_text(union_member))  # a TRUE/FALSE cell reads "true"/"false"
        if answer in _YES:
            row.fields["is_union_member"] = True
        elif answer in _NO:
            row.fields["is_union_member"] = False
        else:
            row.problems.append(
                InvalidInput("roster_yes_no_invalid", value=cell_text(union_member))
            )

    code = cell_text(cell(RosterColumn.MEMBER_CODE))
    if len(code) > MEMBER_CODE_MAX:
        row.problems.append(InvalidInput("roster_code_too_long", max=MEMBER_CODE_MAX))
    elif code:
        row.fields["member_code"] = code

    if not phone and not code:
        row.problems.append(InvalidInput("roster_no_code_or_phone"))
    row.fields["unit_code"] = cell_text(cell(RosterColumn.UNIT_CODE))
    return row


def phone_text(value: Any) -> str:
    """The phone as typed; Excel drops the leading 0 of a number stored as a number."""
    text = cell_text(value)
    digits = re.sub(r"\D", "", text)
    if digits == text and len(digits) in (9, 10) and not digits.startswith("0"):
        return "0" + digits
    return text


def _date(value: Any) -> date:
    """dd/mm/yyyy (also with '-' or '.'), yyyy-mm-dd, or an Excel date; ValueError otherwise."""
    if isinstance(value, datetime):
        born = value.date()
    elif isinstance(value, date):
        born = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not 1 <= value < 100_000:
            raise ValueError("not an Excel date")
        converted = from_excel(value)
        born = converted.date() if isinstance(converted, datetime) else converted  # type: ignore[assignment]
    else:
        text = cell_text(value)
        if match := _DMY.fullmatch(text):
            day, month, year = (int(part) for part in match.groups())
        elif match := _YMD.fullmatch(text):
            year, month, day = (int(part) for part in match.groups())
        else:
            raise ValueError("not a date")
        born = date(year, month, day)
    if not BORN_AFTER <= born <= date.today():
        raise ValueError("not a date of birth")
    return born


async def _place_in_units(
    session: AsyncSession, actor: Actor | None, checks: list[RowCheck], default: OrgUnit | None
) -> None:
    """Each row's unit: its unit code's, else the default; known, active, a grassroots union,
    and in the official's scope."""
    codes = {row.fields["unit_code"].upper() for row in checks if row.fields["unit_code"]}
    units: dict[str, OrgUnit] = {}
    for chunk in chunks(sorted(codes)):
        found = await session.exec(select(OrgUnit).where(func.upper(OrgUnit.code).in_(chunk)))
        units.update({unit.code.upper(): unit for unit in found.all()})
    allowed: dict[int, bool] = {}
    for row in checks:
        code = row.fields.pop("unit_code")
        unit = units.get(code.upper()) if code else default
        if unit is None:
            row.problems.append(
                InvalidInput("roster_unit_unknown", unit=code)
                if code
                else InvalidInput("roster_unit_missing")
            )
            continue
        if not unit.is_active:
            row.problems.append(InvalidInput("roster_unit_inactive", unit=unit.code))
        elif not unit.is_grassroots:
            row.problems.append(InvalidInput("roster_unit_not_grassroots", unit=unit.code))
        elif not _may_import(actor, unit, allowed):
            row.problems.append(InvalidInput("roster_unit_out_of_scope", unit=unit.code))
        else:
            row.unit = unit
            row.fields["unit_id"] = unit.id


def _may_import(actor: Actor | None, unit: OrgUnit, cache: dict[int, bool]) -> bool:
    if actor is None:
        return True
    assert unit.id is not None
    if unit.id not in cache:
        cache[unit.id] = may(actor, Action.IMPORT_MEMBERS, unit=unit)
    return cache[unit.id]


def _find_duplicates(checks: list[RowCheck], name: str, code: str, param: str) -> None:
    """Rows of the file that share a member code (or a phone): every one of them is wrong."""
    rows_by_value: dict[str, list[RowCheck]] = defaultdict(list)
    for row in checks:
        value = row.fields.get(name)
        if value:
            rows_by_value[value].append(row)
    for value, rows in rows_by_value.items():
        if len(rows) > 1:
            numbers = _row_numbers(rows)
            for row in rows:
                row.problems.append(InvalidInput(code, **{param: value, "rows": numbers}))


async def _match_members(
    session: AsyncSession, actor: Actor | None, checks: list[RowCheck]
) -> None:
    """The member each row describes: by member code, else by phone. A member outside the
    official's scope is not theirs to change: the row is refused."""
    codes = sorted({row.fields["member_code"] for row in checks if "member_code" in row.fields})
    alive = col(Member.erased_at).is_(None)
    by_code: dict[str, Member] = {}
    for chunk in chunks(codes):
        found = await session.exec(
            select(Member).where(col(Member.member_code).in_(chunk), alive)
        )
        by_code.update({member.member_code: member for member in found.all()})  # type: ignore[misc]
    # Phones only of the rows their code did not find (a re-import finds them all by code).
    phones = sorted(
        {
            row.fields["phone"]
            for row in checks
            if "phone" in row.fields and row.fields.get("member_code") not in by_code
        }
    )
    by_phone: dict[str, list[Member]] = defaultdict(list)
    for chunk in chunks(phones):
        found = await session.exec(
            select(Member).where(col(Member.phone).in_(chunk), alive).order_by(col(Member.id))
        )
        for member in found.all():
            by_phone[member.phone].append(member)  # type: ignore[index]
    unit_ids = {m.unit_id for m in by_code.values()}
    unit_ids |= {m.unit_id for members in by_phone.values() for m in members}
    units: dict[int, OrgUnit] = {}
    for chunk in chunks(sorted(unit_ids)):
        found = await session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(chunk)))
        units.update({unit.id: unit for unit in found.all()})  # type: ignore[misc]
    allowed: dict[int, bool] = {}

    def ours(member: Member) -> bool:
        return _may_import(actor, units[member.unit_id], allowed)

    rows_of_member: dict[int, list[RowCheck]] = defaultdict(list)
    for row in checks:
        code, phone = row.fields.get("member_code"), row.fields.get("phone")
        member = by_code.get(code) if code else None
        if member is not None and not ours(member):
            row.problems.append(InvalidInput("roster_code_taken", member_code=code))
            continue
        candidates = by_phone.get(phone, []) if member is None and phone else []
        if candidates:
            # A member with another code is someone else: the number is theirs, not this row's.
            mine = [m for m in candidates if ours(m) and not (code and m.member_code)]
            if not mine:
                row.problems.append(InvalidInput("roster_phone_taken", phone=phone))
                continue
            member = mine[0]
        if member is not None:
            row.member = member
            rows_of_member[member.id].append(row)  # type: ignore[index]
    for found in rows_of_member.values():
        # One row by code, another by phone, both naming the same person (rows that share a
        # code or a phone are already reported as such).
        rows = [row for row in found if not any(p.code in _DUPLICATES for p in row.problems)]
        if len(rows) > 1:
            numbers = _row_numbers(rows)
            for row in rows:
                row.problems.append(InvalidInput("roster_same_member", rows=numbers))


_DUPLICATES = {"roster_duplicate_code", "roster_duplicate_phone"}


def _row_numbers(rows: list[RowCheck]) -> str:
    """"2, 5, 9": the rows a problem is about, the first ROWS_NAMED of them."""
    numbers = ", ".join(str(row.number) for row in rows[:ROWS_NAMED])
    return numbers + ", …" if len(rows) > ROWS_NAMED else numbers


def chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """`values` in slices of CHUNK, for IN (…) lists the drivers accept."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


# --- 3. writing ------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did (or, with problems and without valid_rows, would not do)."""

    filename: str
    headers: list[str]
    total: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    imported: bool = False
    bad_rows: list[RowCheck] = field(default_factory=list)

    @property
    def valid(self) -> int:
        return self.total - len(self.bad_rows)


_MEMBER_FIELDS = (
    "full_name", "unit_id", "position", "gender", "date_of_birth", "phone", "is_union_member",
    "member_code",
)


async def apply_roster(
    session: AsyncSession, actor: Actor | None, checked: CheckedRoster, *, valid_rows: bool = False
) -> ImportResult:
    """Creates and updates the members of a checked roster (nothing at all when a row has a
    problem, unless `valid_rows`); flushes, the caller commits."""
    bad = checked.bad_rows
    result = ImportResult(
        filename=checked.sheet.filename,
        headers=checked.sheet.headers,
        total=len(checked.rows),
        bad_rows=bad,
    )
    if bad and not valid_rows:
        return result
    now = utcnow()
    who = {
        "actor_member_id": actor.member_id if actor is not None else None,
        "actor_identity_id": actor.identity.id if actor is not None else None,
    }
    new_rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for row in checked.valid_rows:
        if row.member is None:
            new_rows.append(_new_member(row.fields, now))
            continue
        member = row.member
        changes = {
            name: value
            for name, value in row.fields.items()
            if name in _MEMBER_FIELDS and getattr(member, name) != value
        }
        if not changes:
            result.unchanged += 1
            continue
        before = audit.snapshot(member)
        for name, value in changes.items():
            setattr(member, name, value)
        if "full_name" in changes:
            member.full_name_folded = fold(member.full_name)
        member.updated_at = now
        result.updated += 1
        entries.append(
            {
                **who,
                "at": now,
                "action": Action.IMPORT_MEMBERS,
                "target_type": "member",
                "target_id": member.id,
                "before": before,
                "after": audit.snapshot(member),
            }
        )
    await session.flush()  # the updates, batched by the unit of work
    # New members and audit entries are plain rows: a multi-row INSERT each, without building
    # ten thousand ORM objects (which costs more than the database does).
    created_ids: list[int] = []
    connection = await session.connection()
    if new_rows:
        inserted = await connection.execute(
            insert(Member).returning(col(Member.id), sort_by_parameter_order=True), new_rows
        )
        created_ids = list(inserted.scalars())
    if entries:
        await connection.execute(insert(audit.AuditEntry), entries)
    result.created = len(created_ids)
    result.imported = True
    default = checked.default_unit
    await audit.record(
        session,
        actor,
        Action.IMPORT_MEMBERS,
        target_type="import",
        target_id=default.id if default is not None else None,
        after={
            "file": checked.sheet.filename,
            "rows": result.total,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "skipped": len(bad),
            "created_ids": created_ids,
        },
    )
    return result


def _new_member(values: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The row of a new member: active (the roster is the union's record), no chat account."""
    return {
        "full_name": values["full_name"],
        "full_name_folded": fold(values["full_name"]),
        "unit_id": values["unit_id"],
        "position": values.get("position", Position.OTHER),
        "gender": values.get("gender"),
        "phone": values.get("phone"),
        "status": MemberStatus.ACTIVE,
        "locale": None,
        "invite_id": None,
        "preferred_channel": None,
        "member_code": values.get("member_code"),
        "date_of_birth": values.get("date_of_birth"),
        "is_union_member": values.get("is_union_member"),
        "status_reason": None,
        "erased_at": None,
        "created_at": now,
        "updated_at": now,
    }


async def import_roster(
    session: AsyncSession,
    actor: Actor | None,
    *,
    filename: str,
    content: bytes,
    default_unit: OrgUnit | None,
    valid_rows: bool = False,
) -> ImportResult:
    """Reads, checks and (when it may) imports a roster: the three steps above in one call.
    Reading is plain CPU work (a second for 10,000 rows): a thread keeps the bot answering."""
    sheet = await asyncio.to_thread(read_roster, filename=filename, content=content)
    checked = await check_roster(session, actor, sheet=sheet, default_unit=default_unit)
    return await apply_roster(session, actor, checked, valid_rows=valid_rows)


# --- the error report ------------------------------------------------------------------------

Translate = Callable[..., str]


def describe(problems: Iterable[InvalidInput], translate: Translate) -> str:
    """A row's problems in the reader's language, one after the other."""
    return "; ".join(translate(f"error.{problem.code}", **problem.params) for problem in problems)


def error_report(result: ImportResult, translate: Translate) -> bytes:
    """An .xlsx of the rows with problems: the row number, the row as it was in the file, and
    what is wrong with it. `translate(key, **params)` gives the text in the reader's language
    (the keys are `roster.report.*` and `error.<code>`)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(translate("roster.report.sheet")[:31])
    width = max([len(result.headers), *(len(row.values) for row in result.bad_rows)])
    bold = Font(bold=True)
    header = [
        translate("roster.report.row"),
        *result.headers,
        *([""] * (width - len(result.headers))),
        translate("roster.report.problems"),
    ]
    cells = []
    for text in header:
        cell = text_cell(sheet, text)
        cell.font = bold
        cells.append(cell)
    sheet.column_dimensions["A"].width = 8
    sheet.append(cells)
    for row in result.bad_rows:
        values = [text_cell(sheet, value) for value in row.values]
        values += [None] * (width - len(values))
        sheet.append([row.number, *values, text_cell(sheet, describe(row.problems, translate))])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def text_cell(sheet: Any, value: Any) -> Any:
    """A value for a write-only sheet: text without the control characters Excel refuses, and
    kept as text ("=…" in a cell or a member code is shown, not run as a formula)."""
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=ILLEGAL_CHARACTERS_RE.sub("", value))
    cell.data_type = "s"
    return cell


def report_name(filename: str) -> str:
    """"roster.errors.xlsx" for "roster.xlsx"."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return f"{stem or 'roster'}.errors.xlsx"


# --- where rows without a unit code go -------------------------------------------------------


async def default_unit_choices(
    session: AsyncSession, actor: Actor
) -> tuple[list[OrgUnit], OrgUnit | None]:
    """The grassroots unions an official may send code-less rows to (those they are the official
    of), and the one to use without asking: their union, when it is their only scope."""
    ids = [scope.unit_id for scope in actor.official_of]
    units: list[OrgUnit] = []
    if ids:
        found = await session.exec(
            select(OrgUnit).where(col(OrgUnit.id).in_(ids), col(OrgUnit.is_active))
        )
        by_id = {unit.id: unit for unit in found.all()}
        units = [by_id[i] for i in dict.fromkeys(ids) if i in by_id and by_id[i].is_grassroots]
    only = units[0] if len(ids) == 1 and units and not actor.is_admin else None
    return units, only


async def unit_for_code(session: AsyncSession, code: str) -> OrgUnit | None:
    """The unit with this code (any case), for `unionbot members import --unit CODE`."""
    found = await session.exec(
        select(OrgUnit).where(func.upper(OrgUnit.code) == code.strip().upper())
    )
    return found.first()


async def chosen_default_unit(
    session: AsyncSession, actor: Actor, unit_id: int | None
) -> OrgUnit | None:
    """The unit a button (or a kept choice) names for code-less rows, checked again: None for
    none, NotFound when it is gone, NotAllowed outside the official's scope."""
    if not unit_id:
        return None
    unit = await session.get(OrgUnit, unit_id)
    if unit is None or not unit.is_active:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.IMPORT_MEMBERS, unit=unit)
    return unit


# --- uploads waiting for a decision ----------------------------------------------------------


class PendingImport(SQLModel, table=True):
    """An uploaded roster waiting for the official's decision ("import the valid rows")."""

    __tablename__ = "pending_import"

    id: int | None = Field(default=None, primary_key=True)
    identity_id: int = Field(foreign_key="identity.id", index=True)
    # The unit given with --unit, or the official's unit: rows without a unit code go there.
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    filename: str = Field(sa_column=Column(String(255), nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


async def keep_upload(
    session: AsyncSession,
    *,
    identity: Identity,
    filename: str,
    content: bytes,
    unit: OrgUnit | None,
) -> PendingImport:
    """Keeps a roster with problems until its official decides; one per official (a newer
    upload replaces the older), and none older than PENDING_KEPT_FOR."""
    await session.exec(
        delete(PendingImport).where(
            (col(PendingImport.identity_id) == identity.id)
            | (col(PendingImport.created_at) < utcnow() - PENDING_KEPT_FOR)
        )
    )
    pending = PendingImport(
        identity_id=identity.id,  # type: ignore[arg-type]
        unit_id=unit.id if unit is not None else None,
        filename=filename[:255],
        content=content,
    )
    session.add(pending)
    await session.flush()
    return pending


async def pending_upload(session: AsyncSession, actor: Actor, pending_id: int) -> PendingImport:
    """The upload a button names, if it is still there and was sent by this official (a
    forged id naming another official's upload is refused and logged)."""
    pending = await session.get(PendingImport, pending_id)
    if pending is None or pending.created_at < utcnow() - PENDING_KEPT_FOR:
        raise NotFound("roster_upload_gone")
    if pending.identity_id != actor.identity.id:
        log.warning(
            "refused pending import %s to identity %s (member %s)",
            pending_id,
            actor.identity.id,
            actor.member_id,
        )
        raise NotAllowed("not_allowed")
    return pending


async def import_pending(
    session: AsyncSession, actor: Actor, *, pending: PendingImport
) -> ImportResult:
    """Imports the valid rows of a kept upload (checked again: the members may have changed
    meanwhile), then forgets the upload."""
    unit = await session.get(OrgUnit, pending.unit_id) if pending.unit_id is not None else None
    result = await import_roster(
        session,
        actor,
        filename=pending.filename,
        content=pending.content,
        default_unit=unit,
        valid_rows=True,
    )
    await session.delete(pending)
    await session.flush()
    return result


async def drop_upload(session: AsyncSession, *, pending: PendingImport) -> None:
    await session.delete(pending)
    await session.flush()
