"""Running movements, without a chat: who may create one and for whom, what is checked in what
is typed, the movement's path from draft to archive, edits while open, copies of a previous
year, the list of the movements an official runs, and the audit log of it all."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Actor, Role, appoint
from models.audit import AuditEntry, entries_about
from models.errors import InvalidInput, NotAllowed
from models.movement_admin import (
    STANDARD_TITLES,
    archive_movement,
    blocs_for,
    clean_titles,
    close_movement,
    copy_movement,
    create_movement,
    grassroots_targeted,
    movement_targets,
    movement_to_run,
    movements_run_by,
    open_movement,
    parse_criteria,
    parse_local_datetime,
    parse_title,
    parse_window,
    registration_counts,
    update_movement,
)
from models.movement_members import answer_criterion
from models.movements import (
    Movement,
    MovementStatus,
    RegistrationStatus,
    is_for_unit,
    register,
    register_unit,
    withdraw,
)
from models.org import EmulationBloc, OrgKind, OrgUnit, UnitBloc
from tests.factories import actor_of, make_member, make_official, make_tree, make_unit

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=HCM)  # type: ignore[misc]


NOW = local(2026, 11, 24, 9, 0)
DEADLINE = local(2026, 12, 15, 23, 59, 59)
OPENS = local(2027, 5, 20, 0, 0)
CLOSES = local(2027, 5, 31, 23, 59, 59)
GVTDVN, LDTT, CSTDCS, TTLDXS, TTLDTT = STANDARD_TITLES


async def official(session: AsyncSession, unit: OrgUnit, name: str = "Trần Văn Hùng") -> Actor:
    return await actor_of(session, await make_official(session, unit, name))


async def create(
    session: AsyncSession, actor: Actor, owner: OrgUnit, **overrides: object
) -> Movement:
    values: dict[str, object] = {
        "owner_unit": owner,
        "name": "Giỏi việc trường, đảm việc nhà 2026-2027",
        "description": "Phong trào dành cho nữ cán bộ, giáo viên, người lao động.",
        "criteria": ["Hoàn thành tốt nhiệm vụ chuyên môn", "Gia đình hạnh phúc, tiến bộ"],
        "titles": [GVTDVN, LDTT],
        "target_everyone": True,
        "registration_deadline": DEADLINE,
        "assessment_opens": OPENS,
        "assessment_closes": CLOSES,
        "now": NOW,
    }
    values.update(overrides)
    return await create_movement(session, actor, **values)  # type: ignore[arg-type]


async def movement_count(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(Movement))).one())


async def actions_on(session: AsyncSession, movement: Movement) -> list[str]:
    entries = await entries_about(session, target_type="movement", target_id=movement.id)
    return [entry.action for entry in entries]


@pytest.fixture
async def tree(session: AsyncSession) -> dict[str, OrgUnit]:
    """The sample tree, and another district with a school."""
    units = await make_tree(session)
    units["other_district"] = await make_unit(
        session, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION,
        parent=units["edu"],
    )
    units["other_school"] = await make_unit(
        session, "Trường THCS Trưng Vương", parent=units["other_district"]
    )
    return units


# --- creating --------------------------------------------------------------------------------


async def test_a_district_official_creates_a_draft_for_their_whole_district(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    custom = {"name": "Giáo viên dạy giỏi cấp trường", "collective": False}
    movement = await create(session, hung, tree["district"], titles=[GVTDVN, LDTT, custom])

    assert movement.status == MovementStatus.DRAFT
    assert movement.school_year == "2026-2027"
    assert movement.owner_unit_id == tree["district"].id
    assert movement.created_by_member_id == hung.member_id
    assert [t["code"] for t in movement.titles] == ["GVTDVN", "LDTT", "GVDGCT"]
    # "Everyone", for an official, is their owner unit's whole subtree, not literally everyone.
    targets = await movement_targets(session, movement)
    assert not targets.everyone and [u.id for u in targets.units] == [tree["district"].id]
    assert await is_for_unit(session, movement, tree["trai"])
    assert not await is_for_unit(session, movement, tree["other_school"])

    entries = await entries_about(session, target_type="movement", target_id=movement.id)
    assert [e.action for e in entries] == ["create_movement"]
    assert entries[0].actor_member_id == hung.member_id
    assert entries[0].after["target_units"] == [tree["district"].id]  # type: ignore[index]
    assert entries[0].after["status"] == "draft"  # type: ignore[index]


async def test_only_an_administrator_addresses_literally_everyone(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    admin = await actor_of(
        session, await make_official(session, tree["city"], "Quản trị", role=Role.ADMIN)
    )
    movement = await create(session, admin, tree["city"])
    assert movement.target_everyone
    assert (await movement_targets(session, movement)).units == []
    assert await is_for_unit(session, movement, tree["other_school"])


async def test_a_movement_targets_chosen_units_of_the_owner_and_nothing_outside(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(
        session, hung, tree["district"], target_everyone=False, target_unit_ids=[tree["du"].id]
    )
    assert await is_for_unit(session, movement, tree["du"])
    assert not await is_for_unit(session, movement, tree["trai"])

    with pytest.raises(NotAllowed, match="not_allowed"):
        await create(session, hung, tree["district"], target_everyone=False,
                     target_unit_ids=[tree["du"].id, tree["other_school"].id])
    with pytest.raises(InvalidInput, match="mva_no_target"):
        await create(session, hung, tree["district"], target_everyone=False)
    assert await movement_count(session) == 1


async def test_a_school_official_cannot_create_one_for_another_district(
    session: AsyncSession, tree: dict[str, OrgUnit], caplog: pytest.LogCaptureFixture
) -> None:
    chair = await official(session, tree["trai"], "Lê Thị Mai")
    with (
        caplog.at_level(logging.WARNING, logger="models.access"),
        pytest.raises(NotAllowed, match="not_allowed"),
    ):
        await create(session, chair, tree["trai"], target_everyone=False,
                     target_unit_ids=[tree["other_district"].id])
    assert "refused run_movement" in caplog.text
    with pytest.raises(NotAllowed, match="not_allowed"):
        await create(session, chair, tree["district"])  # the district's, not theirs
    assert await movement_count(session) == 0
    # Their own school's movement is theirs to run.
    mine = await create(session, chair, tree["trai"])
    assert [u.id for u in (await movement_targets(session, mine)).units] == [tree["trai"].id]


async def test_an_official_of_two_districts_keeps_each_movement_in_its_owner(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    member = await make_official(session, tree["district"])
    await appoint(session, None, member=member, role=Role.OFFICIAL, unit=tree["other_district"])
    both = await actor_of(session, member)
    with pytest.raises(NotAllowed, match="mva_target_outside"):
        await create(session, both, tree["district"], target_everyone=False,
                     target_unit_ids=[tree["other_school"].id])


async def test_what_is_typed_is_checked_before_anything_is_created(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    refusals = [
        ({"name": "GV"}, "mva_name_length"),
        ({"name": "x" * 256}, "mva_name_length"),
        ({"description": "x" * 4001}, "mva_description_too_long"),
        ({"criteria": []}, "mva_criteria_count"),
        ({"criteria": [f"Tiêu chí {n}" for n in range(21)]}, "mva_criteria_count"),
        ({"criteria": ["Được", "x" * 501]}, "mva_criterion_too_long"),
        ({"titles": []}, "mva_titles_count"),
        ({"titles": [{"name": f"Danh hiệu {n}"} for n in range(11)]}, "mva_titles_count"),
        ({"titles": [GVTDVN, {**LDTT, "code": "GVTDVN"}]}, "mva_title_codes_repeat"),
        ({"titles": [LDTT, {"name": "lao dong tien tien"}]}, "mva_title_repeated"),
        ({"titles": [{"name": "LĐ"}]}, "mva_title_name_length"),
        ({"registration_deadline": OPENS + timedelta(minutes=1)}, "mva_dates_order"),
        ({"assessment_closes": OPENS}, "mva_dates_order"),
        ({"registration_deadline": NOW - timedelta(minutes=1),
          "assessment_opens": NOW, "assessment_closes": CLOSES}, "mva_deadline_past"),
    ]
    for overrides, code in refusals:
        with pytest.raises(InvalidInput) as caught:
            await create(session, hung, tree["district"], **overrides)
        assert caught.value.code == code, overrides
    # The deadline may be the very moment the self-assessment opens.
    await create(session, hung, tree["district"], registration_deadline=OPENS)
    assert await movement_count(session) == 1


def test_dates_are_typed_in_local_time() -> None:
    assert parse_local_datetime("15/12/2026", HCM, end_of_day=True) == DEADLINE
    assert parse_local_datetime(" 15/12/2026 17:00 ", HCM, end_of_day=True) == local(
        2026, 12, 15, 17, 0
    )
    assert parse_local_datetime("1-6-2027", HCM, end_of_day=False) == local(2027, 6, 1, 0, 0)
    # Stored in UTC: the end of 15 December in Hanoi is 16:59:59 UTC that day.
    assert DEADLINE.astimezone(UTC).hour == 16
    for typed in ("31/02/2027", "15/12/26", "hôm nay", "15/13/2026", "15/12/2026 25:00", ""):
        with pytest.raises(InvalidInput, match="mva_date_invalid"):
            parse_local_datetime(typed, HCM, end_of_day=True)

    assert parse_window("20/05/2027 - 31/05/2027", HCM) == (OPENS, CLOSES)
    assert parse_window("từ 20/05/2027 đến 31/05/2027", HCM) == (OPENS, CLOSES)
    assert parse_window("20-05-2027–31-05-2027", HCM) == (OPENS, CLOSES)
    with pytest.raises(InvalidInput, match="mva_window_invalid"):
        parse_window("20/05/2027", HCM)
    with pytest.raises(InvalidInput, match="mva_dates_order"):
        parse_window("31/05/2027 - 20/05/2027", HCM)
    with pytest.raises(InvalidInput, match="mva_date_invalid"):
        parse_window("30/02/2027 - 31/05/2027", HCM)


def test_criteria_come_one_per_line_and_titles_get_codes() -> None:
    typed = "1. Hoàn thành tốt nhiệm vụ\n\n- Gia đình  hạnh phúc\n• Tham gia hoạt động xã hội\n"
    assert parse_criteria(typed) == [
        "Hoàn thành tốt nhiệm vụ", "Gia đình hạnh phúc", "Tham gia hoạt động xã hội",
    ]
    assert parse_title("Giáo viên dạy giỏi") == {"name": "Giáo viên dạy giỏi", "collective": False}
    assert parse_title("Tập thể lao động sáng tạo (tập thể)") == {
        "name": "Tập thể lao động sáng tạo", "collective": True,
    }
    assert parse_title("Creative team (collective)")["collective"]
    with pytest.raises(InvalidInput, match="mva_title_name_length"):
        parse_title("  ")
    # A custom title whose initials are those of a chosen standard one gets another code.
    titles = clean_titles([LDTT, {"name": "Lao động tích tực"}, {"name": "Lao động tận tâm"}])
    assert [t["code"] for t in titles] == ["LDTT", "LDTT2", "LDTT3"]


# --- the movement's path ------------------------------------------------------------------------


async def test_a_movement_goes_from_draft_to_archive_and_never_back(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(session, hung, tree["district"])
    with pytest.raises(NotAllowed, match="mva_state"):
        await close_movement(session, hung, movement=movement)
    with pytest.raises(NotAllowed, match="mva_state"):
        await archive_movement(session, hung, movement=movement)
    await open_movement(session, hung, movement=movement, now=NOW)
    assert movement.status == MovementStatus.OPEN
    with pytest.raises(NotAllowed, match="mva_state"):
        await open_movement(session, hung, movement=movement, now=NOW)
    with pytest.raises(NotAllowed, match="mva_state"):
        await archive_movement(session, hung, movement=movement)
    await close_movement(session, hung, movement=movement)
    with pytest.raises(NotAllowed, match="mva_state"):
        await open_movement(session, hung, movement=movement, now=NOW)
    await archive_movement(session, hung, movement=movement)
    assert movement.status == MovementStatus.ARCHIVED
    assert await actions_on(session, movement) == [
        "create_movement", "open_movement", "close_movement", "archive_movement",
    ]


async def test_a_draft_whose_deadline_passed_does_not_open(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(session, hung, tree["district"])
    with pytest.raises(InvalidInput, match="mva_deadline_past"):
        await open_movement(session, hung, movement=movement, now=DEADLINE + timedelta(seconds=1))
    assert movement.status == MovementStatus.DRAFT


async def test_only_officials_of_the_owner_unit_or_above_run_a_movement(
    session: AsyncSession, tree: dict[str, OrgUnit], caplog: pytest.LogCaptureFixture
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(session, hung, tree["district"])
    city = await official(session, tree["edu"], "Nguyễn Văn Thành")
    await open_movement(session, city, movement=movement, now=NOW)  # from above: allowed
    outsider = await official(session, tree["other_district"], "Đỗ Văn Long")
    chair = await official(session, tree["trai"], "Lê Thị Mai")
    for actor in (outsider, chair):
        with caplog.at_level(logging.WARNING, logger="models.access"):
            with pytest.raises(NotAllowed, match="not_allowed"):
                await movement_to_run(session, actor, movement_id=movement.id)  # type: ignore[arg-type]
            with pytest.raises(NotAllowed, match="not_allowed"):
                await close_movement(session, actor, movement=movement)
            with pytest.raises(NotAllowed, match="not_allowed"):
                await update_movement(session, actor, movement=movement, now=NOW, name="Đổi tên")
    assert "refused run_movement" in caplog.text
    assert movement.status == MovementStatus.OPEN and movement.name.startswith("Giỏi")
    assert await actions_on(session, movement) == ["create_movement", "open_movement"]


# --- editing -----------------------------------------------------------------------------------


async def test_while_open_the_deadlines_move_and_registrations_keep_their_titles(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(session, hung, tree["district"])
    await open_movement(session, hung, movement=movement, now=NOW)
    lan = await make_member(session, tree["trai"])
    await register(session, member=lan, movement=movement, title_code="LDTT", now=NOW)

    later = local(2026, 12, 31, 17, 0)
    await update_movement(session, hung, movement=movement, now=NOW, registration_deadline=later,
                          assessment_closes=local(2027, 6, 15, 23, 59))
    assert movement.registration_deadline == later
    assert movement.assessment_closes == local(2027, 6, 15, 23, 59)
    entries = await entries_about(session, target_type="movement", target_id=movement.id)
    assert entries[-1].action == "update_movement"
    assert entries[-1].before["registration_deadline"] == DEADLINE.isoformat()  # type: ignore[index]
    assert entries[-1].after["registration_deadline"] == later.isoformat()  # type: ignore[index]

    refusals = [
        # September 2027 is the next school year: an open movement keeps its own.
        (InvalidInput, "mva_school_year_fixed",
         {"registration_deadline": local(2027, 9, 5), "assessment_opens": local(2027, 9, 6),
          "assessment_closes": local(2027, 9, 30)}),
        (InvalidInput, "mva_deadline_past", {"registration_deadline": NOW - timedelta(hours=1)}),
        (InvalidInput, "mva_dates_order", {"assessment_opens": local(2026, 12, 1)}),
        (NotAllowed, "mva_title_in_use", {"titles": [GVTDVN, CSTDCS]}),
    ]
    for error, code, changes in refusals:
        with pytest.raises(error) as caught:
            await update_movement(session, hung, movement=movement, now=NOW, **changes)  # type: ignore[arg-type]
        assert caught.value.code == code
    assert movement.registration_deadline == later and movement.titles[1]["code"] == "LDTT"

    # A title nobody chose may go, and one may be added.
    await update_movement(session, hung, movement=movement, now=NOW,
                          titles=[LDTT, {"name": "Giáo viên dạy giỏi", "collective": False}])
    assert [t["code"] for t in movement.titles] == ["LDTT", "GVDG"]
    # Once withdrawn, nobody holds the title any more.
    await withdraw(session, member=lan, movement=movement, now=NOW)
    await update_movement(session, hung, movement=movement, now=NOW, titles=[GVTDVN])

    await close_movement(session, hung, movement=movement)
    with pytest.raises(NotAllowed, match="mva_not_editable"):
        await update_movement(session, hung, movement=movement, now=NOW, name="Tên mới")


async def test_while_open_the_criteria_change_until_a_self_assessment_is_begun(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(session, hung, tree["district"], assessment_opens=DEADLINE)
    await open_movement(session, hung, movement=movement, now=NOW)
    lan = await make_member(session, tree["trai"])
    await register(session, member=lan, movement=movement, title_code="LDTT", now=NOW)
    # Registered, nothing written yet: the criteria may still change.
    await update_movement(session, hung, movement=movement, now=NOW, criteria=["Một", "Hai"])
    assert movement.criteria == ["Một", "Hai"]

    await answer_criterion(session, lan, movement.id, "Đã làm", now=DEADLINE)  # type: ignore[arg-type]
    with pytest.raises(NotAllowed, match="mva_criteria_in_use"):
        await update_movement(session, hung, movement=movement, now=NOW, criteria=["Ba"])


async def test_a_draft_changes_its_fields_targets_and_school_year(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(session, hung, tree["district"])
    await update_movement(
        session, hung, movement=movement, now=NOW, name="  Dạy tốt –  học tốt ",
        criteria=["Một"], requires_approval=True, target_unit_ids=[tree["trai"].id],
        registration_deadline=local(2027, 9, 30), assessment_opens=local(2027, 10, 1),
        assessment_closes=local(2027, 10, 31),
    )
    assert movement.name == "Dạy tốt – học tốt" and movement.criteria == ["Một"]
    assert movement.requires_approval and movement.school_year == "2027-2028"
    targets = await movement_targets(session, movement)
    assert [u.id for u in targets.units] == [tree["trai"].id] and not targets.everyone
    assert await actions_on(session, movement) == ["create_movement", "update_movement"]
    # Nothing changed, nothing logged.
    await update_movement(session, hung, movement=movement, now=NOW, name="Dạy tốt – học tốt")
    assert await actions_on(session, movement) == ["create_movement", "update_movement"]


# --- copies -------------------------------------------------------------------------------------


async def test_a_previous_year_is_copied_with_new_dates(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    last_year = await create(
        session, hung, tree["district"], name="Giỏi việc trường, đảm việc nhà",
        titles=[GVTDVN, TTLDXS], target_everyone=False,
        target_unit_ids=[tree["trai"].id, tree["du"].id], requires_approval=True,
        registration_deadline=local(2025, 12, 15), assessment_opens=local(2026, 5, 20),
        assessment_closes=local(2026, 5, 31), now=local(2025, 11, 1),
    )
    await open_movement(session, hung, movement=last_year, now=local(2025, 11, 1))
    await close_movement(session, hung, movement=last_year)
    assert last_year.school_year == "2025-2026"

    copy = await copy_movement(
        session, hung, template=last_year, registration_deadline=DEADLINE,
        assessment_opens=OPENS, assessment_closes=CLOSES, now=NOW,
    )
    assert copy.id != last_year.id and copy.copied_from_id == last_year.id
    assert copy.status == MovementStatus.DRAFT and copy.school_year == "2026-2027"
    assert (copy.name, copy.description, copy.criteria, copy.titles) == (
        last_year.name, last_year.description, last_year.criteria, last_year.titles,
    )
    assert copy.requires_approval
    assert [u.id for u in (await movement_targets(session, copy)).units] == [
        tree["trai"].id, tree["du"].id,
    ]
    assert copy.registration_deadline == DEADLINE
    assert await actions_on(session, copy) == ["copy_movement"]

    outsider = await official(session, tree["other_district"], "Đỗ Văn Long")
    with pytest.raises(NotAllowed, match="not_allowed"):
        await copy_movement(
            session, outsider, template=last_year, registration_deadline=DEADLINE,
            assessment_opens=OPENS, assessment_closes=CLOSES, now=NOW,
        )
    with pytest.raises(InvalidInput, match="mva_dates_order"):
        await copy_movement(
            session, hung, template=last_year, registration_deadline=DEADLINE,
            assessment_opens=CLOSES, assessment_closes=OPENS, now=NOW,
        )


async def test_a_whole_district_movement_is_copied_for_the_whole_district(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    template = await create(session, hung, tree["district"])
    copy = await copy_movement(
        session, hung, template=template, registration_deadline=local(2027, 12, 15),
        assessment_opens=local(2028, 5, 20), assessment_closes=local(2028, 5, 31), now=NOW,
    )
    assert copy.school_year == "2027-2028"
    assert [u.id for u in (await movement_targets(session, copy)).units] == [tree["district"].id]


# --- lists and numbers -------------------------------------------------------------------------


async def test_an_official_lists_the_movements_of_their_scope_newest_first(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    chair = await official(session, tree["trai"], "Lê Thị Mai")
    outsider = await official(session, tree["other_district"], "Đỗ Văn Long")
    thanh = await official(session, tree["edu"], "Nguyễn Văn Thành")
    district = await create(session, hung, tree["district"], name="Quận Ba Đình")
    school = await create(session, chair, tree["trai"], name="Trường Nguyễn Trãi")
    other = await create(session, outsider, tree["other_district"], name="Quận Hoàn Kiếm")
    for n, movement in enumerate((district, school, other)):
        movement.created_at = NOW + timedelta(minutes=n)
    await close_movement(session, hung, movement=await open_movement(
        session, hung, movement=district, now=NOW))
    await session.flush()

    listed, total = await movements_run_by(session, hung)
    assert [m.id for m in listed] == [school.id, district.id] and total == 2
    assert listed[1].status == MovementStatus.CLOSED
    assert [m.id for m in (await movements_run_by(session, chair))[0]] == [school.id]
    assert [m.id for m in (await movements_run_by(session, outsider))[0]] == [other.id]
    page, total = await movements_run_by(session, thanh, offset=1, limit=1)
    assert [m.id for m in page] == [school.id] and total == 3
    teacher = await actor_of(session, await make_member(session, tree["trai"]))
    assert await movements_run_by(session, teacher) == ([], 0)


async def test_the_registrations_are_counted_by_the_database(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    movement = await create(session, hung, tree["district"], titles=[GVTDVN, LDTT, TTLDXS])
    await open_movement(session, hung, movement=movement, now=NOW)
    for n in range(3):
        member = await make_member(session, tree["trai"], f"Giáo viên {n}")
        registration = await register(session, member=member, movement=movement,
                                      title_code="LDTT", now=NOW)
    # The last one handed in a self-assessment.
    registration.status, registration.submitted_at = RegistrationStatus.SUBMITTED, NOW
    registration.assessment = ["Đạt", "Đạt"]
    gone = await make_member(session, tree["du"], "Phạm Văn Đi")
    await register(session, member=gone, movement=movement, title_code="LDTT", now=NOW)
    await withdraw(session, member=gone, movement=movement, now=NOW)
    chair = await official(session, tree["du"], "Lê Thị Mai")
    registration = await register_unit(session, chair, unit=tree["du"], movement=movement,
                                       title_code="TTLDXS", now=NOW)
    registration.status = RegistrationStatus.ACHIEVED  # decided without a self-assessment
    await session.flush()

    counts = await registration_counts(session, movement)
    assert (counts.members, counts.units, counts.withdrawn) == (3, 1, 1)
    assert (counts.awaiting, counts.submitted, counts.achieved) == (0, 1, 1)


async def test_blocs_are_targeted_only_when_they_stay_inside(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    inside = EmulationBloc(code="CUM-BD", name="Cụm trường Ba Đình")
    across = EmulationBloc(code="KHOI-THCS", name="Khối THCS")
    session.add_all([inside, across])
    await session.flush()
    session.add_all([
        UnitBloc(unit_id=tree["trai"].id, bloc_id=inside.id),
        UnitBloc(unit_id=tree["trai"].id, bloc_id=across.id),
        UnitBloc(unit_id=tree["other_school"].id, bloc_id=across.id),
    ])
    await session.flush()
    hung = await official(session, tree["district"])
    assert [b.id for b in await blocs_for(session, hung, owner=tree["district"])] == [inside.id]
    movement = await create(session, hung, tree["district"], target_everyone=False,
                            target_bloc_ids=[inside.id])
    assert await is_for_unit(session, movement, tree["trai"])
    assert not await is_for_unit(session, movement, tree["du"])
    with pytest.raises(NotAllowed, match="mva_bloc_outside"):
        await create(session, hung, tree["district"], target_everyone=False,
                     target_bloc_ids=[across.id])
    thanh = await official(session, tree["edu"], "Nguyễn Văn Thành")
    assert len(await blocs_for(session, thanh, owner=tree["edu"])) == 2
    city_wide = await create(session, thanh, tree["edu"], target_everyone=False,
                             target_bloc_ids=[across.id])
    assert await is_for_unit(session, city_wide, tree["other_school"])


async def test_a_grassroots_official_finds_their_union_among_the_targets(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung_member = await make_official(session, tree["district"])
    await appoint(session, None, member=hung_member, role=Role.OFFICIAL, unit=tree["trai"])
    hung = await actor_of(session, hung_member)
    movement = await create(session, hung, tree["district"])
    assert [u.id for u in await grassroots_targeted(session, hung, movement=movement)] == [
        tree["trai"].id
    ]
    only_du = await create(session, hung, tree["district"], target_everyone=False,
                           target_unit_ids=[tree["du"].id])
    assert await grassroots_targeted(session, hung, movement=only_du) == []


async def test_every_refused_change_leaves_no_audit_entry(
    session: AsyncSession, tree: dict[str, OrgUnit]
) -> None:
    hung = await official(session, tree["district"])
    with pytest.raises(InvalidInput):
        await create(session, hung, tree["district"], name="GV")
    count = (await session.exec(select(func.count()).select_from(AuditEntry))).one()
    assert count == 0
