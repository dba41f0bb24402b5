"""Notices go through the delivery outbox: an approval's notice is saved with the approval (in
the member's language, for their account) and reaches them even when no worker was running at
the time, when their Telegram blocked the bot (their linked Zalo gets it), or after a server
error (it is tried again)."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.channels import int_id_for
from models.members import Identity, Member, MemberStatus
from models.outbox import OutboxMessage
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_official
from tests.handlers.helpers import next_sent
from tests.handlers.test_zalo import said

OFFICIAL_ID = 7501
LAN_ID = 7502


async def _rows(db: AsyncSession) -> list[OutboxMessage]:
    db.expire_all()
    return list((await db.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all())


async def _approve_lan(tg: FakeTelegram, *, fail: tuple[int, str] | None = None) -> None:
    """The official opens /pending and approves Lan; returns once the queue is shown again.
    `fail`: the next sendMessage after /pending answered (Lan's notice) gets that error."""
    official = tg.user(first_name="Quận", user_id=OFFICIAL_ID)
    await official.send("/pending")
    await next_sent(official)
    if fail is not None:
        tg.fail_next("sendMessage", fail[0], description=fail[1])
    await official.tap("✅ Duyệt Nguyễn Thị Lan")
    assert "Không có ai đang chờ duyệt" in (await official.next_message()).text


async def _setup(db: AsyncSession, units: dict, *, zalo_id: int | None = None) -> int:
    await make_official(db, units["district"], telegram_id=OFFICIAL_ID)
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID,
                            zalo_id=zalo_id, status=MemberStatus.PENDING, locale="en")
    await db.commit()
    return int(inspect(lan).identity[0])


async def test_the_notice_is_saved_with_the_approval_and_sent_later(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession
) -> None:
    lan_id = await _setup(db, units)
    lan = tg.user(first_name="Lan", user_id=LAN_ID)

    # No worker in this process: the approval is saved with its notice, waiting in the outbox.
    async with start_bot(delivery_in_run=False):
        await _approve_lan(tg)
    [row] = await _rows(db)
    assert (row.kind, row.channel, row.chat_id, row.status) == (
        "notice", "telegram", str(LAN_ID), "pending"
    )
    assert (row.source_type, row.source_id, row.member_id) == ("member", lan_id, lan_id)
    assert "has been approved" in row.text  # Lan reads English
    assert (await db.get(Member, lan_id)).status == MemberStatus.ACTIVE  # type: ignore[union-attr]
    assert lan.messages == []

    # The next start sends it.
    async with start_bot():
        notice = await next_sent(lan)
        assert "has been approved" in notice.text and "Trường THCS Nguyễn Trãi" in notice.text
    [row] = await _rows(db)
    assert row.status == "sent"


async def test_a_notice_blocked_on_telegram_reaches_the_linked_zalo_account(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession
) -> None:
    lan_zalo = zalo.user(display_name="Lan", known=True)
    zalo_number, _ = await int_id_for(db, lan_zalo.id)
    lan_id = await _setup(db, units, zalo_id=zalo_number)

    async with start_bot(channels=("telegram", "zalo")):
        await _approve_lan(tg, fail=(403, "Forbidden: bot was blocked by the user"))
        assert "has been approved" in await said(lan_zalo)

    rows = await _rows(db)
    assert [(row.channel, row.status) for row in rows] == [
        ("telegram", "blocked"), ("zalo", "sent")
    ]
    telegram = (await db.exec(
        select(Identity).where(Identity.member_id == lan_id, Identity.channel == "telegram")
    )).one()
    assert telegram.blocked_at is not None


async def test_a_notice_is_sent_again_after_a_server_error(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession
) -> None:
    await _setup(db, units)
    lan = tg.user(first_name="Lan", user_id=LAN_ID)

    async with start_bot(delivery_backoff_seconds=0.1):
        await _approve_lan(tg, fail=(502, "Bad Gateway"))
        assert "has been approved" in (await next_sent(lan)).text

    [row] = await _rows(db)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len([c for c in tg.calls_of("sendMessage") if c.params.get("chat_id") == LAN_ID]) == 2
