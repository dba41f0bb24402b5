"""/import end to end: an official sends a roster file to the real bot and reads the answer; a
file with problems comes back as a report, and its valid rows can be imported later (even after
a restart); nobody else can use the command or another official's upload."""

from __future__ import annotations

import io

from openpyxl import Workbook, load_workbook
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Role, appoint
from models.channels import ZaloId
from models.members import Member, MemberStatus
from models.roster import PendingImport
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_official
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

CHAIR_ID = 610001
OTHER_ID = 610002
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["Họ và tên", "Mã đơn vị", "Chức vụ", "Giới tính", "Ngày sinh", "Số điện thoại",
          "Đoàn viên", "Mã đoàn viên"]


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def members(db: AsyncSession) -> list[Member]:
    db.expire_all()
    return list((await db.exec(select(Member).order_by(Member.id))).all())


async def test_an_official_imports_a_clean_roster(  # type: ignore[no-untyped-def]
    start_bot, units: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    await make_official(db, units["trai"], "Trần Văn Hùng", telegram_id=CHAIR_ID)
    await db.commit()
    before = len(await members(db))
    chair = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    content = xlsx([
        ["Nguyễn Thị Lan", None, "Giáo viên", "Nữ", "15/03/1985", "0912345678", "có", "DV1"],
        ["Lê Văn Minh", None, "Bảo vệ", "Nam", None, "0912345679", "không", "DV2"],
    ])
    async with start_bot():
        await chair.send("/import")
        ask = await next_sent(chair)
        assert ".xlsx" in ask.text and "Họ và tên" in ask.text
        assert "Dòng không có mã đơn vị sẽ thuộc <b>Trường THCS Nguyễn Trãi</b>" in ask.text
        await chair.send("/help")  # looking something up leaves the question open
        assert "/import" in (await next_sent(chair)).text
        await chair.send_document("ds.xlsx", XLSX, content=content)
        done = await next_sent(chair)
        assert done.text == (
            "✅ ds.xlsx: thêm mới 2 đoàn viên, cập nhật 0, giữ nguyên 0 (2 dòng)."
        )

        # The same file again changes nothing.
        await chair.send("/import")
        await next_sent(chair)
        await chair.send_document("ds.xlsx", XLSX, content=content)
        assert "thêm mới 0 đoàn viên, cập nhật 0, giữ nguyên 2" in (await next_sent(chair)).text
    imported = (await members(db))[before:]
    assert [(m.full_name, m.unit_id, m.status, m.position) for m in imported] == [
        ("Nguyễn Thị Lan", units["trai"].id, MemberStatus.ACTIVE, "teacher"),
        ("Lê Văn Minh", units["trai"].id, MemberStatus.ACTIVE, "staff"),
    ]


async def test_a_roster_with_problems_comes_back_as_a_report_then_its_valid_rows_go_in(  # type: ignore[no-untyped-def]
    start_bot, units: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    chair = await make_official(db, units["trai"], "Trần Văn Hùng", telegram_id=CHAIR_ID)
    await appoint(db, None, member=chair, role=Role.OFFICIAL, unit=units["du"])
    await db.commit()
    before = len(await members(db))
    hung = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    content = xlsx([
        ["Nguyễn Thị Lan", None, "Giáo viên", "Nữ", "15/03/1985", "0912345678", "có", "DV1"],
        ["Lê Văn Minh", "KHONGCO", None, None, None, "0912345679", None, None],
        ["Phạm Thu Hà", units["du"].code, None, None, "32/01/1990", "12345", None, None],
    ])
    async with start_bot():
        await hung.send("/import")
        question = await next_sent(hung)
        assert question.buttons == [
            ["Trường THCS Nguyễn Trãi"], ["Trường Tiểu học Nguyễn Du"],
            ["Dòng nào cũng có mã đơn vị"],
        ]
        await hung.tap("Trường Tiểu học Nguyễn Du")
        ask = await next_sent(hung)
        assert "<b>Trường Tiểu học Nguyễn Du</b>" in ask.text

        await hung.send_document("danh sach.xlsx", XLSX, content=content)
        report = await next_sent(hung)
        assert report.document is not None
        name, data = report.document
        assert name == "danh sach.errors.xlsx"
        rows = list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
        assert rows[0][0] == "Dòng" and rows[0][-1] == "Lỗi cần sửa"
        assert [(row[0], row[1]) for row in rows[1:]] == [(3, "Lê Văn Minh"), (4, "Phạm Thu Hà")]
        assert "KHONGCO" in rows[1][-1]
        assert "“32/01/1990” không phải ngày sinh" in rows[2][-1]
        assert "“12345” không phải số điện thoại" in rows[2][-1]
        choice = await next_sent(hung)
        assert "2 trên 3 dòng có lỗi nên chưa nhập gì" in choice.text
        assert "• Dòng 3: không có đơn vị mã “KHONGCO”" in choice.text
        assert choice.buttons == [["Nhập 1 dòng hợp lệ"], ["Huỷ"]]
    assert len(await members(db)) == before

    # The upload is kept in the database: the choice still works after a restart.
    async with start_bot():
        await hung.tap("Nhập 1 dòng hợp lệ")
        done = await next_sent(hung)
        assert done.text == (
            "✅ danh sach.xlsx: thêm mới 1 đoàn viên, cập nhật 0, giữ nguyên 0; "
            "bỏ qua 2 dòng có lỗi."
        )
        assert hung.current(choice).buttons == []
        # A second tap (an old message) imports nothing twice.
        answer = await alert_for(hung, choice.button_data[0][0], message=choice)
        assert "không còn được lưu" in answer["text"]
    [lan] = (await members(db))[before:]
    assert (lan.full_name, lan.unit_id, lan.member_code) == (
        "Nguyễn Thị Lan", units["du"].id, "DV1")
    assert (await db.exec(select(func.count()).select_from(PendingImport))).one() == 0


async def test_a_phone_shared_by_hundreds_of_rows_still_leaves_the_choice(  # type: ignore[no-untyped-def]
    start_bot, units: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    await make_official(db, units["trai"], "Trần Văn Hùng", telegram_id=CHAIR_ID)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    # The school office's phone typed for every teacher but the first.
    rows: list[list[object]] = [
        ["Nguyễn Thị Lan", None, "Giáo viên", "Nữ", None, "0912345678", "có", "DV0"]
    ]
    rows += [
        ["Trần Thị Mai", None, None, None, None, "0243822111", None, f"DV{number}"]
        for number in range(1, 601)
    ]
    async with start_bot():
        await hung.send("/import")
        await next_sent(hung)
        await hung.send_document("ds.xlsx", XLSX, content=xlsx(rows))
        report = await next_sent(hung)
        assert report.document is not None
        choice = await next_sent(hung)
        assert "600 trên 601 dòng có lỗi" in choice.text
        assert "• Dòng 3: số điện thoại +84243822111 có ở nhiều dòng (3, 4, 5" in choice.text
        assert "…" in choice.text  # the rest is in the report
        assert choice.buttons == [["Nhập 1 dòng hợp lệ"], ["Huỷ"]]


async def test_the_upload_of_another_official_cannot_be_imported_or_cancelled(  # type: ignore[no-untyped-def]
    start_bot, units: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    await make_official(db, units["trai"], "Trần Văn Hùng", telegram_id=CHAIR_ID)
    await make_official(db, units["district"], "Cán bộ Quận", telegram_id=OTHER_ID)
    await db.commit()
    before = len(await members(db))
    hung = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    other = tg.user(first_name="Quận", user_id=OTHER_ID)
    content = xlsx([["Nguyễn Thị Lan", None, None, None, None, "0912345678", None, None],
                    ["Lê Văn Minh", None, None, None, None, "bad", None, None]])
    async with start_bot():
        await hung.send("/import")
        await next_sent(hung)
        await hung.send_document("ds.xlsx", XLSX, content=content)
        assert (await next_sent(hung)).document is not None
        await next_sent(hung)
        [pending_id] = (await db.exec(select(PendingImport.id))).all()

        await other.send("/help")
        menu = await next_sent(other)
        for forged in (f"ros:valid:{pending_id}", f"ros:cancel:{pending_id}"):
            answer = await alert_for(other, forged, message=menu)
            assert answer["show_alert"] and "không có quyền" in answer["text"], forged
    assert len(await members(db)) == before
    assert (await db.exec(select(PendingImport.id))).all() == [pending_id]


async def test_only_officials_import_and_only_rosters_are_taken(  # type: ignore[no-untyped-def]
    start_bot, units: dict, tg: FakeTelegram, db: AsyncSession
) -> None:
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=OTHER_ID)
    await make_official(db, units["trai"], "Trần Văn Hùng", telegram_id=CHAIR_ID)
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=OTHER_ID)
    hung = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    async with start_bot():
        await lan.send("/import")
        assert "dành cho cán bộ công đoàn" in (await next_sent(lan)).text
        await lan.send_document("ds.xlsx", XLSX, content=xlsx([]))
        assert "/help" in (await next_sent(lan)).text  # not taken as a roster

        await hung.send("/import")
        await next_sent(hung)
        await hung.send_document("ds.pdf", "application/pdf")
        assert "không phải danh sách" in (await next_sent(hung)).text
        await hung.send_document("ds.xlsx", XLSX, file_size=5 * 1024 * 1024 + 1)
        assert "tối đa 5 MB" in (await next_sent(hung)).text
        await hung.send_document("ds.csv", "text/csv", content=b"Ten,Tuoi\nLan,30\n")
        assert "Tệp thiếu cột Họ và tên (Full name)" in (await next_sent(hung)).text
        await hung.send("xin chào")
        assert "dưới dạng tệp" in (await next_sent(hung)).text
        await hung.send("/cancel")
        assert "Đã huỷ nhập danh sách" in (await next_sent(hung)).text


async def test_on_zalo_import_points_to_telegram(  # type: ignore[no-untyped-def]
    start_bot, units: dict, zalo: FakeZalo, db: AsyncSession
) -> None:
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, units["trai"], "Trần Văn Hùng", zalo_id=mapped.id)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/import")
        text = await said(hung)
        assert "Trên Zalo không gửi được tệp" in text and "Telegram" in text
