"""The delivery worker against the local Bot API servers, on both databases: what a 429, a 403,
a 5xx mean, the per-chat and global rates (measured on the timestamps the server recorded),
two workers sharing one outbox, and a worker killed mid-way."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import database
from bot.app import delivery_senders
from bot.database import SessionFactory
from bot.delivery import DeliveryConfig, DeliveryWorker
from bot.settings import Settings
from models import outbox
from models.base import utcnow
from models.channels import int_id_for
from models.members import Identity
from models.outbox import Message, OutboxMessage, Recipient, Source, Status
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_tree

ROOT = Path(__file__).resolve().parents[2]
NOTICE = Source("test", 1)
FAST = DeliveryConfig(
    rates={"telegram": None, "zalo": None}, concurrency=8, max_attempts=3, backoff=0.05,
    lease=60, idle_poll=0.02, recover_every=3600,
)


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return database.create_session_factory(engine)


@pytest.fixture
def bots(
    tg: FakeTelegram, zalo: FakeZalo, database_url: str, sessions: SessionFactory
) -> Callable[..., AbstractAsyncContextManager[dict[str, Any]]]:
    """`async with bots() as b:` the senders a worker of its own uses, talking to the fake
    servers."""

    def make(channels: tuple[str, ...] = ("telegram",)) -> Any:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_bot_token=tg.token if "telegram" in channels else None,
            telegram_api_base_url=tg.base_url,
            zalo_bot_token=zalo.token if "zalo" in channels else None,
            zalo_api_base_url=zalo.base_url,
            database_url=database_url,
            delivery_concurrency=32,
        )
        return delivery_senders(settings, sessions)

    return make


async def _enqueue(sessions: SessionFactory, chats: list[int | str], **kwargs: Any) -> None:
    async with sessions() as session:
        await outbox.enqueue(
            session,
            [Recipient(channel=kwargs.pop("channel", "telegram"), chat_id=str(chat),
                       message=Message(f"<b>Thông báo</b> số {n}"), dedupe_key=f"n{n}")
             for n, chat in enumerate(chats)],
            kind="notice", source=NOTICE, now=utcnow(),
        )
        await session.commit()


async def _rows(sessions: SessionFactory) -> list[OutboxMessage]:
    async with sessions() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return list(rows.all())


def _sends(tg: FakeTelegram) -> list[tuple[float, int]]:
    """(time, chat id) of every message the server accepted."""
    return [(call.at, call.params["chat_id"]) for call in tg.calls_of("sendMessage") if call.ok]


def _most_in_a_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_every_row_is_sent_once_with_its_buttons(tg, bots, sessions) -> None:  # type: ignore[no-untyped-def]
    users = [tg.user(first_name=f"U{n}") for n in range(20)]
    async with sessions() as session:
        await outbox.enqueue(session, [
            Recipient(channel="telegram", chat_id=str(u.id), dedupe_key=f"k{u.id}",
                      message=Message("<b>Họp</b> lúc 8 giờ",
                                      buttons=[[{"text": "Đã đọc", "callback_data": "read"}]]))
            for u in users
        ], kind="announcement", source=NOTICE, now=utcnow())
        await session.commit()
    async with bots() as b:
        worker = DeliveryWorker(sessions, b, FAST)
        await worker.drain()
    for user in users:
        message = await user.next_message()
        assert (message.plain_text, message.parse_mode, message.buttons) == (
            "Họp lúc 8 giờ", "HTML", [["Đã đọc"]]
        )
    rows = await _rows(sessions)
    assert {r.status for r in rows} == {Status.SENT}
    assert all(r.platform_message_id and r.attempts == 1 for r in rows)
    assert (await _progress(sessions)).sent == 20


async def _progress(sessions: SessionFactory) -> outbox.Progress:
    async with sessions() as session:
        return await outbox.progress(session, NOTICE)


async def test_a_429_waits_retry_after_then_continues(tg, bots, sessions) -> None:  # type: ignore[no-untyped-def]
    users = [tg.user() for _ in range(3)]
    await _enqueue(sessions, [u.id for u in users])
    tg.fail_next("sendMessage", 429, retry_after=1)
    async with bots() as b:
        worker = DeliveryWorker(sessions, b, replace(FAST, rates={"telegram": 50}))
        await worker.drain()
    calls = tg.calls_of("sendMessage")
    refused = calls[0]
    assert refused.status == 429
    retried = next(c for c in calls[1:] if c.params["chat_id"] == refused.params["chat_id"])
    assert retried.ok and retried.at - refused.at >= 1.0
    # Every later send waited too: the whole channel paused.
    assert all(c.at - refused.at >= 0.95 for c in calls[1:])
    rows = await _rows(sessions)
    assert [r.status for r in rows] == [Status.SENT] * 3
    assert max(r.attempts for r in rows) == 1  # a 429 is not a failed attempt
    assert worker.stats.rate_limited == 1


async def test_a_member_who_blocked_telegram_gets_it_on_zalo(  # type: ignore[no-untyped-def]
    tg, zalo, bots, sessions
) -> None:
    lan_tg = tg.user(first_name="Lan")
    lan_zalo = zalo.user("Lan", known=True)
    binh_tg = tg.user(first_name="Bình")
    lan_tg.block(notify=False)
    async with sessions() as session:
        tree = await make_tree(session)
        number, _ = await int_id_for(session, lan_zalo.id)
        lan = await make_member(session, tree["trai"], "Lan", telegram_id=lan_tg.id,
                                zalo_id=number)
        binh = await make_member(session, tree["trai"], "Bình", telegram_id=binh_tg.id)
        await outbox.enqueue_for_members(
            session, [binh, lan], kind="announcement", source=NOTICE,
            render=lambda m, i: Message("<b>Họp</b> công đoàn lúc 8 giờ"), now=utcnow(),
        )
        await session.commit()
    # Bình's account was deleted: "user is deactivated" (one send at a time: his goes first).
    tg.fail_next("sendMessage", 403)
    async with bots(("telegram", "zalo")) as b:
        worker = DeliveryWorker(sessions, b, replace(FAST, concurrency=1))
        await worker.drain()

    [to_zalo] = [c for c in zalo.calls_of("sendMessage") if c.ok]
    assert to_zalo.params["text"] == "Họp công đoàn lúc 8 giờ"
    rows = await _rows(sessions)
    assert [(r.channel, r.status) for r in rows] == [
        ("telegram", Status.BLOCKED), ("telegram", Status.BLOCKED), ("zalo", Status.SENT),
    ]
    assert "deactivated" in (rows[0].error or "")
    assert "blocked by the user" in (rows[1].error or "")
    async with sessions() as session:
        blocked = (await session.exec(
            select(Identity).where(col(Identity.blocked_at).is_not(None))
        )).all()
        assert {i.external_id for i in blocked} == {str(lan_tg.id), str(binh_tg.id)}
        # The next announcement goes to Lan's Zalo straight away; Bình has nowhere to go.
        again = await outbox.enqueue_for_members(
            session, [lan, binh], kind="announcement", source=Source("test", 2),
            render=lambda m, i: Message("Lần hai"), now=utcnow(),
        )
        assert again == 1


async def test_server_errors_back_off_then_fail_after_max_attempts(tg, bots, sessions) -> None:  # type: ignore[no-untyped-def]
    lan, binh = tg.user(), tg.user()
    await _enqueue(sessions, [lan.id])
    tg.fail_next("sendMessage", 500, times=2)
    async with bots() as b:
        worker = DeliveryWorker(sessions, b, FAST)
        await worker.drain()
        [row] = await _rows(sessions)
        assert (row.status, row.attempts) == (Status.SENT, 3)
        times = [c.at for c in tg.calls_of("sendMessage")]
        assert times[1] - times[0] >= FAST.backoff
        assert times[2] - times[1] >= 2 * FAST.backoff

        async with sessions() as session:
            await outbox.enqueue(session, [Recipient(
                channel="telegram", chat_id=str(binh.id), message=Message("x"), dedupe_key="b"
            )], kind="notice", source=NOTICE, now=utcnow())
            await session.commit()
        tg.fail_next("sendMessage", 502, times=10)
        await worker.drain()
    row = (await _rows(sessions))[-1]
    assert (row.status, row.attempts) == (Status.FAILED, FAST.max_attempts)
    assert row.error == "NetworkError: Bad Gateway"
    assert worker.stats.failed == 1


async def test_the_global_rate_and_one_message_a_second_per_chat_hold(  # type: ignore[no-untyped-def]
    tg, bots, sessions
) -> None:
    rate = 10
    users = [tg.user() for _ in range(25)]
    busy = users[0]
    await _enqueue(sessions, [u.id for u in users] + [busy.id, busy.id])
    async with bots() as b:
        worker = DeliveryWorker(sessions, b, replace(FAST, rates={"telegram": rate}))
        await worker.drain()
    sends = _sends(tg)
    assert len(sends) == 27
    # The pacer holds the rate as the server counts it: never one too many in a second.
    assert _most_in_a_window([at for at, _ in sends]) <= rate
    to_busy = sorted(at for at, chat in sends if chat == busy.id)
    assert len(to_busy) == 3
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(to_busy))


async def test_a_send_the_server_counts_late_does_not_crowd_the_next_second(  # type: ignore[no-untyped-def]
    tg, bots, sessions
) -> None:
    """The server is busy and counts the first message 0.3 s late: the worker must not send
    the sixth before a second after that, or the server would count six in one second."""
    rate = 5
    users = [tg.user() for _ in range(8)]
    await _enqueue(sessions, [u.id for u in users])
    original, first = tg._m_sendMessage, asyncio.Event()

    async def busy_at_first(params, uploads):  # type: ignore[no-untyped-def]
        if not first.is_set():
            first.set()
            await asyncio.sleep(0.3)
        return await original(params, uploads)

    tg._m_sendMessage = busy_at_first  # type: ignore[method-assign]
    async with bots() as b:
        worker = DeliveryWorker(sessions, b, replace(FAST, rates={"telegram": rate}))
        await worker.drain()
    sends = _sends(tg)
    assert len(sends) == 8 and worker.stats.rate_limited == 0
    assert _most_in_a_window([at for at, _ in sends]) <= rate


async def _until_delivered(sessions: SessionFactory, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    for _ in range(int(timeout / 0.05)):
        async with sessions() as session:
            if not await outbox.unfinished(session):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the outbox was not delivered in time")


async def test_two_workers_on_a_throttled_channel_hold_the_rate_and_one_takes_over(  # type: ignore[no-untyped-def]
    tg, bots, sessions
) -> None:
    users = [tg.user() for _ in range(150)]
    await _enqueue(sessions, [u.id for u in users])
    rate = 40
    # A hold far longer than the test may take: the second worker can only finish the
    # channel if the first one's clean stop let go of it.
    config = replace(FAST, rates={"telegram": rate}, hold=120.0)
    async with bots() as b:
        workers = [DeliveryWorker(sessions, b, config, worker_id=name)
                   for name in ("first", "second")]
        for worker in workers:
            await worker.start()
        try:
            for _ in range(600):
                if len(_sends(tg)) >= 2 * rate:
                    break
                await asyncio.sleep(0.01)
            # One worker sends on the channel; the other stands by.
            holder, other = sorted(workers, key=lambda w: -w.stats.sent)
            assert other.stats.sent == 0
            await holder.stop()
            await _until_delivered(sessions)
        finally:
            for worker in workers:
                await worker.stop()
    sends = _sends(tg)
    assert Counter(chat for _, chat in sends) == Counter(u.id for u in users)
    assert holder.stats.sent > 0 and other.stats.sent > 0
    assert holder.stats.sent + other.stats.sent == len(users)
    # The rate as the server counted it, across both workers and the handover.
    assert _most_in_a_window([at for at, _ in sends]) <= rate


async def test_a_dead_workers_hold_on_a_channel_lapses_and_another_takes_over(  # type: ignore[no-untyped-def]
    tg, bots, sessions
) -> None:
    users = [tg.user() for _ in range(20)]
    await _enqueue(sessions, [u.id for u in users])
    async with sessions() as session:  # a worker took the channel, then its process died
        until = await outbox.hold_channel(
            session, channel="telegram", worker="dead", now=time.time(), hold=1.0
        )
        await session.commit()
    assert until is not None
    async with bots() as b:
        worker = DeliveryWorker(sessions, b, replace(FAST, rates={"telegram": 50}))
        await worker.drain(timeout=30)
    sent_at = [row.sent_at for row in await _rows(sessions)]
    assert Counter(chat for _, chat in _sends(tg)) == Counter(u.id for u in users)
    assert worker.stats.sent == len(users)
    # Nothing went while the dead worker's hold lasted.
    assert all(at is not None and at.timestamp() >= until for at in sent_at)
    async with sessions() as session:  # and the survivor let go when it finished
        rate_row = await session.get(outbox.OutboxRate, "telegram")
        assert rate_row is not None and rate_row.holder is None


async def test_a_worker_whose_hold_lapsed_sends_nothing_until_it_holds_the_channel_again(  # type: ignore[no-untyped-def]
    tg, bots, sessions
) -> None:
    users = [tg.user() for _ in range(8)]
    await _enqueue(sessions, [u.id for u in users])
    offset = 0.0
    async with bots() as b:
        worker = DeliveryWorker(
            sessions, b, replace(FAST, rates={"telegram": 50}, hold=5.0),
            clock=lambda: time.time() + offset,
        )
        assert await worker.tick() == len(users)
        # The process stalls before the sends leave: by its clock the hold has lapsed, and
        # another worker may have taken the channel over meanwhile.
        offset = 30.0
        await worker.drain(timeout=30)
    # Those sends went back to the outbox unsent; once the worker held the channel again
    # they went, each once.
    assert worker.stats.retried == len(users)
    assert Counter(chat for _, chat in _sends(tg)) == Counter(u.id for u in users)
    assert {row.status for row in await _rows(sessions)} == {Status.SENT}
    assert all(row.attempts == 1 for row in await _rows(sessions))


async def test_two_workers_unthrottled_never_send_twice(tg, bots, sessions) -> None:  # type: ignore[no-untyped-def]
    users = [tg.user() for _ in range(300)]
    await _enqueue(sessions, [u.id for u in users])
    async with bots() as b:
        workers = [DeliveryWorker(sessions, b, FAST, worker_id=f"w{n}") for n in range(2)]
        await asyncio.gather(*(w.drain() for w in workers))
    assert Counter(chat for _, chat in _sends(tg)) == Counter(u.id for u in users)


async def test_a_killed_worker_loses_nothing_and_only_flagged_rows_may_repeat(  # type: ignore[no-untyped-def]
    tg, bots, sessions, database_url
) -> None:
    count, concurrency = 2000, 8
    users = [tg.user() for _ in range(count)]
    await _enqueue(sessions, [u.id for u in users])
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE_URL": tg.base_url,
        "DATABASE_URL": database_url, "TELEGRAM_RATE": "1000",
        "DELIVERY_CONCURRENCY": str(concurrency), "DELIVERY_LEASE_SECONDS": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("ZALO_BOT_TOKEN", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "worker", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(3000):
            if len(tg.calls_of("sendMessage")) >= count // 3 or process.returncode is not None:
                break
            await asyncio.sleep(0.01)
        assert process.returncode is None, (await process.stderr.read()).decode()  # type: ignore[union-attr]
        process.send_signal(signal.SIGKILL)
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
    killed_at = len(tg.calls_of("sendMessage"))
    assert killed_at < count

    async with bots() as b:
        survivor = DeliveryWorker(
            sessions, b, replace(FAST, lease=1.0, recover_every=0.2, concurrency=concurrency)
        )
        await survivor.drain(timeout=60)

    rows = await _rows(sessions)
    assert {r.status for r in rows} == {Status.SENT}
    flagged = {int(r.chat_id) for r in rows if r.resent_after_crash}
    received = Counter(chat for _, chat in _sends(tg))
    assert set(received) == {u.id for u in users}
    twice = {chat for chat, n in received.items() if n > 1}
    assert twice <= flagged
    assert max(received.values()) <= 2
    assert len(flagged) <= concurrency
    assert survivor.stats.recovered == len(flagged)
    assert (await _progress(sessions)).resent_after_crash == len(flagged)
    print(f"killed after {killed_at} sends; {len(flagged)} rows flagged resent_after_crash, "
          f"{len(twice)} arrived twice")


class _Outage:
    """The database connection failing for a while: once armed, the statements sent to the
    database follow `pattern` (True: it goes through, False: the connection fails with
    OperationalError), then all go through again. Only the connection is faked."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.pattern: list[bool] = []
        self.failed = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)

    def arm(self, pattern: list[bool]) -> None:
        self.pattern = list(pattern)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if self.pattern and not self.pattern.pop(0):
            self.failed += 1
            raise OperationalError(statement, None, ConnectionResetError("connection lost"))


async def test_a_worker_survives_the_database_going_away_and_sends_each_message_once(  # type: ignore[no-untyped-def]
    tg, bots, sessions, database_url, caplog
) -> None:
    users = [tg.user() for _ in range(60)]
    await _enqueue(sessions, [u.id for u in users])
    # The worker's own connection to the database is the one that fails.
    worker_engine = database.create_engine(database_url)
    outage = _Outage(worker_engine)
    config = replace(FAST, retry_first=0.02, retry_max=0.1)
    caplog.set_level(logging.INFO, logger="bot.delivery")
    async with bots() as b:
        worker = DeliveryWorker(database.create_session_factory(worker_engine), b, config)
        await worker.start()
        try:
            for _ in range(5000):
                if tg.calls_of("sendMessage"):
                    break
                await asyncio.sleep(0.002)
            # The next round writes the first results, then its claim fails: the written
            # results are rolled back with it and must be written again later; then several
            # rounds fail outright while the sends already claimed come back.
            outage.arm([True] + [False] * 8)
            for _ in range(3000):
                rows = await _rows(sessions)
                if all(row.status == Status.SENT for row in rows):
                    break
                await asyncio.sleep(0.01)
            assert worker._task is not None and not worker._task.done()
        finally:
            await worker.stop()
            await worker_engine.dispose()
    assert outage.failed == 8

    assert Counter(chat for _, chat in _sends(tg)) == Counter(u.id for u in users)
    rows = await _rows(sessions)
    assert {(r.status, r.attempts, r.resent_after_crash) for r in rows} == {
        (Status.SENT, 1, False)
    }
    assert all(r.sent_at is not None and r.platform_message_id for r in rows)
    assert worker.stats.sent == len(users)
    failures = [r for r in caplog.records if "round failed" in r.getMessage()]
    assert len(failures) >= 1
    assert "Thông báo" not in caplog.text
