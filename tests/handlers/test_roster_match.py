"""A member already on the union's roster joins from the chat and is matched to their record,
end to end on Telegram (a shared contact) and on Zalo (a typed number)."""

from __future__ import annotations

from datetime import date

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.members import Identity, Member
from models.org import OrgUnit
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_official
from tests.handlers.conftest import ADMIN_ID
from tests.handlers.helpers import (
    agree_and_name,
    alert_for,
    choose,
    next_sent,
    pick_school_by_browsing,
)
from tests.handlers.test_zalo import said, said_until

OFFICIAL_ID = 7501


async def _roster_record(db: AsyncSession, unit: OrgUnit, name: str = "Nguyễn Thị Lan") -> int:
    """A member the official imported from the roster: active, no chat account yet."""
    record = await make_member(
        db, unit, name, phone="+84912345678", member_code="DV001", gender=None
    )
    record.date_of_birth = date(1985, 3, 2)
    db.add(record)
    await db.commit()
    return record.id  # type: ignore[return-value]


async def _members(db: AsyncSession) -> list[Member]:
    db.expire_all()
    return list((await db.exec(select(Member).order_by(Member.id))).all())


async def _to_roster_question(user: TgUser, name: str) -> BotMessage:
    """Joins on Telegram up to the phone question at Trường Tiểu học Nguyễn Du, shares the
    person's own contact; returns the next question."""
    await agree_and_name(user, name)
    for level in ("Liên đoàn Lao động", "Công đoàn Giáo dục Hà Nội", "quận Ba Đình"):
        await user.tap(level)
        await user.next_message()
    await choose(user, "Trường Tiểu học Nguyễn Du")
    await choose(user, "Giáo viên")
    await choose(user, "Nữ")
    await user.send_contact("0912345678")
    assert (await next_sent(user)).removes_keyboard  # "thank you", the phone keyboard gone
    return await next_sent(user)


async def test_a_shared_contact_joins_the_roster_record_instead_of_a_duplicate(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    record_id = await _roster_record(db, units["trai"])
    admin = tg.user(first_name="Admin", user_id=ADMIN_ID)
    lan = tg.user(first_name="Lan")

    # She typed her name her own way and chose another school: the proven number finds her.
    question = await _to_roster_question(lan, "Lan Nguyễn")
    assert "Trường THCS Nguyễn Trãi" in question.text and "Nguyễn Thị Lan" in question.text
    assert question.buttons == [["✅ Đúng, là tôi"], ["✖ Không phải"]]

    await lan.tap("Đúng, là tôi")
    await next_sent(lan)  # thank you
    summary = await next_sent(lan)
    assert "DV001" in summary.text and "danh sách đoàn viên" in summary.text
    assert "Nguyễn Thị Lan" in summary.text and "Trường THCS Nguyễn Trãi" in summary.text
    assert "Lan Nguyễn" not in summary.text and "Nguyễn Du" not in summary.text
    # The old question cannot be answered again.
    answer = await alert_for(lan, "onb:roster:no", message=question)
    assert "không còn dùng được" in answer["text"]

    await lan.tap("Xác nhận")
    done = await next_sent(lan)
    assert "danh sách đoàn viên của <b>Trường THCS Nguyễn Trãi</b>" in done.text
    notice = await next_sent(admin)
    assert "Nguyễn Thị Lan" in notice.text and "hồ sơ trong danh sách" in notice.text
    assert "chia sẻ từ chính tài khoản" in notice.text

    await lan.send("/profile")
    card = await next_sent(lan)
    assert "Nguyễn Thị Lan" in card.text and "Mã đoàn viên: DV001" in card.text
    assert "đã duyệt" in card.text  # the roster's status: no approval needed

    [member] = await _members(db)  # no duplicate
    assert member.id == record_id
    assert (member.full_name, member.unit_id, member.member_code, member.date_of_birth) == (
        "Nguyễn Thị Lan", units["trai"].id, "DV001", date(1985, 3, 2)
    )
    assert (member.gender, member.status, member.locale) == ("female", "active", "vi")
    identity = (await db.exec(select(Identity).where(Identity.member_id == record_id))).one()
    assert identity.external_id == str(lan.id)


async def test_no_makes_a_new_request_and_leaves_the_roster_alone(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    record_id = await _roster_record(db, units["trai"])
    admin = tg.user(first_name="Admin", user_id=ADMIN_ID)
    lan = tg.user(first_name="Lan")
    await _to_roster_question(lan, "Lan Nguyễn")
    await lan.tap("Không phải")
    await next_sent(lan)  # thank you
    summary = await next_sent(lan)
    assert "Lan Nguyễn" in summary.text and "Trường Tiểu học Nguyễn Du" in summary.text
    assert "DV001" not in summary.text
    await lan.tap("Xác nhận")
    assert "đã được gửi tới cán bộ công đoàn" in (await next_sent(lan)).text
    notice = await next_sent(admin)
    assert "Đoàn viên mới chờ duyệt" in notice.text and "Lan Nguyễn" in notice.text

    record, new = await _members(db)
    assert record.id == record_id and record.locale is None and record.gender is None
    assert (await db.exec(select(Identity).where(Identity.member_id == record_id))).all() == []
    assert (new.full_name, new.unit_id, new.status) == ("Lan Nguyễn", units["du"].id, "pending")


async def test_a_typed_number_with_another_name_reveals_nothing(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await _roster_record(db, units["trai"], "Phạm Thu Hà")
    minh = tg.user(first_name="Minh")
    await agree_and_name(minh, "Trần Văn Minh")
    await pick_school_by_browsing(minh)
    await choose(minh, "Giáo viên")
    await choose(minh, "Nam")
    await minh.send("0912 345 678")  # someone else's number, typed
    await next_sent(minh)
    summary = await next_sent(minh)
    assert summary.buttons[0] == ["✅ Xác nhận", "✏️ Sửa"]
    assert not any("Phạm Thu Hà" in (m.text or "") for m in minh.messages)
    assert not any("DV001" in (m.text or "") for m in minh.messages)


async def test_the_roster_question_survives_a_restart(
    start_bot, units: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    record_id = await _roster_record(db, units["trai"])
    lan = tg.user(first_name="Lan")
    async with start_bot():
        question = await _to_roster_question(lan, "Nguyễn Thị Lan")
    async with start_bot():
        await lan.tap("Đúng, là tôi", message=question)
        await next_sent(lan)  # thank you
        summary = await next_sent(lan)
        assert "DV001" in summary.text
        await lan.tap("Xác nhận")
        await next_sent(lan)
    [member] = await _members(db)
    assert member.id == record_id


async def test_on_zalo_a_typed_number_and_the_same_name_wait_for_an_official_to_link(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db,
) -> None:
    record_id = await _roster_record(db, units["trai"])
    await make_official(db, units["trai"], "Trần Văn Hùng", telegram_id=OFFICIAL_ID)
    await db.commit()
    official = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    lan = zalo.user(display_name="Lan")
    async with start_bot(channels=("telegram", "zalo")):
        await lan.send("Xin chào")
        assert "3. 🇬🇧 English" in await said(lan)
        await lan.send("3")  # she reads English
        await said_until(lan, "1. ✅ I agree")
        await lan.send("1")
        await said_until(lan, "full name")
        await lan.send("Nguyen Thi Lan")  # typed without diacritics
        await said(lan)
        await lan.send("Nguyen Trai")
        await said_until(lan, "1. Trường THCS Nguyễn Trãi")
        await lan.send("1")
        await said_until(lan, "1. Teacher")
        await lan.send("1")
        await said_until(lan, "1. Female")
        await lan.send("1")
        await said_until(lan, "Skip")
        await lan.send("0912 345 678")
        question = (await said_until(lan, "1. ✅ Yes, that's me"))[-1]
        # Only what she typed: her name as typed, not the roster's spelling nor its school.
        assert "Nguyen Thi Lan" in question and "officials will check" in question
        assert "Nguyễn Thị Lan" not in question and "Trường" not in question
        await lan.send("1")
        summary = (await said_until(lan, "1. ✅ Confirm"))[-1]
        # A typed number proves nothing: nothing of the record is shown, an official checks.
        assert "an official of your union will check" in summary
        assert "DV001" not in summary and "Nguyễn Thị Lan" not in summary
        assert "Nguyen Thi Lan" in summary
        await lan.send("1")
        done = (await said_until(lan, "waiting for"))[-1]
        assert "Trường THCS Nguyễn Trãi" in done and "linked to your record" in done
        await lan.send("/profile")  # her own request until approved, not the record
        waiting = await said(lan)
        assert "Nguyen Thi Lan" in waiting and "DV001" not in waiting

        notice = await next_sent(official)
        assert "Đoàn viên mới chờ duyệt" in notice.text and "Nguyen Thi Lan" in notice.text
        assert "<b>Nguyễn Thị Lan (DV001)</b>" in notice.text and "chưa xác minh" in notice.text
        await official.send("/pending")
        queue = await next_sent(official)
        assert "Nhận là <b>Nguyễn Thị Lan (DV001)</b> trong danh sách" in queue.text
        await official.tap("✅ Duyệt Nguyen Thi Lan")
        approved = await said(lan)
        assert "has been approved" in approved and "Trường THCS Nguyễn Trãi" in approved
        await official.next_message()  # the queue again, in place
        await lan.send("/profile")
        card = await said(lan)
        assert "Nguyễn Thị Lan" in card and "Member code: DV001" in card

    members = await _members(db)
    assert len(members) == 2  # the record and the official: no duplicate of Lan
    member = next(m for m in members if m.id == record_id)
    assert member.full_name == "Nguyễn Thị Lan" and member.status == "active"
    assert (member.position, member.gender, member.locale) == ("teacher", "female", "en")
    identity = (await db.exec(select(Identity).where(Identity.member_id == record_id))).one()
    assert identity.channel == "zalo"


async def test_a_roster_imported_while_at_the_summary_is_offered_before_joining(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    lan = tg.user(first_name="Lan")
    await agree_and_name(lan, "Nguyễn Thị Lan")
    await pick_school_by_browsing(lan)
    await choose(lan, "Giáo viên")
    await choose(lan, "Nữ")
    await lan.send_contact("0912345678")
    await next_sent(lan)
    summary = await next_sent(lan)
    assert "DV001" not in summary.text
    record_id = await _roster_record(db, units["trai"])  # the official imports the roster now

    await lan.tap("Xác nhận")
    assert "vừa thay đổi" in (await next_sent(lan)).text
    await next_sent(lan)  # thank you
    question = await next_sent(lan)
    assert "Nguyễn Thị Lan" in question.text and question.buttons[0] == ["✅ Đúng, là tôi"]
    await lan.tap("Đúng, là tôi")
    await next_sent(lan)  # thank you
    assert "DV001" in (await next_sent(lan)).text
    await choose(lan, "Xác nhận")
    [member] = await _members(db)
    assert member.id == record_id
