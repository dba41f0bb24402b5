"""Members, their chat identities, their consents, and invite codes.

A member is a person in the union with a database id. Their Telegram and Zalo accounts are
`Identity` rows `(channel, external_id)`: nothing here knows what a Telegram id looks like.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Date, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import UTCDateTime, fold, utcnow
from models.errors import InvalidInput, NotFound

# Bumped whenever the consent text changes, so a record shows which text was agreed to.
CONSENT_POLICY_VERSION = "2026-11"

NAME_MIN, NAME_MAX = 2, 100


class Channel(StrEnum):
    TELEGRAM = "telegram"
    ZALO = "zalo"


class MemberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"


class Position(StrEnum):
    TEACHER = "teacher"
    LECTURER = "lecturer"
    STAFF = "staff"
    MANAGER = "manager"
    OTHER = "other"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    UNDISCLOSED = "undisclosed"


class ConsentPurpose(StrEnum):
    """Each purpose is consented to on its own (Decree 13/2023, PDP Law 2025)."""

    # Name, union and position, to manage union membership and send union news.
    MEMBERSHIP = "membership"
    # Gender, only for the union's statistics on women.
    GENDER_STATISTICS = "gender_statistics"
    # Phone number, so the union can contact the member and match the roster.
    CONTACT_PHONE = "contact_phone"


class Member(SQLModel, table=True):
    __tablename__ = "member"
    __table_args__ = (UniqueConstraint("member_code", name="uq_member_member_code"),)

    id: int | None = Field(default=None, primary_key=True)
    full_name: str = Field(sa_column=Column(String(100), nullable=False))
    full_name_folded: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    position: str = Field(sa_column=Column(String(20), nullable=False))
    gender: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    phone: str | None = Field(
        default=None, sa_column=Column(String(20), nullable=True, index=True)
    )
    status: str = Field(
        default=MemberStatus.PENDING, sa_column=Column(String(20), nullable=False, index=True)
    )
    locale: str | None = Field(default=None, sa_column=Column(String(5), nullable=True))
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    # Where announcements reach a member with both a Telegram and a Zalo account (/profile);
    # None: the channel they joined on.
    preferred_channel: str | None = Field(
        default=None, sa_column=Column(String(16), nullable=True)
    )
    # From the unit's roster (members import): the union's own member code, unique when given.
    member_code: str | None = Field(
        default=None, sa_column=Column(String(32), nullable=True)
    )
    date_of_birth: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # Whether the person has joined the union (a roster also lists workers who have not).
    is_union_member: bool | None = Field(default=None)
    # Why an official rejected the request to join (shown to the member).
    status_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A pending request from someone who said a roster record is theirs with a phone they only
    # typed: the record's id, linked on approval (models/approvals.py). No foreign key: the
    # record may be erased or claimed meanwhile, and approval checks it again.
    claims_member_id: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True, index=True)
    )
    # Set by /deleteme: the personal fields are blanked; the row stays so counts stay right.
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Identity(SQLModel, table=True):
    """One chat account: the channel and the platform's id for the person, as an opaque string."""

    __tablename__ = "identity"
    # One account per platform; and a member links at most one account per platform (NULLs,
    # people who are not members yet, do not collide).
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        UniqueConstraint("member_id", "channel", name="uq_identity_member_channel"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    external_id: str = Field(sa_column=Column(String(64), nullable=False))
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    # The language this person chose with /language; None until they choose.
    locale: str | None = Field(default=None, sa_column=Column(String(5), nullable=True))
    # When a delivery found this account blocked or deleted (403): announcements then go to the
    # member's other linked account. Cleared when the person writes to the bot again.
    blocked_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ConsentRecord(SQLModel, table=True):
    """An append-only log of consents given and refused, kept to show later who agreed to what."""

    __tablename__ = "consent_record"

    id: int | None = Field(default=None, primary_key=True)
    identity_id: int = Field(foreign_key="identity.id", index=True)
    purpose: str = Field(sa_column=Column(String(32), nullable=False))
    granted: bool
    policy_version: str = Field(sa_column=Column(String(16), nullable=False))
    # The language the consent text was shown in.
    locale: str = Field(sa_column=Column(String(5), nullable=False))
    recorded_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Invite(SQLModel, table=True):
    """An invite code for one unit: `/start <code>` presets the union, maybe approves at once."""

    __tablename__ = "invite"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    auto_approve: bool = False
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoked: bool = False
    # The official who made it (None for invites made by the CLI or demo data).
    created_by_member_id: int | None = Field(default=None)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# --- validation --------------------------------------------------------------------------------

_NAME_CHAR_CATEGORIES = ("L", "M")  # letters, and combining marks typed by some keyboards


def validate_full_name(text: str | None) -> str:
    """The name as typed (outer spaces trimmed, inner runs collapsed), or InvalidInput."""
    name = " ".join((text or "").split())
    if len(name) < NAME_MIN:
        raise InvalidInput("name_too_short", min=NAME_MIN)
    if len(name) > NAME_MAX:
        raise InvalidInput("name_too_long", max=NAME_MAX)
    for ch in name:
        if ch != " " and unicodedata.category(ch)[0] not in _NAME_CHAR_CATEGORIES:
            raise InvalidInput("name_bad_characters")
    if not any(unicodedata.category(ch)[0] == "L" for ch in name):
        raise InvalidInput("name_bad_characters")
    return name


_PHONE_JUNK = re.compile(r"[\s.\-()]")


def normalize_phone(text: str | None, *, from_contact: bool = False) -> str:
    """A Vietnamese number as +84…; a shared contact may also carry another country's number.

    Accepts 0912 345 678, 84912345678, +84 912-345-678. Raises InvalidInput otherwise.
    """
    raw = _PHONE_JUNK.sub("", text or "")
    digits = raw.removeprefix("+")
    if not digits.isdigit():
        raise InvalidInput("phone_invalid")
    if digits.startswith("84") and len(digits) in (11, 12):
        national = digits[2:]
    elif digits.startswith("0") and len(digits) in (10, 11):
        national = digits[1:]
    elif from_contact and 8 <= len(digits) <= 15 and not digits.startswith("0"):
        return "+" + digits
    else:
        raise InvalidInput("phone_invalid")
    if national.startswith("0"):
        raise InvalidInput("phone_invalid")
    return "+84" + national


# --- identities and consent --------------------------------------------------------------------


async def get_identity(
    session: AsyncSession, *, channel: str, external_id: str
) -> Identity | None:
    rows = await session.exec(
        select(Identity).where(Identity.channel == channel, Identity.external_id == external_id)
    )
    return rows.first()


async def ensure_identity(session: AsyncSession, *, channel: str, external_id: str) -> Identity:
    identity = await get_identity(session, channel=channel, external_id=external_id)
    if identity is None:
        identity = Identity(channel=channel, external_id=external_id)
        session.add(identity)
        await session.flush()
    elif identity.blocked_at is not None:
        # They wrote again, so they unblocked the bot (saved with whatever the update saves).
        identity.blocked_at = None
        session.add(identity)
    return identity


async def set_locale(session: AsyncSession, *, identity: Identity, locale: str) -> None:
    identity.locale = locale
    session.add(identity)
    if identity.member_id is not None:
        member = await session.get(Member, identity.member_id)
        if member is not None:
            member.locale = locale
            session.add(member)
    await session.flush()


async def record_consent(
    session: AsyncSession,
    *,
    identity: Identity,
    purpose: ConsentPurpose,
    granted: bool,
    locale: str,
) -> ConsentRecord:
    record = ConsentRecord(
        identity_id=identity.id,  # type: ignore[arg-type]
        purpose=purpose,
        granted=granted,
        policy_version=CONSENT_POLICY_VERSION,
        locale=locale,
    )
    session.add(record)
    await session.flush()
    return record


async def has_consent(
    session: AsyncSession, *, identity: Identity, purpose: ConsentPurpose
) -> bool:
    """True when the latest decision for `purpose` under the current policy is a yes."""
    rows = await session.exec(
        select(ConsentRecord)
        .where(
            ConsentRecord.identity_id == identity.id,
            ConsentRecord.purpose == purpose,
            ConsentRecord.policy_version == CONSENT_POLICY_VERSION,
        )
        .order_by(col(ConsentRecord.id).desc())
        .limit(1)
    )
    latest = rows.first()
    return bool(latest and latest.granted)


async def latest_consents(
    session: AsyncSession, *, identity: Identity
) -> dict[str, ConsentRecord]:
    """The latest decision for each purpose, to show the person what they agreed to and when."""
    return {record.purpose: record for record in await consents_of(session, identity=identity)}


async def consents_of(session: AsyncSession, *, identity: Identity) -> list[ConsentRecord]:
    """Every consent record of the person, oldest first: for a member, those given from each of
    their linked chat accounts (a consent given on Telegram shows on Zalo too)."""
    if identity.member_id is None:
        whose = col(ConsentRecord.identity_id) == identity.id
    else:
        whose = col(ConsentRecord.identity_id).in_(
            select(Identity.id).where(Identity.member_id == identity.member_id)
        )
    rows = await session.exec(select(ConsentRecord).where(whose).order_by(col(ConsentRecord.id)))
    return list(rows.all())


# --- members -----------------------------------------------------------------------------------


async def identities_of(session: AsyncSession, member_id: int) -> list[Identity]:
    """The member's chat accounts, oldest first."""
    rows = await session.exec(
        select(Identity).where(Identity.member_id == member_id).order_by(col(Identity.id))
    )
    return list(rows.all())


def reachable_identity(member: Member, identities: list[Identity]) -> Identity | None:
    """The account that announcements and notices reach: the member's preferred channel, else
    the account they joined with (the oldest). An account that blocked the bot is skipped
    while another can be reached."""
    open_ = [identity for identity in identities if identity.blocked_at is None]
    for identity in open_:
        if identity.channel == member.preferred_channel:
            return identity
    if open_:
        return open_[0]
    return identities[0] if identities else None


async def member_of(session: AsyncSession, identity: Identity) -> Member | None:
    if identity.member_id is None:
        return None
    return await session.get(Member, identity.member_id)


def apply_profile(
    member: Member,
    *,
    full_name: str,
    unit_id: int,
    position: str,
    gender: str | None,
    phone: str | None,
) -> None:
    member.full_name = full_name
    member.full_name_folded = fold(full_name)
    member.unit_id = unit_id
    member.position = position
    member.gender = gender
    member.phone = phone
    member.updated_at = utcnow()


# --- invites -----------------------------------------------------------------------------------


async def resolve_invite(session: AsyncSession, code: str) -> Invite:
    """The usable invite for `code`, or NotFound("invite_invalid" / "invite_expired")."""
    code = code.strip()
    if not code or len(code) > 32:
        raise NotFound("invite_invalid")
    invite = (await session.exec(select(Invite).where(Invite.code == code))).first()
    if invite is None and code.upper() != code:  # typed on a phone: generated codes are upper
        invite = (await session.exec(select(Invite).where(Invite.code == code.upper()))).first()
    if invite is None or invite.revoked:
        raise NotFound("invite_invalid")
    if invite.expires_at is not None and invite.expires_at <= utcnow():
        raise NotFound("invite_expired")
    return invite


async def create_invite(
    session: AsyncSession,
    *,
    code: str,
    unit_id: int,
    auto_approve: bool = False,
    expires_at: datetime | None = None,
) -> Invite:
    invite = Invite(code=code, unit_id=unit_id, auto_approve=auto_approve, expires_at=expires_at)
    session.add(invite)
    await session.flush()
    return invite
