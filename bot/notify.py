"""Notices to one person outside a reply (an approval, a new member for an official), in the
recipient's language, on the channel they are reached on.

A direct message for now; the delivery outbox (announcements issue) will carry these. A notice
that cannot be delivered is logged with the account's id (never the text) and reported as False:
the action that caused it has already been saved and stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram.error import TelegramError

from bot.context import Services
from models.initiatives import Initiative, members_to_notify
from models.members import Identity, Member, identities_of, reachable_identity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Localized:
    """A parameter translated in the recipient's language (`Localized("position.teacher")`)."""

    key: str


async def send_notice(
    services: Services, identity: Identity, locale: str | None, key: str, /, **params: object
) -> bool:
    bot = services.bots.get(identity.channel)
    if bot is None:
        log.warning("no %s bot to notify identity %s", identity.channel, identity.id)
        return False
    translator = services.translator
    values = {
        name: translator.t(locale, value.key) if isinstance(value, Localized) else value
        for name, value in params.items()
    }
    try:
        await bot.send_message(int(identity.external_id), translator.t(locale, key, **values))
    except TelegramError as error:
        log.warning("could not notify identity %s: %s", identity.id, error)
        return False
    return True


async def notify_member(
    services: Services, session: AsyncSession, member: Member, key: str, /, **params: object
) -> bool:
    """Tells a member something in their language, on their preferred (or only) channel."""
    accounts = await identities_of(session, member.id)  # type: ignore[arg-type]
    identity = reachable_identity(member, accounts)
    if identity is None:
        return False  # on the roster, never joined from a chat: nobody to tell
    return await send_notice(services, identity, member.locale or identity.locale, key, **params)


async def notify_authors(
    services: Services,
    session: AsyncSession,
    initiative: Initiative,
    key: str,
    /,
    *,
    skip_member_id: int | None = None,
    **params: object,
) -> int:
    """Tells every author and co-author who is a member about a change of their initiative
    (except `skip_member_id`, who is answered directly); returns how many were reached."""
    reached = 0
    for member in await members_to_notify(session, initiative):
        if member.id == skip_member_id:
            continue
        reached += await notify_member(services, session, member, key, **params)
    return reached
