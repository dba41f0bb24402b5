"""Notices: what the bot tells a person outside a reply to them (an approval, a result, a new
member for an official, a nudge from their union), in the recipient's language (the member's,
else the account's, else DEFAULT_LOCALE), as HTML, on the account they are reached on.

Every notice is a row of the delivery outbox (models/outbox.py, kind "notice"), added to the
caller's session: a handler queues its notices *before* it commits the change they announce, so
both are saved together or neither is, then calls `services.wake_up()` so the delivery worker
(bot/delivery.py) sends them at once rather than at its next poll. Retries, Telegram's limits
and an account that blocked the bot (the member's other linked account gets the notice instead)
are the worker's business: a notice is never lost because a send failed, and the action that
caused it stands whatever becomes of the send.

Each call is one notice event. Its rows get a dedupe key of the subject (`about`), the event and
the member: a fresh uuid by default, so two events with the same text are two notices; a caller
with a natural name for the event (`event=`, e.g. the time of a nudge) makes a retry of the same
event add nothing. Members never reached from a chat (on the roster only) and accounts that
blocked the bot with no other to go to are skipped. Every function returns how many notices were
queued (handlers show "told N" from it). Members' accounts are looked up in one query per call,
and the rows go in one INSERT batch per subject, however many recipients.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import Services
from models.base import utcnow
from models.initiatives import Initiative, members_to_notify
from models.members import Identity, Member, reachable_identity
from models.outbox import Kind, Message, Recipient, Source, enqueue

# What a notice is about when nothing more precise is named.
NOTHING = Source("notice")

# Member ids per account query (bounds the IN list).
_CHUNK = 5000


@dataclass(frozen=True)
class Localized:
    """A parameter translated in the recipient's language (`Localized("position.teacher")`)."""

    key: str


@dataclass(frozen=True)
class Notice:
    """One notice to one member: the message key, its parameters (`Localized` ones are
    translated for the recipient, every text is HTML-escaped) and what it is about."""

    member: Member
    key: str
    params: Mapping[str, object] = field(default_factory=dict)
    about: Source = NOTHING


def render(services: Services, locale: str | None, key: str, params: Mapping[str, object]) -> str:
    """The notice's text in `locale` (None: the default language)."""
    translator = services.translator
    values = {
        name: translator.t(locale, value.key) if isinstance(value, Localized) else value
        for name, value in params.items()
    }
    return translator.t(locale, key, **values)


def _dedupe_key(about: Source, event: str, who: str, taken: set[str]) -> str:
    key = f"notice:{about.type}:{about.id}:{event}:{who}"
    # The same person twice in one event (an official of two units with results): both go.
    base, n = key, 1
    while key in taken:
        n += 1
        key = f"{base}:{n}"
    taken.add(key)
    return key


async def _accounts(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, list[Identity]]:
    """Each member's chat accounts, oldest first, in one query per chunk of members."""
    accounts: dict[int, list[Identity]] = {member_id: [] for member_id in member_ids}
    ids = list(accounts)
    for start in range(0, len(ids), _CHUNK):
        rows = await session.exec(
            select(Identity)
            .where(col(Identity.member_id).in_(ids[start : start + _CHUNK]))
            .order_by(col(Identity.id))
        )
        for identity in rows.all():
            accounts[identity.member_id].append(identity)  # type: ignore[index]
    return accounts


async def queue_notices(
    services: Services,
    session: AsyncSession,
    notices: Iterable[Notice],
    *,
    event: str | None = None,
    now: datetime | None = None,
) -> int:
    """Adds one outbox row per notice whose member can be reached, to `session` (the caller
    commits); returns how many were queued."""
    notices = list(notices)
    if not notices:
        return 0
    now = now or utcnow()
    event = event or uuid.uuid4().hex
    accounts = await _accounts(
        session, [notice.member.id for notice in notices if notice.member.id is not None]
    )
    taken: set[str] = set()
    by_subject: dict[Source, list[Recipient]] = {}
    for notice in notices:
        member = notice.member
        if member.id is None or member.erased_at is not None:
            continue
        identity = reachable_identity(member, accounts.get(member.id, []))
        if identity is None or identity.blocked_at is not None:
            continue  # never joined from a chat, or blocked the bot on every account
        locale = member.locale or identity.locale
        by_subject.setdefault(notice.about, []).append(Recipient(
            channel=identity.channel,
            chat_id=identity.external_id,
            message=Message(render(services, locale, notice.key, notice.params)),
            dedupe_key=_dedupe_key(notice.about, event, f"m{member.id}", taken),
            identity_id=identity.id,
            member_id=member.id,
        ))
    queued = 0
    for about, recipients in by_subject.items():
        queued += await enqueue(session, recipients, kind=Kind.NOTICE, source=about, now=now)
    return queued


async def notify_member(
    services: Services,
    session: AsyncSession,
    member: Member,
    key: str,
    /,
    *,
    about: Source = NOTHING,
    event: str | None = None,
    **params: object,
) -> int:
    """Queues a notice to a member in their language, on their preferred (or only) account;
    returns 1, or 0 when they cannot be reached."""
    return await queue_notices(
        services, session, [Notice(member, key, params, about)], event=event
    )


async def notify_members(
    services: Services,
    session: AsyncSession,
    members: Iterable[Member],
    key: str,
    /,
    *,
    about: Source = NOTHING,
    event: str | None = None,
    **params: object,
) -> int:
    """The same notice to many members, each in their language; returns how many were queued."""
    return await queue_notices(
        services, session, [Notice(member, key, params, about) for member in members],
        event=event,
    )


async def notify_identity(
    services: Services,
    session: AsyncSession,
    identity: Identity,
    key: str,
    /,
    *,
    about: Source = NOTHING,
    event: str | None = None,
    **params: object,
) -> int:
    """Queues a notice to one chat account (an administrator may have no member profile): in
    the member's language when it has one, else the account's. An account that blocked the bot
    is skipped; returns 1 or 0."""
    if identity.blocked_at is not None:
        return 0
    member = await session.get(Member, identity.member_id) if identity.member_id else None
    locale = (member.locale if member is not None else None) or identity.locale
    who = f"m{identity.member_id}" if identity.member_id else f"i{identity.id}"
    return await enqueue(
        session,
        [Recipient(
            channel=identity.channel,
            chat_id=identity.external_id,
            message=Message(render(services, locale, key, params)),
            dedupe_key=_dedupe_key(about, event or uuid.uuid4().hex, who, set()),
            identity_id=identity.id,
            member_id=identity.member_id,
        )],
        kind=Kind.NOTICE, source=about, now=utcnow(),
    )


async def notify_authors(
    services: Services,
    session: AsyncSession,
    initiative: Initiative,
    key: str,
    /,
    *,
    skip_member_id: int | None = None,
    event: str | None = None,
    **params: object,
) -> int:
    """Queues a notice about a change of their initiative to every author and co-author who
    is a member (except `skip_member_id`, who is answered directly); returns how many were
    queued."""
    members = [
        member for member in await members_to_notify(session, initiative)
        if member.id != skip_member_id
    ]
    return await notify_members(
        services, session, members, key, about=Source("initiative", initiative.id), event=event,
        **params,
    )
