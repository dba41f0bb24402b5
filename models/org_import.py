"""The organisation tree from a spreadsheet: `unionbot units import units.xlsx`.

The first row names the columns, in Vietnamese or English (any case, accents optional):
"Mã đơn vị"/"code", "Tên đơn vị"/"name", "Loại"/"kind", "Mã đơn vị cấp trên"/"parent code"
and, optionally, "Cụm/khối thi đua"/"blocs" (names separated by commas, created as needed; a
unit is added to the blocs listed and never taken out of others). A kind is `federation`,
`industry_union` or `grassroots`, or its Vietnamese name ("Công đoàn cơ sở", …).

Units are matched by code: a new code creates a unit, a known one is updated (name, kind,
parent). Parents may come after their children in the file. The whole file is checked first
(unknown parent, repeated code, bad kind, a cycle, a unit under a grassroots union, …); with any
error nothing changes and every error is reported with its row number. Otherwise everything is
applied in the caller's transaction, and importing the same file again changes nothing.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import record, snapshot
from models.base import fold
from models.errors import InvalidInput
from models.members import Member
from models.org import OrgKind, OrgUnit, UnitBloc
from models.units import (
    add_unit,
    clean_code,
    clean_name,
    create_bloc,
    list_blocs,
    move_unit,
    rename_unit,
    tag_unit,
    unit_by_code,
)

HEADER_ROW = 1
COLUMNS: dict[str, set[str]] = {
    "code": {"ma don vi", "ma", "code", "unit code"},
    "name": {"ten don vi", "ten", "name", "unit name"},
    "kind": {"loai", "loai don vi", "kind", "type", "unit kind"},
    "parent": {
        "ma don vi cap tren", "ma cap tren", "don vi cap tren", "parent code", "parent",
        "parent unit code",
    },
    "blocs": {
        "cum khoi thi dua", "cum thi dua", "khoi thi dua", "cum khoi", "blocs", "bloc",
        "emulation blocs",
    },
}
REQUIRED = ("code", "name", "kind")
KINDS: dict[str, OrgKind] = {
    "federation": OrgKind.FEDERATION,
    "lien doan": OrgKind.FEDERATION,
    "lien doan lao dong": OrgKind.FEDERATION,
    "industry union": OrgKind.INDUSTRY_UNION,
    "cong doan nganh": OrgKind.INDUSTRY_UNION,
    "cong doan nganh giao duc": OrgKind.INDUSTRY_UNION,
    "cong doan giao duc": OrgKind.INDUSTRY_UNION,
    "grassroots": OrgKind.GRASSROOTS,
    "cong doan co so": OrgKind.GRASSROOTS,
    "co so": OrgKind.GRASSROOTS,
}
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_BLOC_SEPARATOR = re.compile(r"[,;]")


def _words(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", fold(text)).split())


@dataclass(frozen=True)
class RowError:
    """One problem of the file; `row` is the spreadsheet's row number (None: the whole file)."""

    row: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.row is None else f"row {self.row}: {self.message}"


@dataclass
class ImportResult:
    errors: list[RowError] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    blocs_created: int = 0

    @property
    def summary(self) -> str:
        return (
            f"units: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged; blocs: {self.blocs_created} created"
        )


@dataclass
class UnitRow:
    row: int
    code: str
    name: str
    kind: OrgKind
    parent_code: str | None
    blocs: list[str]


# --- reading -----------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell as text: numbers typed as codes (101, 101.0) read as "101"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _sheet_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.active
        if sheet is None:
            return
        yield from sheet.iter_rows(values_only=True)
    finally:
        workbook.close()


def _columns(header: Iterable[Any], errors: list[RowError]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        words = _words(_text(title))
        for column, names in COLUMNS.items():
            if words in names:
                if column in found:
                    errors.append(RowError(HEADER_ROW, f"two columns are {column!r}"))
                found[column] = index
    missing = [column for column in REQUIRED if column not in found]
    if missing:
        errors.append(
            RowError(HEADER_ROW, "missing column(s): " + ", ".join(missing)
                     + " (e.g. 'Mã đơn vị', 'Tên đơn vị', 'Loại', 'Mã đơn vị cấp trên')")
        )
    return found


def _domain_message(error: InvalidInput) -> str:
    return {
        "org_name_too_short": "the name is empty or too short",
        "org_name_too_long": "the name is longer than 255 characters",
        "org_code_invalid": "the code may hold only letters, digits, '.', '_' and '-' "
        "(at most 32)",
    }.get(error.code, error.code)


def _parse_row(
    number: int, cells: tuple[Any, ...], columns: dict[str, int], errors: list[RowError]
) -> UnitRow | None:
    def cell(column: str) -> str:
        index = columns.get(column)
        return _text(cells[index]) if index is not None and index < len(cells) else ""

    problems: list[str] = []
    code = name = ""
    try:
        code = clean_code(cell("code"))
    except InvalidInput as error:
        problems.append("the code is missing" if not cell("code") else _domain_message(error))
    try:
        name = clean_name(cell("name"))
    except InvalidInput as error:
        problems.append(_domain_message(error))
    kind = KINDS.get(_words(cell("kind")))
    if kind is None:
        problems.append(
            f"unknown kind {cell('kind')!r} (federation, industry_union, grassroots, "
            "or 'Liên đoàn', 'Công đoàn ngành', 'Công đoàn cơ sở')"
        )
    parent_code = None
    if cell("parent"):
        try:
            parent_code = clean_code(cell("parent"))
        except InvalidInput as error:
            problems.append(f"parent code: {_domain_message(error)}")
    blocs: list[str] = []
    for part in _BLOC_SEPARATOR.split(cell("blocs")):
        if not part.strip():
            continue
        try:
            bloc = clean_name(part)
        except InvalidInput as error:
            problems.append(f"bloc {part.strip()!r}: {_domain_message(error)}")
            continue
        if fold(bloc) not in {fold(b) for b in blocs}:
            blocs.append(bloc)
    errors.extend(RowError(number, problem) for problem in problems)
    if problems or kind is None:
        return None
    return UnitRow(number, code, name, kind, parent_code, blocs)


def read_units(path: Path) -> tuple[list[UnitRow], list[RowError]]:
    """The rows of the file, and every problem that can be seen without the database."""
    errors: list[RowError] = []
    rows: list[UnitRow] = []
    try:
        lines = _sheet_rows(path)
        header = next(lines, None)
        if header is None:
            return [], [RowError(None, "the file is empty")]
        columns = _columns(header, errors)
        if errors:
            return [], errors
        for number, cells in enumerate(lines, start=HEADER_ROW + 1):
            if not any(_text(value) for value in cells):
                continue
            parsed = _parse_row(number, cells, columns, errors)
            if parsed is not None:
                rows.append(parsed)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError) as error:
        return [], [RowError(None, f"cannot read {path} as an .xlsx file ({error})")]
    first_row: dict[str, int] = {}
    for row in rows:
        if row.code in first_row:
            other = first_row[row.code]
            errors.append(RowError(row.row, f"code {row.code} is also on row {other}"))
        else:
            first_row[row.code] = row.row
    return rows, errors


# --- checking against the tree -----------------------------------------------------------------


@dataclass
class _Tree:
    """The units in the database, by code and by id."""

    by_code: dict[str, OrgUnit]
    by_id: dict[int, OrgUnit]

    def parent_code(self, code: str) -> str | None:
        unit = self.by_code[code]
        parent = self.by_id.get(unit.parent_id) if unit.parent_id is not None else None
        return parent.code if parent is not None else None


async def _load_tree(session: AsyncSession) -> _Tree:
    units = list((await session.exec(select(OrgUnit))).all())
    return _Tree({u.code: u for u in units}, {u.id: u for u in units})  # type: ignore[misc]


async def _check(session: AsyncSession, rows: list[UnitRow], tree: _Tree) -> list[RowError]:
    errors: list[RowError] = []
    in_file = {row.code: row for row in rows}

    def final_kind(code: str) -> str:
        return in_file[code].kind if code in in_file else tree.by_code[code].kind

    def final_parent(code: str) -> str | None:
        if code in in_file:
            return in_file[code].parent_code
        return tree.parent_code(code) if code in tree.by_code else None

    for row in rows:
        existing = tree.by_code.get(row.code)
        if existing is not None and not existing.is_active:
            errors.append(RowError(row.row, f"unit {row.code} was deactivated"))
        parent = row.parent_code
        if parent is None:
            continue
        if parent not in in_file and parent not in tree.by_code:
            errors.append(RowError(row.row, f"unknown parent code {parent}"))
        elif parent == row.code:
            errors.append(RowError(row.row, f"unit {row.code} is its own parent"))
        elif final_kind(parent) == OrgKind.GRASSROOTS:
            errors.append(
                RowError(row.row, f"parent {parent} is a grassroots union: no units go below it")
            )
        elif parent not in in_file and not tree.by_code[parent].is_active:
            errors.append(RowError(row.row, f"parent {parent} was deactivated"))
        else:
            chain = [row.code]
            seen: set[str] = set()
            current: str | None = parent
            while current is not None and current not in seen:
                if current == row.code:
                    errors.append(RowError(row.row, "a cycle: " + " → ".join([*chain, current])))
                    break
                seen.add(current)
                chain.append(current)
                current = final_parent(current)

    # A unit that becomes a grassroots union keeps no units below it, and one that stops being
    # one must have no members left in it.
    for row in rows:
        existing = tree.by_code.get(row.code)
        if existing is None or existing.kind == row.kind:
            continue
        if row.kind == OrgKind.GRASSROOTS:
            below = [
                unit.code for unit in tree.by_id.values()
                if unit.parent_id == existing.id and unit.is_active and unit.code not in in_file
            ]
            if below:
                errors.append(RowError(
                    row.row, f"a grassroots union has no units below it, and {row.code} has "
                    + ", ".join(sorted(below)[:5]),
                ))
        elif existing.kind == OrgKind.GRASSROOTS:
            members = (await session.exec(
                select(func.count()).select_from(Member).where(
                    Member.unit_id == existing.id, col(Member.erased_at).is_(None)
                )
            )).one()
            if members:
                errors.append(RowError(
                    row.row, f"{row.code} has {members} member(s): it stays a grassroots union"
                ))
    return errors


def _parents_first(rows: list[UnitRow]) -> list[UnitRow]:
    """The rows ordered so that a parent in the file comes before its children (no cycles)."""
    in_file = {row.code: row for row in rows}
    ordered: list[UnitRow] = []
    placed: set[str] = set()

    def place(row: UnitRow) -> None:
        chain = []
        current: UnitRow | None = row
        while current is not None and current.code not in placed:
            chain.append(current)
            parent = current.parent_code
            current = in_file.get(parent) if parent is not None else None
        for item in reversed(chain):
            placed.add(item.code)
            ordered.append(item)

    for row in rows:
        place(row)
    return ordered


# --- applying ----------------------------------------------------------------------------------


async def _apply(session: AsyncSession, rows: list[UnitRow], result: ImportResult) -> None:
    blocs = {fold(b.name): b for b in await list_blocs(session)}
    tagged = {
        (unit_id, bloc_id)
        for unit_id, bloc_id in (await session.exec(select(UnitBloc.unit_id, UnitBloc.bloc_id)))
    }
    for row in _parents_first(rows):
        parent = None
        if row.parent_code is not None:
            parent = await unit_by_code(session, row.parent_code)
        unit = await unit_by_code(session, row.code)
        created = unit is None
        changed = False
        if unit is None:
            unit = await add_unit(
                session, actor=None, parent=parent, name=row.name, kind=row.kind, code=row.code
            )
            result.created += 1
        else:
            if unit.name != row.name:
                await rename_unit(session, actor=None, unit=unit, name=row.name)
                changed = True
            if unit.kind != row.kind:
                before = snapshot(unit)
                unit.kind = row.kind
                session.add(unit)
                await session.flush()
                await record(session, None, "change_unit_kind", target_type="unit",
                             target_id=unit.id, before=before, after=snapshot(unit))
                changed = True
            if unit.parent_id != (parent.id if parent is not None else None):
                await move_unit(session, actor=None, unit=unit, new_parent=parent)
                changed = True
        for name in row.blocs:
            bloc = blocs.get(fold(name))
            if bloc is None:
                bloc = await create_bloc(session, actor=None, name=name)
                blocs[fold(name)] = bloc
                result.blocs_created += 1
            if (unit.id, bloc.id) not in tagged:
                await tag_unit(session, actor=None, unit=unit, bloc=bloc)
                tagged.add((unit.id, bloc.id))  # type: ignore[arg-type]
                changed = True
        if created:
            continue
        if changed:
            result.updated += 1
        else:
            result.unchanged += 1


async def import_units(session: AsyncSession, path: Path) -> ImportResult:
    """Checks the whole file, then (only if it has no error) creates and updates the units in
    `session`; the caller commits. `result.errors` lists every problem found."""
    rows, errors = read_units(path)
    if not errors and not rows:
        errors.append(RowError(None, "the file has no units"))
    if not errors:
        errors = await _check(session, rows, await _load_tree(session))
    result = ImportResult(errors=sorted(errors, key=lambda e: (e.row or 0)))
    if result.errors:
        return result
    await _apply(session, rows, result)
    return result

