"""How long an official waits for a city's numbers: a city education union with 30 districts,
2,000 schools and 150,000 members (three in four women), one movement for all of them with
90,000 registrations at every stage; then the statistics (whole city, then one district), a
page of the registrants, the .xlsx export (2,000 unit sheets), and the export sent back with
one district's results filled in. SQLite always; PostgreSQL too when a URL is given or
TEST_DATABASE_URL is set (a database of its own is created on that server and dropped).

    python bench/movement_stats.py
    python bench/movement_stats.py --schools 2000 --members 150000 postgresql+asyncpg://…
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
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpyxl import load_workbook
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot import database
from bot.i18n import load_translator
from models import movement_reports as reports
from models.access import Actor, Role, RoleAssignment, actor_for
from models.base import fold, utcnow
from models.members import Identity, Member, MemberStatus
from models.movements import Movement, MovementStatus, Registration, RegistrationStatus
from models.org import OrgKind, OrgUnit
from tests.factories import TITLES

TRANSLATOR = partial(load_translator("vi").t, "vi")
STATUSES = (
    [RegistrationStatus.REGISTERED] * 4 + [RegistrationStatus.SUBMITTED] * 3
    + [RegistrationStatus.ACHIEVED] * 2
    + [RegistrationStatus.NOT_ACHIEVED, RegistrationStatus.WITHDRAWN]
)


async def load(url: str, schools: int, members: int) -> tuple[int, list[int]]:
    """The city, its districts and schools, members and registrations, in bulk; returns the
    movement's id and the districts' ids."""
    rng = random.Random(5)
    engine = database.create_engine(url)
    await database.upgrade(engine)
    now = utcnow()
    async with database.create_session_factory(engine)() as session:
        city = OrgUnit(code="HN", name="Công đoàn Giáo dục Hà Nội", name_folded="cong doan",
                       kind=OrgKind.INDUSTRY_UNION)
        session.add(city)
        await session.flush()
        city.path = f"/{city.id}/"
        districts = []
        for number in range(30):
            district = OrgUnit(code=f"Q{number:02d}", name=f"Quận {number:02d}",
                               name_folded=f"quan {number:02d}", kind=OrgKind.INDUSTRY_UNION,
                               parent_id=city.id)
            session.add(district)
            await session.flush()
            district.path = f"{city.path}{district.id}/"
            districts.append(district)
        school_units = []
        for number in range(schools):
            district = districts[number % len(districts)]
            school = OrgUnit(code=f"T{number:05d}", name=f"Trường số {number:05d}",
                             name_folded=f"truong so {number:05d}", kind=OrgKind.GRASSROOTS,
                             parent_id=district.id)
            session.add(school)
            school_units.append(school)
        await session.flush()
        paths = {district.id: district.path for district in districts}
        for school in school_units:
            school.path = f"{paths[school.parent_id]}{school.id}/"
        official = Member(full_name="Trần Văn Hùng", full_name_folded="tran van hung",
                          unit_id=city.id, position="manager", status=MemberStatus.ACTIVE)
        session.add(official)
        await session.flush()
        session.add(Identity(channel="telegram", external_id="1", member_id=official.id))
        movement = Movement(
            name="Giỏi việc trường, đảm việc nhà", titles=TITLES, owner_unit_id=city.id,
            target_everyone=True, registration_deadline=now, assessment_opens=now,
            assessment_closes=now, status=MovementStatus.OPEN, school_year="2026-2027",
        )
        session.add(movement)
        await session.flush()
        connection = await session.connection()
        rows = []
        for number in range(members):
            name = f"Nguyễn Thị Người {number:06d}"
            rows.append({
                "full_name": name, "full_name_folded": fold(name),
                "unit_id": school_units[number % schools].id, "position": "teacher",
                "gender": "female" if rng.random() < 0.75 else "male",
                "status": MemberStatus.ACTIVE, "created_at": now, "updated_at": now,
            })
        ids = list((await connection.execute(
            insert(Member).returning(Member.id, Member.unit_id, sort_by_parameter_order=True),
            rows,
        )).all())
        registrations = [
            {
                "movement_id": movement.id, "registrant": f"m:{member_id}",
                "member_id": member_id, "unit_id": unit_id, "collective": False,
                "title_code": "GVTDVN", "status": rng.choice(STATUSES),
                "school_year": "2026-2027", "created_at": now, "updated_at": now,
            }
            for member_id, unit_id in ids
            if rng.random() < 0.6
        ]
        for start in range(0, len(registrations), 5000):
            await connection.execute(insert(Registration), registrations[start : start + 5000])
        session.add(RoleAssignment(member_id=official.id, role=Role.OFFICIAL, unit_id=city.id))
        await session.commit()
        if session.bind.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load: without statistics the planner joins
            # members unit by unit and the city's numbers take seconds instead of a tenth.
            await session.exec(text("ANALYZE"))  # type: ignore[call-overload]
            await session.commit()
        result = movement.id, [district.id for district in districts]
    await engine.dispose()
    return result  # type: ignore[return-value]


async def bench(url: str, schools: int, members: int) -> None:
    movement_id, districts = await load(url, schools, members)
    engine = database.create_engine(url)
    factory = database.create_session_factory(engine)
    name = url.split("+")[0]
    print(f"{name}: {schools} schools, {members} members")
    try:
        async with factory() as session:
            identity = (await session.exec(select(Identity))).one()
            actor: Actor = await actor_for(session, identity)

            async def timed(label: str, call):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                value = await call
                print(f"  {label:<34} {time.perf_counter() - started:>7.2f}s")
                return value

            stats = await timed("statistics, whole city",
                                reports.statistics(session, actor, movement_id=movement_id))
            print(f"    registered {stats.total.registered}, achieved {stats.total.achieved}")
            await timed("statistics, one district", reports.statistics(
                session, actor, movement_id=movement_id, unit_id=districts[0]))
            await timed("registrants, one page",
                        reports.registrants_overview(session, actor, movement_id=movement_id))
            content = await timed("export .xlsx", reports.export_xlsx(
                session, actor, movement_id=movement_id, translate=TRANSLATOR,
                tz=ZoneInfo("Asia/Ho_Chi_Minh")))
            print(f"    {len(content) / 1024 / 1024:.1f} MB")
            workbook = load_workbook(io.BytesIO(content))
            filled = 0
            for sheet in workbook.worksheets[1:70]:
                for row in sheet.iter_rows(min_row=3):
                    row[11].value = "Đạt"
                    filled += 1
            buffer = io.BytesIO()
            workbook.save(buffer)
            result = await timed(f"import {filled} results", reports.import_results(
                session, actor, movement_id=movement_id, filename="kq.xlsx",
                content=buffer.getvalue(), now=utcnow(), valid_rows=True))
            await session.commit()
            print(f"    changed {len(result.changed)}, bad {len(result.bad_rows)}")
    finally:
        await engine.dispose()


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    parts = make_url(url)
    connection = await asyncpg.connect(
        user=parts.username, password=parts.password, host=parts.host or "127.0.0.1",
        port=parts.port or 5432, database=parts.database or "postgres",
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def main(schools: int, members: int, pg_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await bench(f"sqlite+aiosqlite:///{tmp}/bench.db", schools, members)
    if pg_url:
        name = f"unionbot_bench_{uuid.uuid4().hex[:8]}"
        await _admin(pg_url, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(pg_url).set(drivername="postgresql+asyncpg", database=name)
            await bench(url.render_as_string(hide_password=False), schools, members)
        finally:
            await _admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=2_000)
    parser.add_argument("--members", type=int, default=150_000)
    parser.add_argument(
        "database_url", nargs="?", default=os.environ.get("TEST_DATABASE_URL") or None,
        help="a PostgreSQL server to bench on too (a database is created there and dropped)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.schools, args.members, args.database_url))
