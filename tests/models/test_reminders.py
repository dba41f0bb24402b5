"""Reminders: deadline reminders computed from the deadlines, sent once, to who still has
something to do; event reminders officials schedule; personal settings; what they achieved.

Every test runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL. Time comes from a clock
the Scheduler takes; nothing waits. Times are written in Hà Nội's local time (UTC+7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import database
from models import reminders as rem
from models.access import RoleAssignment, revoke
from models.audience import Audience
from models.errors import InvalidInput
from models.initiatives import InitiativeStatus, ReviewSeat
from models.members import Identity, Member
from models.movement_members import submit_assessment
from models.movements import Movement, Registration, RegistrationStatus, register
from models.outbox import OutboxMessage, Status
from models.privacy import erase_member, export_member_data
from models.reminders import ReminderRun, RunStatus
from tests.factories import (
    Clock,
    actor_of,
    make_initiative,
    make_member,
    make_movement,
    make_official,
    make_reviewer,
    make_tree,
    scheduler_for,
)

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(day: int, hour: int, minute: int = 0, *, month: int = 12, year: int = 2026) -> datetime:
    """A time in Hà Nội, as the UTC instant the database keeps."""
    return datetime(year, month, day, hour, minute, tzinfo=HCM).astimezone(UTC)


# The registration deadline: 23:59:59 on 15/12/2026 in Hà Nội. Its reminders: 08:00 on the 8th,
# the 12th and the 14th.
DEADLINE = datetime(2026, 12, 15, 16, 59, 59, tzinfo=UTC)
SEVEN, THREE, ONE = local(8, 8), local(12, 8), local(14, 8)




async def _teachers(session: AsyncSession, count: int = 3, **movement):  # type: ignore[no-untyped-def]
    """The tree, `count` teachers of one school (Telegram 101, 102, …) and an open movement of
    the district (registration until DEADLINE, self-assessment long after)."""
    tree = await make_tree(session)
    people = [
        await make_member(session, tree["trai"], f"Giáo viên {n}", telegram_id=101 + n)
        for n in range(count)
    ]
    movement.setdefault("registration_deadline", DEADLINE)
    movement.setdefault("assessment_opens", DEADLINE + timedelta(days=60))
    movement.setdefault("assessment_closes", DEADLINE + timedelta(days=70))
    found = await make_movement(session, tree["district"], **movement)
    return tree, people, found


async def _rows(engine: AsyncEngine) -> list[OutboxMessage]:
    async with database.create_session_factory(engine)() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return list(rows.all())


async def _chats(engine: AsyncEngine) -> list[str]:
    return sorted(row.chat_id for row in await _rows(engine))


async def _runs(engine: AsyncEngine) -> list[ReminderRun]:
    async with database.create_session_factory(engine)() as session:
        rows = await session.exec(select(ReminderRun).order_by(col(ReminderRun.id)))
        return list(rows.all())


def _offset(run: ReminderRun) -> str:
    return run.occurrence.split("/")[1]


async def _add_registration(
    session: AsyncSession, movement: Movement, member: Member, status: str
) -> Registration:
    registration = Registration(
        movement_id=movement.id, registrant=f"m:{member.id}", member_id=member.id,  # type: ignore[arg-type]
        unit_id=member.unit_id, title_code="GVTDVN", status=status,
        school_year=movement.school_year,
    )
    session.add(registration)
    await session.flush()
    return registration


# --- times ------------------------------------------------------------------------------------


def test_offsets_typed_by_an_official() -> None:
    assert rem.parse_offsets("7 3 1") == rem.parse_offsets("1, 7; 3") == [7, 3, 1]
    assert rem.parse_offsets("0") == rem.parse_offsets("") == []
    assert rem.clean_offsets(None) == [7, 3, 1]
    for bad in ("7 0", "31", "-1", "bảy", "1 2 3 4 5 6"):
        with pytest.raises(InvalidInput):
            rem.parse_offsets(bad)


def test_the_day_before_a_deadline_just_after_midnight_is_the_local_day_before() -> None:
    # 00:30 on the 16th in Hà Nội is still the 15th in UTC (17:30). "1 day before" is the local
    # day before, the 15th, at 08:00 local = 01:00 UTC — not the 14th (the UTC day before).
    deadline = datetime(2026, 12, 15, 17, 30, tzinfo=UTC)
    assert deadline.astimezone(HCM).day == 16
    assert rem.reminder_time(deadline, 1, HCM) == datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    assert rem.reminder_time(deadline, 3, HCM) == local(13, 8)
    # 23:59 on the 15th (16:59 UTC the same day): the day before is the 14th.
    assert rem.reminder_time(DEADLINE, 1, HCM) == ONE == datetime(2026, 12, 14, 1, 0, tzinfo=UTC)


async def test_a_deadline_just_after_midnight_is_reminded_at_eight_on_the_local_day_before(
    engine: AsyncEngine,
) -> None:
    deadline = datetime(2026, 12, 15, 17, 30, tzinfo=UTC)  # 00:30 on the 16th in Hà Nội
    async with database.create_session_factory(engine)() as session:
        _, _, movement = await _teachers(session, count=1, registration_deadline=deadline)
        movement.reminder_offsets = [1]
        session.add(movement)
        await session.commit()
    clock = Clock(local(14, 8))  # 08:00 on the UTC day before: nothing
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    clock.now = local(15, 7, 59)
    assert await scheduler.tick() == 0
    clock.now = local(15, 8)  # = 01:00 UTC on the 15th
    assert clock.now == datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    assert await scheduler.tick() == 1
    [row] = await _rows(engine)
    assert "00:30 16/12/2026" in row.text and "còn 1 ngày" in row.text


def test_quiet_hours_across_midnight() -> None:
    def held(hour: int, minute: int, start: str = "21:00", end: str = "06:30") -> datetime | None:
        return rem.quiet_until(local(20, hour, minute), HCM, start, end)

    assert held(22, 0) == local(21, 6, 30)  # the next morning
    assert held(0, 10) == local(20, 6, 30)  # after midnight: the same morning
    assert held(6, 29) == local(20, 6, 30)
    assert held(6, 30) is None and held(20, 59) is None and held(8, 0) is None
    assert held(21, 0) == local(21, 6, 30)
    assert held(22, 0, "00:00", "00:00") is None  # none
    assert held(12, 15, "12:00", "13:30") == local(20, 13, 30)  # within one day
    assert held(13, 30, "12:00", "13:30") is None
    assert rem.parse_quiet_hours("21h-6h30") == ("21:00", "06:30")
    assert rem.parse_quiet_hours("tắt") == rem.parse_quiet_hours("0") == ("00:00", "00:00")
    for bad in ("21:00", "25:00-06:00", "21:00-06:61", "abc-def"):
        with pytest.raises(InvalidInput):
            rem.parse_quiet_hours(bad)


def test_cron_rules_across_month_and_year_ends() -> None:
    def fires(rule: str, after: datetime, count: int = 3) -> list[datetime]:
        times = []
        for _ in range(count):
            found = rem.next_fire(rule, after=after, tz=HCM)
            assert found is not None
            times.append(found)
            after = found
        return times

    thirty_first = rem.monthly_rule(31, 8, 0)
    assert fires(thirty_first, local(30, 8, month=10)) == [  # November and February skipped
        local(31, 8, month=10), local(31, 8, month=12), local(31, 8, month=1, year=2027),
    ]
    assert fires(thirty_first, local(31, 8, month=1, year=2027), 2) == [
        local(31, 8, month=3, year=2027), local(31, 8, month=5, year=2027),  # not April
    ]
    last = rem.monthly_rule("last", 16, 0)
    assert fires(last, local(31, 17, month=1, year=2027)) == [
        local(28, 16, month=2, year=2027), local(31, 16, month=3, year=2027),
        local(30, 16, month=4, year=2027),
    ]
    assert fires(last, local(1, 0, month=2, year=2028), 1) == [local(29, 16, month=2, year=2028)]
    monday = rem.weekly_rule(0, 7, 0)
    assert fires(monday, local(29, 12, month=11)) == [  # across the end of November
        local(30, 7, month=11), local(7, 7), local(14, 7),
    ]
    assert fires(monday, local(28, 7), 2) == [  # across the end of the year
        local(4, 7, month=1, year=2027), local(11, 7, month=1, year=2027),
    ]
    assert rem.next_fire(rem.RULE_ONCE, after=local(1, 0), tz=HCM) is None
    with pytest.raises(InvalidInput):
        rem.monthly_rule(32, 8, 0)
    with pytest.raises(InvalidInput):
        rem.next_fire("every monday", after=local(1, 0), tz=HCM)


# --- deadline reminders -------------------------------------------------------------------------


async def test_a_registration_deadline_reminds_those_not_registered_at_eight_local_time(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        await make_member(session, tree["trai"], "Nguyễn Thị Lan", telegram_id=101)
        await make_member(session, tree["du"], "Lê Văn Nam", zalo_id=202, locale="en")
        await make_movement(
            session, tree["district"], registration_deadline=DEADLINE,
            assessment_opens=DEADLINE + timedelta(days=60),
            assessment_closes=DEADLINE + timedelta(days=70),
        )
        await session.commit()
    clock = Clock(SEVEN - timedelta(minutes=1))  # 07:59 local, 7 days before
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    clock.now = SEVEN
    assert await scheduler.tick() == 2
    assert await scheduler.tick() == 0  # never twice
    rows = sorted(await _rows(engine), key=lambda row: row.chat_id)
    assert [row.chat_id for row in rows] == ["101", "202"]
    assert "còn 7 ngày" in rows[0].text and "7 days left" in rows[1].text
    clock.now = THREE + timedelta(hours=3)
    assert await scheduler.tick() == 2
    latest = {row.chat_id: row.text for row in (await _rows(engine))[2:]}
    assert "còn 3 ngày" in latest["101"] and "3 days left" in latest["202"]


async def test_a_member_who_acts_after_the_reminders_were_planned_is_not_reminded(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, (lan, nam, hoa), movement = await _teachers(session)
        await session.commit()
    clock = Clock(SEVEN)
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 3
    async with sessions() as session:
        # Lan registers; Nam mutes registration reminders; Hòa does nothing.
        found = await session.get(Movement, movement.id)
        await register(session, member=lan, movement=found, title_code="GVTDVN",  # type: ignore[arg-type]
                       now=local(9, 10))
        await rem.set_muted(session, nam.id, rem.Category.REGISTRATION, True, now=local(9, 10))  # type: ignore[arg-type]
        await session.commit()
    clock.now = THREE
    assert await scheduler.tick() == 1
    assert (await _rows(engine))[-1].chat_id == "103"
    async with sessions() as session:
        # Nam unmutes; Hòa registers and then withdraws (reminded again: nothing in force).
        await rem.set_muted(session, nam.id, rem.Category.REGISTRATION, False, now=local(13, 9))  # type: ignore[arg-type]
        muted_events = await rem.set_muted(session, nam.id, rem.Category.EVENT, True,  # type: ignore[arg-type]
                                           now=local(13, 9))
        assert muted_events.muted == ["event"]
        with pytest.raises(InvalidInput):
            await rem.set_muted(session, nam.id, "everything", True, now=local(13, 9))  # type: ignore[arg-type]
        await _add_registration(session, movement, hoa, RegistrationStatus.WITHDRAWN)
        await session.commit()
    clock.now = ONE
    assert await scheduler.tick() == 2
    assert sorted(row.chat_id for row in (await _rows(engine))[-2:]) == ["102", "103"]


async def test_a_deadline_moved_after_reminders_were_planned_moves_them(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, _, movement = await _teachers(session, count=1)
        await session.commit()
    clock = Clock(SEVEN)
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 1  # 7 days before the 15th
    moved = DEADLINE + timedelta(days=5)  # to the 20th: reminders on the 13th, 17th and 19th
    async with sessions() as session:
        await session.exec(update(Movement).where(col(Movement.id) == movement.id)  # type: ignore[call-overload]
                           .values(registration_deadline=moved))
        await session.commit()
    clock.now = local(12, 8)  # the old 3-day reminder never goes
    assert await scheduler.tick() == 0
    clock.now = local(13, 8)
    assert await scheduler.tick() == 1
    assert "20/12/2026" in (await _rows(engine))[-1].text
    clock.now = local(14, 8)  # nor the old 1-day one
    assert await scheduler.tick() == 0
    clock.now = local(17, 8)
    assert await scheduler.tick() == 1
    runs = await _runs(engine)
    assert [(r.deadline_at, _offset(r), r.status) for r in runs] == [
        (DEADLINE, "7", RunStatus.SENT), (moved, "7", RunStatus.SENT),
        (moved, "3", RunStatus.SENT),
    ]
    assert all(r.occurrence.startswith(moved.isoformat()[:19]) for r in runs[1:])


async def test_a_deadline_moved_by_hours_does_not_send_the_same_reminder_again(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, _, movement = await _teachers(session, count=1, registration_deadline=local(15, 17))
        await session.commit()
    clock = Clock(SEVEN)
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 1
    async with sessions() as session:  # 17:00 → 23:59 the same day: the same reminder times
        await session.exec(update(Movement).where(col(Movement.id) == movement.id)  # type: ignore[call-overload]
                           .values(registration_deadline=DEADLINE))
        await session.commit()
    clock.now = local(9, 10)
    assert await scheduler.tick() == 0
    clock.now = THREE
    assert await scheduler.tick() == 1
    assert [(_offset(r), r.status, r.reason) for r in await _runs(engine)] == [
        ("7", RunStatus.SENT, None), ("7", RunStatus.SKIPPED, "superseded"),
        ("3", RunStatus.SENT, None),
    ]


async def test_a_deadline_brought_forward_sends_the_latest_reminder_now(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, _, movement = await _teachers(session, count=1)
        await session.commit()
    clock = Clock(SEVEN)
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 1
    async with sessions() as session:  # on the 9th: the deadline is now the 10th at 23:59
        await session.exec(update(Movement).where(col(Movement.id) == movement.id)  # type: ignore[call-overload]
                           .values(registration_deadline=DEADLINE - timedelta(days=5)))
        await session.commit()
    clock.now = local(9, 10)
    assert await scheduler.tick() == 1  # the new "1 day before" (08:00 on the 9th)
    assert "còn 1 ngày" in (await _rows(engine))[-1].text
    clock.now = local(10, 8)
    assert await scheduler.tick() == 0


async def test_a_run_claimed_for_the_old_deadline_but_not_queued_is_skipped_as_moved(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, _, movement = await _teachers(session, count=2)
        await session.commit()
        # A process claims the 7-day reminder, then stops before queuing it.
        send, skip = await rem.due_deadline_reminders(session, now=SEVEN, tz=HCM)
        assert skip == [] and [d.occurrence for d in send] == [rem.occurrence_key(DEADLINE, 7)]
        run_id = await rem.claim_run(session, send[0], now=SEVEN)
        assert run_id is not None
        assert await rem.claim_run(session, send[0], now=SEVEN) is None  # the claim holds
        await session.commit()
        await session.exec(update(Movement).where(col(Movement.id) == movement.id)  # type: ignore[call-overload]
                           .values(registration_deadline=DEADLINE + timedelta(days=2)))
        await session.commit()
    # After the lease, another process takes the run over: it is about a deadline no longer.
    clock = Clock(SEVEN + rem.CLAIM_LEASE + timedelta(minutes=1))
    assert await scheduler_for(engine, clock).tick() == 0
    assert await _rows(engine) == []
    [run] = await _runs(engine)
    assert (run.status, run.reason) == (RunStatus.SKIPPED, "moved")


async def test_offsets_per_movement_and_none(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, _, movement = await _teachers(session, count=1)
        second = await make_movement(session, (await make_tree(session))["district"], "Khác",
                                     registration_deadline=DEADLINE)
        movement.reminder_offsets = [2]
        second.reminder_offsets = []
        session.add_all([movement, second])
        await session.commit()
    clock = Clock(SEVEN)
    scheduler = scheduler_for(engine, clock)
    for day in (8, 12):
        clock.now = local(day, 8)
        assert await scheduler.tick() == 0
    clock.now = local(13, 8)
    assert await scheduler.tick() == 1
    clock.now = local(14, 8)
    assert await scheduler.tick() == 0
    assert [_offset(r) for r in await _runs(engine)] == ["2"]


# --- self-assessment and scoring --------------------------------------------------------------


async def test_self_assessment_reminders_only_inside_the_window_and_only_to_registered(
    engine: AsyncEngine,
) -> None:
    closes = local(20, 17)
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, people, movement = await _teachers(
            session, count=5, registration_deadline=local(1, 17), assessment_opens=local(18, 12),
            assessment_closes=closes,
        )
        statuses = [RegistrationStatus.REGISTERED, RegistrationStatus.SUBMITTED,
                    RegistrationStatus.WITHDRAWN, RegistrationStatus.AWAITING_APPROVAL,
                    RegistrationStatus.REGISTERED]
        for member, status in zip(people, statuses, strict=True):
            registration = await _add_registration(session, movement, member, status)
            if member is people[4]:
                registration.assessment = ["Hoàn thành", "Hạnh phúc"]
        await session.commit()
    clock = Clock(local(13, 8))  # 7 days before, but the window opens on the 18th
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    clock.now = local(17, 8)  # 3 days before: still closed
    assert await scheduler.tick() == 0
    clock.now = local(18, 13)  # open now; the 7- and 3-day times were before it: never sent
    assert await scheduler.tick() == 0
    async with sessions() as session:  # the fifth submits before the last reminder
        await submit_assessment(session, people[4], movement.id, now=local(18, 20))  # type: ignore[arg-type]
        await session.commit()
    clock.now = local(19, 8)
    assert await scheduler.tick() == 1
    [row] = await _rows(engine)
    assert row.chat_id == "101" and "tự đánh giá" in row.text
    assert [(r.category, _offset(r)) for r in await _runs(engine)] == [
        (rem.Category.SELF_ASSESSMENT, "1"),
    ]


async def test_scoring_reminders_go_to_unscored_seats_of_the_current_round(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        author = await make_member(session, tree["trai"], "Tác giả", telegram_id=100)
        reviewers = [
            await make_reviewer(session, tree["district"], f"Giám khảo {n}", telegram_id=201 + n)
            for n in range(4)
        ]
        initiative = await make_initiative(session, author, status=InitiativeStatus.UNDER_REVIEW)
        initiative.round, initiative.scoring_deadline = 2, DEADLINE
        session.add(initiative)
        # The fourth sat on the first round's council only.
        session.add(ReviewSeat(initiative_id=initiative.id, round=1,  # type: ignore[arg-type]
                               reviewer_member_id=reviewers[3].id))  # type: ignore[arg-type]
        for n, reviewer in enumerate(reviewers[:3]):
            session.add(ReviewSeat(initiative_id=initiative.id, round=2,  # type: ignore[arg-type]
                                   reviewer_member_id=reviewer.id, is_chair=n == 0))  # type: ignore[arg-type]
        await session.commit()
        from models.initiative_review import score

        await score(session, await actor_of(session, reviewers[1]), initiative_id=initiative.id,  # type: ignore[arg-type]
                    novelty=8, effectiveness=7, applicability=9, comment=None, now=local(7, 9))
        await session.commit()
    clock = Clock(SEVEN)
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 2
    assert await _chats(engine) == ["201", "203"]
    assert "chấm điểm" in (await _rows(engine))[0].text
    async with sessions() as session:  # the council's work is stopped (returned to the author)
        found = await session.get(type(initiative), initiative.id)
        assert found is not None
        found.status = InitiativeStatus.RETURNED
        session.add(found)
        await session.commit()
    clock.now = THREE
    assert await scheduler.tick() == 0
    # A run claimed while it was under review but queued after is skipped: "gone".
    async with sessions() as session:
        due = rem.Due(rem.Category.SCORING, "initiative", initiative.id, rem.occurrence_key(  # type: ignore[arg-type]
            DEADLINE, 1), ONE, DEADLINE)
        run_id = await rem.claim_run(session, due, now=ONE)
        await session.commit()
    assert run_id is not None
    clock.now = ONE
    assert await scheduler_for(engine, clock).queue_run(run_id) == 0
    runs = await _runs(engine)
    assert [(r.status, r.reason) for r in runs] == [
        (RunStatus.SENT, None), (RunStatus.SKIPPED, "gone"),
    ]


# --- quiet hours -----------------------------------------------------------------------------


async def _event(session: AsyncSession, official: Member, *, rule: str = rem.RULE_ONCE,
                 first_at: datetime | None = None, now: datetime) -> rem.EventReminder:
    return await rem.create_event_reminder(
        session, await actor_of(session, official), title="Họp công đoàn",
        text="Họp <b>công đoàn</b> lúc 14:00 tại phòng hội đồng", audience=Audience(
            whole_scope=True), rule=rule, first_at=first_at, now=now, tz=HCM,
    )


@pytest.mark.parametrize(
    ("hour", "minute", "held_until"),
    [(22, 0, (21, 6, 30)), (6, 29, (20, 6, 30)), (6, 30, None), (0, 0, (20, 6, 30))],
)
async def test_an_event_reminder_in_quiet_hours_waits_until_they_end(
    engine: AsyncEngine, hour: int, minute: int, held_until: tuple[int, int, int] | None,
) -> None:
    moment = local(20, hour, minute)
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["trai"], telegram_id=9001)
        teacher = await make_member(session, tree["trai"], telegram_id=101)
        never = await make_member(session, tree["trai"], telegram_id=102)
        await rem.set_quiet_hours(session, never.id, "00:00", "00:00", now=local(1, 8))  # type: ignore[arg-type]
        await _event(session, official, first_at=moment, now=local(1, 8))
        await session.commit()
    assert await scheduler_for(engine, Clock(moment)).tick() == 3
    rows = {row.chat_id: row for row in await _rows(engine)}
    expected = moment if held_until is None else local(*held_until)
    assert rows["101"].next_attempt_at == rows["9001"].next_attempt_at == expected
    assert rows["102"].next_attempt_at == moment  # no quiet hours: at once
    assert teacher.id is not None


async def test_a_members_own_quiet_hours_hold_a_deadline_reminder(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, (lan, nam), _ = await _teachers(session, count=2)
        start, end = rem.parse_quiet_hours("7h-9h")
        await rem.set_quiet_hours(session, nam.id, start, end, now=local(1, 8))  # type: ignore[arg-type]
        assert (await rem.preference_of(session, lan.id)).quiet_start == "21:00"  # type: ignore[arg-type]
        await session.commit()
    assert await scheduler_for(engine, Clock(SEVEN)).tick() == 2
    rows = {row.chat_id: row for row in await _rows(engine)}
    assert rows["101"].next_attempt_at == SEVEN
    assert rows["102"].next_attempt_at == local(8, 9)


# --- event reminders ---------------------------------------------------------------------------


async def test_a_one_off_event_reminder_goes_once_and_ends(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["district"], telegram_id=9001)
        await make_member(session, tree["trai"], telegram_id=101)
        event = await _event(session, official, first_at=local(2, 7, 30), now=local(1, 8))
        await session.commit()
    clock = Clock(local(2, 7, 29))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    clock.now = local(2, 7, 31)
    assert await scheduler.tick() == 2
    assert await scheduler.tick() == 0
    clock.now = local(3, 7, 31)
    assert await scheduler.tick() == 0
    async with sessions() as session:
        stored = await session.get(rem.EventReminder, event.id)
        assert stored is not None
        assert (stored.status, stored.next_run_at) == (rem.EventStatus.ENDED, None)
    row = (await _rows(engine))[0]
    assert "Nhắc lịch: Họp công đoàn" in row.text and "<b>công đoàn</b>" in row.text
    assert "Công đoàn Giáo dục quận Ba Đình" in row.text  # sent in the union's name


async def test_a_recurring_event_reminder_moves_on_and_never_ends(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["trai"], telegram_id=9001)
        event = await _event(session, official, rule=rem.monthly_rule(31, 8, 0),
                             now=local(30, 12, month=10))
        assert event.next_run_at == local(31, 8, month=10)
        await session.commit()
    clock = Clock(local(31, 8, month=10))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 1
    async with sessions() as session:
        stored = await session.get(rem.EventReminder, event.id)
        assert stored is not None  # November has no 31st
        assert (stored.status, stored.next_run_at) == (rem.EventStatus.ACTIVE, local(31, 8))
    clock.now = local(30, 8, month=11)
    assert await scheduler.tick() == 0
    clock.now = local(31, 8)
    assert await scheduler.tick() == 1
    async with sessions() as session:
        stored = await session.get(rem.EventReminder, event.id)
        assert stored is not None
        assert (stored.status, stored.next_run_at) == (
            rem.EventStatus.ACTIVE, local(31, 8, month=1, year=2027))
        runs = await rem.runs_of(session, "event_reminder", event.id)  # type: ignore[arg-type]
        assert [r.due_at for r in runs] == [local(31, 8, month=10), local(31, 8)]


async def test_a_late_event_reminder_is_skipped_and_the_next_one_still_goes(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["trai"], telegram_id=9001)
        event = await _event(session, official, rule=rem.daily_rule(7, 0), now=local(1, 8))
        await session.commit()
    clock = Clock(local(2, 7) + rem.EVENT_LATE + timedelta(minutes=1))  # the bot was down
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0
    clock.now = local(3, 7)
    assert await scheduler.tick() == 1
    async with sessions() as session:
        runs = await rem.runs_of(session, "event_reminder", event.id)  # type: ignore[arg-type]
        assert [(r.due_at, r.status, r.reason) for r in runs] == [
            (local(2, 7), RunStatus.SKIPPED, "late"), (local(3, 7), RunStatus.SENT, None),
        ]


async def test_an_event_reminder_whose_author_lost_the_role_or_was_cancelled_sends_nothing(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["trai"], telegram_id=9001)
        other = await make_official(session, tree["du"], "Lê Thị Thu", telegram_id=9002)
        await make_member(session, tree["trai"], telegram_id=101)
        lost = await _event(session, official, rule=rem.daily_rule(7, 0), now=local(1, 8))
        cancelled = await _event(session, other, rule=rem.daily_rule(7, 0), now=local(1, 8))
        role = (await session.exec(select(RoleAssignment).where(
            RoleAssignment.member_id == official.id))).one()
        await revoke(session, None, assignment=role)
        await rem.cancel_event_reminder(session, await actor_of(session, other), cancelled,
                                        now=local(1, 9))
        assert cancelled.status == rem.EventStatus.CANCELLED
        await session.commit()
    assert await scheduler_for(engine, Clock(local(2, 7))).tick() == 0
    assert await _rows(engine) == []
    runs = await _runs(engine)
    assert [(r.source_id, r.status, r.reason) for r in runs] == [
        (lost.id, RunStatus.SKIPPED, "author_gone"),
    ]


async def test_an_event_reminder_needs_a_valid_title_rule_and_time(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    official = await make_official(session, tree["trai"], telegram_id=9001)
    actor = await actor_of(session, official)

    async def create(**changes):  # type: ignore[no-untyped-def]
        values = dict(title="Họp công đoàn", text="Họp lúc 14:00", audience=Audience(
            whole_scope=True), rule=rem.RULE_ONCE, first_at=local(2, 8), now=local(1, 8), tz=HCM)
        values.update(changes)
        return await rem.create_event_reminder(session, actor, **values)

    for changes in ({"title": "  A "}, {"first_at": local(1, 7)}, {"first_at": None},
                    {"rule": "61 8 * * *"}, {"first_at": local(1, 8, year=2028)}):
        with pytest.raises(InvalidInput):
            await create(**changes)
    assert (await create()).next_run_at == local(2, 8)


# --- what it achieved --------------------------------------------------------------------------


async def test_run_stats_count_who_was_reached_and_who_then_registered(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        _, people, movement = await _teachers(session, count=4)
        # The fourth registered before the reminder: not reminded, not counted.
        await register(session, member=people[3], movement=movement, title_code="GVTDVN",
                       now=local(7, 9))
        await session.commit()
    assert await scheduler_for(engine, Clock(SEVEN)).tick() == 3
    async with sessions() as session:
        await session.exec(update(OutboxMessage).values(  # type: ignore[call-overload]
            status=Status.SENT, sent_at=SEVEN + timedelta(seconds=5)))
        for member in people[:2]:  # two of the three register afterwards
            await register(session, member=member, movement=movement, title_code="GVTDVN",
                           now=local(9, 10))
        await session.commit()
        [run] = await rem.runs_of(session, "movement", movement.id)  # type: ignore[arg-type]
        stats = await rem.run_stats(session, run)
        assert (stats.reached, stats.acted) == (3, 2)
        assert run.queued == 3


async def test_run_stats_of_self_assessment_and_events(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree, people, movement = await _teachers(
            session, count=2, registration_deadline=local(1, 17), assessment_opens=local(2, 8),
            assessment_closes=DEADLINE,
        )
        for member in people:
            registration = await _add_registration(
                session, movement, member, RegistrationStatus.REGISTERED)
            registration.assessment = ["Hoàn thành", "Hạnh phúc"]
        official = await make_official(session, tree["district"], telegram_id=9001)
        event = await _event(session, official, first_at=SEVEN, now=local(1, 9))
        await session.commit()
    assert await scheduler_for(engine, Clock(SEVEN)).tick() == 2 + 3
    async with sessions() as session:
        await session.exec(update(OutboxMessage).values(status=Status.SENT))  # type: ignore[call-overload]
        await submit_assessment(session, people[0], movement.id, now=local(9, 10))  # type: ignore[arg-type]
        await session.commit()
        [run] = await rem.runs_of(session, "movement", movement.id)  # type: ignore[arg-type]
        assert run.category == rem.Category.SELF_ASSESSMENT
        stats = await rem.run_stats(session, run)
        assert (stats.reached, stats.acted) == (2, 1)
        [event_run] = await rem.runs_of(session, "event_reminder", event.id)  # type: ignore[arg-type]
        stats = await rem.run_stats(session, event_run)
        assert (stats.reached, stats.acted) == (3, None)


# --- privacy -----------------------------------------------------------------------------------


async def test_a_members_data_export_and_erasure_cover_reminders(engine: AsyncEngine) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        official = await make_official(session, tree["trai"], telegram_id=9001)
        await make_member(session, tree["trai"], telegram_id=101)
        event = await _event(session, official, rule=rem.weekly_rule(0, 7, 0), now=local(1, 8))
        await rem.set_muted(session, official.id, rem.Category.SCORING, True, now=local(1, 8))  # type: ignore[arg-type]
        await rem.set_quiet_hours(session, official.id, "22:00", "06:00", now=local(1, 8))  # type: ignore[arg-type]
        await session.commit()
        identity = (await session.exec(select(Identity).where(
            Identity.member_id == official.id))).one()
        data = await export_member_data(session, identity, now=local(1, 9))
        assert data["reminder_settings"] == {"muted": ["scoring"], "quiet_hours": "22:00-06:00"}
        assert [(e["id"], e["title"], e["rule"]) for e in data["event_reminders_you_wrote"]] == [
            (event.id, "Họp công đoàn", "0 7 * * mon"),
        ]
        await erase_member(session, identity, now=local(1, 10))
        await session.commit()  # PostgreSQL's foreign keys hold
    async with sessions() as session:
        assert await session.get(rem.ReminderPreference, official.id) is None
        stored = await session.get(rem.EventReminder, event.id)
        assert stored is not None
        assert (stored.author_member_id, stored.author_identity_id) == (None, None)
    # Its next time: nobody to send it in the name of.
    assert await scheduler_for(engine, Clock(local(7, 7))).tick() == 0
    assert [(r.status, r.reason) for r in await _runs(engine)] == [
        (RunStatus.SKIPPED, "author_gone"),
    ]


async def test_runs_waiting_behind_a_long_one_keep_their_claims(session: AsyncSession) -> None:
    now = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    ids = []
    for source_id in (1, 2):
        due = rem.Due(rem.Category.EVENT, "event_reminder", source_id, "x", now, None)
        ids.append(await rem.claim_run(session, due, now=now))
    await session.commit()
    later = now + rem.CLAIM_LEASE + timedelta(minutes=1)
    await rem.renew_claims(session, [ids[1]], now=later)  # the first one ran for six minutes
    await session.commit()
    # Another process looking for abandoned runs finds the first (its claim is old), not the
    # second, which its process is about to queue.
    assert await rem.runs_to_resume(session, now=later) == [ids[0]]


async def test_a_council_seated_after_a_reminder_time_is_not_sent_that_reminder(
    engine: AsyncEngine,
) -> None:
    sessions = database.create_session_factory(engine)
    async with sessions() as session:
        tree = await make_tree(session)
        author = await make_member(session, tree["trai"], "Tác giả", telegram_id=100)
        reviewer = await make_reviewer(session, tree["district"], "Giám khảo", telegram_id=201)
        initiative = await make_initiative(session, author, status=InitiativeStatus.UNDER_REVIEW)
        initiative.round, initiative.scoring_deadline = 1, DEADLINE
        session.add(initiative)
        # Seated five days before the deadline, after the seven-day reminder's time.
        session.add(ReviewSeat(initiative_id=initiative.id, round=1, is_chair=True,  # type: ignore[arg-type]
                               reviewer_member_id=reviewer.id, created_at=local(10, 9)))  # type: ignore[arg-type]
        await session.commit()
    clock = Clock(local(10, 9, 5))
    scheduler = scheduler_for(engine, clock)
    assert await scheduler.tick() == 0  # no seven-day reminder next to the seating notice
    clock.now = THREE
    assert await scheduler.tick() == 1
    assert await _chats(engine) == ["201"]
