"""One bot on Telegram and Zalo at once: the same flow stores the same member, officials hear
of members from either channel, and one person's two accounts link to one profile."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from models.base import utcnow
from models.linking import LinkCode
from models.members import ConsentRecord, Identity, Member
from tests.botapi.telegram import FakeTelegram, TgUser
from tests.botapi.zalo import FakeZalo
from tests.handlers.conftest import ADMIN_ID
from tests.handlers.helpers import agree_and_name, choose, next_sent, pick_school_by_browsing
from tests.handlers.test_zalo import join, said, said_until


@pytest.fixture
async def both(start_bot, units):  # type: ignore[no-untyped-def]
    async with start_bot(channels=("telegram", "zalo")) as runtime:
        yield runtime


async def join_on_telegram(user: TgUser) -> None:
    await agree_and_name(user, "Nguyễn Thị Lan")
    await pick_school_by_browsing(user)
    await choose(user, "Giáo viên")
    await choose(user, "Nữ")
    await user.send("0912 345 678")
    await next_sent(user)  # thanks
    summary = await next_sent(user)
    await user.tap(summary.buttons[0][0])
    assert "cán bộ công đoàn" in (await next_sent(user)).text


def _record(member: Member) -> tuple:
    return (
        member.full_name, member.unit_id, member.position, member.gender, member.phone,
        member.status, member.locale,
    )


async def test_the_same_answers_on_both_channels_store_the_same_member(  # type: ignore[no-untyped-def]
    both, tg: FakeTelegram, zalo: FakeZalo, db,
) -> None:
    admin = tg.user(first_name="Admin", user_id=ADMIN_ID)
    await join_on_telegram(tg.user(first_name="Lan"))
    assert "Nguyễn Thị Lan" in (await next_sent(admin)).text
    await join(zalo.user(display_name="Lan"))
    # The official on Telegram hears of the member who joined on Zalo.
    notice = await next_sent(admin)
    assert "Nguyễn Thị Lan" in notice.text and "Trường THCS Nguyễn Trãi" in notice.text

    members = (await db.exec(select(Member).order_by(Member.id))).all()
    assert len(members) == 2
    assert _record(members[0]) == _record(members[1])
    channels = {}
    for member in members:
        identity = (await db.exec(select(Identity).where(Identity.member_id == member.id))).one()
        consents = (
            await db.exec(select(ConsentRecord).where(ConsentRecord.identity_id == identity.id))
        ).all()
        channels[identity.channel] = sorted((c.purpose, c.granted) for c in consents)
    assert channels["telegram"] == channels["zalo"] == [
        ("contact_phone", True), ("gender_statistics", True), ("membership", True)
    ]


async def _code_from(user: TgUser) -> str:
    await user.send("/link")
    message = await next_sent(user)
    assert "Zalo" in message.text
    match = re.search(r"\b(\d{6})\b", message.plain_text or "")
    assert match is not None, message.text
    return match.group(1)


async def test_a_member_links_their_zalo_account_to_their_telegram_profile(  # type: ignore[no-untyped-def]
    both, tg: FakeTelegram, zalo: FakeZalo, db,
) -> None:
    lan_tg = tg.user(first_name="Lan")
    await join_on_telegram(lan_tg)
    code = await _code_from(lan_tg)

    lan_zalo = zalo.user(display_name="Lan")
    wrong = "000000" if code != "000000" else "111111"
    await lan_zalo.send(f"/link {wrong}")  # a first message that is a command is that command
    assert "Số lần thử còn lại: 4" in await said(lan_zalo)
    await lan_zalo.send(f"/link {code}")
    assert "Nguyễn Thị Lan" in await said(lan_zalo)

    await lan_zalo.send("/profile")
    card = await said(lan_zalo)
    assert "Nguyễn Thị Lan" in card and "Trường THCS Nguyễn Trãi" in card
    assert "Lưu thông tin đoàn viên" in card  # the consent given on Telegram shows here
    [member] = (await db.exec(select(Member))).all()  # one person, one member
    identities = (await db.exec(select(Identity).where(Identity.member_id == member.id))).all()
    assert sorted(i.channel for i in identities) == ["telegram", "zalo"]

    # A code used once does not work twice.
    other = zalo.user(display_name="Someone")
    await other.send(f"/link {code}")
    assert "Mã không đúng" in await said(other)
    assert (await db.exec(select(Identity).where(Identity.member_id == member.id))).all() == (
        identities
    )


async def test_an_expired_code_is_refused_and_a_new_one_works(  # type: ignore[no-untyped-def]
    both, tg: FakeTelegram, zalo: FakeZalo, db,
) -> None:
    lan_tg = tg.user(first_name="Lan")
    await join_on_telegram(lan_tg)
    code = await _code_from(lan_tg)
    row = (await db.exec(select(LinkCode).where(LinkCode.code == code))).one()
    row.expires_at = utcnow() - timedelta(minutes=1)  # ten minutes have passed
    db.add(row)
    await db.commit()

    lan_zalo = zalo.user(display_name="Lan")
    await lan_zalo.send("Xin chào")
    await said(lan_zalo)  # the welcome
    await lan_zalo.send(f"/link {code}")
    assert "hết hạn" in await said(lan_zalo)
    zalo_account = (await db.exec(select(Identity).where(Identity.channel == "zalo"))).one()
    assert zalo_account.member_id is None

    fresh = await _code_from(lan_tg)
    await lan_zalo.send(f"/link {fresh}")
    assert "Nguyễn Thị Lan" in await said(lan_zalo)
    await lan_zalo.send("xin chào")  # the welcome's list no longer claims what is typed
    assert "/help" in (await said_until(lan_zalo, "/help"))[-1]


async def test_a_linked_member_chooses_where_announcements_reach_them(  # type: ignore[no-untyped-def]
    both, tg: FakeTelegram, zalo: FakeZalo, db
) -> None:
    lan_tg = tg.user(first_name="Lan")
    await join_on_telegram(lan_tg)
    await lan_tg.send("/profile")
    assert not any("Zalo" in b for row in (await next_sent(lan_tg)).buttons for b in row)

    code = await _code_from(lan_tg)
    lan_zalo = zalo.user(display_name="Lan")
    await lan_zalo.send("Xin chào")
    await said(lan_zalo)  # the welcome: she is new on Zalo
    await lan_zalo.send(f"/link {code}")  # linking instead of joining again
    assert "Đã liên kết" in await said(lan_zalo)

    await lan_zalo.send("/profile")
    card = await said(lan_zalo)
    assert "gửi tới bạn trên: Telegram" in card  # where she joined, until she chooses
    assert "2. 🔔 Nhận thông báo qua Zalo" in card
    await lan_zalo.send("2")
    assert "trên Zalo" in (await said_until(lan_zalo, "trên Zalo"))[-1]
    [member] = (await db.exec(select(Member))).all()
    await db.refresh(member)
    assert member.preferred_channel == "zalo"

    await lan_tg.send("/profile")
    card = await next_sent(lan_tg)
    assert "gửi tới bạn trên: <b>Zalo</b>" in card.text
    assert card.buttons[-1] == ["🔔 Nhận thông báo qua Telegram"]
    await lan_tg.tap("🔔 Nhận thông báo qua Telegram")
    assert "trên Telegram" in (await next_sent(lan_tg)).text
    await db.refresh(member)
    assert member.preferred_channel == "telegram"

    stranger = tg.user(first_name="Other")
    await stranger.send("/start")
    welcome = await next_sent(stranger)
    update = await stranger.tap_data("prof:prefer:zalo", message=welcome)
    answer = await stranger.next_answer()
    assert answer["callback_query_id"] == update["callback_query"]["id"]
    assert answer["show_alert"] and "/start" in answer["text"]  # not a member: refused


async def test_official_hears_on_the_channel_they_prefer(  # type: ignore[no-untyped-def]
    both, tg: FakeTelegram, zalo: FakeZalo, db
) -> None:
    admin_tg = tg.user(first_name="Admin", user_id=ADMIN_ID)
    await join_on_telegram(admin_tg)
    await next_sent(admin_tg)  # the notice of her own joining
    code = await _code_from(admin_tg)
    admin_zalo = zalo.user(display_name="Admin")
    await admin_zalo.send(f"/link {code}")
    await said(admin_zalo)
    member = (await db.exec(select(Member))).one()
    member.preferred_channel = "zalo"
    db.add(member)
    await db.commit()

    await join_on_telegram(tg.user(first_name="Hoa"))
    notice = await said(admin_zalo)
    assert "Nguyễn Thị Lan" in notice and "Trường THCS Nguyễn Trãi" in notice
    assert not admin_tg.pending()
