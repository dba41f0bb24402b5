"""An official sets the initiative call's deadline from /initiative stats by typing a date; a
date that cannot be used is explained and changes nothing; a member cannot set one."""

from __future__ import annotations

import time as wall
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import utcnow
from models.initiative_calls import InitiativeCall
from models.initiatives import InitiativeStatus
from models.movements import school_year_of
from tests.botapi.telegram import FakeTelegram
from tests.factories import make_initiative, make_member, make_official, make_tree
from tests.handlers.helpers import alert_for, next_sent

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


async def _calls(db: AsyncSession) -> list[InitiativeCall]:
    await db.commit()  # a fresh read of what the bot committed
    return list((await db.exec(select(InitiativeCall))).all())


async def test_an_official_types_the_deadline_and_a_bad_date_is_refused(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    tree = await make_tree(db)
    await make_official(db, tree["district"], telegram_id=900)
    lan_member = await make_member(db, tree["trai"], telegram_id=101)
    await make_initiative(db, lan_member, status=InitiativeStatus.DRAFT)
    await db.commit()
    year = school_year_of(utcnow(), TZ)
    next_year = int(year[:4]) + 1
    hung = tg.user(first_name="Hùng", user_id=900)
    lan = tg.user(first_name="Lan", user_id=101)
    async with start_bot() as runtime:
        await hung.send("/initiative stats")
        screen = await next_sent(hung)
        assert ["📅 Hạn nộp sáng kiến"] in screen.buttons
        await hung.tap("📅 Hạn nộp sáng kiến")
        question = await next_sent(hung)
        assert (f"«Công đoàn Giáo dục quận Ba Đình» chưa đặt hạn nộp sáng kiến cho năm học "
                f"{year}") in (question.text or "")
        assert "dd/mm/yyyy" in (question.text or "")

        await hung.send("31/02/2027")
        refused = await next_sent(hung)
        assert "Mình chưa hiểu ngày «31/02/2027»" in (refused.text or "")
        await hung.send("01/01/2020")
        past = await next_sent(hung)
        assert "Hạn nộp sáng kiến phải ở sau thời điểm hiện tại" in (past.text or "")
        assert await _calls(db) == []

        await hung.send(f"15/03/{next_year}")
        saved = await next_sent(hung)
        assert f"✅ Đã đặt hạn nộp sáng kiến năm học {year}" in (saved.text or "")
        assert f"15/03/{next_year} 23:59" in (saved.text or "")
        [call] = await _calls(db)
        assert call.unit_id == tree["district"].id and call.school_year == year
        local = call.deadline.astimezone(TZ)
        assert (local.day, local.month, local.year, local.hour, local.minute) == (
            15, 3, next_year, 23, 59)

        # Later text is not taken as a deadline any more.
        await hung.send(f"20/03/{next_year}")
        await next_sent(hung)
        [call] = await _calls(db)
        assert call.deadline.astimezone(TZ).day == 15

        # Seven days before, at 08:00 local, Lan (her initiative is a draft) is reminded, and
        # the official sees what the reminder reached.
        moment = datetime(next_year, 3, 8, 8, 0, tzinfo=TZ).astimezone(UTC)
        shift = (moment - datetime.now(UTC)).total_seconds()
        runtime.delivery.clock = lambda: wall.time() + shift
        runtime.scheduler.clock = lambda: moment
        await runtime.scheduler.tick()  # (the periodic tick may be the one that queues it)
        assert "Sắp hết hạn nộp sáng kiến" in ((await next_sent(lan)).text or "")
        await db.commit()
        await hung.send("/initiative stats")
        await next_sent(hung)
        await hung.tap("📅 Hạn nộp sáng kiến")
        figures = (await next_sent(hung)).text or ""
        assert "đã gửi 1 tin · tới 1 người" in figures
        assert "0/1 đã nộp sáng kiến sau khi được nhắc" in figures
        await hung.send("/cancel")
        await next_sent(hung)

        # A member's forged tap is refused and changes nothing.
        await lan.send("/help")
        message = await next_sent(lan)
        answer = await alert_for(lan, "inc:o", message=message)
        assert answer["show_alert"] and "dành cho cán bộ công đoàn" in answer["text"]
    [call] = await _calls(db)
    assert call.deadline.astimezone(TZ).day == 15
