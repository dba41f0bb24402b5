"""What runs around every feature: locale resolution, the private-chat rule, stale buttons,
unknown commands, the persistence flush and the one error handler."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from bot.context import UnionContext
from models.access import Actor, require_official
from models.errors import DomainError, NotFound
from models.members import get_identity

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., object])


def refuses_text(callback: F) -> F:
    """Marks a handler that answers typed text with "that is not what I asked": the Zalo
    bridge then knows a list's words were not an answer and asks for a number instead."""
    callback.refuses_text = True  # type: ignore[attr-defined]
    return callback


def persistent_conversation(
    name: str,
    *,
    entry_points: list[BaseHandler[Any, Any, Any]],
    states: dict[object, list[BaseHandler[Any, Any, Any]]],
    fallbacks: list[BaseHandler[Any, Any, Any]],
    **options: Any,
) -> ConversationHandler:  # type: ignore[type-arg]
    """A conversation whose state is kept in the database under `name`, so a restart resumes
    each person at the step they were on.

    Buttons and typed answers are tracked per chat, not per message, on purpose (a person
    answers the latest question wherever its buttons are): the library warns about that choice
    when a conversation has CallbackQueryHandlers, so the warning is silenced here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*per_message=False.*", category=PTBUserWarning)
        return ConversationHandler(
            name=name,
            persistent=True,
            entry_points=entry_points,
            states=states,
            fallbacks=fallbacks,
            **options,
        )


# Commands that only show something: a question waiting for typed text stays open.
_KEEPS_THE_QUESTION = filters.Regex(r"^/(help|mydata|language)(@\w+)?(\s|$)")


def other_command_leaves(
    forget: Callable[[UnionContext], None] | None = None,
) -> MessageHandler:  # type: ignore[type-arg]
    """The last fallback of a conversation that waits for typed text: a command it does not
    take (/members in the middle of a rename) ends the wait, `forget` drops what was kept for
    it, and the command is queued again to be handled as if the question had not been asked.
    Otherwise the next text typed, meant for the newer question, would answer the old one
    (conversations registered earlier see text first). Commands that only show something
    (/help, /mydata, /language) leave the question open."""

    async def leave(update: Update, context: UnionContext) -> int:
        if forget is not None:
            forget(context)
        await context.application.update_queue.put(update)
        return ConversationHandler.END

    return MessageHandler(filters.COMMAND & ~_KEEPS_THE_QUESTION, leave)


def other_button_leaves(
    prefix: str, forget: Callable[[UnionContext], None] | None = None
) -> CallbackQueryHandler:  # type: ignore[type-arg]
    """The fallback of a conversation for a button that is not its own (payload not starting
    with `prefix`: another screen, another feature): the flow is left as /cancel would leave
    it, `forget` drops what was kept for it, and the tap is queued again for its feature.
    Otherwise the next text typed, meant for that feature, would answer here."""

    async def leave(update: Update, context: UnionContext) -> int:
        if forget is not None:
            forget(context)
        await context.application.update_queue.put(update)
        return ConversationHandler.END

    return CallbackQueryHandler(leave, pattern=rf"^(?!{re.escape(prefix)})")


def says(key: str) -> Callable[[Update, UnionContext], Awaitable[None]]:
    """A step's answer to input it did not ask for (text where a button is asked, a file where
    text is): the catalogue text `key`, and the question stays open."""

    @refuses_text
    async def answer(update: Update, context: UnionContext) -> None:
        await reply(update, context.t(key))

    answer.__name__ = answer.__qualname__ = f"says_{key.replace('.', '_')}"
    return answer


@dataclass(frozen=True)
class IncomingFile:
    """A photo (its largest size) or a document someone sent, as the platform keeps it."""

    kind: str  # "photo" / "document"
    file_id: str
    file_unique_id: str
    name: str | None
    size: int | None


def incoming_file(update: Update) -> IncomingFile:
    """The photo or document of a message (for handlers filtered on PHOTO | Document.ALL)."""
    message = update.effective_message
    assert message is not None
    if message.photo:
        photo = message.photo[-1]
        return IncomingFile("photo", photo.file_id, photo.file_unique_id, None, photo.file_size)
    document = message.document
    assert document is not None
    return IncomingFile(
        "document", document.file_id, document.file_unique_id, document.file_name,
        document.file_size,
    )


TapStep = Callable[[Update, UnionContext, AsyncSession, Actor, list[str]], Awaitable[Any]]


def official_tap(
    step: TapStep, *, on_end: Callable[[UnionContext], None] | None = None
) -> Callable[[Update, UnionContext], Awaitable[Any]]:
    """Wraps an officials' button: the person is checked to be an official again, the step gets
    one session and the payload's parts after its prefix and action; a refusal is an alert and
    keeps the conversation where it was. `on_end` runs when the step ends the conversation."""

    async def run(update: Update, context: UnionContext) -> Any:
        query = update.callback_query
        assert query is not None and query.data is not None
        parts = query.data.split(":")[2:]
        async with context.session() as session:
            try:
                actor = await context.actor(session, update)
                require_official(actor)
                state = await step(update, context, session, actor, parts)
            except DomainError as error:
                await session.rollback()
                await refuse_tap(update, context, error)
                return None
        if state == ConversationHandler.END and on_end is not None:
            on_end(context)
        return state

    run.__name__ = run.__qualname__ = step.__name__
    run.__doc__ = step.__doc__
    return run


def callback_ids(update: Update) -> list[int]:
    """The numbers after a button payload's prefix and action ("apr:ok:12:0" → [12, 0]). The
    handler's pattern has already checked they are digits."""
    assert update.callback_query is not None and update.callback_query.data is not None
    return [int(part) for part in update.callback_query.data.split(":")[2:]]


def keyboard(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup:
    """Inline buttons from rows of (label, callback data)."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


async def reply(update: Update, text: str, **kwargs: object) -> None:
    """Sends `text` to the chat the update came from (a new message, not a quote)."""
    assert update.effective_chat is not None
    await update.effective_chat.send_message(text, **kwargs)  # type: ignore[arg-type]


async def show(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Puts a screen in place of the tapped message, or sends it after a command or a typed
    answer. The same screen again (a double tap) changes nothing; a message too old to edit gets
    the screen as a new message."""
    query = update.callback_query
    if query is None:
        await reply(update, text, reply_markup=markup)
        return
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in str(error):
            await reply(update, text, reply_markup=markup)


async def refuse(update: Update, context: UnionContext, error: DomainError) -> None:
    """Tells the person why their answer or tap was not taken; nothing was changed. A time in
    the error's parameters is shown as people read it (local)."""
    params = {
        name: context.local_time(value) if isinstance(value, datetime) else value
        for name, value in error.params.items()
    }
    text = context.t(f"error.{error.code}", **params)
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    else:
        await reply(update, text)


async def refuse_tap(update: Update, context: UnionContext, error: DomainError) -> None:
    """As `refuse`, except that a tap naming something that is gone is a stale button."""
    if update.callback_query is not None and isinstance(error, NotFound):
        await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)
    else:
        await refuse(update, context, error)


async def prepare_update(update: Update, context: UnionContext) -> None:
    """Resolves the person's language once per update; answers group chats once, then ignores.

    Edits of sent messages are ignored: an answer is what was sent, not a later correction."""
    if update.edited_message is not None or update.edited_channel_post is not None:
        raise ApplicationHandlerStop
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        if update.effective_message is not None and not context.chat_data.get("told_private"):
            context.chat_data["told_private"] = True
            await update.effective_message.reply_text(
                context.t("common.private_only", bot=context.bot.username or "")
            )
        raise ApplicationHandlerStop
    if update.effective_user is None:
        return
    async with context.session() as session:
        identity = await get_identity(
            session, channel=context.channel, external_id=str(update.effective_user.id)
        )
    context.locale = identity.locale if identity is not None else None


async def stale_button(update: Update, context: UnionContext) -> None:
    """A tap on a button that belongs to no flow in progress: say so, change nothing."""
    assert update.callback_query is not None
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)


async def unknown_command(update: Update, context: UnionContext) -> None:
    """A command the bot does not know: point to /help."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(context.t("common.unknown_command"))


async def nothing_to_cancel(update: Update, context: UnionContext) -> None:
    """/cancel outside any flow."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(context.t("common.nothing_to_cancel"))


@refuses_text
async def not_understood(update: Update, context: UnionContext) -> None:
    """Free text or media outside any flow: point to /help."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(context.t("common.not_understood"))


async def flush_persistence(update: Update, context: UnionContext) -> None:
    """Writes the conversation state of this update now, not at the next persistence interval,
    so a killed process cannot forget which step a member is on."""
    application = context.application
    application.mark_data_for_update_persistence(
        chat_ids=update.effective_chat.id if update.effective_chat else None,
        user_ids=update.effective_user.id if update.effective_user else None,
    )
    await application.update_persistence()


async def on_error(update: object, context: UnionContext) -> None:
    """Logs the failure with its update id (never the message text or the person), and tells
    the person, in their language, that something went wrong."""
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("error while handling update %s", update_id, exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            if update.callback_query is not None:
                await update.callback_query.answer()
            await context.bot.send_message(update.effective_chat.id, context.t("common.error"))
        except TelegramError:
            log.warning("could not tell the person about the error in update %s", update_id)
