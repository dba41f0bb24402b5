"""A local, in-process Telegram Bot API server for end-to-end tests of UnionBot.

Why a server and not a mocked ``Bot``
-------------------------------------
Mocking ``telegram.Bot`` tests our idea of Telegram, not Telegram. Most production bugs of a
chatbot live exactly in the seam a mock hides: the JSON PTB serialises, a ``callback_data``
over 64 bytes, an unescaped ``<`` in a member's name under ``parse_mode=HTML``, editing a
message into the same content, a user who blocked the bot, polling against a webhook. So
:class:`FakeTelegram` is a real HTTP server (aiohttp) that speaks the Bot API: the *real*
python-telegram-bot, with its own httpx stack, ``Application`` and ``Updater``, talks to it
exactly as it talks to ``api.telegram.org``. Tests drive it from the other side, as Telegram
users (:class:`TgUser`) who type, share contacts, send photos and tap inline buttons, and read
back what the bot said (:class:`BotMessage`).

How it hangs together (ten-minute tour)
---------------------------------------
* ``FakeTelegram`` owns all state and serves ``/bot<token>/<method>`` (the API) and
  ``/file/bot<token>/<path>`` (downloads). Each API method is a ``_m_<methodName>`` method;
  it validates like Telegram (same HTTP status and ``description`` wording), mutates state and
  returns the ``result``. Every call is recorded as an :class:`ApiCall` in ``tg.calls``.
* Chats are :class:`TgChat` objects (a group) or :class:`TgUser` objects (a user *is* her own
  private chat: the chat id equals the user id, as on Telegram). A chat keeps the messages
  the server knows (so edits change stored text/keyboard and taps see the *current*
  keyboard) and an ordered log of bot outputs which ``next_message()`` consumes one by one.
* Users' actions create updates in one global queue (``update_id`` increases globally). The
  bot gets them either by ``getUpdates`` (a real long poll; updates stay queued until a
  later call confirms them with ``offset``, like Telegram) or, when a webhook is set, by a
  background worker that POSTs them one at a time, in order, to the webhook URL, retrying a
  non-2xx answer a few times.
* Waiting never sleeps: every wait (long poll, ``next_message``, ``next_answer``) blocks on a
  :class:`_Signal` that is poked whenever the state it depends on changes.

Telegram behaviours reproduced on purpose (they surprise people)
----------------------------------------------------------------
* ``editMessageText``/``editMessageCaption``/``editMessageReplyMarkup`` *without*
  ``reply_markup`` remove the inline keyboard; an edit to identical content and markup is
  400 "message is not modified".
* Texts and captions go through Telegram's HTML / MarkdownV2 / Markdown parsers
  (:mod:`tests.botapi.formatting`): bad markup is 400 "can't parse entities: ...", and the
  length limit (4096 / 1024) applies to the text after parsing.
* ``TgUser.block()`` queues a ``my_chat_member`` update (member -> kicked); when she writes
  again the bot is unblocked (kicked -> member), as with the "Restart" button.
* ``tg.user(..., started=False)`` is a member who never opened the bot: sending to her is
  403 "bot can't initiate conversation with a user" until she writes.
* Answering the same callback query twice is 400 "query is too old ...".
* Unconfirmed updates are returned again by the next ``getUpdates``; a ``getUpdates`` while
  a webhook is set is 409.

Failure injection: :meth:`FakeTelegram.fail_next` makes the next calls of a method answer an
error (a 429 with ``retry_after``, a 403 "user is deactivated", a 500 ...), recorded in
``calls`` like any answer.

Not modelled: group privacy mode (every group message reaches the bot), rate limits
(429) other than injected ones, inline mode, payments, media groups. A real Bot API method
without a ``_m_`` handler answers ``501 Not Implemented: FakeTelegram does not implement X``
(PTB raises ``NetworkError``) rather than a misleading 404; add a handler when the bot needs one.

Safety: the server binds to 127.0.0.1 and never contacts the internet. Webhook deliveries go
only to loopback hosts; a bot that registers its public URL gets its updates delivered to the
local endpoint set with :meth:`FakeTelegram.redirect_webhook` (or not at all). URLs sent as
files are recorded but never fetched.

Minimal use::

    async with FakeTelegram() as tg:
        app = tg.application_builder().build()  # token, base_url, base_file_url set
        app.add_handler(...)
        lan = tg.user(first_name="Lan", last_name="Nguyễn", language_code="vi")
        async with tg.polling(app):             # start + start_polling, stop on exit
            await lan.send("/start")
            msg = await lan.next_message()
            assert msg.buttons == [["Đồng ý", "Huỷ"]]
            await lan.tap("Đồng ý")
            assert (await lan.next_answer())["text"] is None
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import ipaddress
import json
import mimetypes
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.botapi.formatting import EntityParseError, parse_text

__all__ = ["ApiCall", "ApiError", "BotMessage", "FakeTelegram", "TgChat", "TgUser"]

JSON = dict[str, Any]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

# Telegram's own error descriptions, kept in one place so tests can import them.
ERR_TEXT_EMPTY = "Bad Request: message text is empty"
ERR_TEXT_TOO_LONG = "Bad Request: message is too long"
ERR_CAPTION_TOO_LONG = "Bad Request: message caption is too long"
ERR_BUTTON_DATA = "Bad Request: BUTTON_DATA_INVALID"
ERR_CHAT_NOT_FOUND = "Bad Request: chat not found"
ERR_CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
ERR_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
ERR_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
ERR_BLOCKED = "Forbidden: bot was blocked by the user"
ERR_NOT_STARTED = "Forbidden: bot can't initiate conversation with a user"
ERR_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
ERR_QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
ERR_BAD_MARKUP = "Bad Request: can't parse reply keyboard markup JSON object"

# Parameters PTB JSON-encodes inside form data (and which a JSON body might still carry as
# a string); integer parameters; boolean parameters.
_JSON_PARAMS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "commands", "scope",
        "allowed_updates", "link_preview_options", "reply_parameters", "media", "results",
        "permissions", "message_ids", "menu_button", "rights", "options",
    }
)  # fmt: skip
_INT_PARAMS = frozenset(
    {
        "chat_id", "message_id", "offset", "limit", "user_id", "max_connections",
        "cache_time", "reply_to_message_id", "message_thread_id", "from_chat_id",
        "until_date", "duration", "width", "height",
    }
)  # fmt: skip
_FLOAT_PARAMS = frozenset({"timeout"})
_BOOL_PARAMS = frozenset(
    {
        "disable_notification", "protect_content", "show_alert", "drop_pending_updates",
        "disable_web_page_preview", "allow_sending_without_reply", "has_spoiler",
        "disable_content_type_detection", "show_caption_above_media", "allow_paid_broadcast",
        "is_personal", "for_channels", "revoke_messages", "only_if_banned",
    }
)  # fmt: skip
_ALL_UPDATE_TYPES_BY_DEFAULT_EXCLUDED = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice",
        "upload_voice", "upload_document", "choose_sticker", "find_location",
        "record_video_note", "upload_video_note",
    }
)  # fmt: skip
_INLINE_BUTTON_ACTIONS = (
    "url", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "callback_game", "pay", "web_app", "copy_text",
)  # fmt: skip
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![A-Za-z0-9_@])")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_FAKE_JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + (b"\x00" * 96)
    + b"\xff\xd9"
)


def _now() -> int:
    return int(time.time())


class ApiError(Exception):
    """An error answer of the Bot API: raised inside method handlers, sent as JSON.

    ``status`` is both the HTTP status and ``error_code``; ``description`` is Telegram's
    wording; ``parameters`` becomes the ``parameters`` object (``retry_after`` ...).
    """

    def __init__(self, status: int, description: str, parameters: JSON | None = None):
        super().__init__(f"{status} {description}")
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class _Signal:
    """A broadcast "something changed" notification usable from sync code.

    ``asyncio.Condition`` needs its lock held to notify, which sync helpers such as
    ``TgUser.block()`` cannot take. Waiters here grab the current event and wait on it;
    ``notify()`` sets it and installs a fresh one, so every waiter re-checks its predicate.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], Any], within: float | None) -> None:
        """Return once ``predicate()`` is truthy; raise ``TimeoutError`` after ``within`` s."""
        async with asyncio.timeout(within):
            while not predicate():
                await self._event.wait()


@dataclass
class ApiCall:
    """One HTTP request the bot made, with what the server answered.

    ``params`` holds every parameter with JSON values decoded and numbers parsed; ``files``
    maps multipart part names to their bytes (``file_names`` to the uploaded file names).
    Calls are appended when answered, so a long poll appears when it returns; a request
    the client abandoned before the answer (e.g. a long poll cancelled by
    ``Updater.stop()``) is not recorded.
    """

    method: str
    params: JSON
    files: dict[str, bytes]
    response: JSON
    status: int = 200
    file_names: dict[str, str] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        return self.response.get("description")


@dataclass
class BotMessage:
    """One visible output of the bot in a chat, as a test wants to assert on it.

    Why not the raw Message JSON: a conversation test asks "what did she see, which buttons,
    was the keyboard removed", and wants the text as the bot wrote it (with its HTML) to
    compare with translation strings. Each BotMessage is a frozen snapshot taken when the
    call was answered, so a later edit never rewrites history; ``chat.current(msg)`` gives
    the message's present state.

    Produced by sendMessage, sendPhoto, sendDocument, editMessageText, editMessageCaption
    and editMessageReplyMarkup. For edits, ``message_id`` is the edited message and
    ``text``/``reply_markup`` are its state *after* the edit. ``text`` is the text or caption
    exactly as the bot sent it (markup included); ``plain_text`` is what the user sees.
    ``reply_markup`` is the markup as sent (any kind), ``None`` if none. ``message`` is the
    Message object the server answered with; ``params``/``files`` are the call's.
    """

    method: str
    chat_id: int
    message_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: JSON | None
    params: JSON = field(default_factory=dict, repr=False)
    files: dict[str, bytes] = field(default_factory=dict, repr=False)
    message: JSON = field(default_factory=dict, repr=False)
    attachment_name: str | None = field(default=None, repr=False)
    attachment: bytes | None = field(default=None, repr=False)

    @property
    def plain_text(self) -> str | None:
        """The text/caption after entity parsing (tags removed), as Telegram stored it."""
        return self.message.get("text", self.message.get("caption"))

    @property
    def is_edit(self) -> bool:
        return self.method.startswith("edit")

    @property
    def _inline_rows(self) -> list[list[JSON]]:
        if not self.reply_markup:
            return []
        return [list(row) for row in self.reply_markup.get("inline_keyboard") or []]

    @property
    def _reply_rows(self) -> list[list[JSON]]:
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("keyboard") or []
        return [[b if isinstance(b, dict) else {"text": b} for b in row] for row in rows]

    @property
    def buttons(self) -> list[list[str]]:
        """Texts of the inline keyboard, row by row (``[]`` if none)."""
        return [[b.get("text", "") for b in row] for row in self._inline_rows]

    @property
    def button_data(self) -> list[list[str]]:
        """``callback_data`` of the inline keyboard, row by row (``""`` for other buttons)."""
        return [[b.get("callback_data", "") for b in row] for row in self._inline_rows]

    @property
    def keyboard(self) -> list[list[str]]:
        """Texts of a reply keyboard, row by row (``[]`` if none)."""
        return [[b.get("text", "") for b in row] for row in self._reply_rows]

    @property
    def requests_contact(self) -> bool:
        return any(b.get("request_contact") for row in self._reply_rows for b in row)

    @property
    def removes_keyboard(self) -> bool:
        return bool(self.reply_markup and self.reply_markup.get("remove_keyboard"))

    @property
    def forces_reply(self) -> bool:
        return bool(self.reply_markup and self.reply_markup.get("force_reply"))

    @property
    def document(self) -> tuple[str, bytes] | None:
        """``(file_name, content)`` of a sent document, else ``None``."""
        if self.method != "sendDocument":
            return None
        return self.attachment_name or "", self.attachment or b""

    @property
    def photo(self) -> bytes | None:
        """Content of a sent photo (``b""`` if sent by URL), else ``None``."""
        if self.method != "sendPhoto":
            return None
        return self.attachment or b""

    def button(self, text: str) -> JSON:
        """The inline button whose text equals (else contains) ``text``."""
        return _pick_button(self._inline_rows, text, where=f"message {self.message_id}")

    def describe(self) -> str:
        """One line for assertion messages."""
        parts = [f"{self.method} #{self.message_id}: {self.text!r}"]
        if self.buttons:
            parts.append(f"buttons={self.buttons}")
        if self.keyboard:
            parts.append(f"keyboard={self.keyboard}")
        if self.removes_keyboard:
            parts.append("remove_keyboard")
        if self.document:
            parts.append(f"document={self.document[0]!r}")
        return " ".join(parts)


def _pick_button(rows: list[list[JSON]], text: str, *, where: str) -> JSON:
    flat = [b for row in rows for b in row]
    found = [b for b in flat if b.get("text") == text] or [
        b for b in flat if text in str(b.get("text", ""))
    ]
    if not found:
        texts = [[b.get("text") for b in row] for row in rows]
        raise AssertionError(f"No button {text!r} on {where}; buttons are {texts}")
    return found[0]


@dataclass
class _Upload:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class _File:
    """A file the server can hand out by ``file_id`` and serve for download."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    kind: str  # "photo" | "document"
    file_name: str | None = None
    mime_type: str | None = None


@dataclass
class _Stored:
    """The server's current view of one message in a chat."""

    message: JSON  # the Message object as Telegram would return it now
    by_bot: bool
    kind: str  # "text" | "photo" | "document" | "user"
    raw_text: str | None = None
    parse_mode: str | None = None
    reply_markup: JSON | None = None  # as last sent, any kind
    deleted: bool = False
    attachment_name: str | None = None
    attachment: bytes | None = None

    @property
    def inline_markup(self) -> JSON | None:
        return self.message.get("reply_markup")

    @property
    def content_key(self) -> tuple[Any, ...]:
        msg = self.message
        if self.kind == "text":
            return msg.get("text"), msg.get("entities", [])
        return msg.get("caption"), msg.get("caption_entities", [])


class TgChat:
    """A chat as the test sees it: the bot's outputs there, and the messages it contains.

    The outputs form a queue per chat so that a test reads the conversation in order with
    :meth:`next_message` while other users' conversations proceed concurrently. Returned by
    :meth:`FakeTelegram.group`; :class:`TgUser` extends it for private chats.
    """

    def __init__(self, tg: FakeTelegram, chat: JSON):
        self._tg = tg
        self._chat = chat
        self.id: int = chat["id"]
        self.type: str = chat["type"]
        self.title: str | None = chat.get("title")
        self.blocked = False
        self._outputs: list[BotMessage] = []
        self._cursor = 0
        self._messages: dict[int, _Stored] = {}
        self._last_message_id = 0
        self.actions: list[str] = []  # sendChatAction actions, in order
        self._signal = _Signal()

    # -- reading what the bot did ---------------------------------------------------------
    @property
    def chat(self) -> JSON:
        """The Chat object as it appears in messages."""
        return dict(self._chat)

    @property
    def messages(self) -> list[BotMessage]:
        """Every bot output to this chat so far, consumed or not."""
        return list(self._outputs)

    @property
    def last_message(self) -> BotMessage | None:
        return self._outputs[-1] if self._outputs else None

    def pending(self) -> list[BotMessage]:
        """Bot outputs not yet returned by :meth:`next_message` (does not consume)."""
        return self._outputs[self._cursor :]

    async def next_message(self, timeout: float = 5.0) -> BotMessage:  # noqa: ASYNC109 (the spec'd API)
        """The next bot output to this chat not consumed yet, waiting up to ``timeout``."""
        try:
            await self._signal.wait_for(lambda: self._cursor < len(self._outputs), timeout)
        except TimeoutError:
            raise AssertionError(self._timeout_report(timeout)) from None
        out = self._outputs[self._cursor]
        self._cursor += 1
        return out

    def current(self, message: BotMessage | int) -> BotMessage:
        """The current state of a message (after later edits), as a BotMessage snapshot."""
        stored = self._stored(message)
        return self._tg._snapshot(self, stored, "current", {}, {})

    def is_deleted(self, message: BotMessage | int) -> bool:
        return self._stored(message).deleted

    def block(self) -> None:
        """From now on, sending to this chat fails with 403 (bot kicked from the group)."""
        self.blocked = True

    def unblock(self) -> None:
        self.blocked = False

    # -- internals --------------------------------------------------------------------------
    def _stored(self, message: BotMessage | int) -> _Stored:
        message_id = message if isinstance(message, int) else message.message_id
        stored = self._messages.get(message_id)
        if stored is None:
            raise AssertionError(f"Chat {self.id} has no message {message_id}")
        return stored

    def _allocate_id(self) -> int:
        self._last_message_id += 1
        return self._last_message_id

    def _label(self) -> str:
        return f"chat {self.id} ({self.title})"

    def _timeout_report(self, timeout: float) -> str:
        lines = [f"No new bot message to {self._label()} within {timeout}s."]
        if self._outputs:
            lines.append(f"Received so far ({len(self._outputs)}, all consumed):")
            lines += [f"  {m.describe()}" for m in self._outputs]
        else:
            lines.append("The bot has sent nothing to this chat.")
        failed = [
            c for c in self._tg.calls if not c.ok and _same_chat(c.params.get("chat_id"), self.id)
        ]
        if failed:
            lines.append("Failed API calls for this chat:")
            lines += [f"  {c.method} -> {c.status} {c.description}" for c in failed[-5:]]
        if self.blocked:
            lines.append("This chat is blocked: the bot gets 403 when sending here.")
        if self._tg._pending:
            lines.append(
                f"{len(self._tg._pending)} update(s) not yet confirmed by the bot "
                "(is it polling, or is a webhook set?)"
            )
        return "\n".join(lines)


def _same_chat(value: Any, chat_id: int) -> bool:
    try:
        return int(value) == chat_id
    except (TypeError, ValueError):
        return False


class TgUser(TgChat):
    """A Telegram user, who is also her private chat with the bot (same id, as on Telegram).

    Her actions (:meth:`send`, :meth:`send_contact`, :meth:`send_photo`, :meth:`tap` ...)
    build updates as Telegram clients would and queue them for the bot; they return the
    queued update. What the bot sends to her private chat is read with
    :meth:`next_message`; answers to her button taps with :meth:`next_answer`.
    """

    def __init__(
        self,
        tg: FakeTelegram,
        user: JSON,
        *,
        started: bool = True,
    ):
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        for key in ("last_name", "username"):
            if user.get(key):
                chat[key] = user[key]
        super().__init__(tg, chat)
        self._user = user
        self.user_id: int = user["id"]
        self.first_name: str = user["first_name"]
        self.last_name: str | None = user.get("last_name")
        self.username: str | None = user.get("username")
        self.language_code: str | None = user.get("language_code")
        self.started = started
        self._answers: list[JSON] = []
        self._answer_cursor = 0

    @property
    def user(self) -> JSON:
        """The User object as it appears in ``from``."""
        return dict(self._user)

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def _label(self) -> str:
        return f"user {self.id} ({self.full_name})"

    # -- acting as the user -----------------------------------------------------------------
    async def send(
        self,
        text: str,
        *,
        chat: TgChat | None = None,
        reply_to: BotMessage | int | None = None,
    ) -> JSON:
        """Type ``text`` (a ``/command`` gets its ``bot_command`` entity) in ``chat``."""
        content: JSON = {"text": text}
        match = _COMMAND_RE.match(text)
        if match:
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(match.group(0))}
            ]
        return self._tg._user_message(self, chat, content, reply_to)

    async def send_contact(
        self,
        phone_number: str,
        user_id: int | None = None,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        chat: TgChat | None = None,
    ) -> JSON:
        """Share a contact: her own by default (as a request_contact button does).

        ``user_id=None`` means her own id; pass another id for someone else's contact, or
        ``0`` for a contact without a Telegram account (no ``user_id`` field).
        """
        own = user_id is None or user_id == self.id
        contact: JSON = {
            "phone_number": phone_number,
            "first_name": first_name or (self.first_name if own else "Contact"),
        }
        last = last_name if last_name is not None else (self.last_name if own else None)
        if last:
            contact["last_name"] = last
        if user_id is None:
            contact["user_id"] = self.id
        elif user_id:
            contact["user_id"] = user_id
        return self._tg._user_message(self, chat, {"contact": contact}, None)

    async def send_photo(
        self,
        *,
        caption: str | None = None,
        content: bytes | None = None,
        width: int = 1280,
        height: int = 960,
        chat: TgChat | None = None,
    ) -> JSON:
        """Send a photo; sizes get file_ids the bot can ``getFile`` and download."""
        data = content if content is not None else _FAKE_JPEG
        sizes = self._tg._register_photo(data, width, height)
        body: JSON = {"photo": sizes}
        if caption is not None:
            body["caption"] = caption
        return self._tg._user_message(self, chat, body, None)

    async def send_document(
        self,
        file_name: str = "document.pdf",
        mime_type: str | None = "application/pdf",
        file_size: int = 1000,
        *,
        content: bytes | None = None,
        caption: str | None = None,
        chat: TgChat | None = None,
    ) -> JSON:
        """Send a document (``content`` defaults to ``file_size`` placeholder bytes)."""
        if content is None:
            head = b"%PDF-1.4\n" if (mime_type or "").endswith("pdf") else b""
            content = (head + b"0" * file_size)[:file_size]
        record = self._tg._register_file(content, "document", file_name, mime_type)
        body: JSON = {"document": self._tg._document_json(record)}
        if caption is not None:
            body["caption"] = caption
        return self._tg._user_message(self, chat, body, None)

    async def edit(self, sent: JSON, text: str) -> JSON:
        """She edits a text message she sent earlier (``sent`` is what ``send`` returned):
        Telegram delivers an ``edited_message`` update carrying the whole new message."""
        original = sent["message"]
        where = self._tg.chat(original["chat"]["id"]) or self
        stored = where._messages[original["message_id"]]
        stored.message["text"] = text
        stored.raw_text = text
        edited = {**copy.deepcopy(stored.message), "edit_date": _now()}
        edited.pop("entities", None)
        return self._tg._enqueue({"edited_message": edited})

    async def tap(
        self,
        text: str,
        *,
        message: BotMessage | int | None = None,
        chat: TgChat | None = None,
    ) -> JSON:
        """Tap the inline button labelled ``text`` (exact, else substring match).

        Uses ``message`` (its *current* keyboard) or else the most recent bot message in
        ``chat`` (default: her private chat) that currently has an inline keyboard.
        """
        where, stored = self._tap_target(message, chat, need_keyboard=True)
        rows = (stored.inline_markup or {}).get("inline_keyboard") or []
        if not rows:
            raise AssertionError(f"Message {stored.message['message_id']} has no inline keyboard")
        button = _pick_button(rows, text, where=f"message {stored.message['message_id']}")
        if "callback_data" not in button:
            raise AssertionError(f"Button {button.get('text')!r} sends no callback: {button}")
        return self._tg._callback_query(self, where, stored, button["callback_data"])

    async def tap_data(
        self,
        data: str,
        *,
        message: BotMessage | int | None = None,
        chat: TgChat | None = None,
    ) -> JSON:
        """Send a callback query with arbitrary ``data`` (forged/stale payloads)."""
        where, stored = self._tap_target(message, chat, need_keyboard=False)
        return self._tg._callback_query(self, where, stored, data)

    async def next_answer(self, timeout: float = 5.0) -> JSON:  # noqa: ASYNC109 (the spec'd API)
        """The next answerCallbackQuery for one of her taps: ``{"text", "show_alert", ...}``."""
        try:
            await self._signal.wait_for(lambda: self._answer_cursor < len(self._answers), timeout)
        except TimeoutError:
            raise AssertionError(
                f"No answerCallbackQuery for {self._label()} within {timeout}s; "
                f"answers so far: {self._answers}"
            ) from None
        answer = self._answers[self._answer_cursor]
        self._answer_cursor += 1
        return answer

    @property
    def answers(self) -> list[JSON]:
        """All answerCallbackQuery calls for her taps so far."""
        return list(self._answers)

    def block(self, *, notify: bool = True) -> None:
        """She blocks the bot: sending to her now answers 403 "bot was blocked by the user".

        Like Telegram, this queues a ``my_chat_member`` update (member -> kicked) unless
        ``notify=False``. Sending anything later unblocks the bot again, as "Restart" does.
        """
        if not self.blocked and notify:
            self._tg._my_chat_member(self, "member", "kicked")
        self.blocked = True

    def unblock(self, *, notify: bool = True) -> None:
        if self.blocked and notify:
            self._tg._my_chat_member(self, "kicked", "member")
        self.blocked = False

    def _tap_target(
        self, message: BotMessage | int | None, chat: TgChat | None, *, need_keyboard: bool
    ) -> tuple[TgChat, _Stored]:
        where = self._tg.chat(message.chat_id) if isinstance(message, BotMessage) else None
        where = where or chat or self
        if where.type == "private" and where is not self:
            raise AssertionError(f"{self._label()} cannot tap a message in {where._label()}")
        if message is not None:
            stored = where._stored(message)
            if stored.deleted:
                raise AssertionError(f"Message {stored.message['message_id']} was deleted")
            return where, stored
        for stored in sorted(
            where._messages.values(), key=lambda s: s.message["message_id"], reverse=True
        ):
            if (
                stored.by_bot
                and not stored.deleted
                and (stored.inline_markup or not need_keyboard)
            ):
                return where, stored
        raise AssertionError(
            f"No bot message {'with an inline keyboard ' if need_keyboard else ''}"
            f"in {where._label()}; outputs: {[m.describe() for m in where._outputs]}"
        )


class FakeTelegram:
    """The Bot API server plus the test-side controls. See the module docstring.

    Use as ``async with FakeTelegram() as tg:`` (or ``await tg.start()`` / ``await tg.stop()``)
    inside the test's event loop. All state lives in this object and is only touched from
    that loop, so no locking is needed.

    Webhook knobs: a delivery answered with a non-2xx status (or failing to connect, recorded
    with status ``None`` in ``webhook_deliveries``) is retried after ``webhook_retry_delay``
    seconds, up to ``webhook_max_attempts`` attempts in all, then dropped — Telegram retries
    for much longer, but a test wants a bounded, fast outcome.
    """

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        *,
        bot_id: int = 100000,
        bot_first_name: str = "UnionBot",
        bot_username: str = "unionbot_test_bot",
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_max_attempts: int = 3,
        webhook_retry_delay: float = 0.01,
        webhook_timeout: float = 10.0,
    ):
        self.token = token
        self.host = host
        self.port = port
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.webhook_max_attempts = webhook_max_attempts
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_timeout = webhook_timeout

        self.calls: list[ApiCall] = []
        self.updates: list[JSON] = []  # every update ever queued, in order
        self.webhook_deliveries: list[tuple[int, int | None]] = []
        self._pending: list[JSON] = []  # queued, not yet confirmed/delivered
        self._update_id = 100000
        self._allowed_updates: list[str] | None = None
        self._updates_signal = _Signal()
        self._webhook: JSON | None = None
        self._webhook_redirect: str | None = None
        self._webhook_attempts: dict[int, int] = {}
        self._webhook_last_error: tuple[int, str] | None = None
        self._chats: dict[int, TgChat] = {}
        self._callbacks: dict[str, tuple[TgUser, bool]] = {}  # id -> (user, answered)
        self._callback_seq = 0
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._file_seq = 0
        self._next_user_id = 700001
        self._next_group_seq = 1
        self.active_polls = 0  # getUpdates requests currently parked in a long poll
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None
        self.base_url = ""
        self._methods = {
            name[3:].lower(): name[3:] for name in dir(type(self)) if name.startswith("_m_")
        }
        self._injected: dict[str, list[ApiError]] = {}

    # ========================================================================================
    # Lifecycle
    # ========================================================================================
    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0,
            handler_cancellation=True,
        )  # fmt: skip
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._session = aiohttp.ClientSession(trust_env=False)
        self._worker = asyncio.create_task(self._webhook_worker(), name="fake-telegram-webhook")
        return self

    async def stop(self) -> None:
        self._closing = True
        self._updates_signal.notify()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ========================================================================================
    # Test-side API
    # ========================================================================================
    @property
    def api_url(self) -> str:
        """Pass as ``base_url`` to PTB (``Bot``/``ApplicationBuilder``)."""
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        """Pass as ``base_file_url`` to PTB."""
        return f"{self.base_url}/file/bot"

    def bot(self, **kwargs: Any) -> Any:
        """A ``telegram.Bot`` wired to this server (not initialised)."""
        import telegram

        return telegram.Bot(
            self.token, base_url=self.api_url, base_file_url=self.file_url, **kwargs
        )

    def application_builder(self) -> Any:
        """A ``telegram.ext.ApplicationBuilder`` with token and URLs set for this server."""
        from telegram.ext import ApplicationBuilder

        return (
            ApplicationBuilder()
            .token(self.token)
            .base_url(self.api_url)
            .base_file_url(self.file_url)
        )

    def fail_next(
        self,
        method: str,
        status: int = 500,
        *,
        times: int = 1,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status`` with ``description``
        (Telegram's wording by default); ``retry_after`` goes in ``parameters`` (for 429)."""
        default = {
            429: f"Too Many Requests: retry after {retry_after or 1}",
            403: "Forbidden: user is deactivated",
            502: "Bad Gateway",
        }.get(status, "Internal Server Error")
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        self._injected.setdefault(method.lower(), []).extend(
            ApiError(status, description or default, parameters) for _ in range(times)
        )

    def calls_of(self, method: str) -> list[ApiCall]:
        """Recorded calls of one method (case-insensitive name)."""
        wanted = method.lower()
        return [c for c in self.calls if c.method.lower() == wanted]

    def commands(self, language_code: str | None = None, scope: Any = None) -> list[JSON]:
        """Commands last set by setMyCommands for exactly this ``scope`` (a dict, JSON string
        or PTB ``BotCommandScope``; None = default scope) and ``language_code`` (None = the
        list for users of any language). ``[]`` if never set; no fallback between lists."""
        key = (_scope_key(scope), language_code or "")
        return [dict(c) for c in self._commands.get(key, [])]

    @property
    def all_commands(self) -> dict[tuple[str, str], list[JSON]]:
        """Every stored command list, keyed by (canonical scope JSON, language code)."""
        return copy.deepcopy(self._commands)

    @property
    def webhook(self) -> JSON | None:
        """The webhook as set (url, secret_token, ...) or None."""
        return dict(self._webhook) if self._webhook else None

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed (polling) or delivered (webhook)."""
        return list(self._pending)

    def redirect_webhook(self, url: str | None) -> None:
        """Deliver webhook updates to ``url`` (a local endpoint) whatever URL the bot set."""
        self._webhook_redirect = url
        self._updates_signal.notify()

    async def wait_idle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (the spec'd API)
        """Wait until every queued update was confirmed (polling) or delivered (webhook)."""
        try:
            await self._updates_signal.wait_for(lambda: not self._pending, timeout)
        except TimeoutError:
            raise AssertionError(
                f"{len(self._pending)} update(s) still pending after {timeout}s: "
                f"{[u['update_id'] for u in self._pending]}"
            ) from None

    async def wait_polling(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (as above)
        """Wait until the bot has a getUpdates long poll parked on the server."""
        try:
            await self._updates_signal.wait_for(lambda: self.active_polls > 0, timeout)
        except TimeoutError:
            raise AssertionError(f"The bot did not start a long poll within {timeout}s") from None

    @contextlib.asynccontextmanager
    async def polling(self, app: Any, *, poll_timeout: int = 1) -> AsyncIterator[Any]:
        """Run a PTB ``Application`` in polling mode against this server for a block.

        ``async with tg.polling(app): ...`` initialises and starts ``app``, starts its
        Updater with ``poll_interval=0``, waits until it is actually long-polling, and
        stops everything cleanly on exit.
        """
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=poll_timeout)
            try:
                await self.wait_polling()
                yield app
            finally:
                await app.updater.stop()
                await app.stop()

    def user(
        self,
        first_name: str = "Test",
        last_name: str | None = None,
        language_code: str | None = None,
        user_id: int | None = None,
        *,
        username: str | None = None,
        started: bool = True,
    ) -> TgUser:
        """A new user (and her private chat). ``started=False``: she never opened the bot,
        so the bot cannot write to her (403) until she sends something."""
        if user_id is None:
            while self._next_user_id in self._chats:
                self._next_user_id += 1
            user_id = self._next_user_id
            self._next_user_id += 1
        if user_id in self._chats:
            raise ValueError(f"Chat id {user_id} already exists")
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        tg_user = TgUser(self, user, started=started)
        self._chats[user_id] = tg_user
        return tg_user

    def group(
        self,
        title: str = "Test group",
        *,
        chat_id: int | None = None,
        chat_type: str = "supergroup",
        username: str | None = None,
    ) -> TgChat:
        """A new group chat the bot is a member of (supergroup ids look like -100...)."""
        if chat_id is None:
            base = -1001000000000 if chat_type == "supergroup" else -4000000000
            chat_id = base - self._next_group_seq
            self._next_group_seq += 1
        if chat_id in self._chats:
            raise ValueError(f"Chat id {chat_id} already exists")
        chat: JSON = {"id": chat_id, "title": title, "type": chat_type}
        if username:
            chat["username"] = username
        tg_chat = TgChat(self, chat)
        self._chats[chat_id] = tg_chat
        return tg_chat

    def chat(self, chat_id: int) -> TgChat:
        """The chat (TgUser for private chats) with this id."""
        try:
            return self._chats[chat_id]
        except KeyError:
            raise AssertionError(f"Unknown chat {chat_id}") from None

    def file_content(self, file_id: str) -> bytes:
        """Bytes of a file known to the server (sent by a user or uploaded by the bot)."""
        return self._files[file_id].data

    # ========================================================================================
    # HTTP layer
    # ========================================================================================
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return self._serve_file(path[len("/file/bot") :])
        if not path.startswith("/bot") or "/" not in path[4:]:
            return _json_response(ApiError(404, "Not Found").payload(), 404)
        token, _, method_name = path[4:].partition("/")
        try:
            params, uploads = await _read_params(request)
        except ValueError as exc:
            params, uploads = {}, {}
            error: ApiError | None = ApiError(400, f"Bad Request: {exc}")
        else:
            error = None
        method = self._methods.get(method_name.lower()) or _real_bot_api_methods().get(
            method_name.lower(), method_name
        )
        status = 200
        if error is None and token != self.token:
            error = ApiError(401, "Unauthorized")
        elif error is None and method_name.lower() in _real_bot_api_methods():
            if method_name.lower() not in self._methods:
                error = ApiError(
                    501,
                    f"Not Implemented: FakeTelegram does not implement "
                    f"{_real_bot_api_methods()[method_name.lower()]} yet; "
                    "add a _m_ method in tests/botapi/telegram.py",
                )
        elif error is None and method_name.lower() not in self._methods:
            error = ApiError(404, "Not Found")
        if error is None and self._injected.get(method_name.lower()):
            error = self._injected[method_name.lower()].pop(0)
        if error is None:
            try:
                outcome = await getattr(self, f"_m_{method}")(params, uploads)
            except ApiError as exc:
                error = exc
        if error is not None:
            status, response = error.status, error.payload()
        elif isinstance(outcome, _Described):
            response = {"ok": True, "result": outcome.result, "description": outcome.text}
        else:
            response = {"ok": True, "result": outcome}
        self.calls.append(
            ApiCall(
                method=method,
                params=params,
                files={k: u.data for k, u in uploads.items()},
                response=response,
                status=status,
                file_names={k: u.filename for k, u in uploads.items() if u.filename},
            )
        )
        return _json_response(response, status)

    def _serve_file(self, rest: str) -> web.StreamResponse:
        token, _, file_path = rest.partition("/")
        record = self._files_by_path.get(file_path)
        if token != self.token or record is None:
            return _json_response(ApiError(404, "Not Found").payload(), 404)
        return web.Response(body=record.data, content_type="application/octet-stream")

    # ========================================================================================
    # Updates: queue, long poll, webhook
    # ========================================================================================
    def _enqueue(self, body: JSON) -> JSON:
        self._update_id += 1
        update = {"update_id": self._update_id, **body}
        self._pending.append(update)
        self.updates.append(update)
        self._updates_signal.notify()
        return copy.deepcopy(update)

    def _allowed(self, update: JSON, allowed: list[str] | None) -> bool:
        kind = next(k for k in update if k != "update_id")
        if allowed:
            return kind in allowed
        return kind not in _ALL_UPDATE_TYPES_BY_DEFAULT_EXCLUDED

    def _drop_disallowed(self, allowed: list[str] | None) -> None:
        kept = [u for u in self._pending if self._allowed(u, allowed)]
        if len(kept) != len(self._pending):
            self._pending[:] = kept
            self._updates_signal.notify()

    def _confirm(self, offset: int) -> None:
        before = len(self._pending)
        if offset > 0:
            self._pending[:] = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending[:] = self._pending[offset:]
        if len(self._pending) != before:
            self._updates_signal.notify()

    def _webhook_target(self) -> str | None:
        if not self._webhook:
            return None
        url = self._webhook_redirect or self._webhook["url"]
        host = urlsplit(url).hostname or ""
        if host == "localhost":
            return url
        try:
            return url if ipaddress.ip_address(host).is_loopback else None
        except ValueError:
            return None

    def _webhook_ready(self) -> bool:
        return bool(self._pending) and self._webhook_target() is not None

    async def _webhook_worker(self) -> None:
        """Deliver queued updates one at a time, in order, like Telegram's webhook sender."""
        while True:
            await self._updates_signal.wait_for(
                lambda: self._closing or self._webhook_ready(), None
            )
            if self._closing:
                return
            assert self._webhook is not None
            self._drop_disallowed(self._webhook.get("allowed_updates"))
            if not self._pending:
                continue
            update = self._pending[0]
            update_id = update["update_id"]
            status = await self._post_update(self._webhook_target() or "", update)
            self.webhook_deliveries.append((update_id, status))
            if status is not None and 200 <= status < 300:
                self._webhook_attempts.pop(update_id, None)
                self._remove_pending(update_id)
                continue
            self._webhook_last_error = (_now(), f"Wrong response from the webhook: {status}")
            attempts = self._webhook_attempts.get(update_id, 0) + 1
            self._webhook_attempts[update_id] = attempts
            if attempts >= self.webhook_max_attempts:
                self._webhook_attempts.pop(update_id, None)
                self._remove_pending(update_id)
            else:
                await asyncio.sleep(self.webhook_retry_delay)

    def _remove_pending(self, update_id: int) -> None:
        self._pending[:] = [u for u in self._pending if u["update_id"] != update_id]
        self._updates_signal.notify()

    async def _post_update(self, url: str, update: JSON) -> int | None:
        assert self._session is not None and self._webhook is not None
        headers = {"Content-Type": "application/json"}
        if self._webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self._webhook["secret_token"]
        try:
            async with self._session.post(
                url,
                data=json.dumps(update).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                allow_redirects=False,
            ) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    # ========================================================================================
    # Building user-side updates
    # ========================================================================================
    def _user_message(
        self,
        user: TgUser,
        chat: TgChat | None,
        content: JSON,
        reply_to: BotMessage | int | None,
    ) -> JSON:
        where = chat or user
        if where.type == "private" and where is not user:
            raise AssertionError("A user can only write in her own private chat or a group")
        if where is user:
            if user.blocked:
                user.unblock()
            user.started = True
        message_id = where._allocate_id()
        message: JSON = {
            "message_id": message_id,
            "from": user.user,
            "chat": where.chat,
            "date": _now(),
        }
        if reply_to is not None:
            message["reply_to_message"] = _shallow_message(where._stored(reply_to).message)
        message.update(content)
        where._messages[message_id] = _Stored(
            message=message, by_bot=False, kind="user", raw_text=content.get("text")
        )
        return self._enqueue({"message": copy.deepcopy(message)})

    def _callback_query(self, user: TgUser, where: TgChat, stored: _Stored, data: str) -> JSON:
        self._callback_seq += 1
        query_id = str(4_310_000_000_000_000_000 + self.bot_user["id"] * 1000 + self._callback_seq)
        self._callbacks[query_id] = (user, False)
        return self._enqueue(
            {
                "callback_query": {
                    "id": query_id,
                    "from": user.user,
                    "message": copy.deepcopy(stored.message),
                    "chat_instance": str(-(6_000_000_000_000_000_000 + abs(where.id))),
                    "data": data,
                }
            }
        )

    def _my_chat_member(self, user: TgUser, old: str, new: str) -> None:
        bot_from = self._bot_from()
        new_member: JSON = {"user": bot_from, "status": new}
        if new == "kicked":
            new_member["until_date"] = 0
        self._enqueue(
            {
                "my_chat_member": {
                    "chat": user.chat,
                    "from": user.user,
                    "date": _now(),
                    "old_chat_member": {"user": bot_from, "status": old},
                    "new_chat_member": new_member,
                }
            }
        )

    # ========================================================================================
    # Files
    # ========================================================================================
    def _register_file(
        self, data: bytes, kind: str, file_name: str | None = None, mime_type: str | None = None
    ) -> _File:
        self._file_seq += 1
        seq = self._file_seq
        ext = (mimetypes.guess_extension(mime_type or "") or "") if kind == "document" else ".jpg"
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        prefix = "AgACAgUAAxkBAAI" if kind == "photo" else "BQACAgUAAxkBAAI"
        record = _File(
            file_id=f"{prefix}{seq:06d}{seq * 7919 % 10**12:012d}",
            file_unique_id=f"AQAD{seq:08d}",
            file_path=f"{'photos' if kind == 'photo' else 'documents'}/file_{seq}{ext}",
            data=data,
            kind=kind,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[record.file_id] = record
        self._files_by_path[record.file_path] = record
        return record

    def _register_photo(self, data: bytes, width: int, height: int) -> list[JSON]:
        sizes = []
        longest = max(width, height)
        for side in (90, 320, 800):
            if side < longest:
                sizes.append((round(width * side / longest), round(height * side / longest)))
        sizes.append((width, height))
        result = []
        for w, h in sizes:
            record = self._register_file(data, "photo")
            result.append(
                {
                    "file_id": record.file_id,
                    "file_unique_id": record.file_unique_id,
                    "file_size": len(data),
                    "width": w,
                    "height": h,
                }
            )
        return result

    @staticmethod
    def _document_json(record: _File) -> JSON:
        doc: JSON = {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": len(record.data),
        }
        if record.file_name:
            doc["file_name"] = record.file_name
        if record.mime_type:
            doc["mime_type"] = record.mime_type
        return doc

    def _input_file(
        self, params: JSON, uploads: dict[str, _Upload], name: str, kind: str
    ) -> tuple[_File, bool]:
        """Resolve the ``name`` parameter: an upload, ``attach://x``, a file_id or a URL."""
        value = params.get(name)
        upload = uploads.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value[len("attach://") :])
        if upload is not None:
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            return self._register_file(upload.data, kind, upload.filename, mime), True
        if not value:
            raise ApiError(400, f"Bad Request: there is no {name} in the request")
        value = str(value)
        if value.startswith(("http://", "https://")):
            file_name = urlsplit(value).path.rsplit("/", 1)[-1] or None
            return self._register_file(b"", kind, file_name, None), True
        record = self._files.get(value)
        if record is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if record.kind != kind:
            raise ApiError(
                400,
                f"Bad Request: can't use file of type {record.kind.capitalize()} "
                f"as {kind.capitalize()}",
            )
        return record, False

    # ========================================================================================
    # Validation helpers shared by the methods
    # ========================================================================================
    def _bot_from(self) -> JSON:
        return {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}

    def _chat_for(self, params: JSON) -> TgChat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, ERR_CHAT_ID_EMPTY)
        if isinstance(raw, str):
            if raw.startswith("@"):
                for chat in self._chats.values():
                    if chat._chat.get("username", "").lower() == raw[1:].lower():
                        return chat
                raise ApiError(400, ERR_CHAT_NOT_FOUND)
            try:
                raw = int(raw)
            except ValueError:
                raise ApiError(400, ERR_CHAT_NOT_FOUND) from None
        chat = self._chats.get(raw) if isinstance(raw, int) else None
        if chat is None:
            raise ApiError(400, ERR_CHAT_NOT_FOUND)
        return chat

    @staticmethod
    def _check_reachable(chat: TgChat) -> None:
        if isinstance(chat, TgUser):
            if chat.blocked:
                raise ApiError(403, ERR_BLOCKED)
            if not chat.started:
                raise ApiError(403, ERR_NOT_STARTED)
        elif chat.blocked:
            kind = "supergroup" if chat.type == "supergroup" else chat.type
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")

    def _parse(self, text: str, params: JSON, entities_key: str) -> tuple[str, list[JSON]]:
        entities = params.get(entities_key)
        if entities is not None and not isinstance(entities, list):
            raise ApiError(400, f"Bad Request: can't parse {entities_key} JSON object")
        try:
            plain, parsed = parse_text(text, params.get("parse_mode"), entities)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        except ValueError:
            raise ApiError(
                400, f'Bad Request: unsupported parse_mode "{params.get("parse_mode")}"'
            ) from None
        for entity in parsed:
            known = self._chats.get(entity.get("user", {}).get("id"))
            if entity["type"] == "text_mention" and isinstance(known, TgUser):
                entity["user"] = known.user
        return plain, parsed

    def _text(self, params: JSON) -> tuple[str, list[JSON]]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, ERR_TEXT_EMPTY)
        plain, entities = self._parse(text, params, "entities")
        if not plain:
            raise ApiError(400, ERR_TEXT_EMPTY)
        if len(plain) > MAX_TEXT_LENGTH:
            raise ApiError(400, ERR_TEXT_TOO_LONG)
        return plain, entities

    def _caption(self, params: JSON) -> tuple[str, list[JSON]] | None:
        caption = params.get("caption")
        if caption is None or caption == "":
            return None
        plain, entities = self._parse(str(caption), params, "caption_entities")
        if len(plain) > MAX_CAPTION_LENGTH:
            raise ApiError(400, ERR_CAPTION_TOO_LONG)
        return (plain, entities) if plain else None

    @staticmethod
    def _markup(params: JSON, *, inline_only: bool = False) -> JSON | None:
        markup = params.get("reply_markup")
        if markup is None or markup == "":
            return None
        if isinstance(markup, str):
            try:
                markup = json.loads(markup)
            except ValueError:
                raise ApiError(400, ERR_BAD_MARKUP) from None
        if not isinstance(markup, dict):
            raise ApiError(400, ERR_BAD_MARKUP)
        if "inline_keyboard" in markup:
            _check_inline_keyboard(markup["inline_keyboard"])
        elif inline_only:
            raise ApiError(400, "Bad Request: inline keyboard expected")
        elif "keyboard" in markup:
            rows = markup["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise ApiError(
                    400,
                    'Bad Request: field "keyboard" of the ReplyKeyboardMarkup should be '
                    "an Array of Arrays",
                )
            for row in rows:
                for button in row:
                    text = button if isinstance(button, str) else (button or {}).get("text")
                    if not isinstance(text, str) or not text:
                        raise ApiError(400, "Bad Request: keyboard button text must be non-empty")
        elif markup.get("remove_keyboard") is not True and markup.get("force_reply") is not True:
            raise ApiError(400, ERR_BAD_MARKUP)
        return markup

    @staticmethod
    def _reply_to(chat: TgChat, params: JSON) -> _Stored | None:
        reply = params.get("reply_parameters")
        message_id = params.get("reply_to_message_id")
        allow_missing = bool(params.get("allow_sending_without_reply"))
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
            if reply.get("chat_id") not in (None, chat.id):
                return None  # cross-chat replies: accepted, not modelled
        if message_id in (None, ""):
            return None
        stored = chat._messages.get(int(message_id))
        if stored is None or stored.deleted:
            if allow_missing:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return stored

    def _new_bot_message(
        self,
        chat: TgChat,
        content: JSON,
        *,
        kind: str,
        params: JSON,
        markup: JSON | None,
        reply_to: _Stored | None,
        raw_text: str | None,
        attachment: tuple[str | None, bytes] | None = None,
    ) -> _Stored:
        message: JSON = {
            "message_id": chat._allocate_id(),
            "from": self._bot_from(),
            "chat": chat.chat,
            "date": _now(),
        }
        if reply_to is not None:
            message["reply_to_message"] = _shallow_message(reply_to.message)
        message.update(content)
        if markup and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        stored = _Stored(
            message=message,
            by_bot=True,
            kind=kind,
            raw_text=raw_text,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup,
            attachment_name=attachment[0] if attachment else None,
            attachment=attachment[1] if attachment else None,
        )
        chat._messages[message["message_id"]] = stored
        return stored

    def _snapshot(
        self,
        chat: TgChat,
        stored: _Stored,
        method: str,
        params: JSON,
        uploads: dict[str, _Upload],
    ) -> BotMessage:
        return BotMessage(
            method=method,
            chat_id=chat.id,
            message_id=stored.message["message_id"],
            text=stored.raw_text,
            parse_mode=stored.parse_mode,
            reply_markup=copy.deepcopy(stored.reply_markup),
            params=params,
            files={k: u.data for k, u in uploads.items()},
            message=copy.deepcopy(stored.message),
            attachment_name=stored.attachment_name,
            attachment=stored.attachment,
        )

    def _output(
        self,
        chat: TgChat,
        stored: _Stored,
        method: str,
        params: JSON,
        uploads: dict[str, _Upload],
    ) -> JSON:
        chat._outputs.append(self._snapshot(chat, stored, method, params, uploads))
        chat._signal.notify()
        return copy.deepcopy(stored.message)

    def _editable(self, params: JSON) -> tuple[TgChat, _Stored]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat = self._chat_for(params)
        try:
            message_id = int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: message identifier is not specified") from None
        stored = chat._messages.get(message_id)
        if stored is None or stored.deleted:
            raise ApiError(400, ERR_EDIT_NOT_FOUND)
        if not stored.by_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat, stored

    # ========================================================================================
    # Bot API methods. Each gets (params, uploads) and returns the result or raises ApiError.
    # ========================================================================================
    async def _m_getMe(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        return dict(self.bot_user)

    async def _m_logOut(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        return True

    async def _m_close(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        return True

    async def _m_getUpdates(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        if self._webhook:
            raise ApiError(409, ERR_WEBHOOK_ACTIVE)
        offset = _as_int(params.get("offset"), 0)
        limit = min(max(_as_int(params.get("limit"), 100), 1), 100)
        timeout = max(_as_float(params.get("timeout"), 0.0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        self._confirm(offset)

        def ready() -> bool:
            self._drop_disallowed(self._allowed_updates)
            return self._closing or bool(self._webhook) or bool(self._pending)

        if not ready() and timeout > 0:
            self.active_polls += 1
            self._updates_signal.notify()
            try:
                with contextlib.suppress(TimeoutError):
                    await self._updates_signal.wait_for(ready, timeout)
            finally:
                self.active_polls -= 1
        if self._webhook:
            raise ApiError(409, ERR_WEBHOOK_ACTIVE)
        return copy.deepcopy(self._pending[:limit])

    async def _m_setWebhook(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        url = str(params.get("url") or "")
        if not url:
            return await self._m_deleteWebhook(params, uploads)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed]
        new = {
            "url": url,
            "secret_token": str(secret) if secret else None,
            "max_connections": _as_int(params.get("max_connections"), 40),
            "allowed_updates": self._allowed_updates,
            "ip_address": params.get("ip_address"),
            "has_custom_certificate": "certificate" in uploads,
        }
        already = self._webhook == new
        self._webhook = new
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self._updates_signal.notify()
        return _Described(True, "Webhook is already set" if already else "Webhook was set")

    async def _m_deleteWebhook(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        had = self._webhook is not None
        self._webhook = None
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self._updates_signal.notify()
        return _Described(True, "Webhook was deleted" if had else "Webhook is already deleted")

    async def _m_getWebhookInfo(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        hook = self._webhook or {}
        info: JSON = {
            "url": hook.get("url", ""),
            "has_custom_certificate": bool(hook.get("has_custom_certificate")),
            "pending_update_count": len(self._pending),
        }
        if hook:
            info["max_connections"] = hook["max_connections"]
            if hook.get("ip_address"):
                info["ip_address"] = hook["ip_address"]
            if hook.get("allowed_updates"):
                info["allowed_updates"] = hook["allowed_updates"]
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
            if self._webhook_target() is None:
                info["last_error_message"] = (
                    "FakeTelegram delivers only to loopback URLs; use redirect_webhook()"
                )
                info.setdefault("last_error_date", _now())
        return info

    async def _m_sendMessage(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_for(params)
        plain, entities = self._text(params)
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        self._check_reachable(chat)
        content: JSON = {"text": plain}
        if entities:
            content["entities"] = entities
        stored = self._new_bot_message(
            chat, content, kind="text", params=params, markup=markup, reply_to=reply_to,
            raw_text=params["text"],
        )  # fmt: skip
        return self._output(chat, stored, "sendMessage", params, uploads)

    async def _m_sendPhoto(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_for(params)
        caption = self._caption(params)
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        record, _ = self._input_file(params, uploads, "photo", "photo")
        self._check_reachable(chat)
        sizes = self._register_photo(record.data, 800, 600)
        content: JSON = {"photo": sizes}
        _add_caption(content, caption)
        stored = self._new_bot_message(
            chat, content, kind="photo", params=params, markup=markup, reply_to=reply_to,
            raw_text=params.get("caption") or None, attachment=(None, record.data),
        )  # fmt: skip
        return self._output(chat, stored, "sendPhoto", params, uploads)

    async def _m_sendDocument(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_for(params)
        caption = self._caption(params)
        markup = self._markup(params)
        reply_to = self._reply_to(chat, params)
        record, _ = self._input_file(params, uploads, "document", "document")
        self._check_reachable(chat)
        content: JSON = {"document": self._document_json(record)}
        _add_caption(content, caption)
        stored = self._new_bot_message(
            chat, content, kind="document", params=params, markup=markup, reply_to=reply_to,
            raw_text=params.get("caption") or None,
            attachment=(record.file_name, record.data),
        )  # fmt: skip
        return self._output(chat, stored, "sendDocument", params, uploads)

    async def _m_editMessageText(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat, stored = self._editable(params)
        if stored.kind != "text":
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        plain, entities = self._text(params)
        markup = self._markup(params, inline_only=True)
        if (plain, entities, markup) == (*stored.content_key, stored.inline_markup):
            raise ApiError(400, ERR_NOT_MODIFIED)
        self._check_reachable(chat)
        message = stored.message
        message["text"] = plain
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        _set_inline_markup(stored, markup)
        message["edit_date"] = _now()
        stored.raw_text = params["text"]
        stored.parse_mode = params.get("parse_mode")
        return self._output(chat, stored, "editMessageText", params, uploads)

    async def _m_editMessageCaption(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat, stored = self._editable(params)
        if stored.kind == "text":
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = self._caption(params)
        markup = self._markup(params, inline_only=True)
        new_key = (caption[0], caption[1]) if caption else (None, [])
        if (*new_key, markup) == (*stored.content_key, stored.inline_markup):
            raise ApiError(400, ERR_NOT_MODIFIED)
        self._check_reachable(chat)
        stored.message.pop("caption", None)
        stored.message.pop("caption_entities", None)
        _add_caption(stored.message, caption)
        _set_inline_markup(stored, markup)
        stored.message["edit_date"] = _now()
        stored.raw_text = params.get("caption") or None
        stored.parse_mode = params.get("parse_mode")
        return self._output(chat, stored, "editMessageCaption", params, uploads)

    async def _m_editMessageReplyMarkup(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat, stored = self._editable(params)
        markup = self._markup(params, inline_only=True)
        if markup == stored.inline_markup:
            raise ApiError(400, ERR_NOT_MODIFIED)
        self._check_reachable(chat)
        _set_inline_markup(stored, markup)
        stored.message["edit_date"] = _now()
        return self._output(chat, stored, "editMessageReplyMarkup", params, uploads)

    async def _m_deleteMessage(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_for(params)
        stored = chat._messages.get(_as_int(params.get("message_id"), 0))
        if stored is None or stored.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        stored.deleted = True
        return True

    async def _m_answerCallbackQuery(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        entry = self._callbacks.get(query_id)
        if entry is None or entry[1]:
            raise ApiError(400, ERR_QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        user = entry[0]
        self._callbacks[query_id] = (user, True)
        user._answers.append(
            {
                "callback_query_id": query_id,
                "text": text,
                "show_alert": bool(params.get("show_alert", False)),
                "url": params.get("url"),
                "cache_time": params.get("cache_time"),
            }
        )
        user._signal.notify()
        return True

    async def _m_sendChatAction(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        chat = self._chat_for(params)
        action = params.get("action")
        if action not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self._check_reachable(chat)
        chat.actions.append(action)
        return True

    async def _m_setMyCommands(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        cleaned = []
        for item in commands:
            if not isinstance(item, dict) or "command" not in item:
                raise ApiError(
                    400, "Bad Request: can't parse BotCommand: Can't find field \"command\""
                )
            if "description" not in item:
                raise ApiError(
                    400, "Bad Request: can't parse BotCommand: Can't find field \"description\""
                )
            name = str(item["command"])
            if not _BOT_COMMAND_NAME_RE.fullmatch(name):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            description = str(item["description"])
            if not 1 <= len(description.strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        if cleaned:
            self._commands[key] = cleaned
        else:
            self._commands.pop(key, None)
        return True

    async def _m_getMyCommands(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        return [dict(c) for c in self._commands.get(key, [])]

    async def _m_deleteMyCommands(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        key = (_scope_key(params.get("scope")), str(params.get("language_code") or ""))
        self._commands.pop(key, None)
        return True

    async def _m_getFile(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        record = self._files.get(str(params.get("file_id") or ""))
        if record is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": len(record.data),
            "file_path": record.file_path,
        }

    # Harmless setters a bot may call at start-up: accepted and recorded in ``calls``.
    async def _m_setMyDescription(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        return True

    async def _m_setMyShortDescription(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        return True

    async def _m_setMyName(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        return True

    async def _m_setChatMenuButton(self, params: JSON, uploads: dict[str, _Upload]) -> Any:
        return True


@dataclass
class _Described:
    """A successful result that also carries a ``description`` (setWebhook does this)."""

    result: Any
    text: str


@functools.cache
def _real_bot_api_methods() -> dict[str, str]:
    """lower-case name -> name of every Bot API method PTB knows (its camelCase aliases)."""
    import telegram

    return {
        name.lower(): name
        for name in dir(telegram.Bot)
        if re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+", name)
    }


def _add_caption(content: JSON, caption: tuple[str, list[JSON]] | None) -> None:
    if caption:
        content["caption"] = caption[0]
        if caption[1]:
            content["caption_entities"] = caption[1]


def _set_inline_markup(stored: _Stored, markup: JSON | None) -> None:
    """Telegram semantics: an edit without reply_markup removes the inline keyboard."""
    stored.message.pop("reply_markup", None)
    if markup:
        stored.message["reply_markup"] = markup
    stored.reply_markup = markup


def _shallow_message(message: JSON) -> JSON:
    return {k: copy.deepcopy(v) for k, v in message.items() if k != "reply_to_message"}


def _check_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError(
            400,
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an '
            "Array of Arrays",
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise ApiError(
                    400, "Bad Request: can't parse inline keyboard button: Text is not specified"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                size = len(str(data).encode("utf-8"))
                if not isinstance(data, str) or not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise ApiError(400, ERR_BUTTON_DATA)
            elif "url" in button:
                if not str(button["url"]).strip():
                    raise ApiError(400, "Bad Request: BUTTON_URL_INVALID")
            elif not any(k in button for k in _INLINE_BUTTON_ACTIONS):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )


def _scope_key(scope: Any) -> str:
    """Canonical JSON of a BotCommandScope (dict, JSON string, PTB object or None)."""
    if scope is None or scope == "":
        scope = {"type": "default"}
    elif isinstance(scope, str):
        scope = json.loads(scope)
    elif hasattr(scope, "to_dict"):
        scope = scope.to_dict()
    scope = dict(scope)
    for key in ("chat_id", "user_id"):
        value = scope.get(key)
        if isinstance(value, str) and value.lstrip("-").isdigit():
            scope[key] = int(value)
    return json.dumps(scope, sort_keys=True, ensure_ascii=False)


def _as_int(value: Any, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f'Bad Request: wrong integer value "{value}"') from None


def _as_float(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f'Bad Request: wrong number value "{value}"') from None


def _decode_value(key: str, value: Any) -> Any:
    """Turn one form value (always a string) into what the Bot API means by it."""
    if not isinstance(value, str):
        return value
    if key in _JSON_PARAMS or value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if key in _INT_PARAMS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if key in _FLOAT_PARAMS and re.fullmatch(r"-?\d+(\.\d+)?", value):
        number = float(value)
        return int(number) if number.is_integer() else number
    if key in _BOOL_PARAMS and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    return value


async def _read_params(request: web.Request) -> tuple[JSON, dict[str, _Upload]]:
    """Parameters from query string + body (form, multipart or JSON), decoded."""
    raw: JSON = dict(request.query)
    uploads: dict[str, _Upload] = {}
    if request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise ValueError("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise ValueError("can't parse JSON object")
            raw.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = _Upload(
                        name=key,
                        filename=value.filename,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                else:
                    raw[key] = value
        else:
            await request.read()
    return {key: _decode_value(key, value) for key, value in raw.items()}, uploads


def _json_response(payload: JSON, status: int) -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )
