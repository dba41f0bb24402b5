"""`unionbot titles import FILE --unit CODE`: the operator records titles members achieved
before the bot (so the three-consecutive-years rule can be met): all or nothing, every bad row
printed with its number, the same file twice changing nothing, members of other units refused."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.cli import main
from models.achievements import TitleAward
from models.audit import AuditEntry
from tests.factories import make_member, make_tree

HEADER = ["Họ và tên", "Mã đoàn viên", "Số điện thoại", "Năm học", "Danh hiệu", "Số quyết định"]


@pytest.fixture
async def tree(session: AsyncSession, database_url: str, monkeypatch, tmp_path) -> dict:  # type: ignore[no-untyped-def]
    units = await make_tree(session)
    await make_member(session, units["trai"], "Nguyễn Thị Lan", member_code="DV001")
    await make_member(session, units["trai"], "Lê Văn Minh", phone="+84912345679")
    await make_member(session, units["du"], "Phạm Thu Hà", member_code="DV900")
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


async def awards(session: AsyncSession) -> list[tuple[str, str, str, str | None]]:
    session.expire_all()
    rows = await session.exec(
        select(TitleAward.school_year, TitleAward.title_code, TitleAward.title_name,
               TitleAward.decision).order_by(TitleAward.id)
    )
    return list(rows.all())


async def test_a_good_file_is_recorded_once_however_often_it_is_imported(  # type: ignore[no-untyped-def]
    tree: dict, session: AsyncSession, tmp_path: Path, capsys
) -> None:
    titles = write_xlsx(tmp_path / "danh hieu.xlsx", [
        ["Nguyễn Thị Lan", "DV001", None, "2023-2024", "Chiến sĩ thi đua cơ sở", "QĐ 5/QĐ-CĐGD"],
        ["Nguyễn Thị Lan", "DV001", None, "2024-2025", "Chiến sĩ thi đua cơ sở", "QĐ 8/QĐ-CĐGD"],
        ["Lê Văn Minh", None, "0912345679", "2024-2025", "Lao động tiên tiến", None],
    ])
    code, district_id = tree["district"].code, tree["district"].id
    assert await unionbot("titles", "import", str(titles), "--unit", code) == 0
    assert capsys.readouterr().out.strip() == (
        "danh hieu.xlsx: 3 new titles recorded, 0 updated, 0 unchanged (3 rows)."
    )
    assert await awards(session) == [
        ("2023-2024", "CSTDCS", "Chiến sĩ thi đua cơ sở", "QĐ 5/QĐ-CĐGD"),
        ("2024-2025", "CSTDCS", "Chiến sĩ thi đua cơ sở", "QĐ 8/QĐ-CĐGD"),
        ("2024-2025", "LDTT", "Lao động tiên tiến", None),
    ]

    assert await unionbot("titles", "import", str(titles), "--unit", code.lower()) == 0
    assert "0 new titles recorded, 0 updated, 3 unchanged" in capsys.readouterr().out
    assert len(await awards(session)) == 3
    entries = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "import_titles").order_by(AuditEntry.id)
    )).all()
    assert [(e.actor_member_id, e.target_id, (e.after or {})["created"]) for e in entries] == [
        (None, district_id, 3), (None, district_id, 0),
    ]


async def test_bad_rows_are_printed_with_their_numbers_and_nothing_is_recorded(  # type: ignore[no-untyped-def]
    tree: dict, session: AsyncSession, tmp_path: Path, capsys
) -> None:
    titles = write_xlsx(tmp_path / "dh.xlsx", [
        ["Nguyễn Thị Lan", "DV001", None, "2024-2025", "Lao động tiên tiến", None],
        ["Ai đó", "DV404", None, "2024-2025", "Lao động tiên tiến", None],
        ["Nguyễn Thị Lan", "DV001", None, "2024", "", None],
        ["Phạm Thu Hà", "DV900", None, "2024-2025", "Lao động tiên tiến", None],
    ])
    trai = tree["trai"].code
    assert await unionbot("titles", "import", str(titles), "--unit", trai) == 1
    out = capsys.readouterr().out
    assert "• Row 3: no member “DV404”" in out
    assert (
        "• Row 4: “2024” is not a school year (write it as 2024-2025); the title is missing"
        in out
    )
    assert f"• Row 5: member “DV900” is not in unit {trai}" in out
    assert "• Row 2" not in out
    assert "dh.xlsx: 3 of 4 rows have problems; nothing was recorded." in out
    assert await awards(session) == []


async def test_a_unit_or_file_that_cannot_be_used_is_refused(  # type: ignore[no-untyped-def]
    tree: dict, tmp_path: Path, capsys
) -> None:
    titles = write_xlsx(tmp_path / "dh.xlsx", [["Lan", "DV001", None, "2024-2025", "LDTT", None]])
    assert await unionbot("titles", "import", str(titles), "--unit", "NOPE") == 1
    assert "--unit: unknown unit code “NOPE”" in capsys.readouterr().err
    wrong = tmp_path / "dh.csv"
    wrong.write_text("Họ và tên,Ghi chú\nLan,x\n", encoding="utf-8")
    assert await unionbot("titles", "import", str(wrong), "--unit", tree["trai"].code) == 1
    assert "The file has no column Năm học (School year), Danh hiệu (Title)" in (
        capsys.readouterr().err
    )
    missing = tmp_path / "missing.xlsx"
    assert await unionbot("titles", "import", str(missing), "--unit", tree["trai"].code) == 1
    assert "cannot read" in capsys.readouterr().err
