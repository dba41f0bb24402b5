"""The same bot on Zalo: every flow in plain text, through the real Zalo client and bridge,
against the local Zalo Bot API server (tests/botapi/zalo.py)."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import select

from bot.zalo_api import TEXT_MAX_CHARS
from models.channels import ZaloId
from models.members import Identity, Member, MemberStatus
from tests.botapi.zalo import FakeZalo, ZaloUser
from tests.handlers.test_webhook import _free_port

ZALO_SECRET = "zalo-S3cret_9"


async def said(user: ZaloUser, wait: float = 5) -> str:
    """The text of the next message the bot sends the person."""
    return (await user.next_message(timeout=wait)).text or ""


async def said_until(user: ZaloUser, fragment: str, wait: float = 5) -> list[str]:
    """Messages up to and including the first that contains `fragment`."""
    texts = []
    while True:
        texts.append(await said(user, wait))
        if fragment in texts[-1]:
            return texts


async def to_position(user: ZaloUser, *, name: str = "Nguyễn Thị Lan") -> str:
    """From the first message to the position question; returns it."""
    await user.send("Xin chào")
    welcome = await said(user)
    assert "1. ✅ Tôi đồng ý" in welcome and "2. ✖ Không đồng ý" in welcome
    await user.send("1")
    await said_until(user, "Họ và tên")
    await user.send(name)
    menu = await said(user)
    assert "1. 📂 Liên đoàn Lao động Thành phố Hà Nội" in menu
    await user.send("Nguyen Trai")  # matches nothing in the list: a search, as on Telegram
    results = await said(user)
    assert "1. Trường THCS Nguyễn Trãi" in results
    await user.send("1")
    return (await said_until(user, "1. Giáo viên"))[-1]


async def join(
    user: ZaloUser, *, name: str = "Nguyễn Thị Lan", phone: str = "0912 345 678"
) -> str:
    """A whole onboarding in plain text, answering by numbers and by words; returns the
    final message."""
    position = await to_position(user, name=name)
    assert "2. Giảng viên" in position
    await user.send("giao vien")  # the words, without diacritics
    await said_until(user, "1. Nữ")
    await user.send("NU")
    phone_question = await said_until(user, "1. Bỏ qua")
    assert "gõ số điện thoại" in phone_question[-1]  # no contact button on Zalo
    await user.send(phone)
    summary = await said_until(user, "1. ✅ Xác nhận")
    assert name in summary[-1] and "+84912345678" in summary[-1]
    await user.send("1")
    return (await said_until(user, "cán bộ công đoàn"))[-1]


async def test_a_teacher_joins_on_zalo_in_plain_text(  # type: ignore[no-untyped-def]
    start_bot, units, zalo: FakeZalo, db, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="bot.app")
    lan = zalo.user(display_name="Lan")
    async with start_bot(channels=("zalo",)):
        assert "running on Zalo (polling)" in caplog.text
        final = await join(lan)
    methods = [call.method for call in zalo.calls]
    assert methods.index("deleteWebhook") < methods.index("getUpdates")  # never both at once
    assert "Trường THCS Nguyễn Trãi" in final
    assert all(len(m.text or "") <= TEXT_MAX_CHARS for m in lan.messages)
    assert not any("<b>" in (m.text or "") for m in lan.messages)  # plain text, no HTML

    mapped = (await db.exec(select(ZaloId).where(ZaloId.zalo_id == lan.id))).one()
    identity = (
        await db.exec(select(Identity).where(Identity.channel == "zalo"))
    ).one()
    assert identity.external_id == str(mapped.id)
    member = await db.get(Member, identity.member_id)
    assert member is not None and member.full_name == "Nguyễn Thị Lan"
    assert member.unit_id == units["trai"].id
    assert (member.position, member.gender, member.phone) == ("teacher", "female", "+84912345678")
    assert member.status == MemberStatus.PENDING


@pytest.fixture
async def zalo_bot(start_bot, units):  # type: ignore[no-untyped-def]
    async with start_bot(channels=("zalo",)) as runtime:
        yield runtime


async def test_a_list_answer_that_is_not_an_option_gets_the_list_again(  # type: ignore[no-untyped-def]
    zalo_bot, zalo: FakeZalo, db,
) -> None:
    lan = zalo.user(display_name="Lan")
    await to_position(lan)
    for answer in ("7", "vien", "không biết", "0"):  # out of range, ambiguous, nothing, no page
        await lan.send(answer)
        again = await said(lan)
        assert again.startswith("Bạn hãy trả lời bằng một số từ 1 đến 5"), answer
        assert "1. Giáo viên" in again and "5. Khác" in again
    await lan.send("2.")
    assert "1. Nữ" in (await said_until(lan, "1. Nữ"))[-1]
    await lan.send("khong muon tra loi")
    assert "1. Bỏ qua" in (await said_until(lan, "1. Bỏ qua"))[-1]
    await lan.send("1")  # the suggested reply "Bỏ qua" (no phone)
    summary = (await said_until(lan, "1. ✅ Xác nhận"))[-1]
    assert "Giảng viên" in summary and "Không muốn trả lời" in summary


async def test_long_lists_are_paged(  # type: ignore[no-untyped-def]
    start_bot, units, zalo: FakeZalo, db,
) -> None:
    from tests.factories import make_unit

    for number in range(1, 13):
        await make_unit(db, f"Trường Mầm non Hoa Sen {number:02d}", parent=units["district"])
    await db.commit()
    lan = zalo.user(display_name="Lan")
    async with start_bot(channels=("zalo",)):
        await lan.send("Xin chào")
        await said(lan)
        await lan.send("1")
        await said_until(lan, "Họ và tên")
        await lan.send("Nguyễn Thị Lan")
        await said(lan)
        for level in ("1", "cong doan giao duc ha noi", "Ba Đình"):
            await lan.send(level)
            menu = await said_until(lan, "1. ")
        # 14 schools: the Telegram page has 8 and "Next" and "Up"; Zalo shows 9 and "0. More".
        page = menu[-1]
        assert "9. Tiếp ▶" in page and "0. Xem thêm" in page and "10." not in page
        await lan.send("0")
        rest = await said(lan)
        assert rest.startswith("10. ⬆ Cấp trên") and "0. Về đầu danh sách" in rest
        await lan.send("9")  # Telegram's "Next": the next page of schools, as a new list
        second = await said(lan)
        assert "1. Trường Mầm non Hoa Sen 09" in second and "Hoa Sen 01" not in second
        assert "7. ◀ Trước" in second and "0. Xem thêm" not in second


async def test_a_long_message_is_split_between_paragraphs(  # type: ignore[no-untyped-def]
    zalo_bot, zalo: FakeZalo, db,
) -> None:
    lan = zalo.user(display_name="Lan")
    await lan.send("/help")
    await said(lan)
    chat = (await db.exec(select(ZaloId).where(ZaloId.zalo_id == lan.id))).one().id
    sentence = "Công đoàn Giáo dục chăm lo đời sống đoàn viên. "
    paragraphs = [(f"Đoạn {n}. " + sentence * 12).strip() for n in range(8)]  # ~4,400 chars
    await zalo_bot.applications["zalo"].bot.send_message(chat, "\n\n".join(paragraphs))
    parts = [await said(lan) for _ in range(3)]
    assert all(len(part) <= TEXT_MAX_CHARS for part in parts)
    assert all(part.startswith("Đoạn ") and part.endswith("đoàn viên.") for part in parts)
    assert "\n\n".join(parts) == "\n\n".join(paragraphs)  # nothing lost, no word cut
    assert not lan.pending()


async def test_what_is_not_text_gets_a_kind_answer_and_changes_nothing(  # type: ignore[no-untyped-def]
    zalo_bot, zalo: FakeZalo,
) -> None:
    lan = zalo.user(display_name="Lan", name_key="name")
    await lan.send("/help")  # a first message that is a command is that command
    assert "/profile" in await said(lan)
    await lan.send("/start")
    await said(lan)
    await lan.send("1")
    await said_until(lan, "Họ và tên")
    await lan.send_unsupported()
    assert "chưa đọc được loại tin nhắn này" in await said(lan)
    await lan.send_sticker()
    await lan.send_image("https://example.org/a.jpg", key="photo")
    for _ in range(2):  # each: "that is not what I asked", and the question again
        assert "Họ và tên" in (await said_until(lan, "Họ và tên"))[-1]
    await lan.send("Trần Văn Nam")
    assert "1. 📂 Liên đoàn" in await said(lan)


async def test_a_group_chat_is_told_once_to_write_privately(  # type: ignore[no-untyped-def]
    zalo_bot, zalo: FakeZalo,
) -> None:
    lan = zalo.user(display_name="Lan")
    group = zalo.group(title="Tổ Toán")
    await group.send(lan, "/start")
    assert "riêng" in await said(group)
    await group.send(lan, "xin chào")
    await zalo.wait_idle()
    await lan.send("/help")  # something after it, to know the group message was handled
    await said(lan)
    assert not group.pending()


async def test_a_list_survives_a_restart(  # type: ignore[no-untyped-def]
    start_bot, units, zalo: FakeZalo,
) -> None:
    lan = zalo.user(display_name="Lan")
    async with start_bot(channels=("zalo",)):
        await to_position(lan)
    async with start_bot(channels=("zalo",)):
        await lan.send("giang vien")
        assert "1. Nữ" in (await said_until(lan, "1. Nữ"))[-1]


async def test_zalo_failures_are_retried_and_logged_without_the_token(  # type: ignore[no-untyped-def]
    zalo_bot, zalo: FakeZalo, caplog,
) -> None:
    caplog.set_level(logging.INFO)
    lan = zalo.user(display_name="Lan")
    zalo.fail_next("sendMessage", status=500)
    await lan.send("/help")
    assert "/profile" in await said(lan)  # the answer arrives after one retry
    failed = [call for call in zalo.calls_of("sendMessage") if call.status == 500]
    assert len(failed) == 1
    assert "sendMessage failed (HTTP 500)" in caplog.text
    assert zalo.token not in caplog.text
    zalo.rate_limit_next("sendMessage")  # an HTML 429: the library waits and the bot goes on
    await lan.send("/help")
    assert "/profile" in await said(lan, wait=10)
    assert zalo.token not in caplog.text


@pytest.fixture
async def zalo_webhook_bot(start_bot, units):  # type: ignore[no-untyped-def]
    port = _free_port()
    async with start_bot(
        channels=("zalo",),
        webhook_url=f"http://127.0.0.1:{port}",
        zalo_webhook_secret=ZALO_SECRET,
        http_port=port,
    ) as runtime:
        yield runtime, f"http://127.0.0.1:{port}"


async def test_a_teacher_joins_through_the_zalo_webhook(  # type: ignore[no-untyped-def]
    zalo_webhook_bot, zalo: FakeZalo, db,
) -> None:
    _, base = zalo_webhook_bot
    assert zalo.webhook == {"url": f"{base}/zalo", "secret_token": ZALO_SECRET}
    zalo.wrap_webhook_body = True  # Zalo has been seen sending {ok, result} too
    lan = zalo.user(display_name="Lan")
    assert "cán bộ công đoàn" in await join(lan)
    assert all(status == 200 for _, status in zalo.webhook_deliveries)
    assert not zalo.calls_of("getUpdates")  # webhook and polling exclude each other
    members = (await db.exec(select(Member))).all()
    assert [m.full_name for m in members] == ["Nguyễn Thị Lan"]


async def test_the_zalo_webhook_takes_an_event_once_and_refuses_strangers(  # type: ignore[no-untyped-def]
    zalo_webhook_bot, zalo: FakeZalo,
) -> None:
    lan = zalo.user(display_name="Lan")
    update = await lan.send("/help")
    assert "/profile" in await said(lan)
    await zalo.wait_idle()
    status, body = await zalo.deliver(update)  # Zalo delivers the same event again
    assert (status, body) == (200, {"ok": True})
    await lan.send("/language")
    assert "1. " in await said(lan)  # the next answer is to /language, not a second /help
    assert not lan.pending()

    forged = {**update, "message": {**update["message"], "message_id": "forged-1"}}
    assert (await zalo.deliver(forged, secret="wrong"))[0] == 401
    assert (await zalo.deliver(forged, secret=""))[0] == 401
    assert (await zalo.deliver({"event_name": "message.text.received"}))[0] == 400
    assert (await zalo.deliver("not json at all"))[0] == 400
    await zalo.wait_idle()
    assert not lan.pending()  # nothing refused reached the handlers
