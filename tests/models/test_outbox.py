"""The outbox's rules, on both databases: enqueue, claim, cancel, progress, crash recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from models import outbox
from models.base import utcnow
from models.members import Identity
from models.outbox import Message, OutboxMessage, Recipient, Source, Status
from models.privacy import erase_member, export_member_data
from tests.factories import make_member, make_tree

ANNOUNCEMENT = Source("announcement", 7)


def _recipients(count: int, *, start: int = 1, key: str = "a7") -> list[Recipient]:
    return [
        Recipient(channel="telegram", chat_id=str(900000 + n), message=Message(f"<b>Hi</b> {n}"),
                  dedupe_key=f"{key}:{n}")
        for n in range(start, start + count)
    ]


async def _enqueue(session: AsyncSession, recipients: list[Recipient], **kwargs) -> int:  # type: ignore[no-untyped-def]
    added = await outbox.enqueue(
        session, recipients, kind="announcement", source=ANNOUNCEMENT, now=utcnow(), **kwargs
    )
    await session.commit()
    return added


async def _statuses(session: AsyncSession) -> dict[str, str]:
    session.expire_all()
    rows = await session.exec(select(OutboxMessage))
    return {row.chat_id: row.status for row in rows.all()}


async def test_enqueueing_the_same_thing_twice_adds_nothing(session: AsyncSession) -> None:
    assert await _enqueue(session, _recipients(3)) == 3
    assert await _enqueue(session, _recipients(4)) == 1
    assert len(await _statuses(session)) == 4


async def test_enqueue_for_members_takes_each_members_reachable_account(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"], "Lan", telegram_id=111, zalo_id=222)
    lan.preferred_channel = "zalo"
    binh = await make_member(session, tree["trai"], "Bình", telegram_id=333)
    roster_only = await make_member(session, tree["trai"], "Chưa vào")
    await session.flush()

    def render(member, identity):  # type: ignore[no-untyped-def]
        return Message(f"Xin chào {member.full_name}")

    added = await outbox.enqueue_for_members(
        session, [lan, binh, roster_only], kind="announcement", source=ANNOUNCEMENT,
        render=render, now=utcnow(),
    )
    await session.commit()
    assert added == 2
    rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [(r.channel, r.chat_id, r.member_id) for r in rows] == [
        ("zalo", "222", lan.id), ("telegram", "333", binh.id),
    ]
    again = await outbox.enqueue_for_members(
        session, [lan, binh], kind="announcement", source=ANNOUNCEMENT, render=render,
        now=utcnow(),
    )
    assert again == 0


async def test_a_claimed_row_is_not_claimed_again(session: AsyncSession) -> None:
    await _enqueue(session, _recipients(5))
    now = utcnow()
    first = await outbox.claim(session, worker="w1", channel="telegram", limit=3, now=now)
    await session.commit()
    second = await outbox.claim(session, worker="w2", channel="telegram", limit=10, now=now)
    await session.commit()
    assert len(first) == 3 and len(second) == 2
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    assert {r.claimed_by for r in second} == {"w2"}


async def test_two_sessions_claiming_at_once_never_share_a_row(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        await _enqueue(session, _recipients(300))

    async def worker(name: str) -> list[int]:
        taken: list[int] = []
        while True:
            async with sessions() as session:
                rows = await outbox.claim(
                    session, worker=name, channel="telegram", limit=7, now=utcnow()
                )
                await session.commit()
            if not rows:
                return taken
            taken.extend(row.id for row in rows)  # type: ignore[misc]

    results = await asyncio.gather(*(worker(f"w{n}") for n in range(4)))
    every = [row_id for taken in results for row_id in taken]
    assert len(every) == len(set(every)) == 300


async def test_one_chat_gets_one_message_at_a_time_and_one_a_second(
    session: AsyncSession,
) -> None:
    same_chat = [
        Recipient(channel="telegram", chat_id="42", message=Message(f"m{n}"), dedupe_key=f"k{n}")
        for n in range(3)
    ]
    await _enqueue(session, same_chat)
    now = utcnow()
    [first] = await outbox.claim(session, worker="w", channel="telegram", limit=10, now=now)
    await session.commit()
    assert first.text == "m0"
    assert await outbox.claim(session, worker="w", channel="telegram", limit=10, now=now) == []
    await outbox.record(
        session, [outbox.sent(first.id, message_id="1", attempts=1, now=now)], worker="w"  # type: ignore[arg-type]
    )
    await session.commit()
    soon = now + timedelta(milliseconds=500)
    assert await outbox.claim(session, worker="w", channel="telegram", limit=10, now=soon) == []
    later = now + timedelta(seconds=1, milliseconds=1)
    [second] = await outbox.claim(session, worker="w", channel="telegram", limit=10, now=later)
    assert second.text == "m1"


async def test_a_claimed_row_carries_what_sending_it_needs(session: AsyncSession) -> None:
    buttons = [[{"text": "Đã đọc", "callback_data": "read"}]]
    media = {"kind": "photo", "url": "https://example.org/p.png"}
    await _enqueue(session, [Recipient(
        channel="telegram", chat_id="42", message=Message("<b>Họp</b>", media, buttons),
        dedupe_key="k", identity_id=None, member_id=None,
    )])
    [row] = await outbox.claim(session, worker="w", channel="telegram", limit=5, now=utcnow())
    assert (row.chat_id, row.text, row.media, row.buttons, row.attempts, row.kind,
            row.source_type, row.source_id, row.dedupe_key, row.claimed_by) == (
        "42", "<b>Họp</b>", media, buttons, 0, "announcement", "announcement", 7, "k", "w"
    )


async def test_each_sent_row_keeps_its_own_attempts_time_and_message_id(
    session: AsyncSession,
) -> None:
    await _enqueue(session, _recipients(40))
    now = utcnow()
    rows = await outbox.claim(session, worker="w", channel="telegram", limit=40, now=now)
    expected = {
        row.id: (n % 3 + 1, now + timedelta(seconds=n), None if n % 7 == 0 else f"m{n}")
        for n, row in enumerate(rows)
    }
    results = [
        outbox.sent(row_id, message_id=message_id, attempts=attempts, now=at)
        for row_id, (attempts, at, message_id) in expected.items()
    ]
    results.reverse()  # the order results come back in does not matter
    last = results.pop()
    results.append(outbox.retry(last.id, at=now, attempts=1, error="NetworkError: x"))
    await outbox.record(session, results, worker="w")
    await session.commit()
    session.expire_all()
    stored = {row.id: row for row in (await session.exec(select(OutboxMessage))).all()}
    retried = stored.pop(last.id)
    assert (retried.status, retried.sent_at, retried.claimed_by) == (Status.PENDING, None, None)
    expected.pop(last.id)
    assert {row_id: (row.attempts, row.sent_at, row.platform_message_id)
            for row_id, row in stored.items()} == expected
    assert {(row.status, row.claimed_by, row.error) for row in stored.values()} == {
        (Status.SENT, None, None)
    }


async def test_cancel_stops_pending_rows_and_progress_counts_them(
    session: AsyncSession,
) -> None:
    await _enqueue(session, _recipients(6))
    other = Source("announcement", 8)
    await outbox.enqueue(
        session, _recipients(2, key="a8"), kind="announcement", source=other, now=utcnow()
    )
    now = utcnow()
    rows = await outbox.claim(session, worker="w", channel="telegram", limit=4, now=now)
    await outbox.record(session, [
        outbox.sent(rows[0].id, message_id="1", attempts=1, now=now),  # type: ignore[arg-type]
        outbox.gave_up(rows[1].id, status=Status.BLOCKED, attempts=1, error="Forbidden"),  # type: ignore[arg-type]
        outbox.gave_up(rows[2].id, status=Status.FAILED, attempts=5, error="NetworkError"),  # type: ignore[arg-type]
    ], worker="w")
    await session.commit()

    assert await outbox.cancel(session, ANNOUNCEMENT) == 2
    await session.commit()
    progress = await outbox.progress(session, ANNOUNCEMENT)
    assert (progress.sent, progress.blocked, progress.failed, progress.in_flight,
            progress.pending, progress.cancelled) == (1, 1, 1, 1, 0, 2)
    assert (await outbox.progress(session, other)).pending == 2


async def test_rows_left_sending_by_a_dead_worker_come_back_flagged(
    session: AsyncSession,
) -> None:
    await _enqueue(session, _recipients(4))
    then = utcnow()
    await outbox.claim(session, worker="dead", channel="telegram", limit=3, now=then)
    await session.commit()
    lease, seconds = timedelta(seconds=60), timedelta(seconds=1)
    assert await outbox.recover_expired(session, now=then + 30 * seconds, lease=lease) == 0
    assert await outbox.recover_expired(session, now=then + 61 * seconds, lease=lease) == 3
    await session.commit()
    assert await outbox.crash_resent(session) == 3
    assert (await outbox.progress(session, ANNOUNCEMENT)).resent_after_crash == 3
    assert set((await _statuses(session)).values()) == {Status.PENDING}
    # A result arriving from the dead worker afterwards does not overwrite the new claim.
    rows = await outbox.claim(session, worker="new", channel="telegram", limit=10,
                              now=then + timedelta(seconds=62))
    await outbox.record(session, [
        outbox.sent(rows[0].id, message_id="9", attempts=1, now=then),  # type: ignore[arg-type]
    ], worker="dead")
    await session.commit()
    assert (await outbox.progress(session, ANNOUNCEMENT)).in_flight == 4


async def test_the_rate_is_reserved_on_one_row_for_every_worker(session: AsyncSession) -> None:
    first = await outbox.reserve_slots(session, channel="telegram", count=10, rate=5, now=100.0)
    second = await outbox.reserve_slots(session, channel="telegram", count=5, rate=5, now=100.5)
    await outbox.pause_channel(session, channel="telegram", until=110.0)
    third = await outbox.reserve_slots(session, channel="telegram", count=1, rate=5, now=101.0)
    later = await outbox.reserve_slots(session, channel="telegram", count=1, rate=5, now=200.0)
    assert (first, second, third, later) == (100.0, 102.0, 110.0, 200.0)


async def test_blocking_marks_the_account_and_queues_the_other_one(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"], "Lan", telegram_id=111, zalo_id=222)
    ok = [[{"text": "OK", "callback_data": "x"}]]
    await outbox.enqueue_for_members(
        session, [lan], kind="announcement", source=ANNOUNCEMENT,
        render=lambda m, i: Message("Họp lúc 8 giờ", buttons=ok), now=utcnow(),
    )
    [row] = await outbox.claim(session, worker="w", channel="telegram", limit=1, now=utcnow())
    other = await outbox.mark_blocked(session, row, now=utcnow())
    await session.commit()
    assert other is not None
    assert (other.channel, other.chat_id, other.text, other.buttons) == (
        "zalo", "222", "Họp lúc 8 giờ", [[{"text": "OK", "callback_data": "x"}]]
    )
    telegram = (await session.exec(select(Identity).where(Identity.channel == "telegram"))).one()
    assert telegram.blocked_at is not None


async def test_mydata_lists_what_was_sent_and_erasure_keeps_only_that_it_was(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"], "Lan", telegram_id=111)
    binh = await make_member(session, tree["trai"], "Bình", telegram_id=333)
    lan_id, binh_id = lan.id, binh.id
    for number in (1, 2):
        await outbox.enqueue_for_members(
            session, [lan, binh], kind="announcement", source=Source("announcement", number),
            render=lambda m, i: Message(f"Gửi {m.full_name}"), now=utcnow(),
        )
    now = utcnow()
    rows = await outbox.claim(session, worker="w", channel="telegram", limit=2, now=now)
    await outbox.record(session, [
        outbox.sent(row.id, message_id="5", attempts=1, now=now) for row in rows  # type: ignore[arg-type]
    ], worker="w")
    await session.commit()
    session.expire_all()  # the rows were updated in SQL, behind the loaded objects
    identity = (await session.exec(select(Identity).where(Identity.external_id == "111"))).one()

    data = await export_member_data(session, identity)
    assert [(m["kind"], m["status"]) for m in data["messages_sent_to_you"]] == [
        ("announcement", "sent"), ("announcement", "pending"),
    ]
    await erase_member(session, identity)
    await session.commit()
    session.expire_all()
    left = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert [(r.member_id, r.status, r.text, r.chat_id) for r in left] == [
        (lan_id, "sent", "", ""), (binh_id, "sent", "Gửi Bình", "333"),
        (binh_id, "pending", "Gửi Bình", "333"),
    ]
