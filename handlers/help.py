"""/help: what the person can do, and the command menu shown by Telegram in each language."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import UnionContext

# The commands in the menu, with the catalogue key of their description.
COMMANDS = [
    ("start", "command.start"),
    ("profile", "command.profile"),
    ("link", "command.link"),
    ("language", "command.language"),
    ("cancel", "command.cancel"),
    ("help", "command.help"),
]


async def show_help(update: Update, context: UnionContext) -> None:
    """Lists the commands with a line on each."""
    assert update.effective_chat is not None
    lines = [context.t("help.intro")]
    lines += [f"/{name} — {context.t(key)}" for name, key in COMMANDS]
    await update.effective_chat.send_message("\n".join(lines))


def handlers() -> list:  # type: ignore[type-arg]
    return [CommandHandler("help", show_help)]
