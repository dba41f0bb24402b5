"""Factories for domain objects: each makes one thing with sensible defaults, nothing more;
and the settable clock and scheduler the scheduling tests share."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from bot.i18n import load_translator
from bot.scheduler import Scheduler
from bot.settings import Settings
from models.access import Actor, Role, actor_for, appoint
from models.base import fold
from models.initiatives import (
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeField,
    InitiativeStatus,
    unit_level,
)
from models.members import Channel, Gender, Identity, Member, MemberStatus, Position
from models.movements import Movement, MovementStatus, MovementTarget
from models.org import EmulationBloc, OrgKind, OrgUnit, create_unit

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


TITLES = [
    {"code": "GVTDVN", "name": "Giỏi việc trường, đảm việc nhà", "collective": False},
    {"code": "LDTT", "name": "Lao động tiên tiến", "collective": False},
    {"code": "CSTDCS", "name": "Chiến sĩ thi đua cơ sở", "collective": False},
    {"code": "TTLDXS", "name": "Tập thể lao động xuất sắc", "collective": True},
]


async def make_movement(
    session: AsyncSession,
    owner: OrgUnit,
    name: str = "Giỏi việc trường, đảm việc nhà",
    *,
    targets: list[OrgUnit] | None = None,
    blocs: list[EmulationBloc] | None = None,
    everyone: bool = False,
    registration_deadline: datetime | None = None,
    assessment_opens: datetime | None = None,
    assessment_closes: datetime | None = None,
    requires_approval: bool = False,
    status: MovementStatus = MovementStatus.OPEN,
    school_year: str = "2026-2027",
) -> Movement:
    """An open movement of `owner` (for its subtree unless `targets`, `blocs` or `everyone`),
    registration open for 30 days from now, self-assessment in the 30 days after."""
    now = datetime.now(UTC)
    deadline = registration_deadline or now + timedelta(days=30)
    movement = Movement(
        name=name,
        description="Phong trào thi đua dành cho nữ cán bộ, giáo viên, người lao động.",
        criteria=["Hoàn thành tốt nhiệm vụ chuyên môn", "Gia đình hạnh phúc, tiến bộ"],
        titles=TITLES,
        owner_unit_id=owner.id,  # type: ignore[arg-type]
        target_everyone=everyone,
        registration_deadline=deadline,
        assessment_opens=assessment_opens or deadline,
        assessment_closes=assessment_closes or deadline + timedelta(days=30),
        requires_approval=requires_approval,
        status=status,
        school_year=school_year,
    )
    session.add(movement)
    await session.flush()
    if not everyone:
        for unit in targets if targets is not None else ([] if blocs else [owner]):
            session.add(MovementTarget(movement_id=movement.id, unit_id=unit.id))
        for bloc in blocs or []:
            session.add(MovementTarget(movement_id=movement.id, bloc_id=bloc.id))
    await session.flush()
    return movement


async def make_reviewer(
    session: AsyncSession,
    unit: OrgUnit,
    name: str = "Phạm Thị Mai",
    *,
    telegram_id: int | None = None,
    zalo_id: int | None = None,
    locale: str | None = None,
) -> Member:
    """An active member of `unit` who may sit on the councils of initiatives there."""
    return await make_official(
        session, unit, name, telegram_id=telegram_id, zalo_id=zalo_id, role=Role.REVIEWER,
        locale=locale,
    )


async def make_initiative(
    session: AsyncSession,
    author: Member,
    title: str = "Dạy học theo trạm với phiếu học tập số",
    *,
    status: InitiativeStatus = InitiativeStatus.SUBMITTED,
    co_authors: list[Member | str] | None = None,
    shares: list[int] | None = None,
    field: InitiativeField = InitiativeField.TEACHING,
    attachments: int = 0,
    school_year: str = "2026-2027",
) -> Initiative:
    """A complete initiative by `author` (with co-authors: members or typed names), in `status`
    at the author's union (submitted by default, as if through /initiative). Shares default to
    an even split, the remainder to the author. A draft has no unit or level yet."""
    unit = await session.get(OrgUnit, author.unit_id)
    assert unit is not None
    submitted = status != InitiativeStatus.DRAFT
    initiative = Initiative(
        submitter_member_id=author.id,
        title=title,
        field=field,
        problem="Học sinh lớp 7 ít tương tác trong giờ Ngữ văn; 40% không hoàn thành bài tập.",
        solution="Chia lớp thành 4 trạm, mỗi trạm một phiếu học tập số trên máy tính bảng.",
        first_applied_on=date(2025, 9, 15),
        applied_where=unit.name,
        benefits="Tỉ lệ hoàn thành bài tập tăng từ 60% lên 92% sau một học kỳ.",
        confidential="",
        status=status,
        unit_id=unit.id if submitted else None,
        origin_unit_id=unit.id if submitted else None,
        level=(await unit_level(session, unit)) if submitted else None,
        school_year=school_year if submitted else None,
        submitted_at=datetime.now(UTC) if submitted else None,
    )
    session.add(initiative)
    await session.flush()
    people: list[Member | str] = [author, *(co_authors or [])]
    if shares is None:
        even = 100 // len(people)
        shares = [100 - even * (len(people) - 1)] + [even] * (len(people) - 1)
    for position, (person, share) in enumerate(zip(people, shares, strict=True)):
        session.add(InitiativeAuthor(
            initiative_id=initiative.id,  # type: ignore[arg-type]
            member_id=person.id if isinstance(person, Member) else None,
            name=person.full_name if isinstance(person, Member) else person,
            share=share,
            position=position,
        ))
    for n in range(attachments):
        session.add(InitiativeAttachment(
            initiative_id=initiative.id,  # type: ignore[arg-type]
            channel=Channel.TELEGRAM,
            kind="document",
            file_id=f"file-{initiative.id}-{n}",
            file_unique_id=f"unique-{initiative.id}-{n}",
            file_name=f"minh-chung-{n + 1}.pdf",
            size=1000,
        ))
    await session.flush()
    return initiative


class Clock:
    """A clock the test sets: `clock.now = …`; pass it as `clock=`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def scheduler_for(engine: AsyncEngine, clock: Clock, **kwargs) -> Scheduler:  # type: ignore[no-untyped-def]
    """A Scheduler of its own on `engine`, in Vietnamese, on `clock`."""
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    return Scheduler(
        database.create_session_factory(engine), load_translator("vi"), settings, clock=clock,
        **kwargs,
    )
