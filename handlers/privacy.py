"""/mydata and /deleteme: a person sees everything stored about them, and can erase it.

/mydata sends a readable summary and, on Telegram, the whole export as a JSON file (Zalo bots
cannot send files: the summary says where to get it). /deleteme explains what goes and what
stays, and erases only on a fresh "Yes" (models/privacy.py): the button carries the account and
the time it was asked, so a second tap or an old message changes nothing.

Callback payloads start with "priv:".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, ConversationHandler

from bot.context import UnionContext
from handlers import common
from models.errors import DomainError, NotFound
from models.members import Channel, get_identity, member_of
from models.org import OrgUnit
from models.privacy import (
    check_erasure_token,
    erase_member,
    erasure_token,
    export_member_data,
    render_summary,
)

log = logging.getLogger(__name__)

EXPORT_FILENAME = "unionbot-mydata.json"
ERASE_PATTERN = r"^priv:erase:\d{1,12}\.\d{1,16}\.\d{1,12}$"
KEEP_PATTERN = r"^priv:keep$"
# Telegram's limit is 4,096 characters; the summary is sent in parts below it.
MESSAGE_MAX_CHARS = 3500


def _parts(lines: Iterable[str], limit: int = MESSAGE_MAX_CHARS) -> list[str]:
    """The lines joined into messages under `limit`, split between lines (each line keeps its
    own HTML tags closed, so no tag is cut)."""
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + len(line) + 1 > limit:
            parts.append("\n".join(current).strip())
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        parts.append("\n".join(current).strip())
    return [part for part in parts if part]


async def send_my_data(update: Update, context: UnionContext) -> None:
    """Sends the summary of everything stored about the person, and the JSON file on Telegram."""
    assert update.effective_chat is not None and update.effective_user is not None
    async with context.session() as session:
        identity = await get_identity(
            session, channel=context.channel, external_id=str(update.effective_user.id)
        )
        data = None if identity is None else await export_member_data(session, identity)
        await session.commit()
    if data is None:
        await common.reply(update, context.t("privacy.nothing_stored"))
        return
    lines = render_summary(data, context.t, local_time=context.local_time)
    for part in _parts(lines):
        await common.reply(update, part)
    if context.channel == Channel.ZALO:
        await common.reply(update, context.t("privacy.file_on_telegram"))
        return
    content = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await update.effective_chat.send_document(
        document=content, filename=EXPORT_FILENAME, caption=context.t("privacy.file_caption")
    )


async def ask_erasure(update: Update, context: UnionContext) -> None:
    """Explains what erasing removes and what stays; asks "Yes, erase" or "No"."""
    assert update.effective_user is not None
    async with context.session() as session:
        identity = await get_identity(
            session, channel=context.channel, external_id=str(update.effective_user.id)
        )
        member = None if identity is None else await member_of(session, identity)
        unit = None if member is None else await session.get(OrgUnit, member.unit_id)
        await session.commit()
    if identity is None:
        await common.reply(update, context.t("privacy.nothing_stored"))
        return
    if member is not None:
        text = context.t("privacy.erase_explain_member", unit=unit.name if unit else "—")
    else:
        text = context.t("privacy.erase_explain_stranger")
    buttons = [
        [(context.t("privacy.erase_yes"), f"priv:erase:{erasure_token(identity)}")],
        [(context.t("privacy.erase_no"), "priv:keep")],
    ]
    await common.reply(update, text, reply_markup=common.keyboard(buttons))


async def _close_question(update: Update) -> None:
    """Removes the buttons, so the question cannot be answered again."""
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        log.debug("erasure question already closed")


async def confirmed_erasure(update: Update, context: UnionContext) -> None:
    """Erases the person's data (their accounts, consents, answers; the member anonymised),
    forgets what the bot keeps of them in memory, and confirms."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_user is not None
    token = query.data.removeprefix("priv:erase:")
    async with context.session() as session:
        identity = await get_identity(
            session, channel=context.channel, external_id=str(update.effective_user.id)
        )
        try:
            if identity is None:
                raise NotFound("erase_stale")
            check_erasure_token(identity, token)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        erased = await erase_member(session, identity)
        await session.commit()
    log.info("erased the data of member %s (%d accounts)", erased.member_id, len(erased.accounts))
    _forget_in_memory(update, context)
    await query.answer()
    await _close_question(update)
    await common.reply(update, context.t("privacy.erased"))


def _forget_in_memory(update: Update, context: UnionContext) -> None:
    """Drops this chat's user/chat data and conversation states from the Application, which
    keeps them in memory besides the database: otherwise they would be written back."""
    application = context.application
    assert update.effective_user is not None and update.effective_chat is not None
    user_id, chat_id = update.effective_user.id, update.effective_chat.id
    application.drop_user_data(user_id)
    application.drop_chat_data(chat_id)
    for handlers in application.handlers.values():
        for handler in handlers:
            if isinstance(handler, ConversationHandler) and handler.persistent:
                # The library offers no public way to end someone's conversation from outside
                # it; its state map tracks deletions, so persistence writes the end too.
                states = getattr(handler, "_conversations", None)
                for key in ((chat_id, user_id), (user_id,), (chat_id,)):
                    if states is not None and key in states:
                        del states[key]


async def kept(update: Update, context: UnionContext) -> None:
    """"No": nothing is erased."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await _close_question(update)
    await common.reply(update, context.t("privacy.kept"))


def handlers() -> list:  # type: ignore[type-arg]
    return [
        CommandHandler("mydata", send_my_data),
        CommandHandler("deleteme", ask_erasure),
        CallbackQueryHandler(confirmed_erasure, pattern=ERASE_PATTERN),
        CallbackQueryHandler(kept, pattern=KEEP_PATTERN),
    ]
