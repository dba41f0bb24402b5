"""Initiative calls: a union's deadline for the initiatives of a school year, and its reminders
to those who still have a draft not submitted. Both databases; time from a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select

from bot import database
from models import initiative_calls as calls
from models import reminders as rem
from models.audit import AuditEntry
from models.errors import InvalidInput, NotAllowed
from models.initiative_drafts import submit
from models.initiatives import InitiativeStatus
from models.outbox import OutboxMessage, Status
from models.privacy import erase_member, export_member_data
from models.reminders import ReminderRun, RunStatus
from tests.factories import (
    Clock,
    actor_of,
    make_initiative,
    make_member,
    make_official,
    make_tree,
    scheduler_for,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
YEAR = "2026-2027"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=HCM).astimezone(UTC)


# The call closes at the end of 15/12/2026 local: reminders at 08:00 on the 8th, 12th, 14th.
DEADLINE = datetime(2026, 12, 15, 16, 59, 59, tzinfo=UTC)
CREATED = local(1, 9)




async def _texts(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with database.create_session_factory(engine)() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [(row.chat_id, row.text) for row in rows.all()]


async def _setup(engine: AsyncEngine):  # type: ignore[no-untyped-def]
    """The district's call; Lan (a school below) has a draft, Nam submitted, Hoa (at the same
    school) has nothing; Tuấn at a school outside the district has a draft."""
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        other = await make_tree(session)
        official = await make_official(session, tree["district"], telegram_id=900)
        lan = await make_member(session, tree["trai"], "Nguyễn Thị Lan", telegram_id=101)
        nam = await make_member(session, tree["du"], "Lê Văn Nam", telegram_id=102)
        await make_member(session, tree["trai"], "Phạm Thị Hoa", telegram_id=103)
        tuan = await make_member(session, other["trai"], "Đỗ Văn Tuấn", telegram_id=104)
        draft = await make_initiative(session, lan, status=InitiativeStatus.DRAFT)
        await make_initiative(session, nam, status=InitiativeStatus.SUBMITTED, school_year=YEAR)
        await make_initiative(session, tuan, status=InitiativeStatus.DRAFT)
        actor = await actor_of(session, official)
        call = await calls.set_call(session, actor, tree["district"], YEAR, DEADLINE, CREATED)
        await session.commit()
        return tree, official, lan, draft.id, call.id


async def test_only_authors_of_a_draft_are_reminded_and_not_after_they_submit(
    engine: AsyncEngine,
) -> None:
    tree, _, lan, draft_id, call_id = await _setup(engine)
    clock = Clock(local(8, 7, 59))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    clock.now = local(8, 8)  # 08:00 local, 7 days before
    assert await scheduler.tick() == 1
    assert await scheduler.tick() == 0
    [(chat, text)] = await _texts(engine)
    assert chat == "101"
    assert "Sắp hết hạn nộp sáng kiến" in text and tree["district"].name in text
    assert "15/12/2026" in text and "còn 7 ngày" in text and "/drafts" in text
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        await session.exec(  # type: ignore[call-overload]
            OutboxMessage.__table__.update().values(status=Status.SENT)  # type: ignore[attr-defined]
        )
        await submit(session, lan, draft_id, now=local(10, 9), tz=HCM)
        await session.commit()
    clock.now = local(12, 8)  # the 3-day reminder: nobody left to remind
    assert await scheduler.tick() == 0
    assert len(await _texts(engine)) == 1
    async with sessions() as session:
        runs = await rem.runs_of(session, "initiative_call", call_id)
        assert [(r.status, r.queued) for r in runs] == [(RunStatus.SENT, 1), (RunStatus.SENT, 0)]
        stats = await rem.run_stats(session, runs[0])
        assert (stats.reached, stats.acted) == (1, 1)


async def test_moving_the_deadline_moves_the_reminders(engine: AsyncEngine) -> None:
    tree, official, _, _, call_id = await _setup(engine)
    clock = Clock(local(8, 8))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 1
    moved = DEADLINE + timedelta(days=5)  # the 20th: reminders on the 13th, 17th and 19th
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        actor = await actor_of(session, official)
        call = await calls.set_call(session, actor, tree["district"], YEAR, moved, local(9, 10))
        assert call.id == call_id  # the same call, moved
        audited = await session.exec(
            select(AuditEntry).where(col(AuditEntry.action) == "initiative_call_set")
        )
        assert len(audited.all()) == 2
        await session.commit()
    clock.now = local(12, 8)  # the old 3-day reminder never goes
    assert await scheduler.tick() == 0
    clock.now = local(13, 8)
    assert await scheduler.tick() == 1
    assert "20/12/2026" in (await _texts(engine))[-1][1]
    async with sessions() as session:
        runs = (await session.exec(select(ReminderRun).order_by(col(ReminderRun.id)))).all()
        assert [(r.deadline_at, r.occurrence.split("/")[1]) for r in runs] == [
            (DEADLINE, "7"), (moved, "7"),
        ]


async def test_only_an_official_of_the_unit_sets_a_call_and_only_in_the_future(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        school_official = await make_official(session, tree["trai"], telegram_id=901)
        district_official = await make_official(session, tree["district"], telegram_id=902)
        teacher = await make_member(session, tree["trai"], telegram_id=101)
        outsider = await actor_of(session, school_official)
        with pytest.raises(NotAllowed):  # the district is above the school official's scope
            await calls.set_call(session, outsider, tree["district"], YEAR, DEADLINE, CREATED)
        with pytest.raises(NotAllowed):
            await calls.set_call(session, await actor_of(session, teacher), tree["trai"], YEAR,
                                 DEADLINE, CREATED)
        actor = await actor_of(session, district_official)
        with pytest.raises(InvalidInput) as error:
            await calls.set_call(session, actor, tree["district"], YEAR, CREATED, CREATED)
        assert error.value.code == "initiative_call_deadline_past"
        assert await calls.calls_for(session, actor) == []
        call = await calls.set_call(session, actor, tree["district"], YEAR, DEADLINE, CREATED)
        assert [c.id for c in await calls.calls_for(session, actor)] == [call.id]
        assert await calls.calls_for(session, outsider) == []
        # The official's data: the calls they set; erased, the call stays with no author.
        identity = actor.identity
        data = await export_member_data(session, identity)
        assert [c["id"] for c in data["initiative_calls_you_set"]] == [call.id]
        await erase_member(session, identity)
        await session.commit()
        found = await session.get(calls.InitiativeCall, call.id)
        assert found is not None and found.created_by_member_id is None


async def test_reminders_coming_lists_the_call_to_a_member_with_a_draft_only(
    engine: AsyncEngine,
) -> None:
    tree, _, lan, _, _ = await _setup(engine)
    async with database.create_session_factory(engine)() as session:
        [item] = [
            i for i in await rem.upcoming_for(session, lan, local(2, 9), HCM)
            if i.category == rem.Category.INITIATIVE_CALL
        ]
        assert item.title == tree["district"].name and item.deadline == DEADLINE
        assert item.next_at == local(8, 8)  # the seven-day reminder
        hoa = (await session.exec(
            select(rem.Member).where(rem.Member.full_name == "Phạm Thị Hoa")
        )).one()
        coming = await rem.upcoming_for(session, hoa, local(2, 9), HCM)
        assert not [i for i in coming if i.category == rem.Category.INITIATIVE_CALL]
