"""The clock: APScheduler runs a short periodic tick in the bot process that moves what is due
into the delivery outbox — scheduled announcements now, reminders next.

What is due lives in the database, never in the scheduler's memory: a restart loses nothing,
and two bot processes on one PostgreSQL never queue the same thing twice (each announcement is
claimed with a conditional UPDATE, see models/announcements.claim_due; its recipients are
queued in committed batches with a cursor, so a process that dies half-way leaves the rest to
the next tick, and the outbox's unique keys make a batch queued again add nothing).

"Send now" does not wait for the next tick: the handler commits the announcement as due and
calls `Services.wake_up()`, which runs a tick at once. Ticks never overlap: a wake-up during a
tick makes that tick run once more.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.database import SessionFactory
from bot.i18n import Translator
from bot.settings import Settings
from models import announcements, reminders
from models.access import Actor, author_actor
from models.org import OrgUnit

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        sessions: SessionFactory,
        translator: Translator,
        settings: Settings,
        *,
        clock: Clock = _utcnow,
        on_queued: Callable[[], None] | None = None,
        batch_size: int = announcements.QUEUE_BATCH,
    ) -> None:
        self.sessions = sessions
        self.translator = translator
        self.settings = settings
        self.clock = clock
        self.on_queued = on_queued or (lambda: None)
        self.batch_size = batch_size
        self._lock = asyncio.Lock()
        self._again = False
        self._queued = 0  # messages queued by this scheduler since it was made
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._aps: AsyncIOScheduler | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.add_job(
            self.tick, "interval", seconds=self.settings.scheduler_tick_seconds,
            id="tick", max_instances=1, coalesce=True, next_run_time=self.clock(),
        )
        self._aps.start()

    async def stop(self) -> None:
        """Waits for a tick under way to finish its current batch (never cut in the middle:
        the announcement is handed back and the next start continues from its cursor)."""
        self._stopping = True
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        await asyncio.gather(*self._tasks, return_exceptions=True)
        async with self._lock:  # a tick started by APScheduler finishes its batch
            pass

    def wake(self) -> None:
        """Something was committed as due: tick now (in the background)."""
        if self._stopping:
            return
        task = asyncio.get_running_loop().create_task(self.tick())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the tick ----------------------------------------------------------------------------

    async def tick(self) -> int:
        """Queues every announcement and reminder due now; returns how many messages were
        queued from the call to its return. Ticks never overlap: a call during a tick makes
        that tick run once more and waits for it (what it queued is counted for both)."""
        if self._stopping:
            return 0
        start = self._queued
        if self._lock.locked():
            self._again = True
            async with self._lock:  # the running tick has gone round once more
                pass
            return self._queued - start
        async with self._lock:
            while True:
                self._again = False
                for step in (self._announcements, self._reminders):
                    try:
                        self._queued += await step()
                    except Exception:  # one bad step must not stop the clock
                        log.exception("scheduler tick failed in %s", step.__name__)
                if not self._again or self._stopping:
                    break
        return self._queued - start

    async def _announcements(self) -> int:
        """Claims due announcements one at a time (a long one does not hold the others' claims
        past their lease) and queues each; one that breaks is logged and the others go on (it
        stays claimed, and is tried again after the lease)."""
        queued = 0
        while not self._stopping:
            async with self.sessions() as session:
                taken = await announcements.claim_due(session, now=self.clock(), limit=1)
                await session.commit()
            if not taken:
                return queued
            announcement_id = taken[0]
            try:
                queued += await self.queue(announcement_id)
            except Exception:
                log.exception("announcement %s could not be queued", announcement_id)
        return queued

    async def queue(self, announcement_id: int) -> int:
        """Queues one claimed announcement batch by batch, each committed."""
        queued = 0
        while True:
            async with self.sessions() as session:
                actor = await self._author(session, announcement_id)
                batch = await announcements.queue_batch(
                    session, announcement_id, actor=actor, now=self.clock(),
                    t=self.translator.t, default_locale=self.settings.default_locale,
                    batch_size=self.batch_size,
                )
                await session.commit()
            queued += batch.queued
            if batch.queued:
                self.on_queued()
            if batch.done:
                log.info("announcement %s: %d messages queued", announcement_id, queued)
                return queued
            if self._stopping:
                async with self.sessions() as session:
                    await announcements.release_claim(session, announcement_id, now=self.clock())
                    await session.commit()
                log.info("announcement %s: stopped after %d messages, the rest at next start",
                         announcement_id, queued)
                return queued

    async def _author(self, session, announcement_id: int) -> Actor | None:  # type: ignore[no-untyped-def]
        announcement = await session.get(announcements.Announcement, announcement_id)
        if announcement is None:
            return None
        return await author_actor(
            session, identity_id=announcement.author_identity_id,
            member_id=announcement.author_member_id,
            admin_telegram_ids=self.settings.admin_telegram_ids,
        )

    # --- reminders ---------------------------------------------------------------------------

    async def _reminders(self) -> int:
        """Claims the reminders due now (a run row each: inserting it is the claim) and the runs
        a dead process left half-queued, records the ones no longer useful as skipped, then
        queues each claimed run."""
        now, tz = self.clock(), self.settings.tz
        async with self.sessions() as session:
            send, skip = await reminders.due_deadline_reminders(session, now=now, tz=tz)
            events = await reminders.claim_due_events(session, now=now, tz=tz)
            for due in skip:
                late = due.deadline_at is not None and now >= due.deadline_at
                if await reminders.claim_run(session, due, now=now,
                                             skip="late" if late else "superseded") is None:
                    continue  # another process recorded (and logged) it
                log.info("reminder %s of %s %s due %s skipped: %s", due.category,
                         due.source_type, due.source_id, due.due_at.isoformat(),
                         "its deadline has passed" if late else "a later one is sent")
            claimed = []
            for due in send:
                run_id = await reminders.claim_run(session, due, now=now)
                if run_id is not None:
                    claimed.append(run_id)
            for due in events:
                if now - due.due_at > reminders.EVENT_LATE:
                    if await reminders.claim_run(session, due, now=now, skip="late") is None:
                        continue
                    log.info("event reminder %s due %s skipped: too late", due.source_id,
                             due.due_at.isoformat())
                    continue
                run_id = await reminders.claim_run(session, due, now=now)
                if run_id is not None:
                    claimed.append(run_id)
            claimed += await reminders.runs_to_resume(session, now=now)
            await session.commit()
        queued = 0
        for index, run_id in enumerate(claimed):
            if self._stopping:
                await self._release_run(run_id)
                continue
            if index:  # the runs still waiting keep their claims while the previous ones ran
                async with self.sessions() as session:
                    await reminders.renew_claims(session, claimed[index:], now=self.clock())
                    await session.commit()
            try:
                queued += await self.queue_run(run_id)
            except Exception:
                log.exception("reminder run %s could not be queued", run_id)
        return queued

    async def _release_run(self, run_id: int) -> None:
        async with self.sessions() as session:
            await reminders.release_run(session, run_id)
            await session.commit()

    async def queue_run(self, run_id: int) -> int:
        """Queues one claimed reminder run batch by batch, each committed."""
        queued = 0
        while True:
            async with self.sessions() as session:
                run = await session.get(reminders.ReminderRun, run_id)
                actor, sender = None, None
                if run is not None and run.category == reminders.Category.EVENT:
                    actor, sender = await self._event_author(session, run.source_id)
                now = self.clock()

                render = functools.partial(
                    self._render_reminder, now=now, sender=sender
                )

                batch = await reminders.queue_run_batch(
                    session, run_id, now=now, tz=self.settings.tz, render=render, actor=actor,
                    batch_size=self.batch_size,
                )
                await session.commit()
            queued += batch.queued
            if batch.queued:
                self.on_queued()
            if batch.done or self._stopping:
                if not batch.done:
                    await self._release_run(run_id)
                if queued:
                    log.info("reminder run %s: %d messages queued", run_id, queued)
                return queued

    def _render_reminder(  # type: ignore[no-untyped-def]
        self, run, source, deadline, channel, locale, *, now: datetime, sender: str | None
    ):
        return reminders.render(
            run, source, deadline, channel, locale or self.settings.default_locale,
            t=self.translator.t, tz=self.settings.tz, now=now, sender=sender,
        )

    async def _event_author(self, session, event_id: int) -> tuple[Actor | None, str | None]:  # type: ignore[no-untyped-def]
        event = await session.get(reminders.EventReminder, event_id)
        if event is None:
            return None, None
        unit = await session.get(OrgUnit, event.unit_id) if event.unit_id else None
        actor = await author_actor(
            session, identity_id=event.author_identity_id, member_id=event.author_member_id,
            admin_telegram_ids=self.settings.admin_telegram_ids,
        )
        return actor, unit.name if unit else None
