"""Roster import: every bad row reported with its row number, nothing imported from a file with
errors (unless only the valid rows are asked for), re-imports that change nothing, updates by
member code or phone, CSV variants, and the official's scope."""

from __future__ import annotations

import csv
import html
import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import load_translator
from models.audit import AuditEntry
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Identity, Member, MemberStatus
from models.org import OrgUnit
from models.roster import (
    MAX_ROWS,
    ImportResult,
    PendingImport,
    check_upload,
    error_report,
    import_pending,
    import_roster,
    keep_upload,
    pending_upload,
    read_roster,
    report_name,
)
from tests.factories import actor_of, make_member, make_official, make_tree, make_unit

HEADER = [
    "STT", "Họ và tên", "Mã đơn vị", "Chức vụ", "Giới tính", "Ngày sinh", "Số điện thoại",
    "Đoàn viên", "Mã đoàn viên",
]


def xlsx(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_file(
    rows: list[list[object]],
    header: list[str] = HEADER,
    *,
    delimiter: str = ",",
    bom: bool = False,
) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode("utf-8")


async def count(session: AsyncSession, table: type) -> int:
    return (await session.exec(select(func.count()).select_from(table))).one()


async def import_entries(session: AsyncSession) -> list[AuditEntry]:
    rows = await session.exec(select(AuditEntry).where(AuditEntry.target_type == "import"))
    return list(rows.all())


@pytest.fixture
async def world(session: AsyncSession) -> dict:
    """The sample tree, a second district with its school, and the first district's official."""
    tree = await make_tree(session)
    other = await make_unit(
        session, "CĐ Giáo dục quận Hoàn Kiếm", kind=tree["district"].kind, parent=tree["edu"]
    )
    tree["other_school"] = await make_unit(session, "Trường THCS Trưng Vương", parent=other)
    official = await make_official(session, tree["district"], "Trần Văn Hùng")
    tree["actor"] = await actor_of(session, official)
    return tree


async def test_a_clean_file_creates_active_members_without_chat_accounts(
    session: AsyncSession, world: dict
) -> None:
    trai, du = world["trai"], world["du"]
    content = xlsx(
        [
            [1, "Nguyễn Thị Lan", trai.code, "Giáo viên", "Nữ", "15/03/1985", "0912 345 678",
             "có", "DV001"],
            [2, "  Lê   Văn Minh ", du.code.lower(), "Phó Hiệu trưởng", "nam",
             datetime(1979, 11, 2), 912345679, "x", "DV002"],
            [3, "Phạm Thu Hà", None, "Kế toán", None, None, "+84 912 345 680", "không", None],
            [4, "Đỗ Mai", None, "Tổng phụ trách đội", "female", "1990-01-31", None, None,
             "DV004"],
            [5, "Vũ Hà", None, "GV", None, None, 843123456, None, None],
        ]
    )
    before = await count(session, Member)
    result = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=content, default_unit=trai
    )
    assert (result.total, result.created, result.updated, result.unchanged) == (5, 5, 0, 0)
    assert result.imported and result.bad_rows == []
    assert await count(session, Member) == before + 5

    members = {
        m.full_name: m
        for m in (await session.exec(select(Member).where(Member.id > before))).all()
    }
    lan, minh, ha, mai = (members[n] for n in ("Nguyễn Thị Lan", "Lê Văn Minh", "Phạm Thu Hà",
                                                 "Đỗ Mai"))
    assert (lan.unit_id, lan.position, lan.gender, lan.phone) == (
        trai.id, "teacher", "female", "+84912345678")
    assert (lan.date_of_birth, lan.is_union_member, lan.member_code) == (
        date(1985, 3, 15), True, "DV001")
    assert lan.status == MemberStatus.ACTIVE and lan.full_name_folded == "nguyen thi lan"
    assert (minh.unit_id, minh.position, minh.gender, minh.phone) == (
        du.id, "manager", "male", "+84912345679")  # the number Excel stored without its 0
    assert minh.date_of_birth == date(1979, 11, 2)
    assert (ha.unit_id, ha.position, ha.gender, ha.is_union_member, ha.member_code) == (
        trai.id, "staff", None, False, None)
    assert (mai.position, mai.date_of_birth, mai.phone) == ("other", date(1990, 1, 31), None)
    assert (members["Vũ Hà"].position, members["Vũ Hà"].phone) == ("teacher", "+84843123456")
    identities = await session.exec(
        select(Identity).where(Identity.member_id.in_([m.id for m in members.values()]))  # type: ignore[union-attr]
    )
    assert identities.all() == []

    [entry] = await import_entries(session)
    assert entry.actor_member_id == world["actor"].member_id
    assert entry.after is not None
    assert (entry.after["file"], entry.after["created"], entry.after["updated"]) == (
        "ds.xlsx", 5, 0)
    assert sorted(entry.after["created_ids"]) == sorted(m.id for m in members.values())


async def _bad_file(session: AsyncSession, world: dict) -> tuple[bytes, dict[int, set[str]]]:
    """A roster with one good row and every kind of bad one; the problems expected by row."""
    trai = world["trai"]
    closed = await make_unit(session, "Trường cũ", parent=world["district"])
    closed.is_active = False
    await make_member(session, world["other_school"], "Giáo viên TV", member_code="TV-9")
    rows = [
        ["Nguyễn Thị Lan", trai.code, "Giáo viên", "Nữ", "15/03/1985", "0912345678", "có", "A1"],
        [None, trai.code, "Giáo viên", "Nữ", None, "0912000003", None, None],  # 3
        ["Nguyễn 123", trai.code, None, None, None, "0912000004", None, None],  # 4
        ["Trần An", "NOPE", None, None, None, "0912000005", None, None],  # 5
        ["Trần Bình", closed.code, None, None, None, "0912000006", None, None],  # 6
        ["Trần Cúc", world["other_school"].code, None, None, None, "0912000007", None, None],
        ["Trần Dũng", trai.code, None, None, None, "12345", None, None],  # 8
        ["Trần Em", trai.code, None, None, "31/02/1990", "0912000009", None, None],  # 9
        ["Trần Giang", trai.code, None, None, None, "0912000010", "có lẽ", None],  # 10
        ["Trần Hà", trai.code, None, None, None, "0912000011", None, "B7"],  # 11
        ["Trần Hải", trai.code, None, None, None, "0912000012", None, "B7"],  # 12
        ["Trần Khoa", trai.code, None, None, None, "0913 000 013", None, None],  # 13
        ["Trần Khánh", trai.code, None, None, None, "+84913000013", None, None],  # 14
        ["Trần Long", trai.code, None, None, None, "0912000015", None, "TV-9"],  # 15
        ["Trần Mai", trai.code, None, "không rõ lắm", None, "0912000016", None, None],  # 16
        ["Trần Nam", trai.code, None, None, None, None, None, None],  # 17
        ["Trần Oanh", world["district"].code, None, None, None, "0912000018", None, None],
        ["L", "NOPE2", None, None, "2999-01-01", "abc", "?", None],  # 19: several at once
    ]
    expected = {
        3: {"roster_name_missing"},
        4: {"roster_name_bad_characters"},
        5: {"roster_unit_unknown"},
        6: {"roster_unit_inactive"},
        7: {"roster_unit_out_of_scope"},
        8: {"roster_phone_invalid"},
        9: {"roster_date_invalid"},
        10: {"roster_yes_no_invalid"},
        11: {"roster_duplicate_code"},
        12: {"roster_duplicate_code"},
        13: {"roster_duplicate_phone"},
        14: {"roster_duplicate_phone"},
        15: {"roster_code_taken"},
        16: {"roster_gender_invalid"},
        17: {"roster_no_code_or_phone"},
        18: {"roster_unit_not_grassroots"},
        19: {"roster_name_too_short", "roster_unit_unknown", "roster_date_invalid",
             "roster_phone_invalid", "roster_yes_no_invalid"},
    }
    return xlsx(rows, HEADER[1:]), expected


def _problems(result: ImportResult) -> dict[int, set[str]]:
    return {row.number: {p.code for p in row.problems} for row in result.bad_rows}


async def test_every_bad_row_is_reported_with_its_row_number_and_nothing_is_imported(
    session: AsyncSession, world: dict
) -> None:
    content, expected = await _bad_file(session, world)
    members, entries = await count(session, Member), await count(session, AuditEntry)
    result = await import_roster(
        session, world["actor"], filename="bad.xlsx", content=content, default_unit=world["trai"]
    )
    assert _problems(result) == expected
    assert (result.total, result.valid, result.imported) == (18, 1, False)
    assert (result.created, result.updated) == (0, 0)
    assert await count(session, Member) == members
    assert await count(session, AuditEntry) == entries
    duplicate = next(p for r in result.bad_rows if r.number == 11 for p in r.problems)
    assert duplicate.params == {"member_code": "B7", "rows": "11, 12"}


async def test_the_error_report_lists_each_bad_row_in_the_officials_language(
    session: AsyncSession, world: dict
) -> None:
    content, expected = await _bad_file(session, world)
    result = await import_roster(
        session, world["actor"], filename="bad.xlsx", content=content, default_unit=world["trai"]
    )
    translator = load_translator("vi")

    def english(key: str, **params: object) -> str:
        return html.unescape(translator.t("en", key, **params))

    sheet = load_workbook(io.BytesIO(error_report(result, english))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Row" and rows[0][1] == "Họ và tên" and rows[0][-1] == "Problems"
    assert [row[0] for row in rows[1:]] == sorted(expected)
    by_number = {row[0]: row for row in rows[1:]}
    assert by_number[5][1:3] == ("Trần An", "NOPE")
    assert "NOPE" in by_number[5][-1] and "unit code" in by_number[5][-1].lower()
    assert "11, 12" in by_number[12][-1]
    assert by_number[19][-1].count(";") == 4  # five problems, each named
    assert report_name("ds đv.xlsx") == "ds đv.errors.xlsx"


async def test_importing_the_valid_rows_leaves_the_bad_ones_out(
    session: AsyncSession, world: dict
) -> None:
    content, _ = await _bad_file(session, world)
    members = await count(session, Member)
    result = await import_roster(
        session, world["actor"], filename="bad.xlsx", content=content,
        default_unit=world["trai"], valid_rows=True,
    )
    assert (result.created, result.updated, result.imported, len(result.bad_rows)) == (
        1, 0, True, 17)
    assert await count(session, Member) == members + 1
    [lan] = (await session.exec(select(Member).where(Member.member_code == "A1"))).all()
    assert lan.full_name == "Nguyễn Thị Lan"
    [entry] = await import_entries(session)
    assert entry.after is not None and entry.after["skipped"] == 17


async def test_importing_the_same_file_again_changes_nothing(
    session: AsyncSession, world: dict
) -> None:
    trai = world["trai"]
    content = xlsx(
        [
            [1, "Nguyễn Thị Lan", trai.code, "Giáo viên", "Nữ", "15/03/1985", "0912345678",
             "có", "DV001"],
            [2, "Lê Văn Minh", None, "Bảo vệ", "Nam", None, "0912345679", None, None],
        ]
    )
    first = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=content, default_unit=trai
    )
    assert first.created == 2
    members, entries = await count(session, Member), await count(session, AuditEntry)
    again = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=content, default_unit=trai
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert await count(session, Member) == members
    # Only the import's own entry: no member was changed.
    assert await count(session, AuditEntry) == entries + 1


async def test_a_changed_row_updates_the_member_found_by_member_code(
    session: AsyncSession, world: dict
) -> None:
    trai, du = world["trai"], world["du"]
    lan = await make_member(
        session, trai, "Nguyen Thi Lan", phone="+84912345678", member_code="DV001"
    )
    content = xlsx(
        [[1, "Nguyễn Thị Lan", du.code, "Giảng viên", None, "15/03/1985", "0987654321", None,
          "DV001"]]
    )
    result = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=content, default_unit=trai
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    await session.refresh(lan)
    assert (lan.full_name, lan.full_name_folded, lan.unit_id, lan.position) == (
        "Nguyễn Thị Lan", "nguyen thi lan", du.id, "lecturer")
    assert (lan.phone, lan.date_of_birth) == ("+84987654321", date(1985, 3, 15))
    assert lan.gender == "female"  # the empty cell leaves it as it was
    [entry] = (
        await session.exec(
            select(AuditEntry).where(
                AuditEntry.target_type == "member", AuditEntry.target_id == lan.id
            )
        )
    ).all()
    assert entry.before is not None and entry.after is not None
    assert (entry.before["full_name"], entry.before["unit_id"]) == ("Nguyen Thi Lan", trai.id)
    assert (entry.after["full_name"], entry.after["unit_id"]) == ("Nguyễn Thị Lan", du.id)
    assert entry.actor_member_id == world["actor"].member_id


async def test_a_row_without_member_code_updates_the_member_with_its_phone(
    session: AsyncSession, world: dict
) -> None:
    trai = world["trai"]
    minh = await make_member(session, trai, "Lê Văn Minh", phone="+84912345679")
    pending = await make_member(
        session, trai, "Hồ Thị Thu", phone="+84912000111", status=MemberStatus.PENDING
    )
    content = csv_file(
        [
            [1, "Lê Văn Minh", None, "Giáo viên", "Nam", None, "0912 345 679", "có", "DV777"],
            [2, "Hồ Thị Thu", None, None, None, None, "0912000111", None, None],
        ]
    )
    result = await import_roster(
        session, world["actor"], filename="ds.csv", content=content, default_unit=trai
    )
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    await session.refresh(minh)
    assert (minh.member_code, minh.is_union_member, minh.gender) == ("DV777", True, "male")
    await session.refresh(pending)
    assert pending.status == MemberStatus.PENDING  # approving is not the roster's business


async def test_a_phone_of_someone_outside_the_scope_is_refused(
    session: AsyncSession, world: dict
) -> None:
    await make_member(session, world["other_school"], "Giáo viên TV", phone="+84912345679")
    content = xlsx([[1, "Lê Văn Minh", None, None, None, None, "0912345679", None, None]])
    result = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=content, default_unit=world["trai"]
    )
    assert _problems(result) == {2: {"roster_phone_taken"}}


@pytest.mark.parametrize(
    ("delimiter", "bom"), [(",", False), (";", True), (";", False), (",", True)]
)
async def test_csv_files_with_or_without_bom_and_with_commas_or_semicolons(
    session: AsyncSession, world: dict, delimiter: str, bom: bool
) -> None:
    header = ["full name", "UNIT CODE", "Position", "gender", "Date of birth", "Phone",
              "Union member", "Member code"]
    content = csv_file(
        [["Nguyễn Thị Lan", world["du"].code, "teacher", "female", "1.2.1990", "0912345678",
          "yes", "C1"],
         ["Trần Văn Bình", "", "", "", "", "0912345670", "no", ""]],
        header, delimiter=delimiter, bom=bom,
    )
    result = await import_roster(
        session, world["actor"], filename="DS.CSV", content=content, default_unit=world["trai"]
    )
    assert (result.created, result.bad_rows) == (2, [])
    [lan] = (await session.exec(select(Member).where(Member.member_code == "C1"))).all()
    assert (lan.unit_id, lan.position, lan.date_of_birth, lan.is_union_member) == (
        world["du"].id, "teacher", date(1990, 2, 1), True)


async def test_files_that_cannot_be_rosters_are_refused_whole(world: dict) -> None:
    with pytest.raises(InvalidInput) as missing:
        read_roster(filename="a.xlsx", content=xlsx([["Lan", "0912345678"]], ["Tên", "Phone"]))
    assert missing.value.code == "roster_missing_columns"
    assert "Họ và tên (Full name)" in missing.value.params["columns"]
    with pytest.raises(InvalidInput) as no_key:
        read_roster(filename="a.csv", content=csv_file([["Lan"]], ["Họ và tên"]))
    assert no_key.value.code == "roster_missing_columns"
    for name, content, code in [
        ("a.csv", "Ho va ten,SĐT\nLê Văn Đông,0912345678".encode("cp1258"), "roster_csv_encoding"),
        ("a.xlsx", b"not a workbook", "roster_file_unreadable"),
        ("a.xlsx", b"PK\x03\x04 broken", "roster_file_unreadable"),
        ("a.xls", b"whatever", "roster_file_type"),
        ("a.csv", b"", "roster_empty"),
        ("a.csv", "Họ và tên,SĐT\n,\n".encode(), "roster_empty"),
        ("a.csv", "Họ và tên,Full name,SĐT\nLan,Lan,0912345678".encode(),
         "roster_duplicate_column"),
    ]:
        with pytest.raises(InvalidInput) as error:
            read_roster(filename=name, content=content)
        assert error.value.code == code, name
    with pytest.raises(InvalidInput) as too_big:
        check_upload(filename="ds.xlsx", size=6 * 1024 * 1024)
    assert too_big.value.code == "roster_file_too_big"
    with pytest.raises(InvalidInput):
        check_upload(filename="ds.pdf", size=10)
    check_upload(filename="DS.XLSX", size=5 * 1024 * 1024)


async def test_a_title_above_the_header_keeps_the_spreadsheet_row_numbers(
    session: AsyncSession, world: dict
) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet["A1"] = "DANH SÁCH ĐOÀN VIÊN TRƯỜNG THCS NGUYỄN TRÃI"
    sheet.append([])
    sheet.append(["Họ và tên *", "Số điện thoại", "Ngày sinh (dd/mm/yyyy)"])
    sheet.append(["Nguyễn Thị Lan", "0912345678", "01/01/1990"])
    sheet.append([])
    sheet.append(["Trần Văn Bình", "0912", "01/01/1990"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=buffer.getvalue(),
        default_unit=world["trai"],
    )
    assert result.total == 2
    assert _problems(result) == {6: {"roster_phone_invalid"}}


async def test_an_official_imports_only_into_their_scope(
    session: AsyncSession, world: dict
) -> None:
    school_official = await make_official(session, world["trai"], "Chủ tịch CĐ Trãi")
    actor = await actor_of(session, school_official)
    content = xlsx([[1, "Lê Văn Minh", world["du"].code, None, None, None, "0912345679", None,
                     None]])
    with pytest.raises(NotAllowed):
        await import_roster(
            session, actor, filename="ds.xlsx", content=content, default_unit=world["du"]
        )
    result = await import_roster(
        session, actor, filename="ds.xlsx", content=content, default_unit=world["trai"]
    )
    assert _problems(result) == {2: {"roster_unit_out_of_scope"}}
    # The operator (CLI) may import anywhere.
    result = await import_roster(
        session, None, filename="ds.xlsx", content=content, default_unit=world["trai"]
    )
    assert result.created == 1


async def test_a_kept_upload_belongs_to_its_official_only(
    session: AsyncSession, world: dict
) -> None:
    content, _ = await _bad_file(session, world)
    actor = world["actor"]
    pending = await keep_upload(
        session, identity=actor.identity, filename="bad.xlsx", content=content, unit=world["trai"]
    )
    other = await actor_of(session, await make_official(session, world["district"], "Khác"))
    with pytest.raises(NotAllowed):
        await pending_upload(session, other, pending.id)  # type: ignore[arg-type]
    assert await pending_upload(session, actor, pending.id) is pending  # type: ignore[arg-type]
    members = await count(session, Member)
    result = await import_pending(session, actor, pending=pending)
    assert (result.created, len(result.bad_rows)) == (1, 17)
    assert await count(session, Member) == members + 1
    assert await count(session, PendingImport) == 0
    with pytest.raises(NotFound):
        await pending_upload(session, actor, pending.id)  # type: ignore[arg-type]


async def test_ten_thousand_rows_import(session: AsyncSession, world: dict) -> None:
    trai, du = world["trai"], world["du"]
    rows = [
        [i, f"Nguyễn Thị {chr(0x41 + i % 26)}", (trai if i % 2 else du).code, "Giáo viên",
         "Nữ", date(1970 + i % 30, 1 + i % 12, 1 + i % 28), f"09{i:08d}", "có", f"M{i:05d}"]
        for i in range(10_000)
    ]
    content = xlsx(rows)
    members = await count(session, Member)
    result = await import_roster(
        session, world["actor"], filename="big.xlsx", content=content, default_unit=trai
    )
    assert (result.created, result.bad_rows) == (10_000, [])
    assert await count(session, Member) == members + 10_000
    units = (
        await session.exec(
            select(Member.unit_id, func.count()).where(Member.id > members).group_by(
                Member.unit_id)
        )
    ).all()
    assert dict(units) == {trai.id: 5_000, du.id: 5_000}
    again = await import_roster(
        session, world["actor"], filename="big.xlsx", content=content, default_unit=trai
    )
    assert (again.created, again.updated, again.unchanged) == (0, 0, 10_000)
    assert await session.get(OrgUnit, trai.id) is not None


async def test_two_rows_that_describe_the_same_member_are_both_refused(
    session: AsyncSession, world: dict
) -> None:
    await make_member(session, world["trai"], "Lê Văn Minh", phone="+84912345679",
                      member_code="DV1")
    content = xlsx([
        [1, "Lê Văn Minh", None, "GV", None, None, "0987000001", None, "DV1"],
        [2, "Lê Văn Minh", None, "GV", None, None, "0912345679", None, None],
    ])
    result = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=content, default_unit=world["trai"]
    )
    assert _problems(result) == {2: {"roster_same_member"}, 3: {"roster_same_member"}}
    assert result.bad_rows[0].problems[0].params == {"rows": "2, 3"}


async def test_a_code_on_thousands_of_rows_names_only_a_few_of_them(
    session: AsyncSession, world: dict
) -> None:
    # A member code column filled down with the same value: every row is wrong, and each says
    # so in a line that still fits a chat message and a spreadsheet cell.
    rows = [[i, "Nguyễn Thị Lan", None, None, None, None, f"09{i:08d}", None, "0"]
            for i in range(2000)]
    result = await import_roster(
        session, world["actor"], filename="ds.csv", content=csv_file(rows),
        default_unit=world["trai"],
    )
    assert len(result.bad_rows) == 2000
    [problem] = result.bad_rows[-1].problems
    assert problem.params == {"member_code": "0", "rows": "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, …"}
    translator = load_translator("vi")
    report = error_report(result, lambda key, **params: translator.t("vi", key, **params))
    cells = list(load_workbook(io.BytesIO(report)).active.iter_rows(values_only=True))
    assert max(len(row[-1]) for row in cells) < 100


async def test_a_file_with_more_rows_than_any_roster_is_refused(world: dict) -> None:
    content = ("Họ và tên,SĐT\n" + "Nguyễn Thị Lan,0912345678\n" * (MAX_ROWS + 1)).encode()
    with pytest.raises(InvalidInput) as refused:
        read_roster(filename="ds.csv", content=content)
    assert refused.value.code == "roster_too_many_rows"
    assert refused.value.params == {"max": MAX_ROWS}


async def test_a_year_typed_in_the_date_of_birth_column_is_not_taken_for_a_date(
    session: AsyncSession, world: dict
) -> None:
    content = xlsx([[1, "Nguyễn Thị Lan", None, None, None, 1985, "0912345678", None, None]])
    result = await import_roster(
        session, world["actor"], filename="ds.xlsx", content=content, default_unit=world["trai"]
    )
    assert _problems(result) == {2: {"roster_date_invalid"}}
    assert result.bad_rows[0].problems[0].params == {"value": "1985"}


async def test_the_error_report_shows_a_cell_starting_with_equals_as_it_was(
    session: AsyncSession, world: dict
) -> None:
    content = csv_file([[1, '=HYPERLINK("http://x","Lan")', None, None, None, None,
                         "0912345678", None, None]])
    result = await import_roster(
        session, world["actor"], filename="ds.csv", content=content, default_unit=world["trai"]
    )
    assert _problems(result) == {2: {"roster_name_bad_characters"}}
    sheet = load_workbook(io.BytesIO(error_report(result, lambda key, **params: key))).active
    cell = sheet.cell(row=2, column=3)
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://x","Lan")', "s")
