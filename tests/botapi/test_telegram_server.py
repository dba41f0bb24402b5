"""Proof that the real python-telegram-bot accepts :class:`FakeTelegram` as Telegram.

Every test here drives PTB's own HTTP stack (``telegram.Bot`` / ``Application`` with
``base_url`` pointing at the fake server) — no mocks — so if PTB's requests or our answers
drift from the Bot API, these tests fail before the bot's own tests start lying.
They wait on events only; none sleeps.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.botapi.telegram import BotMessage, FakeTelegram

TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Any]:
    async with tg.bot() as ptb_bot:
        yield ptb_bot


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


# ------------------------------------------------------------------------------------------
# Basic API surface
# ------------------------------------------------------------------------------------------


async def test_get_me_returns_the_bot_user(tg: FakeTelegram) -> None:
    from telegram import Bot

    async with Bot(TOKEN, base_url=f"{tg.base_url}/bot") as ptb_bot:
        me = await ptb_bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (
        100000,
        True,
        "UnionBot",
        "unionbot_test_bot",
    )
    assert tg.bot_user["username"] == "unionbot_test_bot"
    assert tg.calls[0].method == "getMe" and tg.calls[0].response["ok"] is True


async def test_wrong_token_and_unknown_method(tg: FakeTelegram, bot: Any) -> None:
    from telegram import Bot

    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=tg.api_url):
            pass
    assert tg.calls[-1].status == 401
    assert tg.calls[-1].response == {"ok": False, "error_code": 401, "description": "Unauthorized"}

    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    assert tg.calls[-1].status == 404 and tg.calls[-1].description == "Not Found"

    # A real Bot API method the fake lacks says so, instead of a misleading 404.
    with pytest.raises(NetworkError, match="does not implement sendDice"):
        await bot.send_dice(tg.user().id)
    assert tg.calls[-1].method == "sendDice" and tg.calls[-1].status == 501


async def test_send_message_records_keyboards(tg: FakeTelegram, bot: Any) -> None:
    lan = tg.user(first_name="Lan", last_name="Nguyễn", language_code="vi")
    sent = await bot.send_message(
        lan.id,
        "<b>Chào</b> Lan &amp; các bạn",
        parse_mode="HTML",
        reply_markup=keyboard([("Đồng ý", "onb:yes"), ("Huỷ", "onb:no")], [("Trợ giúp", "h")]),
    )
    assert sent.text == "Chào Lan & các bạn" and sent.entities[0].type == "bold"
    assert sent.chat.id == lan.id and sent.from_user.id == 100000
    assert abs(sent.date.timestamp() - time.time()) < 5  # seconds, not milliseconds

    msg = await lan.next_message()
    assert msg.method == "sendMessage" and msg.chat_id == lan.id
    assert msg.text == "<b>Chào</b> Lan &amp; các bạn" and msg.parse_mode == "HTML"
    assert msg.plain_text == "Chào Lan & các bạn"
    assert msg.buttons == [["Đồng ý", "Huỷ"], ["Trợ giúp"]]
    assert msg.button_data == [["onb:yes", "onb:no"], ["h"]]
    assert msg.keyboard == [] and not msg.requests_contact

    call = tg.calls_of("sendMessage")[0]
    assert call.params["chat_id"] == lan.id  # parsed from the form string
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "onb:yes"

    await bot.send_message(
        lan.id,
        "Chia sẻ số điện thoại",
        reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton("📱 Gửi số điện thoại", request_contact=True)], ["Bỏ qua"]],
            resize_keyboard=True,
            one_time_keyboard=True,
        ),
    )
    msg = await lan.next_message()
    assert msg.keyboard == [["📱 Gửi số điện thoại"], ["Bỏ qua"]]
    assert msg.requests_contact and msg.buttons == []
    assert "reply_markup" not in msg.message  # reply keyboards are not part of a Message

    await bot.send_message(lan.id, "Xong", reply_markup=ReplyKeyboardRemove())
    await bot.send_message(lan.id, "Họ tên?", reply_markup=ForceReply())
    removed, forced = await lan.next_message(), await lan.next_message()
    assert removed.removes_keyboard and not removed.requests_contact
    assert forced.forces_reply
    assert lan.pending() == [] and len(lan.messages) == 4


async def test_json_body_and_get_query_are_accepted(tg: FakeTelegram) -> None:
    lan = tg.user(first_name="Lan")
    async with aiohttp.ClientSession() as http:
        url = f"{tg.api_url}{TOKEN}/sendMessage"
        markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
        payload = {"chat_id": lan.id, "text": "json", "reply_markup": markup}
        async with http.post(url, json=payload) as resp:
            body = await resp.json()
        async with http.get(f"{tg.api_url}{TOKEN}/getMe") as resp:
            me = await resp.json()
    assert body["ok"] is True and body["result"]["text"] == "json"
    assert isinstance(body["result"]["date"], int)
    assert me["result"]["id"] == 100000
    assert (await lan.next_message()).buttons == [["A"]]


# ------------------------------------------------------------------------------------------
# Users acting; the bot receiving
# ------------------------------------------------------------------------------------------


async def test_get_updates_long_polls_and_redelivers_until_confirmed(
    tg: FakeTelegram, bot: Any
) -> None:
    lan = tg.user(first_name="Lan", last_name="Nguyễn", language_code="vi")
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await tg.wait_polling()
    sent = await lan.send("Nguyễn Thị Lan")
    updates = await poll
    assert time.monotonic() - started < 2  # woke up on the update, not on the timeout
    assert [u.update_id for u in updates] == [sent["update_id"]]
    message = updates[0].message
    assert message.text == "Nguyễn Thị Lan" and message.chat.type == "private"
    assert message.chat.id == lan.id == message.from_user.id
    assert message.from_user.language_code == "vi" and message.from_user.last_name == "Nguyễn"

    command = await lan.send("/start@unionbot_test_bot ref_42")
    again = await bot.get_updates(timeout=0)  # nothing confirmed yet: both come back
    assert [u.update_id for u in again] == [sent["update_id"], command["update_id"]]
    assert again[1].message.entities[0].type == "bot_command"
    assert again[1].message.entities[0].length == len("/start@unionbot_test_bot")
    assert again[1].message.message_id == again[0].message.message_id + 1

    rest = await bot.get_updates(offset=command["update_id"], timeout=0)
    assert [u.update_id for u in rest] == [command["update_id"]]
    assert await bot.get_updates(offset=command["update_id"] + 1, timeout=0) == ()
    assert tg.pending_updates == []
    limited = await bot.get_updates(timeout=0, limit=1, allowed_updates=["message"])
    assert limited == ()


async def test_polling_application_receives_text_command_contact_photo_and_taps(
    tg: FakeTelegram,
) -> None:
    seen: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(f"start:{context.args}")
        await update.message.reply_text(
            "Bạn đồng ý điều khoản?", reply_markup=keyboard([("Đồng ý", "tos:yes")])
        )

    async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(f"text:{update.message.text}")
        await update.message.reply_text(f"Tên: {update.message.text}")

    async def contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        c = update.message.contact
        seen.append(f"contact:{c.phone_number}:{c.user_id}")
        await update.message.reply_text("Cảm ơn", reply_markup=ReplyKeyboardRemove())

    async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        file = await update.message.photo[-1].get_file()
        content = await file.download_as_bytearray()
        seen.append(f"photo:{len(content)}:{update.message.caption}")
        await update.message.reply_text("Đã nhận ảnh")

    async def tapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        seen.append(f"tap:{query.data}")
        await query.answer("Đã ghi nhận", show_alert=True)
        await query.edit_message_text("Bạn đã đồng ý ✅")

    app = tg.application_builder().build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.CONTACT, contact))
    app.add_handler(MessageHandler(filters.PHOTO, photo))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, text))
    app.add_handler(CallbackQueryHandler(tapped))

    lan = tg.user(first_name="Lan", last_name="Nguyễn", language_code="vi")
    async with tg.polling(app):
        await lan.send("/start abc")
        question = await lan.next_message()
        assert question.text == "Bạn đồng ý điều khoản?" and question.buttons == [["Đồng ý"]]

        await lan.tap("Đồng ý")
        answer = await lan.next_answer()
        assert answer["text"] == "Đã ghi nhận" and answer["show_alert"] is True
        edited = await lan.next_message()
        assert edited.method == "editMessageText" and edited.message_id == question.message_id
        assert edited.text == "Bạn đã đồng ý ✅" and edited.buttons == []

        await lan.send("Nguyễn Thị Lan")
        assert (await lan.next_message()).text == "Tên: Nguyễn Thị Lan"

        await lan.send_contact("0912345678")
        thanks = await lan.next_message()
        assert thanks.removes_keyboard

        await lan.send_photo(caption="thẻ đoàn viên", content=b"\xff\xd8jpeg-bytes\xff\xd9")
        assert (await lan.next_message()).text == "Đã nhận ảnh"

    assert seen == [
        "start:['abc']",
        "tap:tos:yes",
        "text:Nguyễn Thị Lan",
        f"contact:0912345678:{lan.id}",
        "photo:14:thẻ đoàn viên",
    ]
    assert tg.pending_updates == []
    assert tg.calls_of("deleteWebhook")  # the Updater's bootstrap
    assert tg.calls_of("getFile")[0].ok


async def test_group_commands_and_many_users_concurrently(tg: FakeTelegram) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"echo {update.message.text}")

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(f"hello {update.effective_user.first_name}")

    app = tg.application_builder().build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    users = [tg.user(first_name=f"U{i}") for i in range(20)]
    group = tg.group(title="Tổ Toán")
    assert group.id < 0 and group.type == "supergroup"

    async with tg.polling(app):
        await asyncio.gather(*(u.send(f"hi {u.first_name}") for u in users))
        replies = await asyncio.gather(*(u.next_message() for u in users))
        assert [r.text for r in replies] == [f"echo hi {u.first_name}" for u in users]

        await users[0].send("/start@unionbot_test_bot", chat=group)
        in_group = await group.next_message()
        assert in_group.text == "hello U0" and in_group.chat_id == group.id
        assert in_group.message["reply_to_message"]["from"]["id"] == users[0].id
    assert all(u.pending() == [] for u in users)


# ------------------------------------------------------------------------------------------
# Edits and taps on current / stale keyboards
# ------------------------------------------------------------------------------------------


async def test_edits_change_the_stored_message(tg: FakeTelegram, bot: Any) -> None:
    lan = tg.user(first_name="Lan")
    sent = await bot.send_message(lan.id, "Chọn công đoàn", reply_markup=keyboard([("A", "u:1")]))
    first = await lan.next_message()

    await bot.edit_message_text(
        "Chọn lại",
        chat_id=lan.id,
        message_id=sent.message_id,
        reply_markup=keyboard([("B", "u:2")]),
    )
    edit = await lan.next_message()
    assert (edit.method, edit.message_id, edit.text, edit.buttons) == (
        "editMessageText",
        sent.message_id,
        "Chọn lại",
        [["B"]],
    )
    assert lan.current(first).text == "Chọn lại" and lan.current(first).buttons == [["B"]]

    # A tap uses the current keyboard: "A" is gone, "B" is there.
    with pytest.raises(AssertionError, match=r"No button 'A'.*\[\['B'\]\]"):
        await lan.tap("A", message=first)
    update = await lan.tap("B", message=first)
    assert update["callback_query"]["data"] == "u:2"
    assert update["callback_query"]["message"]["text"] == "Chọn lại"
    assert isinstance(update["callback_query"]["chat_instance"], str)

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "Chọn lại",
            chat_id=lan.id,
            message_id=sent.message_id,
            reply_markup=keyboard([("B", "u:2")]),
        )
    await bot.edit_message_reply_markup(chat_id=lan.id, message_id=sent.message_id)
    cleared = await lan.next_message()
    assert cleared.method == "editMessageReplyMarkup" and cleared.buttons == []
    assert cleared.text == "Chọn lại"
    with pytest.raises(AssertionError, match=r"no inline keyboard|No bot message"):
        await lan.tap("B")
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=lan.id, message_id=999)

    # A forged payload on a message can still be sent (stale / tampered clients).
    forged = await lan.tap_data("onb:unit:999999", message=first)
    assert forged["callback_query"]["data"] == "onb:unit:999999"


async def test_answer_callback_query_once(tg: FakeTelegram, bot: Any) -> None:
    lan = tg.user(first_name="Lan")
    await bot.send_message(lan.id, "?", reply_markup=keyboard([("OK", "ok")]))
    update = await lan.tap("OK")
    query_id = update["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id) is True
    assert await lan.next_answer() == {
        "callback_query_id": query_id,
        "text": None,
        "show_alert": False,
        "url": None,
        "cache_time": None,
    }
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id, text="again")


# ------------------------------------------------------------------------------------------
# Webhook mode
# ------------------------------------------------------------------------------------------


class WebhookEndpoint:
    """A tiny aiohttp endpoint standing in for the bot's webhook server."""

    def __init__(self, statuses: list[int] | None = None):
        self.statuses = list(statuses or [])
        self.received: asyncio.Queue[tuple[dict[str, str], dict[str, Any]]] = asyncio.Queue()
        self.on_update: Any = None
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.received.put((dict(request.headers), body))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200 and self.on_update is not None:
            await self.on_update(body)
        return web.Response(status=status)

    async def __aenter__(self) -> WebhookEndpoint:
        app = web.Application()
        app.router.add_post("/tg/webhook", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/tg/webhook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


async def test_webhook_posts_updates_with_secret_and_retries(tg: FakeTelegram, bot: Any) -> None:
    lan = tg.user(first_name="Lan")
    async with WebhookEndpoint(statuses=[500, 200, 200]) as endpoint:
        assert await bot.set_webhook(endpoint.url, secret_token="s3cr3t-T0k_en")
        assert tg.webhook is not None and tg.webhook["secret_token"] == "s3cr3t-T0k_en"
        info = await bot.get_webhook_info()
        assert info.url == endpoint.url and info.pending_update_count == 0

        with pytest.raises(Conflict, match=r"webhook is active"):
            await bot.get_updates()
        assert tg.calls_of("getUpdates")[-1].status == 409

        first = await lan.send("xin chào")
        second = await lan.send("/help")
        bodies = [await asyncio.wait_for(endpoint.received.get(), 5) for _ in range(3)]
        await tg.wait_idle()

    headers = [h for h, _ in bodies]
    assert all(h["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t-T0k_en" for h in headers)
    assert all(h["Content-Type"].startswith("application/json") for h in headers)
    assert [b["update_id"] for _, b in bodies] == [
        first["update_id"],
        first["update_id"],  # retried after the 500
        second["update_id"],
    ]
    assert tg.webhook_deliveries == [
        (first["update_id"], 500),
        (first["update_id"], 200),
        (second["update_id"], 200),
    ]
    assert Update.de_json(bodies[-1][1], bot).message.text == "/help"

    assert await bot.delete_webhook()
    assert tg.webhook is None and await bot.get_updates(timeout=0) == ()


async def test_application_in_webhook_mode(tg: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text("Chào mừng")

    app: Application = tg.application_builder().updater(None).build()
    app.add_handler(CommandHandler("start", start))
    lan = tg.user(first_name="Lan")
    async with WebhookEndpoint() as endpoint, app:
        endpoint.on_update = lambda data: app.update_queue.put(Update.de_json(data, app.bot))
        await app.start()
        await app.bot.set_webhook(endpoint.url, secret_token="abc", drop_pending_updates=True)
        await lan.send("/start")
        assert (await lan.next_message()).text == "Chào mừng"
        await app.stop()
    assert tg.webhook_deliveries[-1][1] == 200


# ------------------------------------------------------------------------------------------
# Errors surface in PTB like Telegram's
# ------------------------------------------------------------------------------------------


async def test_errors_surface_as_ptb_exceptions(tg: FakeTelegram, bot: Any) -> None:
    lan = tg.user(first_name="Lan")

    with pytest.raises(BadRequest, match=r"(?i)^message text is empty$"):
        await bot.send_message(lan.id, "")
    with pytest.raises(BadRequest, match=r"(?i)^message text is empty$"):
        await bot.send_message(lan.id, "   ")
    with pytest.raises(BadRequest, match=r"(?i)^message is too long$"):
        await bot.send_message(lan.id, "x" * 4097)
    await bot.send_message(lan.id, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)^button_data_invalid$"):
        await bot.send_message(lan.id, "t", reply_markup=keyboard([("A", "đ" * 33)]))
    with pytest.raises(BadRequest, match=r"(?i)^chat not found$"):
        await bot.send_message(424242, "hi")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
        await bot.send_message(lan.id, "1 < 2", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await bot.send_message(lan.id, "Xong.", parse_mode="MarkdownV2")

    errors = [c for c in tg.calls_of("sendMessage") if not c.ok]
    assert errors[0].response == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message text is empty",
    }
    assert errors[3].description == "Bad Request: BUTTON_DATA_INVALID"
    assert [m.text for m in lan.messages] == ["x" * 4096]  # failed sends are not outputs

    lan.block()
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(lan.id, "còn đó không?")
    assert tg.calls[-1].status == 403
    assert tg.calls[-1].description == "Forbidden: bot was blocked by the user"
    kicked = tg.pending_updates[-1]["my_chat_member"]
    assert kicked["new_chat_member"]["status"] == "kicked"

    stranger = tg.user(first_name="Chưa bắt đầu", started=False)
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(stranger.id, "hi")


async def test_next_message_timeout_explains_what_happened(tg: FakeTelegram, bot: Any) -> None:
    lan = tg.user(first_name="Lan")
    await bot.send_message(lan.id, "một")
    await lan.next_message()
    with pytest.raises(BadRequest):
        await bot.send_message(lan.id, "<b>hai", parse_mode="HTML")
    with pytest.raises(AssertionError) as excinfo:
        await lan.next_message(timeout=0.05)
    report = str(excinfo.value)
    assert "'một'" in report and "Can't find end tag" in report


# ------------------------------------------------------------------------------------------
# Files, chat actions, commands
# ------------------------------------------------------------------------------------------


async def test_documents_photos_and_chat_actions(tg: FakeTelegram, bot: Any) -> None:
    lan = tg.user(first_name="Lan")
    await bot.send_chat_action(lan.id, "upload_document")
    pdf = b"%PDF-1.4 danh sach doan vien"
    sent = await bot.send_document(
        lan.id,
        InputFile(pdf, filename="danh_sach.pdf"),
        caption="<b>Danh sách</b>",
        parse_mode="HTML",
    )
    assert sent.document.file_name == "danh_sach.pdf" and sent.caption == "Danh sách"
    doc = await lan.next_message()
    assert doc.document == ("danh_sach.pdf", pdf) and doc.text == "<b>Danh sách</b>"
    call = tg.calls_of("sendDocument")[0]
    assert call.files["document"] == pdf and call.file_names["document"] == "danh_sach.pdf"
    assert call.params["caption"] == "<b>Danh sách</b>" and call.params["chat_id"] == lan.id

    again = await bot.send_document(lan.id, sent.document.file_id)  # resend by file_id
    assert (await lan.next_message()).document == ("danh_sach.pdf", pdf)
    assert again.document.file_unique_id == sent.document.file_unique_id

    await bot.send_photo(lan.id, b"\xff\xd8photo\xff\xd9", caption="ảnh")
    photo = await lan.next_message()
    assert photo.method == "sendPhoto" and photo.photo == b"\xff\xd8photo\xff\xd9"
    assert photo.text == "ảnh" and photo.document is None
    assert lan.actions == ["upload_document"]

    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_document(lan.id, "nonexistent-file-id")

    update = await lan.send_document(file_name="don.pdf", file_size=1000)
    file = await bot.get_file(update["message"]["document"]["file_id"])
    assert len(await file.download_as_bytearray()) == 1000


async def test_commands_are_stored_per_scope_and_language(tg: FakeTelegram, bot: Any) -> None:
    await bot.set_my_commands([BotCommand("start", "Bắt đầu"), BotCommand("help", "Trợ giúp")])
    await bot.set_my_commands(
        [BotCommand("start", "Start")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="en",
    )
    assert tg.commands() == [
        {"command": "start", "description": "Bắt đầu"},
        {"command": "help", "description": "Trợ giúp"},
    ]
    assert tg.commands(language_code="en") == []
    private = tg.commands(language_code="en", scope={"type": "all_private_chats"})
    assert private == [{"command": "start", "description": "Start"}]
    assert tg.commands(language_code="en", scope=BotCommandScopeAllPrivateChats()) == private

    fetched = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="en")
    assert [(c.command, c.description) for c in fetched] == [("start", "Start")]
    call = tg.calls_of("setMyCommands")[1]
    assert call.params["scope"] == {"type": "all_private_chats"}
    assert call.params["commands"] == [{"command": "start", "description": "Start"}]

    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("DangKy", "Đăng ký")])
    assert await bot.delete_my_commands()
    assert tg.commands() == []


async def test_bot_message_helpers() -> None:
    msg = BotMessage(
        method="sendMessage",
        chat_id=1,
        message_id=2,
        text="t",
        parse_mode=None,
        reply_markup={"inline_keyboard": [[{"text": "Đồng ý nhé", "callback_data": "y"}]]},
    )
    assert msg.button("Đồng ý")["callback_data"] == "y"
    assert json.loads(json.dumps(msg.button_data)) == [["y"]]
    assert msg.document is None and msg.photo is None and not msg.removes_keyboard
