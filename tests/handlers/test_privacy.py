"""/mydata and /deleteme as a person sees them, on Telegram and on Zalo."""

from __future__ import annotations

import json

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.channels import int_id_for
from models.initiatives import Initiative, InitiativeStatus, authors_of
from models.members import (
    Channel,
    ConsentPurpose,
    ConsentRecord,
    Member,
    create_invite,
    get_identity,
    record_consent,
)
from models.persistence import ConversationState, StoredData
from models.privacy import ERASED_NAME
from tests.botapi.telegram import FakeTelegram
from tests.botapi.zalo import FakeZalo
from tests.factories import make_initiative, make_member
from tests.handlers.helpers import agree_and_name, alert_for, next_sent
from tests.handlers.test_zalo import said, said_until

LAN = 7301


async def _lan(db: AsyncSession, units: dict, *, telegram_id: int | None = LAN,
               zalo_id: int | None = None) -> int:
    """Nguyễn Thị Lan, a member of Trường THCS Nguyễn Trãi who agreed to the membership and
    phone purposes; her member id."""
    member = await make_member(
        db, units["trai"], "Nguyễn Thị Lan", telegram_id=telegram_id, zalo_id=zalo_id,
        phone="+84912345678",
    )
    channel, external_id = (
        (Channel.TELEGRAM, telegram_id) if telegram_id is not None else (Channel.ZALO, zalo_id)
    )
    identity = await get_identity(db, channel=channel, external_id=str(external_id))
    assert identity is not None
    for purpose in (ConsentPurpose.MEMBERSHIP, ConsentPurpose.CONTACT_PHONE):
        await record_consent(db, identity=identity, purpose=purpose, granted=True, locale="vi")
    await db.commit()
    return member.id  # type: ignore[return-value]


async def _members_of(db: AsyncSession, unit_id: int) -> int:
    rows = await db.exec(select(func.count()).select_from(Member).where(Member.unit_id == unit_id))
    return int(rows.one())


async def test_a_member_gets_a_summary_and_a_json_file_of_their_data(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await _lan(db, units)
    lan = tg.user(first_name="Lan", user_id=LAN)
    await lan.send("/mydata")
    summary = (await next_sent(lan)).text or ""
    for fact in ("Nguyễn Thị Lan", "Trường THCS Nguyễn Trãi", "+84912345678", "Telegram",
                 "Lưu thông tin đoàn viên", "Dùng số điện thoại để liên hệ"):
        assert fact in summary
    document = (await next_sent(lan)).document
    assert document is not None
    filename, content = document
    assert filename == "unionbot-mydata.json"
    data = json.loads(content)
    assert data["member"]["full_name"] == "Nguyễn Thị Lan"
    assert data["unit"]["name"] == "Trường THCS Nguyễn Trãi"
    assert [(c["purpose"], c["granted"]) for c in data["consents"]] == [
        ("membership", True), ("contact_phone", True)
    ]


async def test_a_member_erases_their_data_and_becomes_a_stranger(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    member_id = await _lan(db, units)
    members_before = await _members_of(db, units["trai"].id)
    lan = tg.user(first_name="Lan", user_id=LAN)
    await lan.send("/deleteme")
    question = await next_sent(lan)
    assert "Trường THCS Nguyễn Trãi" in (question.text or "")
    assert question.buttons == [["🗑 Có, xoá dữ liệu"], ["Không, giữ lại"]]
    await lan.tap("Có, xoá dữ liệu")
    assert "Đã xoá dữ liệu của bạn" in (await next_sent(lan)).text

    db.expire_all()
    member = await db.get(Member, member_id)
    assert member is not None and member.erased_at is not None
    assert (member.full_name, member.phone, member.gender) == (ERASED_NAME, None, None)
    assert await _members_of(db, units["trai"].id) == members_before
    assert await get_identity(db, channel=Channel.TELEGRAM, external_id=str(LAN)) is None
    assert (await db.exec(select(ConsentRecord))).all() == []

    await lan.send("/profile")
    assert "Bạn chưa là đoàn viên" in (await next_sent(lan)).text
    # The old button, tapped again: nothing happens to the person she is now.
    [[erase_data], _] = question.button_data
    answer = await alert_for(lan, erase_data, message=question)
    assert "hết hạn" in answer["text"]
    again = await get_identity(db, channel=Channel.TELEGRAM, external_id=str(LAN))
    assert again is not None and again.member_id is None
    await lan.send("/start")
    welcome = await next_sent(lan)
    assert welcome.buttons[0] == ["✅ Tôi đồng ý", "✖ Không đồng ý"]


async def test_no_keeps_everything(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    member_id = await _lan(db, units)
    lan = tg.user(first_name="Lan", user_id=LAN)
    await lan.send("/deleteme")
    await next_sent(lan)
    await lan.tap("Không, giữ lại")
    assert "không xoá gì" in (await next_sent(lan)).text
    await lan.send("/profile")
    assert "Nguyễn Thị Lan" in (await next_sent(lan)).text
    db.expire_all()
    member = await db.get(Member, member_id)
    assert member is not None and member.erased_at is None and member.phone == "+84912345678"


async def test_a_person_who_has_not_joined_erases_what_the_bot_remembers_of_them(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await create_invite(db, code="TRAI-2026", unit_id=units["trai"].id)  # type: ignore[arg-type]
    await db.commit()
    ha = tg.user(first_name="Hà")
    await ha.send("/start TRAI-2026")  # the invite is kept until she agrees
    await next_sent(ha)
    await ha.send("/deleteme")
    question = await next_sent(ha)  # the /start update is fully stored by now
    owner = col(StoredData.owner) == str(ha.id)
    assert (await db.exec(select(StoredData).where(owner))).all() != []
    assert "chưa là đoàn viên" in (question.text or "")
    await ha.tap("Có, xoá dữ liệu")
    assert "Đã xoá dữ liệu của bạn" in (await next_sent(ha)).text
    await ha.send("/help")
    await next_sent(ha)
    db.expire_all()
    assert (await db.exec(select(StoredData).where(owner))).all() == []
    assert (await db.exec(select(ConsentRecord))).all() == []

    # Starting again, nothing of before comes back: no invite presets her union.
    await ha.send("/start")
    welcome = await next_sent(ha)
    await ha.tap(welcome.buttons[0][0])
    await next_sent(ha)  # the name question
    await ha.send("Phạm Thu Hà")
    assert "Bạn thuộc công đoàn cơ sở nào" in (await next_sent(ha)).text


async def test_erasing_in_the_middle_of_joining_ends_the_questions(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    ha = tg.user(first_name="Hà")
    unit_question = await agree_and_name(ha, "Phạm Thu Hà")
    assert "Bạn thuộc công đoàn cơ sở nào" in unit_question.text
    await ha.send("/deleteme")
    await next_sent(ha)
    await ha.tap("Có, xoá dữ liệu")
    await next_sent(ha)
    await ha.send("nguyen trai")  # was a search for her union; now she is not asked anything
    assert "Gõ /help" in (await next_sent(ha)).text
    keys = (await db.exec(select(ConversationState.key))).all()
    assert f"[{ha.id},{ha.id}]" not in keys


async def test_on_zalo_the_summary_comes_as_text_and_erasing_is_a_numbered_choice(  # type: ignore[no-untyped-def]
    start_bot, units: dict, zalo: FakeZalo, db: AsyncSession,
) -> None:
    lan = zalo.user(display_name="Lan")
    number, _ = await int_id_for(db, lan.id)
    member_id = await _lan(db, units, telegram_id=None, zalo_id=number)
    async with start_bot(channels=("zalo",)):
        await lan.send("/mydata")
        texts = await said_until(lan, "Telegram")
        summary = "\n".join(texts)
        assert "Nguyễn Thị Lan" in summary and "+84912345678" in summary
        assert "Lưu thông tin đoàn viên" in summary
        assert "/link" in texts[-1] and "tệp" in texts[-1]
        assert zalo.calls_of("sendPhoto") == []

        await lan.send("/deleteme")
        question = await said(lan)
        assert "1. 🗑 Có, xoá dữ liệu" in question and "2. Không, giữ lại" in question
        await lan.send("1")
        assert "Đã xoá dữ liệu của bạn" in await said(lan)
        await lan.send("1")  # the list is gone: just a stray "1"
        assert "/help" in await said(lan)
        await lan.send("/profile")
        assert "Bạn chưa là đoàn viên" in await said(lan)

    db.expire_all()
    member = await db.get(Member, member_id)
    assert member is not None and member.full_name == ERASED_NAME and member.erased_at
    assert await get_identity(db, channel=Channel.ZALO, external_id=str(number)) is not None
    assert (await db.exec(select(ConsentRecord))).all() == []


async def test_her_initiatives_are_in_her_data_and_erasing_keeps_them_for_her_co_author(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    member_id = await _lan(db, units)
    lan_member = await db.get(Member, member_id)
    binh_member = await make_member(db, units["trai"], "Trần Văn Bình", telegram_id=7302)
    assert lan_member is not None
    draft = await make_initiative(db, lan_member, "Nháp chưa nộp", status=InitiativeStatus.DRAFT)
    submitted = await make_initiative(db, lan_member, "Sổ chủ nhiệm điện tử",
                                      co_authors=[binh_member])
    draft_id, submitted_id, binh_id = draft.id, submitted.id, binh_member.id
    await db.commit()
    lan = tg.user(first_name="Lan", user_id=LAN)
    binh = tg.user(first_name="Bình", user_id=7302)

    await lan.send("/mydata")
    summary = (await next_sent(lan)).text or ""
    assert "Sổ chủ nhiệm điện tử — đã nộp, chờ xét (tác giả, người nộp)" in summary
    assert "Nháp chưa nộp — đang viết" in summary
    _, content = (await next_sent(lan)).document  # type: ignore[misc]
    titles = [entry["title"] for entry in json.loads(content)["initiatives"]]
    assert titles == ["Nháp chưa nộp", "Sổ chủ nhiệm điện tử"]

    await lan.send("/deleteme")
    await next_sent(lan)
    await lan.tap("Có, xoá dữ liệu")
    assert "Đã xoá dữ liệu của bạn" in (await next_sent(lan)).text

    db.expire_all()
    assert await db.get(Initiative, draft_id) is None
    kept = await db.get(Initiative, submitted_id)
    assert kept is not None and kept.submitter_member_id is None
    assert [(a.name, a.member_id) for a in await authors_of(db, kept)] == [
        (ERASED_NAME, None), ("Trần Văn Bình", binh_id)
    ]
    # Her co-author still follows it, with her name gone.
    await binh.send("/myinitiatives")
    await next_sent(binh)
    await binh.tap("Sổ chủ nhiệm điện tử")
    card = await binh.next_message()
    assert "Tác giả: — (50%), Trần Văn Bình (50%)" in card.text
    assert "Nguyễn Thị Lan" not in card.text
