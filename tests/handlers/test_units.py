"""/units end to end: an official manages their part of the organisation tree from the chat."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import AuditEntry
from models.channels import ZaloId
from models.members import Member, MemberStatus
from models.org import OrgKind, OrgUnit
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_official, make_unit
from tests.handlers.conftest import ADMIN_ID
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

OFFICIAL_ID = 7301


def flat(buttons: list[list[str]]) -> list[str]:
    return [label for row in buttons for label in row]


async def fresh_unit(db: AsyncSession, unit_id: int) -> OrgUnit:
    """The unit as stored now (what the bot changed), not as this session last saw it."""
    query = select(OrgUnit).where(OrgUnit.id == unit_id)
    return (await db.exec(query.execution_options(populate_existing=True))).one()


async def member_units(db: AsyncSession, *members: Member) -> list[int]:
    rows = await db.exec(
        select(Member.id, Member.unit_id).where(col(Member.id).in_([m.id for m in members]))
    )
    found = dict(rows.all())
    return [found[m.id] for m in members]  # type: ignore[index]


@pytest.fixture
async def district_official(units: dict, db: AsyncSession) -> dict:
    """The district's official, a cluster of schools in the district, two members of Nguyễn Du
    (one waiting for approval), and another district with a school (outside the scope)."""
    extra = {
        "cluster": await make_unit(db, "Liên trường Ba Đình Bắc", kind=OrgKind.INDUSTRY_UNION,
                                   parent=units["district"]),
        "other_district": await make_unit(db, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                          kind=OrgKind.INDUSTRY_UNION, parent=units["edu"]),
    }
    extra["other_school"] = await make_unit(db, "Trường THCS Trưng Vương",
                                            parent=extra["other_district"])
    extra["official"] = await make_official(db, units["district"], "Trần Văn Hùng",
                                            telegram_id=OFFICIAL_ID)
    extra["an"] = await make_member(db, units["du"], "Lê Văn An")
    extra["binh"] = await make_member(db, units["du"], "Phạm Thị Bình",
                                      status=MemberStatus.PENDING)
    await db.commit()
    return {**units, **extra}


async def test_a_district_official_adds_renames_moves_and_closes_units(
    start_bot, district_official: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    tree = district_official
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/units")
        card = await next_sent(hung)
        assert "<b>Công đoàn Giáo dục quận Ba Đình</b>" in card.text
        assert "Liên đoàn Lao động Thành phố Hà Nội › Công đoàn Giáo dục Hà Nội" in card.text
        assert "Đoàn viên đang sinh hoạt: 2" in card.text  # Hùng and An; Bình is waiting
        assert card.buttons[:3] == [
            ["📂 Liên trường Ba Đình Bắc"], ["🏫 Trường THCS Nguyễn Trãi"],
            ["🏫 Trường Tiểu học Nguyễn Du"],
        ]
        assert "➕ Thêm đơn vị trực thuộc" in flat(card.buttons)
        assert "✏️ Đổi tên" not in flat(card.buttons)  # their own unit is managed from above

        # Adds a school.
        await hung.tap("Thêm đơn vị trực thuộc")
        kinds = await hung.next_message()
        assert "Công đoàn cơ sở" in flat(kinds.buttons)
        await hung.tap("Công đoàn cơ sở")
        question = await hung.next_message()
        assert "Hãy gõ tên" in question.text
        await hung.send("Trường THCS  Giảng Võ ")
        added = await next_sent(hung)
        assert "Đã thêm <b>Trường THCS Giảng Võ</b>" in added.text
        assert "🏢 <b>Trường THCS Giảng Võ</b>" in added.text
        school = (await db.exec(select(OrgUnit).where(OrgUnit.name == "Trường THCS Giảng Võ"))
                  ).one()
        assert school.parent_id == tree["district"].id and school.kind == OrgKind.GRASSROOTS

        # Renames it; a name too short is refused and asked again.
        await hung.tap("Đổi tên")
        await hung.next_message()
        await hung.send("X")
        assert "ít nhất 2 ký tự" in (await next_sent(hung)).text
        await hung.send("Trường THCS Giảng Võ – Ba Đình")
        renamed = await next_sent(hung)
        assert "<b>Trường THCS Giảng Võ – Ba Đình</b>" in renamed.text

        # Moves it into the cluster.
        await hung.tap("Chuyển đơn vị")
        where = await hung.next_message()
        assert where.buttons[0] == ["📂 Liên trường Ba Đình Bắc"]
        assert "✅ Chuyển vào đây" not in flat(where.buttons)  # it is there already
        await hung.tap("📂 Liên trường Ba Đình Bắc")
        await hung.next_message()
        await hung.tap("Chuyển vào đây")
        moved = await hung.next_message()
        assert "Đã chuyển <b>Trường THCS Giảng Võ – Ba Đình</b>" in moved.text
        assert "Công đoàn Giáo dục quận Ba Đình › Liên trường Ba Đình Bắc" in moved.text
        school = await fresh_unit(db, school.id)
        assert school.parent_id == tree["cluster"].id
        assert school.path == f"{tree['cluster'].path}{school.id}/"

        # Closes Nguyễn Du, whose two members go to Nguyễn Trãi.
        await hung.tap("⬆ Cấp trên")
        await hung.next_message()  # the cluster
        await hung.tap("⬆ Cấp trên")
        await hung.next_message()  # the district
        await hung.tap("🏫 Trường Tiểu học Nguyễn Du")
        await hung.next_message()
        await hung.tap("Ngừng hoạt động")
        where_to = await hung.next_message()
        assert "còn 2 đoàn viên" in where_to.text
        assert "🏫 Trường Tiểu học Nguyễn Du" not in flat(where_to.buttons)
        await hung.tap("🏫 Trường THCS Nguyễn Trãi")
        confirm = await hung.next_message()
        assert "chuyển 2 đoàn viên sang <b>Trường THCS Nguyễn Trãi</b>" in confirm.text
        await hung.tap("Xác nhận")
        done = await hung.next_message()
        assert "2 đoàn viên đã chuyển sang <b>Trường THCS Nguyễn Trãi</b>" in done.text

    du = await fresh_unit(db, tree["du"].id)
    assert not du.is_active
    assert await member_units(db, tree["an"], tree["binh"]) == [tree["trai"].id] * 2
    entries = (await db.exec(
        select(AuditEntry).where(AuditEntry.actor_member_id == tree["official"].id)
        .order_by(col(AuditEntry.id))
    )).all()
    assert [e.action for e in entries] == [
        "add_unit", "rename_unit", "move_unit", "move_members", "deactivate_unit"]
    assert entries[3].after == {"unit_id": tree["trai"].id, "members": 2}


async def test_forged_buttons_for_units_outside_the_scope_are_refused_and_change_nothing(
    start_bot, district_official: dict, tg: FakeTelegram, db: AsyncSession,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    tree = district_official
    caplog.set_level(logging.WARNING, logger="models.access")
    other, trai, du = tree["other_school"], tree["trai"], tree["du"]
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/units")
        card = await next_sent(hung)
        forged = [
            f"units:open:{other.id}:0",
            f"units:ren:{other.id}",
            f"units:mvto:{trai.id}:{tree['other_district'].id}",
            f"units:offto:{du.id}:{other.id}",
            f"units:offok:{du.id}:{other.id}",
            f"units:add:{tree['other_district'].id}",
        ]
        for data in forged:
            answer = await alert_for(hung, data, message=card)
            assert answer["show_alert"] is True, data
            assert answer["text"].startswith("Bạn không có quyền"), data
        for data in ("units:open:987654:0", "units:whatever:1"):
            answer = await alert_for(hung, data, message=card)
            assert answer["text"].startswith("Nút này không còn dùng được"), data
        await tg.wait_idle()
        assert hung.pending() == []  # nothing but the alerts

    assert caplog.text.count("refused") >= len(forged)
    assert f"on unit {other.id}" in caplog.text
    assert (await fresh_unit(db, other.id)).name == "Trường THCS Trưng Vương"
    assert (await fresh_unit(db, du.id)).is_active
    assert (await fresh_unit(db, trai.id)).parent_id == tree["district"].id
    assert await member_units(db, tree["an"], tree["binh"]) == [du.id] * 2
    assert (await db.exec(select(AuditEntry))).all() == []


async def test_a_member_without_a_role_is_told_units_is_for_officials(
    bot, units: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=7401)
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=7401)
    await lan.send("/units")
    told = await next_sent(lan)
    assert told.text.startswith("Lệnh này dành cho cán bộ công đoàn") and told.buttons == []
    answer = await alert_for(lan, f"units:ren:{units['trai'].id}", message=told)
    assert answer["text"].startswith("Lệnh này dành cho cán bộ công đoàn")
    assert (await fresh_unit(db, units["trai"].id)).name == "Trường THCS Nguyễn Trãi"


async def test_a_name_question_survives_a_restart_and_cancel_leaves_it(
    start_bot, district_official: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    trai = district_official["trai"]
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    async with start_bot():
        await hung.send("/units")
        await next_sent(hung)
        await hung.tap("🏫 Trường THCS Nguyễn Trãi")
        await hung.next_message()
        await hung.tap("Đổi tên")
        await hung.next_message()
    async with start_bot():  # a restart between the question and the answer
        await hung.send_photo()  # not a name: the name is still awaited
        assert "gõ tên bằng chữ" in (await next_sent(hung)).text
        await hung.send("Trường THCS Nguyễn Trãi – Ba Đình")
        assert "<b>Trường THCS Nguyễn Trãi – Ba Đình</b>" in (await next_sent(hung)).text
        await hung.tap("Đổi tên")
        await hung.next_message()
        await hung.send("/cancel")
        assert "không có gì thay đổi" in (await next_sent(hung)).text
        await hung.send("Một cái tên khác")
        assert "/help" in (await next_sent(hung)).text  # not taken as a name any more
    assert (await fresh_unit(db, trai.id)).name == "Trường THCS Nguyễn Trãi – Ba Đình"


async def test_an_official_browses_units_on_zalo_by_numbers_and_renames_by_typing(
    start_bot, units: dict, zalo: FakeZalo, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, units["district"], "Trần Văn Hùng", zalo_id=mapped.id)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/units")
        card = await said(hung)
        assert card.startswith("🏢 Công đoàn Giáo dục quận Ba Đình") and "<b>" not in card
        assert "1. 🏫 Trường THCS Nguyễn Trãi" in card
        assert "2. 🏫 Trường Tiểu học Nguyễn Du" in card
        await hung.send("1")
        school = await said(hung)
        assert school.startswith("🏢 Trường THCS Nguyễn Trãi")
        assert "Công đoàn Giáo dục Hà Nội › Công đoàn Giáo dục quận Ba Đình" in school
        assert "1. ✏️ Đổi tên" in school
        await hung.send("doi ten")  # the option's words, without diacritics
        assert "Hãy gõ tên mới" in await said(hung)
        await hung.send("Trường THCS Nguyễn Trãi mới")
        renamed = await said(hung)
        assert "Đã đổi tên «Trường THCS Nguyễn Trãi» thành Trường THCS Nguyễn Trãi mới" in renamed
    assert (await fresh_unit(db, units["trai"].id)).name == "Trường THCS Nguyễn Trãi mới"


async def test_an_administrator_creates_a_bloc_and_tags_a_school_with_it(
    bot, units: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    admin = tg.user(first_name="Admin", user_id=ADMIN_ID)
    await admin.send("/units")
    card = await next_sent(admin)
    assert "<b>Liên đoàn Lao động Thành phố Hà Nội</b>" in card.text  # the only root
    for level in ("Công đoàn Giáo dục Hà Nội", "quận Ba Đình", "Trường THCS Nguyễn Trãi"):
        await admin.tap(level)
        card = await admin.next_message()
    assert "Cụm/khối thi đua: chưa có" in card.text
    await admin.tap("Cụm/khối thi đua")
    assert "Chưa có cụm/khối thi đua nào" in (await admin.next_message()).text
    await admin.tap("Tạo cụm/khối mới")
    await admin.next_message()
    await admin.send("Cụm trường THCS số 1")
    blocs = await next_sent(admin)
    assert "Đã tạo cụm/khối <b>Cụm trường THCS số 1</b>" in blocs.text
    assert blocs.buttons[0] == ["▫️ Cụm trường THCS số 1"]
    await admin.tap("Cụm trường THCS số 1")
    assert (await admin.next_message()).buttons[0] == ["✅ Cụm trường THCS số 1"]
    await admin.tap("Quay lại")
    card = await admin.next_message()
    assert "Cụm/khối thi đua: Cụm trường THCS số 1" in card.text

    await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=OFFICIAL_ID)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    await hung.send("/units")
    await next_sent(hung)
    await hung.tap("🏫 Trường THCS Nguyễn Trãi")
    await hung.next_message()
    await hung.tap("Cụm/khối thi đua")
    offered = await hung.next_message()
    assert offered.buttons[0] == ["✅ Cụm trường THCS số 1"]
    assert "➕ Tạo cụm/khối mới" not in flat(offered.buttons)  # administrators only
    answer = await alert_for(hung, f"units:newbloc:{units['trai'].id}", message=offered)
    assert answer["text"].startswith("Bạn không có quyền")


async def test_another_command_leaves_the_name_question(
    start_bot, district_official: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    trai = district_official["trai"]
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    async with start_bot():
        await hung.send("/units")
        await next_sent(hung)
        await hung.tap("🏫 Trường THCS Nguyễn Trãi")
        await hung.next_message()
        await hung.tap("Đổi tên")
        await hung.next_message()
        await hung.send("/members")  # changed his mind: looks someone up instead
        assert "Gõ họ tên" in (await next_sent(hung)).text
        await hung.send("an")
        found = await next_sent(hung)
        assert "Tên có: «an»" in found.text
        assert flat(found.buttons)[0].startswith("Lê Văn An")
    assert (await fresh_unit(db, trai.id)).name == "Trường THCS Nguyễn Trãi"
