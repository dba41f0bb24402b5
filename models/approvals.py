"""The approval queue: people who asked to join a union wait (status pending) until an official
whose scope covers their union approves or rejects them, with a reason the member is shown.

Each decision is authorised (Action.APPROVE_MEMBER on that member) and audited with the member
before and after. A decision on someone no longer pending (another official was quicker, or an
old button) is refused with "not_pending" and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, authorize, require_official
from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Member, MemberStatus
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
    return PendingPage(list(rows.all()), int(total), newest)  # type: ignore[arg-type]


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


async def _decide(
    session: AsyncSession,
    actor: Actor,
    member: Member,
    *,
    status: MemberStatus,
    reason: str | None,
    action: str,
) -> Member:
    before = audit.snapshot(member)
    member.status = status
    member.status_reason = reason
    member.updated_at = utcnow()
    session.add(member)
    await session.flush()
    await audit.record(
        session, actor, action, target_type="member", target_id=member.id,
        before=before, after=audit.snapshot(member),
    )
    return member


async def approve(session: AsyncSession, actor: Actor, *, member: Member) -> Member:
    """Makes the pending member active."""
    await _check_decidable(session, actor, member)
    return await _decide(
        session, actor, member, status=MemberStatus.ACTIVE, reason=None, action="member.approve"
    )


def validate_reason(text: str | None) -> str:
    """The reason as typed (outer spaces trimmed), 1 to 500 characters, or InvalidInput."""
    reason = (text or "").strip()
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput("reject_reason_invalid", max=REASON_MAX)
    return reason


async def reject(session: AsyncSession, actor: Actor, *, member: Member, reason: str) -> Member:
    """Refuses the pending member's request; the reason is kept and shown to them."""
    await _check_decidable(session, actor, member)
    return await _decide(
        session, actor, member, status=MemberStatus.REJECTED, reason=validate_reason(reason),
        action="member.reject",
    )


async def approve_all(
    session: AsyncSession, actor: Actor, *, up_to_member_id: int | None = None
) -> list[Member]:
    """Approves every pending member in the actor's scope (only those up to `up_to_member_id`,
    the newest the official was shown, when given); returns them, oldest first."""
    require_official(actor)
    rows = await session.exec(
        _pending_in_scope(actor, up_to_member_id=up_to_member_id)
        .order_by(col(Member.created_at), col(Member.id))
        .with_for_update(of=Member)  # type: ignore[arg-type]
    )
    return [await approve(session, actor, member=member) for member, _ in rows.all()]
