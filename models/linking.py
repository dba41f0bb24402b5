"""Linking a member's Telegram and Zalo accounts to one profile with a one-time code.

`/link` on the app where the person is already a member issues a 6-digit code; `/link <code>`
on the other app redeems it and attaches that chat identity to the same member. A code is valid
for LINK_CODE_TTL and is used once; issuing a new one retires the previous ones.

Guessing is limited per redeeming identity (a wrong code names no code to count against):
LINK_MAX_TRIES failed tries within LINK_CODE_TTL lock that identity out, even for a right code,
until the oldest of those failures is LINK_CODE_TTL old.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta

from sqlalchemy import Column, ColumnElement, String
from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import UTCDateTime, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Identity, Member, identities_of
from models.onboarding import discard_draft

LINK_CODE_TTL = timedelta(minutes=10)
LINK_MAX_TRIES = 5
LINK_CODE_DIGITS = 6

# The refusals of redeem_link_code that record a failed try: the caller commits after these
# (and rolls back after any other error) so the try still counts.
COUNTED_FAILURES = frozenset({"link_code_wrong", "link_code_expired"})

_ASCII_DIGITS = frozenset("0123456789")


class LinkCode(SQLModel, table=True):
    """A one-time code that attaches another chat identity to `member_id`."""

    __tablename__ = "link_code"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(LINK_CODE_DIGITS), nullable=False, index=True))
    member_id: int = Field(foreign_key="member.id", index=True)
    # The identity that asked for the code: its channel is the one the code is *not* for.
    issued_by: int = Field(foreign_key="identity.id")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    used_by: int | None = Field(default=None, foreign_key="identity.id")


class LinkAttempt(SQLModel, table=True):
    """One `/link <code>` try by an identity, right or wrong, to limit guessing."""

    __tablename__ = "link_attempt"

    id: int | None = Field(default=None, primary_key=True)
    identity_id: int = Field(foreign_key="identity.id", index=True)
    succeeded: bool
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _is_valid(now: datetime) -> ColumnElement[bool]:
    """The condition for a code that can still be redeemed at `now`."""
    return col(LinkCode.used_at).is_(None) & (col(LinkCode.expires_at) > now)


async def issue_link_code(
    session: AsyncSession, *, identity: Identity, now: datetime | None = None
) -> LinkCode:
    """A new code for the member behind `identity`; their earlier unused codes stop working.

    Refused with NotAllowed("link_not_member") for an identity that is not a member's."""
    if identity.member_id is None:
        raise NotAllowed("link_not_member")
    now = now or utcnow()
    await session.exec(
        update(LinkCode)
        .where(col(LinkCode.member_id) == identity.member_id, _is_valid(now))
        .values(expires_at=now)
    )
    while True:
        code = f"{secrets.randbelow(10**LINK_CODE_DIGITS):0{LINK_CODE_DIGITS}d}"
        valid = await session.exec(
            select(LinkCode.id).where(LinkCode.code == code, _is_valid(now))
        )
        if valid.first() is None:
            break
    link_code = LinkCode(
        code=code,
        member_id=identity.member_id,
        issued_by=identity.id,  # type: ignore[arg-type]
        created_at=now,
        expires_at=now + LINK_CODE_TTL,
    )
    session.add(link_code)
    await session.flush()
    return link_code


async def redeem_link_code(
    session: AsyncSession, *, identity: Identity, code: str, now: datetime | None = None
) -> Member:
    """Attach `identity` to the member who was issued `code`; returns that member.

    Refusals, checked in this order:
    - InvalidInput("link_code_format"): not 6 digits once spaces are removed (not a try);
    - NotAllowed("link_too_many_tries", minutes=…): LINK_MAX_TRIES failed tries by this
      identity within LINK_CODE_TTL; `minutes` until the next try is possible (at least 1);
    - NotFound("link_code_expired") / NotFound("link_code_wrong", left=…): no usable code with
      these digits (`left`: tries remaining before the lock);
    - NotAllowed("link_same_channel"): the code was issued on the same app as `identity`;
    - InvalidInput("link_already_linked"): `identity` is already this member's;
    - NotAllowed("link_has_profile"): `identity` belongs to another member;
    - NotAllowed("link_channel_taken"): the member already has an account on this app;
    - NotFound("member_gone"): the member was deleted since the code was issued.

    The two NotFound link refusals (codes in COUNTED_FAILURES) have recorded the failed try in
    the session before raising: the caller must COMMIT after them, or the try does not count.
    Every other refusal is raised before anything is written, so the caller rolls back.
    Success marks the code used, records the try and discards the identity's unfinished
    onboarding draft; nothing is committed here.
    """
    now = now or utcnow()
    digits = "".join(code.split())
    if len(digits) != LINK_CODE_DIGITS or not set(digits) <= _ASCII_DIGITS:
        raise InvalidInput("link_code_format")

    failures = await _recent_failures(session, identity=identity, now=now)
    if len(failures) >= LINK_MAX_TRIES:
        # The lock lifts when fewer than LINK_MAX_TRIES failures remain in the window.
        lifts_at = failures[len(failures) - LINK_MAX_TRIES] + LINK_CODE_TTL
        minutes = max(1, math.ceil((lifts_at - now) / timedelta(minutes=1)))
        raise NotAllowed("link_too_many_tries", minutes=minutes)

    rows = await session.exec(
        select(LinkCode)
        .where(LinkCode.code == digits, _is_valid(now))
        .order_by(col(LinkCode.id).desc())
    )
    link_code = rows.first()
    if link_code is None:
        expired = await session.exec(
            select(LinkCode.id).where(
                LinkCode.code == digits,
                col(LinkCode.used_at).is_(None),
                col(LinkCode.expires_at) <= now,
            )
        )
        is_expired = expired.first() is not None
        await _record_attempt(session, identity=identity, succeeded=False, now=now)
        if is_expired:
            raise NotFound("link_code_expired")
        raise NotFound("link_code_wrong", left=max(0, LINK_MAX_TRIES - len(failures) - 1))

    issuer = await session.get(Identity, link_code.issued_by)
    if issuer is not None and issuer.channel == identity.channel:
        raise NotAllowed("link_same_channel")
    if identity.member_id == link_code.member_id:
        raise InvalidInput("link_already_linked")
    if identity.member_id is not None:
        raise NotAllowed("link_has_profile")
    member = await session.get(Member, link_code.member_id)
    if member is None:
        raise NotFound("member_gone")
    taken = await session.exec(
        select(Identity.id).where(
            Identity.member_id == member.id,
            Identity.channel == identity.channel,
            Identity.id != identity.id,
        )
    )
    if taken.first() is not None:
        raise NotAllowed("link_channel_taken")

    # Conditional, so two people typing the same code at once cannot both use it.
    claimed = await session.exec(
        update(LinkCode)
        .where(col(LinkCode.id) == link_code.id, col(LinkCode.used_at).is_(None))
        .values(used_at=now, used_by=identity.id)
    )
    if claimed.rowcount != 1:
        await _record_attempt(session, identity=identity, succeeded=False, now=now)
        raise NotFound("link_code_wrong", left=max(0, LINK_MAX_TRIES - len(failures) - 1))
    identity.member_id = member.id
    session.add(identity)
    await _record_attempt(session, identity=identity, succeeded=True, now=now)
    await discard_draft(session, identity=identity)
    await session.flush()
    return member


async def _recent_failures(
    session: AsyncSession, *, identity: Identity, now: datetime
) -> list[datetime]:
    """When this identity's failed tries within the last LINK_CODE_TTL happened, oldest first."""
    rows = await session.exec(
        select(LinkAttempt.at)
        .where(
            LinkAttempt.identity_id == identity.id,
            col(LinkAttempt.succeeded).is_(False),
            col(LinkAttempt.at) > now - LINK_CODE_TTL,
        )
        .order_by(col(LinkAttempt.at))
    )
    return list(rows.all())


async def _record_attempt(
    session: AsyncSession, *, identity: Identity, succeeded: bool, now: datetime
) -> None:
    session.add(
        LinkAttempt(
            identity_id=identity.id,  # type: ignore[arg-type]
            succeeded=succeeded,
            at=now,
        )
    )
    await session.flush()


# --- where a linked member is reached -----------------------------------------------------------


async def set_preferred_channel(session: AsyncSession, *, member: Member, channel: str) -> None:
    """Announcements reach `member` on `channel`, which must be one of their linked accounts."""
    if channel not in {identity.channel for identity in await identities_of(session, member.id)}:  # type: ignore[arg-type]
        raise InvalidInput("channel_not_linked")
    member.preferred_channel = channel
    member.updated_at = utcnow()
    session.add(member)
    await session.flush()
