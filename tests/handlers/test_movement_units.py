"""A school chair's /myunit, end to end: the collective registration, who has and has not
registered, and the reminder that reaches each teacher in their language on their channel; a
forged button for another school changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.channels import int_id_for
from models.members import MemberStatus
from models.movement_units import MovementNudge
from models.movements import Registration, RegistrationStatus, register
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_movement, make_official
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

CHAIR_ID = 7401
MAI_ID = 7402
MOVEMENT = "Giỏi việc trường, đảm việc nhà"


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y %H:%M")


async def _collectives(db: AsyncSession) -> list[tuple[int, str, str]]:
    db.expire_all()
    rows = await db.exec(select(Registration).where(Registration.collective))
    return [(r.unit_id, r.title_code, r.status) for r in rows.all()]


async def _nudges(db: AsyncSession) -> list[int]:
    db.expire_all()
    return [n.unit_id for n in (await db.exec(select(MovementNudge))).all()]


async def test_a_school_chair_registers_the_school_and_nudges_the_two_teachers(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession
) -> None:
    trai, du = units["trai"], units["du"]
    movement = await make_movement(db, units["district"], MOVEMENT)
    elsewhere = await make_movement(db, units["district"], "Chỉ cho trường khác", targets=[du])
    chair = await make_official(db, trai, "Trần Văn Hùng", telegram_id=CHAIR_ID)
    await register(db, member=chair, movement=movement, title_code="CSTDCS",
                   now=datetime.now(UTC))
    await make_member(db, trai, "Nguyễn Thị Mai", telegram_id=MAI_ID, locale="en")
    hoa_zalo = zalo.user(display_name="Hoa", known=True)
    hoa_number, _ = await int_id_for(db, hoa_zalo.id)
    await make_member(db, trai, "Lê Thị Hoa", zalo_id=hoa_number, locale="vi")
    await make_member(db, trai, "Đỗ Văn Chờ", telegram_id=7409, status=MemberStatus.PENDING)
    ids = (movement.id, trai.id, du.id, elsewhere.id)
    deadline = _local(movement.registration_deadline)
    await db.commit()
    movement_id, trai_id, du_id, elsewhere_id = ids
    chair_tg = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    mai = tg.user(first_name="Mai", user_id=MAI_ID)

    async with start_bot(channels=("telegram", "zalo")):
        await chair_tg.send("/myunit")
        menu = await next_sent(chair_tg)
        assert "Trường THCS Nguyễn Trãi" in menu.plain_text and deadline in menu.plain_text
        assert menu.buttons == [[f"1. {MOVEMENT}"]]

        await chair_tg.tap(f"1. {MOVEMENT}")
        screen = await chair_tg.next_message()
        assert "Đã đăng ký: 1 / Chưa đăng ký: 2" in screen.plain_text
        assert "Đơn vị chưa đăng ký danh hiệu tập thể" in screen.plain_text
        assert f"Hạn đăng ký: {deadline}" in screen.plain_text

        await chair_tg.tap("Đăng ký danh hiệu tập thể")
        titles = await chair_tg.next_message()
        assert titles.buttons == [["Tập thể lao động xuất sắc"], ["◀ Quay lại"]]
        await chair_tg.tap("Tập thể lao động xuất sắc")
        confirm = await chair_tg.next_message()
        assert "«Tập thể lao động xuất sắc»" in confirm.plain_text
        assert await _collectives(db) == []  # nothing before confirming
        await chair_tg.tap("Xác nhận đăng ký")
        screen = await chair_tg.next_message()
        assert "Đăng ký tập thể: Tập thể lao động xuất sắc (đã đăng ký)" in screen.plain_text
        assert "Đã đăng ký: 1 / Chưa đăng ký: 2" in screen.plain_text
        assert ["↩️ Rút đăng ký tập thể"] in screen.buttons
        assert await _collectives(db) == [(trai_id, "TTLDXS", RegistrationStatus.REGISTERED)]

        await chair_tg.tap("Chưa đăng ký (2)")
        names = await chair_tg.next_message()
        assert "1. Lê Thị Hoa\n2. Nguyễn Thị Mai" in names.plain_text
        assert "Đỗ Văn Chờ" not in names.plain_text  # pending: not a member yet
        await chair_tg.tap("◀ Quay lại")
        await chair_tg.next_message()
        await chair_tg.tap("Đã đăng ký (1)")
        names = await chair_tg.next_message()
        assert "1. Trần Văn Hùng — Chiến sĩ thi đua cơ sở" in names.plain_text
        await chair_tg.tap("◀ Quay lại")
        await chair_tg.next_message()

        await chair_tg.tap("Nhắc 2 người chưa đăng ký")
        question = await chair_tg.next_message()
        assert "Gửi lời nhắc tới 2 đoàn viên" in question.plain_text
        assert await _nudges(db) == []
        await chair_tg.tap("Gửi lời nhắc")
        report = await next_sent(chair_tg)
        assert "gửi tới 2 người (họ sẽ nhận trong giây lát); 0 người chưa liên lạc được" in (
            report.plain_text
        )

        in_english = await next_sent(mai)
        assert "A reminder from Trường THCS Nguyễn Trãi" in in_english.plain_text
        assert f"«{MOVEMENT}» takes registrations until {deadline}" in in_english.plain_text
        assert "/movements" in in_english.plain_text
        in_vietnamese = await said(hoa_zalo)
        assert "Công đoàn Trường THCS Nguyễn Trãi nhắc bạn" in in_vietnamese
        assert f"nhận đăng ký đến {deadline}" in in_vietnamese and "/movements" in in_vietnamese
        assert await _nudges(db) == [trai_id]

        # A second reminder the same day is refused, saying when the next may go.
        await chair_tg.tap("Về trang của đơn vị", message=report)
        screen = await chair_tg.next_message()
        assert "Lần nhắc gần nhất" in screen.plain_text and "nhắc lại được từ" in screen.plain_text
        assert not any("Nhắc" in label for row in screen.buttons for label in row)
        # The confirmation's button tapped again (an old message): refused.
        answer = await alert_for(chair_tg, f"mvu:ny:{movement_id}:{trai_id}", message=question)
        assert answer["show_alert"] and "Có thể nhắc lại từ" in answer["text"]

        # Forged buttons: another school, or a movement not meant for this one.
        for forged in (f"mvu:u:{movement_id}:{du_id}", f"mvu:ny:{movement_id}:{du_id}",
                       f"mvu:ty:{movement_id}:{du_id}:3", f"mvu:rn:{movement_id}:{du_id}:0"):
            answer = await alert_for(chair_tg, forged, message=screen)
            assert answer["show_alert"] and "không có quyền" in answer["text"], forged
        answer = await alert_for(chair_tg, f"mvu:u:{elsewhere_id}:{trai_id}", message=screen)
        assert answer["show_alert"] and "không dành cho đơn vị" in answer["text"]
        await tg.wait_idle()
        assert mai.pending() == [] and hoa_zalo.pending() == []

    assert await _collectives(db) == [(trai_id, "TTLDXS", RegistrationStatus.REGISTERED)]
    assert await _nudges(db) == [trai_id]


async def test_the_chair_withdraws_and_hears_who_could_not_be_reached(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    trai = units["trai"]
    await make_movement(db, units["district"], MOVEMENT)
    await make_official(db, trai, "Trần Văn Hùng", telegram_id=CHAIR_ID, locale="en")
    await make_member(db, trai, "Nguyễn Thị Mai", telegram_id=MAI_ID)
    await make_member(db, trai, "Phạm Văn Sổ")  # on the roster only: no chat account
    await db.commit()
    chair_tg = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    mai = tg.user(first_name="Mai", user_id=MAI_ID)

    await chair_tg.send("/myunit")
    await next_sent(chair_tg)
    await chair_tg.tap(f"1. {MOVEMENT}")
    screen = await chair_tg.next_message()
    assert "Registered: 0 / Not yet: 3" in screen.plain_text  # the chair too
    await chair_tg.tap("Register for a collective title")
    await chair_tg.next_message()
    await chair_tg.tap("Tập thể lao động xuất sắc")
    await chair_tg.next_message()
    await chair_tg.tap("Confirm the registration")
    await chair_tg.next_message()
    await chair_tg.tap("Withdraw the collective registration")
    assert "Withdraw the collective registration of" in (await chair_tg.next_message()).text
    await chair_tg.tap("Yes, withdraw")
    screen = await chair_tg.next_message()
    assert "has not registered for a collective title" in screen.plain_text
    assert await _collectives(db) == [
        (trai.id, "TTLDXS", RegistrationStatus.WITHDRAWN)
    ]

    await chair_tg.tap("Nudge the 3 who have not registered")
    await chair_tg.next_message()
    await chair_tg.tap("Send the reminder")
    # The chair has not registered either: their own reminder (it leaves through the outbox,
    # so it may come before or after the report) and the report.
    texts = [(await next_sent(chair_tg)).plain_text for _ in range(2)]
    assert any("A reminder from" in text for text in texts)
    # Mai and the chair have a chat; Sổ is on the roster only.
    reported = "queued for 2 people (they receive it within moments); 1 could not be reached"
    assert any(reported in text for text in texts)
    assert "nhắc bạn" in (await next_sent(mai)).plain_text


async def test_myunit_is_for_grassroots_officials(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["district"], "Cán bộ quận", telegram_id=7411)
    await make_official(db, units["du"], "Chủ tịch CĐ Du", telegram_id=7412)
    await make_member(db, units["trai"], "Giáo viên", telegram_id=7413)
    await make_movement(db, units["district"], "Đã hết hạn",
                        registration_deadline=datetime.now(UTC) - timedelta(days=1))
    await db.commit()

    teacher = tg.user(first_name="GV", user_id=7413)
    await teacher.send("/myunit")
    assert "dành cho cán bộ công đoàn" in (await next_sent(teacher)).plain_text
    district = tg.user(first_name="Quận", user_id=7411)
    await district.send("/myunit")
    assert "chưa là cán bộ của công đoàn cơ sở nào" in (await next_sent(district)).plain_text

    # After the deadline the numbers stay, without register or nudge buttons.
    du_chair = tg.user(first_name="Du", user_id=7412)
    await du_chair.send("/myunit")
    await next_sent(du_chair)
    await du_chair.tap("1. Đã hết hạn")
    screen = await du_chair.next_message()
    assert "Đã hết hạn đăng ký" in screen.plain_text
    assert "Đã đăng ký: 0 / Chưa đăng ký: 1" in screen.plain_text
    assert screen.buttons == [["⏳ Chưa đăng ký (1)"], ["◀ Quay lại"]]


async def test_on_zalo_the_chair_registers_the_school_by_numbers(  # type: ignore[no-untyped-def]
    start_bot, units, zalo: FakeZalo, db: AsyncSession
) -> None:
    await make_movement(db, units["district"], MOVEMENT)
    hung = zalo.user(display_name="Hùng", known=True)
    number, _ = await int_id_for(db, hung.id)
    await make_official(db, units["trai"], "Trần Văn Hùng", zalo_id=number)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/myunit")
        assert f"1. {MOVEMENT}" in await said(hung)
        await hung.send("1")
        screen = await said(hung)
        assert "Đã đăng ký: 0 / Chưa đăng ký: 1" in screen and "<b>" not in screen
        assert "1. 🏅 Đăng ký danh hiệu tập thể" in screen
        await hung.send("1")
        assert "1. Tập thể lao động xuất sắc" in await said(hung)
        await hung.send("1")
        assert "1. ✅ Xác nhận đăng ký" in await said(hung)
        await hung.send("1")
        assert "Đã đăng ký tập thể." in await said(hung)  # the tap's answer, as a message
        assert "Đăng ký tập thể: Tập thể lao động xuất sắc" in await said(hung)
    assert await _collectives(db) == [
        (units["trai"].id, "TTLDXS", RegistrationStatus.REGISTERED)
    ]
