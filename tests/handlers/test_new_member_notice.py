"""Who hears that a teacher asked to join: the officials of their school (or the nearest level
above that has officials), on their own channel, in their own language."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from tests.botapi.telegram import FakeTelegram
from tests.factories import make_official
from tests.handlers.conftest import ADMIN_ID
from tests.handlers.helpers import agree_and_name, next_sent, pick_school_by_browsing, to_summary


async def _join_trai(tg: FakeTelegram) -> None:
    lan = tg.user(first_name="Lan")
    await agree_and_name(lan, "Nguyễn Thị Lan")
    await pick_school_by_browsing(lan)
    await to_summary(lan, position="Giáo viên", gender="Nữ", phone=None)
    await lan.tap("Xác nhận")
    await next_sent(lan)


async def test_the_school_chair_hears_of_a_new_teacher_and_the_admin_does_not(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=7201, locale="en")
    await make_official(db, units["district"], "Cán bộ quận", telegram_id=7202)
    await db.commit()
    admin = tg.user(first_name="Admin", user_id=ADMIN_ID)
    chair = tg.user(first_name="Hùng", user_id=7201)
    district = tg.user(first_name="Quận", user_id=7202)

    await _join_trai(tg)

    notice = await next_sent(chair)
    assert "Nguyễn Thị Lan" in notice.text and "Teacher" in notice.text  # in English
    await tg.wait_idle()
    assert admin.pending() == [] and district.pending() == []


async def test_without_a_school_chair_the_district_official_hears_of_it(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["district"], "Cán bộ quận", telegram_id=7202)
    await db.commit()
    district = tg.user(first_name="Quận", user_id=7202)
    await _join_trai(tg)
    notice = await next_sent(district)
    assert "Nguyễn Thị Lan" in notice.text and "Trường THCS Nguyễn Trãi" in notice.text
