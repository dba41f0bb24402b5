"""`unionbot members import FILE --unit CODE`: the operator's roster import, with the counts or
every problem printed, the report file written, and nothing imported from a file with errors
unless --valid-rows."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli import main
from models.audit import AuditEntry
from models.members import Member
from tests.factories import make_tree

HEADER = ["Họ và tên", "Mã đơn vị", "Số điện thoại", "Mã đoàn viên", "Ngày sinh"]


@pytest.fixture
async def tree(session: AsyncSession, database_url: str, monkeypatch, tmp_path) -> dict:  # type: ignore[no-untyped-def]
    units = await make_tree(session)
    await session.commit()
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DEFAULT_LOCALE", "en")
    return units


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(buffer.getvalue())
    return path


async def unionbot(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def count(session: AsyncSession, table: type) -> int:
    return (await session.exec(select(func.count()).select_from(table))).one()


async def test_a_file_with_errors_imports_nothing_then_its_valid_rows(  # type: ignore[no-untyped-def]
    tree: dict, session: AsyncSession, tmp_path: Path, capsys
) -> None:
    roster = write_xlsx(tmp_path / "ds.xlsx", [
        ["Nguyễn Thị Lan", None, "0912345678", "DV1", "15/03/1985"],
        ["Lê Văn Minh", "NOPE", "0912345679", None, None],
        ["Phạm Thu Hà", None, "12", "DV1", "31/31/1990"],
    ])
    code, trai_id = tree["trai"].code, tree["trai"].id
    du_code, du_id = tree["du"].code, tree["du"].id
    assert await unionbot("members", "import", str(roster), "--unit", code) == 1
    out = capsys.readouterr().out
    assert "• Row 3: unknown unit code “NOPE”" in out
    assert "• Row 4: " in out and "“12” is not a Vietnamese phone number" in out
    assert "“31/31/1990” is not a date of birth" in out
    assert "member code DV1 is on several rows (2, 4)" in out
    assert "3 of 3 rows have problems; nothing was imported" in out
    report = tmp_path / "ds.errors.xlsx"
    assert f"The report is in {report}" in out
    rows = list(load_workbook(report).active.iter_rows(values_only=True))
    assert rows[0] == ("Row", *HEADER, "Problems")
    assert [row[0] for row in rows[1:]] == [2, 3, 4]
    assert await count(session, Member) == 0

    custom = tmp_path / "problems.xlsx"
    assert await unionbot(
        "members", "import", str(roster), "--unit", code.lower(), "--valid-rows",
        "--report", str(custom),
    ) == 0
    out = capsys.readouterr().out
    assert "0 new members, 0 updated, 0 unchanged; 3 rows with problems were left out" in out
    assert custom.exists()

    write_xlsx(roster, [["Nguyễn Thị Lan", None, "0912345678", "DV1", "15/03/1985"],
                        ["Lê Văn Minh", du_code, "0912345679", None, None]])
    assert await unionbot("members", "import", str(roster), "--unit", code) == 0
    assert "2 new members, 0 updated, 0 unchanged (2 rows)" in capsys.readouterr().out
    session.expire_all()
    units = dict((await session.exec(select(Member.full_name, Member.unit_id))).all())
    assert units == {"Nguyễn Thị Lan": trai_id, "Lê Văn Minh": du_id}
    entries = (await session.exec(select(AuditEntry).order_by(AuditEntry.id))).all()
    assert [(e.target_type, e.actor_member_id) for e in entries] == [("import", None)] * 2
    assert [(e.after or {})["created"] for e in entries] == [0, 2]

    assert await unionbot("members", "import", str(roster), "--unit", code) == 0
    assert "0 new members, 0 updated, 2 unchanged" in capsys.readouterr().out


async def test_a_file_or_unit_that_cannot_be_used_is_refused(  # type: ignore[no-untyped-def]
    tree: dict, tmp_path: Path, capsys
) -> None:
    roster = write_xlsx(tmp_path / "ds.xlsx", [["Nguyễn Thị Lan", None, "0912345678", None, None]])
    assert await unionbot("members", "import", str(roster), "--unit", "NOPE") == 1
    assert "--unit: unknown unit code “NOPE”" in capsys.readouterr().err
    broken = tmp_path / "ds.csv"
    broken.write_text("Ten,Tuoi\nLan,30\n", encoding="utf-8")
    assert await unionbot("members", "import", str(broken), "--unit", tree["trai"].code) == 1
    assert "The file has no column Họ và tên (Full name)" in capsys.readouterr().err
    missing = tmp_path / "missing.xlsx"
    assert await unionbot("members", "import", str(missing), "--unit", tree["trai"].code) == 1
    assert "cannot read" in capsys.readouterr().err
