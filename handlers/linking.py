"""/link: one profile for a member's Telegram and Zalo accounts, joined by a one-time code.

`/link` on the app where the person is a member shows a code; `/link <code>` on the other app
attaches that account to the same member (models/linking.py). Codes and names are never logged.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.ext import CommandHandler

from bot.context import UnionContext
from models.errors import DomainError
from models.linking import (
    COUNTED_FAILURES,
    LINK_CODE_TTL,
    issue_link_code,
    redeem_link_code,
)
from models.members import Channel

log = logging.getLogger(__name__)

# The app the code is to be typed on, named in the person's language.
OTHER_APP = {Channel.TELEGRAM: "channel.zalo", Channel.ZALO: "channel.telegram"}


async def _reply(update: Update, text: str) -> None:
    assert update.effective_chat is not None
    await update.effective_chat.send_message(text)


async def link(update: Update, context: UnionContext) -> bool:
    """Without an argument: a member gets a code, anyone else is told how linking works.
    With one: redeems the code and attaches this account to the member who got it. True when
    this account was linked."""
    typed = "".join(context.args or [])
    if typed:
        return await _redeem(update, context, typed)
    async with context.session() as session:
        identity = await context.identity(session, update)
        if identity.member_id is None:
            await session.commit()
            await _reply(update, context.t("link.how"))
            return False
        link_code = await issue_link_code(session, identity=identity)
        await session.commit()
        log.info("link code issued for member %s", identity.member_id)
    await _reply(
        update,
        context.t(
            "link.code",
            code=link_code.code,
            other=context.t(OTHER_APP[context.channel]),
            minutes=LINK_CODE_TTL // timedelta(minutes=1),
        ),
    )
    return False


async def _redeem(update: Update, context: UnionContext, typed: str) -> bool:
    """Links this account, or says why not; a wrong or expired code still counts as a try."""
    async with context.session() as session:
        identity = await context.identity(session, update)
        try:
            member = await redeem_link_code(session, identity=identity, code=typed)
        except DomainError as error:
            if error.code in COUNTED_FAILURES:
                await session.commit()
            else:
                await session.rollback()
            await _reply(update, context.t(f"error.{error.code}", **error.params))
            return False
        await session.commit()
        log.info("identity %s linked to member %s", identity.id, member.id)
    await _reply(update, context.t("link.done", name=member.full_name))
    return True


def handlers() -> list:  # type: ignore[type-arg]
    return [CommandHandler("link", link)]
