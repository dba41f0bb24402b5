"""How long an official waits for a city's initiative numbers and a council's workbook: a city
education union with 30 districts and 2,000 schools, 20,000 initiatives over two school years
(every stage of review, recognitions at school, district and city level, three council seats
per round, texts of a real request's length), one district holding a queue of about 500. Timed:
`/initiative stats` for the whole city and for one district, and that district's .xlsx export.
SQLite always; PostgreSQL too when a URL is given or TEST_DATABASE_URL is set (a database of its
own is created on that server and dropped).

    python bench/initiative_stats.py
    python bench/initiative_stats.py --initiatives 20000 postgresql+asyncpg://…
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
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openpyxl import load_workbook
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot import database
from bot.i18n import load_translator
from models import initiative_reports as reports
from models.access import Actor, Role, RoleAssignment, actor_for
from models.base import utcnow
from models.initiatives import (
    Initiative,
    InitiativeAuthor,
    InitiativeEvent,
    InitiativeField,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
    ReviewSeat,
)
from models.members import Identity, Member, MemberStatus
from models.movements import school_year_of
from models.org import OrgKind, OrgUnit

S = InitiativeStatus
L = RecognitionLevel
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
TRANSLATOR = partial(load_translator("vi").t, "vi")
SENTENCE = (
    "Giáo viên tổ chức cho học sinh làm việc theo nhóm với phiếu học tập số, theo dõi tiến độ "
    "từng em trên máy tính bảng và điều chỉnh nhiệm vụ ngay trong giờ học. "
)
QUEUE = 500  # initiatives of this school year that reach the first district


def _text(rng: random.Random, low: int, high: int) -> str:
    return (SENTENCE * 12)[: rng.randint(low, high)]


class Story:
    """One initiative's way through the councils: rows for its events, seats, recognitions."""

    def __init__(self, rng: random.Random, year: str, begins: datetime, ends: datetime,
                 reviewers: dict[int, list[int]]) -> None:
        self.rng, self.year, self.reviewers = rng, year, reviewers
        self.clock, self.ends = begins, ends
        self.step = (ends - begins) / 12
        self.events: list[dict[str, Any]] = []
        self.seats: list[dict[str, Any]] = []
        self.recognitions: list[dict[str, Any]] = []
        self.round = 0
        self.status = S.SUBMITTED

    def _tick(self) -> datetime:
        self.clock = min(self.clock + self.step * self.rng.random(), self.ends)
        return self.clock

    def event(self, unit: int, level: str, to: str, comment: str | None = None) -> None:
        self.events.append({"from_status": self.status, "to_status": to, "unit_id": unit,
                            "level": level, "comment": comment, "at": self._tick()})
        self.status = to

    def review(self, unit: int, level: str, outcome: str) -> None:
        """A council round at `unit`: three seats (the chair first), scored unless it is still
        under review (then two of three), and the outcome."""
        self.round += 1
        self.event(unit, level, S.UNDER_REVIEW)
        for number, reviewer in enumerate(self.reviewers[unit]):
            scored = outcome != S.UNDER_REVIEW or number < 2
            self.seats.append({
                "round": self.round, "reviewer_member_id": reviewer, "is_chair": number == 0,
                "novelty": self.rng.randint(4, 10) if scored else None,
                "effectiveness": self.rng.randint(4, 10) if scored else None,
                "applicability": self.rng.randint(4, 10) if scored else None,
                "comment": "Đề nghị công nhận." if scored else None,
                "scored_at": self._tick() if scored else None, "created_at": self.clock,
            })
        if outcome == S.UNDER_REVIEW:
            return
        self.event(unit, level, outcome, None if outcome == S.ACCEPTED else "Cần bổ sung số liệu.")
        if outcome == S.ACCEPTED:
            self.recognitions.append({
                "level": level, "unit_id": unit, "school_year": self.year,
                "decided_at": self.clock, "certificate_no": f"{self.rng.randint(1, 999)}/QĐ-CĐ",
            })
        elif outcome == S.RETURNED and self.rng.random() < 0.5:
            self.event(unit, level, S.RESUBMITTED)


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


async def load(url: str, schools: int, initiatives: int) -> tuple[list[int], int]:
    """The city, districts, schools, reviewers, authors and initiatives, in bulk; returns the
    districts' ids and the number of initiatives queued at the first district."""
    rng = random.Random(6)
    engine = database.create_engine(url)
    await database.upgrade(engine)
    now = utcnow()
    this_year = school_year_of(now, TZ)
    start = int(this_year[:4])
    last_year = f"{start - 1}-{start}"
    ranges = {
        this_year: (datetime(start, 9, 1, tzinfo=TZ), now),
        last_year: (datetime(start - 1, 9, 1, tzinfo=TZ), datetime(start, 8, 31, tzinfo=TZ)),
    }
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
        session.add(RoleAssignment(member_id=official.id, role=Role.OFFICIAL, unit_id=city.id))
        connection = await session.connection()

        # Three reviewers for each council: the city's and each district's (a school's council
        # borrows its district's, who sit above it).
        councils = [city, *districts]
        rows = [
            {"full_name": f"Thành viên hội đồng {unit.code}-{n}",
             "full_name_folded": f"thanh vien hoi dong {unit.code.lower()}-{n}",
             "unit_id": unit.id, "position": "teacher", "status": MemberStatus.ACTIVE,
             "created_at": now, "updated_at": now}
            for unit in councils for n in range(3)
        ]
        ids = [row[0] for row in (await connection.execute(
            insert(Member).returning(Member.id, sort_by_parameter_order=True), rows
        )).all()]
        reviewers = {unit.id: ids[3 * n : 3 * n + 3] for n, unit in enumerate(councils)}
        for school in school_units:
            reviewers[school.id] = reviewers[school.parent_id]  # type: ignore[index]
        rows = [
            {"full_name": f"Nguyễn Thị Tác Giả {n:05d}",
             "full_name_folded": f"nguyen thi tac gia {n:05d}",
             "unit_id": school_units[n % schools].id, "position": "teacher",
             "status": MemberStatus.ACTIVE, "created_at": now, "updated_at": now}
            for n in range(initiatives)
        ]
        authors = list((await connection.execute(
            insert(Member).returning(Member.id, Member.unit_id, sort_by_parameter_order=True), rows
        )).all())

        first = districts[0]
        first_schools = [s for s in school_units if s.parent_id == first.id]
        queued = 0
        fields = list(InitiativeField)
        records: list[dict[str, Any]] = []
        stories: list[Story] = []
        for number, (member_id, _) in enumerate(authors):
            year = this_year if number % 2 == 0 else last_year
            to_first = year == this_year and queued < QUEUE
            if to_first:
                school = first_schools[queued % len(first_schools)]
                queued += 1
            else:
                school = rng.choice(school_units)
            district_id = school.parent_id
            begins, ends = ranges[year]
            submitted = begins + (ends - begins) * rng.random() / 4
            story = Story(rng, year, submitted, ends, reviewers)
            # The school's council; a quarter of the accepted ones go up a level, and a
            # quarter of those up to the city (the first district takes its queue of 500).
            outcome = S.ACCEPTED if to_first else _pick(rng, {
                S.SUBMITTED: 0.08, S.UNDER_REVIEW: 0.08, S.RETURNED: 0.06, S.REJECTED: 0.13,
                S.ACCEPTED: 0.65,
            })
            unit, level = school.id, L.SCHOOL
            if outcome != S.SUBMITTED:
                story.review(unit, level, outcome)
            if story.status == S.ACCEPTED and (to_first or rng.random() < 0.25):
                unit, level = district_id, L.DISTRICT
                story.event(unit, level, S.SUBMITTED, "→ quận")
                outcome = _pick(rng, {
                    S.SUBMITTED: 0.2, S.UNDER_REVIEW: 0.25, S.RETURNED: 0.1, S.REJECTED: 0.15,
                    S.ACCEPTED: 0.3,
                })
                if outcome != S.SUBMITTED:
                    story.review(unit, level, outcome)
                if story.status == S.ACCEPTED and rng.random() < 0.25:
                    unit, level = city.id, L.CITY
                    story.event(unit, level, S.SUBMITTED, "→ thành phố")
                    outcome = _pick(rng, {S.SUBMITTED: 0.3, S.UNDER_REVIEW: 0.2,
                                          S.ACCEPTED: 0.5})
                    if outcome != S.SUBMITTED:
                        story.review(unit, level, outcome)
            stories.append(story)
            records.append({
                "submitter_member_id": member_id, "title": f"Sáng kiến số {number:05d}",
                "field": rng.choice(fields), "problem": _text(rng, 300, 1500),
                "solution": _text(rng, 600, 3000), "benefits": _text(rng, 200, 1000),
                "applied_where": school.name, "first_applied_on": submitted.date(),
                "confidential": "", "status": story.status, "origin_unit_id": school.id,
                "unit_id": unit, "level": level, "school_year": year, "round": story.round,
                "council_comment": None, "submitted_at": submitted, "created_at": submitted,
                "updated_at": story.clock,
            })
        initiative_ids = [row[0] for row in (await connection.execute(
            insert(Initiative).returning(Initiative.id, sort_by_parameter_order=True), records
        )).all()]
        children: dict[Any, list[dict[str, Any]]] = {
            InitiativeAuthor: [], InitiativeEvent: [], ReviewSeat: [], Recognition: [],
        }
        for initiative_id, story, record in zip(initiative_ids, stories, records, strict=True):
            children[InitiativeAuthor].append({
                "initiative_id": initiative_id, "member_id": record["submitter_member_id"],
                "name": "Tác giả", "share": 70, "position": 0,
            })
            children[InitiativeAuthor].append({
                "initiative_id": initiative_id, "member_id": None, "name": "Đồng tác giả",
                "share": 30, "position": 1,
            })
            first_event = {"from_status": S.DRAFT, "to_status": S.SUBMITTED,
                           "unit_id": record["origin_unit_id"], "level": L.SCHOOL,
                           "comment": None, "at": record["submitted_at"]}
            for row in [first_event, *story.events]:
                children[InitiativeEvent].append({"initiative_id": initiative_id,
                                                  "actor_member_id": None, **row})
            for row in story.seats:
                children[ReviewSeat].append({"initiative_id": initiative_id, **row})
            for row in story.recognitions:
                children[Recognition].append({"initiative_id": initiative_id, **row})
        for table, rows in children.items():
            for begin in range(0, len(rows), 5000):
                await connection.execute(insert(table), rows[begin : begin + 5000])
        await session.commit()
        counts = {table.__name__: len(rows) for table, rows in children.items()}
        print(f"  loaded: {len(records)} initiatives, {counts}")
        if session.bind.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load (the planner needs statistics).
            await session.exec(text("ANALYZE"))  # type: ignore[call-overload]
            await session.commit()
        result = [district.id for district in districts], queued
    await engine.dispose()
    return result


async def bench(url: str, schools: int, initiatives: int) -> None:
    name = url.split("+")[0]
    print(f"{name}: {schools} schools, {initiatives} initiatives")
    started = time.perf_counter()
    districts, queued = await load(url, schools, initiatives)
    print(f"  load {time.perf_counter() - started:.1f}s")
    engine = database.create_engine(url)
    factory = database.create_session_factory(engine)
    try:
        async with factory() as session:
            identity = (await session.exec(select(Identity))).one()
            actor: Actor = await actor_for(session, identity)

            async def timed(label: str, call):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                value = await call
                print(f"  {label:<38} {time.perf_counter() - started:>7.2f}s")
                return value

            now = utcnow()
            stats = await timed("/initiative stats, whole city",
                                reports.statistics(session, actor, now=now, tz=TZ))
            print(f"    {stats.school_year}: submitted {stats.total.submitted}, "
                  f"recognitions {stats.total.recognised}, {len(stats.by_unit)} districts")
            district = await timed("/initiative stats, one district", reports.statistics(
                session, actor, unit_id=districts[0], now=now, tz=TZ))
            print(f"    submitted {district.total.submitted}, recognitions "
                  f"{district.total.recognised}, {len(district.by_unit)} schools")
            await timed("/initiative stats, city, last year", reports.statistics(
                session, actor, school_year=stats.years[-1], now=now, tz=TZ))
            export = await timed("export .xlsx of the district's queue", reports.export_queue_xlsx(
                session, actor, unit_id=districts[0], translate=TRANSLATOR, tz=TZ, now=now))
            workbook = load_workbook(io.BytesIO(export.content), read_only=True)
            seats = sum(1 for _ in workbook.worksheets[1].iter_rows(min_row=3))
            print(f"    {export.initiatives} initiatives ({queued} sent up), {seats} seats, "
                  f"{len(export.content) / 1024 / 1024:.1f} MB")
            await session.rollback()
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


async def main(schools: int, initiatives: int, pg_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        await bench(f"sqlite+aiosqlite:///{tmp}/bench.db", schools, initiatives)
    if pg_url:
        name = f"unionbot_bench_{uuid.uuid4().hex[:8]}"
        await _admin(pg_url, f'CREATE DATABASE "{name}"')
        try:
            url = make_url(pg_url).set(drivername="postgresql+asyncpg", database=name)
            await bench(url.render_as_string(hide_password=False), schools, initiatives)
        finally:
            await _admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schools", type=int, default=2_000)
    parser.add_argument("--initiatives", type=int, default=20_000)
    parser.add_argument(
        "database_url", nargs="?", default=os.environ.get("TEST_DATABASE_URL") or None,
        help="a PostgreSQL server to bench on too (a database is created there and dropped)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.schools, args.initiatives, args.database_url))
