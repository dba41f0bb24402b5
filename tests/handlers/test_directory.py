"""The member directory from the chat (/members): an official searches, filters, pages, opens
a card, exports their scope and appoints an official; on Telegram and on Zalo."""

from __future__ import annotations

from io import BytesIO

from openpyxl import load_workbook
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.access import Role, RoleAssignment
from models.audit import AuditEntry
from models.channels import ZaloId
from models.members import Gender, Position
from models.org import OrgKind
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_official, make_unit
from tests.handlers.conftest import ADMIN_ID
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

DISTRICT_OFFICIAL = 7301
SCHOOL_OFFICIAL = 7302
TEACHER = 7303


async def _people(db: AsyncSession, units: dict) -> dict:
    """Members in both schools of the district, and one in another district's school."""
    other_district = await make_unit(
        db, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION, parent=units["edu"]
    )
    units["other_school"] = await make_unit(db, "Trường THCS Trưng Vương", parent=other_district)
    people = {
        "lan": await make_member(db, units["trai"], "Nguyễn Thị Lan", phone="+84912345678"),
        "binh": await make_member(
            db, units["trai"], "Nguyễn Văn Bình", gender=Gender.MALE, position=Position.STAFF
        ),
        "thu": await make_member(db, units["trai"], "Lê Thị Thu", telegram_id=TEACHER),
        "hoa": await make_member(db, units["du"], "Trần Thị Hoa"),
        "mai": await make_member(db, units["other_school"], "Phạm Thị Mai"),
        "district": await make_official(
            db, units["district"], "Cán bộ Quận", telegram_id=DISTRICT_OFFICIAL
        ),
        "school": await make_official(
            db, units["trai"], "Chủ tịch CĐ Trãi", telegram_id=SCHOOL_OFFICIAL
        ),
    }
    await db.commit()
    return people


def listed(message: BotMessage) -> list[str]:
    """The people on a page of the directory (their buttons)."""
    return [row[0].split(" · ")[0] for row in message.buttons if " · " in row[0]]


async def tap(user: TgUser, button: str) -> BotMessage:
    """Taps `button` on the latest directory message and returns it as it became."""
    await user.tap(button)
    return await user.next_message()


async def test_an_official_searches_filters_pages_and_opens_a_card(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await _people(db, units)
    for number in range(8):
        await make_member(db, units["du"], f"Vũ Thị Giáo Viên {number}")
    await db.commit()
    official = tg.user(first_name="Quận", user_id=DISTRICT_OFFICIAL)

    await official.send("/members")
    first = await next_sent(official)
    assert "14 người" in first.text and "Trang 1/2" in first.text
    assert len(listed(first)) == 8 and "Phạm Thị Mai" not in listed(first)
    assert ["Tiếp ▶"] in first.buttons

    second = await tap(official, "Tiếp ▶")
    assert "Trang 2/2" in second.text and len(listed(second)) == 6
    assert not set(listed(first)) & set(listed(second))
    assert ["◀ Trước"] in second.buttons

    await official.send("nguyen thi")
    found = await next_sent(official)
    assert listed(found) == ["Nguyễn Thị Lan"] and "1 người" in found.text
    assert "nguyen thi" in found.text  # the search is shown with the list

    card = await tap(official, "Nguyễn Thị Lan")
    assert "Nguyễn Thị Lan" in card.text and "Trường THCS Nguyễn Trãi" in card.text
    assert "•••••••678" in card.text and "912345678" not in card.text
    assert "Giáo viên" in card.text and "Nữ" in card.text

    back = await tap(official, "Về danh sách")
    assert listed(back) == ["Nguyễn Thị Lan"]  # the search still holds
    await tap(official, "Bộ lọc")
    await tap(official, "Bỏ mọi bộ lọc")
    await tap(official, "Bộ lọc")
    await tap(official, "Theo giới tính")
    men = await tap(official, "Nam")
    assert listed(men) == ["Cán bộ Quận", "Chủ tịch CĐ Trãi", "Nguyễn Văn Bình"]
    assert "Giới tính: Nam" in men.text

    await tap(official, "Bộ lọc")
    schools = await tap(official, "Theo đơn vị")
    assert ["Trường Tiểu học Nguyễn Du"] in schools.buttons
    assert not any("Trưng Vương" in row[0] for row in schools.buttons)
    du_men = await tap(official, "Trường Tiểu học Nguyễn Du")
    assert listed(du_men) == [] and "Không có ai" in du_men.text


async def test_the_export_is_an_xlsx_of_exactly_the_scope(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    people = await _people(db, units)
    official = tg.user(first_name="Trãi", user_id=SCHOOL_OFFICIAL)
    await official.send("/members")
    await next_sent(official)
    await official.tap("Xuất .xlsx")
    sent = await next_sent(official)
    assert sent.document is not None
    filename, content = sent.document
    assert filename.startswith("doan-vien-") and filename.endswith(".xlsx")
    rows = list(load_workbook(BytesIO(content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "Họ và tên"
    assert sorted(row[0] for row in rows[1:]) == sorted(
        people[name].full_name for name in ("lan", "binh", "thu", "school")
    )
    assert ("Nguyễn Thị Lan", "•••••••678") in {(row[0], row[6]) for row in rows}
    assert b"912345678" not in content
    entry = (
        await db.exec(select(AuditEntry).where(AuditEntry.action == "export_members"))
    ).one()
    assert entry.after == {"rows": 4}


async def test_an_official_appoints_a_teacher_who_then_has_the_directory(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    people = await _people(db, units)
    official = tg.user(first_name="Quận", user_id=DISTRICT_OFFICIAL)
    thu = tg.user(first_name="Thu", user_id=TEACHER)

    await thu.send("/members")  # not an official (yet)
    assert "dành cho cán bộ công đoàn" in (await next_sent(thu)).text

    await official.send("/members")
    await next_sent(official)
    card = await tap(official, "Lê Thị Thu")
    assert ["⭐ Bổ nhiệm cán bộ công đoàn"] in card.buttons
    assert not any("quản trị" in row[0] for row in card.buttons)  # officials appoint no admins
    where = await tap(official, "Bổ nhiệm cán bộ công đoàn")
    # Strictly below the district: its schools, not the district itself.
    assert where.buttons == [
        ["Trường THCS Nguyễn Trãi"], ["Trường Tiểu học Nguyễn Du"], ["Huỷ"]
    ]
    confirm = await tap(official, "Trường THCS Nguyễn Trãi")
    assert "Lê Thị Thu" in confirm.text and "Cán bộ công đoàn" in confirm.text
    done = await tap(official, "Xác nhận")
    assert "Đã bổ nhiệm" in done.text
    assert "• Cán bộ công đoàn — Trường THCS Nguyễn Trãi" in done.text

    notice = await next_sent(thu)
    assert "bổ nhiệm" in notice.text and "Trường THCS Nguyễn Trãi" in notice.text
    roles = (
        await db.exec(select(RoleAssignment).where(RoleAssignment.member_id == people["thu"].id))
    ).all()
    assert [(r.role, r.unit_id) for r in roles] == [(Role.OFFICIAL, units["trai"].id)]

    await thu.send("/members")
    own = await next_sent(thu)
    assert "Nguyễn Thị Lan" in listed(own) and "Trần Thị Hoa" not in listed(own)

    # And the district official takes the role back.
    await official.send("/members")
    await next_sent(official)
    await tap(official, "Lê Thị Thu")
    await tap(official, "Thu hồi: Cán bộ công đoàn")
    revoked = await tap(official, "Xác nhận")
    assert "Đã thu hồi" in revoked.text
    assert "thu hồi" in (await next_sent(thu)).text


async def test_forged_buttons_naming_what_is_outside_the_scope_are_refused(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    people = await _people(db, units)
    official = tg.user(first_name="Trãi", user_id=SCHOOL_OFFICIAL)
    await official.send("/members")
    page = await next_sent(official)

    for forged in (
        f"dir:m:{people['mai'].id}",  # a card in another district
        f"dir:m:{people['hoa'].id}",  # a card in the sibling school
        f"dir:u:{units['du'].id}",  # a unit filter outside the scope
        f"dir:ay:o:{people['lan'].id}:{units['trai'].id}",  # an official at their own level
        f"dir:ay:a:{people['lan'].id}:0",  # an administrator
    ):
        answer = await alert_for(official, forged, message=page)
        assert answer["show_alert"] and "không có quyền" in answer["text"], forged
    await tg.wait_idle()
    assert official.pending() == []  # no card, no list, nothing edited
    assert (await db.exec(select(RoleAssignment).where(
        RoleAssignment.member_id == people["lan"].id
    ))).all() == []


async def test_typed_text_is_a_search_only_while_the_directory_is_open(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await _people(db, units)
    official = tg.user(first_name="Trãi", user_id=SCHOOL_OFFICIAL)
    await official.send("nguyen")
    assert "chưa hiểu" in (await next_sent(official)).text

    await official.send("/members")
    await next_sent(official)
    await official.send("nguyen")
    assert listed(await next_sent(official)) == ["Nguyễn Thị Lan", "Nguyễn Văn Bình"]
    closed = await tap(official, "Đóng danh sách")
    assert "Đã đóng" in closed.text and closed.buttons == []
    await official.send("nguyen")
    assert "chưa hiểu" in (await next_sent(official)).text

    await official.send("/members")
    await next_sent(official)
    await official.send("/cancel")
    assert "Đã đóng" in (await next_sent(official)).text
    await official.send("/cancel")
    assert "không có việc gì" in (await next_sent(official)).text


async def test_the_directory_on_zalo_in_numbered_lists(
    start_bot, units: dict, zalo: FakeZalo, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    await _people(db, units)
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, units["trai"], "Trần Văn Hùng", zalo_id=mapped.id)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/members")
        page = await said(hung)
        assert "5 người" in page and "Trang 1/2" in page
        assert "1. Chủ tịch CĐ Trãi · Trường THCS Nguyễn Trãi" in page
        assert "5. Tiếp ▶" in page and "7. 📥 Xuất .xlsx" in page
        assert "<b>" not in page

        await hung.send("3")
        card = await said(hung)
        assert card.startswith("👤 Nguyễn Thị Lan")
        assert "•••••••678" in card and "912345678" not in card

        await hung.send("tran van hung")  # no option of the card's list: a search
        found = await said(hung)
        assert "1 người" in found and "1. Trần Văn Hùng · Trường THCS Nguyễn Trãi" in found

        await hung.send("/members")
        await said(hung)
        await hung.send("7")
        told = await said(hung)
        assert "Zalo không nhận được tệp" in told and "Telegram" in told
    assert not zalo.calls_of("sendDocument")


async def test_an_administrator_appoints_an_administrator_who_then_sees_everyone(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await _people(db, units)
    admin = tg.user(first_name="Admin", user_id=ADMIN_ID)  # from ADMIN_TELEGRAM_IDS only
    thu = tg.user(first_name="Thu", user_id=TEACHER)

    await admin.send("/members")
    everyone = await next_sent(admin)
    assert "Phạm Thị Mai" in listed(everyone)  # every district
    await admin.send("le thi thu")
    await next_sent(admin)
    card = await tap(admin, "Lê Thị Thu")
    assert ["🛡 Bổ nhiệm quản trị viên"] in card.buttons
    confirm = await tap(admin, "Bổ nhiệm quản trị viên")
    assert "Quản trị viên" in confirm.text
    done = await tap(admin, "Xác nhận")
    assert "Đã bổ nhiệm" in done.text and "• Quản trị viên" in done.text
    assert "Quản trị viên" in (await next_sent(thu)).text

    await thu.send("/members")
    await next_sent(thu)
    await thu.send("pham thi mai")
    assert listed(await next_sent(thu)) == ["Phạm Thị Mai"]
