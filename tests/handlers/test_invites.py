"""/invite end to end: an official makes an invite link and QR code, teachers join with it (at
once when it approves, refused when it expired), invites are listed and revoked, and a forged
button for another school changes nothing. On Zalo the official gets the code in text."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.base import utcnow
from models.channels import int_id_for
from models.members import Invite, Member, MemberStatus, create_invite
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_official
from tests.handlers.helpers import alert_for, next_sent, to_summary
from tests.handlers.test_zalo import said_until

CHAIR_ID = 7301
DISTRICT_ID = 7302


async def _invites(db: AsyncSession) -> list[Invite]:
    db.expire_all()
    return list((await db.exec(select(Invite).order_by(Invite.id))).all())


async def test_a_school_chair_makes_an_invite_and_gets_the_link_and_its_qr_code(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=CHAIR_ID)
    await db.commit()
    chair = tg.user(first_name="Hùng", user_id=CHAIR_ID)

    await chair.send("/invite")
    screen = await next_sent(chair)  # one school: no choice of union to make
    assert "Trường THCS Nguyễn Trãi" in screen.text
    assert screen.buttons == [["➕ Tạo link mời mới"]]
    await chair.tap("Tạo link mời mới")
    expiry = await chair.next_message()
    assert expiry.buttons[:3] == [["7 ngày"], ["30 ngày"], ["Đến khi tôi thu hồi"]]
    await chair.tap("7 ngày")
    await chair.next_message()  # approve at once?
    await chair.tap("Duyệt ngay khi tham gia")
    closed = await chair.next_message()
    assert closed.buttons == []  # one tap, one invite

    link = await next_sent(chair)
    photo = await next_sent(chair)
    [invite] = await _invites(db)
    assert invite.unit_id == units["trai"].id and invite.auto_approve
    assert f"https://t.me/unionbot_test_bot?start={invite.code}" in link.text
    assert "Zalo" not in link.text  # no Zalo bot in this deployment
    assert photo.method == "sendPhoto" and photo.photo is not None
    assert photo.photo.startswith(b"\x89PNG")
    assert "Trường THCS Nguyễn Trãi" in (photo.text or "")

    # A teacher opens the link: her union is preset and she is a member at once.
    lan = tg.user(first_name="Lan")
    await lan.send(f"/start {invite.code}")
    welcome = await next_sent(lan)
    await lan.tap(welcome.buttons[0][0])
    await next_sent(lan)  # the name question
    await lan.send("Nguyễn Thị Lan")
    position = await next_sent(lan)
    assert "Giáo viên" in position.buttons[0][0]  # no union question: the invite chose it
    summary = await to_summary(lan, position="Giáo viên", gender="Nữ", phone=None)
    assert "Trường THCS Nguyễn Trãi" in summary.text
    await lan.tap("Xác nhận")
    assert "Bạn đã là đoàn viên của" in (await next_sent(lan)).text
    member = (await db.exec(select(Member).where(Member.full_name == "Nguyễn Thị Lan"))).one()
    assert member.status == MemberStatus.ACTIVE and member.invite_id == invite.id


async def test_a_teacher_with_an_expired_invite_is_refused_and_chooses_her_union(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    invite = await create_invite(
        db, code="OLDCODE2", unit_id=units["trai"].id, auto_approve=True,
        expires_at=utcnow() - timedelta(days=1),
    )
    await db.commit()
    lan = tg.user(first_name="Lan")
    await lan.send(f"/start {invite.code}")
    refusal = await next_sent(lan)
    assert "đã hết hạn" in refusal.text
    welcome = await next_sent(lan)
    await lan.tap(welcome.buttons[0][0])
    await next_sent(lan)
    await lan.send("Nguyễn Thị Lan")
    assert "Bạn thuộc công đoàn cơ sở nào" in (await next_sent(lan)).text  # not preset


async def test_a_district_official_chooses_the_school_then_lists_and_revokes_its_invites(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["district"], telegram_id=DISTRICT_ID)
    old = await create_invite(db, code="KEEPME23", unit_id=units["du"].id)
    await db.commit()
    official = tg.user(first_name="Quận", user_id=DISTRICT_ID)

    await official.send("/invite")
    menu = await next_sent(official)  # their district, opened: its two schools
    assert menu.buttons == [["Trường THCS Nguyễn Trãi"], ["Trường Tiểu học Nguyễn Du"]]
    await official.send("nguyen du")  # or search, accents optional
    found = await next_sent(official)
    assert found.buttons[0] == ["Trường Tiểu học Nguyễn Du"]
    await official.tap("Trường Tiểu học Nguyễn Du")
    screen = await official.next_message()  # in place of the results
    assert screen.buttons[1] == ["📋 Lời mời đang dùng (1)"]

    await official.tap("Lời mời đang dùng")
    listing = await official.next_message()
    assert "KEEPME23" in listing.text
    await official.tap("✖ Thu hồi KEEPME23")
    after = await official.next_message()
    assert "Đã thu hồi lời mời KEEPME23" in official.answers[-1]["text"]
    assert "không còn lời mời nào" in after.text
    [invite] = await _invites(db)
    assert invite.id == old.id and invite.revoked

    # Typed text after the choice is over is no longer a search.
    await official.send("nguyen du")
    assert "/help" in (await next_sent(official)).text


async def test_a_school_with_many_invites_lists_them_page_by_page(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=CHAIR_ID)
    for number in range(80):  # one per class, kept for the whole year
        await create_invite(db, code=f"CLASS{number:03d}", unit_id=units["trai"].id)
    await db.commit()
    chair = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    await chair.send("/invite")
    await next_sent(chair)

    await chair.tap("Lời mời đang dùng (80)")
    first = await chair.next_message()
    assert "Trang 1/10" in first.text and "CLASS079" in first.text
    assert "CLASS071" not in first.text
    assert first.buttons[-2] == ["Tiếp ▶"]
    await chair.tap("Tiếp ▶")
    second = await chair.next_message()
    assert "Trang 2/10" in second.text and "CLASS071" in second.text
    await chair.tap("✖ Thu hồi CLASS070")
    after = await chair.next_message()  # the same page, without the revoked invite
    assert "Trang 2/10" in after.text and "CLASS070" not in after.text
    assert "CLASS069" in after.text
    revoked = [invite.code for invite in await _invites(db) if invite.revoked]
    assert revoked == ["CLASS070"]


async def test_a_forged_invite_button_for_another_school_is_refused(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=CHAIR_ID)
    theirs = await create_invite(db, code="DUCODE23", unit_id=units["du"].id)
    await db.commit()
    chair = tg.user(first_name="Hùng", user_id=CHAIR_ID)
    await chair.send("/invite")
    screen = await next_sent(chair)

    for forged in (f"inv:make:{units['du'].id}:7:1", f"inv:list:{units['du'].id}",
                   f"inv:rev:{theirs.id}", f"inv:show:{theirs.id}"):
        answer = await alert_for(chair, forged, message=screen)
        assert answer["show_alert"] and "không có quyền" in answer["text"], forged
    invites = await _invites(db)
    assert [(i.code, i.revoked) for i in invites] == [("DUCODE23", False)]

    teacher = tg.user(first_name="Lan")
    await teacher.send("/invite")
    assert "dành cho cán bộ công đoàn" in (await next_sent(teacher)).text


async def test_on_zalo_the_official_gets_the_link_and_code_in_text(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession
) -> None:
    chair_zalo = zalo.user(display_name="Hùng", known=True)
    zalo_number, _ = await int_id_for(db, chair_zalo.id)
    await make_official(db, units["trai"], zalo_id=zalo_number, telegram_id=CHAIR_ID)
    await db.commit()
    async with start_bot(channels=("telegram", "zalo")):
        await chair_zalo.send("/invite")
        await said_until(chair_zalo, "1. ➕ Tạo link mời mới")
        await chair_zalo.send("1")
        await said_until(chair_zalo, "3. Đến khi tôi thu hồi")
        await chair_zalo.send("3")
        await said_until(chair_zalo, "2. ⏳ Tôi duyệt từng người")
        await chair_zalo.send("2")
        text = (await said_until(chair_zalo, "/start "))[-1]
        [invite] = await _invites(db)
        assert not invite.auto_approve and invite.expires_at is None
        assert f"/start {invite.code}" in text
        assert f"https://t.me/unionbot_test_bot?start={invite.code}" in text
        assert "chỉ gửi được trên Telegram" in text
        await zalo.wait_idle()
        assert zalo.calls_of("sendPhoto") == []

        # The same official on Telegram gets the QR code; the text names the Zalo code too.
        chair_tg = tg.user(first_name="Hùng", user_id=CHAIR_ID)
        await chair_tg.send("/invite")
        await next_sent(chair_tg)
        await chair_tg.tap("Lời mời đang dùng")
        await chair_tg.next_message()
        await chair_tg.tap(f"Gửi lại {invite.code}")
        again = await next_sent(chair_tg)
        assert f"/start {invite.code}" in again.text and "Zalo" in again.text
        assert (await next_sent(chair_tg)).photo is not None
