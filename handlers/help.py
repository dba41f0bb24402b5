"""/help: what the person can do, and the command menu shown by Telegram in each language."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import UnionContext
from models.access import actor_for
from models.members import Identity, get_identity

# The commands in the menu, with the catalogue key of their description.
COMMANDS = [
    ("start", "command.start"),
    ("movements", "command.movements"),
    ("my", "command.my"),
    ("initiative", "command.initiative"),
    ("drafts", "command.drafts"),
    ("myinitiatives", "command.myinitiatives"),
    ("record", "command.record"),
    ("news", "command.news"),
    ("reminders", "command.reminders"),
    ("profile", "command.profile"),
    ("link", "command.link"),
    ("mydata", "command.mydata"),
    ("deleteme", "command.deleteme"),
    ("language", "command.language"),
    ("cancel", "command.cancel"),
    ("help", "command.help"),
]

# What officials (and administrators) have on top; /help lists these only to them.
OFFICIAL_COMMANDS = [
    ("announce", "command.announce"),
    ("announcements", "command.announcements"),
    ("movement", "command.movement"),
    ("newmovement", "command.newmovement"),
    ("review", "command.review"),
    ("initiative stats", "command.initiative_stats"),
    ("myunit", "command.myunit"),
    ("units", "command.units"),
    ("members", "command.members"),
    ("pending", "command.pending"),
    ("invite", "command.invite"),
    ("import", "command.import"),
]


async def show_help(update: Update, context: UnionContext) -> None:
    """Lists the commands with a line on each; officials also see theirs."""
    assert update.effective_chat is not None and update.effective_user is not None
    async with context.session() as session:
        # Looked up, not created: asking for help stores nothing about the person.
        account = {"channel": context.channel, "external_id": str(update.effective_user.id)}
        identity = await get_identity(session, **account) or Identity(**account)
        actor = await actor_for(
            session, identity, admin_telegram_ids=context.services.settings.admin_telegram_ids
        )
    lines = [context.t("help.intro")]
    lines += [f"/{name} — {context.t(key)}" for name, key in COMMANDS]
    if actor.is_official:
        lines += ["", context.t("help.officials")]
        lines += [f"/{name} — {context.t(key)}" for name, key in OFFICIAL_COMMANDS]
    elif actor.reviewer_of:
        lines += ["", context.t("help.reviewers"), f"/review — {context.t('command.review')}"]
    await update.effective_chat.send_message("\n".join(lines))


def handlers() -> list:  # type: ignore[type-arg]
    return [CommandHandler("help", show_help)]
