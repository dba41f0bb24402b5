"""/pending end to end: officials approve or reject (with a reason) the people waiting in their
units, one by one or all at once; each person hears it in their own language on their own
channel; forged and stale buttons are refused and change nothing."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.audit import entries_about
from models.channels import int_id_for
from models.members import Member, MemberStatus
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_member, make_official
from tests.handlers.helpers import alert_for, next_sent
from tests.handlers.test_zalo import said

OFFICIAL_ID = 7401
LAN_ID = 7402
PENDING = MemberStatus.PENDING


def _id(member: Member) -> int:
    """The member's id, without loading anything (the test's session expires its objects)."""
    return int(inspect(member).identity[0])


async def _fresh(db: AsyncSession, member: Member) -> Member:
    """The member as stored now."""
    member_id = _id(member)
    db.expire_all()
    found = await db.get(Member, member_id)
    assert found is not None
    return found


async def test_approvals_reach_members_on_telegram_and_zalo_in_their_own_language(  # type: ignore[no-untyped-def]
    start_bot, units, tg: FakeTelegram, zalo: FakeZalo, db: AsyncSession
) -> None:
    await make_official(db, units["district"], telegram_id=OFFICIAL_ID)
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID,
                            status=PENDING, locale="en")
    hoa_zalo = zalo.user(display_name="Hoa", known=True)
    hoa_number, _ = await int_id_for(db, hoa_zalo.id)
    hoa = await make_member(db, units["du"], "Lê Thị Hoa", zalo_id=hoa_number, status=PENDING)
    await db.commit()
    official = tg.user(first_name="Quận", user_id=OFFICIAL_ID)
    lan_tg = tg.user(first_name="Lan", user_id=LAN_ID)

    async with start_bot(channels=("telegram", "zalo")):
        await official.send("/pending")
        queue = await next_sent(official)
        assert "Đang chờ duyệt: 2" in queue.text
        assert "Nguyễn Thị Lan" in queue.text and "Trường THCS Nguyễn Trãi" in queue.text
        assert "Giáo viên" in queue.text
        assert queue.buttons == [
            ["✅ Duyệt Nguyễn Thị Lan"], ["✖ Từ chối Nguyễn Thị Lan"],
            ["✅ Duyệt Lê Thị Hoa"], ["✖ Từ chối Lê Thị Hoa"],
            ["✅ Duyệt tất cả (2)"],
        ]

        await official.tap("✅ Duyệt Nguyễn Thị Lan")
        notice = await next_sent(lan_tg)
        assert "has been approved" in notice.text and "Trường THCS Nguyễn Trãi" in notice.text
        shown = await official.next_message()  # the queue again, in place
        assert "Đang chờ duyệt: 1" in shown.text and "Nguyễn Thị Lan" not in shown.text

        await official.tap("✅ Duyệt Lê Thị Hoa")
        zalo_notice = await said(hoa_zalo)
        assert "đã được duyệt" in zalo_notice and "Trường Tiểu học Nguyễn Du" in zalo_notice
        assert "Không có ai đang chờ duyệt" in (await official.next_message()).text

    assert (await _fresh(db, lan)).status == MemberStatus.ACTIVE
    assert (await _fresh(db, hoa)).status == MemberStatus.ACTIVE
    [entry] = await entries_about(db, target_type="member", target_id=_id(lan))
    assert entry.action == "member.approve" and entry.before["status"] == "pending"


async def test_a_rejection_with_a_reason_reaches_the_member(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=OFFICIAL_ID)
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", telegram_id=LAN_ID,
                            status=PENDING)
    await db.commit()
    official = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    lan_tg = tg.user(first_name="Lan", user_id=LAN_ID)

    await official.send("/pending")
    await next_sent(official)
    await official.tap("✖ Từ chối Nguyễn Thị Lan")
    asked = await next_sent(official)
    assert "Vì sao từ chối" in asked.text
    await official.send("x" * 501)
    assert "từ 1 đến 500 ký tự" in (await next_sent(official)).text
    await official.send("Chưa rõ trường")
    await next_sent(official)  # the confirmation
    await official.send("Cô không thuộc biên chế của trường <THCS>")  # typed again: replaced
    confirm = await next_sent(official)
    assert "Cô không thuộc biên chế của trường &lt;THCS&gt;" in confirm.text
    assert (await _fresh(db, lan)).status == PENDING  # nothing decided before confirming
    await official.tap("✖ Từ chối")

    notice = await next_sent(lan_tg)
    assert "chưa được duyệt" in notice.text and "Trường THCS Nguyễn Trãi" in notice.text
    assert "Lý do: Cô không thuộc biên chế của trường &lt;THCS&gt;" in notice.text
    assert "Đã từ chối Nguyễn Thị Lan" in (await official.next_message()).text
    member = await _fresh(db, lan)
    assert member.status == MemberStatus.REJECTED
    assert member.status_reason == "Cô không thuộc biên chế của trường <THCS>"
    [entry] = await entries_about(db, target_type="member", target_id=_id(lan))
    assert entry.action == "member.reject"

    # The conversation is over: typed text is not a reason any more.
    await official.send("thêm lý do")
    assert "/help" in (await next_sent(official)).text


async def test_cancel_leaves_a_rejection_without_deciding(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=OFFICIAL_ID)
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", status=PENDING)
    await db.commit()
    official = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    await official.send("/pending")
    await next_sent(official)
    await official.tap("✖ Từ chối Nguyễn Thị Lan")
    await next_sent(official)
    await official.send("/cancel")
    assert "không từ chối ai" in (await next_sent(official)).text
    assert (await _fresh(db, lan)).status == PENDING

    # Another command leaves the reason question: what is typed next is not a reason.
    await official.tap("✖ Từ chối Nguyễn Thị Lan")
    await next_sent(official)
    await official.send("/members")
    await next_sent(official)
    await official.send("lan")
    assert "Tên có: «lan»" in (await next_sent(official)).text
    assert (await _fresh(db, lan)).status == PENDING


async def test_approve_all_asks_first_then_approves_and_tells_everyone(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["district"], telegram_id=OFFICIAL_ID)
    people = [
        await make_member(db, units["trai"], name, telegram_id=7410 + i, status=PENDING)
        for i, name in enumerate(["Nguyễn Thị Lan", "Lê Thị Hoa", "Trần Văn Nam"])
    ]
    await db.commit()
    official = tg.user(first_name="Quận", user_id=OFFICIAL_ID)
    await official.send("/pending")
    await next_sent(official)
    await official.tap("Duyệt tất cả (3)")
    confirm = await official.next_message()
    assert "Duyệt tất cả 3 người" in confirm.text
    assert [(await _fresh(db, p)).status for p in people] == [PENDING] * 3
    await official.tap("Đồng ý duyệt 3 người")
    assert "Đã duyệt 3 người" in (await official.next_message()).text
    for i, person in enumerate(people):
        assert "đã được duyệt" in (await next_sent(tg.user(first_name="x", user_id=7410 + i))).text
        assert (await _fresh(db, person)).status == MemberStatus.ACTIVE

    # A second tap on the confirmation (a quick double tap, or an old list on Zalo) says that
    # nobody is waiting, instead of "0 approved" in place of the result.
    again = await alert_for(official, confirm.button_data[0][0], message=confirm)
    assert again["show_alert"] and "Không có ai đang chờ duyệt" in again["text"]
    assert "Đã duyệt 3 người" in official.current(confirm).text
    answer = await alert_for(official, "apr:all:999999", message=confirm)
    assert answer["show_alert"] and "Không có ai đang chờ duyệt" in answer["text"]


async def test_forged_and_stale_buttons_are_refused_and_change_nothing(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=OFFICIAL_ID)
    lan = await make_member(db, units["trai"], "Nguyễn Thị Lan", status=PENDING)
    other = await make_member(db, units["du"], "Lê Thị Hoa", status=PENDING)  # another school
    await db.commit()
    official = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    await official.send("/pending")
    queue = await next_sent(official)
    assert "Lê Thị Hoa" not in queue.text

    for forged in (f"apr:ok:{_id(other)}:0", f"apr:no:{_id(other)}:0"):
        answer = await alert_for(official, forged, message=queue)
        assert answer["show_alert"] and "không có quyền" in answer["text"], forged
    assert (await _fresh(db, other)).status == PENDING
    assert await entries_about(db, target_type="member", target_id=_id(other)) == []

    await official.tap("✅ Duyệt Nguyễn Thị Lan")
    await official.next_message()
    stale = await alert_for(official, f"apr:ok:{_id(lan)}:0", message=queue)  # a second tap
    assert stale["show_alert"] and "không còn chờ duyệt" in stale["text"]
    assert len(await entries_about(db, target_type="member", target_id=_id(lan))) == 1

    teacher = tg.user(first_name="Lan")
    await teacher.send("/pending")
    assert "dành cho cán bộ công đoàn" in (await next_sent(teacher)).text


async def test_the_queue_shows_which_roster_record_a_typed_phone_claims(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=OFFICIAL_ID)
    record = await make_member(db, units["trai"], "Nguyễn Thị Lan", phone="+84912345678",
                               member_code="DV001", gender=None)
    claim = await make_member(db, units["trai"], "Nguyen Thi Lan", telegram_id=LAN_ID,
                              phone="+84912345678", status=PENDING, locale="en")
    claim.claims_member_id = record.id
    db.add(claim)
    await db.commit()
    official = tg.user(first_name="Hùng", user_id=OFFICIAL_ID)
    lan_tg = tg.user(first_name="Lan", user_id=LAN_ID)

    await official.send("/pending")
    queue = await next_sent(official)
    assert "<b>Nguyen Thi Lan</b>" in queue.text
    assert "Nhận là <b>Nguyễn Thị Lan (DV001)</b> trong danh sách đoàn viên" in queue.text
    assert "chưa xác minh" in queue.text

    await official.tap("✅ Duyệt Nguyen Thi Lan")
    notice = await next_sent(lan_tg)  # on her account, now the record's, in her language
    assert "has been approved" in notice.text
    assert "Không có ai đang chờ duyệt" in (await official.next_message()).text
    await lan_tg.send("/profile")
    card = await next_sent(lan_tg)
    assert "Nguyễn Thị Lan" in card.text and "Member code: DV001" in card.text
    [entry] = await entries_about(db, target_type="member", target_id=_id(record))
    assert entry.action == "member.roster_claim_approved"
