"""Emulation movements (phong trào thi đua): what they are, who they are for, and the
registrations of members and units, with the rules every feature of movements obeys.

A movement belongs to the unit of the official who created it (officials of that subtree run
it) and targets everyone, units (each with its subtree) and/or emulation blocs. A member
registers once per movement, for one title; a grassroots union registers itself for a
collective title the same way. Registrations follow one path:

    registered ──(assessment window)──▶ submitted ──(official)──▶ achieved / not achieved
        │  ▲
        ▼  │ (until the registration deadline)
     withdrawn

(with "awaiting approval" before "registered" when the movement asks officials to approve).
Deadlines are instants stored in UTC; people see and type them in Asia/Ho_Chi_Minh. Every
function that depends on time takes `now`, so the rules are tested without waiting.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Text, UniqueConstraint, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Action, Actor, authorize
from models.base import UTCDateTime, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Member, MemberStatus
from models.org import OrgUnit, UnitBloc

NAME_MAX = 255
TEXT_MAX = 4000
COMMITMENT_MAX = 1000


class MovementStatus(StrEnum):
    DRAFT = "draft"  # being prepared: only its officials see it
    OPEN = "open"  # members see it; registration until the deadline
    CLOSED = "closed"  # finished: results are being or have been given
    ARCHIVED = "archived"  # kept for history and templates, out of every list


class RegistrationStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    REGISTERED = "registered"
    WITHDRAWN = "withdrawn"
    SUBMITTED = "submitted"
    ACHIEVED = "achieved"
    NOT_ACHIEVED = "not_achieved"


# Which status may follow which; anything else is refused (NotAllowed "registration_state").
TRANSITIONS: dict[str, set[str]] = {
    RegistrationStatus.AWAITING_APPROVAL: {
        RegistrationStatus.REGISTERED, RegistrationStatus.WITHDRAWN,
    },
    RegistrationStatus.REGISTERED: {
        RegistrationStatus.WITHDRAWN, RegistrationStatus.SUBMITTED,
        RegistrationStatus.ACHIEVED, RegistrationStatus.NOT_ACHIEVED,
    },
    RegistrationStatus.WITHDRAWN: {
        RegistrationStatus.REGISTERED, RegistrationStatus.AWAITING_APPROVAL,
    },
    RegistrationStatus.SUBMITTED: {
        RegistrationStatus.SUBMITTED, RegistrationStatus.ACHIEVED,
        RegistrationStatus.NOT_ACHIEVED,
    },
    RegistrationStatus.ACHIEVED: {RegistrationStatus.NOT_ACHIEVED},
    RegistrationStatus.NOT_ACHIEVED: {RegistrationStatus.ACHIEVED},
}


class Movement(SQLModel, table=True):
    __tablename__ = "movement"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(NAME_MAX), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    # The criteria, in order: ["Hoàn thành tốt nhiệm vụ", …].
    criteria: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The titles one may aim for: [{"code": "GVTDVN", "name": "…", "collective": false}, …].
    titles: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # The unit whose officials run the movement (the creator's unit).
    owner_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    target_everyone: bool = False
    # Indexed: the reminders' tick looks for deadlines near now (models/reminders.py).
    registration_deadline: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    assessment_opens: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    assessment_closes: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    # Days before each deadline a reminder goes (None: 7, 3 and 1; [] none).
    reminder_offsets: list[int] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    requires_approval: bool = False
    status: str = Field(
        default=MovementStatus.DRAFT, sa_column=Column(String(16), nullable=False, index=True)
    )
    # "2026-2027": September to the summer; titles are kept per school year.
    school_year: str = Field(sa_column=Column(String(9), nullable=False, index=True))
    # The movement this one was copied from (a previous year's template), if any.
    copied_from_id: int | None = Field(default=None)
    created_by_member_id: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )

    def title(self, code: str) -> dict[str, Any] | None:
        return next((t for t in self.titles if t.get("code") == code), None)


class MovementTarget(SQLModel, table=True):
    """One unit (and its subtree) or one bloc a movement is for."""

    __tablename__ = "movement_target"

    id: int | None = Field(default=None, primary_key=True)
    movement_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("movement.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    bloc_id: int | None = Field(default=None, foreign_key="emulation_bloc.id")


class Registration(SQLModel, table=True):
    """A member's (or, collective, a unit's) registration for a movement: one per movement and
    registrant, enforced by the database through `registrant` ("m:<member id>" or
    "u:<unit id>"). Withdrawing keeps the row; registering again reuses it."""

    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("movement_id", "registrant"),)

    id: int | None = Field(default=None, primary_key=True)
    movement_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("movement.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    registrant: str = Field(sa_column=Column(String(24), nullable=False))
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    # The member's union when they registered (or the registering unit, collective).
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    collective: bool = False
    title_code: str = Field(sa_column=Column(String(32), nullable=False))
    commitment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(
        default=RegistrationStatus.REGISTERED,
        sa_column=Column(String(20), nullable=False, index=True),
    )
    school_year: str = Field(sa_column=Column(String(9), nullable=False, index=True))
    # The self-assessment: one text per criterion, in the movement's order.
    assessment: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    result_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_by_member_id: int | None = Field(default=None)
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    registered_by_member_id: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Evidence(SQLModel, table=True):
    """A photo or document attached to a self-assessment, kept as the platform's file id (the
    file stays on Telegram's servers; `file_unique_id` tells duplicates apart)."""

    __tablename__ = "evidence"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("registration.id", ondelete="CASCADE"), nullable=False,
            index=True,
        )
    )
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # photo / document
    # A Telegram file id, or the photo's address on Zalo (longer than a file id).
    file_id: str = Field(sa_column=Column(String(1024), nullable=False))
    file_unique_id: str = Field(sa_column=Column(String(64), nullable=False))
    file_name: str | None = Field(default=None, sa_column=Column(String(255)))
    size: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# --- school years and time ---------------------------------------------------------------------


def school_year_of(moment: datetime, tz: Any) -> str:
    """The school year a local date falls in: from September 1 to August 31 ("2026-2027")."""
    local = moment.astimezone(tz)
    start = local.year if local.month >= 9 else local.year - 1
    return f"{start}-{start + 1}"


def registration_open(movement: Movement, now: datetime) -> bool:
    return movement.status == MovementStatus.OPEN and now < movement.registration_deadline


def assessment_open(movement: Movement, now: datetime) -> bool:
    return (
        movement.status in (MovementStatus.OPEN, MovementStatus.CLOSED)
        and movement.assessment_opens <= now < movement.assessment_closes
    )


def check_transition(registration: Registration, to: str) -> None:
    if to not in TRANSITIONS.get(registration.status, set()):
        raise NotAllowed("registration_state", status=registration.status)


# --- who a movement is for ----------------------------------------------------------------------


async def targets_of(session: AsyncSession, movement: Movement) -> list[MovementTarget]:
    rows = await session.exec(
        select(MovementTarget).where(MovementTarget.movement_id == movement.id)
    )
    return list(rows.all())


def for_unit_condition(unit: OrgUnit):  # type: ignore[no-untyped-def]
    """A condition on Movement: targeted at `unit` (everyone, one of its ancestors or itself,
    or a bloc it belongs to)."""
    ancestor_ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    targeted = select(MovementTarget.movement_id).where(
        or_(
            col(MovementTarget.unit_id).in_(ancestor_ids),
            col(MovementTarget.bloc_id).in_(
                select(UnitBloc.bloc_id).where(UnitBloc.unit_id == unit.id)
            ),
        )
    )
    return or_(col(Movement.target_everyone), col(Movement.id).in_(targeted))


async def is_for_unit(session: AsyncSession, movement: Movement, unit: OrgUnit) -> bool:
    row = await session.exec(
        select(Movement.id).where(Movement.id == movement.id, for_unit_condition(unit))
    )
    return row.first() is not None


async def movements_for_member(
    session: AsyncSession, member: Member, *, offset: int = 0, limit: int = 8
) -> tuple[list[Movement], int]:
    """The open and closed (not archived, not draft) movements targeted at the member's union,
    newest first, with the total."""
    from sqlalchemy import func

    unit = await session.get(OrgUnit, member.unit_id)
    if unit is None:
        return [], 0
    where = [
        col(Movement.status).in_([MovementStatus.OPEN, MovementStatus.CLOSED]),
        for_unit_condition(unit),
    ]
    total = (await session.exec(select(func.count()).select_from(Movement).where(*where))).one()
    rows = await session.exec(
        select(Movement).where(*where)
        .order_by(col(Movement.created_at).desc(), col(Movement.id).desc())
        .offset(offset).limit(limit)
    )
    return list(rows.all()), int(total)


# --- the member's side ---------------------------------------------------------------------------


async def get_movement(session: AsyncSession, movement_id: int) -> Movement:
    movement = await session.get(Movement, movement_id)
    if movement is None or movement.status in (MovementStatus.DRAFT, MovementStatus.ARCHIVED):
        raise NotFound("movement_gone")
    return movement


async def registration_of(
    session: AsyncSession, movement: Movement, *, member: Member | None = None,
    unit: OrgUnit | None = None,
) -> Registration | None:
    registrant = f"m:{member.id}" if member is not None else f"u:{unit.id}"  # type: ignore[union-attr]
    rows = await session.exec(
        select(Registration).where(
            Registration.movement_id == movement.id, Registration.registrant == registrant
        )
    )
    return rows.first()


async def _insert_once(session: AsyncSession, registration: Registration) -> Registration:
    """Inserts the registration unless its registrant already has one for the movement (two
    taps at once: the unique key keeps one row, and the second tap goes on as a change of it),
    and returns the row that is there."""
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    await session.exec(
        dialect.insert(Registration)  # type: ignore[attr-defined,call-overload]
        .values(**registration.model_dump(exclude={"id"}))
        .on_conflict_do_nothing()
    )
    rows = await session.exec(
        select(Registration).where(
            Registration.movement_id == registration.movement_id,
            Registration.registrant == registration.registrant,
        )
    )
    return rows.one()


def _check_title(movement: Movement, title_code: str, *, collective: bool) -> None:
    title = movement.title(title_code)
    if title is None or bool(title.get("collective")) != collective:
        raise InvalidInput("title_unknown")


def _clean_commitment(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > COMMITMENT_MAX:
        raise InvalidInput("commitment_too_long", max=COMMITMENT_MAX)
    return text or None


async def register(
    session: AsyncSession,
    *,
    member: Member,
    movement: Movement,
    title_code: str,
    commitment: str | None = None,
    now: datetime,
) -> Registration:
    """Registers the member (or changes their title, or registers again after withdrawing),
    until the deadline, for a movement targeted at their union."""
    if member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        raise NotAllowed("movement_members_only")
    if not registration_open(movement, now):
        raise NotAllowed("registration_closed")
    unit = await session.get(OrgUnit, member.unit_id)
    if unit is None or not await is_for_unit(session, movement, unit):
        raise NotAllowed("movement_not_for_you")
    _check_title(movement, title_code, collective=False)
    commitment = _clean_commitment(commitment)
    first = (
        RegistrationStatus.AWAITING_APPROVAL if movement.requires_approval
        else RegistrationStatus.REGISTERED
    )
    registration = await registration_of(session, movement, member=member)
    if registration is None:
        registration = await _insert_once(session, Registration(
            movement_id=movement.id,  # type: ignore[arg-type]
            registrant=f"m:{member.id}",
            member_id=member.id,
            unit_id=member.unit_id,
            title_code=title_code,
            commitment=commitment,
            status=first,
            school_year=movement.school_year,
            registered_by_member_id=member.id,
        ))
    if registration.status == RegistrationStatus.WITHDRAWN:
        check_transition(registration, first)
        registration.status = first
    elif registration.status not in (
        RegistrationStatus.REGISTERED, RegistrationStatus.AWAITING_APPROVAL
    ):
        raise NotAllowed("registration_state", status=registration.status)
    registration.title_code = title_code
    registration.commitment = commitment
    registration.unit_id = member.unit_id
    registration.updated_at = utcnow()
    session.add(registration)
    await session.flush()
    return registration


async def withdraw(
    session: AsyncSession, *, member: Member, movement: Movement, now: datetime
) -> Registration:
    """Withdraws the member's registration, until the deadline."""
    registration = await registration_of(session, movement, member=member)
    if registration is None or registration.status == RegistrationStatus.WITHDRAWN:
        raise NotFound("registration_gone")
    if not registration_open(movement, now):
        raise NotAllowed("registration_closed")
    check_transition(registration, RegistrationStatus.WITHDRAWN)
    registration.status = RegistrationStatus.WITHDRAWN
    registration.updated_at = utcnow()
    session.add(registration)
    await session.flush()
    return registration


async def register_unit(
    session: AsyncSession,
    actor: Actor,
    *,
    unit: OrgUnit,
    movement: Movement,
    title_code: str,
    commitment: str | None = None,
    now: datetime,
) -> Registration:
    """The collective registration of a grassroots union by one of its officials."""
    await authorize(session, actor, Action.REGISTER_UNIT, unit=unit)
    if not unit.is_grassroots or not unit.is_active:
        raise InvalidInput("collective_grassroots_only")
    if not registration_open(movement, now):
        raise NotAllowed("registration_closed")
    if not await is_for_unit(session, movement, unit):
        raise NotAllowed("movement_not_for_you")
    _check_title(movement, title_code, collective=True)
    commitment = _clean_commitment(commitment)
    registration = await registration_of(session, movement, unit=unit)
    if registration is None:
        registration = await _insert_once(session, Registration(
            movement_id=movement.id,  # type: ignore[arg-type]
            registrant=f"u:{unit.id}",
            unit_id=unit.id,  # type: ignore[arg-type]
            collective=True,
            title_code=title_code,
            commitment=commitment,
            status=RegistrationStatus.REGISTERED,
            school_year=movement.school_year,
            registered_by_member_id=actor.member_id,
        ))
    if registration.status == RegistrationStatus.WITHDRAWN:
        check_transition(registration, RegistrationStatus.REGISTERED)
    elif registration.status != RegistrationStatus.REGISTERED:
        raise NotAllowed("registration_state", status=registration.status)
    registration.status = RegistrationStatus.REGISTERED
    registration.title_code = title_code
    registration.commitment = commitment
    registration.updated_at = utcnow()
    session.add(registration)
    await session.flush()
    return registration


async def withdraw_unit(
    session: AsyncSession, actor: Actor, *, unit: OrgUnit, movement: Movement, now: datetime
) -> Registration:
    """Withdraws a grassroots union's collective registration, until the deadline."""
    await authorize(session, actor, Action.REGISTER_UNIT, unit=unit)
    registration = await registration_of(session, movement, unit=unit)
    if registration is None or registration.status == RegistrationStatus.WITHDRAWN:
        raise NotFound("unit_registration_gone")
    if not registration_open(movement, now):
        raise NotAllowed("registration_closed")
    check_transition(registration, RegistrationStatus.WITHDRAWN)
    registration.status = RegistrationStatus.WITHDRAWN
    registration.updated_at = utcnow()
    session.add(registration)
    await session.flush()
    return registration


async def registrations_of_member(
    session: AsyncSession, member: Member
) -> list[tuple[Registration, Movement]]:
    """The member's registrations (withdrawn ones included), newest movement first: /my and the
    history by school year."""
    rows = await session.exec(
        select(Registration, Movement)
        .join(Movement, col(Movement.id) == Registration.movement_id)
        .where(Registration.member_id == member.id)
        .order_by(col(Movement.school_year).desc(), col(Movement.id).desc())
    )
    return list(rows.all())
