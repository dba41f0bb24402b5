"""Joining the union: the questions a new member answers, in order, saved as they are answered.

The draft is the durable record of the answers so far, one row per chat identity: a member who
leaves for days, or a bot restarted mid-flow, picks up exactly where they were. The same draft
serves `/profile` edits of an existing member (it starts filled in, at the summary).

Roster matching. An official's roster import creates members who have not joined from a chat yet
(a `Member` with a phone and no `Identity`). Someone joining with that phone is offered their
record instead of becoming a duplicate, under these rules:

- The phone is compared exactly, after normalisation (+84…). It must lead to exactly one member
  who is not erased, and that member must have no chat account on any channel and must not be
  rejected: a record already claimed is never handed to another account, and a number that two
  members share (claimed or not) is ambiguous and matches nothing (no name is revealed). A
  pending claim on a record (below) is not a second member with that number.
- A typed number proves nothing: anyone can type a colleague's number. A contact shared through
  Telegram's button proves it (the contact's user id is the sender's, checked before it gets
  here). So:
  - shared own contact: the record is offered with what the roster says ("the roster of <unit>
    lists this number as <name>. Is that you?"), whatever name was typed;
  - typed number (always on Zalo, which cannot share contacts): the record is offered only when
    the typed name equals the roster's name without diacritics and case, and the question shows
    nothing the person did not type ("is your name, as the roster has it, <the typed name>?").
- Yes, with a proven phone: confirming links the chat account to that member; no new row. The
  roster's name, union, member code and date of birth stay; position and gender fill only what
  the roster left empty (a position of "other" counts as empty: the import writes it when the
  roster has none); the roster's status stays (an active roster member needs no approval).
- Yes, with a typed phone: knowing a colleague's name and number must not hand over their
  record (and with it their date of birth and member code). Confirming creates a new pending
  member from the person's own answers, in the record's union, with `claims_member_id` naming
  the record, which is not touched; the summary does not show the record's member code. The
  union's officials see the claim and decide: approving links the person to the record
  (models/approvals.py), rejecting leaves the record alone.
- No: a new member is created as usual (pending) and the roster record is not touched.
- The roster may change between the phone answer and the confirmation (an import, another
  account claiming the record): confirming checks again, and if the match changed the person is
  asked again rather than joined (`refresh_roster`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel, col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import actor_for
from models.base import UTCDateTime, fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.invites import is_active
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
    # Only when the phone matches a roster record: "is this record yours?"
    ROSTER = "roster"
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
    # The phone came from the sender's own shared contact: it is proven theirs (module docstring).
    phone_proven: bool = False
    # The roster record the phone matched (offered, or accepted when roster_accepted is True).
    roster_member_id: int | None = Field(default=None, foreign_key="member.id")
    # The answer to "is this record yours?": None until answered.
    roster_accepted: bool | None = None
    # After "Edit" on the summary, one answer leads back to the summary, not onwards.
    editing: bool = False
    step: str = Field(default=Step.NAME, sa_column=Column(String(16), nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


@dataclass(frozen=True)
class Joined:
    """What confirming a draft did: the member, whether they are new, and whether the person
    joined their existing roster record (then `created` is False) or asked to be linked to it
    (then the member is new and pending, and `claimed` is the record)."""

    member: Member
    created: bool
    from_roster: bool = False
    # For a roster record joined at once: a shared own contact proved the phone.
    phone_proven: bool = False
    # The roster record a typed phone and name claim, linked only when an official approves.
    claimed: Member | None = None
    # A profile edit the officials of the member's union should hear of: a rejected member who
    # corrected their details (a new request), or a member who moved to another union.
    asks_again: bool = False
    moved: bool = False


@dataclass(frozen=True)
class RosterOffer:
    """What the question "is this record yours?" may show: the roster's name and union when the
    phone is proven (a shared own contact), else only the name as the person typed it."""

    name: str
    unit: OrgUnit | None


@dataclass(frozen=True)
class Preview:
    """What confirming the draft would store, for the summary: for a roster record joined with
    a proven phone, its own name and union, with the person's answers only where the roster has
    nothing (`roster_member`); for a record claimed with a typed phone, the person's own answers
    in the record's union, and nothing of the record (`roster_claim`)."""

    full_name: str | None
    unit: OrgUnit | None
    position: str | None
    gender: str | None
    phone: str | None
    roster_member: Member | None
    roster_claim: bool = False


def next_step(draft: OnboardingDraft) -> Step:
    """The question to ask now: after an edit, straight back to the summary (unless the edited
    phone matched a roster record: that question comes first)."""
    step = _first_unanswered(draft)
    return Step.SUMMARY if draft.editing and step is not Step.ROSTER else step


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
    if draft.roster_member_id is not None and draft.roster_accepted is None:
        return Step.ROSTER
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
    draft.phone_proven = phone is not None and from_contact
    await record_consent(
        session,
        identity=identity,
        purpose=ConsentPurpose.CONTACT_PHONE,
        granted=phone is not None,
        locale=locale,
    )
    # A new number is a new match: any earlier offer or answer about a roster record is void.
    draft.roster_accepted = None
    record = await _roster_match(session, draft)
    draft.roster_member_id = record.id if record is not None else None
    return await _advance(session, draft)


# --- roster matching (the rules are in the module docstring) ----------------------------------


async def _is_claimed(session: AsyncSession, member_id: int) -> bool:
    """Whether any chat account, on any channel, is linked to the member."""
    rows = await session.exec(select(Identity.id).where(Identity.member_id == member_id).limit(1))
    return rows.first() is not None


async def _roster_match(session: AsyncSession, draft: OnboardingDraft) -> Member | None:
    """The roster record this draft's phone (and, for a typed phone, name) leads to, if any."""
    if draft.member_id is not None or draft.phone is None:
        return None  # a profile edit, or no phone: nothing to match
    # A pending claim on a record (a typed phone) repeats the record's number: it is not a
    # second owner, and must not hide the record from its owner's shared contact.
    rows = await session.exec(
        select(Member)
        .where(
            Member.phone == draft.phone,
            col(Member.erased_at).is_(None),
            col(Member.claims_member_id).is_(None),
        )
        .order_by(col(Member.id))
        .limit(2)
    )
    found = list(rows.all())
    if len(found) != 1:
        return None  # nobody, or a number two members share: ambiguous
    record = found[0]
    if record.status == MemberStatus.REJECTED or await _is_claimed(session, record.id):  # type: ignore[arg-type]
        return None
    if not draft.phone_proven and fold(record.full_name) != fold(draft.full_name or ""):
        return None
    return record


def _keeps_position(record: Member) -> bool:
    """Whether the roster says the position: the import writes "other" when it does not."""
    return bool(record.position) and record.position != Position.OTHER


async def is_free_roster_record(session: AsyncSession, record: Member) -> bool:
    """Whether the member is still a roster record nobody has joined: not erased, active, and
    no chat account on any channel (checked again when an official approves a claim)."""
    return (
        record.erased_at is None
        and record.status == MemberStatus.ACTIVE
        and not await _is_claimed(session, record.id)  # type: ignore[arg-type]
    )


def fill_roster_gaps(
    record: Member, *, position: str | None, gender: str | None, locale: str | None
) -> None:
    """The person's answers fill only what the roster left empty; their language is theirs."""
    if not _keeps_position(record) and position:
        record.position = position
    if record.gender is None and gender not in (None, Gender.UNDISCLOSED):
        record.gender = gender
    if locale:
        record.locale = locale
    record.updated_at = utcnow()


async def roster_offer(session: AsyncSession, draft: OnboardingDraft) -> RosterOffer:
    """What the question about the matched roster record shows (never more than the rule
    allows: see the module docstring)."""
    record = (
        None if draft.roster_member_id is None
        else await session.get(Member, draft.roster_member_id)
    )
    if record is None:
        raise NotFound("onboarding_roster_gone")
    if draft.phone_proven:
        return RosterOffer(name=record.full_name, unit=await get_unit(session, record.unit_id))
    return RosterOffer(name=draft.full_name or "", unit=None)


async def answer_roster(session: AsyncSession, draft: OnboardingDraft, accepted: bool) -> Step:
    """"Yes, that's me" (confirming will join the roster record, or with a typed phone ask the
    officials to link it) or "No" (a new member, as usual); a record no longer free to join is
    refused, and "No" is then the way on."""
    if Step(draft.step) is not Step.ROSTER or draft.roster_member_id is None:
        raise InvalidInput("choice_invalid")
    if accepted:
        record = await _roster_match(session, draft)
        if record is None or record.id != draft.roster_member_id:
            raise NotAllowed("onboarding_roster_gone")
    else:
        draft.roster_member_id = None
    draft.roster_accepted = accepted
    return await _advance(session, draft)


async def refresh_roster(session: AsyncSession, draft: OnboardingDraft) -> bool:
    """Matches the roster again before confirming; True when the match changed and the draft
    went back to a question (the roster question, or the summary without the record), which the
    person must see before anything is saved."""
    if draft.member_id is not None or draft.roster_accepted is False:
        return False
    record = await _roster_match(session, draft)
    current = record.id if record is not None else None
    if current == draft.roster_member_id:
        return False
    draft.roster_member_id = current
    draft.roster_accepted = None
    await _advance(session, draft)
    return True


async def editable_steps(session: AsyncSession, draft: OnboardingDraft) -> tuple[Step, ...]:
    """The answers that can still change what is saved: joining a roster record keeps its name
    and union, and its position and gender when it has them; claiming one with a typed phone
    keeps the name that matched and the record's union; the phone can always change."""
    if not draft.roster_accepted or draft.roster_member_id is None:
        return EDITABLE_STEPS
    record = await session.get(Member, draft.roster_member_id)
    if record is None:
        return EDITABLE_STEPS
    if not draft.phone_proven:
        return (Step.POSITION, Step.GENDER, Step.PHONE)
    return tuple(
        step
        for step, kept in (
            (Step.POSITION, _keeps_position(record)),
            (Step.GENDER, record.gender is not None),
            (Step.PHONE, False),
        )
        if not kept
    )


async def preview(session: AsyncSession, draft: OnboardingDraft) -> Preview:
    """What confirming would store (see Preview)."""
    record = None
    if draft.roster_accepted and draft.roster_member_id is not None:
        record = await session.get(Member, draft.roster_member_id)
    if record is None:
        return Preview(
            full_name=draft.full_name,
            unit=await draft_unit(session, draft),
            position=draft.position,
            gender=draft.gender,
            phone=draft.phone,
            roster_member=None,
        )
    if not draft.phone_proven:
        # A claim: what the person answered, in the record's union; nothing else of the record.
        return Preview(
            full_name=draft.full_name,
            unit=await get_unit(session, record.unit_id),
            position=draft.position,
            gender=draft.gender,
            phone=draft.phone,
            roster_member=None,
            roster_claim=True,
        )
    return Preview(
        full_name=record.full_name,
        unit=await get_unit(session, record.unit_id),
        position=record.position if _keeps_position(record) else draft.position,
        gender=record.gender or draft.gender,
        phone=draft.phone,
        roster_member=record,
    )


async def edit_answer(session: AsyncSession, draft: OnboardingDraft, step: str) -> Step:
    """From the summary, go back to one question; answering it returns to the summary."""
    if step not in await editable_steps(session, draft):
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
    invite for the same unit), into the person's roster record (a proven phone), into a pending
    claim on it (a typed phone), or into the edited profile of the existing member.

    Refused with NotAllowed("onboarding_roster_changed") when the roster match is no longer what
    the person saw (call refresh_roster first, and show them the question it leads to)."""
    if _first_unanswered(draft) is not Step.SUMMARY:
        raise InvalidInput("draft_incomplete")
    assert draft.full_name and draft.unit_id and draft.position  # guaranteed by next_step
    if draft.member_id is None and draft.roster_accepted is not False:
        # Locked first, then checked: two accounts confirming the same record at once are
        # served one after the other, and the second finds it claimed.
        if draft.roster_member_id is not None:
            await session.exec(
                select(Member.id).where(Member.id == draft.roster_member_id).with_for_update()
            )
        record = await _roster_match(session, draft)
        if (record.id if record is not None else None) != draft.roster_member_id:
            raise NotAllowed("onboarding_roster_changed")
        if record is not None and draft.phone_proven:
            return await _join_roster(
                session, draft=draft, identity=identity, locale=locale, record=record
            )
        if record is not None:
            return await _request_roster_claim(
                session, draft=draft, identity=identity, locale=locale, record=record
            )
    unit = await get_unit(session, draft.unit_id)
    if unit is None or not unit.is_grassroots:
        raise NotFound("unit_unavailable")
    gender = None if draft.gender == Gender.UNDISCLOSED else draft.gender
    if draft.member_id is not None:
        member = await session.get(Member, draft.member_id)
        if member is None:
            raise NotFound("member_gone")
        asks_again = member.status == MemberStatus.REJECTED
        if asks_again:
            # Corrected details are a new request (the rejection notice says to use /profile).
            member.status = MemberStatus.PENDING
            member.status_reason = None
        moved = member.unit_id != draft.unit_id
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
        asks_again = moved = False
        status = MemberStatus.PENDING
        invite = None if draft.invite_id is None else await session.get(Invite, draft.invite_id)
        if (
            invite is not None
            and invite.auto_approve
            and is_active(invite)
            and invite.unit_id == draft.unit_id
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
    return Joined(member=member, created=created, asks_again=asks_again, moved=moved)


async def _join_roster(
    session: AsyncSession,
    *,
    draft: OnboardingDraft,
    identity: Identity,
    locale: str,
    record: Member,
) -> Joined:
    """Links the chat account to the roster record the person said is theirs; the roster's
    data stays, the answers fill only its gaps. Audited: who claimed which record, and how."""
    before = audit.snapshot(record)
    proven = draft.phone_proven
    fill_roster_gaps(
        record, position=draft.position, gender=draft.gender, locale=identity.locale or locale
    )
    session.add(record)
    identity.member_id = record.id
    session.add(identity)
    await session.delete(draft)
    await session.flush()
    await audit.record(
        session,
        await actor_for(session, identity),
        "member.roster_claim",
        target_type="member",
        target_id=record.id,
        before=before,
        after={
            **audit.snapshot(record),
            "channel": identity.channel,
            "phone_proven": proven,
        },
    )
    return Joined(member=record, created=False, from_roster=True, phone_proven=proven)


async def _request_roster_claim(
    session: AsyncSession,
    *,
    draft: OnboardingDraft,
    identity: Identity,
    locale: str,
    record: Member,
) -> Joined:
    """A new pending member from the person's own answers, in the record's union, claiming the
    record; an official's approval links them to it. The record is not touched. Audited."""
    unit = await get_unit(session, record.unit_id)
    if unit is None or not unit.is_grassroots:
        raise NotFound("unit_unavailable")
    assert draft.full_name and draft.position  # guaranteed by next_step
    invite = None if draft.invite_id is None else await session.get(Invite, draft.invite_id)
    member = Member(
        full_name=draft.full_name,
        full_name_folded=fold(draft.full_name),
        unit_id=record.unit_id,
        position=draft.position,
        gender=None if draft.gender == Gender.UNDISCLOSED else draft.gender,
        phone=draft.phone,
        # Always pending, even through an auto-approving invite: an official must check.
        status=MemberStatus.PENDING,
        locale=identity.locale or locale,
        invite_id=invite.id if invite else None,
        claims_member_id=record.id,
    )
    session.add(member)
    await session.flush()
    identity.member_id = member.id
    session.add(identity)
    await session.delete(draft)
    await session.flush()
    await audit.record(
        session,
        await actor_for(session, identity),
        "member.roster_claim_requested",
        target_type="member",
        target_id=member.id,
        before=None,
        after={
            **audit.snapshot(member),
            "claims_member_id": record.id,
            "channel": identity.channel,
        },
    )
    return Joined(member=member, created=True, claimed=record)
