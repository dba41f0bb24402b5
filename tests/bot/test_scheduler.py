"""The scheduler's clock: ticks never overlap, a wake-up is never lost, stop() waits and hands an
unfinished announcement back. On both databases; time comes from a clock, nothing sleeps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import database
from bot.i18n import load_translator
from bot.scheduler import Scheduler
from bot.settings import Settings
from models import announcements as ann
from models.audience import Audience
from models.outbox import OutboxMessage
from tests.factories import Clock, actor_of, make_member, make_official, make_tree

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)



def _scheduler(engine: AsyncEngine, clock: Clock, **kwargs) -> Scheduler:  # type: ignore[no-untyped-def]
    return Scheduler(
        database.create_session_factory(engine), load_translator("vi"),
        Settings(_env_file=None), clock=clock, **kwargs,  # type: ignore[call-arg]
    )


async def _setup(
    engine: AsyncEngine, *, members: int, due: list[datetime], saved_at: datetime | None = None
) -> list[int]:
    """A district with an official and `members` teachers; one announcement to all of them per
    time in `due`."""
    async with database.create_session_factory(engine)() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["district"], telegram_id=9001)
        for n in range(members):
            await make_member(session, tree["trai"], f"Giáo viên {n}", telegram_id=100 + n)
        actor = await actor_of(session, official)
        ids = []
        for moment in due:
            saved = await ann.save(
                session, actor,
                ann.Draft(text="Họp công đoàn lúc 14:00", audience=Audience(whole_scope=True)),
                now=saved_at or NOW - timedelta(minutes=5), send_at=moment,
            )
            ids.append(saved.id)
        await session.commit()
    return ids  # type: ignore[return-value]


async def _queued(engine: AsyncEngine) -> list[tuple[int, int]]:
    async with database.create_session_factory(engine)() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [(row.source_id, row.member_id) for row in rows.all()]  # type: ignore[misc]


async def test_a_wake_during_a_tick_does_not_overlap_and_nothing_is_lost(
    engine: AsyncEngine,
) -> None:
    first, second = await _setup(engine, members=4, due=[NOW, NOW + timedelta(hours=1)])
    clock = Clock(NOW)
    overlapping: list[asyncio.Task[int]] = []
    scheduler: Scheduler

    def on_queued() -> None:
        # While the tick is under way: the second one becomes due and someone wakes the
        # scheduler (a handler's "send now"), and APScheduler's own interval fires too.
        clock.now = NOW + timedelta(hours=1)
        scheduler.wake()
        overlapping.append(asyncio.get_running_loop().create_task(scheduler.tick()))

    scheduler = _scheduler(engine, clock, on_queued=on_queued, batch_size=2)
    total = await scheduler.tick()
    # Never two at once: the overlapping calls waited for the running tick to go round once
    # more and count what it queued meanwhile, nothing of their own.
    counts = [await task for task in overlapping]
    assert counts and all(0 < count <= 10 for count in counts)
    assert total == 10  # both announcements, five recipients each, in the one tick
    assert await scheduler.tick() == 0
    await scheduler.stop()  # waits for the woken ticks too
    pairs = await _queued(engine)
    assert len(pairs) == len(set(pairs)) == 10
    assert {source for source, _ in pairs} == {first, second}


async def test_stop_waits_for_the_batch_and_the_next_start_continues_at_once(
    engine: AsyncEngine,
) -> None:
    [announcement_id] = await _setup(engine, members=6, due=[NOW])
    clock = Clock(NOW)
    stopping: list[asyncio.Task[None]] = []
    scheduler: Scheduler

    def on_queued() -> None:
        if not stopping:  # the process is asked to stop after the first batch
            stopping.append(asyncio.get_running_loop().create_task(scheduler.stop()))

    scheduler = _scheduler(engine, clock, on_queued=on_queued, batch_size=2)
    queued_before_stop = await scheduler.tick()
    await stopping[0]
    assert 0 < queued_before_stop < 7  # it stopped between two batches, none cut in half
    assert len(await _queued(engine)) == queued_before_stop
    assert await scheduler.tick() == 0  # a stopped scheduler does nothing
    async with database.create_session_factory(engine)() as session:
        stored = await session.get(ann.Announcement, announcement_id)
        assert stored is not None and stored.status == ann.AnnouncementStatus.SENDING

    # The restarted process continues from the cursor without waiting for the claim's lease.
    restarted = _scheduler(engine, Clock(NOW + timedelta(seconds=10)))
    assert await restarted.tick() == 7 - queued_before_stop
    pairs = await _queued(engine)
    assert len(pairs) == len(set(pairs)) == 7
    async with database.create_session_factory(engine)() as session:
        stored = await session.get(ann.Announcement, announcement_id)
        assert stored is not None
        assert (stored.status, stored.recipients) == (ann.AnnouncementStatus.SENT, 7)


async def test_start_runs_a_first_tick_and_stop_ends_the_clock(engine: AsyncEngine) -> None:
    # APScheduler runs on the real clock: the first tick is at "now".
    real = datetime.now(UTC)
    await _setup(engine, members=1, due=[real - timedelta(minutes=1)],
                 saved_at=real - timedelta(minutes=5))
    queued = asyncio.Event()
    scheduler = _scheduler(engine, Clock(real), on_queued=queued.set)
    scheduler.start()
    try:
        await asyncio.wait_for(queued.wait(), timeout=10)
    finally:
        await scheduler.stop()
    assert len(await _queued(engine)) == 2
