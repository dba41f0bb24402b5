"""/announce end to end: a district official writes an announcement, chooses who receives it
with the exact count, previews it exactly as members receive it (Telegram and Zalo), sends it
now, schedules it at a local time or keeps it as a draft; a member cannot announce, and an
official cannot reach anyone outside their scope, even with a forged button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.announcements import Announcement, AnnouncementStatus
from models.channels import ZaloId
from models.members import Gender
from models.org import OrgKind
from models.outbox import OutboxMessage
from models.units import create_bloc, tag_unit
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_movement, make_official, make_unit
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICIAL_ID = 8101
CHAIR_ID = 8102
TEACHER_ID = 8103
OUTSIDER_ID = 8104
# Time for a "send now" to go through the scheduler and the delivery worker.
DELIVERY_WAIT = 20


async def tapped(user: TgUser, label: str, message: BotMessage | None = None) -> BotMessage:
    """Taps a button; returns the screen that replaced the message."""
    await user.tap(label, message=message)
    return await user.next_message()


async def answered(user: TgUser, text: str) -> BotMessage:
    await user.send(text)
    return await next_sent(user)


async def stored(db: AsyncSession) -> list[Announcement]:
    query = select(Announcement).order_by(col(Announcement.id))
    return list((await db.exec(query.execution_options(populate_existing=True))).all())


async def outbox_rows(db: AsyncSession, announcement: Announcement) -> list[OutboxMessage]:
    rows = await db.exec(
        select(OutboxMessage).where(
            OutboxMessage.source_type == "announcement",
            OutboxMessage.source_id == announcement.id,
        ).execution_options(populate_existing=True)
    )
    return list(rows.all())


@pytest.fixture
async def people(units: dict, db: AsyncSession) -> dict:
    """The district's official, the chair of Nguyễn Trãi, a teacher there (a woman), a teacher
    of Nguyễn Du (a man); another district with its school, a teacher and an official."""
    extra: dict = {
        "other_district": await make_unit(db, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                          kind=OrgKind.INDUSTRY_UNION, parent=units["edu"]),
    }
    extra["other_school"] = await make_unit(db, "Trường THCS Trưng Vương",
                                            parent=extra["other_district"])
    extra["official"] = await make_official(db, units["district"], "Trần Văn Hùng",
                                            telegram_id=OFFICIAL_ID)
    extra["chair"] = await make_official(db, units["trai"], "Lê Văn Minh", telegram_id=CHAIR_ID)
    extra["teacher"] = await make_member(db, units["trai"], "Nguyễn Thị Lan",
                                         telegram_id=TEACHER_ID)
    extra["du_teacher"] = await make_member(db, units["du"], "Phạm Văn Nam", gender=Gender.MALE)
    extra["outsider"] = await make_official(db, extra["other_district"], "Đỗ Văn Long",
                                            telegram_id=OUTSIDER_ID)
    extra["other_teacher"] = await make_member(db, extra["other_school"], "Vũ Thị Hoa")
    await db.commit()
    return {**units, **extra}


async def write(user: TgUser, text: str = "Họp toàn thể đoàn viên lúc 14:00.") -> BotMessage:
    """/announce and the text; returns the menu."""
    await user.send("/announce")
    question = await next_sent(user)
    assert "Soạn thông báo" in question.text
    return await answered(user, text)


async def test_the_preview_is_exactly_what_a_telegram_member_receives(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        lan = tg.user(first_name="Lan", user_id=TEACHER_ID)
        await hung.send("/announce")
        await next_sent(hung)
        # Bold kept as Telegram formatting; what the person typed as "<script>" is escaped.
        typed = "Họp toàn thể <script>alert(1)</script> lúc 14:00"
        tg._user_message(hung, None, {
            "text": typed, "entities": [{"type": "bold", "offset": 0, "length": 12}],
        }, None)
        menu = await next_sent(hung)
        assert "Thông báo đang soạn" in menu.text
        assert "Gửi tới: toàn bộ Công đoàn Giáo dục quận Ba Đình" in menu.text
        assert "Số người nhận: <b>4</b>" in menu.text  # Hùng, Minh, Lan, Nam: not Hoàn Kiếm
        menu = await tapped(hung, "Yêu cầu xác nhận đã nhận")
        assert "Yêu cầu xác nhận «Đã nhận»" in menu.text

        await hung.tap("Xem trước")
        preview = await next_sent(hung)
        menu_again = await next_sent(hung)
        assert "<b>Họp toàn thể</b> &lt;script&gt;alert(1)&lt;/script&gt; lúc 14:00" in (
            preview.text
        )
        assert "Công đoàn Giáo dục quận Ba Đình" in preview.text
        assert preview.buttons == [["✅ Đã nhận"]]
        assert preview.button_data == [["anw:noop"]]
        note = await alert_for(hung, "anw:noop", message=preview)
        assert "bản xem trước" in note["text"]
        assert await stored(db) == []  # a preview saves nothing

        await hung.tap("Gửi ngay", message=menu_again)
        confirm = await hung.next_message()
        assert "ngay bây giờ tới <b>4</b> người" in confirm.text
        done = await tapped(hung, "Gửi tới 4 người")
        assert "Đã xếp thông báo vào hàng gửi tới 4 người" in done.text
        assert "/announcements" in done.text

        received = await next_sent(lan, wait=DELIVERY_WAIT)
        [announcement] = await stored(db)
        assert received.text == preview.text  # byte for byte
        assert received.buttons == preview.buttons
        assert received.button_data == [[f"ann:ack:{announcement.id}"]]
        assert announcement.ack_requested
        assert announcement.audience["whole_scope"] is True


async def test_the_preview_is_exactly_what_a_zalo_member_receives(
    start_bot, people: dict, zalo: FakeZalo, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    hung = zalo.user(display_name="Hùng")
    lan = zalo.user(display_name="Lan", known=True)
    ids = {}
    for person in (hung, lan):
        mapped = ZaloId(zalo_id=person.id)
        db.add(mapped)
        await db.flush()
        ids[person.id] = mapped.id
    await make_official(db, people["district"], "Trần Văn Hùng Zalo", zalo_id=ids[hung.id])
    await make_member(db, people["du"], "Nguyễn Thị Lan Zalo", zalo_id=ids[lan.id])
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/announce")
        assert "Soạn thông báo" in await said(hung)
        await hung.send("Nộp báo cáo <b>tổng kết</b> trước ngày 30.")
        menu = await said(hung)
        assert "Số người nhận: 6" in menu  # the Zalo pair joined the four of the district
        assert "4. ☑️ Yêu cầu xác nhận đã nhận" in menu and "5. 👁 Xem trước" in menu
        await hung.send("4")
        assert "Yêu cầu xác nhận «Đã nhận» (trên Zalo: trả lời 1)" in await said(hung)
        await hung.send("5")
        preview = await said(hung)
        assert "Nộp báo cáo <b>tổng kết</b> trước ngày 30." in preview  # typed, kept as typed
        assert preview.endswith("1. ✅ Đã nhận")
        assert "Thông báo đang soạn" in await said(hung)  # the menu again, under it
        await hung.send("6")
        assert "tới 6 người" in await said(hung)
        await hung.send("1")
        assert "Đã xếp thông báo vào hàng gửi" in await said(hung)
        received = await said(lan, wait=DELIVERY_WAIT)
        assert received == preview


async def test_a_scheduled_announcement_is_stored_at_the_local_time_typed(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    day = (datetime.now(HCM) + timedelta(days=3)).date()
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        lan = tg.user(first_name="Lan", user_id=TEACHER_ID)
        await write(hung)
        question = await tapped(hung, "Hẹn giờ gửi")
        assert "20/11/2026 07:30" in question.text
        for typed, reason in [
            ("ngày mai", "Mình chưa hiểu ngày"),
            ("01/01/2021 08:00", "phải sau bây giờ ít nhất 1 phút"),
            (f"{day:%d/%m}/{day.year + 2} 08:00", "trong vòng một năm"),
        ]:
            again = await answered(hung, typed)
            assert reason in again.text and "Gửi vào lúc nào?" in again.text
        assert await stored(db) == []
        done = await answered(hung, f"{day:%d/%m/%Y} 08:30")
        assert f"lúc {day:%d/%m/%Y} 08:30 tới 4 người" in done.text

        [announcement] = await stored(db)
        assert announcement.status == AnnouncementStatus.SCHEDULED
        # 08:30 in Hà Nội is 01:30 UTC.
        assert announcement.scheduled_at == datetime(
            day.year, day.month, day.day, 8, 30, tzinfo=HCM
        )
        assert announcement.scheduled_at.astimezone(UTC).hour == 1
        # Not due yet: nothing queued, nothing sent.
        assert await outbox_rows(db, announcement) == []
        assert [m for m in lan.messages if m.chat_id == TEACHER_ID] == []


async def test_a_member_cannot_announce_even_with_a_forged_button(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        lan = tg.user(first_name="Lan", user_id=TEACHER_ID)
        refusal = await answered(lan, "/announce")
        assert "Lệnh này dành cho cán bộ công đoàn" in refusal.text
        for data in ("anw:aw", "anw:gy", "anw:dr", f"anw:tu:{people['trai'].id}:0:0"):
            answer = await alert_for(lan, data, message=refusal)
            assert "dành cho cán bộ công đoàn" in answer["text"]
        await lan.send("Nội dung tự gõ")
        assert "Soạn thông báo" not in (await next_sent(lan)).text
    assert await stored(db) == []


async def test_an_official_cannot_reach_outside_their_scope_with_forged_buttons(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    outside_bloc = await create_bloc(db, actor=None, name="Cụm thi đua số 9")
    await tag_unit(db, actor=None, unit=people["other_school"], bloc=outside_bloc)
    their_movement = await make_movement(db, people["other_district"], "Phong trào Hoàn Kiếm")
    await db.commit()
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        long = tg.user(first_name="Long", user_id=OUTSIDER_ID)
        menu = await write(hung)
        forged = {
            f"anw:tu:{people['other_school'].id}:0:0": "không có quyền",
            f"anw:tu:{people['other_district'].id}:0:0": "không có quyền",
            f"anw:tb:{outside_bloc.id}:0": "không có đơn vị nào thuộc phạm vi",
            f"anw:mc:{their_movement.id}:registered": "không do đơn vị của bạn tổ chức",
            f"anw:mp:{their_movement.id}": "không do đơn vị của bạn tổ chức",
            f"anw:u:{people['other_district'].id}:0": "không có quyền",
            "anw:tr:presidents": "Không có vai trò này",
            "anw:gd:other": "nữ hoặc nam",
        }
        for data, reason in forged.items():
            answer = await alert_for(hung, data, message=menu)
            assert reason in answer["text"], data
        # The same question, unchanged: still the whole district, 4 people.
        await hung.tap("Người nhận", message=menu)
        audience = await hung.next_message()
        assert "Số người nhận: <b>4</b>" in audience.text
        assert "✅ 🌐 Toàn bộ phạm vi phụ trách" in [b for row in audience.buttons for b in row]
        assert "Phong trào" not in audience.text
        await tapped(hung, "Xong")
        await tapped(hung, "Lưu nháp")
        [draft] = await stored(db)
        assert draft.status == AnnouncementStatus.DRAFT
        assert draft.audience["whole_scope"] is True
        assert draft.audience["unit_ids"] == [] and draft.audience["bloc_ids"] == []
        assert draft.audience["movement_id"] is None and draft.audience["roles"] == []

        # Another district's official cannot open Hùng's draft, even with a forged button.
        await long.send("/help")
        help_message = await next_sent(long)
        answer = await alert_for(long, f"anw:edit:{draft.id}", message=help_message)
        assert "không còn dùng được" in answer["text"]


async def test_choosing_units_roles_and_gender_shows_the_exact_count(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    bloc = await create_bloc(db, actor=None, name="Cụm trường THCS")
    await tag_unit(db, actor=None, unit=people["trai"], bloc=bloc)
    await make_movement(db, people["district"], "Dạy tốt, học tốt")
    await db.commit()
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await write(hung)
        audience = await tapped(hung, "Người nhận")
        assert "Số người nhận: <b>4</b>" in audience.text
        units = await tapped(hung, "Chọn đơn vị")
        assert "▫️ 🏫 Trường THCS Nguyễn Trãi" in [b for row in units.buttons for b in row]
        units = await tapped(hung, "Trường THCS Nguyễn Trãi")
        assert "✅ 🏫 Trường THCS Nguyễn Trãi" in [b for row in units.buttons for b in row]
        audience = await tapped(hung, "Xong")
        assert "Đơn vị: Trường THCS Nguyễn Trãi" in audience.text
        assert "Số người nhận: <b>2</b>" in audience.text  # Minh and Lan
        audience = await tapped(hung, "Nữ")
        assert "Giới tính: Nữ" in audience.text and "Số người nhận: <b>1</b>" in audience.text
        audience = await tapped(hung, "Mọi giới tính")
        roles = await tapped(hung, "Lọc theo vai trò")
        await tapped(hung, "Cán bộ công đoàn cơ sở")
        audience = await tapped(hung, "Xong")
        assert "Chỉ: Cán bộ công đoàn cơ sở" in audience.text
        assert "Số người nhận: <b>1</b>" in audience.text  # Minh, the chair
        assert roles.text
        movements = await tapped(hung, "Lọc theo phong trào")
        await tapped(hung, "Dạy tốt, học tốt")
        audience = await tapped(hung, "Những người chưa đăng ký")
        assert "Phong trào «Dạy tốt, học tốt»: Những người chưa đăng ký" in audience.text
        assert movements.text
        audience = await tapped(hung, "Toàn bộ phạm vi phụ trách")
        # Still only Minh: Hùng is an official, but of the district, not of a school.
        assert "Gửi tới: toàn bộ Công đoàn Giáo dục quận Ba Đình" in audience.text
        assert "Số người nhận: <b>1</b>" in audience.text
        blocs = await tapped(hung, "Chọn cụm/khối")
        await tapped(hung, "Cụm trường THCS")
        audience = await tapped(hung, "Xong", message=blocs)
        assert "Cụm/khối thi đua: Cụm trường THCS" in audience.text
        menu = await tapped(hung, "Xong")
        assert "Số người nhận: <b>1</b>" in menu.text
        await tapped(hung, "Lưu nháp")
    [draft] = await stored(db)
    assert draft.audience["bloc_ids"] == [bloc.id] and draft.audience["unit_ids"] == []
    assert draft.audience["whole_scope"] is False
    assert draft.audience["roles"] == ["grassroots_chairs"]
    assert draft.audience["movement_criterion"] == "not_registered"


async def test_two_taps_on_send_save_it_once(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await write(hung)
        confirm = await tapped(hung, "Gửi ngay")
        first = await hung.tap_data("anw:gy", message=confirm)
        second = await hung.tap_data("anw:gy", message=confirm)
        ids = {first["callback_query"]["id"], second["callback_query"]["id"]}
        answers: dict = {}
        while not ids <= set(answers):
            answer = await hung.next_answer()
            answers[answer["callback_query_id"]] = answer
        assert not answers[first["callback_query"]["id"]].get("text")
        assert "không còn dùng được" in answers[second["callback_query"]["id"]]["text"]
        assert "Đã xếp thông báo" in (await hung.next_message()).text
        [announcement] = await stored(db)
        assert announcement.status in (
            AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING, AnnouncementStatus.SENT
        )


async def test_writing_resumes_after_a_restart(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    async with start_bot():
        await hung.send("/announce")
        await next_sent(hung)
    async with start_bot():  # restarted while the text was asked
        menu = await answered(hung, "Lịch nghỉ Tết của công đoàn.")
        assert "Lịch nghỉ Tết" in menu.text
        await tapped(hung, "Yêu cầu xác nhận đã nhận")
    async with start_bot():  # restarted at the menu
        await hung.send("chữ gõ nhầm")
        assert "chọn một nút" in (await next_sent(hung)).text
        done = await tapped(hung, "Lưu nháp")
        assert "Đã lưu bản nháp" in done.text
    [draft] = await stored(db)
    assert draft.text == "Lịch nghỉ Tết của công đoàn." and draft.ack_requested


async def test_files_too_long_texts_and_a_photo_with_its_caption(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/announce")
        await next_sent(hung)
        too_long = await answered(hung, "Nội dung " * 500)
        assert "quá giới hạn 3800 ký tự" in too_long.text and "Soạn thông báo" in too_long.text
        await hung.send_document("ke-hoach.pdf", file_size=21 * 1024 * 1024)
        too_big = await next_sent(hung)
        assert "lớn hơn 20 MB" in too_big.text
        await hung.send_photo(caption="Ảnh <b>hội diễn</b> văn nghệ 20/11")
        menu = await next_sent(hung)
        assert "Kèm một ảnh" in menu.text
        await hung.tap("Xem trước")
        preview = await next_sent(hung)
        assert preview.method == "sendPhoto"
        assert "Ảnh &lt;b&gt;hội diễn&lt;/b&gt; văn nghệ 20/11" in preview.text
        await next_sent(hung)  # the menu again
        done = await tapped(hung, "Lưu nháp")
        assert "Đã lưu bản nháp" in done.text
    [draft] = await stored(db)
    assert draft.media is not None and draft.media["kind"] == "photo"
    assert draft.media["channel"] == "telegram" and draft.media["file_id"]
    assert preview.params["photo"] == draft.media["file_id"]


async def test_a_saved_draft_is_edited_then_sent(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        lan = tg.user(first_name="Lan", user_id=TEACHER_ID)
        await write(hung, "Bản nháp kế hoạch tháng 12.")
        await tapped(hung, "Lưu nháp")
        [draft] = await stored(db)
        await hung.send("/help")
        help_message = await next_sent(hung)
        await hung.tap_data(f"anw:edit:{draft.id}", message=help_message)
        menu = await hung.next_message()
        assert "Bản nháp thông báo đang sửa" in menu.text and "kế hoạch tháng 12" in menu.text
        await tapped(hung, "Sửa nội dung")
        await answered(hung, "Kế hoạch tháng 12 (bản chính thức).")
        await tapped(hung, "Gửi ngay")
        done = await tapped(hung, "Gửi tới 4 người")
        assert "Đã xếp thông báo" in done.text
        received = await next_sent(lan, wait=DELIVERY_WAIT)
        assert "Kế hoạch tháng 12 (bản chính thức)." in received.text
    [announcement] = await stored(db)  # the same row, released
    assert announcement.id == draft.id
    assert announcement.status != AnnouncementStatus.DRAFT


async def test_a_photo_sent_on_zalo_is_kept_by_its_url(
    start_bot, people: dict, zalo: FakeZalo, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, people["district"], "Trần Văn Hùng Zalo", zalo_id=mapped.id)
    await db.commit()
    url = "https://example.org/hoi-dien.jpg"
    async with start_bot(channels=("zalo",)):
        await hung.send("/announce")
        await said(hung)
        await hung.send_image(url, caption="Hội diễn văn nghệ chào mừng 20/11")
        menu = await said(hung)
        assert "Kèm một ảnh" in menu and "Hội diễn văn nghệ" in menu
        await hung.send("5")  # preview: the photo with its caption, as members get it
        photo = await hung.next_message()
        assert photo.photo == url and "Hội diễn văn nghệ chào mừng 20/11" in (photo.caption or "")
        await said(hung)  # the menu again
        await hung.send("8")
        assert "Đã lưu bản nháp" in await said(hung)
    [draft] = await stored(db)
    assert draft.media == {"kind": "photo", "channel": "zalo", "file_id": None, "url": url,
                           "name": None}
