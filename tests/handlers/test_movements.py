"""/movements and /my end to end: a teacher sees her union's movements, registers with a
commitment, changes her title, withdraws and registers again; in the self-assessment window she
writes a text for each criterion, sends photos and a document, and submits. Forged buttons for
another district's movement and taps after the deadline change nothing. On Zalo she does the
same by numbers."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.base import utcnow
from models.channels import int_id_for
from models.members import MemberStatus
from models.movements import Evidence, Movement, Registration, RegistrationStatus, register
from models.org import OrgKind
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_movement, make_official, make_unit
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said, said_until

LAN = 8101
MB = 2**20


async def _registrations(db: AsyncSession) -> list[Registration]:
    db.expire_all()
    return list((await db.exec(select(Registration).order_by(Registration.id))).all())  # type: ignore[arg-type]


async def test_a_teacher_registers_changes_her_title_withdraws_and_registers_again(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_member(db, units["trai"], telegram_id=LAN)
    colleague = await make_member(db, units["trai"], "Trần Thị Bình")
    movement = await make_movement(db, units["district"])
    await register(db, member=colleague, movement=movement, title_code="LDTT", now=utcnow())
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)

    await lan.send("/movements")
    listing = await next_sent(lan)
    assert "Giỏi việc trường, đảm việc nhà" in listing.text and "Năm học 2026-2027" in listing.text
    assert "Hạn đăng ký" in listing.text
    await lan.tap("🏆 Giỏi việc trường")
    card = await lan.next_message()  # in place of the list
    assert card.is_edit
    for fact in ("Hoàn thành tốt nhiệm vụ chuyên môn", "Lao động tiên tiến",
                 "Số người ở Trường THCS Nguyễn Trãi đã đăng ký: 1", "Tự đánh giá: từ"):
        assert fact in card.text
    assert "Tập thể lao động xuất sắc" not in card.text  # a union's title, not hers
    assert card.buttons == [["✍️ Đăng ký"], ["◀ Danh sách phong trào"]]

    await lan.tap("Đăng ký")
    titles = await lan.next_message()
    assert titles.buttons == [
        ["Giỏi việc trường, đảm việc nhà"], ["Lao động tiên tiến"], ["Chiến sĩ thi đua cơ sở"],
        ["Huỷ"],
    ]
    await lan.tap("Lao động tiên tiến")
    commitment = await lan.next_message()
    assert "Lao động tiên tiến" in commitment.text and commitment.buttons[0] == ["Bỏ qua"]
    await lan.send("Dạy tốt, <b>học tốt</b> & chăm lo gia đình")
    confirm = await next_sent(lan)
    assert "Dạy tốt, <b>học tốt</b> & chăm lo gia đình" in confirm.plain_text  # as typed
    await lan.tap("Xác nhận")
    registered = await lan.next_message()
    assert "Bạn đã đăng ký phong trào Giỏi việc trường, đảm việc nhà" in registered.text
    assert "đã đăng ký: 2" in registered.text
    assert registered.buttons == [
        ["🔁 Đổi danh hiệu"], ["✖ Rút đăng ký"], ["◀ Danh sách phong trào"]
    ]
    [_, mine] = await _registrations(db)
    assert (mine.title_code, mine.status) == ("LDTT", RegistrationStatus.REGISTERED)
    assert mine.commitment == "Dạy tốt, <b>học tốt</b> & chăm lo gia đình"

    await lan.send("/my")
    my = await next_sent(lan)
    assert "Năm học 2026-2027" in my.text
    assert "Giỏi việc trường, đảm việc nhà: Lao động tiên tiến — <i>đã đăng ký</i>" in my.text

    # She changes her title and keeps her commitment.
    # The card's screens follow one another in place of that message.
    card = registered.message_id
    for button in ("Đổi danh hiệu", "Chiến sĩ thi đua cơ sở"):
        await lan.tap(button, message=card)
        screen = await lan.next_message()
    assert screen.buttons[0] == ["Giữ nội dung đăng ký cũ"]
    await lan.tap("Giữ nội dung đăng ký cũ", message=card)
    assert "Dạy tốt" in (await lan.next_message()).plain_text  # the kept commitment
    await lan.tap("Xác nhận", message=card)
    changed = await lan.next_message()
    assert "sang danh hiệu Chiến sĩ thi đua cơ sở" in changed.text

    # She withdraws (asked first), then registers again without a commitment.
    await lan.tap("Rút đăng ký", message=card)
    ask = await lan.next_message()
    assert "Rút đăng ký phong trào" in ask.text
    await lan.tap("Có, rút đăng ký", message=card)
    withdrawn = await lan.next_message()
    assert "Bạn đã rút đăng ký" in withdrawn.text and "đã đăng ký: 1" in withdrawn.text
    assert withdrawn.buttons[0] == ["✍️ Đăng ký"]
    for button in ("Đăng ký", "Giỏi việc trường, đảm việc nhà", "Bỏ qua"):
        await lan.tap(button, message=card)
        screen = await lan.next_message()
    assert "Không có nội dung đăng ký" in screen.text
    await lan.tap("Xác nhận", message=card)
    assert "Bạn đã đăng ký" in (await lan.next_message()).text
    [_, mine] = await _registrations(db)  # still one row of hers
    assert (mine.title_code, mine.status, mine.commitment) == (
        "GVTDVN", RegistrationStatus.REGISTERED, None
    )


async def test_she_writes_her_self_assessment_sends_files_and_submits(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    member = await make_member(db, units["trai"], telegram_id=LAN)
    now = utcnow()
    movement = await make_movement(
        db, units["district"], "Dạy tốt – học tốt",
        registration_deadline=now - timedelta(days=1),
        assessment_opens=now - timedelta(days=1),
        assessment_closes=now + timedelta(days=10),
    )
    await register(db, member=member, movement=movement, title_code="LDTT",
                   now=now - timedelta(days=2))
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)

    await lan.send("/my")
    my = await next_sent(lan)
    assert "cần nộp bản tự đánh giá" in my.text
    await lan.tap("📝 Tự đánh giá: Dạy tốt – học tốt")
    first = await lan.next_message()
    assert "Tiêu chí 1/2" in first.text and "Hoàn thành tốt nhiệm vụ chuyên môn" in first.text
    await lan.send("Dạy đủ, đúng chương trình; 3 tiết dạy tốt.")
    second = await next_sent(lan)
    assert "Tiêu chí 2/2" in second.text
    await lan.tap("Để sau")  # she leaves; what she wrote is kept
    assert "được lưu lại" in (await next_sent(lan)).text

    await lan.send("/my")
    await next_sent(lan)
    await lan.tap("Tự đánh giá: Dạy tốt – học tốt")
    assert "Tiêu chí 2/2" in (await lan.next_message()).text  # where she was
    await lan.send("Gia đình hạnh phúc, con học giỏi.")
    evidence = await next_sent(lan)
    assert "gửi minh chứng" in evidence.text and evidence.buttons[0] == ["✅ Xong"]

    # An album comes as separate messages: two photos and a document.
    await lan.send_photo()
    await lan.send_photo(width=800, height=600)
    await lan.send_document("bang-khen.pdf", file_size=300_000)
    receipts = [await next_sent(lan) for _ in range(3)]
    assert [r.text for r in receipts] == [
        "📎 Đã nhận ảnh (1/10).", "📎 Đã nhận ảnh (2/10).", "📎 Đã nhận bang-khen.pdf (3/10).",
    ]
    await lan.send_document("video-tiet-day.mp4", "video/mp4", file_size=21 * MB)
    assert "lớn hơn 20 MB" in (await next_sent(lan)).text
    await lan.tap("Xong")
    preview = await lan.next_message()
    for fact in ("Dạy đủ, đúng chương trình", "Gia đình hạnh phúc", "Minh chứng: 3 tệp",
                 "bang-khen.pdf"):
        assert fact in preview.text
    await lan.tap("Nộp")
    assert "Đã nộp bản tự đánh giá phong trào Dạy tốt – học tốt" in (await next_sent(lan)).text

    await lan.send("/my")
    assert "đã nộp tự đánh giá" in (await next_sent(lan)).text
    [registration] = await _registrations(db)
    assert registration.status == RegistrationStatus.SUBMITTED
    assert registration.submitted_at is not None
    assert registration.assessment == [
        "Dạy đủ, đúng chương trình; 3 tiết dạy tốt.", "Gia đình hạnh phúc, con học giỏi."
    ]
    files = (await db.exec(select(Evidence).order_by(Evidence.id))).all()  # type: ignore[arg-type]
    assert [(f.kind, f.file_name, f.channel) for f in files] == [
        ("photo", None, "telegram"), ("photo", None, "telegram"),
        ("document", "bang-khen.pdf", "telegram"),
    ]
    assert files[2].size == 300_000
    assert all(tg.file_content(f.file_id) for f in files)  # retrievable by their file ids

    # The officials decide: /my shows the result and their note.
    registration.status = RegistrationStatus.ACHIEVED
    registration.result_note = "Minh chứng đầy đủ, đạt danh hiệu"
    db.add(registration)
    await db.commit()
    await lan.send("/my")
    result = await next_sent(lan)
    assert "Lao động tiên tiến — <i>đạt danh hiệu</i>" in result.text
    assert "Ghi chú: Minh chứng đầy đủ, đạt danh hiệu" in result.text


async def test_a_button_of_another_feature_leaves_her_self_assessment(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    """A chair in the middle of her self-assessment taps her union's screen on an older
    message: the flow is left (her draft kept), so what she types next is not taken as the
    answer to a criterion."""
    chair = await make_official(db, units["trai"], "Lê Thị Mai", telegram_id=LAN)
    now = utcnow()
    movement = await make_movement(
        db, units["district"], "Dạy tốt – học tốt",
        registration_deadline=now - timedelta(days=1),
        assessment_opens=now - timedelta(days=1),
    )
    await register(db, member=chair, movement=movement, title_code="LDTT",
                   now=now - timedelta(days=2))
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)
    await lan.send("/my")
    my = await next_sent(lan)
    await lan.tap("Tự đánh giá: Dạy tốt – học tốt")
    assert "Tiêu chí 1/2" in (await lan.next_message()).text
    await lan.tap_data(f"mvu:u:{movement.id}:{units['trai'].id}", message=my)
    screen = await lan.next_message()
    assert "Trường THCS Nguyễn Trãi" in screen.text  # her union's screen
    await lan.send("Ghi chú cho công đoàn")
    await next_sent(lan)
    [registration] = await _registrations(db)
    assert not registration.assessment  # not taken as criterion 1


async def test_a_movement_with_twenty_long_criteria_and_a_long_history_fit_a_message(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    member = await make_member(db, units["trai"], telegram_id=LAN)
    now = utcnow()
    for n in range(12):
        name = (f"{n:02} " + "Phong trào " * 25)[:255]
        movement = await make_movement(db, units["district"], name)
        movement.description = "Mục đích " * 400
        movement.criteria = [f"Tiêu chí {i} " + "rất dài " * 60 for i in range(20)]
        db.add(movement)
        await db.flush()
        await register(db, member=member, movement=movement, title_code="LDTT",
                       commitment="Cam kết " * 120, now=now)
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)
    await lan.send("/my")
    my = await next_sent(lan)
    assert len(my.plain_text) <= 4096 and "không hiển thị ở đây" in my.plain_text
    await lan.tap(my.buttons[0][0])
    card = await lan.next_message()
    assert len(card.plain_text) <= 4096 and "Tiêu chí 19" in card.plain_text


async def test_a_restart_keeps_her_at_the_step_of_her_self_assessment(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, db: AsyncSession,
) -> None:
    member = await make_member(db, units["trai"], telegram_id=LAN)
    now = utcnow()
    movement = await make_movement(
        db, units["district"], registration_deadline=now - timedelta(days=1),
        assessment_opens=now - timedelta(days=1),
    )
    await register(db, member=member, movement=movement, title_code="LDTT",
                   now=now - timedelta(days=2))
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)
    async with start_bot():
        await lan.send("/movements")
        await next_sent(lan)
        await lan.tap("Giỏi việc trường")
        await lan.next_message()
        await lan.tap("Nộp bản tự đánh giá")
        assert "Tiêu chí 1/2" in (await lan.next_message()).text
    async with start_bot():
        await lan.send("Hoàn thành tốt nhiệm vụ")  # still the answer to criterion 1
        assert "Tiêu chí 2/2" in (await next_sent(lan)).text
        await lan.send("Gia đình hạnh phúc")
        await next_sent(lan)
    async with start_bot():
        await lan.send_photo()  # still the evidence question
        assert "Đã nhận ảnh (1/10)" in (await next_sent(lan)).text


async def test_forged_buttons_and_taps_after_the_deadline_change_nothing(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_member(db, units["trai"], telegram_id=LAN)
    other_district = await make_unit(db, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                     kind=OrgKind.INDUSTRY_UNION, parent=units["edu"])
    elsewhere = await make_movement(db, other_district, "Phong trào của quận khác")
    ours = await make_movement(db, units["district"])
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)

    await lan.send("/movements")
    listing = await next_sent(lan)
    assert "quận khác" not in listing.text
    for data in (f"mov:card:{elsewhere.id}", f"mov:reg:{elsewhere.id}",
                 f"mov:sa:{elsewhere.id}", f"mov:wdok:{elsewhere.id}"):
        answer = await alert_for(lan, data, message=listing)
        assert answer["show_alert"], data
        assert answer["text"] in (
            "Phong trào này không dành cho đơn vị của bạn.", "Bạn chưa đăng ký phong trào này."
        ), data

    # Her card is open; the deadline passes before she taps Register.
    await lan.tap("🏆 Giỏi việc trường")
    card = await lan.next_message()
    movement = await db.get(Movement, ours.id)
    assert movement is not None
    movement.registration_deadline = utcnow() - timedelta(minutes=1)
    db.add(movement)
    await db.commit()
    answer = await alert_for(lan, f"mov:reg:{ours.id}", message=card)
    assert "Đã hết hạn đăng ký" in answer["text"]
    await lan.tap("Danh sách phong trào", message=card)
    await lan.next_message()
    await lan.tap("🏆 Giỏi việc trường")
    closed = await lan.next_message()
    assert "Đã hết hạn đăng ký" in closed.text and closed.buttons == [["◀ Danh sách phong trào"]]
    assert await _registrations(db) == []


async def test_people_who_are_not_approved_members_are_told_why(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_member(db, units["trai"], telegram_id=LAN, status=MemberStatus.PENDING)
    await db.commit()
    pending = tg.user(first_name="Lan", user_id=LAN)
    stranger = tg.user(first_name="Khách")

    await pending.send("/movements")
    assert "đang chờ cán bộ công đoàn duyệt" in (await next_sent(pending)).text
    await stranger.send("/movements")
    assert "/start" in (await next_sent(stranger)).text
    await stranger.send("/my")
    assert "/start" in (await next_sent(stranger)).text


async def test_on_zalo_she_registers_by_numbers_and_sends_photos_as_evidence(  # type: ignore[no-untyped-def]
    start_bot, units, zalo: FakeZalo, db: AsyncSession,
) -> None:
    lan = zalo.user(display_name="Lan")
    number, _ = await int_id_for(db, lan.id)
    member = await make_member(db, units["trai"], zalo_id=number)
    movement = await make_movement(db, units["district"])
    now = utcnow()
    assessing = await make_movement(
        db, units["district"], "Dạy tốt – học tốt",
        registration_deadline=now - timedelta(days=1), assessment_opens=now - timedelta(days=1),
    )
    await register(db, member=member, movement=assessing, title_code="LDTT",
                   now=now - timedelta(days=2))
    await db.commit()
    registering, submitting = movement.id, assessing.id

    async with start_bot(channels=("zalo",)):
        await lan.send("/movements")
        listing = await said(lan)
        assert "1. 🏆 Dạy tốt – học tốt" in listing  # the newest first
        assert "2. 🏆 Giỏi việc trường, đảm việc nhà" in listing
        await lan.send("2")
        card = await said(lan)
        assert "Lao động tiên tiến" in card and "1. ✍️ Đăng ký" in card
        await lan.send("1")
        titles = await said(lan)
        assert "2. Lao động tiên tiến" in titles
        await lan.send("2")
        assert "1. Bỏ qua" in await said(lan)
        await lan.send("Phấn đấu đạt danh hiệu")
        confirm = await said(lan)
        assert "Phấn đấu đạt danh hiệu" in confirm and "1. ✅ Xác nhận" in confirm
        await lan.send("1")
        assert "Bạn đã đăng ký phong trào Giỏi việc trường" in await said(lan)

        await lan.send("/my")
        my = await said(lan)
        assert "Giỏi việc trường, đảm việc nhà: Lao động tiên tiến — đã đăng ký" in my
        assert "Dạy tốt – học tốt: Lao động tiên tiến — cần nộp bản tự đánh giá" in my
        await lan.send("tu danh gia")  # the button's words, without diacritics
        await said_until(lan, "Tiêu chí 1/2")
        await lan.send("Hoàn thành tốt")
        await said_until(lan, "Tiêu chí 2/2")
        await lan.send("Gia đình hạnh phúc")
        evidence = (await said_until(lan, "gửi ảnh minh chứng"))[-1]
        assert "Telegram" in evidence  # documents cannot come through Zalo
        await lan.send_image("https://photo.zalo.example/abc.jpg")
        assert "Đã nhận ảnh (1/10)" in await said(lan)
        await lan.send("1")  # Done
        assert "Minh chứng: 1 tệp" in await said(lan)
        await lan.send("1")  # Submit
        assert "Đã nộp bản tự đánh giá" in (await said_until(lan, "Đã nộp"))[-1]

    mine = {r.movement_id: r for r in await _registrations(db)}
    assert (mine[registering].title_code, mine[registering].commitment) == (
        "LDTT", "Phấn đấu đạt danh hiệu"
    )
    assert mine[submitting].status == RegistrationStatus.SUBMITTED
    [photo] = (await db.exec(select(Evidence))).all()
    assert (photo.channel, photo.kind, photo.file_id) == (
        "zalo", "photo", "https://photo.zalo.example/abc.jpg"
    )
