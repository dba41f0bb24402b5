"""Invite links: an official makes a code for one grassroots union; `/start <code>` (the link
`t.me/<bot>?start=<code>`, its QR code, or the code typed to the Zalo bot) presets the union
and, when the invite says so, approves the newcomer at once (models/onboarding.confirm).

Codes are short and typed on phones: eight characters from an alphabet without the look-alikes
(0/O, 1/I/L), upper case; `resolve_invite` also takes them typed in lower case. Every action
here is authorised (Action.INVITE on the unit) and audited.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import false, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, authorize, require_official
from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Invite
from models.org import OrgKind, OrgUnit, get_unit, list_children, search_grassroots
from models.units import roots_for

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# Longer than any sensible invite; a bound so a typo of "3650" cannot overflow a datetime.
MAX_EXPIRY = timedelta(days=3650)


def generate_code() -> str:
    """A random code (≈ 40 bits): easy to read aloud and type, impossible to guess."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def invite_snapshot(invite: Invite) -> dict[str, Any]:
    """The audited fields of an invite, JSON-ready."""
    return {
        "code": invite.code,
        "unit_id": invite.unit_id,
        "auto_approve": invite.auto_approve,
        "expires_at": invite.expires_at.isoformat() if invite.expires_at else None,
        "revoked": invite.revoked,
    }


def is_active(invite: Invite) -> bool:
    return not invite.revoked and (invite.expires_at is None or invite.expires_at > utcnow())


async def invite_unit(session: AsyncSession, actor: Actor, *, unit_id: int) -> OrgUnit:
    """The grassroots union `unit_id` names, if the actor may invite people to it."""
    unit = await get_unit(session, unit_id)
    if unit is None:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.INVITE, unit=unit)
    if not unit.is_grassroots:
        raise InvalidInput("invite_not_grassroots")
    return unit


async def new_invite(
    session: AsyncSession,
    actor: Actor,
    *,
    unit: OrgUnit,
    expires_in: timedelta | None,
    auto_approve: bool,
) -> Invite:
    """A new invite to `unit` (a grassroots union in the actor's scope), valid for `expires_in`
    (None: until revoked)."""
    await authorize(session, actor, Action.INVITE, unit=unit)
    if not unit.is_grassroots or not unit.is_active:
        raise InvalidInput("invite_not_grassroots")
    if expires_in is not None and not timedelta(0) < expires_in <= MAX_EXPIRY:
        raise InvalidInput("invite_expiry_invalid")
    code = generate_code()
    while (await session.exec(select(Invite.id).where(Invite.code == code))).first() is not None:
        code = generate_code()  # one chance in a trillion per existing code
    invite = Invite(
        code=code,
        unit_id=unit.id,  # type: ignore[arg-type]
        auto_approve=auto_approve,
        expires_at=None if expires_in is None else utcnow() + expires_in,
        created_by_member_id=actor.member_id,
    )
    session.add(invite)
    await session.flush()
    await audit.record(
        session, actor, "invite.create", target_type="invite", target_id=invite.id,
        after=invite_snapshot(invite),
    )
    return invite


async def invites_of_unit(session: AsyncSession, actor: Actor, *, unit: OrgUnit) -> list[Invite]:
    """The unit's invites that still work (not revoked, not expired), newest first."""
    await authorize(session, actor, Action.INVITE, unit=unit)
    now = utcnow()
    rows = await session.exec(
        select(Invite)
        .where(
            Invite.unit_id == unit.id,
            Invite.revoked == false(),
            or_(col(Invite.expires_at).is_(None), col(Invite.expires_at) > now),
        )
        .order_by(col(Invite.id).desc())
    )
    return list(rows.all())


async def get_invite(session: AsyncSession, actor: Actor, *, invite_id: int) -> Invite:
    """The invite `invite_id` names (a button's payload), if the actor manages its unit."""
    invite = await session.get(Invite, invite_id)
    if invite is None:
        raise NotFound("invite_gone")
    unit = await session.get(OrgUnit, invite.unit_id)
    await authorize(session, actor, Action.INVITE, unit=unit)
    return invite


async def revoke_invite(session: AsyncSession, actor: Actor, *, invite: Invite) -> Invite:
    """Stops the invite from working; people who already joined with it stay."""
    unit = await session.get(OrgUnit, invite.unit_id)
    await authorize(session, actor, Action.INVITE, unit=unit)
    if not is_active(invite):
        raise NotAllowed("invite_not_active")
    before = invite_snapshot(invite)
    invite.revoked = True
    session.add(invite)
    await session.flush()
    await audit.record(
        session, actor, "invite.revoke", target_type="invite", target_id=invite.id,
        before=before, after=invite_snapshot(invite),
    )
    return invite


# --- choosing the union: the grassroots unions in the official's scope -------------------------


@dataclass(frozen=True)
class ScopeLevel:
    """One page of units to choose from: under `parent` (None: the top of the actor's scope),
    and where "up" leads (None: nowhere, 0: the top, else a unit id)."""

    parent: OrgUnit | None
    units: list[OrgUnit]
    total: int
    up_id: int | None


async def grassroots_in_scope(
    session: AsyncSession, actor: Actor, *, offset: int = 0, limit: int = 8
) -> tuple[list[OrgUnit], int]:
    """A page of the active grassroots unions the actor may invite to, and how many there are."""
    require_official(actor)
    query = select(OrgUnit).where(
        col(OrgUnit.is_active), OrgUnit.kind == OrgKind.GRASSROOTS, actor.unit_condition()
    )
    total = (
        await session.exec(select(func.count()).select_from(query.subquery()))  # type: ignore[call-overload]
    ).one()
    rows = await session.exec(
        query.order_by(OrgUnit.name_folded, OrgUnit.id).offset(offset).limit(limit)
    )
    return list(rows.all()), int(total)


async def search_in_scope(
    session: AsyncSession, actor: Actor, *, text: str, limit: int = 8
) -> list[OrgUnit]:
    """Grassroots unions in scope whose name holds every word of `text`, accents optional."""
    require_official(actor)
    return await search_grassroots(
        session, text=text, limit=limit, within=actor.unit_condition()
    )


async def browse_scope(
    session: AsyncSession, actor: Actor, *, parent_id: int, offset: int = 0, limit: int = 8
) -> ScopeLevel:
    """The units under `parent_id` in the actor's scope (0: the top of their scope: the tree's
    roots for an administrator, their own units for an official)."""
    require_official(actor)
    if parent_id == 0:
        tops = await roots_for(session, actor=actor)
        return ScopeLevel(None, tops[offset : offset + limit], len(tops), None)
    parent = await get_unit(session, parent_id)
    if parent is None or parent.is_grassroots:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.VIEW_UNIT, unit=parent)
    units, total = await list_children(session, parent_id=parent.id, offset=offset, limit=limit)
    grandparent = (
        None if parent.parent_id is None else await get_unit(session, parent.parent_id)
    )
    up_id = grandparent.id if grandparent is not None and actor.covers(grandparent) else 0
    return ScopeLevel(parent, units, total, up_id)
