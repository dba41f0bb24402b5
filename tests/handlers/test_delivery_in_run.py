"""`unionbot run` delivers the outbox by itself, unless DELIVERY_IN_RUN=false."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from models import outbox
from models.base import utcnow
from models.outbox import Message, Recipient, Source
from tests.botapi.telegram import FakeTelegram


async def _enqueue(db: AsyncSession, chat_id: int) -> None:
    await outbox.enqueue(db, [Recipient(
        channel="telegram", chat_id=str(chat_id), message=Message("<b>Họp</b> lúc 8 giờ"),
        dedupe_key=f"k{chat_id}",
    )], kind="notice", source=Source("test", 1), now=utcnow())
    await db.commit()


async def test_the_running_bot_sends_what_is_queued(bot, tg: FakeTelegram, db) -> None:  # type: ignore[no-untyped-def]
    lan = tg.user(first_name="Lan")
    assert bot.delivery is not None
    await _enqueue(db, lan.id)
    message = await lan.next_message()
    assert message.plain_text == "Họp lúc 8 giờ"


async def test_delivery_can_be_left_to_separate_workers(start_bot, units) -> None:  # type: ignore[no-untyped-def]
    async with start_bot(delivery_in_run=False) as runtime:
        assert runtime.delivery is None
