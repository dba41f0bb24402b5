"""How long the scheduler takes to queue an announcement to a whole district into the delivery
outbox, and the memory it needs: --members (150,000) active members with a Telegram account in
one district of --schools (500) schools, one official of the district, one announcement to the
whole scope (with an acknowledgement button), due now. Timed: one `Scheduler.tick()` (claim,
resolve the audience batch by batch, render, insert the outbox rows, all committed), in a process
of its own so its peak RSS is the queuing's alone.

A database of its own is created on the server of --database-url (or TEST_DATABASE_URL) and
dropped at the end.

    python bench/announce_queue.py
    python bench/announce_queue.py --members 150000 postgresql+asyncpg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func
from sqlmodel import select

from bench.scratch import default_admin_url, insert_teachers, scratch_databases
from bot import database
from models.access import Role, RoleAssignment
from models.members import Identity, Member, MemberStatus
from models.org import OrgKind, create_unit
from models.outbox import OutboxMessage

CHUNK = 10_000


async def populate(url: str, members: int, schools: int) -> int:
    """The district, its schools and members (bulk inserts); returns the announcement's id."""
    from models import announcements as ann
    from models.access import actor_for
    from models.audience import Audience

    engine = database.create_engine(url)
    await database.upgrade(engine)
    now = datetime.now(UTC)
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
        official = Member(full_name="Trần Văn Hùng", full_name_folded="tran van hung",
                          unit_id=district.id, position="manager", status=MemberStatus.ACTIVE)  # type: ignore[arg-type]
        session.add(official)
        await session.flush()
        identity = Identity(channel="telegram", external_id="1", member_id=official.id)
        session.add(identity)
        session.add(RoleAssignment(member_id=official.id, role=Role.OFFICIAL, unit_id=district.id))
        await session.commit()
        connection = await session.connection()
        for start in range(0, members - 1, CHUNK):
            count = min(CHUNK, members - 1 - start)
            await insert_teachers(
                connection, units, start=start, count=count, now=now
            )
        await session.commit()
        actor = await actor_for(session, identity)
        saved = await ann.save(
            session, actor,
            ann.Draft(text="Kính gửi các đồng chí: <b>họp công đoàn</b> lúc 14:00 thứ Sáu.",
                      ack_requested=True, audience=Audience(whole_scope=True)),
            now=now,
        )
        await session.commit()
        announcement_id = int(saved.id)  # type: ignore[arg-type]
    # As autovacuum would within a minute of a bulk import: without statistics the planner
    # takes the 150,000 fresh rows for a handful and picks a plan that is O(members) per batch.
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("ANALYZE")
    await engine.dispose()
    return announcement_id


async def queue(url: str) -> None:
    """The child: one scheduler tick; prints its figures as JSON."""
    from bot.i18n import load_translator
    from bot.scheduler import Scheduler
    from bot.settings import Settings

    engine = database.create_engine(url)
    sessions = database.create_session_factory(engine)
    scheduler = Scheduler(sessions, load_translator("vi"), Settings(_env_file=None))  # type: ignore[call-arg]
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    queued = await scheduler.tick()
    seconds = time.perf_counter() - started
    async with sessions() as session:
        rows = (await session.exec(select(func.count()).select_from(OutboxMessage))).one()
    await engine.dispose()
    print(json.dumps({
        "queued": queued, "rows": rows, "seconds": seconds,
        "rss_before_mb": rss_before,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


async def main(args: argparse.Namespace) -> None:
    async with scratch_databases(args.database_url) as [url]:
        started = time.perf_counter()
        await populate(url, args.members, args.schools)
        setup = time.perf_counter() - started
        print(f"announcement queuing benchmark: PostgreSQL, {args.members:,} members in one "
              f"district of {args.schools} schools (set up in {setup:.0f} s)")
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "_queue", "--url", url, stdout=subprocess.PIPE,
        )
        out, _ = await child.communicate()
        if child.returncode:
            raise SystemExit(f"the queuing process failed ({child.returncode})")
        result = json.loads(out.decode().strip().splitlines()[-1])
        print(f"queued {result['queued']:,} messages ({result['rows']:,} outbox rows) in "
              f"{result['seconds']:.1f} s: {result['queued'] / result['seconds']:,.0f}/s")
        print(f"peak RSS of the queuing process: {result['max_rss_mb']:.0f} MB "
              f"({result['rss_before_mb']:.0f} MB before the tick)")


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
        parser.add_argument(
            "database_url", nargs="?",
            default=default_admin_url(),
        )
        asyncio.run(main(parser.parse_args()))
