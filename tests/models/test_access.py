"""Who may do what, where: every role against every action, inside and outside its scope."""

from __future__ import annotations

import logging

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import (
    Action,
    Role,
    appoint,
    authorize,
    may,
    officials_of_unit,
    officials_to_notify,
    revoke,
    roles_of,
)
from models.errors import NotAllowed
from models.members import Identity, MemberStatus
from models.org import OrgUnit
from tests.factories import actor_of, make_member, make_official, make_tree, make_unit

ADMIN_TG = 777001


@pytest.fixture
async def world(session: AsyncSession) -> dict:
    """The sample tree plus a second district with a school, an official at each level, a
    reviewer, an administrator (from the configuration) and a plain member."""
    tree = await make_tree(session)
    other = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm", parent=tree["edu"],
                            kind=tree["district"].kind)
    tree["other_district"] = other
    tree["other_school"] = await make_unit(session, "Trường THCS Trưng Vương", parent=other)
    people = {
        "edu_official": await make_official(session, tree["edu"], "Cán bộ Thành phố"),
        "district_official": await make_official(session, tree["district"], "Cán bộ Quận"),
        "school_official": await make_official(session, tree["trai"], "Chủ tịch CĐ Trãi"),
        "reviewer": await make_official(session, tree["district"], "Giám khảo",
                                        role=Role.REVIEWER),
        "admin": await make_member(session, tree["edu"], "Quản trị", telegram_id=ADMIN_TG),
        "member": await make_member(session, tree["trai"], "Nguyễn Thị Lan"),
    }
    subjects = {
        "trai_teacher": await make_member(session, tree["trai"], "Giáo viên Trãi"),
        "du_teacher": await make_member(session, tree["du"], "Giáo viên Du"),
        "other_teacher": await make_member(session, tree["other_school"], "Giáo viên TV"),
    }
    actors = {
        name: await actor_of(session, person, admin_telegram_ids=[ADMIN_TG])
        for name, person in people.items()
    }
    return {"units": tree, "actors": actors, "subjects": subjects}


# (actor, action, target unit) → allowed. Targets: edu (city level), district, trai (a school
# of the district), du (its sibling), other_school (another district's school).
UNIT_MATRIX = {
    "admin": {
        Action.VIEW_UNIT: {"edu", "district", "trai", "du", "other_school"},
        Action.ADD_UNIT: {"edu", "district", "trai", "du", "other_school"},
        Action.EDIT_UNIT: {"edu", "district", "trai", "du", "other_school"},
        Action.APPOINT_OFFICIAL: {"edu", "district", "trai", "du", "other_school"},
        Action.IMPORT_MEMBERS: {"edu", "district", "trai", "du", "other_school"},
        Action.ANNOUNCE: {"edu", "district", "trai", "du", "other_school"},
    },
    "edu_official": {
        Action.VIEW_UNIT: {"edu", "district", "trai", "du", "other_school"},
        Action.ADD_UNIT: {"edu", "district", "trai", "du", "other_school"},
        Action.EDIT_UNIT: {"district", "trai", "du", "other_school"},
        Action.APPOINT_OFFICIAL: {"district", "trai", "du", "other_school"},
        Action.IMPORT_MEMBERS: {"edu", "district", "trai", "du", "other_school"},
        Action.ANNOUNCE: {"edu", "district", "trai", "du", "other_school"},
    },
    "district_official": {
        Action.VIEW_UNIT: {"district", "trai", "du"},
        Action.ADD_UNIT: {"district", "trai", "du"},
        Action.EDIT_UNIT: {"trai", "du"},
        Action.APPOINT_OFFICIAL: {"trai", "du"},
        Action.IMPORT_MEMBERS: {"district", "trai", "du"},
        Action.ANNOUNCE: {"district", "trai", "du"},
    },
    "school_official": {
        Action.VIEW_UNIT: {"trai"},
        Action.ADD_UNIT: {"trai"},
        Action.EDIT_UNIT: set(),
        Action.APPOINT_OFFICIAL: set(),
        Action.IMPORT_MEMBERS: {"trai"},
        Action.ANNOUNCE: {"trai"},
    },
    "reviewer": {action: set() for action in (
        Action.VIEW_UNIT, Action.ADD_UNIT, Action.EDIT_UNIT, Action.APPOINT_OFFICIAL,
        Action.IMPORT_MEMBERS, Action.ANNOUNCE,
    )},
    "member": {action: set() for action in (
        Action.VIEW_UNIT, Action.ADD_UNIT, Action.EDIT_UNIT, Action.APPOINT_OFFICIAL,
        Action.IMPORT_MEMBERS, Action.ANNOUNCE,
    )},
}
TARGETS = ("edu", "district", "trai", "du", "other_school")


@pytest.mark.parametrize("who", list(UNIT_MATRIX))
async def test_each_role_acts_on_units_only_within_its_scope_and_level(
    world: dict, who: str
) -> None:
    actor = world["actors"][who]
    for action, allowed in UNIT_MATRIX[who].items():
        for target in TARGETS:
            unit: OrgUnit = world["units"][target]
            assert may(actor, action, unit=unit) is (target in allowed), (who, action, target)


# (actor) → the members they may see and approve.
MEMBER_MATRIX = {
    "admin": {"trai_teacher", "du_teacher", "other_teacher"},
    "edu_official": {"trai_teacher", "du_teacher", "other_teacher"},
    "district_official": {"trai_teacher", "du_teacher"},
    "school_official": {"trai_teacher"},
    "reviewer": set(),
    "member": set(),
}


@pytest.mark.parametrize("who", list(MEMBER_MATRIX))
@pytest.mark.parametrize("action", [Action.VIEW_MEMBER, Action.APPROVE_MEMBER])
async def test_each_role_sees_and_approves_only_members_of_its_subtree(
    session: AsyncSession, world: dict, who: str, action: Action
) -> None:
    actor = world["actors"][who]
    for name, member in world["subjects"].items():
        expected = name in MEMBER_MATRIX[who]
        if expected:
            await authorize(session, actor, action, member=member)
        else:
            with pytest.raises(NotAllowed):
                await authorize(session, actor, action, member=member)


async def test_a_refusal_is_logged_with_ids_and_no_personal_data(
    session: AsyncSession, world: dict, caplog: pytest.LogCaptureFixture
) -> None:
    actor = world["actors"]["school_official"]
    target = world["subjects"]["du_teacher"]
    with caplog.at_level(logging.WARNING, logger="models.access"), pytest.raises(NotAllowed):
        await authorize(session, actor, Action.APPROVE_MEMBER, member=target)
    logged = caplog.text
    assert "refused approve_member" in logged and f"member {target.id}" in logged
    assert target.full_name not in logged and "Giáo viên" not in logged


async def test_only_administrators_create_blocs_and_appoint_administrators(
    world: dict,
) -> None:
    for who, actor in world["actors"].items():
        for action in (Action.MANAGE_BLOCS, Action.APPOINT_ADMIN):
            assert may(actor, action) is (who == "admin"), (who, action)


async def test_an_official_appoints_below_their_level_never_at_or_above(
    session: AsyncSession, world: dict
) -> None:
    district = world["actors"]["district_official"]
    teacher = world["subjects"]["trai_teacher"]
    units = world["units"]
    await appoint(session, district, member=teacher, role=Role.OFFICIAL, unit=units["trai"])
    assert [r.unit_id for r in await roles_of(session, teacher.id)] == [units["trai"].id]
    for unit in (units["district"], units["edu"], units["other_school"]):
        with pytest.raises(NotAllowed):
            await appoint(session, district, member=teacher, role=Role.OFFICIAL, unit=unit)
    with pytest.raises(NotAllowed):
        await appoint(session, district, member=teacher, role=Role.ADMIN)


async def test_the_new_official_acts_in_their_school_from_then_on(
    session: AsyncSession, world: dict
) -> None:
    teacher = world["subjects"]["trai_teacher"]
    before = await actor_of(session, teacher)
    assert not before.is_official
    await appoint(session, world["actors"]["district_official"], member=teacher,
                  role=Role.OFFICIAL, unit=world["units"]["trai"])
    after = await actor_of(session, teacher)
    assert after.is_official
    assert may(after, Action.INVITE, unit=world["units"]["trai"])
    assert not may(after, Action.INVITE, unit=world["units"]["du"])


async def test_reviewers_are_appointed_within_scope_including_ones_own_unit(
    session: AsyncSession, world: dict
) -> None:
    school = world["actors"]["school_official"]
    teacher = world["subjects"]["trai_teacher"]
    await appoint(session, school, member=teacher, role=Role.REVIEWER, unit=world["units"]["trai"])
    actor = await actor_of(session, teacher)
    assert [s.unit_id for s in actor.reviewer_of] == [world["units"]["trai"].id]
    assert not actor.is_official
    with pytest.raises(NotAllowed):
        await appoint(session, school, member=world["subjects"]["du_teacher"],
                      role=Role.REVIEWER, unit=world["units"]["du"])


async def test_a_role_is_given_once_and_only_to_an_active_member(
    session: AsyncSession, world: dict
) -> None:
    admin = world["actors"]["admin"]
    teacher = world["subjects"]["trai_teacher"]
    await appoint(session, admin, member=teacher, role=Role.ADMIN)
    with pytest.raises(NotAllowed, match="already_has_role"):
        await appoint(session, admin, member=teacher, role=Role.ADMIN)
    pending = await make_member(session, world["units"]["trai"], "Người chờ duyệt",
                                status=MemberStatus.PENDING)
    with pytest.raises(NotAllowed, match="appointee_not_active"):
        await appoint(session, admin, member=pending, role=Role.OFFICIAL,
                      unit=world["units"]["trai"])


async def test_an_appointed_administrator_is_one_without_the_configuration(
    session: AsyncSession, world: dict
) -> None:
    teacher = world["subjects"]["other_teacher"]
    await appoint(session, world["actors"]["admin"], member=teacher, role=Role.ADMIN)
    actor = await actor_of(session, teacher, admin_telegram_ids=[])
    assert actor.is_admin and may(actor, Action.EDIT_UNIT, unit=world["units"]["edu"])


async def test_a_configured_administrator_is_one_from_a_linked_zalo_account_too(
    session: AsyncSession, world: dict
) -> None:
    admin_member = world["actors"]["admin"].member
    zalo = Identity(channel="zalo", external_id="424242", member_id=admin_member.id)
    session.add(zalo)
    await session.flush()
    from models.access import actor_for

    actor = await actor_for(session, zalo, admin_telegram_ids=[ADMIN_TG])
    assert actor.is_admin


async def test_roles_of_a_member_no_longer_active_count_for_nothing(
    session: AsyncSession, world: dict
) -> None:
    official = world["actors"]["school_official"].member
    official.status = MemberStatus.REJECTED
    session.add(official)
    await session.flush()
    actor = await actor_of(session, official)
    assert not actor.is_official
    assert not may(actor, Action.VIEW_UNIT, unit=world["units"]["trai"])


async def test_an_official_cannot_unseat_a_peer_but_the_level_above_can(
    session: AsyncSession, world: dict
) -> None:
    peer = world["actors"]["school_official"].member
    [assignment] = await roles_of(session, peer.id)
    du_official = await make_official(session, world["units"]["du"], "Chủ tịch CĐ Du")
    with pytest.raises(NotAllowed):
        await revoke(session, await actor_of(session, du_official), assignment=assignment)
    await revoke(session, world["actors"]["district_official"], assignment=assignment)
    assert await roles_of(session, peer.id) == []


async def test_new_members_are_announced_to_the_nearest_officials_else_the_admins(
    session: AsyncSession, world: dict
) -> None:
    units = world["units"]
    school_official = world["actors"]["school_official"].member
    assert [m.id for m in await officials_of_unit(session, units["trai"])] == [school_official.id]
    district_official = world["actors"]["district_official"].member
    assert [m.id for m in await officials_of_unit(session, units["du"])] == [
        district_official.id
    ]
    lonely = await make_unit(session, "Liên đoàn khác", kind=units["city"].kind)
    school = await make_unit(session, "Trường lẻ", parent=lonely)
    identities = await officials_to_notify(session, unit=school, admin_telegram_ids=[ADMIN_TG])
    assert [i.external_id for i in identities] == [str(ADMIN_TG)]
