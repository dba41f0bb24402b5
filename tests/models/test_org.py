"""The organisation tree as officials manage it: add, rename, move, deactivate, blocs; each
operation refused outside the official's scope and written to the audit log."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Actor, Role
from models.audit import AuditEntry, entries_about
from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Member, MemberStatus, create_invite, resolve_invite
from models.org import OrgKind, OrgUnit, in_subtree
from models.units import (
    add_unit,
    blocs_of,
    browse,
    check_deactivation,
    create_bloc,
    deactivate_unit,
    list_blocs,
    move_unit,
    rename_unit,
    roots_for,
    tag_unit,
    unit_card,
    units_in_bloc,
    untag_unit,
)
from tests.factories import actor_of, make_member, make_official, make_tree, make_unit

ADMIN_TG = 777001


@pytest.fixture
async def world(session: AsyncSession) -> dict:
    """The sample tree plus a second district with a school; officials of the city's education
    union, of the district and of a school; an administrator; a plain member."""
    tree = await make_tree(session)
    tree["other_district"] = await make_unit(
        session, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION,
        parent=tree["edu"],
    )
    tree["other_school"] = await make_unit(
        session, "Trường THCS Trưng Vương", parent=tree["other_district"]
    )
    people = {
        "edu": await make_official(session, tree["edu"], "Cán bộ Thành phố"),
        "district": await make_official(session, tree["district"], "Cán bộ Quận"),
        "school": await make_official(session, tree["trai"], "Chủ tịch CĐ Trãi"),
        "admin": await make_member(session, tree["edu"], "Quản trị", telegram_id=ADMIN_TG),
        "member": await make_member(session, tree["trai"], "Nguyễn Thị Lan"),
    }
    actors = {
        name: await actor_of(session, person, admin_telegram_ids=[ADMIN_TG])
        for name, person in people.items()
    }
    return {"units": tree, "actors": actors}


async def _unit_count(session: AsyncSession) -> int:
    return len((await session.exec(select(OrgUnit.id))).all())


async def _audit_count(session: AsyncSession) -> int:
    return len((await session.exec(select(AuditEntry.id))).all())


# --- adding ------------------------------------------------------------------------------------


async def test_a_district_official_adds_a_school_with_a_code_a_path_and_an_audit_entry(
    session: AsyncSession, world: dict
) -> None:
    district = world["units"]["district"]
    actor: Actor = world["actors"]["district"]
    school = await add_unit(
        session, actor=actor, parent=district, name="  Trường THCS   Giảng Võ ",
        kind=OrgKind.GRASSROOTS,
    )
    assert school.name == "Trường THCS Giảng Võ" and school.name_folded == "truong thcs giang vo"
    assert school.path == f"{district.path}{school.id}/" and school.parent_id == district.id
    assert school.code.startswith("DV") and len(school.code) <= 32
    other = await add_unit(session, actor=actor, parent=district, name="Trường Mầm non Hoa Sen",
                           kind="grassroots")
    assert other.code != school.code

    [entry] = await entries_about(session, target_type="unit", target_id=school.id)
    assert entry.action == "add_unit" and entry.actor_member_id == actor.member_id
    assert entry.before is None
    assert entry.after == {"code": school.code, "name": "Trường THCS Giảng Võ",
                           "kind": "grassroots", "parent_id": district.id, "is_active": True}


async def test_nothing_is_added_below_a_grassroots_union_or_outside_the_scope(
    session: AsyncSession, world: dict, caplog: pytest.LogCaptureFixture
) -> None:
    units, actors = world["units"], world["actors"]
    before = (await _unit_count(session), await _audit_count(session))
    with pytest.raises(InvalidInput) as below_school:
        await add_unit(session, actor=actors["district"], parent=units["trai"], name="Tổ Toán",
                       kind=OrgKind.GRASSROOTS)
    assert below_school.value.code == "unit_grassroots_no_children"
    caplog.set_level(logging.WARNING, logger="models.access")
    with pytest.raises(NotAllowed) as elsewhere:
        await add_unit(session, actor=actors["district"], parent=units["other_district"],
                       name="Trường THCS Hoàn Kiếm", kind=OrgKind.GRASSROOTS)
    assert elsewhere.value.code == "not_allowed"
    assert f"on unit {units['other_district'].id}" in caplog.text
    with pytest.raises(NotAllowed):
        await add_unit(session, actor=actors["member"], parent=units["trai"], name="Tổ Văn",
                       kind=OrgKind.GRASSROOTS)
    assert (await _unit_count(session), await _audit_count(session)) == before


async def test_only_administrators_and_the_cli_add_a_root(
    session: AsyncSession, world: dict
) -> None:
    with pytest.raises(NotAllowed):
        await add_unit(session, actor=world["actors"]["edu"], parent=None,
                       name="Liên đoàn Lao động tỉnh Bắc Ninh", kind=OrgKind.FEDERATION)
    by_admin = await add_unit(session, actor=world["actors"]["admin"], parent=None,
                              name="Liên đoàn Lao động tỉnh Bắc Ninh", kind=OrgKind.FEDERATION)
    by_cli = await add_unit(session, actor=None, parent=None, name="LĐLĐ tỉnh Hà Nam",
                            kind=OrgKind.FEDERATION, code="HNAM")
    assert by_admin.path == f"/{by_admin.id}/" and by_cli.code == "HNAM"
    [entry] = await entries_about(session, target_type="unit", target_id=by_cli.id)
    assert entry.actor_member_id is None and entry.actor_identity_id is None


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "org_name_too_short"),
        ("  A  ", "org_name_too_short"),
        ("x" * 256, "org_name_too_long"),
    ],
)
async def test_a_name_must_have_two_to_255_characters(
    session: AsyncSession, world: dict, name: str, code: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await add_unit(session, actor=world["actors"]["district"],
                       parent=world["units"]["district"], name=name, kind=OrgKind.GRASSROOTS)
    assert refused.value.code == code


async def test_a_code_given_must_be_free_and_well_formed(
    session: AsyncSession, world: dict
) -> None:
    trai = world["units"]["trai"]
    for code, error in ((trai.code, "unit_code_taken"), ("mã có dấu", "org_code_invalid")):
        with pytest.raises(InvalidInput) as refused:
            await add_unit(session, actor=None, parent=world["units"]["district"],
                           name="Trường mới", kind=OrgKind.GRASSROOTS, code=code)
        assert refused.value.code == error
    with pytest.raises(InvalidInput) as bad_kind:
        await add_unit(session, actor=None, parent=world["units"]["district"], name="Trường mới",
                       kind="school")
    assert bad_kind.value.code == "unit_kind_invalid"


# --- renaming ----------------------------------------------------------------------------------


async def test_renaming_is_for_the_levels_above_and_is_audited(
    session: AsyncSession, world: dict
) -> None:
    units, actors = world["units"], world["actors"]
    trai = units["trai"]
    with pytest.raises(NotAllowed):  # its own chair manages it from inside, not its name
        await rename_unit(session, actor=actors["school"], unit=trai, name="Trường THCS Trãi")
    with pytest.raises(NotAllowed):
        await rename_unit(session, actor=actors["district"], unit=units["other_school"],
                          name="Trường THCS Trưng Vương mới")
    assert (await _audit_count(session)) == 0

    await rename_unit(session, actor=actors["district"], unit=trai,
                      name="Trường THCS Nguyễn Trãi – Ba Đình")
    assert trai.name_folded == "truong thcs nguyen trai – ba dinh"
    await rename_unit(session, actor=actors["district"], unit=trai,
                      name=" Trường THCS Nguyễn Trãi – Ba Đình ")  # the same: nothing logged
    [entry] = await entries_about(session, target_type="unit", target_id=trai.id)
    assert entry.action == "rename_unit"
    assert entry.before["name"] == "Trường THCS Nguyễn Trãi"
    assert entry.after["name"] == "Trường THCS Nguyễn Trãi – Ba Đình"


# --- moving ------------------------------------------------------------------------------------


async def test_moving_a_unit_rewrites_the_path_of_its_whole_subtree(
    session: AsyncSession, world: dict
) -> None:
    units, edu_official = world["units"], world["actors"]["edu"]
    cluster = await make_unit(session, "Liên trường Ba Đình Bắc", kind=OrgKind.INDUSTRY_UNION,
                              parent=units["district"])
    inner = await make_unit(session, "Nhóm trường Ngọc Hà", kind=OrgKind.INDUSTRY_UNION,
                            parent=cluster)
    school = await make_unit(session, "Trường Tiểu học Ngọc Hà", parent=inner)
    target = units["other_district"]

    await move_unit(session, actor=edu_official, unit=cluster, new_parent=target)

    assert cluster.parent_id == target.id and cluster.path == f"{target.path}{cluster.id}/"
    assert inner.path == f"{cluster.path}{inner.id}/"
    assert school.path == f"{inner.path}{school.id}/"
    fresh = (
        await session.exec(
            select(OrgUnit.id, OrgUnit.path).where(in_subtree(target.path))
            .order_by(col(OrgUnit.id))
        )
    ).all()
    assert dict(fresh) == {
        target.id: target.path, units["other_school"].id: units["other_school"].path,
        cluster.id: f"{target.path}{cluster.id}/", inner.id: f"{cluster.path}{inner.id}/",
        school.id: f"{inner.path}{school.id}/",
    }
    left = (await session.exec(select(OrgUnit.id).where(in_subtree(units["district"].path))))
    assert set(left.all()) == {units["district"].id, units["trai"].id, units["du"].id}
    assert inner.depth == 4 and school.depth == 5

    [entry] = await entries_about(session, target_type="unit", target_id=cluster.id)
    assert entry.action == "move_unit" and entry.actor_member_id == edu_official.member_id
    assert entry.before["parent_id"] == units["district"].id
    assert entry.after["parent_id"] == target.id


async def test_a_unit_never_moves_into_itself_below_a_school_or_where_it_is(
    session: AsyncSession, world: dict
) -> None:
    units, actor = world["units"], world["actors"]["edu"]
    cluster = await make_unit(session, "Liên trường Ba Đình Bắc", kind=OrgKind.INDUSTRY_UNION,
                              parent=units["district"])
    inner = await make_unit(session, "Nhóm trường Ngọc Hà", kind=OrgKind.INDUSTRY_UNION,
                            parent=cluster)
    cases = [
        (units["district"], cluster, "unit_move_into_itself"),
        (cluster, cluster, "unit_move_into_itself"),
        (cluster, inner, "unit_move_into_itself"),
        (cluster, units["trai"], "unit_grassroots_no_children"),
        (cluster, units["district"], "unit_already_there"),
    ]
    for unit, new_parent, code in cases:
        with pytest.raises(InvalidInput) as refused:
            await move_unit(session, actor=actor, unit=unit, new_parent=new_parent)
        assert refused.value.code == code, (unit.name, new_parent.name)
    assert cluster.path == f"{units['district'].path}{cluster.id}/"
    assert await _audit_count(session) == 0


async def test_an_official_moves_only_within_their_scope(
    session: AsyncSession, world: dict
) -> None:
    units, district_official = world["units"], world["actors"]["district"]
    cluster = await make_unit(session, "Liên trường Ba Đình Bắc", kind=OrgKind.INDUSTRY_UNION,
                              parent=units["district"])
    trai_path = units["trai"].path
    with pytest.raises(NotAllowed):  # the destination is another district's
        await move_unit(session, actor=district_official, unit=units["trai"],
                        new_parent=units["other_district"])
    with pytest.raises(NotAllowed):  # the unit is another district's
        await move_unit(session, actor=district_official, unit=units["other_school"],
                        new_parent=cluster)
    with pytest.raises(NotAllowed):  # their own unit is moved from above
        await move_unit(session, actor=district_official, unit=units["district"],
                        new_parent=units["other_district"])
    assert units["trai"].path == trai_path and await _audit_count(session) == 0

    await move_unit(session, actor=district_official, unit=units["trai"], new_parent=cluster)
    assert units["trai"].path == f"{cluster.path}{units['trai'].id}/"


# --- deactivating ------------------------------------------------------------------------------


async def test_a_unit_with_active_units_below_is_not_deactivated(
    session: AsyncSession, world: dict
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await deactivate_unit(session, actor=world["actors"]["edu"],
                              unit=world["units"]["district"])
    assert refused.value.code == "unit_has_children" and refused.value.params == {"count": 2}
    assert world["units"]["district"].is_active


async def test_deactivating_a_school_moves_all_its_members_in_one_go_and_says_how_many(
    session: AsyncSession, world: dict
) -> None:
    units, actor = world["units"], world["actors"]["district"]
    du, trai = units["du"], units["trai"]
    active = await make_member(session, du, "Lê Văn An")
    pending = await make_member(session, du, "Phạm Thị Bình", status=MemberStatus.PENDING)
    gone = await make_member(session, du, "Đã xoá")
    gone.erased_at = utcnow()
    link = await create_invite(session, code="DUJOIN22", unit_id=du.id, auto_approve=True)
    await session.flush()

    assert await check_deactivation(session, actor=actor, unit=du) == 2
    with pytest.raises(InvalidInput) as no_destination:
        await deactivate_unit(session, actor=actor, unit=du)
    assert no_destination.value.code == "unit_members_need_destination"
    assert no_destination.value.params == {"count": 2}
    with pytest.raises(NotAllowed):
        await deactivate_unit(session, actor=actor, unit=du,
                              move_members_to=units["other_school"])
    with pytest.raises(InvalidInput) as not_a_school:
        await deactivate_unit(session, actor=actor, unit=du, move_members_to=units["district"])
    assert not_a_school.value.code == "unit_destination_invalid"
    assert du.is_active and await _audit_count(session) == 0

    moved = await deactivate_unit(session, actor=actor, unit=du, move_members_to=trai)

    assert moved == 2 and not du.is_active
    rows = await session.exec(
        select(Member.id, Member.unit_id).where(
            col(Member.id).in_([active.id, pending.id, gone.id])
        )
    )
    assert dict(rows.all()) == {active.id: trai.id, pending.id: trai.id, gone.id: du.id}
    members_entry, closed_entry = await entries_about(session, target_type="unit",
                                                      target_id=du.id)
    assert members_entry.action == "move_members"
    assert members_entry.before == {"unit_id": du.id, "members": 2}
    assert members_entry.after == {"unit_id": trai.id, "members": 2}
    assert closed_entry.action == "deactivate_unit"
    assert closed_entry.before["is_active"] is True and closed_entry.after["is_active"] is False
    # The school's invite link no longer lets anyone join a union that is closed.
    assert closed_entry.after["invites_revoked"] == 1
    with pytest.raises(NotFound) as closed_link:
        await resolve_invite(session, link.code)
    assert closed_link.value.code == "invite_invalid"

    with pytest.raises(NotFound):  # a second tap on the same button
        await deactivate_unit(session, actor=actor, unit=du, move_members_to=trai)


async def test_an_empty_unit_needs_no_destination_and_its_own_chair_cannot_close_it(
    session: AsyncSession, world: dict
) -> None:
    units = world["units"]
    with pytest.raises(NotAllowed):
        await deactivate_unit(session, actor=world["actors"]["school"], unit=units["trai"])
    assert await deactivate_unit(session, actor=world["actors"]["district"],
                                 unit=units["du"]) == 0
    assert not units["du"].is_active
    assert await check_deactivation(session, actor=world["actors"]["edu"],
                                    unit=units["other_school"]) == 0


# --- blocs -------------------------------------------------------------------------------------


async def test_only_administrators_create_blocs_and_names_are_unique_without_accents(
    session: AsyncSession, world: dict
) -> None:
    with pytest.raises(NotAllowed):
        await create_bloc(session, actor=world["actors"]["edu"], name="Cụm thi đua số 1")
    bloc = await create_bloc(session, actor=world["actors"]["admin"], name="Cụm thi đua số 1")
    with pytest.raises(InvalidInput) as twice:
        await create_bloc(session, actor=None, name="cum thi dua  so 1")
    assert twice.value.code == "bloc_exists" and twice.value.params == {"name": bloc.name}
    second = await create_bloc(session, actor=None, name="Khối THCS")
    assert [b.name for b in await list_blocs(session)] == ["Cụm thi đua số 1", "Khối THCS"]
    assert bloc.code != second.code
    [entry] = await entries_about(session, target_type="bloc", target_id=bloc.id)
    assert entry.action == "create_bloc" and entry.after["name"] == "Cụm thi đua số 1"


async def test_units_are_tagged_with_blocs_across_branches(
    session: AsyncSession, world: dict
) -> None:
    units, actors = world["units"], world["actors"]
    bloc = await create_bloc(session, actor=None, name="Khối THCS")
    assert await tag_unit(session, actor=actors["edu"], unit=units["trai"], bloc=bloc)
    assert await tag_unit(session, actor=actors["edu"], unit=units["other_school"], bloc=bloc)
    assert not await tag_unit(session, actor=actors["edu"], unit=units["trai"], bloc=bloc)
    with pytest.raises(NotAllowed):
        await tag_unit(session, actor=actors["district"], unit=units["other_school"], bloc=bloc)

    assert [u.name for u in await units_in_bloc(session, bloc=bloc)] == [
        "Trường THCS Nguyễn Trãi", "Trường THCS Trưng Vương"]
    in_scope = await units_in_bloc(session, bloc=bloc, actor=actors["district"])
    assert [u.id for u in in_scope] == [units["trai"].id]

    assert await untag_unit(session, actor=actors["district"], unit=units["trai"], bloc=bloc)
    assert await blocs_of(session, units["trai"]) == []
    tagged, untagged = await entries_about(session, target_type="unit", target_id=units["trai"].id)
    assert (tagged.action, tagged.before["blocs"], tagged.after["blocs"]) == (
        "tag_unit", [], [bloc.id])
    assert (untagged.action, untagged.before["blocs"], untagged.after["blocs"]) == (
        "untag_unit", [bloc.id], [])


# --- what an official sees ---------------------------------------------------------------------


async def test_a_unit_card_counts_active_members_of_the_subtree_and_says_what_may_be_done(
    session: AsyncSession, world: dict
) -> None:
    units, actors = world["units"], world["actors"]
    await make_member(session, units["du"], "Lê Văn An")
    await make_member(session, units["du"], "Chờ duyệt", status=MemberStatus.PENDING)
    bloc = await create_bloc(session, actor=None, name="Cụm quận nội thành")
    await tag_unit(session, actor=None, unit=units["district"], bloc=bloc)

    card = await unit_card(session, actor=actors["district"], unit=units["district"])
    # Active members below: the district official, the school chair, Lan, An.
    assert card.members == 4 and card.children == 2
    assert [u.name for u in card.chain] == [units["city"].name, units["edu"].name]
    assert [b.name for b in card.blocs] == ["Cụm quận nội thành"]
    assert (card.can_add, card.can_edit, card.up) == (True, False, None)

    by_edu = await unit_card(session, actor=actors["edu"], unit=units["district"])
    assert (by_edu.can_add, by_edu.can_edit, by_edu.up) == (True, True, units["edu"].id)
    school = await unit_card(session, actor=actors["district"], unit=units["trai"])
    assert (school.can_add, school.can_edit, school.up) == (False, True, units["district"].id)
    with pytest.raises(NotAllowed):
        await unit_card(session, actor=actors["district"], unit=units["other_school"])


async def test_browsing_starts_at_the_officials_own_units_or_the_roots_for_admins(
    session: AsyncSession, world: dict
) -> None:
    units, actors = world["units"], world["actors"]
    root = await make_unit(session, "LĐLĐ tỉnh Hà Nam", kind=OrgKind.FEDERATION)
    assert [u.id for u in await roots_for(session, actor=actors["admin"])] == [
        root.id, units["city"].id]
    assert [u.id for u in await roots_for(session, actor=actors["district"])] == [
        units["district"].id]
    assert await roots_for(session, actor=actors["member"]) == []
    # A second role inside the first scope adds nothing to the starting list.
    district_member = await session.get(Member, actors["district"].member_id)
    from models.access import appoint

    await appoint(session, None, member=district_member, role=Role.OFFICIAL, unit=units["trai"])
    twice = await actor_of(session, district_member)
    assert [u.id for u in await roots_for(session, actor=twice)] == [units["district"].id]
    card = await unit_card(session, actor=twice, unit=units["district"])
    assert card.up is None


async def test_browsing_for_a_new_place_lists_only_containers_outside_the_moved_unit(
    session: AsyncSession, world: dict
) -> None:
    units, actor = world["units"], world["actors"]["edu"]
    cluster = await make_unit(session, "Liên trường Ba Đình Bắc", kind=OrgKind.INDUSTRY_UNION,
                              parent=units["district"])
    page, total = await browse(session, actor=actor, level=units["district"],
                               containers_only=True)
    assert [u.id for u in page] == [cluster.id] and total == 1
    page, total = await browse(session, actor=actor, level=units["district"],
                               containers_only=True, excluding=cluster)
    assert page == [] and total == 0
    everything, total = await browse(session, actor=actor, level=units["district"], limit=2)
    assert total == 3 and len(everything) == 2
    top, _ = await browse(session, actor=actor, level=None, excluding=units["edu"])
    assert top == []
    with pytest.raises(NotAllowed):
        await browse(session, actor=world["actors"]["district"], level=units["other_district"])
