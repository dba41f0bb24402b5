"""/newmovement and /movement end to end: a federation official writes a movement in the chat,
opens it, edits and closes it, copies last year's; members of the district then see it; nobody
runs another district's movement, even with a forged button."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.audit import AuditEntry
from models.channels import ZaloId
from models.movements import Movement, MovementStatus, movements_for_member, register
from models.org import OrgKind
from tests.botapi.telegram import BotMessage, FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.factories import TITLES, make_member, make_movement, make_official, make_unit
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICIAL_ID = 7501
CHAIR_ID = 7502
TEACHER_ID = 7503
OUTSIDER_ID = 7504


def scenario_year() -> int:
    """The school year of the scenario (2026-2027), or a later one once its 15 December has
    passed, so the deadline typed is always ahead."""
    year = 2026
    while datetime(year, 12, 15, tzinfo=HCM) < datetime.now(UTC) + timedelta(days=2):
        year += 1
    return year


def flat(buttons: list[list[str]]) -> list[str]:
    return [label for row in buttons for label in row]


async def tapped(user: TgUser, label: str, message: BotMessage | None = None) -> BotMessage:
    """Taps a button (of the latest message with buttons, unless given); returns the screen
    that replaced the message."""
    await user.tap(label, message=message)
    return await user.next_message()


async def answered(user: TgUser, text: str) -> BotMessage:
    await user.send(text)
    return await next_sent(user)


async def stored(db: AsyncSession, **where: object) -> list[Movement]:
    query = select(Movement).filter_by(**where).order_by(col(Movement.id))
    return list((await db.exec(query.execution_options(populate_existing=True))).all())


@pytest.fixture
async def people(units: dict, db: AsyncSession) -> dict:
    """The district's official, the chair of Nguyễn Trãi, a teacher there, and another
    district with its school and official."""
    extra: dict = {
        "other_district": await make_unit(db, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                          kind=OrgKind.INDUSTRY_UNION, parent=units["edu"]),
    }
    extra["other_school"] = await make_unit(db, "Trường THCS Trưng Vương",
                                            parent=extra["other_district"])
    extra["official"] = await make_official(db, units["district"], "Trần Văn Hùng",
                                            telegram_id=OFFICIAL_ID)
    extra["chair"] = await make_official(db, units["trai"], "Lê Thị Mai", telegram_id=CHAIR_ID)
    extra["teacher"] = await make_member(db, units["trai"], "Nguyễn Thị Lan",
                                         telegram_id=TEACHER_ID)
    extra["outsider"] = await make_official(db, extra["other_district"], "Đỗ Văn Long",
                                            telegram_id=OUTSIDER_ID)
    await db.commit()
    return {**units, **extra}


async def to_the_deadline(user: TgUser, name: str) -> BotMessage:
    """/newmovement up to the deadline question: name, description, two criteria, one
    standard title, the whole scope."""
    await user.send("/newmovement")
    await next_sent(user)
    await answered(user, name)
    await answered(user, "Phong trào thi đua của công đoàn.")
    await answered(user, "Hoàn thành tốt nhiệm vụ\nGia đình hạnh phúc")
    await tapped(user, "Lao động tiên tiến")
    await tapped(user, "Xong")
    return await tapped(user, "Toàn bộ")


async def test_a_district_official_creates_and_opens_a_movement_members_then_see(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    year = scenario_year()
    name = f"Giỏi việc trường, đảm việc nhà {year}-{year + 1}"
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/newmovement")
        question = await next_sent(hung)
        assert "Phong trào thi đua mới" in question.text
        assert flat(question.buttons) == ["Huỷ"]  # nothing to copy yet

        assert "mục đích" in (await answered(hung, name)).text
        criteria = await answered(hung, "Phụ nữ, gia đình và xã hội.")
        assert "mỗi tiêu chí một dòng" in criteria.text
        titles = await answered(
            hung, "1. Hoàn thành tốt nhiệm vụ chuyên môn\n2. Gia đình hạnh phúc, tiến bộ"
        )
        assert "▫️ Giỏi việc trường, đảm việc nhà" in flat(titles.buttons)
        assert "▫️ Tập thể lao động xuất sắc (tập thể)" in flat(titles.buttons)
        await tapped(hung, "Giỏi việc trường, đảm việc nhà")
        titles = await tapped(hung, "▫️ Lao động tiên tiến")
        assert "✅ Lao động tiên tiến" in flat(titles.buttons)
        assert "▫️ Tập thể lao động tiên tiến (tập thể)" in flat(titles.buttons)
        titles = await answered(hung, "Giáo viên dạy giỏi cấp trường")
        assert "❌ Giáo viên dạy giỏi cấp trường" in flat(titles.buttons)
        assert "Đã chọn: 3 danh hiệu" in titles.text

        target = await tapped(hung, "Xong")
        assert "🌐 Toàn bộ Công đoàn Giáo dục quận Ba Đình" in flat(target.buttons)
        deadline_question = await tapped(hung, "Toàn bộ")
        assert "Hạn đăng ký" in deadline_question.text
        window_question = await answered(hung, f"15/12/{year}")
        assert "tự đánh giá" in window_question.text
        wrong = await answered(hung, f"31/05/{year + 1} - 20/05/{year + 1}")
        assert "chưa đúng thứ tự" in wrong.text and "tự đánh giá" in wrong.text
        approval = await answered(hung, f"20/05/{year + 1} - 31/05/{year + 1}")
        summary = await tapped(hung, "Không cần duyệt")

        # The summary is the card members will see, then what only officials see.
        assert f"🏆 <b>{name}</b>" in summary.text
        assert "1. Hoàn thành tốt nhiệm vụ chuyên môn\n2. Gia đình hạnh phúc, tiến bộ" in (
            summary.text
        )
        assert "• Giỏi việc trường, đảm việc nhà\n• Lao động tiên tiến\n" in summary.text
        assert "• Giáo viên dạy giỏi cấp trường" in summary.text
        assert f"📅 Hạn đăng ký: 15/12/{year} 23:59" in summary.text
        assert (f"📝 Nộp tự đánh giá: 20/05/{year + 1} 00:00 – 31/05/{year + 1} 23:59"
                in summary.text)
        assert "🎯 Dành cho: toàn bộ Công đoàn Giáo dục quận Ba Đình" in summary.text
        assert f"📚 Năm học: {year}-{year + 1}" in summary.text
        assert approval.buttons[0] == ["✅ Cần duyệt", "Không cần duyệt"]

        card = await tapped(hung, "Tạo và mở đăng ký")
        assert "Đã tạo và mở đăng ký" in card.text
        assert "Trạng thái: 🟢 đang diễn ra" in card.text
        assert "👥 Đăng ký: 0 cá nhân, 0 tập thể" in card.text

        [movement] = await stored(db)
        assert movement.name == name and movement.status == MovementStatus.OPEN
        assert movement.school_year == f"{year}-{year + 1}"
        assert [t["code"] for t in movement.titles] == ["GVTDVN", "LDTT", "GVDGCT"]
        assert movement.criteria == [
            "Hoàn thành tốt nhiệm vụ chuyên môn", "Gia đình hạnh phúc, tiến bộ",
        ]
        assert movement.registration_deadline == datetime(year, 12, 15, 23, 59, 59, tzinfo=HCM)
        actions = (await db.exec(
            select(AuditEntry.action).where(AuditEntry.target_type == "movement")
        )).all()
        assert sorted(actions) == ["create_movement", "open_movement"]

        # A teacher of a school in the district sees it.
        seen, _ = await movements_for_member(db, people["teacher"])
        assert [m.id for m in seen] == [movement.id]
        lan = tg.user(first_name="Lan", user_id=TEACHER_ID)
        await lan.send("/movements")
        listing = await next_sent(lan)
        assert name in listing.text + " ".join(flat(listing.buttons))
        outside, _ = await movements_for_member(
            db, await make_member(db, people["other_school"], "Vũ Thị Hoa")
        )
        assert outside == []


async def test_wrong_dates_are_explained_and_asked_again(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    year = scenario_year()
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        question = await to_the_deadline(hung, "Dạy tốt, học tốt")
        assert "Hạn đăng ký" in question.text
        for typed, reason in [
            (f"32/12/{year}", f"Mình chưa hiểu ngày «32/12/{year}»"),
            ("ngày mai", "Mình chưa hiểu ngày"),
            ("01/01/2020", "Hạn đăng ký này đã qua"),
        ]:
            again = await answered(hung, typed)
            assert reason in again.text and "Hạn đăng ký là khi nào?" in again.text
        await answered(hung, f"15/12/{year} 17:00")
        for typed, reason in [
            (f"20/05/{year + 1}", "Hãy gõ đúng hai ngày"),
            (f"10/12/{year} - 31/05/{year + 1}", "chưa đúng thứ tự"),
        ]:
            again = await answered(hung, typed)
            assert reason in again.text and "nộp tự đánh giá trong thời gian nào" in again.text
        await answered(hung, f"20/05/{year + 1} - 31/05/{year + 1}")
        await tapped(hung, "Cần duyệt")
        # An overlong name, changed from the summary, is refused and asked again.
        await tapped(hung, "Sửa một mục")
        await tapped(hung, "Tên phong trào")
        again = await answered(hung, "x" * 300)
        assert "Tên phong trào cần từ 3 đến 255 ký tự" in again.text
        summary = await answered(hung, "Dạy tốt, học tốt năm học mới")
        assert "🏆 <b>Dạy tốt, học tốt năm học mới</b>" in summary.text
        assert f"📅 Hạn đăng ký: 15/12/{year} 17:00" in summary.text
        assert "✔️ Đăng ký cần cán bộ duyệt" in summary.text
        card = await tapped(hung, "Tạo (bản nháp)")
        assert "bản nháp" in card.text
    [movement] = await stored(db)
    assert movement.status == MovementStatus.DRAFT and movement.requires_approval


async def test_a_school_official_cannot_target_another_district(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        mai = tg.user(first_name="Mai", user_id=CHAIR_ID)
        await mai.send("/newmovement")
        await next_sent(mai)
        await answered(mai, "Phong trào của trường")
        await answered(mai, "Nội dung")
        await answered(mai, "Tiêu chí một")
        await tapped(mai, "Lao động tiên tiến")
        target = await tapped(mai, "Xong")
        # A school has no units below it to choose from: only the whole school.
        assert flat(target.buttons)[0] == "🌐 Toàn bộ Trường THCS Nguyễn Trãi"
        assert "🏫 Chọn đơn vị" not in flat(target.buttons)
        with caplog.at_level(logging.WARNING):
            other = people["other_school"].id
            alert = await alert_for(mai, f"mva:tu:{other}:{people['trai'].id}:0", message=target)
            assert "không có quyền" in alert["text"]
            alert = await alert_for(mai, f"mva:gu:{people['other_district'].id}:0",
                                    message=target)
            assert alert["show_alert"]
        assert "refused run_movement" in caplog.text
        await tapped(mai, "Toàn bộ")
        await answered(mai, f"15/12/{scenario_year()}")
        await answered(mai, f"20/05/{scenario_year() + 1} - 31/05/{scenario_year() + 1}")
        summary = await tapped(mai, "Không cần duyệt")
        assert "🎯 Dành cho: toàn bộ Trường THCS Nguyễn Trãi" in summary.text
        await tapped(mai, "Tạo (bản nháp)")
    [movement] = await stored(db)
    assert movement.owner_unit_id == people["trai"].id


async def test_a_district_official_chooses_schools_by_browsing(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/newmovement")
        await next_sent(hung)
        await answered(hung, "Trường học hạnh phúc")
        await answered(hung, "Xây dựng trường học hạnh phúc.")
        await answered(hung, "Môi trường an toàn")
        await tapped(hung, "Chiến sĩ thi đua cơ sở")
        await tapped(hung, "Xong")
        units = await tapped(hung, "Chọn đơn vị")
        assert flat(units.buttons)[:2] == [
            "▫️ 🏫 Trường THCS Nguyễn Trãi", "▫️ 🏫 Trường Tiểu học Nguyễn Du",
        ]
        refused = await alert_for(hung, "mva:gd", message=units)
        assert "ít nhất một đơn vị" in refused["text"]
        units = await tapped(hung, "Trường Tiểu học Nguyễn Du")
        assert "✅ 🏫 Trường Tiểu học Nguyễn Du" in flat(units.buttons)
        deadline = await tapped(hung, "Xong (1)")
        assert "Hạn đăng ký" in deadline.text
        await answered(hung, f"15/12/{scenario_year()}")
        await answered(hung, f"20/05/{scenario_year() + 1} - 31/05/{scenario_year() + 1}")
        summary = await tapped(hung, "Không cần duyệt")
        assert "🎯 Dành cho các đơn vị: Trường Tiểu học Nguyễn Du" in summary.text
        await tapped(hung, "Tạo và mở đăng ký")
    [movement] = await stored(db)
    assert [m.id for m in (await movements_for_member(db, people["teacher"]))[0]] == []
    du_teacher = await make_member(db, people["du"], "Phạm Thị Bình")
    assert [m.id for m in (await movements_for_member(db, du_teacher))[0]] == [movement.id]


async def test_last_years_movement_is_copied_with_new_dates(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    year = scenario_year()
    last_year = await make_movement(
        db, people["district"], "Giỏi việc trường, đảm việc nhà",
        registration_deadline=datetime(year - 1, 12, 15, tzinfo=HCM),
        assessment_opens=datetime(year, 5, 20, tzinfo=HCM),
        assessment_closes=datetime(year, 5, 31, tzinfo=HCM),
        status=MovementStatus.CLOSED, school_year=f"{year - 1}-{year}",
    )
    await db.commit()
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/newmovement")
        await next_sent(hung)
        choices = await tapped(hung, "Từ một phong trào trước")
        assert f"🔒 Giỏi việc trường, đảm việc nhà · {year - 1}-{year}" in flat(choices.buttons)
        dates = await tapped(hung, "Giỏi việc trường, đảm việc nhà")
        assert "Dùng lại phong trào <b>Giỏi việc trường, đảm việc nhà</b>" in dates.text
        assert "Hạn đăng ký là khi nào?" in dates.text
        await answered(hung, f"15/12/{year}")
        summary = await answered(hung, f"20/05/{year + 1} - 31/05/{year + 1}")
        assert "Đoàn viên sẽ thấy phong trào như sau" in summary.text
        assert "1. Hoàn thành tốt nhiệm vụ chuyên môn" in summary.text
        assert "• Tập thể lao động xuất sắc (tập thể)" in summary.text
        assert "🎯 Dành cho: toàn bộ Công đoàn Giáo dục quận Ba Đình" in summary.text
        assert f"📚 Năm học: {year}-{year + 1}" in summary.text
        card = await tapped(hung, "Tạo (bản nháp)")
        assert "Trạng thái: 📝 bản nháp" in card.text

        # The new card copies too ("Copy as template"), asking only the dates.
        dates = await tapped(hung, "Dùng làm mẫu")
        assert "Dùng lại phong trào" in dates.text
    copies = await stored(db, copied_from_id=last_year.id)
    assert len(copies) == 1
    copy = copies[0]
    assert copy.status == MovementStatus.DRAFT and copy.school_year == f"{year}-{year + 1}"
    assert copy.titles == TITLES and copy.criteria == last_year.criteria
    assert copy.registration_deadline == datetime(year, 12, 15, 23, 59, 59, tzinfo=HCM)


async def test_the_management_card_leads_to_the_reports_and_to_the_union(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    from models.access import Role, appoint

    # Hùng also chairs Nguyễn Trãi's union, which the movement is for.
    await appoint(db, None, member=people["official"], role=Role.OFFICIAL, unit=people["trai"])
    year = scenario_year()
    movement = await make_movement(
        db, people["district"], "Dạy tốt, học tốt",
        registration_deadline=datetime(year, 12, 15, 23, 59, 59, tzinfo=HCM),
        assessment_opens=datetime(year + 1, 5, 20, tzinfo=HCM),
        assessment_closes=datetime(year + 1, 5, 31, 23, 59, 59, tzinfo=HCM),
        school_year=f"{year}-{year + 1}",
    )
    other = await make_movement(db, people["other_district"], "Quận Hoàn Kiếm")
    await register(db, member=people["teacher"], movement=movement, title_code="LDTT",
                   now=datetime.now(UTC))
    await db.commit()
    mid = movement.id
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/movement")
        listing = await next_sent(hung)
        assert "Các phong trào bạn phụ trách (1)" in listing.text
        assert flat(listing.buttons) == [f"🟢 Dạy tốt, học tốt · {year}-{year + 1}"]
        card = await tapped(hung, "Dạy tốt, học tốt")
        assert "👥 Đăng ký: 1 cá nhân, 0 tập thể" in card.text
        assert card.button_data == [
            [f"mva:e:{mid}", f"mva:s:{mid}:c"],
            [f"mva:cp:{mid}"],
            [f"mvr:reg:{mid}:0", f"mvr:x:{mid}"],
            [f"mvr:res:{mid}", f"mvr:st:{mid}"],
            [f"rmd:f:{mid}"],  # its reminders' figures (handlers/reminders.py)
            [f"mvu:u:{mid}:{people['trai'].id}"],
            ["mva:l:0"],
        ]
        assert flat(card.buttons)[:4] == ["✏️ Sửa", "🔒 Kết thúc", "📋 Dùng làm mẫu",
                                          "👥 Người đăng ký"]

        # A forged id of another district's movement: refused, logged, nothing changed.
        for forged in (f"mva:m:{other.id}", f"mva:sy:{other.id}:c", f"mva:ee:{other.id}:name"):
            alert = await alert_for(hung, forged, message=card)
            assert "không có quyền" in alert["text"]
        refused = (await db.exec(
            select(AuditEntry).where(AuditEntry.target_id == other.id,
                                     AuditEntry.target_type == "movement")
        )).all()
        assert refused == []

        # Edits the deadline of the open movement, then closes it.
        await tapped(hung, "Sửa")
        question = await tapped(hung, "Hạn đăng ký")
        assert "Hạn đăng ký là khi nào?" in question.text
        refused_date = await answered(hung, f"21/05/{year + 1}")
        assert "chưa đúng thứ tự" in refused_date.text
        saved = await answered(hung, f"18/12/{year} 17:30")
        assert "Đã lưu thay đổi" in saved.text
        assert f"📅 Hạn đăng ký: 18/12/{year} 17:30" in saved.text
        confirm = await tapped(hung, "Kết thúc")
        assert "không mở lại được" in confirm.text
        closed = await tapped(hung, "🔒 Kết thúc")
        assert "Trạng thái: 🔒 đã kết thúc" in closed.text
        assert "🗄 Lưu trữ" in flat(closed.buttons) and "✏️ Sửa" not in flat(closed.buttons)
        stale = await alert_for(hung, f"mva:sy:{mid}:c", message=closed)
        assert "trạng thái không cho phép" in stale["text"]

        await hung.send("/movement stats")
        stats = await next_sent(hung)
        assert "Số liệu các phong trào" in stats.text
        assert stats.button_data == [[f"mvr:st:{mid}"]]

    [mine, theirs] = await stored(db)
    assert mine.status == MovementStatus.CLOSED and theirs.status == MovementStatus.OPEN
    assert mine.registration_deadline == datetime(year, 12, 18, 17, 30, tzinfo=HCM)
    actions = (await db.exec(
        select(AuditEntry.action).where(AuditEntry.target_id == mid,
                                        AuditEntry.target_type == "movement")
        .order_by(col(AuditEntry.id))
    )).all()
    assert actions == ["update_movement", "close_movement"]


async def test_members_have_no_movement_to_run(
    start_bot, people: dict, tg: FakeTelegram  # type: ignore[no-untyped-def]
) -> None:
    async with start_bot():
        lan = tg.user(first_name="Lan", user_id=TEACHER_ID)
        for command in ("/newmovement", "/movement"):
            await lan.send(command)
            assert "dành cho cán bộ công đoàn" in (await next_sent(lan)).text


async def test_an_official_of_several_units_chooses_which_runs_it(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    from models.access import Role, appoint

    await appoint(db, None, member=people["official"], role=Role.OFFICIAL,
                  unit=people["other_district"])
    await db.commit()
    async with start_bot():
        hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
        await hung.send("/newmovement")
        owners = await next_sent(hung)
        assert "do đơn vị nào phụ trách" in owners.text
        assert flat(owners.buttons)[:2] == [
            "Công đoàn Giáo dục quận Ba Đình", "Công đoàn Giáo dục quận Hoàn Kiếm",
        ]
        name = await tapped(hung, "quận Hoàn Kiếm")
        assert "Phong trào thi đua mới" in name.text
        await hung.send("/cancel")
        assert "Đã huỷ" in (await next_sent(hung)).text
    assert await stored(db) == []


async def test_an_official_writes_a_movement_on_zalo_in_plain_text(
    start_bot, people: dict, zalo: FakeZalo, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    year = scenario_year()
    hung = zalo.user(display_name="Hùng")
    mapped = ZaloId(zalo_id=hung.id)
    db.add(mapped)
    await db.flush()
    await make_official(db, people["district"], "Trần Văn Hùng Zalo", zalo_id=mapped.id)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await hung.send("/newmovement")
        assert "Phong trào thi đua mới" in await said(hung)
        await hung.send("Lao động sáng tạo")
        await said(hung)
        await hung.send("Khuyến khích sáng kiến.")
        await said(hung)
        await hung.send("Có sáng kiến được công nhận")
        titles = await said(hung)
        assert "3. ▫️ Chiến sĩ thi đua cơ sở" in titles
        await hung.send("3")
        assert "3. ✅ Chiến sĩ thi đua cơ sở" in await said(hung)
        await hung.send("Lao động sáng tạo tiêu biểu")  # no option: a typed title
        assert "❌ Lao động sáng tạo tiêu biểu" in await said(hung)
        await hung.send("xong")
        target = await said(hung)
        assert "1. 🌐 Toàn bộ Công đoàn Giáo dục quận Ba Đình" in target
        await hung.send("chọn gì đây")  # buttons only here: a number is asked for
        assert "Bạn hãy trả lời bằng một số từ 1 đến" in await said(hung)
        await hung.send("1")
        assert "Hạn đăng ký là khi nào?" in await said(hung)
        await hung.send(f"15/12/{year}")
        await said(hung)
        await hung.send(f"20/05/{year + 1} - 31/05/{year + 1}")
        await said(hung)
        await hung.send("khong can duyet")
        summary = await said(hung)
        assert "🏆 Lao động sáng tạo" in summary and "<b>" not in summary
        await hung.send("tao va mo dang ky")
        assert "Đã tạo và mở đăng ký" in await said(hung)
    [movement] = await stored(db)
    assert movement.status == MovementStatus.OPEN
    assert [t["name"] for t in movement.titles] == [
        "Chiến sĩ thi đua cơ sở", "Lao động sáng tạo tiêu biểu",
    ]


async def test_after_a_restart_the_official_continues_at_the_same_question(
    start_bot, people: dict, tg: FakeTelegram, db: AsyncSession  # type: ignore[no-untyped-def]
) -> None:
    year = scenario_year()
    hung = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    async with start_bot():
        question = await to_the_deadline(hung, "Dạy tốt, học tốt")
        assert "Hạn đăng ký là khi nào?" in question.text
    async with start_bot():
        window = await answered(hung, f"15/12/{year}")
        assert "nộp tự đánh giá trong thời gian nào" in window.text
        await answered(hung, f"20/05/{year + 1} - 31/05/{year + 1}")
        summary = await tapped(hung, "Không cần duyệt")
        assert "🏆 <b>Dạy tốt, học tốt</b>" in summary.text
        assert "1. Hoàn thành tốt nhiệm vụ\n2. Gia đình hạnh phúc" in summary.text
        await tapped(hung, "Tạo (bản nháp)")
    [movement] = await stored(db)
    assert movement.titles == [TITLES[1]] and movement.status == MovementStatus.DRAFT
