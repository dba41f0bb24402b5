"""The scoring reminder reaches the reviewers who have not scored, and the official sees on the
initiative's card what it reached and how many then scored."""

from __future__ import annotations

import time as wall
from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.initiatives import InitiativeStatus, ReviewSeat
from tests.botapi.telegram import FakeTelegram
from tests.factories import make_initiative, make_member, make_official, make_reviewer
from tests.handlers.helpers import next_sent


async def test_the_official_sees_what_the_scoring_reminder_reached(  # type: ignore[no-untyped-def]
    bot: Runtime, units, tg: FakeTelegram, db: AsyncSession
) -> None:
    await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=9001)
    mai = await make_reviewer(db, units["district"], "Phạm Thị Mai", telegram_id=9002)
    author = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=9003)
    initiative = await make_initiative(db, author, status=InitiativeStatus.UNDER_REVIEW)
    deadline = datetime.now(UTC) + timedelta(days=20)
    initiative.round, initiative.scoring_deadline = 1, deadline
    db.add(initiative)
    db.add(ReviewSeat(initiative_id=initiative.id, round=1, is_chair=True,  # type: ignore[arg-type]
                      reviewer_member_id=mai.id))  # type: ignore[arg-type]
    await db.commit()
    initiative_id = initiative.id

    # Seven days before the deadline, 08:00 in Hà Nội (01:00 UTC), Mai is reminded.
    day = (deadline + timedelta(hours=7)).date() - timedelta(days=7)
    moment = datetime(day.year, day.month, day.day, 1, 0, tzinfo=UTC)
    shift = (moment - datetime.now(UTC)).total_seconds()
    assert bot.scheduler is not None and bot.delivery is not None
    bot.delivery.clock = lambda: wall.time() + shift
    bot.scheduler.clock = lambda: moment
    await bot.scheduler.tick()
    mai_chat = tg.user(first_name="Mai", user_id=9002)
    assert "Sắp hết hạn chấm điểm" in (await next_sent(mai_chat)).text

    hung = tg.user(first_name="Hùng", user_id=9001)
    await hung.send("/review")
    queue = await next_sent(hung)
    await hung.tap_data(f"irv:o:{initiative_id}", message=queue)
    while not (card := await next_sent(hung)).buttons:
        pass
    assert "đã gửi 1 tin · tới 1 người" in card.text
    assert "0/1" in card.text
