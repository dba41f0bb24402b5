"""/language: switch between Vietnamese and English; the command menu follows the choice."""

from __future__ import annotations

import logging

from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.context import UnionContext
from bot.settings import SUPPORTED_LOCALES
from handlers import help as help_
from models.members import set_locale

log = logging.getLogger(__name__)

CALLBACK_PATTERN = r"^lang:(vi|en)$"


async def ask_language(update: Update, context: UnionContext) -> None:
    """Offers the languages as buttons."""
    assert update.effective_chat is not None
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(context.t(f"language.name.{c}"), callback_data=f"lang:{c}")]
            for c in SUPPORTED_LOCALES
        ]
    )
    await update.effective_chat.send_message(context.t("language.ask"), reply_markup=keyboard)


async def chose_language(update: Update, context: UnionContext) -> None:
    """Stores the chosen language, confirms in it, and sets this chat's command menu to it."""
    query = update.callback_query
    assert query is not None and query.data is not None and update.effective_chat is not None
    locale = query.data.split(":", 1)[1]
    async with context.session() as session:
        identity = await context.identity(session, update)
        await set_locale(session, identity=identity, locale=locale)
        await session.commit()
    context.locale = locale
    await query.answer()
    try:
        await query.edit_message_text(context.t("language.set"))
    except TelegramError:
        log.debug("language question already closed")
    commands = [BotCommand(name, context.t(key)) for name, key in help_.COMMANDS]
    try:
        await context.bot.set_my_commands(
            commands, scope=BotCommandScopeChat(update.effective_chat.id)
        )
    except TelegramError as error:
        log.warning("could not set the chat's command menu: %s", error)


def handlers() -> list:  # type: ignore[type-arg]
    return [
        CommandHandler("language", ask_language),
        CallbackQueryHandler(chose_language, pattern=CALLBACK_PATTERN),
    ]
