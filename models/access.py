"""Who may do what, to which unit, member or object: the one place that answers it.

Every handler and every callback asks `authorize(...)` before it reads or changes anything an
official manages. The answer depends on the person's roles:

- administrator: everything, everywhere (from ADMIN_TELEGRAM_IDS, or appointed);
- official of a unit: that unit's whole subtree. Members, invites, imports and approvals of any
  unit in it; the units strictly below their own (their own unit is managed from above); and
  they appoint officials only strictly below their own level;
- reviewer: may be seated on the councils of initiatives of their unit's subtree, and scores
  what they are seated on (models/initiative_review.py asks the seat, not an Action);
- member: their own data only.

A refusal raises `NotAllowed("not_allowed")` and is logged with ids only (who, what, which
target), so a forged callback naming another unit's member leaves a trace but no personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Integer, String, UniqueConstraint, false, or_, true
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import UTCDateTime, utcnow
from models.errors import NotAllowed
from models.members import (
    Channel,
    Identity,
    Member,
    MemberStatus,
    ensure_identity,
    identities_of,
    member_of,
    reachable_identity,
)
from models.org import OrgUnit, in_subtree

log = logging.getLogger(__name__)


class Role(StrEnum):
    ADMIN = "admin"
    OFFICIAL = "official"
    REVIEWER = "reviewer"


class Action(StrEnum):
    """What an official does; the target kind each takes is in the comment."""

    VIEW_UNIT = "view_unit"  # unit: browse it and what is below
    ADD_UNIT = "add_unit"  # unit: the parent of the new unit
    EDIT_UNIT = "edit_unit"  # unit: rename, move, deactivate, tag with blocs
    MOVE_UNIT_TO = "move_unit_to"  # unit: the new parent of a moved unit
    MANAGE_BLOCS = "manage_blocs"  # nothing: create emulation blocs (administrators)
    APPOINT_OFFICIAL = "appoint_official"  # unit: the unit the new official will run
    APPOINT_REVIEWER = "appoint_reviewer"  # unit: the council's unit
    APPOINT_ADMIN = "appoint_admin"  # nothing
    REVOKE_ROLE = "revoke_role"  # unit: the unit of the role taken away (admin: nothing)
    INVITE = "invite"  # unit: the grassroots union the invite joins
    IMPORT_MEMBERS = "import_members"  # unit: where the roster's members go
    VIEW_MEMBER = "view_member"  # member
    APPROVE_MEMBER = "approve_member"  # member (approve or reject)
    EXPORT_MEMBERS = "export_members"  # unit
    REGISTER_UNIT = "register_unit"  # unit: a grassroots union registering collectively
    RUN_MOVEMENT = "run_movement"  # unit: create (the official's unit), edit, close, give
    # results and see the registrants of the movements that unit owns
    RUN_REVIEW = "run_review"  # unit: the receiving unit of initiatives: see its queue, seat
    # a council, set the scoring deadline, forward, export; and the initiative statistics
    ANNOUNCE = "announce"  # unit: one an announcement is sent to (with its subtree)


# Actions on a unit that an official may take on their own unit too; the others only strictly
# below it ("never at or above their own level").
_OWN_UNIT_INCLUDED = {
    Action.VIEW_UNIT,
    Action.ADD_UNIT,
    Action.MOVE_UNIT_TO,
    Action.APPOINT_REVIEWER,
    Action.INVITE,
    Action.IMPORT_MEMBERS,
    Action.EXPORT_MEMBERS,
    Action.REGISTER_UNIT,
    Action.RUN_MOVEMENT,
    Action.RUN_REVIEW,
    Action.ANNOUNCE,
}
_STRICTLY_BELOW = {Action.EDIT_UNIT, Action.APPOINT_OFFICIAL, Action.REVOKE_ROLE}
_MEMBER_ACTIONS = {Action.VIEW_MEMBER, Action.APPROVE_MEMBER}
_ADMIN_ONLY = {Action.MANAGE_BLOCS, Action.APPOINT_ADMIN}


class RoleAssignment(SQLModel, table=True):
    """A role held by a member: administrator (no unit), or official / reviewer of a unit."""

    __tablename__ = "role_assignment"
    __table_args__ = (UniqueConstraint("member_id", "role", "unit_id"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("member.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    role: str = Field(sa_column=Column(String(16), nullable=False))
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    # Who appointed (None: the configuration or the CLI).
    appointed_by_member_id: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


@dataclass(frozen=True)
class Scope:
    """One unit an official (or reviewer) acts for."""

    unit_id: int
    path: str


@dataclass
class Actor:
    """The person behind an update, with what they may act on."""

    identity: Identity
    member: Member | None
    is_admin: bool = False
    official_of: list[Scope] = field(default_factory=list)
    reviewer_of: list[Scope] = field(default_factory=list)

    @property
    def member_id(self) -> int | None:
        return self.member.id if self.member is not None else None

    @property
    def is_official(self) -> bool:
        """Whether they have anything to manage (administrators included)."""
        return self.is_admin or bool(self.official_of)

    def covers(self, unit: OrgUnit, *, strictly_below: bool = False) -> bool:
        """Whether `unit` lies in one of the official's subtrees (below its top, if strict)."""
        if self.is_admin:
            return True
        return any(
            unit.path.startswith(scope.path) and not (strictly_below and unit.path == scope.path)
            for scope in self.official_of
        )

    def unit_condition(self):  # type: ignore[no-untyped-def]
        """A condition on OrgUnit selecting the units in scope, for listing queries."""
        if self.is_admin:
            return true()
        if not self.official_of:
            return false()
        return or_(*(in_subtree(scope.path) for scope in self.official_of))


async def actor_for(
    session: AsyncSession, identity: Identity, *, admin_telegram_ids: Iterable[int] = ()
) -> Actor:
    """The roles of the person behind `identity`. Roles belong to active members; a Telegram
    account listed in ADMIN_TELEGRAM_IDS is an administrator even before joining, and so is a
    Zalo account linked to the same profile."""
    admin_ids = {str(admin_id) for admin_id in admin_telegram_ids}
    is_admin = identity.channel == Channel.TELEGRAM and identity.external_id in admin_ids
    member = None
    if identity.member_id is not None:
        member = await session.get(Member, identity.member_id)
    actor = Actor(identity=identity, member=member, is_admin=is_admin)
    if member is None or member.erased_at is not None:
        return actor
    if not is_admin and admin_ids:
        linked = await session.exec(
            select(Identity.external_id).where(
                Identity.member_id == member.id, Identity.channel == Channel.TELEGRAM
            )
        )
        actor.is_admin = any(external_id in admin_ids for external_id in linked.all())
    if member.status != MemberStatus.ACTIVE:
        return actor
    rows = await session.exec(
        select(RoleAssignment.role, OrgUnit.id, OrgUnit.path)
        .select_from(RoleAssignment)
        .outerjoin(OrgUnit, col(OrgUnit.id) == RoleAssignment.unit_id)
        .where(RoleAssignment.member_id == member.id)
        .order_by(col(RoleAssignment.id))
    )
    for role, unit_id, path in rows.all():
        if role == Role.ADMIN:
            actor.is_admin = True
        elif role == Role.OFFICIAL and unit_id is not None:
            actor.official_of.append(Scope(unit_id, path))
        elif role == Role.REVIEWER and unit_id is not None:
            actor.reviewer_of.append(Scope(unit_id, path))
    return actor


async def author_actor(
    session: AsyncSession,
    *,
    identity_id: int | None,
    member_id: int | None,
    admin_telegram_ids: Iterable[int] = (),
) -> Actor | None:
    """The author of something sent later (an announcement, an event reminder) as they are
    now: acting from the account they wrote it with, or their first one if it is gone; None
    when no account of theirs is left (they erased their data)."""
    identity = await session.get(Identity, identity_id) if identity_id is not None else None
    if identity is None and member_id is not None:
        rows = await session.exec(
            select(Identity).where(col(Identity.member_id) == member_id)
            .order_by(col(Identity.id))
        )
        identity = rows.first()
    if identity is None:
        return None
    return await actor_for(session, identity, admin_telegram_ids=admin_telegram_ids)


def may(
    actor: Actor,
    action: Action,
    *,
    unit: OrgUnit | None = None,
    member: Member | None = None,
    member_unit: OrgUnit | None = None,
) -> bool:
    """Whether `actor` may take `action` on the target (see Action for which target each
    takes). A member target needs its unit (`member_unit`) to place it in the tree."""
    if action in _ADMIN_ONLY:
        return actor.is_admin
    if action in _MEMBER_ACTIONS:
        if member is None or member_unit is None or member_unit.id != member.unit_id:
            return False
        return actor.covers(member_unit)
    if unit is None:
        return actor.is_admin and action is Action.REVOKE_ROLE
    if action in _STRICTLY_BELOW:
        return actor.covers(unit, strictly_below=True)
    if action in _OWN_UNIT_INCLUDED:
        return actor.covers(unit)
    raise ValueError(f"unknown action {action!r}")


async def authorize(
    session: AsyncSession,
    actor: Actor,
    action: Action,
    *,
    unit: OrgUnit | None = None,
    member: Member | None = None,
) -> None:
    """Raises NotAllowed (and logs the refusal, ids only) unless `actor` may take `action`."""
    member_unit = None
    if member is not None:
        member_unit = await session.get(OrgUnit, member.unit_id)
    if may(actor, action, unit=unit, member=member, member_unit=member_unit):
        return
    log.warning(
        "refused %s by identity %s (member %s) on unit %s member %s",
        action,
        actor.identity.id,
        actor.member_id,
        unit.id if unit is not None else None,
        member.id if member is not None else None,
    )
    raise NotAllowed("not_allowed")


def require_official(actor: Actor) -> None:
    """For the officials' commands: refuses (quietly: no target was named) anyone else."""
    if not actor.is_official:
        raise NotAllowed("officials_only")


# --- appointing ---------------------------------------------------------------------------------


async def appoint(
    session: AsyncSession,
    actor: Actor | None,
    *,
    member: Member,
    role: Role,
    unit: OrgUnit | None = None,
) -> RoleAssignment:
    """Gives `member` a role; `actor` None is the operator (CLI). Officials appoint officials
    strictly below their own level, reviewers within their scope; only administrators appoint
    administrators. The appointee must be an active member."""
    if actor is not None:
        action = {
            Role.ADMIN: Action.APPOINT_ADMIN,
            Role.OFFICIAL: Action.APPOINT_OFFICIAL,
            Role.REVIEWER: Action.APPOINT_REVIEWER,
        }[role]
        await authorize(session, actor, action, unit=unit)
    if member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        raise NotAllowed("appointee_not_active")
    if (role is Role.ADMIN) != (unit is None):
        raise NotAllowed("role_needs_unit" if unit is None else "admin_has_no_unit")
    same_unit = (
        col(RoleAssignment.unit_id).is_(None)
        if unit is None
        else RoleAssignment.unit_id == unit.id
    )
    existing = await session.exec(
        select(RoleAssignment.id).where(
            RoleAssignment.member_id == member.id, RoleAssignment.role == role, same_unit
        )
    )
    if existing.first() is not None:
        raise NotAllowed("already_has_role")
    assignment = RoleAssignment(
        member_id=member.id,  # type: ignore[arg-type]
        role=role,
        unit_id=unit.id if unit is not None else None,
        appointed_by_member_id=actor.member_id if actor is not None else None,
    )
    session.add(assignment)
    await session.flush()
    return assignment


async def revoke(
    session: AsyncSession, actor: Actor | None, *, assignment: RoleAssignment
) -> None:
    """Takes a role away, by the same rule as giving it (an official cannot unseat a peer)."""
    if actor is not None:
        unit = None
        if assignment.unit_id is not None:
            unit = await session.get(OrgUnit, assignment.unit_id)
        if assignment.role == Role.ADMIN:
            await authorize(session, actor, Action.APPOINT_ADMIN)
        elif assignment.role == Role.REVIEWER:
            await authorize(session, actor, Action.APPOINT_REVIEWER, unit=unit)
        else:
            await authorize(session, actor, Action.REVOKE_ROLE, unit=unit)
    await session.delete(assignment)
    await session.flush()


async def roles_of(session: AsyncSession, member_id: int) -> list[RoleAssignment]:
    rows = await session.exec(
        select(RoleAssignment)
        .where(RoleAssignment.member_id == member_id)
        .order_by(col(RoleAssignment.id))
    )
    return list(rows.all())


async def officials_of_unit(session: AsyncSession, unit: OrgUnit) -> list[Member]:
    """The active officials nearest above `unit` (its own, else its parent's, …): whoever
    approves the members who join it."""
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    if not ids:
        return []
    rows = await session.exec(
        select(Member, OrgUnit.path)
        .join(RoleAssignment, col(RoleAssignment.member_id) == Member.id)
        .join(OrgUnit, col(OrgUnit.id) == RoleAssignment.unit_id)
        .where(
            RoleAssignment.role == Role.OFFICIAL,
            col(RoleAssignment.unit_id).in_(ids),
            Member.status == MemberStatus.ACTIVE,
            col(Member.erased_at).is_(None),
        )
    )
    found = list(rows.all())
    if not found:
        return []
    nearest = max(len(path) for _, path in found)
    seen: dict[int, Member] = {}
    for member, path in found:
        if len(path) == nearest:
            seen.setdefault(member.id, member)  # type: ignore[arg-type]
    return list(seen.values())


async def officials_to_notify(
    session: AsyncSession, *, unit: OrgUnit, admin_telegram_ids: Iterable[int]
) -> list[Identity]:
    """Who hears that someone joined `unit`: its nearest officials (see officials_of_unit), each
    on their preferred channel; the administrators while no official covers the unit."""
    identities: list[Identity] = []
    for official in await officials_of_unit(session, unit):
        accounts = await identities_of(session, official.id)  # type: ignore[arg-type]
        reached = reachable_identity(official, accounts)
        if reached is not None:
            identities.append(reached)
    if identities:
        return identities
    for admin_id in admin_telegram_ids:
        identity = await ensure_identity(
            session, channel=Channel.TELEGRAM, external_id=str(admin_id)
        )
        member = await member_of(session, identity)
        if member is not None and member.preferred_channel is not None:
            accounts = await identities_of(session, member.id)  # type: ignore[arg-type]
            identity = reachable_identity(member, accounts) or identity
        identities.append(identity)
    return identities
