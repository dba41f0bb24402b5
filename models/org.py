"""The organisation tree: federations, education unions and grassroots unions (schools).

Any depth is allowed; a member belongs to a grassroots union. Browsing and search are here so
every channel lists units the same way. The officials' operations on the tree (add, rename,
move, deactivate, emulation blocs) are in models/units.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, String, func
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
    # The ids from the root down to this unit, "/1/5/23/": a subtree is every unit whose path
    # starts with this one's (one indexed LIKE, whatever the depth); kept right by move_unit.
    path: str = Field(default="/", sa_column=Column(String(512), nullable=False, index=True))
    is_active: bool = Field(default=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )

    @property
    def is_grassroots(self) -> bool:
        return self.kind == OrgKind.GRASSROOTS

    @property
    def depth(self) -> int:
        """0 for a root, 1 for its children, …: the level an official acts at."""
        return self.path.count("/") - 2

    def contains(self, other: OrgUnit) -> bool:
        """True when `other` is this unit or lies anywhere below it."""
        return other.path.startswith(self.path)


class EmulationBloc(SQLModel, table=True):
    """A cụm/khối thi đua: units from any branches that compete together (a tag on units)."""

    __tablename__ = "emulation_bloc"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str = Field(sa_column=Column(String(255), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class UnitBloc(SQLModel, table=True):
    __tablename__ = "unit_bloc"

    unit_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("org_unit.id", ondelete="CASCADE"), primary_key=True
        )
    )
    bloc_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("emulation_bloc.id", ondelete="CASCADE"), primary_key=True,
            index=True,
        )
    )


def in_subtree(path: str):  # type: ignore[no-untyped-def]
    """A condition on OrgUnit: the unit whose path is `path` and every unit below it (a path
    holds only digits and slashes, so nothing in it needs escaping for LIKE)."""
    return col(OrgUnit.path).like(f"{path}%")


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
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
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


async def search_grassroots(
    session: AsyncSession, *, text: str, limit: int = 8, within: Any = None
) -> list[OrgUnit]:
    """Grassroots units whose name contains every word of `text`, ignoring case and accents
    (only those meeting the condition `within`, when given: an official's scope)."""
    words = fold(text).split()
    if not words:
        return []
    query = select(OrgUnit).where(
        col(OrgUnit.is_active), OrgUnit.kind == OrgKind.GRASSROOTS
    )
    if within is not None:
        query = query.where(within)
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
