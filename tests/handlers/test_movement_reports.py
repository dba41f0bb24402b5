"""An official's numbers of a movement end to end, through the buttons of the movement's card
(here tapped on the official's /help message, as the card's buttons would be): statistics,
registrants and one result by button, the .xlsx export filled in and sent back (members hear
their results), approvals, refusals, and what Zalo says instead of sending files."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import AuditEntry
from models.base import utcnow
from models.channels import Menu, ZaloId, save_menu
from models.movements import Evidence, Registration, register
from models.org import OrgKind
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import make_movement, make_official, make_unit
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said
from tests.models.test_movement_reports import (
    MEMBER_TELEGRAM_IDS,
    OFFICIAL_TELEGRAM_ID,
    Fixture,
    fixture,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ENGLISH_ID = 620002
STRANGER_ID = 620003
MOVEMENT = "Giỏi việc trường, đảm việc nhà"


def member(tg: FakeTelegram, key: str) -> TgUser:
    return tg.user(first_name=key, user_id=MEMBER_TELEGRAM_IDS[key])


async def card_of(user: TgUser) -> BotMessage:
    """What the movement's card stands for here: any message of the bot to tap buttons on."""
    await user.send("/help")
    return await next_sent(user)


def fill(content: bytes, results: dict[int, tuple[str, str | None]]) -> bytes:
    """The exported workbook with results (and notes) written against registration ids."""
    workbook = load_workbook(io.BytesIO(content))
    for sheet in workbook.worksheets[1:]:
        for row in sheet.iter_rows(min_row=3):
            if row[0].value in results:
                row[13].value, note = results[row[0].value]
                if note is not None:
                    row[12].value = note
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def statuses(db: AsyncSession, f: Fixture) -> dict[str, tuple[str, str | None]]:
    """Each registration's status and note as stored now (read afresh, columns only)."""
    keys = {registration.id: key for key, registration in f.registrations.items()}
    rows = await db.exec(
        select(Registration.id, Registration.status, Registration.result_note)
        .where(col(Registration.id).in_(list(keys)))
    )
    return {keys[row_id]: (status, note) for row_id, status, note in rows.all()}


async def test_an_official_reads_the_statistics_in_their_language(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await fixture(db, chat=True)
    await make_official(db, f.tree["edu"], "Nguyễn Văn Anh", telegram_id=ENGLISH_ID, locale="en")
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_TELEGRAM_ID)
    anh = tg.user(first_name="Anh", user_id=ENGLISH_ID)
    async with start_bot():
        await hung.tap_data(f"mvr:st:{f.movement.id}", message=await card_of(hung))
        stats = await next_sent(hung)
        text = stats.text or ""
        assert f"📊 <b>Thống kê — {MOVEMENT}</b>" in text
        assert "<b>Công đoàn Giáo dục quận Ba Đình</b>" in text
        scope, schools = text.split("Theo đơn vị trực thuộc")
        assert "👥 Đoàn viên: 10 (nữ: 7)" in scope
        assert "📝 Đăng ký: 6 — 60,0% đoàn viên; nữ: 4 — 57,1% nữ" in scope
        assert "📋 Đã đánh giá: 3 — 30,0%; nữ: 3 — 42,9%" in scope
        assert "🏅 Đạt: 2 — 20,0%; nữ: 2 — 28,6%" in scope
        assert f"🌸 2 nữ đạt “{MOVEMENT}”, 28,6% nữ đoàn viên" in scope
        trai, du = schools.split("Trường Tiểu học Nguyễn Du")
        assert "Trường THCS Nguyễn Trãi" in trai and "📝 Đăng ký: 4 — 66,7% đoàn viên" in trai
        assert "🏅 Đạt: 2 — 33,3%; nữ: 2 — 40,0%" in trai
        assert "📝 Đăng ký: 2 — 50,0% đoàn viên; nữ: 1 — 50,0% nữ" in du
        assert stats.buttons == [["👥 Danh sách đăng ký"], ["✖ Đóng"]]

        await anh.tap_data(f"mvr:st:{f.movement.id}", message=await card_of(anh))
        english = (await next_sent(anh)).text or ""
        assert "📝 Registered: 6 — 60.0% of members; women: 4 — 57.1% of women" in english
        assert f"🌸 2 women achieved “{MOVEMENT}”, 28.6% of women members" in english


async def test_statistics_open_one_level_down_and_back(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await fixture(db)
    await make_official(db, f.tree["edu"], "Nguyễn Văn Anh", telegram_id=ENGLISH_ID)
    city_movement = await make_movement(db, f.tree["edu"], "Dạy tốt – học tốt")
    await register(db, member=f.people["w1"], movement=city_movement, title_code="LDTT",
                   now=utcnow())
    await db.commit()
    anh = tg.user(first_name="Anh", user_id=ENGLISH_ID)
    async with start_bot():
        await anh.tap_data(f"mvr:st:{city_movement.id}", message=await card_of(anh))
        top = await next_sent(anh)
        assert "<b>Công đoàn Giáo dục Hà Nội</b> (trong phạm vi của bạn)" in (top.text or "")
        assert "📝 Đăng ký: 1 — 10,0% đoàn viên; nữ: 1 — 14,3% nữ" in (top.text or "")
        assert top.buttons == [
            ["📂 Công đoàn Giáo dục quận Ba Đình"], ["👥 Danh sách đăng ký"], ["✖ Đóng"]
        ]
        await anh.tap("📂 Công đoàn Giáo dục quận Ba Đình")
        down = await anh.next_message()
        assert down.method == "editMessageText"  # in place of the city's numbers
        assert "<b>Công đoàn Giáo dục quận Ba Đình</b> (trong phạm vi" in (down.text or "")
        assert "Trường THCS Nguyễn Trãi" in (down.text or "")
        assert down.buttons == [["⬆ Toàn phong trào"], ["👥 Danh sách đăng ký"], ["✖ Đóng"]]
        await anh.tap("⬆ Toàn phong trào")
        assert "<b>Công đoàn Giáo dục Hà Nội</b>" in ((await anh.next_message()).text or "")
        await anh.tap("✖ Đóng")
        closed = await anh.next_message()
        assert closed.method == "editMessageReplyMarkup" and closed.buttons == []


async def test_results_by_the_exported_workbook_reach_the_members(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await fixture(db, chat=True)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_TELEGRAM_ID)
    cuc, em, ha = member(tg, "w3"), member(tg, "m1"), member(tg, "w5")
    r = f.registrations
    async with start_bot():
        card = await card_of(hung)
        await hung.tap_data(f"mvr:x:{f.movement.id}", message=card)
        sent = await next_sent(hung)
        assert sent.document is not None
        name, content = sent.document
        assert name.endswith(".xlsx") and MOVEMENT in (sent.text or "")
        workbook = load_workbook(io.BytesIO(content))
        assert workbook.sheetnames == [
            "Tổng hợp", "Trường THCS Nguyễn Trãi", "Trường Tiểu học Nguyễn Du"
        ]
        filled = fill(content, {
            r["w3"].id: ("Đạt", "Hồ sơ đầy đủ"), r["m1"].id: ("Không đạt", None),  # type: ignore[dict-item]
        })

        await hung.tap_data(f"mvr:res:{f.movement.id}", message=card)
        ask = await next_sent(hung)
        assert "Mình đang chờ file" in (ask.text or "")
        await hung.send("đây")
        assert "dạng tệp đính kèm" in ((await next_sent(hung)).text or "")
        await hung.send_document("ket qua.xlsx", XLSX, content=filled)
        done = await next_sent(hung)
        assert done.text == (
            "✅ ket qua.xlsx: đã ghi 2 kết quả, 0 kết quả không đổi. "
            "Người đăng ký đang được báo."
        )
        assert (await next_sent(cuc)).text == (
            f"🏅 Kết quả đăng ký thi đua “{MOVEMENT}” của bạn: Lao động tiên tiến — "
            "<b>Đạt</b>.\nGhi chú: Hồ sơ đầy đủ"
        )
        assert (await next_sent(em)).text == (
            f"🏅 Kết quả đăng ký thi đua “{MOVEMENT}” của bạn: Lao động tiên tiến — "
            "<b>Không đạt</b>."
        )

        # The same file again changes nothing, and nobody hears anything again.
        await hung.tap_data(f"mvr:res:{f.movement.id}", message=card)
        await next_sent(hung)
        await hung.send_document("ket qua.xlsx", XLSX, content=filled)
        assert "đã ghi 0 kết quả, 2 kết quả không đổi" in ((await next_sent(hung)).text or "")

        # A file with a bad row: the report, then only the valid row on request.
        bad = fill(content, {r["w5"].id: ("Đạt", None), r["m2"].id: ("Giỏi", None)})  # type: ignore[dict-item]
        await hung.tap_data(f"mvr:res:{f.movement.id}", message=card)
        await next_sent(hung)
        await hung.send_document("lan 2.xlsx", XLSX, content=bad)
        report = await next_sent(hung)
        assert report.document is not None and report.document[0] == "lan 2.errors.xlsx"
        rows = list(load_workbook(io.BytesIO(report.document[1])).active.iter_rows(
            values_only=True
        ))
        assert rows[1][:4] == ("Trường Tiểu học Nguyễn Du", 4, str(r["m2"].id), "Giỏi")
        choice = await next_sent(hung)
        assert "1 trên 2 dòng có kết quả bị lỗi nên chưa ghi gì" in (choice.text or "")
        assert "• Trường Tiểu học Nguyễn Du, dòng 4: “Giỏi” không phải kết quả" in (
            choice.text or ""
        )
        assert choice.buttons == [["Ghi 1 dòng hợp lệ"], ["Huỷ"]]
        assert (await statuses(db, f))["w5"] == ("registered", None)
        await hung.tap("Ghi 1 dòng hợp lệ")
        assert "đã ghi 1 kết quả, 0 không đổi; bỏ qua 1 dòng có lỗi" in (
            (await next_sent(hung)).text or ""
        )
        assert (await next_sent(ha)).text == (
            f"🏅 Kết quả đăng ký thi đua “{MOVEMENT}” của bạn: {MOVEMENT} — <b>Đạt</b>."
        )
        # The first notice em got stays the only one: the next is this later change.
        await hung.tap_data(f"mvr:d:{r['m1'].id}:a", message=card)
        await next_sent(hung)
        await hung.tap("Không ghi chú")
        await next_sent(hung)
        assert "<b>Đạt</b>" in ((await next_sent(em)).text or "")
    after = await statuses(db, f)
    assert after["w3"] == ("achieved", "Hồ sơ đầy đủ") and after["w5"] == ("achieved", None)
    assert after["m2"] == ("registered", None)
    imports = (await db.exec(
        select(AuditEntry).where(AuditEntry.action == "import_results")
    )).all()
    assert [entry.after["changed"] for entry in imports] == [2, 0, 1]  # type: ignore[index]


async def test_one_result_by_button_from_the_registrants_list(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await fixture(db, chat=True)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_TELEGRAM_ID)
    cuc = member(tg, "w3")
    async with start_bot():
        await hung.tap_data(f"mvr:reg:{f.movement.id}:0", message=await card_of(hung))
        screen = await next_sent(hung)
        assert "6 lượt đăng ký ở 2 công đoàn cơ sở." in (screen.text or "")
        assert "Đã đăng ký 3 · Đã nộp tự đánh giá 1 · Đạt 2" in (screen.text or "")
        assert screen.buttons == [
            ["Trường THCS Nguyễn Trãi (4)"], ["Trường Tiểu học Nguyễn Du (2)"],
            ["📊 Thống kê"], ["✖ Đóng"],
        ]
        await hung.tap("Trường THCS Nguyễn Trãi (4)")
        names = await hung.next_message()
        assert names.method == "editMessageText"  # the list, in place of the units
        assert "3. Phạm Thu Cúc — Lao động tiên tiến · Đã nộp tự đánh giá" in (names.text or "")
        await hung.tap("Phạm Thu Cúc · Đã nộp tự đánh giá")
        card = await hung.next_message()
        assert "Nộp tự đánh giá lúc" in (card.text or "") and "2 minh chứng" in (card.text or "")
        assert "• Gia đình hạnh phúc, tiến bộ: Gia đình êm ấm" in (card.text or "")
        assert card.buttons[0] == ["🏅 Đạt", "Không đạt"]
        await hung.tap("🏅 Đạt")
        ask = await next_sent(hung)
        assert "Gõ ghi chú" in (ask.text or "")
        await hung.send("Minh chứng rõ ràng")
        done = await next_sent(hung)
        assert "✅ Đã ghi kết quả: Phạm Thu Cúc — <b>Đạt</b>" in (done.text or "")
        assert (await next_sent(cuc)).text == (
            f"🏅 Kết quả đăng ký thi đua “{MOVEMENT}” của bạn: Lao động tiên tiến — "
            "<b>Đạt</b>.\nGhi chú: Minh chứng rõ ràng"
        )
        # Back to the list: the new status shows.
        await hung.tap("◀ Danh sách của đơn vị")
        listed = (await hung.next_message()).text or ""
        assert "Phạm Thu Cúc — Lao động tiên tiến · Đạt" in listed
    assert (await statuses(db, f))["w3"] == ("achieved", "Minh chứng rõ ràng")


async def test_an_official_receives_a_registrations_evidence_file_by_file(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await fixture(db, chat=True)
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_TELEGRAM_ID)
    em = member(tg, "m1")
    # Em's files, as Telegram keeps them once he has sent them to the bot.
    first, second = b"\xff\xd8 lop hoc", b"\xff\xd8 gia dinh"
    photos = [
        (await em.send_photo(content=content))["message"]["photo"][-1]
        for content in (first, second)
    ]
    plan = b"%PDF-1.4 ke hoach"
    document = (await em.send_document("Kế hoạch.pdf", content=plan))["message"]["document"]
    registration = f.registrations["m1"]
    for kind, file_id, unique, name in (
        ("photo", photos[0]["file_id"], photos[0]["file_unique_id"], None),
        ("photo", "AgACAgUAAxkBAAIgone", "gone", None),  # no longer on Telegram
        ("photo", photos[1]["file_id"], photos[1]["file_unique_id"], None),
        ("document", document["file_id"], document["file_unique_id"], "Kế hoạch.pdf"),
    ):
        db.add(Evidence(registration_id=registration.id, channel="telegram", kind=kind,  # type: ignore[arg-type]
                        file_id=file_id, file_unique_id=unique, file_name=name))
    await db.commit()
    async with start_bot():
        await hung.tap_data(f"mvr:r:{registration.id}", message=await card_of(hung))
        card = await next_sent(hung)
        assert "Vũ Văn Em" in (card.text or "")
        assert card.buttons[1] == ["📎 Minh chứng (4)"]
        await hung.tap("📎 Minh chứng (4)")
        sent = [await next_sent(hung) for _ in range(4)]
        assert [message.method for message in sent] == [
            "sendPhoto", "sendPhoto", "sendDocument", "sendMessage"
        ]
        assert sent[0].photo == first and sent[0].text == "📎 1/4 — Vũ Văn Em: ảnh"
        assert sent[1].photo == second and sent[1].text == "📎 3/4 — Vũ Văn Em: ảnh"
        assert sent[2].document == ("Kế hoạch.pdf", plan)
        assert sent[2].text == "📎 4/4 — Vũ Văn Em: Kế hoạch.pdf"
        assert sent[3].text == "Không gửi được các minh chứng sau của Vũ Văn Em:\n• ảnh"

        # A registration without evidence has no such button; a forged one is answered so.
        await hung.tap_data(f"mvr:r:{f.registrations['w1'].id}", message=card)
        plain = await hung.next_message()
        assert not any("Minh chứng" in label for row in plain.buttons for label in row)
        answer = await alert_for(hung, f"mvr:ev:{f.registrations['w1'].id}", message=card)
        assert answer["text"] == "Đăng ký này không có minh chứng."


async def test_on_zalo_evidence_photos_come_by_address_and_files_point_to_telegram(  # type: ignore[no-untyped-def]
    start_bot, zalo: FakeZalo, db: AsyncSession
) -> None:
    f = await fixture(db)
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, f.tree["district"], "Trần Văn Hùng", zalo_id=mapped.id)
    registration = f.registrations["m1"]
    for channel, kind, file_id, name in (
        ("zalo", "photo", "https://photo.zalo.me/em/lop-hoc.jpg", None),
        ("telegram", "document", "BQACAgUAAxkBAAIplan", "Kế hoạch.pdf"),
        ("telegram", "photo", "AgACAgUAAxkBAAIphoto", None),
    ):
        db.add(Evidence(registration_id=registration.id, channel=channel, kind=kind,  # type: ignore[arg-type]
                        file_id=file_id, file_unique_id=file_id[-8:], file_name=name))
    await save_menu(db, mapped.id, Menu(message_id=1, kind="inline", text="Đăng ký",  # type: ignore[arg-type]
                                        options=[("Minh chứng", f"mvr:ev:{registration.id}")]))
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("1")
        photo = await hung.next_message()
        assert photo.photo == "https://photo.zalo.me/em/lop-hoc.jpg"
        assert photo.caption == "📎 1/3 — Vũ Văn Em: ảnh"
        listed = await said(hung)
        assert listed == (
            "Zalo không nhận được các tệp minh chứng sau của Vũ Văn Em từ bot; hãy mở đăng ký "
            "này trên Telegram để xem:\n• Kế hoạch.pdf\n• ảnh"
        )


async def test_a_registration_awaiting_approval_is_approved_from_its_card(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await fixture(db, chat=True, requires_approval=True)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_TELEGRAM_ID)
    minh = member(tg, "m3")
    async with start_bot():
        await hung.tap_data(f"mvr:reg:{f.movement.id}:0", message=await card_of(hung))
        screen = await next_sent(hung)
        assert "⏳ 1 đăng ký đang chờ duyệt" in (screen.text or "")
        await hung.tap("Trường Tiểu học Nguyễn Du (3)")
        await hung.next_message()
        await hung.tap("Mai Văn Minh · Chờ duyệt")
        card = await hung.next_message()
        assert card.buttons[0] == ["✅ Duyệt", "✖ Không duyệt"]
        await hung.tap("✅ Duyệt")
        approved = await hung.next_message()
        assert approved.text is not None and approved.text.startswith("✅ Đã duyệt đăng ký.")
        assert "Trạng thái: <b>Đã đăng ký</b>" in approved.text
        assert approved.buttons[0] == ["🏅 Đạt", "Không đạt"]
        assert (await next_sent(minh)).text == (
            f"✅ Đăng ký thi đua “{MOVEMENT}” (Lao động tiên tiến) của bạn đã được duyệt."
        )
        # The approval button again (a double tap): refused, nothing changes.
        answer = await alert_for(hung, f"mvr:ap:{f.registrations['m3'].id}", message=approved)
        assert answer["text"] == "Đăng ký này không còn chờ duyệt."
    assert (await statuses(db, f))["m3"] == ("registered", None)


async def test_officials_elsewhere_members_and_forged_ids_are_refused(  # type: ignore[no-untyped-def]
    start_bot, tg: FakeTelegram, db: AsyncSession
) -> None:
    f = await fixture(db, chat=True)
    elsewhere = await make_unit(db, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                kind=OrgKind.INDUSTRY_UNION, parent=f.tree["edu"])
    await make_official(db, elsewhere, "Lê Văn Lạ", telegram_id=STRANGER_ID)
    await db.commit()
    stranger = tg.user(first_name="Lạ", user_id=STRANGER_ID)
    cuc = member(tg, "w3")
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_TELEGRAM_ID)
    movement_id, w3 = f.movement.id, f.registrations["w3"].id
    async with start_bot():
        card = await card_of(stranger)
        for data in (
            f"mvr:st:{movement_id}", f"mvr:reg:{movement_id}:0", f"mvr:x:{movement_id}",
            f"mvr:res:{movement_id}", f"mvr:r:{w3}", f"mvr:d:{w3}:a", f"mvr:dn:{w3}:a",
            f"mvr:u:{movement_id}:{f.tree['trai'].id}:0",
        ):
            answer = await alert_for(stranger, data, message=card)
            assert answer["show_alert"] and answer["text"].startswith("Bạn không có quyền"), data
        # A member taps an official's button: refused the same way.
        answer = await alert_for(cuc, f"mvr:dn:{w3}:a", message=await card_of(cuc))
        assert answer["text"].startswith("Bạn không có quyền")
        # A movement that does not exist.
        answer = await alert_for(hung, "mvr:st:987654", message=await card_of(hung))
        assert answer["text"] == "Phong trào này không còn nữa."
        assert stranger.pending() == []  # no screen, no file went to them
    assert (await statuses(db, f))["w3"] == ("submitted", None)


async def test_on_zalo_the_export_and_the_workbook_point_to_telegram(  # type: ignore[no-untyped-def]
    start_bot, zalo: FakeZalo, db: AsyncSession
) -> None:
    f = await fixture(db)
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, f.tree["district"], "Trần Văn Hùng", zalo_id=mapped.id)
    # The movement's card, as movement_admin shows it on Zalo: a numbered list of its buttons.
    options: list[Any] = [
        ("Đăng ký", f"mvr:reg:{f.movement.id}:0"), ("Xuất file", f"mvr:x:{f.movement.id}"),
        ("Kết quả", f"mvr:res:{f.movement.id}"), ("Thống kê", f"mvr:st:{f.movement.id}"),
    ]
    await save_menu(db, mapped.id, Menu(message_id=1, kind="inline", text="Phong trào",  # type: ignore[arg-type]
                                        options=options))
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("2")
        assert "Zalo không nhận được file" in await said(hung)
        await save_menu(db, mapped.id, Menu(message_id=1, kind="inline", text="Phong trào",  # type: ignore[arg-type]
                                            options=options))
        await db.commit()
        await hung.send("3")
        results = await said(hung)
        assert "Trên Zalo bạn ghi kết quả từng người" in results
        assert "1. 👥 Danh sách đăng ký" in results
        await hung.send("1")
        registrants = await said(hung)
        assert "6 lượt đăng ký ở 2 công đoàn cơ sở" in registrants
        assert "1. Trường THCS Nguyễn Trãi (4)" in registrants
