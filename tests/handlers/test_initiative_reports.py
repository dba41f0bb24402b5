"""The numbers and the council's files end to end: `/initiative stats` checked against the
fixture of tests/models/test_initiative_reports.py (in Vietnamese and English, another school
year, a unit below and back up), the queue's .xlsx and an initiative's .docx sent by Telegram,
what Zalo shows instead, and every refusal (members, other units, forged ids)."""

from __future__ import annotations

import io
from typing import Any
from zoneinfo import ZoneInfo

from docx import Document
from openpyxl import load_workbook
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import AuditEntry
from models.base import utcnow
from models.channels import Menu, ZaloId, save_menu
from models.movements import school_year_of
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import make_initiative, make_member, make_official, make_unit
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said
from tests.models.test_initiative_reports import (
    AUTHOR_ID,
    CITY_OFFICIAL_ID,
    DISTRICT_OFFICIAL_ID,
    REVIEWER_IDS,
    SCHOOL_OFFICIAL_ID,
    Fixture,
    fixture,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
STALE = "Nút này không còn dùng được nữa. Hãy dùng tin nhắn mới nhất."


def years() -> tuple[int, str, str]:
    """The fixture's years are the real current school year and the one before: the bot
    counts by today's date."""
    this = school_year_of(utcnow(), TZ)
    start = int(this[:4])
    return start, this, f"{start - 1}-{start}"


async def current_fixture(db: AsyncSession) -> Fixture:
    f = await fixture(db, chat=True, start=years()[0])
    await db.commit()
    return f


async def any_message(user: TgUser) -> BotMessage:
    """A message of the bot to tap a button on (the review screens carry the file buttons)."""
    await user.send("/help")
    return await next_sent(user)


async def test_a_district_official_reads_the_numbers_and_last_years(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    await current_fixture(db)
    _, this, last = years()
    hung = tg.user(first_name="Hùng", user_id=DISTRICT_OFFICIAL_ID)
    async with start_bot():
        await hung.send("/initiative stats")
        screen = await next_sent(hung)
        assert screen.text == "\n".join([
            "📊 <b>Sáng kiến — Công đoàn Giáo dục quận Ba Đình</b>",
            f"Năm học {this}",
            "",
            "<b>📝 Sáng kiến của các đơn vị đã nộp: 7</b>",
            "• đã nộp, chờ xét: 2",
            "• hội đồng đang xét: 1",
            "• trả lại để chỉnh sửa: 1",
            "• đã nộp lại, chờ xét: 1",
            "• được công nhận: 1",
            "• không được công nhận: 1",
            "",
            "<b>🏅 Lượt công nhận: 4</b> (do Công đoàn Giáo dục quận Ba Đình và các đơn vị "
            "trực thuộc công nhận)",
            "• cấp trường: 3",
            "• cấp quận/huyện: 1",
            "",
            "<b>📚 Theo lĩnh vực</b>",
            "• Phương pháp giảng dạy: 4 nộp; công nhận: 1 cấp trường, 1 cấp quận/huyện",
            "• Quản lý giáo dục: 0 nộp; công nhận: 1 cấp trường",
            "• Giáo dục đạo đức: 1 nộp; công nhận: 1 cấp trường",
            "• Chuyển đổi số, công nghệ thông tin: 1 nộp",
            "• Lĩnh vực khác: 1 nộp",
            "",
            "<b>🏫 Theo đơn vị trực thuộc</b>",
            "• Trường THCS Nguyễn Trãi: 4 nộp; công nhận: 1 cấp trường, 1 cấp quận/huyện",
            "• Trường Tiểu học Nguyễn Du: 3 nộp; công nhận: 2 cấp trường",
            "Còn 1 đơn vị chưa có sáng kiến trong năm học này.",
            "",
            "<b>📅 Qua các năm học</b>",
            f"• {this}: 7 nộp; công nhận: 3 cấp trường, 1 cấp quận/huyện",
            f"• {last}: 2 nộp; công nhận: 1 cấp trường",
        ])
        assert screen.buttons == [[f"📅 {last}"], ["📅 Hạn nộp sáng kiến"], ["✖ Đóng"]]

        await hung.tap(f"📅 {last}")
        before = await hung.next_message()
        assert before.is_edit and before.message_id == screen.message_id
        text = before.text or ""
        assert f"Năm học {last}" in text
        assert "<b>📝 Sáng kiến của các đơn vị đã nộp: 2</b>\n• được công nhận: 2" in text
        assert "• Trường Tiểu học Nguyễn Du: 1 nộp\n" in text
        assert before.buttons == [[f"📅 {this}"], ["📅 Hạn nộp sáng kiến"], ["✖ Đóng"]]

        await hung.tap("✖ Đóng")
        closed = await hung.next_message()
        assert closed.buttons == []


async def test_the_city_official_reads_in_english_and_opens_a_district(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    await current_fixture(db)
    _, this, last = years()
    anh = tg.user(first_name="Anh", user_id=CITY_OFFICIAL_ID)
    async with start_bot():
        await anh.send("/initiative stats")
        screen = await next_sent(anh)
        text = screen.text or ""
        assert text.startswith(f"📊 <b>Initiatives — Công đoàn Giáo dục Hà Nội</b>\n"
                               f"School year {this}\n")
        assert "<b>📝 Initiatives submitted by the units: 8</b>" in text
        assert "<b>🏅 Recognitions: 5</b>" in text
        assert "• school level: 4\n• district level: 1" in text
        assert (
            "• Công đoàn Giáo dục quận Ba Đình: 7 submitted; recognised: 3 at school level, "
            "1 at district level\n• Công đoàn Giáo dục quận Hoàn Kiếm: 1 submitted; "
            "recognised: 1 at school level"
        ) in text
        assert screen.buttons == [
            ["📂 Công đoàn Giáo dục quận Ba Đình"], ["📂 Công đoàn Giáo dục quận Hoàn Kiếm"],
            [f"📅 {last}"], ["📅 Initiative deadline"], ["✖ Close"],
        ]
        await anh.tap("📂 Công đoàn Giáo dục quận Ba Đình")
        district = await anh.next_message()
        assert "📊 <b>Initiatives — Công đoàn Giáo dục quận Ba Đình</b>" in (district.text or "")
        assert "• Trường THCS Nguyễn Trãi: 4 submitted" in (district.text or "")
        assert district.buttons == [
            [f"📅 {last}"], ["⬆ Công đoàn Giáo dục Hà Nội"], ["📅 Initiative deadline"],
            ["✖ Close"],
        ]
        await anh.tap("⬆ Công đoàn Giáo dục Hà Nội")
        back = await anh.next_message()
        assert "Công đoàn Giáo dục Hà Nội</b>" in (back.text or "")


async def test_the_council_gets_its_workbook_and_a_reviewer_the_document(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await current_fixture(db)
    _, this, _ = years()
    son = tg.user(first_name="Sơn", user_id=SCHOOL_OFFICIAL_ID)
    mai = tg.user(first_name="Mai", user_id=REVIEWER_IDS["r3"])
    trai, scoring = f.tree["trai"].id, f.initiatives["scoring"].id
    async with start_bot():
        await son.tap_data(f"inr:xlsx:{trai}", message=await any_message(son))
        assert (await son.next_answer())["text"] == "Đang chuẩn bị file…"
        sent = await next_sent(son)
        assert sent.document is not None
        name, content = sent.document
        today = utcnow().astimezone(TZ).strftime("%Y-%m-%d")
        assert name == f"hang-doi-sang-kien-{trai}-{today}.xlsx"
        assert sent.text == (
            f"📥 Sáng kiến của Trường THCS Nguyễn Trãi, năm học {this}: 4 sáng kiến. Trang "
            "“Hàng đợi”: nội dung đơn và điểm trung bình; trang “Điểm chấm”: điểm của từng "
            "thành viên hội đồng."
        )
        workbook = load_workbook(io.BytesIO(content))
        queue = [row for row in workbook["Hàng đợi"].iter_rows(min_row=3, values_only=True)]
        assert [row[2] for row in queue] == [
            "=Ứng dụng bản đồ tư duy số", "Câu lạc bộ đọc sách",
            "Dạy học theo trạm với phiếu học tập số", "Sổ tay chủ nhiệm điện tử",
        ]
        assert queue[0][16:21] == (8, 8.5, 7, 23.5, 5)

        # A reviewer seated on its council gets the initiative on paper.
        await mai.tap_data(f"inr:doc:{scoring}", message=await any_message(mai))
        await mai.next_answer()
        paper = await next_sent(mai)
        assert paper.document is not None and paper.document[0] == f"sang-kien-{scoring}.docx"
        assert paper.text == "📄 Sáng kiến “=Ứng dụng bản đồ tư duy số”"
        document = Document(io.BytesIO(paper.document[1]))
        assert document.paragraphs[0].text == "ĐƠN YÊU CẦU CÔNG NHẬN SÁNG KIẾN"
    entries = (await db.exec(select(AuditEntry.action, AuditEntry.target_id).where(
        AuditEntry.action.in_(["export_initiatives", "export_initiative_document"])  # type: ignore[attr-defined]
    ))).all()
    assert sorted(entries) == sorted([
        ("export_initiatives", trai), ("export_initiative_document", scoring),
    ])


async def test_members_other_units_and_forged_ids_are_refused(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await current_fixture(db)
    start, _, _ = years()
    lan = tg.user(first_name="Lan", user_id=AUTHOR_ID)
    son = tg.user(first_name="Sơn", user_id=SCHOOL_OFFICIAL_ID)
    hoa = tg.user(first_name="Hoa", user_id=REVIEWER_IDS["r1"])
    district, scoring = f.tree["district"].id, f.initiatives["scoring"].id
    async with start_bot():
        await lan.send("/initiative stats")
        assert (await next_sent(lan)).text == (
            "Lệnh này dành cho cán bộ công đoàn. Nếu bạn là cán bộ, hãy đề nghị cấp trên phân "
            "quyền cho bạn."
        )
        # The author asks for her own initiative's document or the school's workbook.
        card = await any_message(lan)
        for data in (f"inr:doc:{scoring}", f"inr:xlsx:{f.tree['trai'].id}"):
            answer = await alert_for(lan, data, message=card)
            assert answer["show_alert"] and answer["text"].startswith("Bạn không có quyền"), data
        # A school's official forges the district's buttons.
        card = await any_message(son)
        for data in (f"inr:st:{district}:{start}:0", f"inr:xlsx:{district}"):
            answer = await alert_for(son, data, message=card)
            assert answer["text"].startswith("Bạn không có quyền"), data
        # A reviewer of an earlier round only: the forwarded initiative is beyond her now.
        answer = await alert_for(
            hoa, f"inr:doc:{f.initiatives['forwarded'].id}", message=await any_message(hoa)
        )
        assert answer["text"].startswith("Bạn không có quyền")
        # What does not exist is a stale button.
        for data in ("inr:doc:987654", "inr:xlsx:987654", f"inr:st:987654:{start}:0"):
            answer = await alert_for(son, data, message=card)
            assert answer["text"] == STALE, data
        assert lan.pending() == [] and son.pending() == [] and hoa.pending() == []
    refused = (await db.exec(select(AuditEntry).where(
        AuditEntry.action.in_(["export_initiatives", "export_initiative_document"])  # type: ignore[attr-defined]
    ))).all()
    assert refused == []


async def test_on_zalo_the_numbers_show_and_files_point_to_telegram(  # type: ignore[no-untyped-def]
    start_bot, zalo: FakeZalo, db: AsyncSession
) -> None:
    f = await current_fixture(db)
    _, this, last = years()
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, f.tree["district"], "Trần Văn Hùng", zalo_id=mapped.id)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/initiative stats")
        screen = await said(hung)
        assert f"📊 Sáng kiến — Công đoàn Giáo dục quận Ba Đình\nNăm học {this}" in screen
        assert "• Trường THCS Nguyễn Trãi: 4 nộp; công nhận: 1 cấp trường, 1 cấp quận/huyện" in (
            screen
        )
        assert f"1. 📅 {last}" in screen and "3. ✖ Đóng" in screen
        await hung.send("1")
        before = await said(hung)
        assert f"Năm học {last}" in before and "• được công nhận: 2" in before

        # The review screen's file buttons, as Zalo lists them.
        options: list[Any] = [
            ("Xuất Excel", f"inr:xlsx:{f.tree['district'].id}"),
            ("Bản Word", f"inr:doc:{f.initiatives['rejected'].id}"),
        ]
        for choice in ("1", "2"):
            await save_menu(db, mapped.id, Menu(message_id=1, kind="inline", text="Hàng đợi",  # type: ignore[arg-type]
                                                options=options))
            await db.commit()
            await hung.send(choice)
            assert (await said(hung)).startswith("Zalo không nhận được file từ bot."), choice


async def test_many_units_below_come_a_page_at_a_time(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await current_fixture(db)
    _, this, _ = years()
    for number in range(1, 11):  # ten more schools with one initiative each: twelve in all
        school = await make_unit(db, f"Trường Mầm non Hoa Sen {number:02d}",
                                 parent=f.tree["district"])
        author = await make_member(db, school, f"Giáo viên {number:02d}")
        await make_initiative(db, author, f"Sáng kiến {number:02d}", school_year=this)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=DISTRICT_OFFICIAL_ID)
    async with start_bot():
        await hung.send("/initiative stats")
        first = await next_sent(hung)
        text = first.text or ""
        assert "<b>📝 Sáng kiến của các đơn vị đã nộp: 17</b>" in text
        assert "Trang 1/2" in text and "• Trường Mầm non Hoa Sen 10: 1 nộp" in text
        assert "Trường THCS Nguyễn Trãi" not in text  # by name: on the second page
        assert ["Tiếp ▶"] in first.buttons
        await hung.tap("Tiếp ▶")
        second = (await hung.next_message()).text or ""
        assert "Trang 2/2" in second and "• Trường THCS Nguyễn Trãi: 4 nộp" in second
        assert "Còn 1 đơn vị chưa có sáng kiến trong năm học này." in second
