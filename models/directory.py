"""The member directory for officials: search and filter the members of their scope, a member's
card, the export to .xlsx, and appointing (or revoking) roles from a card.

Everything an official sees is limited to their scope in SQL (`Actor.unit_condition()` joined on
the member's unit), so a page or a count never loads members it would then have to hide. Ids
that arrive from buttons are authorised again here: a forged id outside the scope is refused
(and logged by `models.access.authorize`). Phones shown to officials are masked to their last
three digits, on screen and in the export alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from io import BytesIO
from typing import Any

from openpyxl import Workbook
from sqlalchemy import and_, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import (
    Action,
    Actor,
    Role,
    RoleAssignment,
    appoint,
    authorize,
    may,
    require_official,
    revoke,
    roles_of,
)
from models.audit import record
from models.base import fold
from models.errors import InvalidInput, NotFound
from models.members import Gender, Identity, Member, MemberStatus, Position
from models.org import OrgUnit, get_unit, list_children
from models.roster import text_cell

SEARCH_MAX_CHARS = 100
EXPORT_CHUNK = 1000
MASK = "•"
# What appointing each role asks of models.access (revoking asks the same, see revoke()).
_APPOINT_ACTION = {
    Role.OFFICIAL: Action.APPOINT_OFFICIAL,
    Role.REVIEWER: Action.APPOINT_REVIEWER,
    Role.ADMIN: Action.APPOINT_ADMIN,
}
_REVOKE_ACTION = {
    Role.OFFICIAL: Action.REVOKE_ROLE,
    Role.REVIEWER: Action.APPOINT_REVIEWER,
    Role.ADMIN: Action.APPOINT_ADMIN,
}


def mask_phone(phone: str | None) -> str | None:
    """A phone as officials see it: only its last three digits, in the national length
    ("+84912345678" → "•••••••678")."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if phone.startswith("+84"):
        digits = "0" + digits[2:]
    if len(digits) <= 3:
        return MASK * len(digits)
    return MASK * (len(digits) - 3) + digits[-3:]


# --- search --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One line of the directory: the member and their unit."""

    member: Member
    unit: OrgUnit


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _choice(value: str | None, allowed: type[StrEnum]) -> str | None:
    if value is None:
        return None
    if value not in {item.value for item in allowed}:
        raise InvalidInput("choice_invalid")
    return value


async def _conditions(
    session: AsyncSession,
    actor: Actor,
    action: Action,
    *,
    text: str | None,
    unit_id: int | None,
    position: str | None,
    gender: str | None,
    status: str | None,
) -> list[Any]:
    """The WHERE of a directory query: the actor's scope and the filters (each checked)."""
    require_official(actor)
    where: list[Any] = [col(Member.erased_at).is_(None), actor.unit_condition()]
    if unit_id is not None:
        unit = await session.get(OrgUnit, unit_id)
        if unit is None:
            raise NotFound("unit_unavailable")
        await authorize(session, actor, action, unit=unit)
        where.append(col(OrgUnit.path).like(f"{unit.path}%"))
    if text is not None:
        if len(text) > SEARCH_MAX_CHARS:
            raise InvalidInput("directory_search_invalid", max=SEARCH_MAX_CHARS)
        for word in fold(text).split():
            pattern = f"%{_escape_like(word)}%"
            where.append(col(Member.full_name_folded).like(pattern, escape="\\"))
    if _choice(position, Position) is not None:
        where.append(Member.position == position)
    if _choice(gender, Gender) is not None:
        if gender == Gender.UNDISCLOSED:
            where.append(or_(col(Member.gender).is_(None), Member.gender == gender))
        else:
            where.append(Member.gender == gender)
    if _choice(status, MemberStatus) is not None:
        where.append(Member.status == status)
    return where


async def search_members(
    session: AsyncSession,
    actor: Actor,
    *,
    text: str | None = None,
    unit_id: int | None = None,
    position: str | None = None,
    gender: str | None = None,
    status: str | None = None,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Listed], int]:
    """One page of the members in the actor's scope that match the filters (ordered by name,
    diacritics ignored), and how many match in all. `text` matches names containing every word
    of it, without diacritics; `unit_id` narrows to that unit and everything below it."""
    where = await _conditions(
        session, actor, Action.VIEW_UNIT, text=text, unit_id=unit_id, position=position,
        gender=gender, status=status,
    )
    joined = col(OrgUnit.id) == Member.unit_id
    total = (
        await session.exec(
            select(func.count()).select_from(Member).join(OrgUnit, joined).where(*where)
        )
    ).one()
    rows = await session.exec(
        select(Member, OrgUnit)
        .join(OrgUnit, joined)
        .where(*where)
        .order_by(col(Member.full_name_folded), col(Member.id))
        .offset(max(offset, 0))
        .limit(limit)
    )
    return [Listed(member, unit) for member, unit in rows.all()], int(total)


# --- browsing the units of one's scope ----------------------------------------------------------


@dataclass
class UnitLevel:
    """One page of a level of the tree, as far as the actor's scope reaches."""

    parent: OrgUnit | None  # None: the top of the actor's scope (several units)
    units: list[OrgUnit]
    total: int
    # Where "up" leads: a unit id, 0 for the top of the scope, None when there is no way up.
    up_id: int | None


async def browse_scope(
    session: AsyncSession, actor: Actor, *, parent_id: int | None, offset: int = 0, limit: int = 8
) -> UnitLevel:
    """The units under `parent_id` (None: the top of the actor's scope: the roots for an
    administrator; the units they are official of, or straight inside it when there is one)."""
    require_official(actor)
    if parent_id is None and not actor.is_admin:
        tops = [
            unit
            for scope in actor.official_of
            if (unit := await get_unit(session, scope.unit_id)) is not None
        ]
        if len(tops) != 1:
            tops.sort(key=lambda unit: (unit.name_folded, unit.id or 0))
            return UnitLevel(None, tops[offset : offset + limit], len(tops), None)
        parent_id = tops[0].id
    parent = None
    if parent_id is not None:
        parent = await get_unit(session, parent_id)
        if parent is None:
            raise NotFound("unit_unavailable")
        await authorize(session, actor, Action.VIEW_UNIT, unit=parent)
    units, total = await list_children(
        session, parent_id=parent_id, offset=max(offset, 0), limit=limit
    )
    return UnitLevel(parent, units, total, _up_from(actor, parent))


def _up_from(actor: Actor, parent: OrgUnit | None) -> int | None:
    if parent is None:
        return None
    if actor.is_admin:
        return parent.parent_id or 0
    above = parent.path.rstrip("/").rsplit("/", 1)[0] + "/"
    if any(above.startswith(scope.path) for scope in actor.official_of):
        return parent.parent_id
    return 0 if len(actor.official_of) > 1 else None


def may_appoint_at(actor: Actor, role: Role, unit: OrgUnit) -> bool:
    """Whether the actor may make someone `role` of `unit` (to offer that unit as a choice)."""
    return may(actor, _APPOINT_ACTION[role], unit=unit)


# --- a member's card -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldRole:
    assignment_id: int
    role: str
    unit_id: int | None
    unit_name: str | None
    may_revoke: bool


@dataclass
class MemberCard:
    """What an official sees of one member: never the full phone."""

    member_id: int
    full_name: str
    unit_name: str
    position: str
    gender: str | None
    phone: str | None  # masked
    status: str
    roles: list[HeldRole] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    may_appoint_official: bool = False
    may_appoint_reviewer: bool = False
    may_appoint_admin: bool = False


async def _member_in_scope(session: AsyncSession, actor: Actor, member_id: int) -> Member:
    require_official(actor)
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("directory_member_gone")
    await authorize(session, actor, Action.VIEW_MEMBER, member=member)
    return member


def _may_revoke(actor: Actor, assignment: RoleAssignment, unit: OrgUnit | None) -> bool:
    """The rule of models.access.revoke, asked without acting (to show the button or not)."""
    return may(actor, _REVOKE_ACTION[Role(assignment.role)], unit=unit)


async def _has_units_below(session: AsyncSession, actor: Actor) -> bool:
    """Whether the actor has any unit strictly below their own to appoint officials to."""
    if actor.is_admin:
        return True
    own = [scope.unit_id for scope in actor.official_of]
    found = await session.exec(
        select(OrgUnit.id)
        .where(actor.unit_condition(), col(OrgUnit.is_active), col(OrgUnit.id).not_in(own))
        .limit(1)
    )
    return found.first() is not None


async def member_card(session: AsyncSession, actor: Actor, member_id: int) -> MemberCard:
    """The card of a member in the actor's scope (NotAllowed, logged, for anyone else)."""
    member = await _member_in_scope(session, actor, member_id)
    unit = await session.get(OrgUnit, member.unit_id)
    assert unit is not None
    roles = []
    for assignment in await roles_of(session, member_id):
        role_unit = None
        if assignment.unit_id is not None:
            role_unit = await session.get(OrgUnit, assignment.unit_id)
        roles.append(
            HeldRole(
                assignment_id=assignment.id,  # type: ignore[arg-type]
                role=assignment.role,
                unit_id=assignment.unit_id,
                unit_name=role_unit.name if role_unit is not None else None,
                may_revoke=_may_revoke(actor, assignment, role_unit),
            )
        )
    channels = await session.exec(
        select(Identity.channel).where(Identity.member_id == member_id).order_by(col(Identity.id))
    )
    active = member.status == MemberStatus.ACTIVE
    return MemberCard(
        member_id=member_id,
        full_name=member.full_name,
        unit_name=unit.name,
        position=member.position,
        gender=member.gender,
        phone=mask_phone(member.phone),
        status=member.status,
        roles=roles,
        channels=list(channels.all()),
        may_appoint_official=active and await _has_units_below(session, actor),
        may_appoint_reviewer=active,
        may_appoint_admin=active
        and actor.is_admin
        and not any(role.role == Role.ADMIN for role in roles),
    )


# --- appointing and revoking ---------------------------------------------------------------------


@dataclass(frozen=True)
class RoleChange:
    """An appointment (to make, or made) or a revocation: whom, which role, where."""

    member: Member
    role: Role
    unit: OrgUnit | None
    assignment_id: int | None = None


async def _appointment(
    session: AsyncSession, actor: Actor, *, member_id: int, role: Role, unit_id: int | None
) -> RoleChange:
    member = await _member_in_scope(session, actor, member_id)
    unit = None
    if role is not Role.ADMIN:
        unit = await get_unit(session, unit_id) if unit_id else None
        if unit is None:
            raise NotFound("unit_unavailable")
    await authorize(session, actor, _APPOINT_ACTION[role], unit=unit)
    return RoleChange(member, role, unit)


async def preview_appointment(
    session: AsyncSession, actor: Actor, *, member_id: int, role: Role, unit_id: int | None
) -> RoleChange:
    """Checks an appointment before asking to confirm it; changes nothing."""
    return await _appointment(session, actor, member_id=member_id, role=role, unit_id=unit_id)


async def appoint_role(
    session: AsyncSession, actor: Actor, *, member_id: int, role: Role, unit_id: int | None
) -> RoleChange:
    """Makes a member of the actor's scope official or reviewer of a unit (strictly below the
    actor's own level for officials; anywhere for administrators) or an administrator; audited.
    The caller commits."""
    change = await _appointment(session, actor, member_id=member_id, role=role, unit_id=unit_id)
    assignment = await appoint(session, actor, member=change.member, role=role, unit=change.unit)
    await record(
        session, actor, "appoint", target_type="member", target_id=member_id,
        before=None, after=_role_fields(assignment),
    )
    return RoleChange(change.member, role, change.unit, assignment.id)


def _role_fields(assignment: RoleAssignment) -> dict[str, Any]:
    return {"assignment_id": assignment.id, "role": assignment.role, "unit_id": assignment.unit_id}


async def _assignment(session: AsyncSession, actor: Actor, assignment_id: int) -> RoleChange:
    require_official(actor)
    assignment = await session.get(RoleAssignment, assignment_id)
    member = None
    if assignment is not None:
        member = await session.get(Member, assignment.member_id)
    if assignment is None or member is None:
        raise NotFound("directory_role_gone")
    unit = None
    if assignment.unit_id is not None:
        unit = await session.get(OrgUnit, assignment.unit_id)
    # The rule of models.access.revoke, asked now so that a confirmation is never offered for
    # what would be refused (and the refusal is logged like any other).
    await authorize(session, actor, _REVOKE_ACTION[Role(assignment.role)], unit=unit)
    return RoleChange(member, Role(assignment.role), unit, assignment.id)


async def preview_revocation(
    session: AsyncSession, actor: Actor, *, assignment_id: int
) -> RoleChange:
    """Checks a revocation before asking to confirm it; changes nothing."""
    return await _assignment(session, actor, assignment_id)


async def revoke_role(session: AsyncSession, actor: Actor, *, assignment_id: int) -> RoleChange:
    """Takes a role away by the rule that gives it (models.access.revoke); audited. The caller
    commits."""
    change = await _assignment(session, actor, assignment_id)
    assignment = await session.get(RoleAssignment, assignment_id)
    assert assignment is not None
    before = _role_fields(assignment)
    await revoke(session, actor, assignment=assignment)
    await record(
        session, actor, "revoke", target_type="member", target_id=change.member.id,
        before=before, after=None,
    )
    return change


# --- export -------------------------------------------------------------------------------------


EXPORT_COLUMNS = (
    "directory.column.name",
    "directory.column.unit",
    "directory.column.unit_code",
    "directory.column.position",
    "directory.column.gender",
    "directory.column.date_of_birth",
    "directory.column.phone",
    "directory.column.union_member",
    "directory.column.member_code",
    "directory.column.status",
    "directory.column.joined_chat",
)


async def export_xlsx(
    session: AsyncSession,
    actor: Actor,
    *,
    text: str | None = None,
    unit_id: int | None = None,
    position: str | None = None,
    gender: str | None = None,
    status: str | None = None,
    translate: Callable[[str], str],
) -> bytes:
    """An .xlsx of every member of the actor's scope that matches the filters (phones masked),
    with `translate(key)` giving the headers and the values' names; audited with the count only.
    Rows are read in chunks and written to a write-only workbook, so a whole city fits."""
    where = await _conditions(
        session, actor, Action.EXPORT_MEMBERS, text=text, unit_id=unit_id, position=position,
        gender=gender, status=status,
    )
    joined_chat = select(Identity.id).where(Identity.member_id == Member.id).exists()
    query = (
        select(
            Member.id,
            Member.full_name_folded,
            Member.full_name,
            OrgUnit.name,
            OrgUnit.code,
            Member.position,
            Member.gender,
            Member.date_of_birth,
            Member.phone,
            Member.is_union_member,
            Member.member_code,
            Member.status,
            joined_chat,
        )
        .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
        .where(*where)
        .order_by(col(Member.full_name_folded), col(Member.id))
        .limit(EXPORT_CHUNK)
    )
    yes, no = translate("directory.yes"), translate("directory.no")
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(translate("directory.sheet"))
    sheet.append([translate(key) for key in EXPORT_COLUMNS])
    count = 0
    last: tuple[str, int] | None = None
    while True:
        # Keyset pages (name, id): each chunk is one indexed query, whatever the offset.
        page = query if last is None else query.where(
            or_(
                col(Member.full_name_folded) > last[0],
                and_(col(Member.full_name_folded) == last[0], col(Member.id) > last[1]),
            )
        )
        rows = (await session.exec(page)).all()
        values = []
        for row in rows:
            (member_id, folded, name, unit_name, unit_code, member_position, member_gender,
             born, phone, union_member, code, member_status, on_chat) = row
            values.append([
                name,
                unit_name,
                unit_code,
                translate(f"position.{member_position}") if member_position else None,
                translate(f"gender.{member_gender}") if member_gender else None,
                born if isinstance(born, date) else None,
                mask_phone(phone),
                None if union_member is None else (yes if union_member else no),
                code,
                translate(f"status.{member_status}"),
                yes if on_chat else no,
            ])
            last = (folded, member_id)
        # Writing the rows is CPU work (seconds for a whole city): off the event loop, so the
        # bot keeps answering everyone else meanwhile.
        await asyncio.to_thread(_append_rows, sheet, values)
        count += len(rows)
        if len(rows) < EXPORT_CHUNK:
            break
    await record(
        session, actor, "export_members", target_type="unit", target_id=unit_id,
        before=None, after={"rows": count},
    )
    buffer = BytesIO()
    await asyncio.to_thread(workbook.save, buffer)
    return buffer.getvalue()


def _append_rows(sheet: Any, rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([text_cell(sheet, value) for value in row])
