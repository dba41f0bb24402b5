"""Who hears that a teacher asked to join: the officials of their school (or the nearest level
above that has officials), on their own channel, in their own language."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.members import Member, MemberStatus
from tests.botapi.telegram import FakeTelegram
from tests.factories import make_member, make_official
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


async def _edit_profile(user, field: str, answer: str) -> None:  # type: ignore[no-untyped-def]
    """/profile → Edit → one field → its answer → Save."""
    await user.send("/profile")
    await next_sent(user)
    await user.tap("Sửa thông tin")
    await next_sent(user)
    await user.tap(field)
    await next_sent(user)
    await user.tap(answer)
    await next_sent(user)  # thank you
    await next_sent(user)  # the summary
    await user.tap("Lưu")
    assert "Đã lưu" in (await next_sent(user)).text


async def test_a_rejected_teacher_who_corrects_her_details_is_back_in_the_queue(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=7201)
    lan_member = await make_member(
        db, units["trai"], "Nguyễn Thị Lan", telegram_id=7301, status=MemberStatus.REJECTED
    )
    lan_member.status_reason = "Sai chức danh"
    lan_id = lan_member.id
    await db.commit()
    chair = tg.user(first_name="Hùng", user_id=7201)
    lan = tg.user(first_name="Lan", user_id=7301)

    await _edit_profile(lan, "Chức danh", "Nhân viên")

    notice = await next_sent(chair)
    assert "xin tham gia lại" in notice.text and "Nguyễn Thị Lan" in notice.text
    db.expire_all()
    member = await db.get(Member, lan_id)
    assert member.status == MemberStatus.PENDING and member.status_reason is None


async def test_the_new_school_hears_of_a_teacher_who_moved_there(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=7201)
    await make_official(db, units["du"], "Chủ tịch CĐ Du", telegram_id=7202)
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=7301)
    await db.commit()
    old_chair = tg.user(first_name="Hùng", user_id=7201)
    new_chair = tg.user(first_name="Du", user_id=7202)
    lan = tg.user(first_name="Lan", user_id=7301)

    await lan.send("/profile")
    await next_sent(lan)
    await lan.tap("Sửa thông tin")
    await next_sent(lan)
    await lan.tap("Công đoàn cơ sở")
    await next_sent(lan)  # the tree
    for level in ("Liên đoàn Lao động", "Công đoàn Giáo dục Hà Nội", "quận Ba Đình"):
        await lan.tap(level)
        await lan.next_message()
    await lan.tap("Trường Tiểu học Nguyễn Du")
    await next_sent(lan)  # thank you
    await next_sent(lan)  # the summary
    await lan.tap("Lưu")
    assert "Đã lưu" in (await next_sent(lan)).text

    notice = await next_sent(new_chair)
    assert "đã chuyển sang" in notice.text and "Trường Tiểu học Nguyễn Du" in notice.text
    await tg.wait_idle()
    assert old_chair.pending() == []
