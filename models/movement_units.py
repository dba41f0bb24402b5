"""A grassroots union's side of a movement (/myunit): its collective registration, who among its
members has and has not registered, and a reminder to those who have not.

Every function takes the official (`actor`), authorises Action.REGISTER_UNIT on the union and
checks that the movement is meant for it, so a forged button naming another union, or a movement
not targeted at this one, is refused (logged, nothing changed). Counts and names come from SQL,
one page at a time: a university's union may have thousands of members.

"Registered" means a registration that is not withdrawn (awaiting approval counts: the member
did register); the members counted are the union's active ones, not erased, as they are now.
A reminder goes at most once a day per movement and union (`MovementNudge` keeps the last one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, UniqueConstraint, and_, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, authorize, require_official
from models.base import UTCDateTime
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Member, MemberStatus
from models.movements import (
    Movement,
    MovementStatus,
    Registration,
    RegistrationStatus,
    for_unit_condition,
    is_for_unit,
    register_unit,
    registration_of,
    registration_open,
    withdraw_unit,
)
from models.org import OrgKind, OrgUnit

log = logging.getLogger(__name__)

# How long after a reminder the next one may go.
NUDGE_INTERVAL = timedelta(hours=24)


class MovementNudge(SQLModel, table=True):
    """When a union's members were last reminded of a movement, and by whom: one row per
    movement and union, moved forward by each reminder."""

    __tablename__ = "movement_nudge"
    __table_args__ = (UniqueConstraint("movement_id", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    movement_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("movement.id", ondelete="CASCADE"), nullable=False
        )
    )
    unit_id: int = Field(foreign_key="org_unit.id")
    nudged_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    by_member_id: int | None = Field(default=None)


@dataclass(frozen=True)
class UnitView:
    """What the union's officials see of one movement."""

    movement: Movement
    unit: OrgUnit
    # The union's collective registration (withdrawn ones included), if it ever registered.
    collective: Registration | None
    registered: int
    not_registered: int
    # When the last reminder went, and when the next one may.
    last_nudged_at: datetime | None

    @property
    def next_nudge_at(self) -> datetime | None:
        return self.last_nudged_at + NUDGE_INTERVAL if self.last_nudged_at else None


@dataclass(frozen=True)
class NameRow:
    full_name: str
    # The title aimed for and the registration's status; None for whoever never registered.
    title_code: str | None
    status: str | None


@dataclass(frozen=True)
class NamesPage:
    rows: list[NameRow]
    total: int


# --- which union and movement ------------------------------------------------------------------


async def _check(
    session: AsyncSession, actor: Actor, *, movement: Movement, unit: OrgUnit
) -> None:
    """The official may act for the union, it is an active grassroots union, and the movement
    (neither a draft nor archived) is meant for it."""
    await authorize(session, actor, Action.REGISTER_UNIT, unit=unit)
    if not unit.is_active:
        raise NotFound("unit_unavailable")
    if not unit.is_grassroots:
        raise InvalidInput("collective_grassroots_only")
    if movement.status in (MovementStatus.DRAFT, MovementStatus.ARCHIVED):
        raise NotFound("movement_gone")
    if not await is_for_unit(session, movement, unit):
        log.warning(
            "refused movement %s for unit %s by identity %s (member %s): not targeted",
            movement.id, unit.id, actor.identity.id, actor.member_id,
        )
        raise NotAllowed("movement_not_for_you")


async def unit_and_movement(
    session: AsyncSession, actor: Actor, *, movement_id: int, unit_id: int
) -> tuple[Movement, OrgUnit]:
    """The movement and union a button names, once the official may act on them."""
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("unit_unavailable")
    # The union first: a forged id of another union is refused whatever the movement.
    await authorize(session, actor, Action.REGISTER_UNIT, unit=unit)
    movement = await session.get(Movement, movement_id)
    if movement is None:
        raise NotFound("movement_gone")
    await _check(session, actor, movement=movement, unit=unit)
    return movement, unit


async def union_of_official(session: AsyncSession, actor: Actor, *, unit_id: int) -> OrgUnit:
    """The active grassroots union a button names, once the official may act for it."""
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.REGISTER_UNIT, unit=unit)
    if not unit.is_active:
        raise NotFound("unit_unavailable")
    if not unit.is_grassroots:
        raise InvalidInput("collective_grassroots_only")
    return unit


def collective_title(movement: Movement, index: int) -> dict[str, Any]:
    """The collective title at `index` in the movement's list (buttons carry the place, not
    the code, to stay short)."""
    if not 0 <= index < len(movement.titles) or not movement.titles[index].get("collective"):
        raise InvalidInput("title_unknown")
    return movement.titles[index]


async def my_unions(session: AsyncSession, actor: Actor) -> list[OrgUnit]:
    """The active grassroots unions the person is an official of (/myunit), by name."""
    require_official(actor)
    ids = [scope.unit_id for scope in actor.official_of]
    if not ids:
        return []
    rows = await session.exec(
        select(OrgUnit)
        .where(
            col(OrgUnit.id).in_(ids),
            OrgUnit.kind == OrgKind.GRASSROOTS,
            col(OrgUnit.is_active),
        )
        .order_by(col(OrgUnit.name_folded), col(OrgUnit.id))
    )
    return list(rows.all())


async def open_movements(
    session: AsyncSession, actor: Actor, *, unit: OrgUnit, offset: int = 0, limit: int = 8
) -> tuple[list[Movement], int]:
    """The open movements meant for the union, newest first, with their number."""
    await authorize(session, actor, Action.REGISTER_UNIT, unit=unit)
    if not unit.is_active:
        raise NotFound("unit_unavailable")
    if not unit.is_grassroots:
        raise InvalidInput("collective_grassroots_only")
    where = [Movement.status == MovementStatus.OPEN, for_unit_condition(unit)]
    total = (await session.exec(select(func.count()).select_from(Movement).where(*where))).one()
    rows = await session.exec(
        select(Movement)
        .where(*where)
        .order_by(col(Movement.created_at).desc(), col(Movement.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all()), int(total)


# --- who has registered ------------------------------------------------------------------------


def _members_with_registration(movement: Movement, unit: OrgUnit, *columns: Any):  # type: ignore[no-untyped-def]
    """`columns` of the union's active members, each joined with their registration for the
    movement if they have one that is not withdrawn."""
    return (
        select(*columns)
        .select_from(Member)
        .outerjoin(
            Registration,
            and_(
                col(Registration.member_id) == Member.id,
                col(Registration.movement_id) == movement.id,
                col(Registration.status) != RegistrationStatus.WITHDRAWN,
            ),
        )
        .where(
            Member.unit_id == unit.id,
            Member.status == MemberStatus.ACTIVE,
            col(Member.erased_at).is_(None),
        )
    )


async def unit_view(
    session: AsyncSession, actor: Actor, *, movement: Movement, unit: OrgUnit
) -> UnitView:
    """The union's collective registration and how many of its members have and have not
    registered."""
    await _check(session, actor, movement=movement, unit=unit)
    members, registered = (
        await session.exec(
            _members_with_registration(
                movement, unit, func.count(Member.id), func.count(Registration.id)
            )
        )
    ).one()
    last = (
        await session.exec(
            select(MovementNudge.nudged_at).where(
                MovementNudge.movement_id == movement.id, MovementNudge.unit_id == unit.id
            )
        )
    ).first()
    return UnitView(
        movement=movement,
        unit=unit,
        collective=await registration_of(session, movement, unit=unit),
        registered=int(registered),
        not_registered=int(members) - int(registered),
        last_nudged_at=last,
    )


async def unit_names(
    session: AsyncSession,
    actor: Actor,
    *,
    movement: Movement,
    unit: OrgUnit,
    registered: bool,
    offset: int = 0,
    limit: int = 20,
) -> NamesPage:
    """One page of the names of the members who have (or have not) registered, by name; those
    who have not are shown with "withdrawn" when they registered and withdrew."""
    await _check(session, actor, movement=movement, unit=unit)
    which = col(Registration.id).is_not(None) if registered else col(Registration.id).is_(None)
    total = (
        await session.exec(
            _members_with_registration(movement, unit, func.count(Member.id)).where(which)
        )
    ).one()
    if registered:
        query = _members_with_registration(
            movement, unit, Member.full_name, Registration.title_code, Registration.status
        )
    else:
        # Those who withdrew are found again through their (withdrawn) registration.
        withdrawn = (
            select(Registration.member_id)
            .where(
                Registration.movement_id == movement.id,
                Registration.status == RegistrationStatus.WITHDRAWN,
                col(Registration.member_id).is_not(None),
            )
            .scalar_subquery()
        )
        query = _members_with_registration(
            movement, unit, Member.full_name, Registration.title_code,
            col(Member.id).in_(withdrawn),
        )
    rows = await session.exec(
        query.where(which)
        .order_by(col(Member.full_name_folded), col(Member.id))
        .offset(offset)
        .limit(limit)
    )
    names = []
    for full_name, title_code, status in rows.all():
        if not registered:
            status = RegistrationStatus.WITHDRAWN if status else None
        names.append(NameRow(full_name, title_code, status))
    return NamesPage(names, int(total))


# --- the collective registration ---------------------------------------------------------------


def _snapshot(registration: Registration | None) -> dict[str, Any] | None:
    if registration is None:
        return None
    return {
        "movement_id": registration.movement_id,
        "unit_id": registration.unit_id,
        "title_code": registration.title_code,
        "status": registration.status,
    }


async def register_collective(
    session: AsyncSession,
    actor: Actor,
    *,
    movement: Movement,
    unit: OrgUnit,
    title_code: str,
    now: datetime,
) -> Registration:
    """Registers the union for a collective title, changes its title, or registers it again
    after a withdrawal; until the deadline. Audited."""
    await _check(session, actor, movement=movement, unit=unit)
    before = _snapshot(await registration_of(session, movement, unit=unit))
    registration = await register_unit(
        session, actor, unit=unit, movement=movement, title_code=title_code, now=now
    )
    await audit.record(
        session, actor, "register_unit", target_type="registration",
        target_id=registration.id, before=before, after=_snapshot(registration),
    )
    return registration


async def withdraw_collective(
    session: AsyncSession, actor: Actor, *, movement: Movement, unit: OrgUnit, now: datetime
) -> Registration:
    """Withdraws the union's collective registration, until the deadline. Audited."""
    await _check(session, actor, movement=movement, unit=unit)
    before = _snapshot(await registration_of(session, movement, unit=unit))
    registration = await withdraw_unit(session, actor, unit=unit, movement=movement, now=now)
    await audit.record(
        session, actor, "withdraw_unit", target_type="registration",
        target_id=registration.id, before=before, after=_snapshot(registration),
    )
    return registration


# --- the reminder -------------------------------------------------------------------------------


async def _claim_nudge(
    session: AsyncSession, actor: Actor, *, movement: Movement, unit: OrgUnit, now: datetime
) -> None:
    """Moves the last reminder to `now` unless one went less than a day ago (then refuses with
    when the next may go). Two officials tapping at once: one wins, the other is refused."""
    moved = await session.exec(
        update(MovementNudge)
        .where(
            col(MovementNudge.movement_id) == movement.id,
            col(MovementNudge.unit_id) == unit.id,
            col(MovementNudge.nudged_at) <= now - NUDGE_INTERVAL,
        )
        .values(nudged_at=now, by_member_id=actor.member_id)
    )
    if moved.rowcount == 1:  # type: ignore[attr-defined]
        return
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    inserted = await session.exec(
        dialect.insert(MovementNudge)  # type: ignore[attr-defined,call-overload]
        .values(
            movement_id=movement.id, unit_id=unit.id, nudged_at=now,
            by_member_id=actor.member_id,
        )
        .on_conflict_do_nothing()
    )
    if inserted.rowcount == 1:
        return
    last = (
        await session.exec(
            select(MovementNudge.nudged_at).where(
                MovementNudge.movement_id == movement.id, MovementNudge.unit_id == unit.id
            )
        )
    ).one()
    raise NotAllowed("nudge_too_soon", when=last + NUDGE_INTERVAL)


async def nudge_targets(
    session: AsyncSession, actor: Actor, *, movement: Movement, unit: OrgUnit, now: datetime
) -> list[Member]:
    """The union's active members who have not registered, to remind them; until the deadline,
    at most once a day. Records the reminder and audits it (how many, never who)."""
    await _check(session, actor, movement=movement, unit=unit)
    if not registration_open(movement, now):
        raise NotAllowed("nudge_closed")
    rows = await session.exec(
        _members_with_registration(movement, unit, Member)
        .where(col(Registration.id).is_(None))
        .order_by(col(Member.id))
    )
    members = list(rows.all())
    if not members:
        raise NotAllowed("nudge_nobody")
    await _claim_nudge(session, actor, movement=movement, unit=unit, now=now)
    await audit.record(
        session, actor, "nudge_unit", target_type="movement", target_id=movement.id,
        after={"unit_id": unit.id, "count": len(members)},
    )
    return members
