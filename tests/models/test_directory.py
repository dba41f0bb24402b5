"""The member directory: search and filters inside an official's scope, masked phones, the
export, and appointing or revoking roles from a card."""

from __future__ import annotations

import logging
from datetime import date
from io import BytesIO

import pytest
from openpyxl import load_workbook
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import load_translator
from models import directory
from models.access import Role, actor_for, roles_of
from models.audit import AuditEntry, entries_about
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Gender, Identity, MemberStatus, Position
from models.org import OrgKind
from tests.factories import actor_of, make_member, make_official, make_tree, make_unit

ADMIN_TG = 777001


@pytest.fixture
async def world(session: AsyncSession) -> dict:
    """The sample tree and a second district with a school; an official of each level, an
    administrator from the configuration, and teachers in each school."""
    units = await make_tree(session)
    units["other_district"] = await make_unit(
        session, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION,
        parent=units["edu"],
    )
    units["other_school"] = await make_unit(
        session, "Trường THCS Trưng Vương", parent=units["other_district"]
    )
    people = {
        "lan": await make_member(
            session, units["trai"], "Nguyễn Thị Lan", phone="+84912345678", telegram_id=9101,
        ),
        "lanh": await make_member(session, units["trai"], "Nguyễn Thị Lành", zalo_id=9102),
        "nam": await make_member(
            session, units["trai"], "Trần Văn Nam", gender=Gender.MALE, position=Position.STAFF,
            status=MemberStatus.PENDING,
        ),
        "quiet": await make_member(session, units["trai"], "Đỗ Minh An", gender=None),
        "hoa": await make_member(session, units["du"], "Nguyễn Thị Hoa"),
        "duc": await make_member(
            session, units["du"], "Lê Văn Đức", gender=Gender.MALE, status=MemberStatus.REJECTED,
        ),
        "mai": await make_member(session, units["other_school"], "Phạm Thị Mai"),
    }
    officials = {
        "school": await make_official(session, units["trai"], "Chủ tịch CĐ Trãi"),
        "district": await make_official(session, units["district"], "Cán bộ Quận"),
        "edu": await make_official(session, units["edu"], "Cán bộ Thành phố"),
        "admin": await make_member(session, units["edu"], "Quản trị", telegram_id=ADMIN_TG),
    }
    actors = {
        name: await actor_of(session, person, admin_telegram_ids=[ADMIN_TG])
        for name, person in officials.items()
    }
    actors["teacher"] = await actor_of(session, people["lan"], admin_telegram_ids=[ADMIN_TG])
    return {"units": units, "people": people, "officials": officials, "actors": actors}


def names(rows: list[directory.Listed]) -> list[str]:
    return [row.member.full_name for row in rows]


# --- search --------------------------------------------------------------------------------------


async def test_a_name_is_found_with_or_without_diacritics(session, world) -> None:  # type: ignore[no-untyped-def]
    school = world["actors"]["school"]
    for typed in ("nguyen thi", "Nguyễn Thị", "NGUYEN   thi"):
        rows, total = await directory.search_members(session, school, text=typed)
        assert names(rows) == ["Nguyễn Thị Lan", "Nguyễn Thị Lành"], typed
        assert total == 2
    rows, _ = await directory.search_members(session, school, text="thi lan")
    assert names(rows) == ["Nguyễn Thị Lan", "Nguyễn Thị Lành"]  # every word, anywhere
    rows, _ = await directory.search_members(session, school, text="lành")
    assert names(rows) == ["Nguyễn Thị Lành"]


async def test_like_wildcards_typed_in_a_search_match_only_themselves(session, world) -> None:  # type: ignore[no-untyped-def]
    school = world["actors"]["school"]
    for typed in ("%", "_", "n_uyen", "\\"):
        assert await directory.search_members(session, school, text=typed) == ([], 0), typed


async def test_a_search_too_long_is_refused(session, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as refused:
        await directory.search_members(session, world["actors"]["school"], text="a" * 101)
    assert refused.value.code == "directory_search_invalid"


async def test_each_filter_narrows_the_list(session, world) -> None:  # type: ignore[no-untyped-def]
    district = world["actors"]["district"]
    units = world["units"]

    rows, total = await directory.search_members(session, district, unit_id=units["du"].id)
    assert names(rows) == ["Lê Văn Đức", "Nguyễn Thị Hoa"] and total == 2
    rows, _ = await directory.search_members(session, district, position=Position.STAFF)
    assert names(rows) == ["Trần Văn Nam"]
    rows, _ = await directory.search_members(session, district, gender=Gender.MALE)
    assert set(names(rows)) == {"Trần Văn Nam", "Lê Văn Đức", "Chủ tịch CĐ Trãi", "Cán bộ Quận"}
    rows, _ = await directory.search_members(session, district, gender=Gender.UNDISCLOSED)
    assert names(rows) == ["Đỗ Minh An"]  # never said, counted as not disclosed
    rows, _ = await directory.search_members(session, district, status=MemberStatus.PENDING)
    assert names(rows) == ["Trần Văn Nam"]
    rows, _ = await directory.search_members(session, district, status=MemberStatus.REJECTED)
    assert names(rows) == ["Lê Văn Đức"]
    rows, _ = await directory.search_members(
        session, district, text="nguyen", unit_id=units["trai"].id, gender=Gender.FEMALE,
        status=MemberStatus.ACTIVE, position=Position.TEACHER,
    )
    assert names(rows) == ["Nguyễn Thị Lan", "Nguyễn Thị Lành"]


async def test_an_unknown_filter_value_is_refused(session, world) -> None:  # type: ignore[no-untyped-def]
    for field in ("position", "gender", "status"):
        with pytest.raises(InvalidInput):
            await directory.search_members(session, world["actors"]["school"], **{field: "boss"})


async def test_pages_are_cut_in_the_database_and_the_total_counts_them_all(session, world) -> None:  # type: ignore[no-untyped-def]
    for number in range(25):
        await make_member(session, world["units"]["du"], f"Giáo viên {number:02d}")
    district = world["actors"]["district"]
    first, total = await directory.search_members(session, district, text="giao vien", limit=10)
    last, again = await directory.search_members(
        session, district, text="giao vien", offset=20, limit=10
    )
    assert total == again == 25
    assert names(first) == [f"Giáo viên {n:02d}" for n in range(10)]
    assert names(last) == [f"Giáo viên {n:02d}" for n in range(20, 25)]


async def test_each_official_sees_only_their_scope(session, world) -> None:  # type: ignore[no-untyped-def]
    actors = world["actors"]
    seen = {
        name: set(names((await directory.search_members(session, actors[name], limit=100))[0]))
        for name in ("school", "district", "edu", "admin")
    }
    assert "Nguyễn Thị Lan" in seen["school"]
    assert not {"Nguyễn Thị Hoa", "Phạm Thị Mai", "Cán bộ Quận"} & seen["school"]
    assert {"Nguyễn Thị Lan", "Nguyễn Thị Hoa"} <= seen["district"]
    assert "Phạm Thị Mai" not in seen["district"]
    assert {"Nguyễn Thị Lan", "Nguyễn Thị Hoa", "Phạm Thị Mai"} <= seen["edu"]
    assert seen["admin"] == seen["edu"]  # everyone (all are under the education union)
    assert len(seen["admin"]) == 11


async def test_erased_members_are_not_listed(session, world) -> None:  # type: ignore[no-untyped-def]
    from models.base import utcnow

    world["people"]["lan"].erased_at = utcnow()
    session.add(world["people"]["lan"])
    await session.flush()
    rows, _ = await directory.search_members(session, world["actors"]["school"], text="lan")
    assert names(rows) == ["Nguyễn Thị Lành"]
    with pytest.raises(NotFound):
        await directory.member_card(session, world["actors"]["school"], world["people"]["lan"].id)


async def test_a_member_is_not_an_official_and_has_no_directory(session, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotAllowed) as refused:
        await directory.search_members(session, world["actors"]["teacher"])
    assert refused.value.code == "officials_only"


async def test_a_unit_filter_outside_the_scope_is_refused_and_logged(
    session, world, caplog  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.WARNING, logger="models.access")
    with pytest.raises(NotAllowed):
        await directory.search_members(
            session, world["actors"]["school"], unit_id=world["units"]["du"].id
        )
    assert "refused view_unit" in caplog.text
    with pytest.raises(NotFound):
        await directory.search_members(session, world["actors"]["school"], unit_id=987654)


# --- browsing the scope's units ------------------------------------------------------------------


async def test_an_official_browses_from_their_own_unit_and_an_admin_from_the_roots(
    session, world  # type: ignore[no-untyped-def]
) -> None:
    units = world["units"]
    top = await directory.browse_scope(session, world["actors"]["district"], parent_id=None)
    assert top.parent.id == units["district"].id and top.up_id is None
    assert [u.name for u in top.units] == ["Trường THCS Nguyễn Trãi", "Trường Tiểu học Nguyễn Du"]
    roots = await directory.browse_scope(session, world["actors"]["admin"], parent_id=None)
    assert roots.parent is None and [u.id for u in roots.units] == [units["city"].id]
    inside = await directory.browse_scope(
        session, world["actors"]["edu"], parent_id=units["district"].id
    )
    assert inside.up_id == units["edu"].id
    with pytest.raises(NotAllowed):
        await directory.browse_scope(
            session, world["actors"]["district"], parent_id=units["other_district"].id
        )


# --- phones and cards ----------------------------------------------------------------------------


def test_a_phone_shows_only_its_last_three_digits() -> None:
    assert directory.mask_phone("+84912345678") == "•••••••678"
    assert directory.mask_phone("+442071234567") == "•••••••••567"
    assert directory.mask_phone(None) is None
    assert directory.mask_phone("12") == "••"


async def test_a_card_shows_the_member_with_a_masked_phone_roles_and_channels(
    session, world  # type: ignore[no-untyped-def]
) -> None:
    lan = world["people"]["lan"]
    card = await directory.member_card(session, world["actors"]["district"], lan.id)
    assert card.full_name == "Nguyễn Thị Lan" and card.unit_name == "Trường THCS Nguyễn Trãi"
    assert card.phone == "•••••••678"
    assert "912345678" not in repr(card)
    assert card.channels == ["telegram"] and card.roles == []
    assert card.may_appoint_official and card.may_appoint_reviewer
    assert not card.may_appoint_admin

    chair = await directory.member_card(
        session, world["actors"]["district"], world["officials"]["school"].id
    )
    assert [(r.role, r.unit_name, r.may_revoke) for r in chair.roles] == [
        ("official", "Trường THCS Nguyễn Trãi", True)
    ]
    # The school's own official sees their card too, but cannot take their own role away, nor
    # appoint officials (nothing is below a school).
    own = await directory.member_card(
        session, world["actors"]["school"], world["officials"]["school"].id
    )
    assert [r.may_revoke for r in own.roles] == [False]
    assert not own.may_appoint_official and own.may_appoint_reviewer

    pending = await directory.member_card(
        session, world["actors"]["district"], world["people"]["nam"].id
    )
    assert not (pending.may_appoint_official or pending.may_appoint_reviewer)


async def test_a_forged_card_of_a_member_outside_the_scope_is_refused_and_logged(
    session, world, caplog  # type: ignore[no-untyped-def]
) -> None:
    caplog.set_level(logging.WARNING, logger="models.access")
    mai = world["people"]["mai"]
    with pytest.raises(NotAllowed):
        await directory.member_card(session, world["actors"]["school"], mai.id)
    assert f"member {mai.id}" in caplog.text and "Phạm" not in caplog.text
    with pytest.raises(NotFound):
        await directory.member_card(session, world["actors"]["school"], 987654)


# --- export --------------------------------------------------------------------------------------


async def test_the_export_holds_exactly_the_scope_with_masked_phones(session, world) -> None:  # type: ignore[no-untyped-def]
    translator = load_translator("vi")
    lan = world["people"]["lan"]
    lan.date_of_birth = date(1990, 5, 17)
    lan.is_union_member = True
    lan.member_code = "CD-001"
    session.add(lan)
    await session.flush()

    content = await directory.export_xlsx(
        session, world["actors"]["school"], translate=lambda key: translator.t("vi", key)
    )
    sheet = load_workbook(BytesIO(content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (
        "Họ và tên", "Đơn vị", "Mã đơn vị", "Chức danh", "Giới tính", "Ngày sinh", "Điện thoại",
        "Đoàn viên công đoàn", "Mã đoàn viên", "Trạng thái", "Đã dùng bot",
    )
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {
        "Nguyễn Thị Lan", "Nguyễn Thị Lành", "Trần Văn Nam", "Đỗ Minh An", "Chủ tịch CĐ Trãi",
    }
    trai = world["units"]["trai"]
    lan_row = by_name["Nguyễn Thị Lan"]
    assert lan_row[1:5] == ("Trường THCS Nguyễn Trãi", trai.code, "Giáo viên", "Nữ")
    assert lan_row[5].date() == date(1990, 5, 17)
    assert lan_row[6:] == ("•••••••678", "Có", "CD-001", "đã duyệt", "Có")
    assert by_name["Nguyễn Thị Lành"][10] == "Có"  # on Zalo
    assert by_name["Trần Văn Nam"][9] == "chờ duyệt" and by_name["Trần Văn Nam"][10] == "Không"
    assert by_name["Đỗ Minh An"][4] is None
    assert b"912345678" not in content

    entry = (
        await session.exec(select(AuditEntry).where(AuditEntry.action == "export_members"))
    ).one()
    assert entry.after == {"rows": 5} and entry.before is None
    assert entry.actor_member_id == world["officials"]["school"].id


async def test_the_export_follows_the_filters_and_reads_many_rows_in_chunks(
    session, world, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr(directory, "EXPORT_CHUNK", 3)
    for number in range(7):
        await make_member(session, world["units"]["du"], f"Nguyễn Văn {number}",
                          gender=Gender.MALE)
    content = await directory.export_xlsx(
        session, world["actors"]["district"], unit_id=world["units"]["du"].id,
        gender=Gender.MALE, translate=lambda key: key,
    )
    rows = list(load_workbook(BytesIO(content)).active.iter_rows(values_only=True))[1:]
    assert [row[0] for row in rows] == ["Lê Văn Đức", *(f"Nguyễn Văn {n}" for n in range(7))]
    with pytest.raises(NotAllowed):
        await directory.export_xlsx(
            session, world["actors"]["school"], unit_id=world["units"]["du"].id,
            translate=lambda key: key,
        )


async def test_the_export_shows_a_code_starting_with_equals_as_text(session, world) -> None:  # type: ignore[no-untyped-def]
    lan = world["people"]["lan"]
    lan.member_code = '=HYPERLINK("http://x","CD-1")'  # from some roster: not a formula
    session.add(lan)
    await session.flush()
    content = await directory.export_xlsx(
        session, world["actors"]["school"], translate=lambda key: key
    )
    rows = load_workbook(BytesIO(content)).active.iter_rows()
    [row] = [row for row in rows if row[0].value == "Nguyễn Thị Lan"]
    assert (row[8].value, row[8].data_type) == (lan.member_code, "s")


# --- appointing and revoking ---------------------------------------------------------------------


async def test_an_official_appoints_officials_below_their_level_only(session, world) -> None:  # type: ignore[no-untyped-def]
    district, units, lan = world["actors"]["district"], world["units"], world["people"]["lan"]
    change = await directory.appoint_role(
        session, district, member_id=lan.id, role=Role.OFFICIAL, unit_id=units["trai"].id
    )
    assert change.unit.id == units["trai"].id
    assert [(r.role, r.unit_id) for r in await roles_of(session, lan.id)] == [
        ("official", units["trai"].id)
    ]
    identity = (await session.exec(select(Identity).where(Identity.member_id == lan.id))).one()
    assert (await actor_for(session, identity)).is_official

    [entry] = await entries_about(session, target_type="member", target_id=lan.id)
    assert (entry.action, entry.before, entry.actor_member_id) == (
        "appoint", None, world["officials"]["district"].id
    )
    assert entry.after == {
        "assignment_id": change.assignment_id, "role": "official", "unit_id": units["trai"].id
    }

    for unit in ("district", "edu", "other_school"):  # their own level, above, elsewhere
        with pytest.raises(NotAllowed):
            await directory.appoint_role(
                session, district, member_id=world["people"]["hoa"].id, role=Role.OFFICIAL,
                unit_id=units[unit].id,
            )
    assert await roles_of(session, world["people"]["hoa"].id) == []


async def test_a_member_outside_the_scope_cannot_be_appointed(session, world) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotAllowed):
        await directory.appoint_role(
            session, world["actors"]["district"], member_id=world["people"]["mai"].id,
            role=Role.REVIEWER, unit_id=world["units"]["district"].id,
        )
    assert await roles_of(session, world["people"]["mai"].id) == []


async def test_reviewers_are_appointed_within_the_scope_own_unit_included(session, world) -> None:  # type: ignore[no-untyped-def]
    units, hoa = world["units"], world["people"]["hoa"]
    change = await directory.appoint_role(
        session, world["actors"]["district"], member_id=hoa.id, role=Role.REVIEWER,
        unit_id=units["district"].id,
    )
    assert change.role is Role.REVIEWER
    with pytest.raises(NotAllowed):
        await directory.appoint_role(
            session, world["actors"]["district"], member_id=hoa.id, role=Role.REVIEWER,
            unit_id=units["edu"].id,
        )
    with pytest.raises(NotAllowed) as twice:
        await directory.appoint_role(
            session, world["actors"]["district"], member_id=hoa.id, role=Role.REVIEWER,
            unit_id=units["district"].id,
        )
    assert twice.value.code == "already_has_role"


async def test_only_administrators_appoint_administrators(session, world) -> None:  # type: ignore[no-untyped-def]
    lan = world["people"]["lan"]
    for official in ("school", "district", "edu"):
        with pytest.raises(NotAllowed):
            await directory.appoint_role(
                session, world["actors"][official], member_id=lan.id, role=Role.ADMIN,
                unit_id=None,
            )
    card = await directory.member_card(session, world["actors"]["admin"], lan.id)
    assert card.may_appoint_admin
    change = await directory.appoint_role(
        session, world["actors"]["admin"], member_id=lan.id, role=Role.ADMIN, unit_id=None
    )
    assert change.unit is None
    assert [r.role for r in await roles_of(session, lan.id)] == ["admin"]
    card = await directory.member_card(session, world["actors"]["admin"], lan.id)
    assert not card.may_appoint_admin and card.roles[0].may_revoke


async def test_an_appointment_is_checked_before_it_is_confirmed(session, world) -> None:  # type: ignore[no-untyped-def]
    units, lan = world["units"], world["people"]["lan"]
    change = await directory.preview_appointment(
        session, world["actors"]["district"], member_id=lan.id, role=Role.OFFICIAL,
        unit_id=units["trai"].id,
    )
    assert change.member.id == lan.id and change.assignment_id is None
    assert await roles_of(session, lan.id) == []
    with pytest.raises(NotAllowed):
        await directory.preview_appointment(
            session, world["actors"]["school"], member_id=lan.id, role=Role.OFFICIAL,
            unit_id=units["trai"].id,
        )
    with pytest.raises(NotFound):
        await directory.preview_appointment(
            session, world["actors"]["district"], member_id=lan.id, role=Role.OFFICIAL,
            unit_id=987654,
        )


async def test_a_role_is_revoked_by_whoever_could_give_it_and_audited(session, world) -> None:  # type: ignore[no-untyped-def]
    chair = world["officials"]["school"]
    [assignment] = await roles_of(session, chair.id)
    for peer_or_below in ("school",):
        with pytest.raises(NotAllowed):
            await directory.revoke_role(
                session, world["actors"][peer_or_below], assignment_id=assignment.id
            )
    [district_role] = await roles_of(session, world["officials"]["district"].id)
    with pytest.raises(NotAllowed):
        await directory.revoke_role(
            session, world["actors"]["district"], assignment_id=district_role.id
        )

    change = await directory.revoke_role(
        session, world["actors"]["district"], assignment_id=assignment.id
    )
    assert change.role is Role.OFFICIAL and change.unit.id == world["units"]["trai"].id
    assert await roles_of(session, chair.id) == []
    [entry] = await entries_about(session, target_type="member", target_id=chair.id)
    assert entry.action == "revoke" and entry.after is None
    assert entry.before == {
        "assignment_id": assignment.id, "role": "official", "unit_id": world["units"]["trai"].id
    }
    with pytest.raises(NotFound):
        await directory.revoke_role(
            session, world["actors"]["district"], assignment_id=assignment.id
        )
