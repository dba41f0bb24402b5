"""Zalo, spoken through python-telegram-bot: the same handlers serve both channels.

The Zalo Application is an ordinary python-telegram-bot Application whose bot talks through
`ZaloRequest`, a `telegram.request.BaseRequest` (the library's networking extension point).
Every Bot API call the handlers make arrives here and is translated into Zalo calls
(`ZaloBridge.call`); every Zalo event is translated into a Telegram-shaped update
(`ZaloBridge.to_update`). Handlers cannot tell the two channels apart.

What changes on the way (Zalo has plain text only: no buttons, no edits, no formatting):

* An inline keyboard becomes a numbered list under the text. The person answers with the
  number, or with the option's words typed in any case and without diacritics; that answer
  becomes the tap of that button (a callback query). A number out of range, or words that
  match several options, get "please answer with a number from 1 to N" and the list again;
  words that match nothing go to the flow as typed text when the flow takes text there (a
  search) or when other messages have followed the list, and get the same hint otherwise.
  Lists longer than a page end with "0. More".
* A reply keyboard's buttons become a numbered list of suggested replies (the answer is sent
  as the button's text); a contact-request button becomes "type your phone number".
* A message edit becomes a new message. Closing a question (an edit that removes its buttons
  and appends what was chosen) sends only what was appended.
* HTML becomes plain text; a long text is split at a paragraph, line or sentence boundary
  under Zalo's 2,000 characters, never inside a word.
* Zalo's string ids become stable integers (models/channels.py); a person's first message
  becomes /start, since Zalo has no Start button.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from bot.database import SessionFactory
from bot.i18n import Translator
from bot.zalo_api import (
    EVENT_IMAGE,
    EVENT_STICKER,
    EVENT_TEXT,
    TEXT_MAX_CHARS,
    ZaloClient,
    ZaloError,
    ZaloEvent,
    ZaloRateLimited,
    ZaloUnavailable,
)
from models.base import fold
from models.channels import (
    Menu,
    drop_menu,
    first_delivery,
    forget_old_events,
    get_menu,
    int_id_for,
    save_menu,
    zalo_id_for,
)
from models.members import Channel, get_identity

log = logging.getLogger(__name__)

MENU_PAGE_SIZE = 9
_NUMBER = re.compile(r"^\s*(\d{1,3})\s*[.)]?\s*$")
_WORDS = re.compile(r"[^\w]+")
# Seen-event rows older than a few days are pruned every this many events.
_PRUNE_EVERY = 1000

INLINE, REPLY = "inline", "reply"

JSON = dict[str, Any]


class ChatUnknown(Exception):
    """A chat id that no Zalo person ever had."""


# --- text ----------------------------------------------------------------------------------


class _PlainText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[tuple[str | None, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._links.append((dict(attrs).get("href"), len(self.parts)))
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._links:
            href, start = self._links.pop()
            label = "".join(self.parts[start:]).strip()
            if href and href != label and not href.startswith("tg://"):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def to_plain(text: str, parse_mode: object = None) -> str:
    """What a Telegram HTML message reads as in plain text (links keep their address)."""
    if str(parse_mode or "").upper() != "HTML":
        return text
    parser = _PlainText()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


# Where a long text may be cut, best first; within a group, the latest of its marks wins.
_BOUNDARIES = (("\n\n",), ("\n",), (". ", "! ", "? ", "… "), ("; ", ", "))
_SPACE = re.compile(r"\s")


def _cut_at(window: str) -> int:
    """Where to cut `window` (its text up to the limit, plus one character): after the latest
    paragraph, line, sentence or clause end, else at the latest space, else nowhere (0)."""
    for marks in _BOUNDARIES:
        cut = max(window.rfind(mark) for mark in marks)
        if cut > 0:
            return cut + len(marks[0].rstrip(" "))
    spaces = [m.start() for m in _SPACE.finditer(window)]
    return spaces[-1] if spaces and spaces[-1] > 0 else 0


def split_text(text: str, limit: int = TEXT_MAX_CHARS) -> list[str]:
    """`text` in parts of at most `limit` characters, cut at the latest paragraph, line,
    sentence or word boundary; a single word longer than `limit` is the only thing cut."""
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_at(rest[: limit + 1]) or limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _words(text: str) -> str:
    return " ".join(_WORDS.sub(" ", fold(text)).split())


def match_option(options: list[tuple[str, str | None]], answer: str) -> list[int]:
    """Indexes of the options `answer` names: the one whose words equal it, else those that
    contain it as whole words."""
    wanted = _words(answer)
    if not wanted:
        return []
    labels = [_words(label) for label, _ in options]
    exact = [i for i, label in enumerate(labels) if label == wanted]
    if exact:
        return exact
    if len(wanted) < 2:
        return []
    return [i for i, label in enumerate(labels) if f" {wanted} " in f" {label} "]


# --- the bridge ----------------------------------------------------------------------------


class ZaloBridge:
    """Translates Bot API calls into Zalo calls, and Zalo events into Bot API updates."""

    def __init__(
        self,
        client: ZaloClient,
        sessions: SessionFactory,
        translator: Translator,
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.translator = translator
        # Set by bot.app once the Application exists: would the handlers take this text update
        # as an answer (a search, a name), or only a choice from the list?
        self.accepts_text: Callable[[Update], bool] = lambda _update: True
        self.bot: Any = None
        self._me: JSON | None = None
        now = time.time_ns() // 1000
        self._message_ids = itertools.count(now)
        self._update_ids = itertools.count(now)
        self._to_int: dict[str, int] = {}
        self._to_zalo: dict[int, str] = {}
        # The last message sent to each chat: a list followed by other messages no longer
        # claims every typed word (numbers still answer it).
        self._last_sent: dict[int, int] = {}
        self._events = 0

    # --- ids and small lookups -----------------------------------------------------------------

    async def _zalo_chat(self, chat_id: object) -> str:
        try:
            number = int(chat_id)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise ChatUnknown from None
        if number not in self._to_zalo:
            async with self.sessions() as session:
                zalo_id = await zalo_id_for(session, number)
            if zalo_id is None:
                raise ChatUnknown
            self._to_zalo[number] = zalo_id
        return self._to_zalo[number]

    async def _int_id(self, session: Any, zalo_id: str) -> tuple[int, bool]:
        if zalo_id in self._to_int:
            return self._to_int[zalo_id], False
        number, created = await int_id_for(session, zalo_id)
        self._to_int[zalo_id] = number
        self._to_zalo[number] = zalo_id
        return number, created

    async def _locale(self, chat: int) -> str | None:
        async with self.sessions() as session:
            identity = await get_identity(session, channel=Channel.ZALO, external_id=str(chat))
        return identity.locale if identity is not None else None

    def _t(self, locale: str | None, key: str, **params: object) -> str:
        return to_plain(self.translator.t(locale, key, **params), "HTML")

    # --- outgoing: Bot API calls -----------------------------------------------------------------

    async def call(self, method: str, params: JSON) -> tuple[int, JSON]:
        """One Bot API call, answered as the Bot API would (status, body)."""
        handler = getattr(self, f"_bot_{method}", None)
        if handler is None:
            return _failure(400, f"Bad Request: {method} is not available on Zalo")
        try:
            result = await handler(params)
        except ChatUnknown:
            return _failure(400, "Bad Request: chat not found")
        except ZaloRateLimited as error:
            return _failure(429, "Too Many Requests", retry_after=error.retry_after)
        except ZaloUnavailable as error:
            return _failure(502, f"Zalo is unavailable: {error.description}")
        except ZaloError as error:
            status = error.code if error.code in (401, 403, 404) else 400
            if method == "getMe" and status == 404:
                status = 401
            return _failure(status, error.description or "Zalo refused the call")
        return 200, {"ok": True, "result": result}

    def _message(self, chat: int, message_id: int, text: str | None = None) -> JSON:
        message: JSON = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
        }
        if self._me is not None:
            message["from"] = self._me
        if text:
            message["text"] = text
        return message

    async def _deliver(self, chat: int, text: str, message_id: int | None = None) -> int:
        """Sends `text` (in parts when long) as the message `message_id` (a new one by
        default); returns that id."""
        zalo_chat = await self._zalo_chat(chat)
        message_id = next(self._message_ids) if message_id is None else message_id
        self._last_sent[chat] = message_id
        for part in split_text(text) or ["…"]:
            await self.client.send_message(zalo_chat, part)
        return message_id

    def _render(self, menu: Menu, locale: str | None, *, with_text: bool = True) -> str:
        start = menu.page * MENU_PAGE_SIZE
        shown = menu.options[start : start + MENU_PAGE_SIZE]
        lines = [f"{number}. {label}" for number, (label, _) in enumerate(shown, start + 1)]
        if len(menu.options) > MENU_PAGE_SIZE:
            last_page = start + MENU_PAGE_SIZE >= len(menu.options)
            more = self._t(locale, "zalo.first_page" if last_page else "zalo.more")
            lines.append(f"0. {more}")
        listing = "\n".join(lines)
        return f"{menu.text}\n\n{listing}" if with_text and menu.text else listing

    def _menu_from_markup(
        self, text: str, markup: object, locale: str | None
    ) -> tuple[str, Menu | None, bool]:
        """The text to send (links and hints added), the menu it carries, and whether it removes
        a reply keyboard."""
        if isinstance(markup, str):
            markup = json.loads(markup)
        if not isinstance(markup, dict):
            return text, None, False
        extra: list[str] = []
        if "inline_keyboard" in markup:
            options: list[tuple[str, str | None]] = []
            for row in markup["inline_keyboard"]:
                for button in row:
                    if button.get("callback_data") is not None:
                        options.append((button["text"], button["callback_data"]))
                    elif button.get("url"):
                        extra.append(f"{button['text']}: {button['url']}")
            text = "\n".join([text, "", *extra]) if extra else text
            return text, (Menu(0, INLINE, text, options) if options else None), False
        if "keyboard" in markup:
            options = []
            for row in markup["keyboard"]:
                for button in row:
                    label = button if isinstance(button, str) else button.get("text", "")
                    if isinstance(button, dict) and button.get("request_contact"):
                        extra.append(self._t(locale, "zalo.type_phone"))
                    elif label:
                        options.append((label, None))
            text = "\n".join([text, "", *extra]) if extra else text
            return text, (Menu(0, REPLY, text, options) if options else None), False
        return text, None, bool(markup.get("remove_keyboard"))

    async def _send(self, chat: int, text: str, markup: object) -> JSON:
        if not markup:  # most messages: nothing to render or remember
            return self._message(chat, await self._deliver(chat, text), text)
        locale = await self._locale(chat)
        text, menu, removes = self._menu_from_markup(text, markup, locale)
        body = self._render(menu, locale) if menu is not None else text
        message_id = next(self._message_ids)
        # The list is stored before it is sent (as conversation states are): whoever reads it
        # may answer at once, and the answer must find this list, not the one before.
        async with self.sessions() as session:
            previous = await get_menu(session, chat)
            if menu is not None:
                menu.message_id = message_id
                await save_menu(session, chat, menu)
            elif removes and previous is not None and previous.kind == REPLY:
                await drop_menu(session, chat)
            await session.commit()
        try:
            await self._deliver(chat, body, message_id)
        except Exception:
            if menu is not None:  # never shown: the list before it still stands
                async with self.sessions() as session:
                    if previous is not None:
                        await save_menu(session, chat, previous)
                    else:
                        await drop_menu(session, chat)
                    await session.commit()
            raise
        return self._message(chat, message_id, text)

    async def _bot_getMe(self, _params: JSON) -> JSON:
        me = await self.client.get_me()
        async with self.sessions() as session:
            number, _ = await self._int_id(session, str(me.get("id")))
            await session.commit()
        name = str(me.get("display_name") or me.get("name") or me.get("account_name") or "Bot")
        self._me = {
            "id": number,
            "is_bot": True,
            "first_name": name,
            "username": str(me.get("account_name") or name),
            "can_join_groups": bool(me.get("can_join_groups", False)),
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        return self._me

    async def _bot_sendMessage(self, params: JSON) -> JSON:
        text = to_plain(str(params.get("text", "")), params.get("parse_mode"))
        return await self._send(int(params["chat_id"]), text, params.get("reply_markup"))

    async def _edit(self, params: JSON, text: str | None) -> JSON:
        chat = int(params["chat_id"])
        message_id = int(params.get("message_id", 0))
        markup = params.get("reply_markup")
        async with self.sessions() as session:
            current = await get_menu(session, chat)
        if current is not None and current.message_id != message_id:
            current = None
        if text is None:  # only the buttons change: show the same question with the new list
            text = current.text if current is not None else ""
        if markup and "inline_keyboard" in (json.loads(markup) if isinstance(markup, str)
                                             else markup):
            return await self._send(chat, text, markup)
        # The buttons go away: the question is closed. Say only what was added to it.
        if current is not None:
            async with self.sessions() as session:
                await drop_menu(session, chat)
                await session.commit()
            if text.startswith(current.text):
                text = text[len(current.text) :].strip()
        if text:
            message_id = await self._deliver(chat, text)
        return self._message(chat, message_id, text)

    async def _bot_editMessageText(self, params: JSON) -> JSON:
        if "chat_id" not in params:
            return True  # type: ignore[return-value]  # an inline message: none on Zalo
        text = to_plain(str(params.get("text", "")), params.get("parse_mode"))
        return await self._edit(params, text)

    async def _bot_editMessageReplyMarkup(self, params: JSON) -> JSON:
        if "chat_id" not in params:
            return True  # type: ignore[return-value]
        return await self._edit(params, None)

    async def _bot_editMessageCaption(self, params: JSON) -> JSON:
        if "chat_id" not in params:
            return True  # type: ignore[return-value]
        text = to_plain(str(params.get("caption", "")), params.get("parse_mode"))
        return await self._edit(params, text)

    async def _bot_deleteMessage(self, params: JSON) -> bool:
        """Zalo cannot delete a sent message; the list it carried stops taking answers."""
        chat, message_id = int(params["chat_id"]), int(params["message_id"])
        async with self.sessions() as session:
            current = await get_menu(session, chat)
            if current is not None and current.message_id == message_id:
                await drop_menu(session, chat)
                await session.commit()
        return True

    async def _bot_answerCallbackQuery(self, params: JSON) -> bool:
        text = params.get("text")
        if text:
            chat = int(str(params["callback_query_id"]).split("-", 1)[0])
            await self._deliver(chat, to_plain(str(text), "HTML"))
        return True

    async def _bot_sendPhoto(self, params: JSON) -> JSON:
        chat = int(params["chat_id"])
        photo = params.get("photo")
        caption = to_plain(str(params.get("caption") or ""), params.get("parse_mode"))
        if not isinstance(photo, str) or photo.startswith("attach://"):
            raise ZaloError("sendPhoto", 400, "Zalo needs a public URL for a photo")
        short_caption = caption if len(caption) <= TEXT_MAX_CHARS else None
        await self.client.send_photo(await self._zalo_chat(chat), photo, short_caption)
        if caption and short_caption is None:
            await self._deliver(chat, caption)
        return self._message(chat, next(self._message_ids))

    async def _bot_sendDocument(self, params: JSON) -> JSON:
        """A document goes as a link (Zalo bots cannot send files)."""
        document = params.get("document")
        if not isinstance(document, str) or document.startswith("attach://"):
            raise ZaloError("sendDocument", 400, "Zalo needs a public URL for a document")
        caption = to_plain(str(params.get("caption") or ""), params.get("parse_mode"))
        return await self._send(int(params["chat_id"]), f"{caption}\n📎 {document}".strip(), None)

    async def _bot_sendSticker(self, params: JSON) -> JSON:
        chat = int(params["chat_id"])
        await self.client.send_sticker(await self._zalo_chat(chat), str(params.get("sticker")))
        return self._message(chat, next(self._message_ids))

    async def _bot_sendChatAction(self, params: JSON) -> bool:
        chat = await self._zalo_chat(params["chat_id"])
        await self.client.send_chat_action(chat, str(params.get("action", "typing")))
        return True

    async def _bot_getUpdates(self, params: JSON) -> list[JSON]:
        event = await self.client.get_updates(int(params.get("timeout") or 0))
        if event is None:
            return []
        update = await self.to_update(event)
        return [update] if update is not None else []

    async def _bot_setWebhook(self, params: JSON) -> bool:
        await self.client.set_webhook(str(params["url"]), str(params.get("secret_token", "")))
        return True

    async def _bot_deleteWebhook(self, _params: JSON) -> bool:
        await self.client.delete_webhook()
        return True

    async def _bot_getWebhookInfo(self, _params: JSON) -> JSON:
        info = await self.client.get_webhook_info()
        return {"url": info.get("url") or "", "has_custom_certificate": False,
                "pending_update_count": 0}

    async def _no_op(self, _params: JSON) -> bool:
        """Zalo has no command menus, descriptions or menu buttons: nothing to set."""
        return True

    _bot_setMyCommands = _bot_deleteMyCommands = _bot_setChatMenuButton = _no_op
    _bot_setMyDescription = _bot_setMyShortDescription = _bot_setMyName = _no_op
    _bot_close = _bot_logOut = _no_op

    async def _bot_getMyCommands(self, _params: JSON) -> list[JSON]:
        return []

    # --- incoming: Zalo events ----------------------------------------------------------------

    async def to_update(self, event: ZaloEvent) -> JSON | None:
        """The Bot API update for `event`, or None when there is nothing for the handlers: a
        redelivery, a page of a list, a hint, an unsupported message (answered here)."""
        async with self.sessions() as session:
            if not await first_delivery(session, event.key):
                await session.commit()
                log.info("Zalo event delivered again; taken once")
                return None
            user, new_person = await self._int_id(session, event.user_id)
            chat = user if event.chat_id == event.user_id else (
                await self._int_id(session, event.chat_id)
            )[0]
            menu = None if event.is_group else await get_menu(session, chat)
            self._events += 1
            if self._events % _PRUNE_EVERY == 1:
                await forget_old_events(session)
            await session.commit()

        sender = {"id": user, "is_bot": False, "first_name": event.user_name or "Zalo"}
        chat_json: JSON = (
            {"id": chat, "type": "group", "title": "Zalo"}
            if event.is_group
            else {"id": chat, "type": "private", "first_name": sender["first_name"]}
        )
        message: JSON = {
            "message_id": next(self._message_ids),
            "date": int(event.date.timestamp()),
            "chat": chat_json,
            "from": sender,
        }
        text = event.text if event.event_name == EVENT_TEXT else None
        if new_person and not event.is_group and not (text or "").startswith("/"):
            # Zalo has no Start button: a person's first message starts the conversation.
            return self._text_update(message, "/start")
        if event.event_name == EVENT_TEXT and text is not None:
            if menu is not None and not text.startswith("/"):
                return await self._answer_menu(menu, message, text)
            return self._text_update(message, text)
        if event.event_name == EVENT_IMAGE and event.photo_url:
            unique = hashlib.sha1(event.photo_url.encode()).hexdigest()[:16]
            message["photo"] = [
                {"file_id": event.photo_url, "file_unique_id": unique, "width": 0, "height": 0}
            ]
            if event.caption:
                message["caption"] = event.caption
            return self._update(message=message)
        if event.event_name == EVENT_STICKER:
            sticker_id = event.sticker or "zalo-sticker"
            message["sticker"] = {
                "file_id": sticker_id, "file_unique_id": sticker_id[:32], "type": "regular",
                "width": 0, "height": 0, "is_animated": False, "is_video": False,
            }
            return self._update(message=message)
        # message.unsupported.received (and anything newer): the sender is in a category Zalo
        # does not pass on, or sent something a bot cannot read. Answer kindly, nothing else.
        await self._deliver(chat, self._t(await self._locale(chat), "zalo.unsupported"))
        return None

    def _update(self, **content: JSON) -> JSON:
        return {"update_id": next(self._update_ids), **content}

    def _text_update(self, message: JSON, text: str) -> JSON:
        message = {**message, "text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._update(message=message)

    async def _answer_menu(self, menu: Menu, message: JSON, text: str) -> JSON | None:
        chat = int(message["chat"]["id"])
        count = len(menu.options)
        as_text = self._text_update(message, text)
        # A list followed by other messages still takes its numbers and words, but no longer
        # claims whatever else is typed.
        latest = self._last_sent.get(chat, menu.message_id) == menu.message_id
        strict = menu.kind == INLINE and latest
        number = _NUMBER.match(text)
        if number is not None:
            value = int(number.group(1))
            if value == 0 and count > MENU_PAGE_SIZE:
                return await self._next_page(chat, menu)
            if 1 <= value <= count:
                return self._choose(menu, message, value - 1)
            return await self._hint(chat, menu) if strict else as_text
        matches = match_option(menu.options, text)
        if len(matches) == 1:
            return self._choose(menu, message, matches[0])
        if not strict:
            return as_text
        if not matches and self.accepts_text(Update.de_json(as_text, self.bot)):
            return as_text
        return await self._hint(chat, menu)

    def _choose(self, menu: Menu, message: JSON, index: int) -> JSON:
        label, data = menu.options[index]
        if menu.kind == REPLY or data is None:
            return self._text_update(message, label)
        chat = message["chat"]
        return self._update(
            callback_query={
                "id": f"{chat['id']}-{next(self._update_ids)}",
                "from": message["from"],
                "chat_instance": str(chat["id"]),
                "data": data,
                "message": {
                    "message_id": menu.message_id,
                    "date": message["date"],
                    "chat": chat,
                    "text": menu.text,
                    **({"from": self._me} if self._me else {}),
                },
            }
        )

    async def _hint(self, chat: int, menu: Menu) -> None:
        locale = await self._locale(chat)
        hint = self._t(locale, "zalo.answer_number", count=len(menu.options))
        listing = self._render(menu, locale, with_text=False)
        await self._deliver(chat, f"{hint}\n\n{listing}", menu.message_id)
        return None

    async def _next_page(self, chat: int, menu: Menu) -> None:
        menu.page = menu.page + 1 if (menu.page + 1) * MENU_PAGE_SIZE < len(menu.options) else 0
        async with self.sessions() as session:
            await save_menu(session, chat, menu)
            await session.commit()
        listing = self._render(menu, await self._locale(chat), with_text=False)
        await self._deliver(chat, listing, menu.message_id)
        return None


def _failure(status: int, description: str, *, retry_after: int | None = None) -> tuple[int, JSON]:
    body: JSON = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return status, body


class ZaloRequest(BaseRequest):
    """The networking object of the Zalo Application's bot: hands every call to the bridge."""

    def __init__(self, bridge: ZaloBridge) -> None:
        self.bridge = bridge

    @property
    def read_timeout(self) -> float | None:
        return self.bridge.client.timeout

    async def initialize(self) -> None:
        """The bridge's client is started and closed by the runtime (bot.app)."""

    async def shutdown(self) -> None:
        """See initialize."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        status, body = await self.bridge.call(api_method, dict(params))
        return status, json.dumps(body).encode()

