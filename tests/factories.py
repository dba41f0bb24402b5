"""Factories for domain objects: each makes one thing with sensible defaults, nothing more."""

from __future__ import annotations

import itertools

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Actor, Role, actor_for, appoint
from models.base import fold
from models.members import Channel, Gender, Identity, Member, MemberStatus, Position
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


async def make_member(
    session: AsyncSession,
    unit: OrgUnit,
    name: str = "Nguyễn Thị Lan",
    *,
    telegram_id: int | None = None,
    zalo_id: int | None = None,
    status: MemberStatus = MemberStatus.ACTIVE,
    position: Position = Position.TEACHER,
    gender: Gender | None = Gender.FEMALE,
    phone: str | None = None,
    member_code: str | None = None,
    locale: str | None = None,
) -> Member:
    """A member of `unit`, with a Telegram and/or Zalo account when their ids are given (a Zalo
    id is the integer the bridge uses as the chat id)."""
    member = Member(
        full_name=name,
        full_name_folded=fold(name),
        unit_id=unit.id,  # type: ignore[arg-type]
        position=position,
        gender=gender,
        phone=phone,
        status=status,
        member_code=member_code,
        locale=locale,
    )
    session.add(member)
    await session.flush()
    for channel, external_id in ((Channel.TELEGRAM, telegram_id), (Channel.ZALO, zalo_id)):
        if external_id is not None:
            session.add(
                Identity(
                    channel=channel, external_id=str(external_id), member_id=member.id,
                    locale=locale,
                )
            )
    await session.flush()
    return member


async def make_official(
    session: AsyncSession,
    unit: OrgUnit,
    name: str = "Trần Văn Hùng",
    *,
    telegram_id: int | None = None,
    zalo_id: int | None = None,
    role: Role = Role.OFFICIAL,
    locale: str | None = None,
) -> Member:
    """An active member of `unit` who is its official (or reviewer); for an administrator pass
    role=Role.ADMIN (the role then has no unit)."""
    member = await make_member(
        session, unit, name, telegram_id=telegram_id, zalo_id=zalo_id, gender=Gender.MALE,
        position=Position.MANAGER, locale=locale,
    )
    await appoint(
        session, None, member=member, role=role, unit=None if role is Role.ADMIN else unit
    )
    return member


async def actor_of(session: AsyncSession, member: Member, admin_telegram_ids=()) -> Actor:  # type: ignore[no-untyped-def]
    """The Actor a member is when they act from their first chat account."""
    identity = (
        await session.exec(select(Identity).where(Identity.member_id == member.id))
    ).first()
    if identity is None:
        identity = Identity(channel=Channel.TELEGRAM, external_id=f"m{member.id}",
                            member_id=member.id)
        session.add(identity)
        await session.flush()
    return await actor_for(session, identity, admin_telegram_ids=admin_telegram_ids)
