"""A teacher joins the union on Telegram, end to end, through the real bot and a local Bot API.

Each test plays a person: what they type and tap, and what they see back.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.members import ConsentRecord, Identity, Member
from models.onboarding import OnboardingDraft
from tests.botapi.telegram import FakeTelegram
from tests.handlers.conftest import ADMIN_ID
from tests.handlers.helpers import (
    agree_and_name,
    alert_for,
    choose,
    next_sent,
    pick_school_by_browsing,
    to_summary,
)


async def _members(db: AsyncSession) -> list[Member]:
    db.expire_all()
    return list((await db.exec(select(Member))).all())


async def test_a_teacher_joins_in_vietnamese_and_the_officials_hear_of_it(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    admin = tg.user(first_name="Admin", user_id=ADMIN_ID)
    lan = tg.user(first_name="Lan", last_name="Nguyễn")

    await lan.send("/start")
    welcome = await next_sent(lan)
    assert "họ tên" in welcome.text and "đồng ý" in welcome.text
    assert welcome.buttons[0] == ["✅ Tôi đồng ý", "✖ Không đồng ý"]

    await lan.tap("Tôi đồng ý")
    ask_name = await next_sent(lan)
    assert "Họ và tên" in ask_name.text

    await lan.send("Nguyễn Thị Lan")
    ask_unit = await next_sent(lan)
    assert "công đoàn cơ sở" in ask_unit.text
    ask_position = await pick_school_by_browsing(lan)
    assert "Chức danh" in ask_position.text
    assert ["Giáo viên"] in ask_position.buttons

    await lan.tap("Giáo viên")
    ask_gender = await next_sent(lan)
    assert ask_gender.buttons == [["Nữ"], ["Nam"], ["Không muốn trả lời"]]
    await lan.tap("Nữ")
    ask_phone = await next_sent(lan)
    assert ask_phone.requests_contact

    await lan.send_contact("84912345678")
    thanks = await next_sent(lan)
    assert thanks.removes_keyboard
    summary = await next_sent(lan)
    for shown in ("Nguyễn Thị Lan", "Trường THCS Nguyễn Trãi", "Giáo viên", "Nữ", "+84912345678"):
        assert shown in summary.text
    assert summary.buttons[0] == ["✅ Xác nhận", "✏️ Sửa"]

    await lan.tap("Xác nhận")
    done = await next_sent(lan)
    assert "đã được gửi tới cán bộ công đoàn" in done.text

    notice = await next_sent(admin)
    assert "Nguyễn Thị Lan" in notice.text and "Trường THCS Nguyễn Trãi" in notice.text
    assert "+84912345678" not in notice.text  # officials are told who, not the phone

    [member] = await _members(db)
    assert (member.full_name, member.position, member.gender, member.phone, member.status) == (
        "Nguyễn Thị Lan", "teacher", "female", "+84912345678", "pending"
    )
    purposes = {(r.purpose, r.granted) for r in (await db.exec(select(ConsentRecord))).all()}
    assert purposes == {
        ("membership", True), ("gender_statistics", True), ("contact_phone", True)
    }


async def test_a_teacher_joins_in_english_finding_the_school_by_search(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    john = tg.user(first_name="John", language_code="en")
    await john.send("/start")
    welcome = await next_sent(john)
    await john.tap("English")
    await john.next_message()  # the language question, closed
    welcome = await next_sent(john)
    assert "Do you agree" in welcome.text
    await john.tap("I agree")
    assert "full name" in (await next_sent(john)).text
    await john.send("Trần Văn Minh")
    await next_sent(john)

    await john.send("nguyen trai")
    results = await next_sent(john)
    assert results.buttons[0][0].startswith("Trường THCS Nguyễn Trãi")
    await john.send("khong co truong nay")
    none = await next_sent(john)
    assert "No grassroots union" in none.text

    await john.tap("Trường THCS Nguyễn Trãi", message=results)  # earlier results still work
    await next_sent(john)
    summary = await to_summary(john, position="Staff", gender="Prefer not to say",
                               phone="0912 345 678")
    assert "+84912345678" in summary.text and "Prefer not to say" in summary.text

    await john.tap("Edit")
    fields = await john.next_message()
    assert ["Full name"] in fields.buttons
    await john.tap("Full name")
    await next_sent(john)
    await john.send("Trần Văn Minh Quân")
    await next_sent(john)  # thank you
    summary = await next_sent(john)
    assert "Trần Văn Minh Quân" in summary.text
    await john.tap("Confirm")
    assert "has been sent to the union officials" in (await next_sent(john)).text

    [member] = await _members(db)
    assert member.full_name == "Trần Văn Minh Quân" and member.gender is None
    assert member.locale == "en"


async def test_an_invite_link_presets_the_school_and_approves_at_once(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    from models.members import create_invite

    await create_invite(db, code="TRAI-2026", unit_id=units["trai"].id, auto_approve=True)
    await db.commit()
    ha = tg.user(first_name="Hà")
    await ha.send("/start TRAI-2026")
    welcome = await next_sent(ha)
    await ha.tap(welcome.buttons[0][0])
    await next_sent(ha)
    await ha.send("Phạm Thu Hà")
    ask_position = await next_sent(ha)
    assert "Chức danh" in ask_position.text  # no union question
    summary = await to_summary(ha, position="Giáo viên", gender="Nữ", phone=None)
    assert "Trường THCS Nguyễn Trãi" in summary.text and "không cung cấp" in summary.text
    await ha.tap("Xác nhận")
    assert "Bạn đã là đoàn viên của" in (await next_sent(ha)).text
    [member] = await _members(db)
    assert member.status == "active" and member.phone is None


async def test_an_unknown_invite_code_is_explained_and_joining_goes_on(
    bot: Runtime, tg: FakeTelegram
) -> None:
    an = tg.user(first_name="An")
    await an.send("/start NOT-A-CODE")
    assert "Mã mời này không đúng" in (await next_sent(an)).text
    assert (await next_sent(an)).buttons[0][0] == "✅ Tôi đồng ý"


async def test_refusing_consent_stores_only_the_refusal(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    binh = tg.user(first_name="Bình")
    await binh.send("/start")
    await next_sent(binh)
    await binh.tap("Không đồng ý")
    refusal = await next_sent(binh)
    assert "không lưu thông tin gì" in refusal.text
    records = (await db.exec(select(ConsentRecord))).all()
    assert [(r.purpose, r.granted) for r in records] == [("membership", False)]
    assert (await db.exec(select(OnboardingDraft))).all() == []
    assert await _members(db) == []

    await binh.send("Nguyễn Văn Bình")  # no flow: the bot does not take it as a name
    assert "/help" in (await next_sent(binh)).text
    assert (await db.exec(select(OnboardingDraft))).all() == []


async def test_bad_names_are_refused_with_the_reason_and_change_nothing(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    cuc = tg.user(first_name="Cúc")
    await cuc.send("/start")
    await cuc.tap((await next_sent(cuc)).buttons[0][0])
    await next_sent(cuc)

    await cuc.send("A")
    assert "ít nhất 2 ký tự" in (await next_sent(cuc)).text
    await cuc.send("Nguyễn " * 72)
    assert "dài quá 100 ký tự" in (await next_sent(cuc)).text
    await cuc.send("🌸🌸🌸")
    assert "chỉ gồm chữ cái" in (await next_sent(cuc)).text
    await cuc.send_photo()
    unexpected = await next_sent(cuc)
    assert "chưa nhận được câu trả lời" in unexpected.text
    assert "Họ và tên" in (await next_sent(cuc)).text  # asked again

    draft = (await db.exec(select(OnboardingDraft))).one()
    assert draft.full_name is None and draft.step == "name"
    await cuc.send("Lê Thị Cúc")
    assert "công đoàn cơ sở" in (await next_sent(cuc)).text


async def test_old_and_forged_buttons_are_refused_and_change_nothing(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    dao = tg.user(first_name="Đào")
    ask_unit = await agree_and_name(dao, "Vũ Thị Đào")
    ask_position = await pick_school_by_browsing(dao)

    # The union menu belongs to an answered question: tapping it again is refused.
    answer = await alert_for(dao, "onb:unit:1", message=ask_unit)
    assert answer["show_alert"] and "không còn dùng được" in answer["text"]

    # Forged payloads: a position that does not exist, a step that is not the current one,
    # and something that is not ours at all.
    refusals = {
        "onb:pos:president": "không hợp lệ",
        "onb:gender:female": "không còn dùng được",
        "something-else": "không còn dùng được",
    }
    for data, said in refusals.items():
        assert said in (await alert_for(dao, data, message=ask_position))["text"]

    draft = (await db.exec(select(OnboardingDraft))).one()
    assert draft.position is None and draft.step == "position"
    await dao.tap("Giáo viên")  # the real button still works
    assert "Giới tính" in (await next_sent(dao)).text


async def test_a_forged_unit_payload_is_refused(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    em = tg.user(first_name="Em")
    ask_unit = await agree_and_name(em, "Hoàng Văn Em")
    for forged in ("onb:unit:999999", f"onb:unit:{units['district'].id}",
                   f"onb:open:{units['trai'].id}:0", "onb:open:0:99"):
        answer = await alert_for(em, forged, message=ask_unit)
        assert "không còn trong danh sách" in answer["text"], forged
    draft = (await db.exec(select(OnboardingDraft))).one()
    assert draft.unit_id is None and draft.step == "unit"


async def test_start_again_mid_flow_resumes_at_the_same_question(
    bot: Runtime, tg: FakeTelegram
) -> None:
    giang = tg.user(first_name="Giang")
    await agree_and_name(giang, "Đỗ Hương Giang")
    await giang.send("/start")
    again = await next_sent(giang)
    assert "công đoàn cơ sở" in again.text  # the union question, not the welcome


async def test_someone_elses_contact_is_refused(bot: Runtime, tg: FakeTelegram) -> None:
    hoa = tg.user(first_name="Hoa")
    await agree_and_name(hoa, "Ngô Thị Hoa")
    await pick_school_by_browsing(hoa)
    await choose(hoa, "Giáo viên")
    await choose(hoa, "Nữ")
    await hoa.send_contact("0987654321", user_id=424242)
    assert "liên hệ của người khác" in (await next_sent(hoa)).text
    await hoa.send_contact("0987654321", user_id=0)
    assert "liên hệ của người khác" in (await next_sent(hoa)).text
    await hoa.send("12345")
    assert "Số điện thoại chưa đúng" in (await next_sent(hoa)).text
    await hoa.send_contact("0987654321")
    await next_sent(hoa)
    assert "+84987654321" in (await next_sent(hoa)).text


async def test_cancel_leaves_at_any_step_and_forgets_the_answers(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    khoa = tg.user(first_name="Khoa")
    await agree_and_name(khoa, "Bùi Đăng Khoa")
    await khoa.send("/cancel")
    assert "Đã huỷ" in (await next_sent(khoa)).text
    assert (await db.exec(select(OnboardingDraft))).all() == []
    await khoa.send("/cancel")
    assert "không có việc gì" in (await next_sent(khoa)).text
    await khoa.send("/start")  # consent is remembered; the questions start over
    assert "Họ và tên" in (await next_sent(khoa)).text


async def test_in_a_group_the_bot_answers_once_and_asks_for_a_private_chat(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    lan = tg.user(first_name="Lan")
    group = tg.group(title="Tổ Toán")
    await lan.send("/start", chat=group)
    told = await group.next_message()
    assert "nhắn riêng" in told.text and "@unionbot_test_bot" in told.text
    await lan.send("/start", chat=group)
    await lan.send("/profile", chat=group)
    # The private chat answers; by then the group messages have been handled, silently.
    await lan.send("/help")
    await next_sent(lan)
    assert group.pending() == []
    assert (await db.exec(select(Identity))).all() == []


async def test_a_member_sees_and_edits_their_profile(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    minh = tg.user(first_name="Minh")
    await minh.send("/profile")
    assert "/start" in (await next_sent(minh)).text
    await agree_and_name(minh, "Lê Quang Minh")
    await pick_school_by_browsing(minh)
    await to_summary(minh, position="Giáo viên", gender="Nam", phone=None)
    await minh.tap("Xác nhận")
    await next_sent(minh)

    await minh.send("/start")
    assert "đã là đoàn viên" in (await next_sent(minh)).text
    await minh.send("/profile")
    card = await next_sent(minh)
    assert "Lê Quang Minh" in card.text and "chờ duyệt" in card.text
    # What they agreed to, and when, in Vietnam's time.
    assert "✅ Lưu thông tin đoàn viên" in card.text
    assert "✅ Dùng giới tính cho thống kê" in card.text
    assert "✖ Dùng số điện thoại để liên hệ" in card.text
    records = (await db.exec(select(ConsentRecord))).all()
    [record] = [r for r in records if r.purpose == "membership"]
    hanoi = record.recorded_at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert hanoi.strftime("%d/%m/%Y %H:%M") in card.text
    await minh.tap("Sửa thông tin")
    fields = await next_sent(minh)
    await minh.tap("Chức danh")
    await next_sent(minh)  # the position question
    await minh.tap("Cán bộ quản lý")
    await next_sent(minh)  # thank you
    summary = await next_sent(minh)
    assert "Cán bộ quản lý" in summary.text and fields.buttons
    await minh.tap("Lưu")
    assert "Đã lưu" in (await next_sent(minh)).text
    [member] = await _members(db)
    assert member.position == "manager" and member.status == "pending"


async def test_officials_are_told_in_their_own_language_and_a_blocked_one_stops_nothing(
    start_bot, units, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    english_admin = tg.user(first_name="Admin", user_id=ADMIN_ID)
    blocked_admin = tg.user(first_name="Away", user_id=ADMIN_ID + 1)
    blocked_admin.block(notify=False)
    async with start_bot(admin_telegram_ids=[ADMIN_ID + 1, ADMIN_ID]):
        await english_admin.send("/language")
        await next_sent(english_admin)
        await english_admin.tap("English")
        await english_admin.next_message()

        lan = tg.user(first_name="Lan")
        await agree_and_name(lan, "Nguyễn Thị Lan")
        await pick_school_by_browsing(lan)
        await to_summary(lan, position="Giáo viên", gender="Nữ", phone=None)
        await lan.tap("Xác nhận")
        assert "đã được gửi" in (await next_sent(lan)).text
        notice = await next_sent(english_admin)
        assert "New member" in notice.text and "Nguyễn Thị Lan" in notice.text
        assert "Teacher" in notice.text and "waiting for approval" in notice.text
        assert blocked_admin.pending() == []
    assert len(await _members(db)) == 1


async def test_editing_an_answer_already_sent_changes_nothing(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    lan = tg.user(first_name="Lan")
    await lan.send("/start")
    await lan.tap((await next_sent(lan)).buttons[0][0])
    await next_sent(lan)
    sent = await lan.send("Nguyễn Thị Lan")
    await next_sent(lan)
    await lan.edit(sent, "Nguyễn Thị Lan Anh")
    await lan.send("nguyen trai")  # still a search on the union question
    assert (await next_sent(lan)).buttons[0][0].startswith("Trường THCS Nguyễn Trãi")
    draft = (await db.exec(select(OnboardingDraft))).one()
    assert draft.full_name == "Nguyễn Thị Lan"
