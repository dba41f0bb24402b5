"""The command menu, /help and /language, as a member sees them."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import Runtime
from models.members import Identity
from tests.botapi.telegram import FakeTelegram
from tests.factories import make_official, make_reviewer
from tests.handlers.helpers import next_sent


async def test_the_command_menu_is_set_in_each_language(bot: Runtime, tg: FakeTelegram) -> None:
    vi = {c["command"]: c["description"] for c in tg.commands(language_code="vi")}
    en = {c["command"]: c["description"] for c in tg.commands(language_code="en")}
    default = {c["command"]: c["description"] for c in tg.commands()}
    assert set(vi) == set(en) == {
        "start", "movements", "my", "initiative", "drafts", "myinitiatives", "record", "news",
        "reminders", "profile", "link", "mydata", "deleteme", "language", "cancel", "help",
    }
    assert vi["profile"] == "Xem và sửa hồ sơ của bạn"
    assert en["profile"] == "See and edit your profile"
    assert default == vi  # Vietnamese is the default


async def test_help_lists_what_a_person_can_do(bot: Runtime, tg: FakeTelegram) -> None:
    lan = tg.user(first_name="Lan")
    await lan.send("/help")
    text = (await next_sent(lan)).text
    for command in ("/start", "/profile", "/mydata", "/deleteme", "/language", "/help"):
        assert command in text
    for command in ("/units", "/members", "/pending", "/invite", "/import", "/review"):
        assert command not in text


async def test_help_shows_reviewers_the_council(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_reviewer(db, units["district"], telegram_id=7102)
    await db.commit()
    reviewer = tg.user(first_name="Mai", user_id=7102)
    await reviewer.send("/help")
    text = (await next_sent(reviewer)).text
    assert "Thành viên hội đồng sáng kiến" in text and "/review" in text
    assert "/units" not in text


async def test_help_shows_officials_their_tools_too(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession, units: dict
) -> None:
    await make_official(db, units["trai"], telegram_id=7101)
    await db.commit()
    chair = tg.user(first_name="Hùng", user_id=7101)
    await chair.send("/help")
    text = (await next_sent(chair)).text
    assert "Dành cho cán bộ công đoàn" in text
    for command in ("/units", "/members", "/pending", "/invite", "/import", "/movement",
                    "/newmovement", "/myunit", "/review", "/initiative stats", "/profile"):
        assert command in text


async def test_switching_to_english_changes_replies_and_the_chat_menu(
    bot: Runtime, tg: FakeTelegram, db: AsyncSession
) -> None:
    lan = tg.user(first_name="Lan")
    await lan.send("/language")
    question = await next_sent(lan)
    assert question.buttons == [["🇻🇳 Tiếng Việt"], ["🇬🇧 English"]]
    await lan.tap("English")
    assert (await lan.next_message()).text == "Language set to English."
    await lan.send("/help")
    assert "What you can do" in (await next_sent(lan)).text
    chat_menu = tg.commands(scope={"type": "chat", "chat_id": lan.id})
    assert {c["description"] for c in chat_menu} >= {"See and edit your profile"}
    identity = (await db.exec(select(Identity))).one()
    assert identity.locale == "en"


async def test_unknown_commands_and_stray_text_point_to_help(
    bot: Runtime, tg: FakeTelegram
) -> None:
    lan = tg.user(first_name="Lan")
    await lan.send("/frobnicate")
    assert "/help" in (await next_sent(lan)).text
    await lan.send("xin chào")
    assert "/help" in (await next_sent(lan)).text
    await lan.send_photo()
    assert "/help" in (await next_sent(lan)).text
