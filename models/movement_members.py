"""The member's side of movements, beyond the core (models/movements.py): what a member sees of
the movements open to their union (their own registration, how many colleagues of their union
registered), where each of their registrations stands, and the self-assessment.

The self-assessment is written in the movement's assessment window by a member whose
registration stands at "registered": one short text per criterion, in order, then evidence
(photos and documents, kept as the platform's file ids), then submitted. Every answer is saved on
the Registration as it is given (`assessment` grows one text at a time; each file is an Evidence
row), so a member who leaves comes back where they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Member, MemberStatus
from models.movements import (
    Evidence,
    Movement,
    Registration,
    RegistrationStatus,
    _clean_commitment,
    assessment_open,
    check_transition,
    get_movement,
    is_for_unit,
    movements_for_member,
    registration_of,
    registration_open,
    registrations_of_member,
)
from models.org import OrgUnit

ASSESSMENT_TEXT_MAX = 1000
EVIDENCE_MAX_FILES = 10
# The Bot API lets a bot download files up to 20 MB: a larger one could never be opened again.
EVIDENCE_MAX_BYTES = 20 * 1024 * 1024
EVIDENCE_KINDS = ("photo", "document")
_FILE_NAME_MAX = 255
_FILE_ID_MAX = 1024

# Registrations that count as "registered" for a union's numbers: all but the withdrawn.
COUNTED = (
    RegistrationStatus.AWAITING_APPROVAL,
    RegistrationStatus.REGISTERED,
    RegistrationStatus.SUBMITTED,
    RegistrationStatus.ACHIEVED,
    RegistrationStatus.NOT_ACHIEVED,
)
# Registrations a member may still change (title, commitment) or withdraw, until the deadline.
CHANGEABLE = (RegistrationStatus.AWAITING_APPROVAL, RegistrationStatus.REGISTERED)


class Stage(StrEnum):
    """Where a member's registration stands, as /my shows it: the status, and "self-assessment
    due" for a registered member while the window is open."""

    AWAITING_APPROVAL = "awaiting_approval"
    REGISTERED = "registered"
    ASSESSMENT_DUE = "assessment_due"
    SUBMITTED = "submitted"
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"
    WITHDRAWN = "withdrawn"


def stage_of(registration: Registration, movement: Movement, now: datetime) -> Stage:
    if registration.status == RegistrationStatus.REGISTERED and assessment_open(movement, now):
        return Stage.ASSESSMENT_DUE
    return Stage(registration.status)


def require_member(member: Member | None) -> Member:
    """The person may take part in movements: an approved member (not pending, not erased)."""
    if member is None:
        raise NotFound("movement_not_member")
    if member.status == MemberStatus.PENDING:
        raise NotAllowed("movement_member_pending")
    if member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        raise NotAllowed("movement_members_only")
    return member


def individual_titles(movement: Movement) -> list[dict[str, Any]]:
    """The titles a member may aim for (the collective ones are for unions)."""
    return [title for title in movement.titles if not title.get("collective")]


def title_name(movement: Movement, code: str) -> str:
    title = movement.title(code)
    return str(title.get("name") or code) if title is not None else code


def clean_commitment(text: str | None) -> str | None:
    """The commitment as it will be stored (trimmed; None when empty); refuses a too long one."""
    return _clean_commitment(text)


# --- the list and the card -----------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    movement: Movement
    registration: Registration | None


async def list_movements(
    session: AsyncSession, member: Member | None, *, offset: int = 0, limit: int = 8
) -> tuple[list[Listed], int]:
    """A page of the open and closed movements targeted at the member's union, newest first,
    each with the member's own registration; and how many there are."""
    member = require_member(member)
    movements, total = await movements_for_member(session, member, offset=offset, limit=limit)
    ids = [movement.id for movement in movements]
    rows = await session.exec(
        select(Registration).where(
            col(Registration.movement_id).in_(ids), Registration.registrant == f"m:{member.id}"
        )
    )
    mine = {registration.movement_id: registration for registration in rows.all()}
    return [Listed(movement, mine.get(movement.id)) for movement in movements], total  # type: ignore[arg-type]


async def colleagues_registered(session: AsyncSession, movement: Movement, unit_id: int) -> int:
    """How many members of the union registered for the movement (withdrawn ones not counted)."""
    rows = await session.exec(
        select(func.count()).select_from(Registration).where(
            Registration.movement_id == movement.id,
            Registration.unit_id == unit_id,
            col(Registration.collective).is_(False),
            col(Registration.status).in_(COUNTED),
        )
    )
    return int(rows.one())


@dataclass(frozen=True)
class Card:
    """A movement as a member sees it, and what they may do with it now."""

    movement: Movement
    titles: list[dict[str, Any]]
    registration: Registration | None
    stage: Stage | None
    colleagues: int
    registration_open: bool
    can_register: bool  # no registration yet, or withdrawn
    can_change: bool  # change the title or withdraw
    can_assess: bool  # write or go on with the self-assessment


async def _for_member(
    session: AsyncSession, member: Member, movement: Movement
) -> tuple[bool, Registration | None]:
    unit = await session.get(OrgUnit, member.unit_id)
    targeted = unit is not None and await is_for_unit(session, movement, unit)
    return targeted, await registration_of(session, movement, member=member)


async def card(
    session: AsyncSession, member: Member | None, movement_id: int, *, now: datetime
) -> Card:
    """The movement `movement_id` for the member: refused (NotAllowed "movement_not_for_you")
    when it is not targeted at their union and they have no registration for it."""
    member = require_member(member)
    movement = await get_movement(session, movement_id)
    targeted, registration = await _for_member(session, member, movement)
    if not targeted and registration is None:
        raise NotAllowed("movement_not_for_you")
    is_open = registration_open(movement, now)
    status = registration.status if registration is not None else None
    return Card(
        movement=movement,
        titles=individual_titles(movement),
        registration=registration,
        stage=stage_of(registration, movement, now) if registration is not None else None,
        colleagues=await colleagues_registered(session, movement, member.unit_id),
        registration_open=is_open,
        can_register=is_open and targeted and status in (None, RegistrationStatus.WITHDRAWN),
        can_change=is_open and status in CHANGEABLE,
        can_assess=status == RegistrationStatus.REGISTERED and assessment_open(movement, now),
    )


@dataclass(frozen=True)
class Choice:
    """What a member registering (or changing their title) chooses from."""

    movement: Movement
    titles: list[dict[str, Any]]
    current: Registration | None  # their registration when they are changing it


async def registration_choice(
    session: AsyncSession, member: Member | None, movement_id: int, *, now: datetime
) -> Choice:
    """Refuses at once what `models.movements.register` would refuse at the end (not a member,
    past the deadline, not for their union, a registration past its changing stage), so the
    member is not asked for a title in vain."""
    member = require_member(member)
    movement = await get_movement(session, movement_id)
    targeted, registration = await _for_member(session, member, movement)
    if not registration_open(movement, now):
        raise NotAllowed("registration_closed")
    if not targeted:
        raise NotAllowed("movement_not_for_you")
    if registration is not None and registration.status not in (
        *CHANGEABLE, RegistrationStatus.WITHDRAWN
    ):
        raise NotAllowed("registration_state", status=registration.status)
    current = (
        registration if registration is not None and registration.status in CHANGEABLE
        else None
    )
    return Choice(movement, individual_titles(movement), current)


async def withdrawal_check(
    session: AsyncSession, member: Member | None, movement_id: int, *, now: datetime
) -> Registration:
    """Refuses at once what `models.movements.withdraw` would refuse (asked before "are you
    sure?"); returns the registration that would be withdrawn."""
    member = require_member(member)
    movement = await get_movement(session, movement_id)
    registration = await registration_of(session, movement, member=member)
    if registration is None or registration.status == RegistrationStatus.WITHDRAWN:
        raise NotFound("registration_gone")
    if not registration_open(movement, now):
        raise NotAllowed("registration_closed")
    check_transition(registration, RegistrationStatus.WITHDRAWN)
    return registration


# --- /my ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mine:
    registration: Registration
    movement: Movement
    stage: Stage


@dataclass
class SchoolYear:
    year: str
    registrations: list[Mine] = field(default_factory=list)


async def my_registrations(
    session: AsyncSession, member: Member | None, *, now: datetime
) -> list[SchoolYear]:
    """The member's registrations, newest school year first, each with where it stands: their
    history of registrations and titles."""
    if member is None:
        raise NotFound("movement_not_member")
    years: list[SchoolYear] = []
    for registration, movement in await registrations_of_member(session, member):
        if not years or years[-1].year != registration.school_year:
            years.append(SchoolYear(registration.school_year))
        years[-1].registrations.append(
            Mine(registration, movement, stage_of(registration, movement, now))
        )
    return years


# --- the self-assessment -------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A self-assessment in progress: the next criterion to answer (None once every one is) and
    the evidence received so far."""

    movement: Movement
    registration: Registration
    next_criterion: int | None
    evidence: list[Evidence]

    @property
    def texts(self) -> list[str]:
        return list(self.registration.assessment or [])


async def _assessable(
    session: AsyncSession, member: Member | None, movement_id: int, now: datetime
) -> tuple[Movement, Registration]:
    """The movement and the member's registration, when a self-assessment may be written now:
    the window is open and the registration stands at "registered"."""
    member = require_member(member)
    movement = await get_movement(session, movement_id)
    registration = await registration_of(session, movement, member=member)
    if registration is None or registration.status == RegistrationStatus.WITHDRAWN:
        raise NotFound("registration_gone")
    if registration.status == RegistrationStatus.AWAITING_APPROVAL:
        raise NotAllowed("assessment_awaiting_approval")
    if registration.status != RegistrationStatus.REGISTERED:
        raise NotAllowed("assessment_already_submitted")
    if not assessment_open(movement, now):
        raise NotAllowed("assessment_closed")
    return movement, registration


async def evidence_of(session: AsyncSession, registration: Registration) -> list[Evidence]:
    rows = await session.exec(
        select(Evidence)
        .where(Evidence.registration_id == registration.id)
        .order_by(col(Evidence.id))
    )
    return list(rows.all())


async def _draft(session: AsyncSession, movement: Movement, registration: Registration) -> Draft:
    answered = len(registration.assessment or [])
    following = answered if answered < len(movement.criteria) else None
    return Draft(movement, registration, following, await evidence_of(session, registration))


async def start_assessment(
    session: AsyncSession, member: Member | None, movement_id: int, *, now: datetime
) -> Draft:
    """Opens (or resumes) the member's self-assessment."""
    movement, registration = await _assessable(session, member, movement_id, now)
    return await _draft(session, movement, registration)


async def answer_criterion(
    session: AsyncSession, member: Member | None, movement_id: int, text: str, *, now: datetime
) -> Draft:
    """Stores the text for the next unanswered criterion (1 to 1,000 characters)."""
    movement, registration = await _assessable(session, member, movement_id, now)
    texts = list(registration.assessment or [])
    if len(texts) >= len(movement.criteria):
        raise NotAllowed("assessment_texts_done")
    text = (text or "").strip()
    if not 1 <= len(text) <= ASSESSMENT_TEXT_MAX:
        raise InvalidInput("assessment_text_length", max=ASSESSMENT_TEXT_MAX)
    # A new list, so the JSON column is seen as changed.
    registration.assessment = [*texts, text]
    registration.updated_at = utcnow()
    session.add(registration)
    await session.flush()
    return await _draft(session, movement, registration)


async def add_evidence(
    session: AsyncSession,
    member: Member | None,
    movement_id: int,
    *,
    channel: str,
    kind: str,
    file_id: str,
    file_unique_id: str,
    file_name: str | None = None,
    size: int | None = None,
    now: datetime,
) -> tuple[Evidence, int]:
    """Keeps one photo or document (its platform file id) with the self-assessment; returns it
    and how many files the self-assessment has now. Refuses a file over the Bot API's download
    limit, the same file twice, and more than EVIDENCE_MAX_FILES files."""
    _, registration = await _assessable(session, member, movement_id, now)
    if kind not in EVIDENCE_KINDS or not file_id or not file_unique_id:
        raise InvalidInput("evidence_kind")
    if len(file_id) > _FILE_ID_MAX:
        raise InvalidInput("evidence_kind")
    if size is not None and size > EVIDENCE_MAX_BYTES:
        raise InvalidInput("evidence_too_large", max_mb=EVIDENCE_MAX_BYTES // 2**20)
    kept = await evidence_of(session, registration)
    if any(evidence.file_unique_id == file_unique_id[:64] for evidence in kept):
        raise InvalidInput("evidence_duplicate")
    if len(kept) >= EVIDENCE_MAX_FILES:
        raise InvalidInput("evidence_too_many", max=EVIDENCE_MAX_FILES)
    evidence = Evidence(
        registration_id=registration.id,  # type: ignore[arg-type]
        channel=channel,
        kind=kind,
        file_id=file_id,
        file_unique_id=file_unique_id[:64],
        file_name=(file_name or None) and file_name[:_FILE_NAME_MAX],
        size=size,
    )
    session.add(evidence)
    await session.flush()
    return evidence, len(kept) + 1


async def restart_assessment(
    session: AsyncSession, member: Member | None, movement_id: int, *, now: datetime
) -> Draft:
    """Forgets the texts and the files of an unsubmitted self-assessment: it starts again."""
    movement, registration = await _assessable(session, member, movement_id, now)
    await session.exec(delete(Evidence).where(Evidence.registration_id == registration.id))  # type: ignore[call-overload,arg-type]
    registration.assessment = []
    registration.updated_at = utcnow()
    session.add(registration)
    await session.flush()
    return await _draft(session, movement, registration)


async def submit_assessment(
    session: AsyncSession, member: Member | None, movement_id: int, *, now: datetime
) -> Registration:
    """Submits the self-assessment once every criterion has its text: the registration moves to
    "submitted" (only from "registered"), for the officials to decide."""
    movement, registration = await _assessable(session, member, movement_id, now)
    if len(registration.assessment or []) < len(movement.criteria):
        raise InvalidInput("assessment_incomplete")
    check_transition(registration, RegistrationStatus.SUBMITTED)
    registration.status = RegistrationStatus.SUBMITTED
    registration.submitted_at = now
    registration.updated_at = utcnow()
    session.add(registration)
    await session.flush()
    return registration
