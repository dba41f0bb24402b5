"""Initiative calls (đợt nộp sáng kiến): a union's deadline for the initiatives of a school year.

One call per (unit, school year): the official who runs the unit's review (Action.RUN_REVIEW)
sets it, and setting it again moves the deadline. Its deadline reminders are computed from the
deadline at each tick (models/reminders.py), so moving it moves them; they reach the members of
the unit's subtree who still have a draft not submitted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Action, Actor, authorize, may, require_official
from models.audit import record
from models.base import UTCDateTime, utcnow
from models.errors import InvalidInput, NotAllowed
from models.org import OrgUnit


class InitiativeCall(SQLModel, table=True):
    __tablename__ = "initiative_call"
    __table_args__ = (
        UniqueConstraint("unit_id", "school_year"),
        Index("ix_initiative_call_deadline", "deadline"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(
        sa_column=Column(Integer, ForeignKey("org_unit.id"), nullable=False)
    )
    school_year: str = Field(sa_column=Column(String(9), nullable=False))  # "2026-2027"
    deadline: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Who set it last; None once they are erased.
    created_by_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


async def set_call(
    session: AsyncSession, actor: Actor, unit: OrgUnit, school_year: str, deadline: datetime,
    now: datetime,
) -> InitiativeCall:
    """Sets (or moves) the deadline of `unit`'s call for `school_year`, by an official who runs
    the unit's review. The deadline must be in the future. Audited."""
    await authorize(session, actor, Action.RUN_REVIEW, unit=unit)
    if deadline <= now:
        raise InvalidInput("initiative_call_deadline_past")
    found = (await session.exec(
        select(InitiativeCall).where(
            InitiativeCall.unit_id == unit.id, InitiativeCall.school_year == school_year
        )
    )).first()
    before = None
    if found is None:
        found = InitiativeCall(
            unit_id=unit.id, school_year=school_year, deadline=deadline,  # type: ignore[arg-type]
            created_by_member_id=actor.member_id, created_at=now, updated_at=now,
        )
    else:
        if found.deadline == deadline:
            return found
        before = {"deadline": found.deadline.isoformat()}
        found.deadline = deadline
        found.created_by_member_id = actor.member_id
        found.updated_at = now
    session.add(found)
    await session.flush()
    await record(session, actor, "initiative_call_set", target_type="initiative_call",
                 target_id=found.id, before=before,
                 after={"unit_id": unit.id, "school_year": school_year,
                        "deadline": deadline.isoformat()})
    return found


async def calls_for(session: AsyncSession, actor: Actor) -> list[InitiativeCall]:
    """The calls of the units in the official's scope, latest school year first."""
    require_official(actor)
    rows = await session.exec(
        select(InitiativeCall).join(OrgUnit, col(OrgUnit.id) == InitiativeCall.unit_id)
        .where(actor.unit_condition())
        .order_by(col(InitiativeCall.school_year).desc(), col(InitiativeCall.id))
    )
    return list(rows.all())


async def own_call(
    session: AsyncSession, actor: Actor, school_year: str
) -> tuple[OrgUnit, InitiativeCall | None]:
    """The unit whose call the official sets (their first scope whose review they run) and its
    call for `school_year`, if any. An administrator without a unit is refused."""
    require_official(actor)
    for scope in actor.official_of:
        unit = await session.get(OrgUnit, scope.unit_id)
        if unit is not None and may(actor, Action.RUN_REVIEW, unit=unit):
            found = (await session.exec(
                select(InitiativeCall).where(
                    InitiativeCall.unit_id == unit.id, InitiativeCall.school_year == school_year
                )
            )).first()
            return unit, found
    raise NotAllowed("initiative_call_no_unit")
