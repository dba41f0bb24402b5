"""`unionbot demo-data` gives a realistic organisation to try the bot with, once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import func, select

from bot import database
from bot.demo import load_demo_data
from models.access import Role, RoleAssignment
from models.initiatives import (
    Initiative,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
    seats_of,
)
from models.members import Member, resolve_invite
from models.movements import movements_for_member
from models.org import EmulationBloc, OrgKind, OrgUnit, search_grassroots
from models.units import units_in_bloc


async def test_demo_data_is_a_city_of_schools_and_loads_once(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    assert "30 schools" in await load_demo_data(sessions)
    assert "already loaded" in await load_demo_data(sessions)
    async with sessions() as session:
        kinds = dict(
            (await session.exec(select(OrgUnit.kind, func.count()).group_by(OrgUnit.kind))).all()
        )
        assert kinds == {OrgKind.FEDERATION: 1, OrgKind.INDUSTRY_UNION: 5, OrgKind.GRASSROOTS: 30}
        members = (await session.exec(select(func.count()).select_from(Member))).one()
        assert 200 <= members <= 600
        women = (
            await session.exec(
                select(func.count()).select_from(Member).where(Member.gender == "female")
            )
        ).one()
        assert 0.6 < women / members < 0.9
        [trai] = await search_grassroots(session, text="nguyen trai")
        assert (await resolve_invite(session, "DEMO-BD-01")).unit_id == trai.id
        thcs = (await session.exec(select(EmulationBloc).where(EmulationBloc.code == "CUM-THCS")))
        schools = await units_in_bloc(session, bloc=thcs.one())
        assert trai in schools and len({s.parent_id for s in schools}) == 4  # every district
        assert all(s.name.startswith("Trường THCS") for s in schools) and len(schools) >= 4
        lan = (await session.exec(select(Member).where(Member.unit_id == trai.id))).first()
        shown, total = await movements_for_member(session, lan)
        assert total == 2 and all(m.status == "open" for m in shown)
        codes = (await session.exec(select(Member.member_code))).all()
        assert len(set(codes)) == members and None not in codes


async def test_demo_data_has_councils_and_initiatives_at_each_stage(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    await load_demo_data(sessions)
    async with sessions() as session:
        statuses = (await session.exec(select(Initiative.status))).all()
        assert sorted(statuses) == sorted([
            "submitted", "submitted", "accepted", "submitted", "under_review", "returned",
        ])
        forwarded = (await session.exec(
            select(Initiative).where(Initiative.level == RecognitionLevel.DISTRICT)
        )).one()
        assert forwarded.unit_id != forwarded.origin_unit_id
        assert len((await session.exec(select(Recognition))).all()) == 2
        reviewers = (await session.exec(
            select(RoleAssignment).where(RoleAssignment.role == Role.REVIEWER)
        )).all()
        assert len(reviewers) == 15  # three for each of the four districts and the city
        waiting = (await session.exec(
            select(Initiative).where(Initiative.status == InitiativeStatus.UNDER_REVIEW)
        )).one()
        seats = await seats_of(session, waiting)
        assert len(seats) == 3 and seats[0].is_chair and seats[0].scored_at is None
