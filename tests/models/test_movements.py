"""The rules of movements, without a chat: who a movement is for, deadlines in Vietnam's time,
one registration per member, the allowed path of a registration."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.database import create_session_factory
from models.errors import InvalidInput, NotAllowed
from models.members import Member
from models.movements import (
    Registration,
    RegistrationStatus,
    movements_for_member,
    register,
    register_unit,
    school_year_of,
    withdraw,
)
from models.org import EmulationBloc, UnitBloc
from tests.factories import (
    actor_of,
    make_member,
    make_movement,
    make_official,
    make_tree,
    make_unit,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HCM)  # type: ignore[misc]


async def test_a_movement_reaches_its_subtree_its_blocs_or_everyone(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    other = await make_unit(session, "Trường THCS Trưng Vương", parent=tree["edu"])
    bloc = EmulationBloc(code="CUM1", name="Cụm 1")
    session.add(bloc)
    await session.flush()
    session.add(UnitBloc(unit_id=other.id, bloc_id=bloc.id))
    district = await make_movement(session, tree["district"], "Quận")
    by_bloc = await make_movement(session, tree["edu"], "Cụm", blocs=[bloc])
    city = await make_movement(session, tree["city"], "Toàn thành", everyone=True)
    lan = await make_member(session, tree["trai"])
    tam = await make_member(session, other, "Lê Văn Tám")

    lan_sees, total = await movements_for_member(session, lan)
    assert [m.id for m in lan_sees] == [city.id, district.id] and total == 2
    tam_sees, _ = await movements_for_member(session, tam)
    assert [m.id for m in tam_sees] == [city.id, by_bloc.id]


async def test_registration_closes_at_the_deadline_in_vietnam_time(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    deadline = local(2026, 12, 1, 0, 0)  # midnight, local
    movement = await make_movement(session, tree["district"], registration_deadline=deadline)
    lan = await make_member(session, tree["trai"])
    just_before = local(2026, 11, 30, 23, 59)
    await register(session, member=lan, movement=movement, title_code="LDTT", now=just_before)
    # 00:01 local is still 30 November in UTC: the deadline is the local one.
    just_after = local(2026, 12, 1, 0, 1)
    assert just_after.astimezone(UTC).day == 30
    with pytest.raises(NotAllowed, match="registration_closed"):
        await register(session, member=lan, movement=movement, title_code="CSTDCS",
                       now=just_after)
    with pytest.raises(NotAllowed, match="registration_closed"):
        await withdraw(session, member=lan, movement=movement, now=just_after)


async def test_withdraw_then_register_again_keeps_one_registration(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    now = datetime.now(UTC)
    first = await register(session, member=lan, movement=movement, title_code="LDTT", now=now)
    await withdraw(session, member=lan, movement=movement, now=now)
    assert first.status == RegistrationStatus.WITHDRAWN
    again = await register(session, member=lan, movement=movement, title_code="GVTDVN",
                           commitment="Phấn đấu đạt danh hiệu", now=now)
    assert again.id == first.id and again.status == RegistrationStatus.REGISTERED
    assert again.title_code == "GVTDVN"


async def test_the_database_refuses_a_second_registration_of_the_same_member(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    for _ in range(2):
        session.add(Registration(
            movement_id=movement.id, registrant=f"m:{lan.id}", member_id=lan.id,
            unit_id=lan.unit_id, title_code="LDTT", school_year="2026-2027",
        ))
    with pytest.raises(IntegrityError):
        await session.flush()


async def _wait_until_a_statement_waits_on_a_lock(engine: AsyncEngine) -> None:
    for _ in range(1000):
        async with engine.connect() as watcher:
            waiting = await watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ))
            if waiting.scalar():
                return
        await asyncio.sleep(0.01)
    raise AssertionError("the second registration never waited on the first")


async def test_two_taps_at_once_register_once_and_neither_fails(
    session: AsyncSession, engine: AsyncEngine
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"])
    lan = await make_member(session, tree["trai"])
    await session.commit()
    now = datetime.now(UTC)
    await register(session, member=lan, movement=movement, title_code="LDTT", now=now)
    async with create_session_factory(engine)() as other:
        second = register(
            other, member=await other.get(Member, lan.id), movement=movement,  # type: ignore[arg-type]
            title_code="GVTDVN", now=now,
        )
        if engine.dialect.name == "postgresql":
            # The first tap has written its row, not yet committed, when the second one looks.
            waiting = asyncio.create_task(second)
            await _wait_until_a_statement_waits_on_a_lock(engine)
            await session.commit()
            again = await waiting
        else:
            # SQLite lets one writer at a time: the second tap comes just after the first.
            await session.commit()
            again = await second
        await other.commit()
    assert again.status == RegistrationStatus.REGISTERED and again.title_code == "GVTDVN"
    count = await session.exec(
        select(func.count()).select_from(Registration).where(
            Registration.movement_id == movement.id
        )
    )
    assert count.one() == 1


async def test_outside_the_target_or_with_a_foreign_title_nobody_registers(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"], targets=[tree["du"]])
    lan = await make_member(session, tree["trai"])
    now = datetime.now(UTC)
    with pytest.raises(NotAllowed, match="movement_not_for_you"):
        await register(session, member=lan, movement=movement, title_code="LDTT", now=now)
    binh = await make_member(session, tree["du"], "Trần Thị Bình")
    with pytest.raises(InvalidInput, match="title_unknown"):
        await register(session, member=binh, movement=movement, title_code="TTLDXS", now=now)


async def test_a_chair_registers_their_school_collectively_but_not_another(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"])
    chair = await actor_of(session, await make_official(session, tree["trai"]))
    now = datetime.now(UTC)
    registration = await register_unit(session, chair, unit=tree["trai"], movement=movement,
                                       title_code="TTLDXS", now=now)
    assert registration.collective and registration.registrant == f"u:{tree['trai'].id}"
    with pytest.raises(NotAllowed):
        await register_unit(session, chair, unit=tree["du"], movement=movement,
                            title_code="TTLDXS", now=now)


def test_the_school_year_turns_in_september_local_time() -> None:
    assert school_year_of(local(2026, 8, 31, 23, 59), HCM) == "2025-2026"
    assert school_year_of(local(2026, 9, 1, 0, 30), HCM) == "2026-2027"
    assert school_year_of(local(2027, 5, 20, 8, 0), HCM) == "2026-2027"
    assert school_year_of(local(2026, 9, 1, 0, 30) - timedelta(hours=1), HCM) == "2025-2026"
