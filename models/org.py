"""The organisation tree: federations, education unions and grassroots unions (schools).

Any depth is allowed; a member belongs to a grassroots union. Browsing and search are here so
every channel lists units the same way.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String, func
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import UTCDateTime, fold, utcnow


class OrgKind(StrEnum):
    FEDERATION = "federation"
    INDUSTRY_UNION = "industry_union"
    GRASSROOTS = "grassroots"


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str = Field(sa_column=Column(String(255), nullable=False))
    # The name without diacritics, lower-case: what search compares against.
    name_folded: str = Field(sa_column=Column(String(255), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(20), nullable=False))
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    is_active: bool = Field(default=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )

    @property
    def is_grassroots(self) -> bool:
        return self.kind == OrgKind.GRASSROOTS


async def create_unit(
    session: AsyncSession, *, code: str, name: str, kind: OrgKind, parent: OrgUnit | None = None
) -> OrgUnit:
    unit = OrgUnit(
        code=code,
        name=name,
        name_folded=fold(name),
        kind=kind,
        parent_id=parent.id if parent else None,
    )
    session.add(unit)
    await session.flush()
    return unit


async def get_unit(session: AsyncSession, unit_id: int) -> OrgUnit | None:
    unit = await session.get(OrgUnit, unit_id)
    return unit if unit is not None and unit.is_active else None


async def list_children(
    session: AsyncSession, *, parent_id: int | None, offset: int = 0, limit: int = 8
) -> tuple[list[OrgUnit], int]:
    """One page of the active units under `parent_id` (the roots when None), and the total."""
    where = [col(OrgUnit.is_active)]
    where.append(
        col(OrgUnit.parent_id).is_(None) if parent_id is None else OrgUnit.parent_id == parent_id
    )
    total = (await session.exec(select(func.count()).select_from(OrgUnit).where(*where))).one()
    rows = await session.exec(
        select(OrgUnit).where(*where).order_by(OrgUnit.name_folded, OrgUnit.id)
        .offset(offset).limit(limit)
    )
    return list(rows.all()), total


async def search_grassroots(session: AsyncSession, *, text: str, limit: int = 8) -> list[OrgUnit]:
    """Grassroots units whose name contains every word of `text`, ignoring case and accents."""
    words = fold(text).split()
    if not words:
        return []
    query = select(OrgUnit).where(
        col(OrgUnit.is_active), OrgUnit.kind == OrgKind.GRASSROOTS
    )
    for word in words:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(col(OrgUnit.name_folded).like(f"%{escaped}%", escape="\\"))
    rows = await session.exec(query.order_by(OrgUnit.name_folded, OrgUnit.id).limit(limit))
    return list(rows.all())


async def ancestors(session: AsyncSession, unit: OrgUnit) -> list[OrgUnit]:
    """The chain above `unit`, nearest first (the tree is shallow: a handful of queries)."""
    chain: list[OrgUnit] = []
    parent_id = unit.parent_id
    while parent_id is not None and len(chain) < 32:
        parent = await session.get(OrgUnit, parent_id)
        if parent is None:
            break
        chain.append(parent)
        parent_id = parent.parent_id
    return chain
