"""Who an announcement reaches: the audience an official chooses, checked, counted and resolved
into member ids by one SQL query.

An audience is the official's whole scope, or chosen units (each with its subtree) and/or
emulation blocs (the units tagged with them), narrowed by optional filters that all apply
together (AND): roles (grassroots chairs, officials at any level, reviewers: any of those
chosen), gender (members who did not disclose theirs are never in a gender filter), a movement
(its active registrants, or the members it targets who have not registered) and "has not yet
submitted an initiative in school year Y". Units and blocs add up among themselves (OR).

Whatever is chosen, only active, not erased members in the actor's scope are ever selected: the
scope is a condition of the query itself, so a bloc reaching into another district reaches only
its units inside the scope. A unit outside the scope can only come from a forged callback: it is
refused (NotAllowed, logged with ids by models.access).

An `Audience` is plain data (`to_dict` / `from_dict`), so an announcement stores what was chosen
and resolves it again when it is sent. `recipients` gives the query (a Select of member ids,
ordered by id, for an INSERT … SELECT); `resolve` streams the ids in batches by keyset paging, so
150,000 members are never loaded at once; `count` is the exact number of recipients.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, and_, exists, false, func, or_, true
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Action, Actor, Role, RoleAssignment, authorize, require_official
from models.errors import InvalidInput
from models.initiatives import Initiative, InitiativeAuthor, InitiativeStatus
from models.members import Gender, Member, MemberStatus
from models.movements import Movement, MovementStatus, MovementTarget, Registration
from models.movements import RegistrationStatus as RS
from models.org import EmulationBloc, OrgKind, OrgUnit, UnitBloc, in_subtree

log = logging.getLogger(__name__)

# Ids per batch of `resolve`: small enough to keep memory flat, large enough to be few queries.
BATCH_SIZE = 1000
# At most this many units and blocs chosen by hand (a chat keyboard offers far fewer).
CHOICES_MAX = 200

_YEAR = re.compile(r"^(\d{4})-(\d{4})$")


class AudienceRole(StrEnum):
    GRASSROOTS_CHAIRS = "grassroots_chairs"  # officials of grassroots unions
    OFFICIALS = "officials"  # officials of any unit, at any level
    REVIEWERS = "reviewers"  # members of initiative councils


class MovementCriterion(StrEnum):
    REGISTERED = "registered"  # registrations not withdrawn (awaiting approval included)
    NOT_REGISTERED = "not_registered"  # targeted by the movement, no active registration


@dataclass
class Audience:
    """What an official chose. `whole_scope`, or `unit_ids` and/or `bloc_ids`; then filters."""

    whole_scope: bool = False
    unit_ids: list[int] = field(default_factory=list)
    bloc_ids: list[int] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    gender: str | None = None
    movement_id: int | None = None
    movement_criterion: str | None = None
    # The school year ("2026-2027") in which the member has submitted no initiative.
    no_initiative_in: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "whole_scope": self.whole_scope,
            "unit_ids": list(self.unit_ids),
            "bloc_ids": list(self.bloc_ids),
            "roles": list(self.roles),
            "gender": self.gender,
            "movement_id": self.movement_id,
            "movement_criterion": self.movement_criterion,
            "no_initiative_in": self.no_initiative_in,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Audience:
        """The audience stored by `to_dict`; anything malformed is InvalidInput."""
        try:
            audience = cls(
                whole_scope=bool(data.get("whole_scope", False)),
                unit_ids=[_int(v) for v in _list(data.get("unit_ids"))],
                bloc_ids=[_int(v) for v in _list(data.get("bloc_ids"))],
                roles=[_str(v) for v in _list(data.get("roles"))],
                gender=_str_or_none(data.get("gender")),
                movement_id=None if data.get("movement_id") is None
                else _int(data["movement_id"]),
                movement_criterion=_str_or_none(data.get("movement_criterion")),
                no_initiative_in=_str_or_none(data.get("no_initiative_in")),
            )
        except (TypeError, ValueError, AttributeError) as error:
            raise InvalidInput("audience_invalid") from error
        return audience


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(value)
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(value)
    return int(value)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else _str(value)


# --- checking -----------------------------------------------------------------------------------


@dataclass
class _Checked:
    """What the ids of an audience name, once checked."""

    units: list[OrgUnit]
    blocs: list[EmulationBloc]
    movement: Movement | None


async def check(session: AsyncSession, actor: Actor, audience: Audience) -> _Checked:
    """Raises InvalidInput for a choice that cannot be used, NotAllowed (logged) for a unit
    outside the actor's scope, and returns the units, blocs and movement it names."""
    require_official(actor)
    unit_ids = list(dict.fromkeys(audience.unit_ids))
    bloc_ids = list(dict.fromkeys(audience.bloc_ids))
    if audience.whole_scope and (unit_ids or bloc_ids):
        raise InvalidInput("audience_scope_and_units")
    if not audience.whole_scope and not unit_ids and not bloc_ids:
        raise InvalidInput("audience_empty")
    if len(unit_ids) + len(bloc_ids) > CHOICES_MAX:
        raise InvalidInput("audience_too_many_choices", max=CHOICES_MAX)
    units: list[OrgUnit] = []
    if unit_ids:
        rows = await session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(unit_ids)))
        found = {unit.id: unit for unit in rows.all()}
        for unit_id in unit_ids:
            unit = found.get(unit_id)
            if unit is None or not unit.is_active:
                raise InvalidInput("audience_unit_unknown")
            await authorize(session, actor, Action.ANNOUNCE, unit=unit)
            units.append(unit)
    blocs: list[EmulationBloc] = []
    if bloc_ids:
        rows_b = await session.exec(
            select(EmulationBloc).where(col(EmulationBloc.id).in_(bloc_ids))
        )
        found_b = {bloc.id: bloc for bloc in rows_b.all()}
        inside = await session.exec(
            select(UnitBloc.bloc_id)
            .join(OrgUnit, col(OrgUnit.id) == UnitBloc.unit_id)
            .where(col(UnitBloc.bloc_id).in_(bloc_ids), actor.unit_condition())
            .distinct()
        )
        reaching = set(inside.all())
        for bloc_id in bloc_ids:
            bloc = found_b.get(bloc_id)
            if bloc is None:
                raise InvalidInput("audience_bloc_unknown")
            if bloc_id not in reaching:
                raise InvalidInput("audience_bloc_outside_scope")
            blocs.append(bloc)
    for role in audience.roles:
        if role not in AudienceRole.__members__.values():
            raise InvalidInput("audience_role_unknown")
    if audience.gender is not None and audience.gender not in (Gender.FEMALE, Gender.MALE):
        raise InvalidInput("audience_gender_unknown")
    movement = await _check_movement(session, actor, audience)
    if audience.no_initiative_in is not None:
        found_year = _YEAR.match(audience.no_initiative_in)
        if found_year is None or int(found_year.group(2)) != int(found_year.group(1)) + 1:
            raise InvalidInput("audience_school_year")
    return _Checked(units=units, blocs=blocs, movement=movement)


async def _check_movement(
    session: AsyncSession, actor: Actor, audience: Audience
) -> Movement | None:
    if audience.movement_id is None and audience.movement_criterion is None:
        return None
    if audience.movement_id is None:
        raise InvalidInput("audience_movement_missing")
    if audience.movement_criterion not in MovementCriterion.__members__.values():
        raise InvalidInput("audience_movement_criterion")
    movement = await session.get(Movement, audience.movement_id)
    if movement is None:
        raise InvalidInput("audience_movement_unknown")
    if not await movement_visible(session, actor, movement):
        log.warning(
            "refused audience movement %s by identity %s (member %s)",
            movement.id, actor.identity.id, actor.member_id,
        )
        raise InvalidInput("audience_movement_not_yours")
    return movement


async def movement_visible(session: AsyncSession, actor: Actor, movement: Movement) -> bool:
    """Whether an official may address a movement's registrants or laggards: they run it (its
    owner unit is in their scope), or it is published (open or closed) and targets units in
    their scope (everyone, a target whose subtree meets the scope, or a bloc with a unit in
    it)."""
    if actor.is_admin:
        return True
    owner = await session.get(OrgUnit, movement.owner_unit_id)
    if owner is not None and actor.covers(owner):
        return True
    if movement.status not in (MovementStatus.OPEN, MovementStatus.CLOSED):
        return False
    if movement.target_everyone:
        return True
    targets = await session.exec(
        select(MovementTarget).where(MovementTarget.movement_id == movement.id)
    )
    rows = list(targets.all())
    unit_ids = [row.unit_id for row in rows if row.unit_id is not None]
    bloc_ids = [row.bloc_id for row in rows if row.bloc_id is not None]
    if unit_ids:
        paths = await session.exec(select(OrgUnit.path).where(col(OrgUnit.id).in_(unit_ids)))
        for path in paths.all():
            # The target's subtree meets a scope's: one of them contains the other.
            if any(
                path.startswith(scope.path) or scope.path.startswith(path)
                for scope in actor.official_of
            ):
                return True
    if bloc_ids:
        inside = await session.exec(
            select(UnitBloc.unit_id)
            .join(OrgUnit, col(OrgUnit.id) == UnitBloc.unit_id)
            .where(col(UnitBloc.bloc_id).in_(bloc_ids), actor.unit_condition())
            .limit(1)
        )
        if inside.first() is not None:
            return True
    return False


# --- the query ----------------------------------------------------------------------------------


def targeted_by(movement: Movement) -> Any:
    """A condition on OrgUnit (the member's union): the movement is for it (everyone, a target
    unit it lies under, or a bloc it is tagged with), as models/movements.py decides."""
    if movement.target_everyone:
        return true()
    target_unit = aliased(OrgUnit)
    by_unit = exists(
        select(MovementTarget.id)
        .join(target_unit, target_unit.id == MovementTarget.unit_id)
        .where(
            MovementTarget.movement_id == movement.id,
            col(OrgUnit.path).like(target_unit.path + "%"),
        )
    )
    by_bloc = col(OrgUnit.id).in_(
        select(UnitBloc.unit_id)
        .join(MovementTarget, col(MovementTarget.bloc_id) == UnitBloc.bloc_id)
        .where(MovementTarget.movement_id == movement.id)
    )
    return or_(by_unit, by_bloc)


def _role_condition(role: str) -> Any:
    held = select(RoleAssignment.id).where(RoleAssignment.member_id == Member.id)
    if role == AudienceRole.REVIEWERS:
        return exists(held.where(RoleAssignment.role == Role.REVIEWER))
    held = held.where(RoleAssignment.role == Role.OFFICIAL)
    if role == AudienceRole.GRASSROOTS_CHAIRS:
        role_unit = aliased(OrgUnit)
        held = held.join(role_unit, role_unit.id == RoleAssignment.unit_id).where(
            role_unit.kind == OrgKind.GRASSROOTS
        )
    return exists(held)


def _initiative_condition(school_year: str) -> Any:
    """A condition on Member: no initiative of theirs (as its submitter or a listed co-author)
    got beyond a draft in `school_year`."""
    theirs = or_(
        Initiative.submitter_member_id == Member.id,
        exists(
            select(InitiativeAuthor.id)
            .where(
                InitiativeAuthor.initiative_id == Initiative.id,
                InitiativeAuthor.member_id == Member.id,
            )
            # Member is two levels up: auto-correlation only looks one level up.
            .correlate_except(InitiativeAuthor)
        ),
    )
    return ~exists(
        select(Initiative.id).where(
            Initiative.status != InitiativeStatus.DRAFT,
            Initiative.school_year == school_year,
            theirs,
        )
    )


def _conditions(actor: Actor, audience: Audience, checked: _Checked) -> list[Any]:
    conditions: list[Any] = [
        Member.status == MemberStatus.ACTIVE,
        col(Member.erased_at).is_(None),
        actor.unit_condition(),  # always: nobody outside the scope, whatever was chosen
    ]
    if not audience.whole_scope:
        chosen = [in_subtree(unit.path) for unit in checked.units]
        if checked.blocs:
            chosen.append(
                col(OrgUnit.id).in_(
                    select(UnitBloc.unit_id).where(
                        col(UnitBloc.bloc_id).in_([bloc.id for bloc in checked.blocs])
                    )
                )
            )
        conditions.append(or_(*chosen) if chosen else false())
    if audience.roles:
        conditions.append(or_(*(_role_condition(role) for role in dict.fromkeys(audience.roles))))
    if audience.gender is not None:
        conditions.append(Member.gender == audience.gender)
    if checked.movement is not None:
        active = exists(
            select(Registration.id).where(
                Registration.movement_id == checked.movement.id,
                Registration.member_id == Member.id,
                Registration.status != RS.WITHDRAWN,
            )
        )
        if audience.movement_criterion == MovementCriterion.REGISTERED:
            conditions.append(active)
        else:
            conditions.append(and_(targeted_by(checked.movement), ~active))
    if audience.no_initiative_in is not None:
        conditions.append(_initiative_condition(audience.no_initiative_in))
    return conditions


async def recipients(session: AsyncSession, actor: Actor, audience: Audience) -> Select:  # type: ignore[type-arg]
    """The query of the recipients' member ids (ordered by id), once the audience is checked:
    run it in pages (see `resolve`) or feed it to an INSERT … SELECT."""
    checked = await check(session, actor, audience)
    return (
        select(Member.id)
        .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
        .where(*_conditions(actor, audience, checked))
        .order_by(col(Member.id))
    )


async def count(session: AsyncSession, actor: Actor, audience: Audience) -> int:
    """The exact number of members `resolve` yields."""
    query = (await recipients(session, actor, audience)).order_by(None)
    total = await session.exec(select(func.count()).select_from(query.subquery()))
    return int(total.one())


async def resolve(
    session: AsyncSession, actor: Actor, audience: Audience, *, batch_size: int = BATCH_SIZE
) -> AsyncIterator[list[int]]:
    """The recipients' member ids in batches of at most `batch_size`, ascending. Each batch is
    its own query (the ids above the last one seen), so no cursor stays open between batches
    and the session may be used in between."""
    query = await recipients(session, actor, audience)
    last = 0
    while True:
        rows = await session.exec(query.where(col(Member.id) > last).limit(batch_size))
        batch = [int(member_id) for member_id in rows.all()]
        if not batch:
            return
        yield batch
        if len(batch) < batch_size:
            return
        last = batch[-1]


# --- describing ---------------------------------------------------------------------------------


@dataclass
class AudienceDescription:
    """What an audience is, for the preview: names, not ids; codes a handler translates."""

    whole_scope: bool
    # The units of the actor's scope (the whole scope) or the chosen units; empty for an
    # administrator's whole scope (everyone).
    units: list[str]
    blocs: list[str]
    roles: list[str]
    gender: str | None
    movement: str | None
    movement_criterion: str | None
    no_initiative_in: str | None
    count: int


async def describe(session: AsyncSession, actor: Actor, audience: Audience) -> AudienceDescription:
    """The audience in words a handler renders, with its exact recipient count."""
    checked = await check(session, actor, audience)
    if audience.whole_scope and not actor.is_admin:
        ids = [scope.unit_id for scope in actor.official_of]
        rows = await session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(ids)))
        by_id = {unit.id: unit for unit in rows.all()}
        units = [by_id[unit_id].name for unit_id in ids if unit_id in by_id]
    else:
        units = [unit.name for unit in checked.units]
    return AudienceDescription(
        whole_scope=audience.whole_scope,
        units=units,
        blocs=[bloc.name for bloc in checked.blocs],
        roles=list(dict.fromkeys(audience.roles)),
        gender=audience.gender,
        movement=checked.movement.name if checked.movement is not None else None,
        movement_criterion=audience.movement_criterion if checked.movement else None,
        no_initiative_in=audience.no_initiative_in,
        count=await count(session, actor, audience),
    )


async def blocs_for_announcing(session: AsyncSession, actor: Actor) -> list[EmulationBloc]:
    """The blocs with at least one unit in the actor's scope (what a bloc choice offers)."""
    inside = (
        select(UnitBloc.bloc_id)
        .join(OrgUnit, col(OrgUnit.id) == UnitBloc.unit_id)
        .where(col(OrgUnit.is_active), actor.unit_condition())
    )
    rows = await session.exec(
        select(EmulationBloc)
        .where(col(EmulationBloc.id).in_(inside))
        .order_by(EmulationBloc.name, col(EmulationBloc.id))
    )
    return list(rows.all())
