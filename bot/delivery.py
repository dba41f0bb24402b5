"""The delivery worker: sends what the outbox (models/outbox.py) holds, through each channel's
sender (Telegram: the lean bot/telegram_sender.py; Zalo: its bot on the bridge, BotSender),
within the platform's limits, and records what happened.

It runs inside `unionbot run` (started and stopped by bot.app.running) and alone as
`unionbot worker`; several workers on one PostgreSQL share the outbox: claims never
overlap, and a throttled channel is sent on by one worker at a time (its holder, see
`outbox.hold_channel`), whose pacer then sees every send of that bot; the others send on the
other channels, on unthrottled ones alongside, and take a throttled channel over when its
holder stops (at once after a clean stop, `hold` seconds after a crash).

One loop per worker:

1. now and then, put back rows a dead worker left "sending" (`recover_expired`; logged with
   their number: only these may arrive twice);
2. in one transaction: write the results that came back (only then are their places free
   again), claim as many due rows as there are free places (`concurrency` minus the rows
   claimed and not yet recorded) and reserve their send times from the channel's shared rate;
3. each row is sent by its own task at its reserved time, held back if need be by the
   channel's pacer (_Pacer: never more than the rate in any second as the platform counts,
   however late an earlier send left or arrived);
4. the loop waits until half the places are free (or `batch_wait` after the first result),
   so the database sees batches, not one transaction per message.

So a worker never has more than `concurrency` rows "sending" in the database: a crash leaves
at most that many to be flagged.

A round that fails (the database is down or restarting, a bug) does not end the worker: the
error is logged (ids and counts only), the results not yet written stay in memory, and the
round is tried again after `retry_first` seconds, doubling up to `retry_max`; the sends under
way finish meanwhile and their results wait too. The round's transaction was rolled back, so
nothing it claimed is lost, and writing a result twice changes nothing (a result only updates
a row still "sending" for this worker). Only a commit that succeeded on the server but whose
answer was lost leaves claimed rows "sending" unknown to the worker: they come back after the
lease, flagged like a crash's.

What a platform's answer means:
* 429 (RetryAfter): the row goes back to pending after `retry_after`, and the channel's shared
  reservation moves past it so no worker sends before then; nothing is lost, no attempt counted.
* 403 (Forbidden: blocked by the user, user deactivated): the row is "blocked", the account is
  marked blocked (models.members.Identity.blocked_at) and, when the member has another linked
  account, the message is queued there.
* Network errors and 5xx: retried after `backoff * 2**(attempts-1)` seconds, at most
  `max_attempts` tries, then "failed" with the reason.
* Any other refusal (400 …): "failed" at once with the reason; trying again would not help.
Logs name rows, accounts and channels by id, never the text or the recipient.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.database import SessionFactory
from models import outbox
from models.outbox import Claimed, OutboxMessage, Status

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True)
class DeliveryConfig:
    """How a worker sends; `rates[channel]` None means unthrottled (benchmarks only)."""

    rates: dict[str, float | None]
    concurrency: int = 8
    max_attempts: int = 5
    backoff: float = 2.0
    lease: float = 300.0
    per_chat_interval: float = 1.0
    # How often an idle worker looks for new rows, and how often it recovers dead claims.
    idle_poll: float = 0.25
    recover_every: float = 30.0
    # Results are written and rows claimed once half the places are free or this long after
    # the first result came back: one transaction per batch, not per message.
    batch_wait: float = 0.05
    # Send times are reserved a little under the rate; the pacer (_Pacer) holds the rate at
    # the moment of sending.
    rate_margin: float = 0.98
    # A throttled channel is sent on by one worker at a time (outbox.hold_channel): its hold,
    # renewed every round, lapses `hold` seconds after the last renewal, and the worker stops
    # sending on the channel `hold_margin` of that before, so a worker whose rounds fail (or
    # whose process stalled) never sends alongside the one that took the channel over.
    hold: float = 10.0
    hold_margin: float = 0.2
    # A round that fails (the database is down, a bug) is tried again after `retry_first`
    # seconds, doubling up to `retry_max`; the results not yet written wait in memory.
    retry_first: float = 1.0
    retry_max: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        return cls(
            rates={"telegram": settings.telegram_rate, "zalo": settings.zalo_rate},
            concurrency=settings.delivery_concurrency,
            max_attempts=settings.delivery_max_attempts,
            backoff=settings.delivery_backoff_seconds,
            lease=settings.delivery_lease_seconds,
            recover_every=min(30.0, settings.delivery_lease_seconds / 2),
        )


def new_worker_id() -> str:
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _reason(error: BaseException) -> str:
    """The platform's short description (it never repeats the message text)."""
    return f"{type(error).__name__}: {error}"[: outbox.ERROR_MAX_CHARS]


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass
class _Done:
    row: Claimed
    result: outbox.Result
    blocked: bool = False
    pause_until: float | None = None


@dataclass
class Stats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    blocked: int = 0
    rate_limited: int = 0
    recovered: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


class _Pacer:
    """Never more than `count` (the rate, at least 1) sends of a channel in any `window` (a
    second; longer for a rate under 1) as the platform counts them: on arrival, which may be
    later than departure (a stalled process, a busy server). A send arrived before its answer
    came back, so the next send may leave only `window` after the answers of all sends but the
    last `count - 1` came back. The reserved send times are spaced under the rate, so this
    rarely holds a send back; it does when an earlier send may have arrived late, and it lets
    sends that left late catch up no faster than the window allows."""

    # A send whose answer is this late no longer holds the others back (a stuck connection
    # must not stop the channel until its timeout); a 429 would then pause the channel.
    STALL = 1.0
    EPSILON = 0.002

    def __init__(self, rate: float) -> None:
        self.count = max(1, int(rate))
        self.window = max(1.0, self.count / rate) + self.EPSILON
        self.recent: collections.deque[list[float | None]] = collections.deque()
        self.older: list[list[float | None]] = []  # beyond the last count-1, still unanswered
        self.answered = float("-inf")  # the latest answer among the older ones

    def ready(self, now: float) -> float:
        """The earliest time the next send may leave."""
        waiting = []
        for departed, answered in self.older:
            if answered is not None:
                self.answered = max(self.answered, answered)
            elif now - departed >= self.STALL:  # type: ignore[operator]
                self.answered = max(self.answered, departed + self.STALL)  # type: ignore[operator]
            else:
                waiting.append([departed, answered])
        self.older = waiting
        if waiting:
            return now + 0.005  # look again when it may have answered
        return self.answered + self.window

    def left(self, now: float) -> list[float | None]:
        """A send leaves now; set the returned record's [1] when its answer comes back."""
        record: list[float | None] = [now, None]
        self.recent.append(record)
        if len(self.recent) >= self.count:
            self.older.append(self.recent.popleft())
        return record


class Sender(Protocol):
    """How a worker reaches one channel: delivers one row, returns the platform's message id.
    Telegram: bot.telegram_sender.TelegramSender; Zalo: BotSender around the bridge's bot.
    Raises the python-telegram-bot errors the module docstring lists."""

    async def send(self, row: Claimed | OutboxMessage) -> str | None: ...


class BotSender:
    """A python-telegram-bot bot as a Sender (Zalo's bot talks through the bridge; its
    Defaults give parse_mode HTML)."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot

    async def send(self, row: Claimed | OutboxMessage) -> str | None:
        chat_id = int(row.chat_id)
        markup = None
        if row.buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(**button) for button in line] for line in row.buttons]
            )
        media = row.media or {}
        source = media.get("file_id") or media.get("url")
        if media.get("kind") == "photo" and source:
            message = await self.bot.send_photo(
                chat_id, source, caption=row.text, reply_markup=markup
            )
        elif media.get("kind") == "document" and source:
            message = await self.bot.send_document(
                chat_id, source, caption=row.text, reply_markup=markup
            )
        else:
            message = await self.bot.send_message(chat_id, row.text, reply_markup=markup)
        message_id = getattr(message, "message_id", None)
        return None if message_id is None else str(message_id)


class DeliveryWorker:
    """Claims, sends and records outbox rows until stopped (see the module docstring)."""

    def __init__(
        self,
        sessions: SessionFactory,
        senders: dict[str, Sender],
        config: DeliveryConfig,
        *,
        worker_id: str | None = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.sessions = sessions
        self.senders = senders
        self.config = config
        self.id = worker_id or new_worker_id()
        self.clock = clock
        self.sleep = sleep
        self.stats = Stats()
        self._claimed: dict[int, asyncio.Task[None]] = {}
        self._started: set[int] = set()  # rows whose request has gone out
        self._done: list[_Done] = []
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._paused_until: dict[str, float] = {}
        # Throttled channels this worker holds, and until when (see DeliveryConfig.hold).
        self._held_until: dict[str, float] = {}
        # The pacer: per channel, the times the last sends left this worker (see _Pacer).
        self._pacers: dict[str, _Pacer] = {
            channel: _Pacer(rate) for channel, rate in config.rates.items() if rate is not None
        }
        self._task: asyncio.Task[None] | None = None
        self._last_recovery = float("-inf")

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"delivery-{self.id}")

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 (a shutdown bound)
        """Lets the sends under way finish (within `timeout`), records them, and puts the rows
        still waiting for their turn back to pending (not flagged: they were never sent)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next idle poll."""
        self._wake.set()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def run(self) -> None:
        log.info("delivery worker %s started", self.id)
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    await self.tick()
                except Exception:
                    # The database is away or a round hit a bug: the worker must not die
                    # silently. Results not yet written stay in memory (tick puts them back)
                    # and go with the next round that succeeds; sends under way go on.
                    failures += 1
                    delay = self._backoff(failures)
                    log.exception(
                        "delivery worker %s: round failed (%d in a row), %d results waiting "
                        "to be written; trying again in %.1f s",
                        self.id, failures, len(self._done), delay,
                    )
                    await self._pause(delay)
                    continue
                if failures:
                    log.warning(
                        "delivery worker %s: rounds succeed again after %d failures",
                        self.id, failures,
                    )
                    failures = 0
                if self._claimed:
                    await self._settle()
                else:
                    await self._wait(self.config.idle_poll)
            await self._finish()
        except asyncio.CancelledError:
            await self._abandon()
            raise
        log.info("delivery worker %s stopped", self.id)

    def _backoff(self, failures: int) -> float:
        return min(self.config.retry_max, self.config.retry_first * 2 ** min(failures - 1, 30))

    async def _pause(self, seconds: float) -> None:
        """Waits `seconds`, or less if the worker is told to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _settle(self) -> None:
        """Waits for results until half the places are free, or `batch_wait` after the first
        result (at most `idle_poll` in all), so that the database sees batches."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.idle_poll
        first_result: float | None = None
        while not self._stopping.is_set():
            busy = len(self._claimed) - len(self._done)
            if busy <= self.config.concurrency // 2 and self._done:
                return
            if self._done and first_result is None:
                first_result = loop.time()
            end = deadline if first_result is None else min(
                deadline, first_result + self.config.batch_wait
            )
            if loop.time() >= end:
                return
            await self._wait(end - loop.time())

    async def _finish(self) -> None:
        waiting = [task for task in self._claimed.values() if not task.done()]
        if waiting:
            await asyncio.wait(waiting)
        failures = 0
        while True:
            try:
                await self._record()
                await self._let_go()
                return
            except Exception:
                # Stopping while the database is away: keep trying until `stop` gives up
                # (it cancels; the rows then stay "sending" and come back flagged).
                failures += 1
                delay = self._backoff(failures)
                log.exception(
                    "delivery worker %s: writing %d results on the way out failed; trying "
                    "again in %.1f s", self.id, len(self._done), delay,
                )
                await asyncio.sleep(delay)

    async def _abandon(self) -> None:
        """Cancelled: rows never sent go back to pending; a row whose request had gone out
        stays "sending", so recovery flags it (it may have arrived). With the database away,
        both stay "sending" until the lease expires and come back flagged."""
        for task in self._claimed.values():
            task.cancel()
        await asyncio.gather(*self._claimed.values(), return_exceptions=True)
        unsent: list[int] = []
        try:
            await self._record()
            unsent = [row_id for row_id in self._claimed if row_id not in self._started]
            if unsent:
                async with self.sessions() as session:
                    await outbox.release(session, unsent, worker=self.id)
                    await session.commit()
            await self._let_go()
        except Exception:
            log.exception(
                "delivery worker %s: could not write %d results nor release %d rows on the "
                "way out; they come back flagged after the lease", self.id, len(self._done),
                len(unsent),
            )
        self._claimed.clear()

    # --- one round ---------------------------------------------------------------------------

    async def tick(self) -> int:
        """One transaction: writes the results that came back (freeing their places),
        recovers dead claims when due, claims what fits and reserves its send times; then
        starts the sends. Returns how many rows it claimed."""
        done, self._done = self._done, []
        claims: list[tuple[Sender, list[Claimed], float, float | None]] = []
        holds: dict[str, float | None] = {}
        recovered = 0
        try:
            async with self.sessions() as session:
                if done:
                    await self._write(session, done)
                if self.clock() - self._last_recovery >= self.config.recover_every:
                    recovered = await self._recover(session)
                free = self.config.concurrency - (len(self._claimed) - len(done))
                for channel, sender in self.senders.items():
                    if self._stopping.is_set():
                        break
                    # Even with no place free, the holds are renewed.
                    rows, start, rate = await self._claim(session, channel, free, holds)
                    if rows:
                        claims.append((sender, rows, start, rate))
                        free -= len(rows)
                await session.commit()
        except BaseException:
            self._done[:0] = done  # not written: they go with the next transaction
            raise
        self._forget(done)
        self._recovered(recovered)
        for channel, until in holds.items():  # only once committed do they count
            if until is None:
                self._held_until.pop(channel, None)
            else:
                self._held_until[channel] = until
        claimed = 0
        for sender, rows, start, rate in claims:
            for index, row in enumerate(rows):
                at = start + index / rate if rate is not None else start
                assert row.id is not None
                self._claimed[row.id] = asyncio.create_task(self._send(sender, row, at))
            claimed += len(rows)
        return claimed

    async def recover(self) -> int:
        """Puts back rows a dead worker left "sending" (lease expired); returns how many."""
        async with self.sessions() as session:
            count = await self._recover(session)
            await session.commit()
        self._recovered(count)
        return count

    async def _recover(self, session: Any) -> int:
        self._last_recovery = self.clock()
        return await outbox.recover_expired(
            session, now=self._now(), lease=timedelta(seconds=self.config.lease)
        )

    def _recovered(self, count: int) -> None:
        if count:
            self.stats.recovered += count
            log.warning(
                "put back %d outbox rows left sending by a worker that stopped; they may "
                "arrive twice (flagged resent_after_crash)", count,
            )

    async def _claim(
        self, session: Any, channel: str, limit: int, holds: dict[str, float | None]
    ) -> tuple[list[Claimed], float, float | None]:
        """Claims up to `limit` rows of `channel`; returns them, the first send time and the
        reserved rate (None: unthrottled, all go at once). A throttled channel is claimed
        only by its holder: the hold is taken or renewed first and noted in `holds`."""
        rate = self.config.rates.get(channel)
        now = self.clock()
        if rate is not None:
            holds[channel] = await outbox.hold_channel(
                session, channel=channel, worker=self.id, now=now, hold=self.config.hold
            )
            if holds[channel] is None:
                return [], now, None  # another worker sends on this channel
        rows = await outbox.claim(
            session, worker=self.id, channel=channel, limit=limit,
            now=datetime.fromtimestamp(now, UTC),
            per_chat_interval=timedelta(seconds=self.config.per_chat_interval),
        )
        if not rows or rate is None:
            return rows, now, None
        rate *= self.config.rate_margin
        start = await outbox.reserve_slots(
            session, channel=channel, count=len(rows), rate=rate, now=now
        )
        return rows, start, rate

    async def _send(self, sender: Sender, row: Claimed, at: float) -> None:
        channel = row.channel
        pacer = self._pacers.get(channel)
        while True:
            ready = max(at, self._paused_until.get(channel, 0.0))
            if pacer is not None:
                ready = max(ready, pacer.ready(self.clock()))
            delay = ready - self.clock()
            if delay <= 0:
                break
            await self.sleep(delay)
        if pacer is not None and self.clock() >= self._held_until.get(channel, 0.0) - (
            self.config.hold * self.config.hold_margin
        ):
            # The hold on the channel is lapsing (rounds failed to renew it, or this process
            # stalled): another worker may be sending on it now. Back to the outbox, unsent.
            self._result(_Done(row, outbox.retry(
                row.id, at=self._now(), attempts=row.attempts,
                error="this worker's hold on the channel lapsed",
            )))
            return
        paused = self._paused_until.get(channel, 0.0)
        if paused > at:
            # A 429 came after this row's time was reserved: back to the outbox, to be claimed
            # with a fresh time, rather than all such rows leaving together when the pause ends.
            self._result(_Done(row, outbox.retry(
                row.id, at=datetime.fromtimestamp(paused, UTC), attempts=row.attempts,
                error="waited for the rate limit",
            )))
            return
        # No await between the check above and this: the pacer counts this send now.
        record = pacer.left(self.clock()) if pacer is not None else None
        attempts = row.attempts + 1
        self._started.add(row.id)
        try:
            try:
                message_id = await sender.send(row)
            finally:
                if record is not None:
                    record[1] = self.clock()  # it arrived by now, if at all
        except RetryAfter as error:
            wait = _seconds(getattr(error, "_retry_after", 1))
            until = self.clock() + wait
            self._paused_until[channel] = max(self._paused_until.get(channel, 0.0), until)
            done = _Done(row, outbox.retry(
                row.id, at=datetime.fromtimestamp(until, UTC), attempts=row.attempts,
                error=_reason(error),
            ), pause_until=until)
            self.stats.rate_limited += 1
        except Forbidden as error:
            done = _Done(row, outbox.gave_up(
                row.id, status=Status.BLOCKED, attempts=attempts, error=_reason(error),
            ), blocked=True)
        except BadRequest as error:
            done = _Done(row, outbox.gave_up(
                row.id, status=Status.FAILED, attempts=attempts, error=_reason(error),
            ))
        except (NetworkError, TelegramError, OSError) as error:
            done = self._transient(row, attempts, error)
        except Exception as error:  # a bug must not stop delivery: log it, count an attempt
            log.exception("sending outbox row %s failed unexpectedly", row.id)
            done = self._transient(row, attempts, error)
        else:
            done = _Done(row, outbox.sent(
                row.id, message_id=message_id,
                attempts=attempts, now=self._now(),
            ))
        self._result(done)

    def _result(self, done: _Done) -> None:
        """A result came back; wakes the loop only when _settle would act on it (the first
        result starts the batch wait; half the places free ends it), not once per message."""
        self._done.append(done)
        if (len(self._done) == 1
                or len(self._claimed) - len(self._done) <= self.config.concurrency // 2):
            self._wake.set()

    def _transient(self, row: Claimed, attempts: int, error: BaseException) -> _Done:
        if attempts >= self.config.max_attempts:
            return _Done(row, outbox.gave_up(
                row.id, status=Status.FAILED, attempts=attempts, error=_reason(error),
            ))
        wait = self.config.backoff * 2 ** (attempts - 1)
        return _Done(row, outbox.retry(
            row.id, at=datetime.fromtimestamp(self.clock() + wait, UTC), attempts=attempts,
            error=_reason(error),
        ))

    async def _let_go(self) -> None:
        """Stopping: the channels this worker held can be taken over at once (otherwise its
        hold lapses after `hold` seconds)."""
        if self._held_until:
            async with self.sessions() as session:
                await outbox.let_go_of_channels(session, worker=self.id)
                await session.commit()
            self._held_until.clear()

    async def _record(self) -> None:
        """Writes the results that came back, in a transaction of their own; frees their
        places (on the way out: a round writes them with its claim)."""
        if not self._done:
            return
        done, self._done = self._done, []
        try:
            async with self.sessions() as session:
                await self._write(session, done)
                await session.commit()
        except BaseException:
            self._done[:0] = done
            raise
        self._forget(done)

    async def _write(self, session: Any, done: list[_Done]) -> None:
        await outbox.record(session, [d.result for d in done], worker=self.id)
        for item in done:
            if item.pause_until is not None:
                await outbox.pause_channel(
                    session, channel=item.row.channel, until=item.pause_until
                )
            if item.blocked:
                other = await outbox.mark_blocked(session, item.row, now=self._now())
                log.info(
                    "identity %s blocked the bot; row %s %s", item.row.identity_id,
                    item.row.id,
                    f"queued again as row {other.id} on {other.channel}" if other
                    else "has no other account to go to",
                )

    def _forget(self, done: list[_Done]) -> None:
        """After the commit: the places of `done` are free again."""
        for item in done:
            self._claimed.pop(item.row.id, None)
            self._started.discard(item.row.id)
            status = item.result.values["status"]
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            if status == Status.SENT:
                self.stats.sent += 1
            elif status == Status.PENDING:
                self.stats.retried += 1
            elif status == Status.FAILED:
                self.stats.failed += 1
                log.warning("outbox row %s failed: %s", item.row.id, item.result.values["error"])
            elif status == Status.BLOCKED:
                self.stats.blocked += 1

    async def drain(self, *, until: Callable[[], Awaitable[bool]] | None = None,
                    timeout: float = 30.0) -> None:  # noqa: ASYNC109 (a test and bench bound)
        """Runs rounds until nothing is due or in flight (or `until()` is true); for
        the tests and the benchmarks (`unionbot worker` runs `run`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            claimed = await self.tick()
            if self._claimed:
                await self._settle()
                continue
            if until is None:
                async with self.sessions() as session:
                    finished = (claimed == 0 and not self._done
                                and not await outbox.unfinished(session))
            else:
                finished = await until()
            if finished:
                await self._let_go()
                return
            await self._wait(min(self.config.idle_poll, 0.05))
        raise TimeoutError("the outbox did not drain in time")
