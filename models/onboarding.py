"""Joining the union: the questions a new member answers, in order, saved as they are answered.

The draft is the durable record of the answers so far, one row per chat identity: a member who
leaves for days, or a bot restarted mid-flow, picks up exactly where they were. The same draft
serves `/profile` edits of an existing member (it starts filled in, at the summary).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel, delete
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import UTCDateTime, fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import (
    ConsentPurpose,
    Gender,
    Identity,
    Invite,
    Member,
    MemberStatus,
    Position,
    apply_profile,
    has_consent,
    normalize_phone,
    record_consent,
    validate_full_name,
)
from models.org import OrgUnit, get_unit


class Step(StrEnum):
    """The question the member is being asked, in the order they are asked."""

    NAME = "name"
    UNIT = "unit"
    POSITION = "position"
    GENDER = "gender"
    PHONE = "phone"
    SUMMARY = "summary"


EDITABLE_STEPS = (Step.NAME, Step.UNIT, Step.POSITION, Step.GENDER, Step.PHONE)


class OnboardingDraft(SQLModel, table=True):
    __tablename__ = "onboarding_draft"

    identity_id: int = Field(foreign_key="identity.id", primary_key=True)
    # Set when the draft edits an existing member's profile rather than creating one.
    member_id: int | None = Field(default=None, foreign_key="member.id")
    invite_id: int | None = Field(default=None, foreign_key="invite.id")
    full_name: str | None = Field(default=None, sa_column=Column(String(100)))
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    position: str | None = Field(default=None, sa_column=Column(String(20)))
    gender: str | None = Field(default=None, sa_column=Column(String(20)))
    phone: str | None = Field(default=None, sa_column=Column(String(20)))
    phone_answered: bool = False
    # After "Edit" on the summary, one answer leads back to the summary, not onwards.
    editing: bool = False
    step: str = Field(default=Step.NAME, sa_column=Column(String(16), nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


@dataclass(frozen=True)
class Joined:
    """What confirming a draft did: the member, and whether they are new."""

    member: Member
    created: bool


def next_step(draft: OnboardingDraft) -> Step:
    """The question to ask now: after an edit, straight back to the summary."""
    return Step.SUMMARY if draft.editing else _first_unanswered(draft)


def _first_unanswered(draft: OnboardingDraft) -> Step:
    if draft.full_name is None:
        return Step.NAME
    if draft.unit_id is None:
        return Step.UNIT
    if draft.position is None:
        return Step.POSITION
    if draft.gender is None:
        return Step.GENDER
    if not draft.phone_answered:
        return Step.PHONE
    return Step.SUMMARY


async def _advance(session: AsyncSession, draft: OnboardingDraft) -> Step:
    step = next_step(draft)
    draft.step = step
    draft.updated_at = utcnow()
    session.add(draft)
    await session.flush()
    return step


async def get_draft(session: AsyncSession, identity: Identity) -> OnboardingDraft | None:
    return await session.get(OnboardingDraft, identity.id)


async def start_onboarding(
    session: AsyncSession, *, identity: Identity, invite: Invite | None = None
) -> OnboardingDraft:
    """The draft to continue (or a new one); refused without consent or for an existing member."""
    if identity.member_id is not None:
        raise NotAllowed("already_member")
    if not await has_consent(session, identity=identity, purpose=ConsentPurpose.MEMBERSHIP):
        raise NotAllowed("consent_required")
    draft = await get_draft(session, identity)
    if draft is None:
        draft = OnboardingDraft(identity_id=identity.id)  # type: ignore[arg-type]
    if invite is not None:
        draft.invite_id = invite.id
        draft.unit_id = invite.unit_id
    await _advance(session, draft)
    return draft


async def begin_profile_edit(
    session: AsyncSession, *, identity: Identity, member: Member
) -> OnboardingDraft:
    """A draft holding the member's current profile, at the summary, ready for edits."""
    await session.exec(delete(OnboardingDraft).where(OnboardingDraft.identity_id == identity.id))
    draft = OnboardingDraft(
        identity_id=identity.id,  # type: ignore[arg-type]
        member_id=member.id,
        full_name=member.full_name,
        unit_id=member.unit_id,
        position=member.position,
        gender=member.gender or Gender.UNDISCLOSED,
        phone=member.phone,
        phone_answered=True,
        editing=True,
        step=Step.SUMMARY,
    )
    session.add(draft)
    await session.flush()
    return draft


async def discard_draft(session: AsyncSession, *, identity: Identity) -> bool:
    """Forget the answers of an abandoned flow (they are personal data); True if there were any."""
    result = await session.exec(
        delete(OnboardingDraft).where(OnboardingDraft.identity_id == identity.id)
    )
    return bool(result.rowcount)


async def answer_name(session: AsyncSession, draft: OnboardingDraft, text: str | None) -> Step:
    draft.full_name = validate_full_name(text)
    return await _advance(session, draft)


async def answer_unit(session: AsyncSession, draft: OnboardingDraft, unit_id: int) -> Step:
    unit = await get_unit(session, unit_id)
    if unit is None or not unit.is_grassroots:
        raise NotFound("unit_unavailable")
    draft.unit_id = unit.id
    return await _advance(session, draft)


async def answer_position(session: AsyncSession, draft: OnboardingDraft, value: str) -> Step:
    if value not in Position.__members__.values():
        raise InvalidInput("choice_invalid")
    draft.position = value
    return await _advance(session, draft)


async def answer_gender(
    session: AsyncSession, draft: OnboardingDraft, value: str, *, identity: Identity, locale: str
) -> Step:
    """Gender is asked, never required: 'prefer not to say' is a full answer."""
    if value not in Gender.__members__.values():
        raise InvalidInput("choice_invalid")
    draft.gender = value
    await record_consent(
        session,
        identity=identity,
        purpose=ConsentPurpose.GENDER_STATISTICS,
        granted=value != Gender.UNDISCLOSED,
        locale=locale,
    )
    return await _advance(session, draft)


async def answer_phone(
    session: AsyncSession,
    draft: OnboardingDraft,
    text: str | None,
    *,
    identity: Identity,
    locale: str,
    from_contact: bool = False,
    contact_is_own: bool = True,
) -> Step:
    """A phone number (typed or shared), or None to skip; sharing it is consent to its use.

    A shared contact must be the sender's own: someone else's number is refused."""
    if from_contact and not contact_is_own:
        raise InvalidInput("contact_not_yours")
    phone = None if text is None else normalize_phone(text, from_contact=from_contact)
    draft.phone = phone
    draft.phone_answered = True
    await record_consent(
        session,
        identity=identity,
        purpose=ConsentPurpose.CONTACT_PHONE,
        granted=phone is not None,
        locale=locale,
    )
    return await _advance(session, draft)


async def edit_answer(session: AsyncSession, draft: OnboardingDraft, step: str) -> Step:
    """From the summary, go back to one question; answering it returns to the summary."""
    if step not in EDITABLE_STEPS:
        raise InvalidInput("choice_invalid")
    draft.editing = True
    draft.step = step
    draft.updated_at = utcnow()
    session.add(draft)
    await session.flush()
    return Step(step)


async def draft_unit(session: AsyncSession, draft: OnboardingDraft) -> OrgUnit | None:
    return None if draft.unit_id is None else await session.get(OrgUnit, draft.unit_id)


async def confirm(
    session: AsyncSession, *, draft: OnboardingDraft, identity: Identity, locale: str
) -> Joined:
    """Turn a complete draft into a member (new: pending, or active through an auto-approving
    invite for the same unit) or into the edited profile of the existing member."""
    if _first_unanswered(draft) is not Step.SUMMARY:
        raise InvalidInput("draft_incomplete")
    assert draft.full_name and draft.unit_id and draft.position  # guaranteed by next_step
    unit = await get_unit(session, draft.unit_id)
    if unit is None or not unit.is_grassroots:
        raise NotFound("unit_unavailable")
    gender = None if draft.gender == Gender.UNDISCLOSED else draft.gender
    if draft.member_id is not None:
        member = await session.get(Member, draft.member_id)
        if member is None:
            raise NotFound("member_gone")
        apply_profile(
            member,
            full_name=draft.full_name,
            unit_id=draft.unit_id,
            position=draft.position,
            gender=gender,
            phone=draft.phone,
        )
        created = False
    else:
        status = MemberStatus.PENDING
        invite = None if draft.invite_id is None else await session.get(Invite, draft.invite_id)
        if (
            invite is not None
            and invite.auto_approve
            and not invite.revoked
            and invite.unit_id == draft.unit_id
            and (invite.expires_at is None or invite.expires_at > utcnow())
        ):
            status = MemberStatus.ACTIVE
        member = Member(
            full_name=draft.full_name,
            full_name_folded=fold(draft.full_name),
            unit_id=draft.unit_id,
            position=draft.position,
            gender=gender,
            phone=draft.phone,
            status=status,
            locale=identity.locale or locale,
            invite_id=invite.id if invite else None,
        )
        created = True
    session.add(member)
    await session.flush()
    identity.member_id = member.id
    session.add(identity)
    await session.delete(draft)
    await session.flush()
    return Joined(member=member, created=created)
