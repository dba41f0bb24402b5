"""The worker's lean Telegram sender against the local Bot API server: what a member receives,
and every refusal mapped to the same python-telegram-bot error, with the same text, as the
bot object raises (the delivery worker handles both alike)."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

import pytest
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Defaults, ExtBot

from bot.telegram_sender import TelegramSender
from models.outbox import OutboxMessage
from tests.botapi.telegram import FakeTelegram


def _row(chat_id: int, text: str = "<b>Họp</b> lúc 8 giờ", **extra: Any) -> OutboxMessage:
    return OutboxMessage(
        id=1, channel="telegram", chat_id=str(chat_id), kind="notice", source_type="test",
        text=text, dedupe_key="k", **extra,
    )


async def test_a_message_arrives_with_its_buttons_and_its_id_comes_back(tg: FakeTelegram) -> None:
    lan = tg.user(first_name="Lan")
    row = _row(lan.id, buttons=[[{"text": "Đã đọc", "callback_data": "read"}],
                                [{"text": "Xem", "url": "https://example.org/a"}]])
    async with TelegramSender(tg.token, tg.base_url) as sender:
        message_id = await sender.send(row)
    message = await lan.next_message()
    assert (message.plain_text, message.parse_mode, message.buttons) == (
        "Họp lúc 8 giờ", "HTML", [["Đã đọc"], ["Xem"]]
    )
    assert message_id == str(message.message_id)


async def test_photo_and_document_go_with_their_caption(tg: FakeTelegram) -> None:
    lan = tg.user()
    async with TelegramSender(tg.token, tg.base_url) as sender:
        await sender.send(_row(lan.id, media={"kind": "photo", "url": "https://example.org/p.png"}))
        await sender.send(_row(lan.id, "<i>Biên bản</i>",
                               media={"kind": "document", "url": "https://example.org/b.pdf"}))
    photo, document = await lan.next_message(), await lan.next_message()
    assert (photo.method, photo.plain_text) == ("sendPhoto", "Họp lúc 8 giờ")
    assert (document.method, document.plain_text) == ("sendDocument", "Biên bản")


async def _ptb_error(tg: FakeTelegram, chat_id: int) -> Exception:
    bot = ExtBot(tg.token, base_url=f"{tg.base_url}/bot",
                 defaults=Defaults(parse_mode=ParseMode.HTML))
    async with bot:
        with pytest.raises(Exception) as raised:
            await bot.send_message(chat_id, "x")
    return raised.value


@pytest.mark.parametrize(("status", "kwargs", "expected"), [
    (429, {"retry_after": 3}, RetryAfter),
    (403, {"description": "Forbidden: bot was blocked by the user"}, Forbidden),
    (403, {}, Forbidden),  # user is deactivated
    (400, {"description": "Bad Request: chat not found"}, BadRequest),
    (500, {}, NetworkError),
    (502, {}, NetworkError),
])
async def test_refusals_raise_what_python_telegram_bot_raises(
    tg: FakeTelegram, status: int, kwargs: dict[str, Any], expected: type[Exception]
) -> None:
    lan = tg.user()
    tg.fail_next("sendMessage", status, **kwargs)
    async with TelegramSender(tg.token, tg.base_url) as sender:
        with pytest.raises(expected) as raised:
            await sender.send(_row(lan.id))
    tg.fail_next("sendMessage", status, **kwargs)
    ptb = await _ptb_error(tg, lan.id)
    assert (type(raised.value), str(raised.value)) == (type(ptb), str(ptb))
    if status == 429:
        assert raised.value._retry_after == timedelta(seconds=3)  # type: ignore[attr-defined]
    assert lan.messages == []  # nothing reached her


async def test_a_chat_the_server_does_not_know_is_a_bad_request(tg: FakeTelegram) -> None:
    async with TelegramSender(tg.token, tg.base_url) as sender:
        with pytest.raises(BadRequest, match="Chat not found"):
            await sender.send(_row(999_999_999))


async def test_a_refused_token_fails_at_start(tg: FakeTelegram) -> None:
    sender = TelegramSender("654321:WRONG", tg.base_url)
    with pytest.raises(InvalidToken):
        await sender.start()


async def test_no_server_is_a_network_error_without_the_token(tg: FakeTelegram) -> None:
    lan = tg.user()
    async with TelegramSender(tg.token, tg.base_url) as sender:
        await tg.stop()
        with socket.socket() as probe:  # nothing listens on the server's port any more
            assert probe.connect_ex(("127.0.0.1", tg.port)) != 0
        with pytest.raises(NetworkError) as raised:
            await sender.send(_row(lan.id))
    assert tg.token not in str(raised.value)
    assert "TEST-TOKEN" not in repr(sender)
