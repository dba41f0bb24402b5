"""Emulation records end to end: a member's /record on Telegram and on Zalo, an official
opening a member's record from their card in /members (and refused outside their scope), and a
movement's registrants list marking who meets the requirements of the title they aim at."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from models.achievements import TitleAward
from models.base import utcnow
from models.channels import int_id_for
from models.initiatives import InitiativeStatus, Recognition, RecognitionLevel
from models.members import Member, MemberStatus
from models.movements import (
    Movement,
    MovementStatus,
    Registration,
    RegistrationStatus,
    register,
    school_year_of,
)
from models.org import OrgUnit
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_initiative, make_member, make_movement, make_official
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

# The school years as they are when the test runs (the record shows this year's aims).
THIS = school_year_of(utcnow(), ZoneInfo("Asia/Ho_Chi_Minh"))
_START = int(THIS[:4])
LAST, BEFORE = f"{_START - 1}-{_START}", f"{_START - 2}-{_START - 1}"
MOVEMENT = "Giỏi việc trường, đảm việc nhà"
LAN_ID, HUNG_ID, TU_ID, HOA_ID = 640001, 640002, 640003, 640004


async def achieved(session: AsyncSession, member: Member, year: str, code: str) -> None:
    """A title the member achieved in a closed movement of `year`."""
    unit = await session.get(OrgUnit, member.unit_id)
    assert unit is not None
    movement = await make_movement(
        session, unit, f"Dạy tốt – học tốt {year}", school_year=year,
        status=MovementStatus.CLOSED,
    )
    session.add(Registration(
        movement_id=movement.id, registrant=f"m:{member.id}", member_id=member.id,  # type: ignore[arg-type]
        unit_id=member.unit_id, title_code=code, status=RegistrationStatus.ACHIEVED,
        school_year=year,
    ))
    await session.flush()


async def recognised(
    session: AsyncSession, member: Member, year: str, certificate: str,
    title: str = "Dạy học theo trạm với phiếu học tập số",
) -> None:
    initiative = await make_initiative(
        session, member, title, status=InitiativeStatus.ACCEPTED, school_year=year
    )
    session.add(Recognition(
        initiative_id=initiative.id, level=RecognitionLevel.SCHOOL, unit_id=member.unit_id,  # type: ignore[arg-type]
        certificate_no=certificate, school_year=year,
    ))
    await session.flush()


async def lans_record(db: AsyncSession, units: dict, **accounts: int) -> tuple[Member, Movement]:
    """Lan aims at "Chiến sĩ thi đua cơ sở" this year (her initiative is before the council);
    she was "Lao động tiên tiến" with a recognised initiative last year, and "Chiến sĩ thi đua
    cơ sở" the year before (recorded by the union)."""
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", **accounts)  # type: ignore[arg-type]
    movement = await make_movement(db, units["district"], MOVEMENT, school_year=THIS)
    await register(db, member=lan, movement=movement, title_code="CSTDCS", now=utcnow())
    await make_initiative(db, lan, "Sổ tay chủ nhiệm số", status=InitiativeStatus.UNDER_REVIEW,
                          school_year=THIS)
    await achieved(db, lan, LAST, "LDTT")
    await recognised(db, lan, LAST, "15/GCN-THCS")
    db.add(TitleAward(
        member_id=lan.id, school_year=BEFORE, title_code="CSTDCS",  # type: ignore[arg-type]
        title_name="Chiến sĩ thi đua cơ sở", decision="QĐ số 7/QĐ-CĐGD",
    ))
    await db.flush()
    return lan, movement


async def test_a_member_reads_her_record_and_what_her_title_still_needs(  # type: ignore[no-untyped-def]
    bot, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await lans_record(db, units, telegram_id=LAN_ID)
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN_ID)
    await lan.send("/record")
    text = (await next_sent(lan)).text
    assert text == "\n".join([
        "🏅 <b>Thành tích thi đua của bạn</b>",
        "",
        "🎯 <b>Danh hiệu đăng ký năm học này</b>",
        f"<b>Chiến sĩ thi đua cơ sở</b> — phong trào “{MOVEMENT}”, năm học {THIS}",
        "… Chưa đủ căn cứ, còn chờ kết quả",
        f"   … Đạt “Lao động tiên tiến” năm học {THIS} (chờ kết quả năm học {THIS})",
        "   … Có sáng kiến được công nhận từ cấp trường trở lên trong năm học "
        f"{THIS} (sáng kiến đang được hội đồng xét)",
        "",
        f"📅 <b>Năm học {LAST}</b>",
        f"🏅 Lao động tiên tiến — phong trào “Dạy tốt – học tốt {LAST}”",
        "💡 Sáng kiến “Dạy học theo trạm với phiếu học tập số” — công nhận cấp trường, "
        "giấy chứng nhận số 15/GCN-THCS",
        "",
        f"📅 <b>Năm học {BEFORE}</b>",
        "🏅 Chiến sĩ thi đua cơ sở — QĐ số 7/QĐ-CĐGD",
    ])


async def test_someone_without_a_record_is_told_why(  # type: ignore[no-untyped-def]
    bot, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_member(db, units["trai"], "Lê Thị Hoa", telegram_id=HOA_ID, locale="en")
    await make_member(db, units["trai"], "Trần Văn Tú", telegram_id=TU_ID,
                      status=MemberStatus.PENDING)
    await db.commit()
    hoa = tg.user(first_name="Hoa", user_id=HOA_ID)
    await hoa.send("/record")
    assert (await next_sent(hoa)).text == "\n".join([
        "🏅 <b>Your emulation record</b>",
        "",
        "No title or recognised initiative is on record yet.",
        "The results of emulation movements and your recognised initiatives will show here. "
        "Titles achieved before the bot was used are entered by union officials.",
    ])
    tu = tg.user(first_name="Tú", user_id=TU_ID)
    await tu.send("/record")
    assert "Chỉ đoàn viên đã được duyệt" in (await next_sent(tu)).text
    stranger = tg.user(first_name="Khách", user_id=640099)
    await stranger.send("/record")
    assert "/start" in (await next_sent(stranger)).text


async def test_on_zalo_the_record_is_plain_text(  # type: ignore[no-untyped-def]
    start_bot, units: dict, zalo: FakeZalo, db: AsyncSession
) -> None:
    lan = zalo.user(display_name="Lan")
    number, _ = await int_id_for(db, lan.id)
    await lans_record(db, units, zalo_id=number)
    await db.commit()
    async with start_bot(channels=("zalo",)):
        await lan.send("/record")
        text = await said(lan)
    assert text.startswith("🏅 Thành tích thi đua của bạn") and "<b>" not in text
    assert f"Chiến sĩ thi đua cơ sở — phong trào “{MOVEMENT}”, năm học {THIS}" in text
    assert "giấy chứng nhận số 15/GCN-THCS" in text
    assert f"Năm học {BEFORE}" in text and "QĐ số 7/QĐ-CĐGD" in text


async def test_an_official_opens_a_members_record_from_her_card(  # type: ignore[no-untyped-def]
    bot, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    lan, _ = await lans_record(db, units)
    await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    await make_official(db, units["du"], "Lý Văn Tú", telegram_id=TU_ID)
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=HUNG_ID)
    await hung.send("/members")
    await next_sent(hung)
    await hung.tap("Nguyễn Thị Lan")
    card = await hung.next_message()
    assert ["🏅 Thành tích thi đua"] in card.buttons
    await hung.tap("🏅 Thành tích thi đua")
    record = await hung.next_message()
    assert record.method == "editMessageText"  # in place of her card
    assert record.text.startswith(
        "🏅 <b>Thành tích thi đua — Nguyễn Thị Lan</b>\nTrường THCS Nguyễn Trãi\n"
    )
    assert "… Chưa đủ căn cứ, còn chờ kết quả" in record.text
    assert "🏅 Chiến sĩ thi đua cơ sở — QĐ số 7/QĐ-CĐGD" in record.text
    assert record.buttons == [["⬅ Về thông tin đoàn viên"]]
    await hung.tap("⬅ Về thông tin đoàn viên")
    back = await hung.next_message()
    assert back.text.startswith("👤 <b>Nguyễn Thị Lan</b>")

    # Another school's official, and a member who is no official, forge the same tap.
    tu = tg.user(first_name="Tú", user_id=TU_ID)
    await tu.send("/help")
    answer = await alert_for(tu, f"ach:m:{lan.id}", message=await next_sent(tu))
    assert answer["show_alert"] and "Nguyễn Thị Lan" not in answer["text"]
    assert tu.pending() == []
    answer = await alert_for(hung, "ach:m:987654", message=back)
    assert answer["text"] == "Đoàn viên này không còn trong danh sách."


async def test_the_registrants_list_marks_who_meets_their_titles_requirements(  # type: ignore[no-untyped-def]
    bot, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    _, movement = await lans_record(db, units)
    await make_official(db, units["district"], "Trần Văn Hùng", telegram_id=HUNG_ID)
    binh = await make_member(db, units["trai"], "Lê Văn Bình")
    await register(db, member=binh, movement=movement, title_code="CSTDCS", now=utcnow())
    await achieved(db, binh, THIS, "LDTT")
    await recognised(db, binh, THIS, "3/GCN-THCS")
    cuc = await make_member(db, units["trai"], "Phạm Thu Cúc")
    await register(db, member=cuc, movement=movement, title_code="CSTDCS", now=utcnow())
    dung = await make_member(db, units["trai"], "Đỗ Thị Dung")
    await register(db, member=dung, movement=movement, title_code="LDTT", now=utcnow())
    await db.commit()
    hung = tg.user(first_name="Hùng", user_id=HUNG_ID)
    await hung.send("/help")
    await hung.tap_data(f"mvr:u:{movement.id}:{units['trai'].id}:0",
                        message=await next_sent(hung))
    listing = (await next_sent(hung)).text
    school_level = f"Có sáng kiến được công nhận từ cấp trường trở lên trong năm học {THIS}"
    ldtt = f"Đạt “Lao động tiên tiến” năm học {THIS} (chờ kết quả năm học {THIS})"
    assert "\n".join([  # by name without diacritics: "Đỗ" is "Do"
        "1. Đỗ Thị Dung — Lao động tiên tiến · Đã đăng ký",
        "2. Lê Văn Bình — Chiến sĩ thi đua cơ sở · Đã đăng ký",
        "   ✓ Đủ điều kiện",
        "3. Nguyễn Thị Lan — Chiến sĩ thi đua cơ sở · Đã đăng ký",
        f"   … Chờ: {ldtt}; {school_level} (sáng kiến đang được hội đồng xét)",
        "4. Phạm Thu Cúc — Chiến sĩ thi đua cơ sở · Đã đăng ký",
        f"   ✗ Thiếu: {school_level} · … Chờ: {ldtt}",
    ]) in listing

    # Her registration's card says the same, requirement by requirement.
    await hung.tap("Phạm Thu Cúc")
    card = (await hung.next_message()).text
    assert f"✗ Chưa đủ điều kiện\n   … {ldtt}\n   ✗ {school_level}" in card


async def test_a_long_record_keeps_the_newest_years_and_counts_the_others(  # type: ignore[no-untyped-def]
    bot, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    for back in range(1, 41):  # forty years of "Lao động tiên tiến", each by its decision
        start = _START - back
        db.add(TitleAward(
            member_id=lan.id, school_year=f"{start}-{start + 1}", title_code="LDTT",  # type: ignore[arg-type]
            title_name="Lao động tiên tiến",
            decision=f"Quyết định số {back}/QĐ-CĐGD của Công đoàn Giáo dục quận Ba Đình",
        ))
    await db.commit()
    user = tg.user(first_name="Lan", user_id=LAN_ID)
    await user.send("/record")
    text = (await next_sent(user)).text
    assert len(text) <= 4096
    assert f"📅 <b>Năm học {LAST}</b>" in text  # the newest first
    shown = text.count("📅")
    assert 10 < shown < 40
    assert text.endswith(
        f"… và {40 - shown} năm học trước nữa (không đủ chỗ trong một tin nhắn)."
    )


async def test_a_year_too_long_for_one_message_is_cut_not_lost(  # type: ignore[no-untyped-def]
    bot, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    """Twenty initiatives with long titles recognised in one year: the message keeps what fits
    of that year and still counts the years before."""
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID)
    for number in range(20):
        await recognised(db, lan, LAST, f"{number}/GCN-THCS",
                         title=f"{number:02d}. " + "Đổi mới phương pháp dạy học " * 10)
    await achieved(db, lan, BEFORE, "LDTT")
    await db.commit()
    user = tg.user(first_name="Lan", user_id=LAN_ID)
    await user.send("/record")
    text = (await next_sent(user)).text
    assert len(text) <= 4096
    assert f"📅 <b>Năm học {LAST}</b>\n💡 Sáng kiến “00. Đổi mới" in text
    assert text.endswith(
        "…\n\n… và 1 năm học trước nữa (không đủ chỗ trong một tin nhắn)."
    )
