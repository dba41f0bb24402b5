"""The audit log: every action of an official (approve, reject, import, appoint, edit a unit),
who took it, when, and the target before and after.

Entries are written in the same transaction as the change, so there is never a change without
its entry nor an entry for a change that was rolled back. When a member erases their data
(/deleteme) the entries about them keep the fact (action, time, who) and lose the data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, update
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Actor
from models.base import UTCDateTime, utcnow
from models.members import Member
from models.org import OrgUnit

ERASED = {"erased": True}
# In an entry's `after`: the id of a pending request merged into the target (its entries are the
# target's too when their data is forgotten).
MERGED_MEMBER = "merged_member_id"

# What a snapshot of a member holds: the fields officials change (ids, never chat accounts).
MEMBER_FIELDS = (
    "full_name",
    "unit_id",
    "position",
    "gender",
    "phone",
    "status",
    "status_reason",
    "member_code",
    "date_of_birth",
    "is_union_member",
)
UNIT_FIELDS = ("code", "name", "kind", "parent_id", "is_active")


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    # Who: the member, and the chat account they acted from (None for both: the CLI).
    actor_member_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    actor_identity_id: int | None = Field(default=None)
    action: str = Field(sa_column=Column(String(48), nullable=False))
    # What: "member", "unit", "role", "invite", "import", …, and its id.
    target_type: str = Field(sa_column=Column(String(24), nullable=False))
    target_id: int | None = Field(default=None, sa_column=Column(Integer, index=True))
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def snapshot(thing: Member | OrgUnit) -> dict[str, Any]:
    """The audited fields of a member or a unit, JSON-ready."""
    fields = MEMBER_FIELDS if isinstance(thing, Member) else UNIT_FIELDS
    return {name: _plain(getattr(thing, name)) for name in fields}


async def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    *,
    target_type: str,
    target_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Adds one entry to the session (committed with the change it describes)."""
    entry = AuditEntry(
        actor_member_id=actor.member_id if actor is not None else None,
        actor_identity_id=actor.identity.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries_about(
    session: AsyncSession, *, target_type: str, target_id: int
) -> list[AuditEntry]:
    rows = await session.exec(
        select(AuditEntry)
        .where(AuditEntry.target_type == target_type, AuditEntry.target_id == target_id)
        .order_by(col(AuditEntry.id))
    )
    return list(rows.all())


async def entries_by(session: AsyncSession, *, member_id: int) -> list[AuditEntry]:
    rows = await session.exec(
        select(AuditEntry)
        .where(AuditEntry.actor_member_id == member_id)
        .order_by(col(AuditEntry.id))
    )
    return list(rows.all())


async def forget_member_data(session: AsyncSession, *, member_id: int) -> int:
    """Blanks the before/after of every entry about the member, and about the pending requests
    merged into them (a roster claim: MERGED_MEMBER); how many entries were kept."""
    about = (col(AuditEntry.target_type) == "member", col(AuditEntry.target_id) == member_id)
    afters = await session.exec(select(AuditEntry.after).where(*about))
    ids = {member_id} | {
        after[MERGED_MEMBER] for after in afters.all() if after and MERGED_MEMBER in after
    }
    result = await session.exec(
        update(AuditEntry)
        .where(col(AuditEntry.target_type) == "member", col(AuditEntry.target_id).in_(ids))
        .values(before=ERASED, after=ERASED)
    )
    return int(result.rowcount or 0)
