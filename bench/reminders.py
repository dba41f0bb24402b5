"""Reminders at scale, on PostgreSQL.

1. One deadline for a whole district: --members (150,000) active members with a Telegram account
   in one district of --schools (500) schools, one open movement of the district whose
   registration deadline is 7 days away; 1 in 10 members has already registered, 1 in 100 muted
   registration reminders, 1 in 100 has quiet hours of their own that hold it. Timed: the
   `Scheduler.tick()` at 08:00 local that finds the 7-day reminder due, claims its run and
   queues every recipient into the outbox (batches committed), in a process of its own so its
   peak RSS is the tick's alone.
2. The tick's cost with nothing due does not grow with what is stored: --ticks ticks with
   nothing due on an empty database, then on one holding --movements (2,000) open movements
   with deadlines months away, --runs (100,000) rows of reminder_run history and 1,000 ended
   event reminders (plus, from part 1, the district's members and outbox rows).

Databases of their own are created on the server of --database-url (or TEST_DATABASE_URL) and
dropped at the end.

    python bench/reminders.py
    python bench/reminders.py --members 150000 postgresql+asyncpg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert
from sqlmodel import select

from bench.scratch import default_admin_url, insert_teachers, scratch_databases
from bot import database
from models.movements import Movement, MovementStatus, MovementTarget, Registration
from models.org import OrgKind, create_unit
from models.outbox import OutboxMessage
from models.reminders import (
    EventReminder,
    EventStatus,
    ReminderPreference,
    ReminderRun,
    RunStatus,
    occurrence_key,
    reminder_time,
)

CHUNK = 10_000
HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# The registration deadline: 23:59:59 on 15/12/2026 local; its 7-day reminder is due at NOW.
DEADLINE = datetime(2026, 12, 15, 16, 59, 59, tzinfo=UTC)
NOW = reminder_time(DEADLINE, 7, HCM)


def _movement(owner_id: int, name: str, deadline: datetime) -> dict:  # type: ignore[type-arg]
    return {
        "name": name, "description": "", "criteria": ["Hoàn thành tốt nhiệm vụ"],
        "titles": [{"code": "LDTT", "name": "Lao động tiên tiến", "collective": False}],
        "owner_unit_id": owner_id, "target_everyone": False, "registration_deadline": deadline,
        "assessment_opens": deadline + timedelta(days=30),
        "assessment_closes": deadline + timedelta(days=60), "requires_approval": False,
        "status": MovementStatus.OPEN, "school_year": "2026-2027",
        "created_at": NOW, "updated_at": NOW,
    }


async def populate(url: str, members: int, schools: int) -> int:
    """The district, its schools, members (bulk inserts), the movement; returns its id."""
    engine = database.create_engine(url)
    await database.upgrade(engine)
    async with database.create_session_factory(engine)() as session:
        city = await create_unit(session, code="HN", name="Công đoàn Giáo dục Hà Nội",
                                 kind=OrgKind.INDUSTRY_UNION)
        district = await create_unit(session, code="HN-BD", name="Công đoàn Giáo dục quận Ba Đình",
                                     kind=OrgKind.INDUSTRY_UNION, parent=city)
        units = [
            await create_unit(session, code=f"HN-BD-{n:04d}", name=f"Trường số {n}",
                              kind=OrgKind.GRASSROOTS, parent=district)
            for n in range(schools)
        ]
        await session.commit()
        connection = await session.connection()
        movement_id = (await connection.execute(
            insert(Movement).returning(Movement.id),
            [_movement(district.id, "Giỏi việc trường, đảm việc nhà", DEADLINE)],  # type: ignore[arg-type]
        )).scalar_one()
        await connection.execute(insert(MovementTarget), [
            {"movement_id": movement_id, "unit_id": district.id}
        ])
        for start in range(0, members, CHUNK):
            count = min(CHUNK, members - start)
            ids = await insert_teachers(
                connection, units, start=start, count=count, now=NOW
            )
            await connection.execute(insert(Registration), [
                {"movement_id": movement_id, "registrant": f"m:{member_id}",
                 "member_id": member_id, "unit_id": units[(start + n) % schools].id,
                 "collective": False, "title_code": "LDTT", "status": "registered",
                 "school_year": "2026-2027", "created_at": NOW, "updated_at": NOW}
                for n, member_id in enumerate(ids) if n % 10 == 3
            ])
            await connection.execute(insert(ReminderPreference), [
                {"member_id": member_id,
                 "muted": ["registration"] if n % 100 == 7 else [],
                 "quiet_start": "07:00" if n % 100 == 57 else "21:00",
                 "quiet_end": "09:00" if n % 100 == 57 else "06:30", "updated_at": NOW}
                for n, member_id in enumerate(ids) if n % 50 == 7
            ])
        await session.commit()
    await _analyze(engine)
    await engine.dispose()
    return int(movement_id)


async def store_history(url: str, movements: int, runs: int) -> None:
    """What piles up over the years: open movements with deadlines months away, reminder runs
    of the past, ended event reminders."""
    engine = database.create_engine(url)
    async with database.create_session_factory(engine)() as session:
        owner = await create_unit(session, code="HIST", name="Công đoàn Giáo dục Lịch sử",
                                  kind=OrgKind.INDUSTRY_UNION)
        await session.commit()
        connection = await session.connection()
        ids = [row[0] for row in (await connection.execute(
            insert(Movement).returning(Movement.id, sort_by_parameter_order=True),
            [_movement(owner.id, f"Phong trào {n}",  # type: ignore[arg-type]
                       NOW + timedelta(days=90 + n % 270, hours=n % 24))
             for n in range(movements)],
        )).all()]
        for start in range(0, runs, CHUNK):
            rows = []
            for n in range(start, min(runs, start + CHUNK)):
                deadline = NOW - timedelta(days=30 + n // 3)  # long past
                rows.append({
                    "category": "registration", "source_type": "movement",
                    "source_id": ids[n % len(ids)], "occurrence": occurrence_key(deadline, n % 3),
                    "due_at": deadline - timedelta(days=n % 3), "deadline_at": deadline,
                    "status": RunStatus.SENT, "claimed_at": deadline, "cursor_member_id": 0,
                    "queued": 100, "created_at": deadline, "finished_at": deadline,
                })
            await connection.execute(insert(ReminderRun), rows)
        await connection.execute(insert(EventReminder), [
            {"title": f"Họp {n}", "text": "Họp", "audience": {"whole_scope": True},
             "rule": "once", "next_run_at": None, "status": EventStatus.ENDED,
             "created_at": NOW, "updated_at": NOW}
            for n in range(1000)
        ])
        await session.commit()
    await _analyze(engine)
    await engine.dispose()


async def _analyze(engine) -> None:  # type: ignore[no-untyped-def]
    # As autovacuum would shortly after a bulk import (the planner needs statistics).
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("ANALYZE")


def _scheduler(url: str, now: datetime):  # type: ignore[no-untyped-def]
    from bot.i18n import load_translator
    from bot.scheduler import Scheduler
    from bot.settings import Settings

    engine = database.create_engine(url)
    sessions = database.create_session_factory(engine)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return engine, sessions, Scheduler(sessions, load_translator("vi"), settings,
                                       clock=lambda: now)


async def queue(url: str) -> None:
    """The child: the tick at 08:00 local 7 days before; prints its figures as JSON."""
    engine, sessions, scheduler = _scheduler(url, NOW)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    queued = await scheduler.tick()
    seconds = time.perf_counter() - started
    async with sessions() as session:
        rows = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
        held = (await session.exec(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.next_attempt_at > NOW))).one()
    await engine.dispose()
    print(json.dumps({
        "queued": queued, "rows": rows, "held": held, "seconds": seconds,
        "rss_before_mb": rss_before,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


async def idle_ticks(url: str, ticks: int, now: datetime) -> float:
    """The median time of a tick with nothing due, in ms."""
    engine, _, scheduler = _scheduler(url, now)
    assert await scheduler.tick() == 0  # warms the pool and the statement caches
    times = []
    for _ in range(ticks):
        started = time.perf_counter()
        assert await scheduler.tick() == 0
        times.append((time.perf_counter() - started) * 1000)
    await engine.dispose()
    return statistics.median(times)


async def main(args: argparse.Namespace) -> None:
    async with scratch_databases(args.database_url, 2) as [big, empty]:
        started = time.perf_counter()
        await populate(big, args.members, args.schools)
        print(f"reminders benchmark: PostgreSQL, {args.members:,} members in one district of "
              f"{args.schools} schools, one registration deadline 7 days away "
              f"(set up in {time.perf_counter() - started:.0f} s)")
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "_queue", "--url", big, stdout=subprocess.PIPE,
        )
        out, _ = await child.communicate()
        if child.returncode:
            raise SystemExit(f"the queuing process failed ({child.returncode})")
        result = json.loads(out.decode().strip().splitlines()[-1])
        print(f"the 7-day reminder: {result['queued']:,} messages queued "
              f"({result['held']:,} held by quiet hours) in {result['seconds']:.1f} s: "
              f"{result['queued'] / result['seconds']:,.0f}/s")
        print(f"peak RSS of the ticking process: {result['max_rss_mb']:.0f} MB "
              f"({result['rss_before_mb']:.0f} MB before the tick)")

        engine = database.create_engine(empty)
        await database.upgrade(engine)
        await engine.dispose()
        later = NOW + timedelta(hours=1)
        idle_empty = await idle_ticks(empty, args.ticks, later)
        started = time.perf_counter()
        await store_history(big, args.movements, args.runs)
        stored = time.perf_counter() - started
        idle_full = await idle_ticks(big, args.ticks, DEADLINE + timedelta(days=4))
        idle_near = await idle_ticks(big, args.ticks, later)
        print(f"a tick with nothing due (median of {args.ticks}): empty database "
              f"{idle_empty:.1f} ms; with {args.movements:,} open movements (deadlines months "
              f"away), {args.runs:,} reminder runs of history, 1,000 ended event reminders and "
              f"the {args.members:,} members and their outbox rows {idle_full:.1f} ms; the same "
              f"an hour after the 7-day reminder (its deadline near, looked at each tick) "
              f"{idle_near:.1f} ms (history stored in {stored:.0f} s)")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_queue":
        parser = argparse.ArgumentParser()
        parser.add_argument("_queue")
        parser.add_argument("--url")
        asyncio.run(queue(parser.parse_args().url))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--members", type=int, default=150_000)
        parser.add_argument("--schools", type=int, default=500)
        parser.add_argument("--movements", type=int, default=2_000)
        parser.add_argument("--runs", type=int, default=100_000)
        parser.add_argument("--ticks", type=int, default=50)
        parser.add_argument(
            "database_url", nargs="?",
            default=default_admin_url(),
        )
        asyncio.run(main(parser.parse_args()))
