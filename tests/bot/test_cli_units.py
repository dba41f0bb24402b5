"""`unionbot units import units.xlsx`: the organisation tree from a spreadsheet, all or nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import database
from bot.cli import _units_import, main
from bot.settings import Settings
from models.audit import AuditEntry
from models.org import EmulationBloc, OrgUnit, UnitBloc
from tests.factories import make_tree

VI_HEADER = ["Mã đơn vị", "Tên đơn vị", "Loại", "Mã đơn vị cấp trên", "Cụm/khối thi đua"]
EN_HEADER = ["code", "Name", "kind", "Parent code", "blocs"]

# Children before their parents, Vietnamese and English kinds, numbers typed as codes.
CLEAN_ROWS: list[list[Any]] = [
    ["THCS-GV", "Trường THCS Giảng Võ", "Công đoàn cơ sở", "CDGD-BD", "Khối THCS, Cụm 1"],
    [101, "Trường Tiểu học Kim Đồng", "grassroots", "CDGD-BD", "Cụm 1"],
    ["CDGD-BD", "Công đoàn Giáo dục quận Ba Đình", "Công đoàn ngành", "CDGD-HN", None],
    ["CDGD-HN", "Công đoàn Giáo dục Hà Nội", "industry_union", "LDLD-HN", None],
    ["LDLD-HN", "Liên đoàn Lao động Thành phố Hà Nội", "Liên đoàn", None, None],
]


def write_xlsx(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def settings_for(database_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]


async def tree_state(engine: AsyncEngine) -> dict[str, tuple]:
    """Every unit by code: (name, kind, parent's code, path in codes, active, blocs)."""
    async with database.create_session_factory(engine)() as session:
        units = list((await session.exec(select(OrgUnit))).all())
        blocs = dict((await session.exec(select(EmulationBloc.id, EmulationBloc.name))).all())
        links = (await session.exec(select(UnitBloc.unit_id, UnitBloc.bloc_id))).all()
    by_id = {unit.id: unit for unit in units}
    state = {}
    for unit in units:
        chain = "/".join(by_id[int(i)].code for i in unit.path.strip("/").split("/"))
        parent = by_id[unit.parent_id].code if unit.parent_id else None
        tags = sorted(blocs[b] for u, b in links if u == unit.id)
        state[unit.code] = (unit.name, unit.kind, parent, chain, unit.is_active, tags)
    return state


async def audit_count(engine: AsyncEngine) -> int:
    async with database.create_session_factory(engine)() as session:
        return len((await session.exec(select(col(AuditEntry.id)))).all())


async def test_a_clean_file_builds_the_tree_and_a_second_import_changes_nothing(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_xlsx(tmp_path / "units.xlsx", VI_HEADER, CLEAN_ROWS)

    assert await _units_import(settings_for(database_url), path) == 0

    assert "5 created, 0 updated, 0 unchanged; blocs: 2 created" in capsys.readouterr().out
    state = await tree_state(engine)
    assert state["THCS-GV"] == (
        "Trường THCS Giảng Võ", "grassroots", "CDGD-BD", "LDLD-HN/CDGD-HN/CDGD-BD/THCS-GV", True,
        ["Cụm 1", "Khối THCS"],
    )
    assert state["101"][1:4] == ("grassroots", "CDGD-BD", "LDLD-HN/CDGD-HN/CDGD-BD/101")
    assert state["101"][5] == ["Cụm 1"]
    assert state["CDGD-BD"][1] == "industry_union" and state["LDLD-HN"][1:3] == (
        "federation", None)
    entries = await audit_count(engine)
    assert entries > 0  # the operator's changes are audited too

    assert await _units_import(settings_for(database_url), path) == 0

    assert "0 created, 0 updated, 5 unchanged; blocs: 0 created" in capsys.readouterr().out
    assert await tree_state(engine) == state
    assert await audit_count(engine) == entries


async def test_a_changed_file_renames_moves_and_tags_by_code(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _units_import(settings_for(database_url),
                        write_xlsx(tmp_path / "units.xlsx", VI_HEADER, CLEAN_ROWS))
    changed = [
        ["CDGD-HK", "Công đoàn Giáo dục quận Hoàn Kiếm", "industry_union", "CDGD-HN", None],
        ["THCS-GV", "Trường THCS Giảng Võ (mới)", "grassroots", "CDGD-HK", "khoi thcs"],
        *CLEAN_ROWS[1:],
    ]
    capsys.readouterr()
    path = write_xlsx(tmp_path / "units-2.xlsx", EN_HEADER, changed)

    assert await _units_import(settings_for(database_url), path) == 0

    assert "1 created, 1 updated, 4 unchanged; blocs: 0 created" in capsys.readouterr().out
    state = await tree_state(engine)
    assert state["THCS-GV"] == (
        "Trường THCS Giảng Võ (mới)", "grassroots", "CDGD-HK",
        "LDLD-HN/CDGD-HN/CDGD-HK/THCS-GV", True, ["Cụm 1", "Khối THCS"],
    )


async def test_a_file_with_errors_reports_each_row_and_changes_nothing(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with database.create_session_factory(engine)() as session:
        await make_tree(session)  # the school "Trường THCS Nguyễn Trãi" has code U…; see below
        trai = (await session.exec(
            select(OrgUnit).where(OrgUnit.name == "Trường THCS Nguyễn Trãi")
        )).one()
        await session.commit()
    before = (await tree_state(engine), await audit_count(engine))
    rows: list[list[Any]] = [
        ["NEW-1", "Trường THCS Lê Lợi", "Công đoàn cơ sở", "NO-SUCH", None],  # row 2
        ["NEW-2", "Trường THCS Hùng Vương", "trường học", None, None],  # row 3
        ["NEW-3", "Tổ Toán", "grassroots", trai.code, None],  # row 4: under a school
        ["CYC-A", "Cụm A", "industry_union", "CYC-B", None],  # row 5
        ["CYC-B", "Cụm B", "industry_union", "CYC-A", None],  # row 6
        ["NEW-1", "Trường THCS Lê Lợi (2)", "grassroots", None, None],  # row 7: repeated
        [None, None, None, None, None],  # row 8: blank, skipped
        ["NEW-9", "", "grassroots", None, None],  # row 9: no name
        ["NEW-10", "Trường THCS Ngô Sĩ Liên", "grassroots", "NEW-2", None],  # row 10: fine
    ]
    path = write_xlsx(tmp_path / "bad.xlsx", VI_HEADER, rows)

    assert await _units_import(settings_for(database_url), path) == 1

    err = capsys.readouterr().err
    assert "bad.xlsx: row 3: unknown kind 'trường học'" in err
    assert "bad.xlsx: row 7: code NEW-1 is also on row 2" in err
    assert "bad.xlsx: row 9: the name is empty or too short" in err
    assert "nothing was imported" in err
    assert await tree_state(engine) == before[0] and await audit_count(engine) == before[1]

    # Without the rows that fail on their own, the tree checks come out, each on its row.
    path = write_xlsx(tmp_path / "bad-2.xlsx", VI_HEADER, [rows[0], rows[2], rows[3], rows[4]])
    assert await _units_import(settings_for(database_url), path) == 1
    err = capsys.readouterr().err
    assert "row 2: unknown parent code NO-SUCH" in err
    assert f"row 3: parent {trai.code} is a grassroots union" in err
    assert "row 4: a cycle: CYC-A → CYC-B → CYC-A" in err
    assert "row 5: a cycle: CYC-B → CYC-A → CYC-B" in err
    assert await tree_state(engine) == before[0] and await audit_count(engine) == before[1]


async def test_a_file_without_the_needed_columns_or_not_a_spreadsheet_is_refused(
    database_url: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_xlsx(tmp_path / "units.xlsx", ["Tên đơn vị", "Ghi chú"], [["Trường A", "x"]])
    assert await _units_import(settings_for(database_url), path) == 1
    assert "row 1: missing column(s): code, kind" in capsys.readouterr().err
    text = tmp_path / "units.csv"
    text.write_text("code,name\n", encoding="utf-8")
    assert await _units_import(settings_for(database_url), text) == 1
    assert "cannot read" in capsys.readouterr().err
    assert await tree_state(engine) == {}


async def test_the_command_line_imports_with_database_url_from_the_environment(
    database_url: str, engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    good = write_xlsx(tmp_path / "units.xlsx", VI_HEADER, CLEAN_ROWS)
    bad = write_xlsx(tmp_path / "bad.xlsx", VI_HEADER, [["X", "Trường X", "?", None, None]])

    assert await asyncio.to_thread(main, ["units", "import", str(bad)]) == 1
    assert await asyncio.to_thread(main, ["units", "import", str(good)]) == 0

    assert "units.xlsx: units: 5 created" in capsys.readouterr().out
    assert len(await tree_state(engine)) == 5
