"""Factories for domain objects: each makes one thing with sensible defaults, nothing more."""

from __future__ import annotations

import itertools

from sqlmodel.ext.asyncio.session import AsyncSession

from models.org import OrgKind, OrgUnit, create_unit

_codes = itertools.count(1)


async def make_unit(
    session: AsyncSession,
    name: str = "Trường THCS Nguyễn Trãi",
    *,
    kind: OrgKind = OrgKind.GRASSROOTS,
    parent: OrgUnit | None = None,
    code: str | None = None,
) -> OrgUnit:
    return await create_unit(
        session, code=code or f"U{next(_codes):05d}", name=name, kind=kind, parent=parent
    )


async def make_tree(session: AsyncSession) -> dict[str, OrgUnit]:
    """A city federation → its education union → a district union → two schools."""
    city = await make_unit(session, "Liên đoàn Lao động Thành phố Hà Nội", kind=OrgKind.FEDERATION)
    edu = await make_unit(
        session, "Công đoàn Giáo dục Hà Nội", kind=OrgKind.INDUSTRY_UNION, parent=city
    )
    district = await make_unit(
        session, "Công đoàn Giáo dục quận Ba Đình", kind=OrgKind.INDUSTRY_UNION, parent=edu
    )
    trai = await make_unit(session, "Trường THCS Nguyễn Trãi", parent=district)
    du = await make_unit(session, "Trường Tiểu học Nguyễn Du", parent=district)
    return {"city": city, "edu": edu, "district": district, "trai": trai, "du": du}
