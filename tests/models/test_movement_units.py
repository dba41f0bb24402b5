"""A grassroots union's side of a movement, without a chat: who has and has not registered, the
collective registration, and the once-a-day reminder; each only for the union's officials and
only for a movement meant for the union."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Role, appoint
from models.audit import entries_about
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import MemberStatus
from models.movement_units import (
    MovementNudge,
    collective_title,
    my_unions,
    nudge_targets,
    open_movements,
    register_collective,
    unit_and_movement,
    unit_names,
    unit_view,
    withdraw_collective,
)
from models.movements import (
    MovementStatus,
    Registration,
    RegistrationStatus,
    register,
    withdraw,
)
from tests.factories import TITLES, actor_of, make_member, make_movement, make_official, make_tree

NOW = datetime.now(UTC)


async def _school(session: AsyncSession, **movement_options) -> dict:  # type: ignore[no-untyped-def]
    """Trường THCS Nguyễn Trãi under a district movement: its chair (not registered), Lan
    (registered), Bình (registered, then withdrew), Dũng (never registered); an erased and a
    pending member; and a registered teacher of the other school."""
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"], **movement_options)
    trai = tree["trai"]
    chair = await make_official(session, trai, "Trần Văn Hùng")
    lan = await make_member(session, trai, "Nguyễn Thị Lan")
    binh = await make_member(session, trai, "Lê Thị Bình")
    dung = await make_member(session, trai, "Phạm Văn Dũng")
    erased = await make_member(session, trai, "Đã Xoá")
    pending = await make_member(session, trai, "Vũ Thị Chờ", status=MemberStatus.PENDING)
    other = await make_member(session, tree["du"], "Hoàng Thị Du")
    for member in (lan, binh, erased, other):
        await register(session, member=member, movement=movement, title_code="LDTT", now=NOW)
    await withdraw(session, member=binh, movement=movement, now=NOW)
    erased.erased_at = NOW
    session.add(erased)
    await session.flush()
    return {
        **tree, "movement": movement, "chair": await actor_of(session, chair),
        "chair_member": chair, "lan": lan, "binh": binh, "dung": dung, "pending": pending,
    }


async def test_a_union_counts_its_active_members_who_have_and_have_not_registered(
    session: AsyncSession,
) -> None:
    school = await _school(session)
    chair, movement, trai = school["chair"], school["movement"], school["trai"]

    view = await unit_view(session, chair, movement=movement, unit=trai)

    assert (view.registered, view.not_registered) == (1, 3)  # Lan; the chair, Bình, Dũng
    assert view.collective is None and view.last_nudged_at is None
    done = await unit_names(session, chair, movement=movement, unit=trai, registered=True)
    assert done.total == 1
    assert [(r.full_name, r.title_code, r.status) for r in done.rows] == [
        ("Nguyễn Thị Lan", "LDTT", RegistrationStatus.REGISTERED)
    ]
    first = await unit_names(session, chair, movement=movement, unit=trai, registered=False,
                             offset=0, limit=2)
    rest = await unit_names(session, chair, movement=movement, unit=trai, registered=False,
                            offset=2, limit=2)
    assert first.total == rest.total == 3
    assert [(r.full_name, r.status) for r in first.rows + rest.rows] == [
        ("Lê Thị Bình", RegistrationStatus.WITHDRAWN),  # withdrawn: not registered
        ("Phạm Văn Dũng", None),
        ("Trần Văn Hùng", None),
    ]


async def test_a_registration_awaiting_approval_counts_as_registered(
    session: AsyncSession,
) -> None:
    school = await _school(session, requires_approval=True)
    await register(session, member=school["dung"], movement=school["movement"],
                   title_code="CSTDCS", now=NOW)
    view = await unit_view(session, school["chair"], movement=school["movement"],
                           unit=school["trai"])
    assert (view.registered, view.not_registered) == (2, 2)


async def test_the_chair_registers_changes_and_withdraws_the_school_collectively(
    session: AsyncSession,
) -> None:
    school = await _school(session)
    chair, movement, trai = school["chair"], school["movement"], school["trai"]
    movement.titles = [
        *TITLES, {"code": "TTLDTT", "name": "Tập thể lao động tiên tiến", "collective": True}
    ]
    session.add(movement)
    await session.flush()

    with pytest.raises(InvalidInput, match="title_unknown"):  # an individual title
        await register_collective(session, chair, movement=movement, unit=trai,
                                  title_code="LDTT", now=NOW)
    first = await register_collective(session, chair, movement=movement, unit=trai,
                                      title_code="TTLDXS", now=NOW)
    changed = await register_collective(session, chair, movement=movement, unit=trai,
                                        title_code="TTLDTT", now=NOW)
    assert changed.id == first.id and changed.title_code == "TTLDTT"
    view = await unit_view(session, chair, movement=movement, unit=trai)
    assert view.collective is not None and view.collective.status == RegistrationStatus.REGISTERED
    assert (view.registered, view.not_registered) == (1, 3)  # the union is not a member

    withdrawn = await withdraw_collective(session, chair, movement=movement, unit=trai, now=NOW)
    assert withdrawn.status == RegistrationStatus.WITHDRAWN
    with pytest.raises(NotFound, match="unit_registration_gone"):
        await withdraw_collective(session, chair, movement=movement, unit=trai, now=NOW)
    again = await register_collective(session, chair, movement=movement, unit=trai,
                                      title_code="TTLDXS", now=NOW)
    assert again.id == first.id and again.status == RegistrationStatus.REGISTERED

    entries = await entries_about(session, target_type="registration", target_id=first.id)
    assert [(e.action, e.actor_member_id) for e in entries] == [
        ("register_unit", school["chair_member"].id), ("register_unit", school["chair_member"].id),
        ("withdraw_unit", school["chair_member"].id), ("register_unit", school["chair_member"].id),
    ]
    assert entries[0].before is None and entries[0].after["title_code"] == "TTLDXS"
    assert (entries[1].before["title_code"], entries[1].after["title_code"]) == (
        "TTLDXS", "TTLDTT"
    )
    assert entries[2].after["status"] == RegistrationStatus.WITHDRAWN


async def test_after_the_deadline_the_school_neither_registers_withdraws_nor_nudges(
    session: AsyncSession,
) -> None:
    school = await _school(session)
    chair, movement, trai = school["chair"], school["movement"], school["trai"]
    await register_collective(session, chair, movement=movement, unit=trai,
                              title_code="TTLDXS", now=NOW)
    late = movement.registration_deadline + timedelta(minutes=1)
    with pytest.raises(NotAllowed, match="registration_closed"):
        await register_collective(session, chair, movement=movement, unit=trai,
                                  title_code="TTLDXS", now=late)
    with pytest.raises(NotAllowed, match="registration_closed"):
        await withdraw_collective(session, chair, movement=movement, unit=trai, now=late)
    with pytest.raises(NotAllowed, match="nudge_closed"):
        await nudge_targets(session, chair, movement=movement, unit=trai, now=late)
    # The numbers stay visible after the deadline.
    view = await unit_view(session, chair, movement=movement, unit=trai)
    assert view.collective.status == RegistrationStatus.REGISTERED and view.registered == 1


async def test_a_movement_not_meant_for_the_school_is_refused(session: AsyncSession) -> None:
    tree = await make_tree(session)
    movement = await make_movement(session, tree["district"], targets=[tree["du"]])
    chair = await actor_of(session, await make_official(session, tree["trai"]))
    await make_member(session, tree["trai"])
    trai = tree["trai"]
    for attempt in (
        unit_view(session, chair, movement=movement, unit=trai),
        unit_names(session, chair, movement=movement, unit=trai, registered=False),
        register_collective(session, chair, movement=movement, unit=trai, title_code="TTLDXS",
                            now=NOW),
        nudge_targets(session, chair, movement=movement, unit=trai, now=NOW),
        unit_and_movement(session, chair, movement_id=movement.id, unit_id=trai.id),
    ):
        with pytest.raises(NotAllowed, match="movement_not_for_you"):
            await attempt
    assert (await session.exec(select(Registration).where(Registration.collective))).all() == []
    assert (await session.exec(select(MovementNudge))).all() == []


async def test_the_chair_of_one_school_cannot_act_for_another(session: AsyncSession) -> None:
    school = await _school(session)
    chair, movement, du = school["chair"], school["movement"], school["du"]
    for attempt in (
        unit_view(session, chair, movement=movement, unit=du),
        unit_names(session, chair, movement=movement, unit=du, registered=True),
        register_collective(session, chair, movement=movement, unit=du, title_code="TTLDXS",
                            now=NOW),
        withdraw_collective(session, chair, movement=movement, unit=du, now=NOW),
        nudge_targets(session, chair, movement=movement, unit=du, now=NOW),
        unit_and_movement(session, chair, movement_id=movement.id, unit_id=du.id),
        open_movements(session, chair, unit=du),
    ):
        with pytest.raises(NotAllowed, match="not_allowed"):
            await attempt
    assert (await session.exec(select(Registration).where(Registration.collective))).all() == []
    assert (await session.exec(select(MovementNudge))).all() == []


async def test_a_district_official_acts_for_a_school_of_the_district(
    session: AsyncSession,
) -> None:
    school = await _school(session)
    district = await actor_of(
        session, await make_official(session, school["district"], "Cán bộ quận")
    )
    registration = await register_collective(
        session, district, movement=school["movement"], unit=school["trai"],
        title_code="TTLDXS", now=NOW,
    )
    assert registration.unit_id == school["trai"].id
    with pytest.raises(InvalidInput, match="collective_grassroots_only"):
        await unit_view(session, district, movement=school["movement"], unit=school["district"])


async def test_the_nudge_reaches_the_active_members_who_have_not_registered(
    session: AsyncSession,
) -> None:
    school = await _school(session)
    chair, movement, trai = school["chair"], school["movement"], school["trai"]
    members = await nudge_targets(session, chair, movement=movement, unit=trai, now=NOW)
    # Not Lan (registered), nor the erased, pending or other school's members; Bình withdrew.
    assert sorted(m.full_name for m in members) == [
        "Lê Thị Bình", "Phạm Văn Dũng", "Trần Văn Hùng"
    ]
    [entry] = await entries_about(session, target_type="movement", target_id=movement.id)
    assert entry.action == "nudge_unit"
    assert entry.after == {"unit_id": trai.id, "count": 3}  # how many, never who
    view = await unit_view(session, chair, movement=movement, unit=trai)
    assert view.last_nudged_at == NOW and view.next_nudge_at == NOW + timedelta(hours=24)


async def test_a_second_nudge_within_a_day_is_refused_with_when_it_can_go(
    session: AsyncSession,
) -> None:
    school = await _school(session)
    chair, movement, trai = school["chair"], school["movement"], school["trai"]
    await nudge_targets(session, chair, movement=movement, unit=trai, now=NOW)
    deputy_member = await make_official(session, trai, "Phó chủ tịch")
    deputy = await actor_of(session, deputy_member)

    for actor in (chair, deputy):  # once per union, whoever asks
        with pytest.raises(NotAllowed, match="nudge_too_soon") as refused:
            await nudge_targets(session, actor, movement=movement, unit=trai,
                                now=NOW + timedelta(hours=23, minutes=59))
        assert refused.value.params == {"when": NOW + timedelta(hours=24)}
    again = await nudge_targets(session, deputy, movement=movement, unit=trai,
                                now=NOW + timedelta(hours=24))
    assert len(again) == 4  # the deputy too, now a member of the school
    [row] = (await session.exec(select(MovementNudge))).all()
    assert row.nudged_at == NOW + timedelta(hours=24) and row.by_member_id == deputy_member.id
    entries = await entries_about(session, target_type="movement", target_id=movement.id)
    assert [e.after["count"] for e in entries] == [3, 4]


async def test_nobody_to_nudge_when_every_member_has_registered(session: AsyncSession) -> None:
    school = await _school(session)
    movement = school["movement"]
    for key in ("binh", "dung", "chair_member"):
        await register(session, member=school[key], movement=movement, title_code="GVTDVN",
                       now=NOW)
    with pytest.raises(NotAllowed, match="nudge_nobody"):
        await nudge_targets(session, school["chair"], movement=movement, unit=school["trai"],
                            now=NOW)
    assert (await session.exec(select(MovementNudge))).all() == []


async def test_myunit_lists_the_officials_schools_and_their_open_movements(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    chair_member = await make_official(session, tree["trai"])
    chair = await actor_of(session, chair_member)
    district = await actor_of(session, await make_official(session, tree["district"], "Quận"))
    teacher = await actor_of(session, await make_member(session, tree["trai"], "Giáo viên"))
    older = await make_movement(session, tree["district"], "Dạy tốt – học tốt")
    newer = await make_movement(session, tree["city"], "Toàn thành", everyone=True)
    await make_movement(session, tree["district"], "Nháp", status=MovementStatus.DRAFT)
    await make_movement(session, tree["district"], "Đã đóng", status=MovementStatus.CLOSED)
    await make_movement(session, tree["district"], "Trường khác", targets=[tree["du"]])

    assert [u.id for u in await my_unions(session, chair)] == [tree["trai"].id]
    assert await my_unions(session, district) == []  # not a grassroots union's official
    with pytest.raises(NotAllowed, match="officials_only"):
        await my_unions(session, teacher)
    movements, total = await open_movements(session, chair, unit=tree["trai"])
    assert [m.id for m in movements] == [newer.id, older.id] and total == 2
    page, total = await open_movements(session, chair, unit=tree["trai"], offset=1, limit=1)
    assert [m.id for m in page] == [older.id] and total == 2

    await appoint(session, None, member=chair_member, role=Role.OFFICIAL, unit=tree["du"])
    chair = await actor_of(session, chair_member)
    assert {u.id for u in await my_unions(session, chair)} == {tree["trai"].id, tree["du"].id}


async def test_a_draft_or_unknown_movement_and_a_foreign_title_are_refused(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    chair = await actor_of(session, await make_official(session, tree["trai"]))
    draft = await make_movement(session, tree["district"], status=MovementStatus.DRAFT)
    with pytest.raises(NotFound, match="movement_gone"):
        await unit_and_movement(session, chair, movement_id=draft.id, unit_id=tree["trai"].id)
    with pytest.raises(NotFound, match="movement_gone"):
        await unit_and_movement(session, chair, movement_id=987654, unit_id=tree["trai"].id)
    with pytest.raises(NotFound, match="unit_unavailable"):
        await unit_and_movement(session, chair, movement_id=draft.id, unit_id=987654)
    collective_index = next(i for i, t in enumerate(TITLES) if t["collective"])
    assert collective_title(draft, collective_index)["code"] == "TTLDXS"
    for index in (0, len(TITLES)):  # an individual title; past the list
        with pytest.raises(InvalidInput, match="title_unknown"):
            collective_title(draft, index)
