"""How fast a roster goes in: a 10,000-row .xlsx (Vietnamese names, 30 schools, phones, member
codes, dates of birth) imported into a fresh database holding `unionbot demo-data`, then the same
file again (nothing changes), then a version with one row in ten changed (updates, each with its
audit entry). SQLite always; PostgreSQL too when a URL is given or TEST_DATABASE_URL is set (a
database of its own is created on that server and dropped at the end).

    python bench/roster_import.py
    python bench/roster_import.py --rows 10000 postgresql+asyncpg://postgres@127.0.0.1:5432/test

Prints, for each run, the time to parse the file, validate the rows (with the few queries that
find units and members), write (insert or update, audit, commit) and the total, with rows/s.
Figures are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpyxl import Workbook
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bot import database
from bot.demo import load_demo_data
from models import roster
from models.org import OrgKind, OrgUnit

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]  # fmt: skip
MIDDLE = ["Thị", "Văn", "Thu", "Minh", "Ngọc", "Thanh", "Hữu", "Quang", "Thùy", "Đức"]
GIVEN = ["Lan", "Hương", "Mai", "Hà", "Linh", "Trang", "Hùng", "Dũng", "Tuấn", "Nam", "Phương",
         "Hạnh", "Thảo", "Bình", "Cường", "Yến", "Khánh", "Long", "Oanh", "Quyên"]  # fmt: skip
POSITIONS = ["Giáo viên"] * 14 + ["Nhân viên", "Kế toán", "Văn thư", "Y tế", "Bảo vệ",
                                  "Phó Hiệu trưởng", "Hiệu trưởng", "Tổng phụ trách đội"]
HEADER = ["STT", "Họ và tên", "Mã đơn vị", "Chức vụ", "Giới tính", "Ngày sinh",
          "Số điện thoại", "Đoàn viên", "Mã đoàn viên"]  # fmt: skip


def make_rows(count: int, schools: list[str], *, seed: int = 4) -> list[list[object]]:
    rng = random.Random(seed)
    rows: list[list[object]] = []
    for i in range(count):
        woman = rng.random() < 0.75
        middle = "Thị" if woman and rng.random() < 0.6 else rng.choice(MIDDLE)
        born = date(rng.randint(1965, 2001), rng.randint(1, 12), rng.randint(1, 28))
        rows.append([
            i + 1, f"{rng.choice(FAMILY)} {middle} {rng.choice(GIVEN)}", schools[i % len(schools)],
            rng.choice(POSITIONS), "Nữ" if woman else "Nam", born.strftime("%d/%m/%Y"),
            f"09{i:08d}", "có" if rng.random() < 0.95 else "không", f"HN{i:06d}",
        ])  # fmt: skip
    return rows


def to_xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Danh sách")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def timed_import(url: str, content: bytes, default_code: str) -> dict[str, float | int]:
    engine = database.create_engine(url)
    try:
        async with database.create_session_factory(engine)() as session:
            default = await roster.unit_for_code(session, default_code)
            started = time.perf_counter()
            sheet = roster.read_roster(filename="roster.xlsx", content=content)
            parsed = time.perf_counter()
            checked = await roster.check_roster(session, None, sheet=sheet, default_unit=default)
            validated = time.perf_counter()
            result = await roster.apply_roster(session, None, checked)
            await session.commit()
            written = time.perf_counter()
    finally:
        await engine.dispose()
    assert not result.bad_rows, result.bad_rows[:3]
    return {
        "parse": parsed - started, "validate": validated - parsed, "write": written - validated,
        "total": written - started, "rows": result.total, "created": result.created,
        "updated": result.updated, "unchanged": result.unchanged,
    }  # fmt: skip


async def bench(url: str, rows: int) -> None:
    engine = database.create_engine(url)
    await database.upgrade(engine)
    await load_demo_data(database.create_session_factory(engine))
    async with database.create_session_factory(engine)() as session:
        schools = list(
            (
                await session.exec(
                    select(OrgUnit.code)
                    .where(OrgUnit.kind == OrgKind.GRASSROOTS)
                    .order_by(col(OrgUnit.id))
                )
            ).all()
        )
    await engine.dispose()
    data = make_rows(rows, schools)
    content = to_xlsx(data)
    changed = [list(row) for row in data]
    for row in changed[::10]:
        row[3] = "Giảng viên"  # one row in ten: a new position
    runs = [
        ("first import", content),
        ("same file again", content),
        ("1 row in 10 changed", to_xlsx(changed)),
    ]
    name = url.split("+")[0]
    print(f"{name}: {rows} rows, file {len(content) / 1024 / 1024:.2f} MB")
    print(f"  {'run':<21} {'parse':>7} {'validate':>9} {'write':>7} {'total':>7} {'rows/s':>8}"
          "  created/updated/unchanged")  # fmt: skip
    for label, file in runs:
        f = await timed_import(url, file, schools[0])
        print(
            f"  {label:<21} {f['parse']:>6.2f}s {f['validate']:>8.2f}s {f['write']:>6.2f}s "
            f"{f['total']:>6.2f}s {f['rows'] / f['total']:>8.0f}  "
            f"{f['created']}/{f['updated']}/{f['unchanged']}"
        )


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    parts = make_url(url)
    connection = await asyncpg.connect(
        user=parts.username, password=parts.password, host=parts.host or "127.0.0.1",
        port=parts.port or 5432, database=parts.database or "postgres",
    )  # fmt: skip
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def main(rows: int, pg_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await bench(f"sqlite+aiosqlite:///{tmp}/bench.db", rows)
    if pg_url:
        name = f"unionbot_bench_{uuid.uuid4().hex[:8]}"
        await _admin(pg_url, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(pg_url).set(drivername="postgresql+asyncpg", database=name)
            await bench(url.render_as_string(hide_password=False), rows)
        finally:
            await _admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument(
        "database_url", nargs="?", default=os.environ.get("TEST_DATABASE_URL") or None,
        help="a PostgreSQL server to bench on too (a database is created there and dropped)",
    )  # fmt: skip
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.database_url))
