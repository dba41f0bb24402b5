"""The scheduler's reminders across restarts and processes: what was due while the bot was down,
two bot processes on one database, a process that dies half-way, a process that stops. On both
databases; time comes from a clock, nothing sleeps."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import database
from bot.i18n import load_translator
from bot.scheduler import Scheduler
from bot.settings import Settings
from models import reminders as rem
from models.audience import Audience
from models.outbox import OutboxMessage
from models.reminders import ReminderRun, RunStatus
from tests.factories import Clock, actor_of, make_member, make_movement, make_official, make_tree

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=HCM).astimezone(UTC)


DEADLINE = datetime(2026, 12, 15, 16, 59, 59, tzinfo=UTC)  # 23:59:59 on the 15th, local



def _scheduler(engine: AsyncEngine, clock: Clock, **kwargs) -> Scheduler:  # type: ignore[no-untyped-def]
    return Scheduler(
        database.create_session_factory(engine), load_translator("vi"),
        Settings(_env_file=None), clock=clock, **kwargs,  # type: ignore[call-arg]
    )


async def _setup(engine: AsyncEngine, *, members: int, events: int = 0) -> list[int]:
    """`members` teachers (Telegram 101, …), an official of the district (9001), an open movement
    of the district with registration until DEADLINE; `events` daily event reminders at 08:00
    by the official (from the 8th). Returns the movement's id and the events' ids."""
    async with database.create_session_factory(engine)() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["district"], telegram_id=9001)
        for n in range(members):
            unit = tree["trai"] if n % 2 else tree["du"]
            await make_member(session, unit, f"Giáo viên {n}", telegram_id=101 + n)
        movement = await make_movement(
            session, tree["district"], registration_deadline=DEADLINE,
            assessment_opens=DEADLINE + timedelta(days=60),
            assessment_closes=DEADLINE + timedelta(days=70),
        )
        actor = await actor_of(session, official)
        ids = [movement.id]
        for n in range(events):
            event = await rem.create_event_reminder(
                session, actor, title=f"Họp tổ {n}", text="Họp tổ chuyên môn lúc 14:00",
                audience=Audience(whole_scope=True), rule=rem.daily_rule(8, 0), first_at=None,
                now=local(7, 9), tz=HCM,
            )
            ids.append(event.id)
        await session.commit()
    return ids  # type: ignore[return-value]


async def _rows(engine: AsyncEngine) -> list[OutboxMessage]:
    async with database.create_session_factory(engine)() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return list(rows.all())


async def _runs(engine: AsyncEngine) -> list[ReminderRun]:
    async with database.create_session_factory(engine)() as session:
        rows = await session.exec(select(ReminderRun).order_by(col(ReminderRun.id)))
        return list(rows.all())


def _per_member_and_run(rows: list[OutboxMessage]) -> Counter[tuple[int | None, int | None]]:
    return Counter((row.source_id, row.member_id) for row in rows)


# --- restart ---------------------------------------------------------------------------------


async def test_a_reminder_due_while_down_is_sent_at_start_if_still_useful(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture,
) -> None:
    await _setup(engine, members=2)
    # Down from before the 7-day reminder (the 8th) until 09:00 on the 12th (3 days before).
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    assert await _scheduler(engine, Clock(local(12, 9))).tick() == 3
    runs = await _runs(engine)
    assert [(r.occurrence.split("/")[1], r.status, r.reason) for r in runs] == [
        ("7", RunStatus.SKIPPED, "superseded"), ("3", RunStatus.SENT, None),
    ]
    assert any("skipped: a later one is sent" in m for m in caplog.messages)
    assert all("Giáo viên" not in m for m in caplog.messages)  # ids only in the logs


async def test_a_reminder_whose_deadline_passed_while_down_is_skipped_and_logged(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture,
) -> None:
    await _setup(engine, members=2)
    clock = Clock(local(7, 9))
    assert await _scheduler(engine, clock).tick() == 0
    # Down from the 7th until the day after the deadline.
    caplog.set_level(logging.INFO, logger="bot.scheduler")
    clock.now = local(16, 9)
    restarted = _scheduler(engine, clock)
    assert await restarted.tick() == 0
    assert await _rows(engine) == []
    runs = await _runs(engine)
    assert [(r.occurrence.split("/")[1], r.status, r.reason) for r in runs] == [
        ("7", RunStatus.SKIPPED, "late"), ("3", RunStatus.SKIPPED, "late"),
        ("1", RunStatus.SKIPPED, "late"),
    ]
    late = [m for m in caplog.messages if "its deadline has passed" in m]
    assert len(late) == 3
    caplog.clear()
    assert await restarted.tick() == 0  # recorded once, logged once
    assert not [m for m in caplog.messages if "skipped" in m]


async def test_a_stopped_process_hands_its_run_back_and_the_next_start_continues_at_once(
    engine: AsyncEngine,
) -> None:
    await _setup(engine, members=6)  # 7 recipients with the official
    clock = Clock(local(8, 8))
    stopping: list[asyncio.Task[None]] = []
    scheduler: Scheduler

    def on_queued() -> None:
        if not stopping:
            stopping.append(asyncio.get_running_loop().create_task(scheduler.stop()))

    scheduler = _scheduler(engine, clock, on_queued=on_queued, batch_size=2)
    before = await scheduler.tick()
    await stopping[0]
    assert 0 < before < 7
    clock.now += timedelta(seconds=10)  # well inside the claim's lease
    assert await _scheduler(engine, clock).tick() == 7 - before
    rows = await _rows(engine)
    assert len(rows) == len({row.member_id for row in rows}) == 7
    [run] = await _runs(engine)
    assert (run.status, run.queued) == (RunStatus.SENT, 7)


# --- processes -------------------------------------------------------------------------------


async def test_two_processes_ticking_at_once_never_send_a_reminder_twice(
    database_url: str,
) -> None:
    engines = [database.create_engine(database_url) for _ in range(2)]
    try:
        ids = await _setup(engines[0], members=11, events=3)
        clock = Clock(local(8, 8))  # the 7-day reminder and the three events, at once
        schedulers = [_scheduler(engine, clock, batch_size=3) for engine in engines]
        for moment in (local(8, 8), local(8, 8, 1), local(9, 8), local(12, 8)):
            clock.now = moment
            for _ in range(3):  # several rounds, each with both processes (and a wake-up)
                await asyncio.gather(*(s.tick() for s in schedulers), schedulers[1].tick())
        rows = await _rows(engines[0])
        counts = _per_member_and_run(rows)
        assert set(counts.values()) == {1}
        runs = await _runs(engines[0])
        assert len(runs) == len({(r.category, r.source_id, r.occurrence) for r in runs})
        by_run = Counter(row.source_id for row in rows)
        # 12 recipients each: registration (7-day, 3-day) and two days of three events; the
        # events' times on the 10th and 11th were found late on the 12th (down meanwhile).
        assert sorted(by_run.values()) == [12] * 8
        assert Counter(r.status for r in runs) == {RunStatus.SENT: 8, RunStatus.SKIPPED: 3}
        assert {r.source_id for r in runs if r.category == rem.Category.EVENT} == set(ids[1:])
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_run_of_a_process_that_died_is_resumed_after_the_lease_by_another(
    database_url: str,
) -> None:
    engines = [database.create_engine(database_url) for _ in range(2)]
    try:
        await _setup(engines[0], members=8)  # 9 recipients
        sessions = database.create_session_factory(engines[0])
        now = local(8, 8)
        # The first process claims the run and queues one batch of two, then dies.
        async with sessions() as session:
            send, _ = await rem.due_deadline_reminders(session, now=now, tz=HCM)
            run_id = await rem.claim_run(session, send[0], now=now)
            await session.commit()
        assert run_id is not None
        dead = _scheduler(engines[0], Clock(now), batch_size=2)
        render = functools.partial(dead._render_reminder, now=now, sender=None)
        async with sessions() as session:
            batch = await rem.queue_run_batch(session, run_id, now=now, tz=HCM, render=render,
                                              batch_size=2)
            await session.commit()
        assert batch == rem.Batch(queued=2, done=False)
        clock = Clock(now + rem.CLAIM_LEASE - timedelta(seconds=1))
        schedulers = [_scheduler(engine, clock, batch_size=2) for engine in engines]
        assert sum(await asyncio.gather(*(s.tick() for s in schedulers))) == 0  # still held
        clock.now = now + rem.CLAIM_LEASE + timedelta(seconds=1)
        assert sum(await asyncio.gather(*(s.tick() for s in schedulers))) == 7  # the rest
        rows = await _rows(engines[0])
        assert len(rows) == len({row.member_id for row in rows}) == 9
        [run] = await _runs(engines[0])
        assert (run.status, run.queued, run.reason) == (RunStatus.SENT, 9, None)
    finally:
        for engine in engines:
            await engine.dispose()
