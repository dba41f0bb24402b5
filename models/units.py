"""Managing the organisation tree: officials from the chat (/units) and the operator from the
CLI add, rename, move and deactivate units and tag them with emulation blocs; and what an
official sees of the tree.

Each operation takes `actor` (None: the operator at the CLI), asks models.access before it
changes anything, and writes an audit entry in the same transaction as the change.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, func, literal, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Action, Actor, authorize, may
from models.audit import record, snapshot
from models.base import fold
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Invite, Member, MemberStatus
from models.org import (
    EmulationBloc,
    OrgKind,
    OrgUnit,
    UnitBloc,
    ancestors,
    create_unit,
    get_unit,
    in_subtree,
)

log = logging.getLogger(__name__)

NAME_MIN_CHARS = 2
NAME_MAX_CHARS = 255
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


def clean_name(name: str | None) -> str:
    """A unit's or bloc's name as stored: trimmed, inner spaces collapsed, 2–255 characters."""
    cleaned = " ".join((name or "").split())
    if len(cleaned) < NAME_MIN_CHARS:
        raise InvalidInput("org_name_too_short", min=NAME_MIN_CHARS)
    if len(cleaned) > NAME_MAX_CHARS:
        raise InvalidInput("org_name_too_long", max=NAME_MAX_CHARS)
    return cleaned


def clean_code(code: str | None) -> str:
    """A unit's or bloc's code: letters, digits, ".", "_", "-", at most 32, as given."""
    cleaned = (code or "").strip()
    if not _CODE.fullmatch(cleaned):
        raise InvalidInput("org_code_invalid", unit_code=cleaned)
    return cleaned


def parse_kind(kind: str) -> OrgKind:
    try:
        return OrgKind(kind)
    except ValueError:
        raise InvalidInput("unit_kind_invalid") from None


async def _authorize(
    session: AsyncSession, actor: Actor | None, action: Action, unit: OrgUnit | None
) -> None:
    """`authorize`, skipped for the operator; a unit of None is the top of the tree, where only
    administrators add or move units."""

    if actor is None:
        return
    if unit is None:
        if actor.is_admin:
            return
        log.warning(
            "refused %s at the top of the tree by identity %s (member %s)",
            action, actor.identity.id, actor.member_id,
        )
        raise NotAllowed("not_allowed")
    await authorize(session, actor, action, unit=unit)


def _usable(unit: OrgUnit) -> None:
    if not unit.is_active:
        raise NotFound("unit_unavailable")


def _may_have_children(parent: OrgUnit | None) -> None:
    if parent is None:
        return
    _usable(parent)
    if parent.is_grassroots:
        raise InvalidInput("unit_grassroots_no_children")


async def _unique_code(
    session: AsyncSession, table: type[OrgUnit | EmulationBloc], prefix: str
) -> str:
    while True:
        code = f"{prefix}{secrets.token_hex(3).upper()}"
        taken = await session.exec(select(table.id).where(table.code == code))
        if taken.first() is None:
            return code


async def unit_by_code(session: AsyncSession, code: str) -> OrgUnit | None:
    return (await session.exec(select(OrgUnit).where(OrgUnit.code == code))).first()


async def _audit(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    target: OrgUnit | EmulationBloc,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:

    await record(
        session,
        actor,
        action,
        target_type="unit" if isinstance(target, OrgUnit) else "bloc",
        target_id=target.id,
        before=before,
        after=after,
    )


async def add_unit(
    session: AsyncSession,
    *,
    actor: Actor | None,
    parent: OrgUnit | None,
    name: str,
    kind: OrgKind | str,
    code: str | None = None,
) -> OrgUnit:
    """A new unit under `parent` (None: a new root, administrators and the CLI only). A
    grassroots union has no units below it. Without a code, a unique one is made up."""

    await _authorize(session, actor, Action.ADD_UNIT, parent)
    _may_have_children(parent)
    kind = parse_kind(kind)
    name = clean_name(name)
    if code is None:
        code = await _unique_code(session, OrgUnit, "DV")
    else:
        code = clean_code(code)
        if await unit_by_code(session, code) is not None:
            raise InvalidInput("unit_code_taken", unit_code=code)
    unit = await create_unit(session, code=code, name=name, kind=kind, parent=parent)
    await _audit(session, actor, "add_unit", unit, None, snapshot(unit))
    return unit


async def rename_unit(
    session: AsyncSession, *, actor: Actor | None, unit: OrgUnit, name: str
) -> OrgUnit:
    """Gives the unit a new name (the same name changes nothing and is not logged)."""

    await _authorize(session, actor, Action.EDIT_UNIT, unit)
    _usable(unit)
    name = clean_name(name)
    if name == unit.name:
        return unit
    before = snapshot(unit)
    unit.name = name
    unit.name_folded = fold(name)
    session.add(unit)
    await session.flush()
    await _audit(session, actor, "rename_unit", unit, before, snapshot(unit))
    return unit


async def _reparent(session: AsyncSession, unit: OrgUnit, parent: OrgUnit | None) -> None:
    """Puts `unit` under `parent` and rewrites the path of its whole subtree in one UPDATE."""
    old_path = unit.path
    new_path = f"{parent.path if parent is not None else '/'}{unit.id}/"
    await session.exec(
        update(OrgUnit)
        .where(in_subtree(old_path))
        .values(
            path=literal(new_path, String)
            + func.substr(col(OrgUnit.path), len(old_path) + 1, type_=String)
        )
        .execution_options(synchronize_session=False)
    )
    # The UPDATE's new values cannot be computed in Python by the ORM (it would expire them, and
    # an async session cannot lazy-load): the units of the subtree already loaded get theirs here.
    for loaded in list(session.sync_session.identity_map.values()):
        loaded_path = loaded.__dict__.get("path") if isinstance(loaded, OrgUnit) else None
        if loaded_path is not None and loaded_path.startswith(old_path):
            set_committed_value(loaded, "path", new_path + loaded_path[len(old_path) :])
    unit.parent_id = parent.id if parent is not None else None
    unit.path = new_path
    session.add(unit)
    await session.flush()


async def check_add(session: AsyncSession, *, actor: Actor | None, parent: OrgUnit) -> None:
    """Refuses as add_unit would before the name is asked: outside the scope, below a school."""

    await _authorize(session, actor, Action.ADD_UNIT, parent)
    _may_have_children(parent)


async def check_edit(session: AsyncSession, *, actor: Actor | None, unit: OrgUnit) -> None:
    """Refuses as rename, move and tagging would, before anything is asked."""

    await _authorize(session, actor, Action.EDIT_UNIT, unit)
    _usable(unit)


async def move_unit(
    session: AsyncSession, *, actor: Actor | None, unit: OrgUnit, new_parent: OrgUnit | None
) -> OrgUnit:
    """Moves `unit` (and everything below it) under `new_parent` (None: to the top, for
    administrators and the CLI). Never into its own subtree, never under a grassroots union."""

    await _authorize(session, actor, Action.EDIT_UNIT, unit)
    await _authorize(session, actor, Action.MOVE_UNIT_TO, new_parent)
    _usable(unit)
    _may_have_children(new_parent)
    if new_parent is not None and unit.contains(new_parent):
        raise InvalidInput("unit_move_into_itself")
    if unit.parent_id == (new_parent.id if new_parent is not None else None):
        raise InvalidInput("unit_already_there")
    before = snapshot(unit)
    await _reparent(session, unit, new_parent)
    await _audit(session, actor, "move_unit", unit, before, snapshot(unit))
    return unit


async def _count(session: AsyncSession, query: Any) -> int:
    return int((await session.exec(query)).one())


async def _active_children(session: AsyncSession, unit: OrgUnit) -> int:
    return await _count(
        session,
        select(func.count()).select_from(OrgUnit).where(
            OrgUnit.parent_id == unit.id, col(OrgUnit.is_active)
        ),
    )


def _members_staying(unit: OrgUnit) -> list[Any]:
    """The members of `unit` itself who move when it closes: any status, not erased."""
    return [Member.unit_id == unit.id, col(Member.erased_at).is_(None)]


async def check_deactivation(
    session: AsyncSession,
    *,
    actor: Actor | None,
    unit: OrgUnit,
    move_members_to: OrgUnit | None = None,
) -> int:
    """Whether `unit` may be deactivated now (refuses as deactivate_unit would, the destination
    of its members checked when given); how many members need a new unit."""

    await _authorize(session, actor, Action.EDIT_UNIT, unit)
    _usable(unit)
    children = await _active_children(session, unit)
    if children:
        raise InvalidInput("unit_has_children", count=children)
    waiting = await _count(
        session, select(func.count()).select_from(Member).where(*_members_staying(unit))
    )
    if waiting and move_members_to is not None:
        # The members are placed in the destination, as a roster import would place them.
        await _authorize(session, actor, Action.IMPORT_MEMBERS, move_members_to)
        if move_members_to.id == unit.id or not move_members_to.is_grassroots:
            raise InvalidInput("unit_destination_invalid")
        _usable(move_members_to)
    return waiting


async def deactivate_unit(
    session: AsyncSession,
    *,
    actor: Actor | None,
    unit: OrgUnit,
    move_members_to: OrgUnit | None = None,
) -> int:
    """Closes a unit that has no active units below it. Its members (any status, erased ones
    aside) all move, in one UPDATE, to `move_members_to`: a grassroots union the actor manages,
    required when there are members; its invites stop working. Returns how many moved."""
    waiting = await check_deactivation(
        session, actor=actor, unit=unit, move_members_to=move_members_to
    )
    if waiting and move_members_to is None:
        raise InvalidInput("unit_members_need_destination", count=waiting)
    destination = move_members_to if waiting else None
    before = snapshot(unit)
    moved = 0
    if destination is not None:
        result = await session.exec(
            update(Member)
            .where(*_members_staying(unit))
            .values(unit_id=destination.id)
            .execution_options(synchronize_session="fetch")
        )
        moved = int(result.rowcount or 0)
        await _audit(
            session,
            actor,
            "move_members",
            unit,
            {"unit_id": unit.id, "members": moved},
            {"unit_id": destination.id, "members": moved},
        )
    revoked = await session.exec(
        update(Invite)
        .where(col(Invite.unit_id) == unit.id, col(Invite.revoked).is_(False))
        .values(revoked=True)
    )
    unit.is_active = False
    session.add(unit)
    await session.flush()
    after = {**snapshot(unit), "invites_revoked": int(revoked.rowcount or 0)}
    await _audit(session, actor, "deactivate_unit", unit, before, after)
    return moved


# --- emulation blocs ---------------------------------------------------------------------------


async def list_blocs(session: AsyncSession) -> list[EmulationBloc]:
    """Every bloc, by name as people read it (accents ignored); there are tens, not thousands."""
    rows = await session.exec(select(EmulationBloc))
    return sorted(rows.all(), key=lambda bloc: (fold(bloc.name), bloc.id))


async def get_bloc(session: AsyncSession, bloc_id: int) -> EmulationBloc | None:
    return await session.get(EmulationBloc, bloc_id)


async def bloc_named(session: AsyncSession, name: str) -> EmulationBloc | None:
    """The bloc whose name is `name`, ignoring case, accents and spacing (blocs are few)."""
    wanted = fold(name)
    return next((b for b in await list_blocs(session) if fold(b.name) == wanted), None)


async def create_bloc(
    session: AsyncSession, *, actor: Actor | None, name: str, code: str | None = None
) -> EmulationBloc:
    """A new emulation bloc (administrators); names are unique ignoring accents."""

    if actor is not None:
        await authorize(session, actor, Action.MANAGE_BLOCS)
    name = clean_name(name)
    existing = await bloc_named(session, name)
    if existing is not None:
        raise InvalidInput("bloc_exists", name=existing.name)
    if code is None:
        code = await _unique_code(session, EmulationBloc, "CUM")
    else:
        code = clean_code(code)
        taken = await session.exec(select(EmulationBloc.id).where(EmulationBloc.code == code))
        if taken.first() is not None:
            raise InvalidInput("bloc_exists", name=code)
    bloc = EmulationBloc(code=code, name=name)
    session.add(bloc)
    await session.flush()
    await _audit(session, actor, "create_bloc", bloc, None, {"code": code, "name": name})
    return bloc


async def blocs_of(session: AsyncSession, unit: OrgUnit) -> list[EmulationBloc]:
    rows = await session.exec(
        select(EmulationBloc)
        .join(UnitBloc, col(UnitBloc.bloc_id) == EmulationBloc.id)
        .where(UnitBloc.unit_id == unit.id)
    )
    return sorted(rows.all(), key=lambda bloc: (fold(bloc.name), bloc.id))


async def _set_tag(
    session: AsyncSession, actor: Actor | None, unit: OrgUnit, bloc: EmulationBloc, tagged: bool
) -> bool:

    await _authorize(session, actor, Action.EDIT_UNIT, unit)
    _usable(unit)
    link = await session.get(UnitBloc, (unit.id, bloc.id))
    if (link is not None) == tagged:
        return False
    before = {**snapshot(unit), "blocs": [b.id for b in await blocs_of(session, unit)]}
    if tagged:
        session.add(UnitBloc(unit_id=unit.id, bloc_id=bloc.id))  # type: ignore[arg-type]
    else:
        await session.delete(link)
    await session.flush()
    after = {**snapshot(unit), "blocs": [b.id for b in await blocs_of(session, unit)]}
    await _audit(session, actor, "tag_unit" if tagged else "untag_unit", unit, before, after)
    return True


async def tag_unit(
    session: AsyncSession, *, actor: Actor | None, unit: OrgUnit, bloc: EmulationBloc
) -> bool:
    """Puts `unit` in `bloc`; False when it already was (nothing logged)."""
    return await _set_tag(session, actor, unit, bloc, True)


async def untag_unit(
    session: AsyncSession, *, actor: Actor | None, unit: OrgUnit, bloc: EmulationBloc
) -> bool:
    """Takes `unit` out of `bloc`; False when it was not in it."""
    return await _set_tag(session, actor, unit, bloc, False)


async def units_in_bloc(
    session: AsyncSession, *, bloc: EmulationBloc, actor: Actor | None = None
) -> list[OrgUnit]:
    """The active units of a bloc (those in the actor's scope, when an actor is given)."""
    query = (
        select(OrgUnit)
        .join(UnitBloc, col(UnitBloc.unit_id) == OrgUnit.id)
        .where(UnitBloc.bloc_id == bloc.id, col(OrgUnit.is_active))
    )
    if actor is not None:
        query = query.where(actor.unit_condition())
    rows = await session.exec(query.order_by(OrgUnit.name_folded, OrgUnit.id))
    return list(rows.all())


# --- what an official sees ---------------------------------------------------------------------


@dataclass
class UnitCard:
    """One unit as an official sees it, and what they may do to it."""

    unit: OrgUnit
    chain: list[OrgUnit]  # from the root down to the parent
    members: int  # active members anywhere in the subtree
    children: int  # active units directly below
    blocs: list[EmulationBloc]
    can_add: bool  # add a unit below it
    can_edit: bool  # rename, move, deactivate, tag
    up: int | None  # where "up" leads: the parent, 0 for the actor's top list, None: nowhere


async def roots_for(session: AsyncSession, *, actor: Actor) -> list[OrgUnit]:
    """Where an official's browsing starts: the tree's roots for administrators, else the
    units they are officials of (one inside another's subtree is not repeated)."""
    if actor.is_admin:
        query = select(OrgUnit).where(col(OrgUnit.parent_id).is_(None))
    elif actor.official_of:
        ids = [scope.unit_id for scope in actor.official_of]
        query = select(OrgUnit).where(col(OrgUnit.id).in_(ids))
    else:
        return []
    rows = await session.exec(
        query.where(col(OrgUnit.is_active)).order_by(OrgUnit.name_folded, OrgUnit.id)
    )
    units = list(rows.all())
    return [u for u in units if not any(o is not u and o.contains(u) for o in units)]


async def unit_card(session: AsyncSession, *, actor: Actor, unit: OrgUnit) -> UnitCard:

    await authorize(session, actor, Action.VIEW_UNIT, unit=unit)
    _usable(unit)
    members = await _count(
        session,
        select(func.count())
        .select_from(Member)
        .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
        .where(
            in_subtree(unit.path),
            Member.status == MemberStatus.ACTIVE,
            col(Member.erased_at).is_(None),
        ),
    )
    children = await _active_children(session, unit)
    chain = list(reversed(await ancestors(session, unit)))
    return UnitCard(
        unit=unit,
        chain=chain,
        members=members,
        children=children,
        blocs=await blocs_of(session, unit),
        can_add=not unit.is_grassroots and may(actor, Action.ADD_UNIT, unit=unit),
        can_edit=may(actor, Action.EDIT_UNIT, unit=unit),
        up=await up_from(session, actor=actor, unit=unit),
    )


async def up_from(session: AsyncSession, *, actor: Actor, unit: OrgUnit) -> int | None:
    """Where "up" leads from `unit` for this actor: its parent when they may see it, 0 (their
    list of units) when they have several, else None."""

    parent = await get_unit(session, unit.parent_id) if unit.parent_id is not None else None
    if parent is not None and may(actor, Action.VIEW_UNIT, unit=parent):
        return parent.id
    return 0 if len(await roots_for(session, actor=actor)) > 1 else None


async def browse(
    session: AsyncSession,
    *,
    actor: Actor,
    level: OrgUnit | None,
    offset: int = 0,
    limit: int = 8,
    containers_only: bool = False,
    excluding: OrgUnit | None = None,
) -> tuple[list[OrgUnit], int]:
    """One page of the active units directly under `level` (None: the actor's starting units),
    and the total: only units that may have children if `containers_only`, never `excluding`
    nor anything below it."""

    if level is None:
        units = [
            unit
            for unit in await roots_for(session, actor=actor)
            if not (containers_only and unit.is_grassroots)
            and not (excluding is not None and excluding.contains(unit))
        ]
        return units[offset : offset + limit], len(units)
    await authorize(session, actor, Action.VIEW_UNIT, unit=level)
    _usable(level)
    where = [OrgUnit.parent_id == level.id, col(OrgUnit.is_active)]
    if containers_only:
        where.append(OrgUnit.kind != OrgKind.GRASSROOTS)
    if excluding is not None:
        where.append(~in_subtree(excluding.path))
    total = await _count(session, select(func.count()).select_from(OrgUnit).where(*where))
    rows = await session.exec(
        select(OrgUnit).where(*where).order_by(OrgUnit.name_folded, OrgUnit.id)
        .offset(offset).limit(limit)
    )
    return list(rows.all()), total
