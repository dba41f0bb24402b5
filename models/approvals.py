"""The approval queue: people who asked to join a union wait (status pending) until an official
whose scope covers their union approves or rejects them, with a reason the member is shown.

Each decision is authorised (Action.APPROVE_MEMBER on that member) and audited with the member
before and after. A decision on someone no longer pending (another official was quicker, or an
old button) is refused with "not_pending" and changes nothing.

Roster claims. Someone who typed the phone and name of a roster record and said it is theirs
waits here as a new pending member with `claims_member_id` (models/onboarding.py): the typed
number proves nothing, so the official checks. Approving one links the person to the record:
their chat accounts move to it, their answers fill its gaps (position, gender, language), and
the pending row goes; the record, with its name, union, member code and date of birth, is the
member from then on. If the record is no longer a free roster record (erased, not active, a chat
account joined it meanwhile), or lies outside the official's scope, or something else points at
the pending row, the person is approved as an ordinary new member instead: nothing is lost.
Rejecting a claim rejects the request and leaves the record alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, func, literal, update
from sqlmodel import SQLModel, col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, RoleAssignment, authorize, may, require_official
from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.linking import LinkCode
from models.members import Identity, Invite, Member, MemberStatus
from models.onboarding import OnboardingDraft, fill_roster_gaps, is_free_roster_record
from models.org import OrgUnit

REASON_MAX = 500


@dataclass(frozen=True)
class PendingPage:
    """One page of the queue, oldest request first: each member with their union; the number
    waiting in all; and the newest waiting member's id ("approve all" approves up to it, so
    nobody who asked after the official looked is approved unseen)."""

    members: list[tuple[Member, OrgUnit]]
    total: int
    newest_id: int | None
    # For members on the page who claim a roster record: their id → the record, if it still
    # exists and is not erased (the official compares the two before approving).
    claims: dict[int, Member] = field(default_factory=dict)


def _pending_in_scope(  # type: ignore[no-untyped-def]
    actor: Actor, *columns, up_to_member_id: int | None = None
):
    """The pending members of the units in the actor's scope: `columns` of them (default: each
    member with their unit)."""
    query = (
        select(*(columns or (Member, OrgUnit)))  # type: ignore[call-overload]
        .select_from(Member)
        .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
        .where(
            Member.status == MemberStatus.PENDING,
            col(Member.erased_at).is_(None),
            actor.unit_condition(),
        )
    )
    if up_to_member_id is not None:
        query = query.where(col(Member.id) <= up_to_member_id)
    return query


async def pending_in_scope(
    session: AsyncSession, actor: Actor, *, offset: int, limit: int
) -> PendingPage:
    """Who waits for approval in the units the actor covers: one page, oldest first."""
    require_official(actor)
    counted = _pending_in_scope(actor, func.count(), func.max(Member.id))
    total, newest = (await session.exec(counted)).one()
    rows = await session.exec(
        _pending_in_scope(actor)
        .order_by(col(Member.created_at), col(Member.id))
        .offset(offset)
        .limit(limit)
    )
    members = list(rows.all())
    claimed_ids = {m.claims_member_id for m, _ in members if m.claims_member_id is not None}
    records: dict[int, Member] = {}
    if claimed_ids:
        found = await session.exec(
            select(Member).where(col(Member.id).in_(claimed_ids), col(Member.erased_at).is_(None))
        )
        records = {record.id: record for record in found.all()}  # type: ignore[misc]
    claims = {
        member.id: records[member.claims_member_id]
        for member, _ in members
        if member.claims_member_id in records
    }
    return PendingPage(members, int(total), newest, claims)  # type: ignore[arg-type]


async def count_pending(
    session: AsyncSession, actor: Actor, *, up_to_member_id: int | None = None
) -> int:
    """How many wait in the actor's scope (those up to a member id, when given)."""
    require_official(actor)
    query = _pending_in_scope(actor, func.count(), up_to_member_id=up_to_member_id)
    return int((await session.exec(query)).one())


async def member_to_decide(session: AsyncSession, actor: Actor, *, member_id: int) -> Member:
    """The pending member a button names, if the actor may decide on them (locked until the
    transaction ends, so two officials cannot both decide)."""
    member = (
        await session.exec(
            select(Member)
            .where(Member.id == member_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if member is None:
        raise NotFound("member_gone")
    await _check_decidable(session, actor, member)
    return member


async def _check_decidable(session: AsyncSession, actor: Actor, member: Member) -> None:
    await authorize(session, actor, Action.APPROVE_MEMBER, member=member)
    if member.status != MemberStatus.PENDING or member.erased_at is not None:
        raise NotAllowed("not_pending")


async def _claim_decision(session: AsyncSession, member: Member) -> None:
    """The decision's first write, made only while the member is still pending in the database:
    SQLite ignores FOR UPDATE, so two officials may both have read "pending"; the second one's
    write matches nothing and is refused (from here on SQLite holds the write lock)."""
    claimed = await session.exec(
        update(Member)
        .where(
            col(Member.id) == member.id,
            col(Member.status) == MemberStatus.PENDING,
            col(Member.erased_at).is_(None),
        )
        .values(updated_at=utcnow())
    )
    if claimed.rowcount != 1:
        raise NotAllowed("not_pending")


async def _decide(
    session: AsyncSession,
    actor: Actor,
    member: Member,
    *,
    status: MemberStatus,
    reason: str | None,
    action: str,
    noted: dict[str, Any] | None = None,
) -> Member:
    before = audit.snapshot(member)
    member.status = status
    member.status_reason = reason
    member.updated_at = utcnow()
    session.add(member)
    await session.flush()
    await audit.record(
        session, actor, action, target_type="member", target_id=member.id,
        before=before, after={**audit.snapshot(member), **(noted or {})},
    )
    return member


async def approve(session: AsyncSession, actor: Actor, *, member: Member) -> Member:
    """Makes the pending member active; returns the member now holding their chat accounts:
    for a roster claim that still stands, the roster record they were linked to (module
    docstring), else the member themselves."""
    await _check_decidable(session, actor, member)
    await _claim_decision(session, member)
    noted = None
    if member.claims_member_id is not None:
        record = await _claimable_record(session, actor, member)
        if record is not None:
            return await _link_to_record(session, actor, member, record)
        # Approved as a new member; the audit keeps which record they had claimed.
        noted = {"roster_claim_not_linked": member.claims_member_id}
        member.claims_member_id = None
    return await _decide(
        session, actor, member, status=MemberStatus.ACTIVE, reason=None,
        action="member.approve", noted=noted,
    )


async def _claimable_record(session: AsyncSession, actor: Actor, member: Member) -> Member | None:
    """The roster record the pending member claims, locked, if it can still be linked to them
    by this official (see the module docstring)."""
    record = (
        await session.exec(
            select(Member)
            .where(Member.id == member.claims_member_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if record is None or record.id == member.id:
        return None
    if not await is_free_roster_record(session, record):
        return None
    unit = await session.get(OrgUnit, record.unit_id)
    if not may(actor, Action.APPROVE_MEMBER, member=record, member_unit=unit):
        return None
    if await _referenced_elsewhere(session, member.id):  # type: ignore[arg-type]
        return None
    return record


# Columns that point at a member and are moved or cleared when a pending claim is linked: the
# chat accounts, their link codes, and a profile edit in progress. A reference anywhere else
# (a role, an invite made, another person's onboarding) keeps the pending row: no link.
_MOVED = {("identity", "member_id"), ("link_code", "member_id"), ("onboarding_draft", "member_id")}
# Member ids kept without a foreign key, which the scan of foreign keys cannot find.
_UNCONSTRAINED = (
    Invite.__table__.c.created_by_member_id,  # type: ignore[attr-defined]
    RoleAssignment.__table__.c.appointed_by_member_id,  # type: ignore[attr-defined]
    Member.__table__.c.claims_member_id,  # type: ignore[attr-defined]
)


def _member_references() -> list[Column]:  # type: ignore[type-arg]
    columns = list(_UNCONSTRAINED)
    member_id = Member.__table__.c.id  # type: ignore[attr-defined]
    for table in SQLModel.metadata.tables.values():
        for fk in table.foreign_keys:
            if fk.column is member_id and (table.name, fk.parent.name) not in _MOVED:
                columns.append(fk.parent)
    return columns


async def _referenced_elsewhere(session: AsyncSession, member_id: int) -> bool:
    """Whether anything but what linking moves points at the member (it is brand new, so
    nothing should: this keeps a row from being deleted under something that needs it)."""
    for column in _member_references():
        query = select(literal(1)).select_from(column.table).where(column == member_id).limit(1)
        if (await session.exec(query)).first() is not None:  # type: ignore[call-overload]
            return True
    return False


async def _link_to_record(
    session: AsyncSession, actor: Actor, member: Member, record: Member
) -> Member:
    """Moves the pending member's chat accounts to the roster record, fills its gaps with their
    answers, and deletes the pending row; returns the record. Audited on the record."""
    before = audit.snapshot(record)
    accounts = list(
        (await session.exec(select(Identity).where(Identity.member_id == member.id))).all()
    )
    fill_roster_gaps(record, position=member.position, gender=member.gender, locale=member.locale)
    if record.preferred_channel is None:
        record.preferred_channel = member.preferred_channel
    session.add(record)
    for account in accounts:
        account.member_id = record.id
        session.add(account)
    await session.exec(
        update(LinkCode)
        .where(col(LinkCode.member_id) == member.id)
        .values(member_id=record.id)
    )
    # A profile edit of the pending row would write the person's answers over the record.
    await session.exec(delete(OnboardingDraft).where(col(OnboardingDraft.member_id) == member.id))
    await session.flush()
    merged_id = member.id
    await session.delete(member)
    await session.flush()
    await audit.record(
        session, actor, "member.roster_claim_approved", target_type="member",
        target_id=record.id, before=before,
        after={
            **audit.snapshot(record),
            audit.MERGED_MEMBER: merged_id,
            "channels": sorted(account.channel for account in accounts),
        },
    )
    return record


def validate_reason(text: str | None) -> str:
    """The reason as typed (outer spaces trimmed), 1 to 500 characters, or InvalidInput."""
    reason = (text or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput("reject_reason_invalid", max=REASON_MAX)
    return reason


async def reject(session: AsyncSession, actor: Actor, *, member: Member, reason: str) -> Member:
    """Refuses the pending member's request; the reason is kept and shown to them."""
    await _check_decidable(session, actor, member)
    reason = validate_reason(reason)
    await _claim_decision(session, member)
    return await _decide(
        session, actor, member, status=MemberStatus.REJECTED, reason=reason,
        action="member.reject",
    )


async def approve_all(
    session: AsyncSession, actor: Actor, *, up_to_member_id: int | None = None
) -> list[Member]:
    """Approves every pending member in the actor's scope (only those up to `up_to_member_id`,
    the newest the official was shown, when given); returns them, oldest first (for a roster
    claim, the record they were linked to: see `approve`)."""
    require_official(actor)
    rows = await session.exec(
        _pending_in_scope(actor, up_to_member_id=up_to_member_id)
        .order_by(col(Member.created_at), col(Member.id))
        .with_for_update(of=Member)  # type: ignore[arg-type]
    )
    return [await approve(session, actor, member=member) for member, _ in rows.all()]
