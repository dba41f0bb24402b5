"""The officials' numbers of a movement, without a chat: statistics checked against a
hand-computed fixture, registrants per unit, approvals and results (one by one and from the
exported workbook), the export read back, and the refusals outside an official's scope."""

from __future__ import annotations

import html
import io
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import load_catalogues, load_translator
from models import movement_reports as reports
from models.access import Actor, Role
from models.achievements import Outcome
from models.audit import AuditEntry
from models.base import utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Gender, Member, MemberStatus, Position
from models.movements import (
    Evidence,
    Movement,
    MovementStatus,
    Registration,
    RegistrationStatus,
    register,
    register_unit,
    withdraw,
)
from models.org import OrgKind, OrgUnit
from models.privacy import erase_member
from tests.factories import (
    actor_of,
    make_member,
    make_movement,
    make_official,
    make_tree,
    make_unit,
)

FEMALE, MALE = Gender.FEMALE, Gender.MALE
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
TRANSLATOR = load_translator("vi")


def translate(locale: str = "vi") -> reports.Translate:
    return lambda key, **params: html.unescape(TRANSLATOR.t(locale, key, **params))


@dataclass
class Fixture:
    """Two schools of one district, 10 members of whom 7 are women; 6 registrants (4 women):
    3 assessed (1 submitted, 2 achieved), 1 more withdrawn."""

    tree: dict[str, OrgUnit]
    movement: Movement
    official: Actor
    people: dict[str, Member]
    registrations: dict[str, Registration]


# Chat accounts of the official and of a few members, for the end-to-end tests.
OFFICIAL_TELEGRAM_ID = 620001
MEMBER_TELEGRAM_IDS = {"w3": 620103, "m1": 620111, "w5": 620105, "m3": 620113}


async def fixture(
    session: AsyncSession, *, chat: bool = False, requires_approval: bool = False
) -> Fixture:
    """The fixture above; with `chat`, the official and w3, m1 and w5 have Telegram accounts."""
    tree = await make_tree(session)
    official = await actor_of(session, await make_official(
        session, tree["district"], "Trần Văn Hùng",
        telegram_id=OFFICIAL_TELEGRAM_ID if chat else None,
    ))
    movement = await make_movement(session, tree["district"])
    now = utcnow()
    people: dict[str, Member] = {}
    for key, unit, name, gender in (
        ("w1", "trai", "Nguyễn Thị An", FEMALE),
        ("w2", "trai", "Lê Thị Bích", FEMALE),
        ("w3", "trai", "Phạm Thu Cúc", FEMALE),
        ("w4", "trai", "Đỗ Thị Dung", FEMALE),
        ("w6", "trai", "Hoàng Thị Giang", FEMALE),
        ("m1", "trai", "Vũ Văn Em", MALE),
        ("w5", "du", "Bùi Thị Hà", FEMALE),
        ("w7", "du", "Ngô Thị Khánh", FEMALE),
        ("m2", "du", "Trịnh Văn Long", MALE),
        ("m3", "du", "Mai Văn Minh", MALE),
    ):
        people[key] = await make_member(
            session, tree[unit], name, gender=gender,
            telegram_id=MEMBER_TELEGRAM_IDS.get(key) if chat else None,
        )
    # Not members yet: neither counted among members nor able to register.
    await make_member(session, tree["trai"], "Cao Thị Nga", status=MemberStatus.PENDING)
    registrations: dict[str, Registration] = {}
    for key, title in (
        ("w1", "GVTDVN"), ("w2", "GVTDVN"), ("w3", "LDTT"), ("m1", "LDTT"), ("w4", "LDTT"),
        ("w5", "GVTDVN"), ("m2", "CSTDCS"),
    ):
        registrations[key] = await register(
            session, member=people[key], movement=movement, title_code=title,
            commitment=f"Cam kết của {key}", now=now,
        )
    await withdraw(session, member=people["w4"], movement=movement, now=now)
    registrations["w3"].status = RegistrationStatus.SUBMITTED
    registrations["w3"].submitted_at = now
    registrations["w3"].assessment = ["Đã hoàn thành", "Gia đình êm ấm"]
    for number in range(2):
        session.add(Evidence(
            registration_id=registrations["w3"].id, channel="telegram", kind="photo",  # type: ignore[arg-type]
            file_id=f"f{number}", file_unique_id=f"u{number}",
        ))
    for key in ("w1", "w2"):
        await reports.decide_result(
            session, official, registration_id=registrations[key].id,  # type: ignore[arg-type]
            achieved=True, note=None, now=now,
        )
    await session.flush()
    if requires_approval:  # from now on: m3's registration waits for the official
        movement.requires_approval = True
        registrations["m3"] = await register(
            session, member=people["m3"], movement=movement, title_code="LDTT", now=now
        )
    return Fixture(tree, movement, official, people, registrations)


# --- statistics ----------------------------------------------------------------------------------


async def test_statistics_match_the_hand_computed_fixture(session: AsyncSession) -> None:
    f = await fixture(session)
    # Another movement's registrations and another district's members count for nothing here.
    other = await make_movement(session, f.tree["district"], "Dạy tốt – học tốt")
    await register(session, member=f.people["w6"], movement=other, title_code="LDTT",
                   now=utcnow())
    elsewhere = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                kind=OrgKind.INDUSTRY_UNION, parent=f.tree["edu"])
    await make_member(session, await make_unit(session, "Trường THCS Ngô Sĩ Liên",
                                               parent=elsewhere), "Lý Thị Oanh")

    stats = await reports.statistics(session, f.official, movement_id=f.movement.id)  # type: ignore[arg-type]

    assert stats.root.id == f.tree["district"].id
    assert stats.total == reports.Numbers(
        members=10, women=7, registered=6, registered_women=4, assessed=3, assessed_women=3,
        achieved=2, achieved_women=2,
    )
    vi = [
        reports.format_share(part, whole, "vi")
        for part, whole in ((6, 10), (4, 7), (3, 10), (3, 7), (2, 10), (2, 7))
    ]
    assert vi == ["60,0%", "57,1%", "30,0%", "42,9%", "20,0%", "28,6%"]
    assert [(unit.name, numbers) for unit, numbers in stats.children] == [  # type: ignore[union-attr]
        ("Trường THCS Nguyễn Trãi", reports.Numbers(6, 5, 4, 3, 3, 3, 2, 2)),
        ("Trường Tiểu học Nguyễn Du", reports.Numbers(4, 2, 2, 1, 0, 0, 0, 0)),
    ]
    assert [(t.code, t.name, t.achieved, t.achieved_women) for t in stats.titles] == [
        ("GVTDVN", "Giỏi việc trường, đảm việc nhà", 2, 2)
    ]
    assert stats.collective_registered == 0

    # One level down: the school, on its own.
    school = await reports.statistics(
        session, f.official, movement_id=f.movement.id, unit_id=f.tree["du"].id,  # type: ignore[arg-type]
    )
    assert school.total == reports.Numbers(4, 2, 2, 1, 0, 0, 0, 0) and school.children == []


async def test_an_erased_registrant_counts_in_the_totals_but_not_among_women(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    lan = await make_member(session, f.tree["trai"], "Nguyễn Thị Lan", telegram_id=7001)
    await register(session, member=lan, movement=f.movement, title_code="GVTDVN", now=utcnow())
    before = (await reports.statistics(session, f.official, movement_id=f.movement.id)).total  # type: ignore[arg-type]
    assert (before.members, before.women, before.registered, before.registered_women) == (
        11, 8, 7, 5
    )
    identity = (await actor_of(session, lan)).identity
    await erase_member(session, identity)
    await session.flush()
    after = (await reports.statistics(session, f.official, movement_id=f.movement.id)).total  # type: ignore[arg-type]
    # Gone from the members (erased), still a registrant, no longer a woman.
    assert (after.members, after.women, after.registered, after.registered_women) == (10, 7, 7, 4)


def test_numbers_read_the_vietnamese_and_the_english_way() -> None:
    assert reports.format_count(2760, "vi") == "2.760"
    assert reports.format_count(2760, "en") == "2,760"
    assert reports.format_count(150000, "vi") == "150.000"
    assert reports.format_share(2760, 3143, "vi") == "87,8%"
    assert reports.format_share(2760, 3143, "en") == "87.8%"
    assert reports.format_share(123456, 10, "vi") == "1.234.560,0%"
    assert reports.format_share(1, 0, "vi") == "—"


# --- registrants ---------------------------------------------------------------------------------


async def test_registrants_are_counted_per_unit_by_status_and_title_and_named_page_by_page(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    overview = await reports.registrants_overview(
        session, f.official, movement_id=f.movement.id,  # type: ignore[arg-type]
    )
    assert overview.total_units == 2
    assert overview.by_status == {"registered": 3, "submitted": 1, "achieved": 2}
    trai, du = overview.units
    assert (trai.unit.name, trai.registered) == ("Trường THCS Nguyễn Trãi", 4)
    assert trai.by_status == {"registered": 1, "submitted": 1, "achieved": 2}
    assert trai.by_title == {"GVTDVN": 2, "LDTT": 2}
    assert du.by_status == {"registered": 2} and du.by_title == {"GVTDVN": 1, "CSTDCS": 1}

    page2 = await reports.registrants_overview(
        session, f.official, movement_id=f.movement.id, offset=1, limit=1,  # type: ignore[arg-type]
    )
    assert [unit.unit.name for unit in page2.units] == ["Trường Tiểu học Nguyễn Du"]

    _, unit, first, total = await reports.unit_registrants(
        session, f.official, movement_id=f.movement.id, unit_id=f.tree["trai"].id, limit=3,  # type: ignore[arg-type]
        now=utcnow(), tz=VIETNAM,
    )
    assert unit.id == f.tree["trai"].id and total == 4  # the withdrawn one is not listed
    assert [row.name for row in first] == ["Lê Thị Bích", "Nguyễn Thị An", "Phạm Thu Cúc"]
    _, _, rest, _ = await reports.unit_registrants(
        session, f.official, movement_id=f.movement.id, unit_id=f.tree["trai"].id,  # type: ignore[arg-type]
        offset=3, limit=3, now=utcnow(), tz=VIETNAM,
    )
    assert [row.name for row in rest] == ["Vũ Văn Em"]
    # Titles without requirements ("Lao động tiên tiến", …) carry no check.
    assert [row.requirements for row in first + rest] == [None] * 4


async def test_registrants_aiming_at_a_title_with_requirements_carry_their_check(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    long = f.people["m2"]  # Trịnh Văn Long aims at "Chiến sĩ thi đua cơ sở"
    _, _, rows, _ = await reports.unit_registrants(
        session, f.official, movement_id=f.movement.id, unit_id=f.tree["du"].id,  # type: ignore[arg-type]
        now=utcnow(), tz=VIETNAM,
    )
    checks = {row.name: row.requirements for row in rows}
    assert checks["Bùi Thị Hà"] is None
    check = checks["Trịnh Văn Long"]
    assert check is not None and check.member_id == long.id
    # His own registration would count as "Lao động tiên tiến": its result is still to come;
    # no initiative of his is recognised.
    assert [item.outcome for item in check.requirements] == [Outcome.PENDING, Outcome.MISSING]
    assert check.outcome is Outcome.MISSING


async def test_a_registration_awaiting_approval_is_approved_or_refused_and_audited(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    official = await actor_of(session, await make_official(session, tree["district"]))
    movement = await make_movement(session, tree["district"], requires_approval=True)
    now = utcnow()
    lan = await make_member(session, tree["trai"], "Nguyễn Thị Lan")
    binh = await make_member(session, tree["du"], "Trần Thị Bình")
    first = await register(session, member=lan, movement=movement, title_code="LDTT", now=now)
    second = await register(session, member=binh, movement=movement, title_code="LDTT", now=now)
    assert first.status == RegistrationStatus.AWAITING_APPROVAL

    await reports.decide_approval(session, official, registration_id=first.id, approve=True,  # type: ignore[arg-type]
                                  now=now)
    await reports.decide_approval(session, official, registration_id=second.id, approve=False,  # type: ignore[arg-type]
                                  now=now)
    assert (first.status, second.status) == ("registered", "withdrawn")
    with pytest.raises(NotAllowed, match="results_not_awaiting"):
        await reports.decide_approval(session, official, registration_id=first.id,  # type: ignore[arg-type]
                                      approve=False, now=now)
    entries = (await session.exec(
        select(AuditEntry).where(AuditEntry.target_type == "registration")
        .order_by(col(AuditEntry.id))
    )).all()
    assert [(e.action, e.target_id, e.before["status"], e.after["status"]) for e in entries] == [  # type: ignore[index]
        ("approve_registration", first.id, "awaiting_approval", "registered"),
        ("refuse_registration", second.id, "awaiting_approval", "withdrawn"),
    ]
    # Whom to tell: the member.
    assert await reports.recipients_of(session, second) == [binh]


async def test_a_result_is_given_audited_and_may_change_along_the_allowed_path(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    now = utcnow()
    w3 = f.registrations["w3"]
    view, changed = await reports.decide_result(
        session, f.official, registration_id=w3.id, achieved=True,  # type: ignore[arg-type]
        note="  Xuất sắc  ", now=now,
    )
    assert changed and view.registration is w3
    assert (w3.status, w3.result_note, w3.decided_by_member_id, w3.decided_at) == (
        "achieved", "Xuất sắc", f.official.member_id, now
    )
    # The same again changes nothing; the other result is allowed; a withdrawn one is not.
    _, changed = await reports.decide_result(
        session, f.official, registration_id=w3.id, achieved=True, note="Xuất sắc", now=now,  # type: ignore[arg-type]
    )
    assert not changed
    await reports.decide_result(
        session, f.official, registration_id=w3.id, achieved=False, note=None, now=now,  # type: ignore[arg-type]
    )
    assert (w3.status, w3.result_note) == ("not_achieved", None)
    with pytest.raises(NotAllowed, match="registration_state"):
        await reports.decide_result(
            session, f.official, registration_id=f.registrations["w4"].id, achieved=True,  # type: ignore[arg-type]
            note=None, now=now,
        )
    with pytest.raises(InvalidInput, match="results_note_too_long"):
        await reports.decide_result(
            session, f.official, registration_id=w3.id, achieved=True,  # type: ignore[arg-type]
            note="x" * (reports.NOTE_MAX + 1), now=now,
        )
    decided = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "decide_registration",
                                 AuditEntry.target_id == w3.id)
        .order_by(col(AuditEntry.id))
    )).all()
    assert [(e.before["status"], e.after["status"]) for e in decided] == [  # type: ignore[index]
        ("submitted", "achieved"), ("achieved", "not_achieved"),
    ]
    # An archived movement takes no more results.
    f.movement.status = MovementStatus.ARCHIVED
    with pytest.raises(NotAllowed, match="results_movement_not_running"):
        await reports.decide_result(
            session, f.official, registration_id=w3.id, achieved=True, note=None, now=now,  # type: ignore[arg-type]
        )


async def test_a_collective_result_is_told_to_the_unit_officials(session: AsyncSession) -> None:
    tree = await make_tree(session)
    district = await actor_of(session, await make_official(session, tree["district"]))
    chair_member = await make_official(session, tree["trai"], "Nguyễn Văn Chủ")
    chair = await actor_of(session, chair_member)
    movement = await make_movement(session, tree["district"])
    collective = await register_unit(session, chair, unit=tree["trai"], movement=movement,
                                     title_code="TTLDXS", now=utcnow())
    await reports.decide_result(session, district, registration_id=collective.id,  # type: ignore[arg-type]
                                achieved=True, note=None, now=utcnow())
    assert await reports.recipients_of(session, collective) == [chair_member]
    stats = await reports.statistics(session, district, movement_id=movement.id)  # type: ignore[arg-type]
    assert (stats.collective_registered, stats.collective_achieved) == (1, 1)
    assert stats.total.registered == 0  # the members' shares leave collective titles out


# --- export --------------------------------------------------------------------------------------


def read_workbook(content: bytes) -> dict[str, list[tuple[Any, ...]]]:
    workbook = load_workbook(io.BytesIO(content))
    return {
        sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets
    }


async def test_the_export_has_a_summary_and_one_sheet_per_unit(session: AsyncSession) -> None:
    f = await fixture(session)
    # A formula typed as a commitment stays text.
    f.registrations["m2"].commitment = "=HYPERLINK(\"http://x\")"
    session.add(Evidence(
        registration_id=f.registrations["w3"].id, channel="telegram", kind="document",  # type: ignore[arg-type]
        file_id="doc", file_unique_id="udoc", file_name="Kế hoạch.pdf",
    ))
    await session.flush()
    content = await reports.export_xlsx(
        session, f.official, movement_id=f.movement.id, translate=translate(),  # type: ignore[arg-type]
        tz=VIETNAM, now=utcnow(),
    )
    sheets = read_workbook(content)
    assert list(sheets) == ["Tổng hợp", "Trường THCS Nguyễn Trãi", "Trường Tiểu học Nguyễn Du"]
    summary = sheets["Tổng hợp"]
    assert summary[0][0] == f.movement.name
    assert summary[1] == (
        "Đơn vị", "Đoàn viên", "Người đăng ký", "% đoàn viên", "Nữ đăng ký",
        "% nữ trong người đăng ký", "Đã đánh giá", "Đạt",
    )
    assert summary[2:] == [
        ("Trường THCS Nguyễn Trãi", 6, 4, 0.6667, 3, 0.75, 3, 2),
        ("Trường Tiểu học Nguyễn Du", 4, 2, 0.5, 1, 0.5, 0, 0),
        ("Tổng cộng", 10, 6, 0.6, 4, 0.6667, 3, 2),
    ]
    trai = sheets["Trường THCS Nguyễn Trãi"]
    assert trai[0][0] == f"Trường THCS Nguyễn Trãi — {f.movement.name}"
    assert trai[1][0] == "Mã đăng ký (không sửa)" and trai[1][-1] == "Kết quả (Đạt / Không đạt)"
    rows = {row[1]: row for row in trai[2:]}
    assert list(rows) == ["Lê Thị Bích", "Nguyễn Thị An", "Phạm Thu Cúc", "Vũ Văn Em"]
    cuc = rows["Phạm Thu Cúc"]
    assert cuc[0] == f.registrations["w3"].id
    assert trai[1][4:6] == ("Danh hiệu", "Điều kiện danh hiệu")
    assert cuc[2:8] == ("Giáo viên", "Nữ", "Lao động tiên tiến", None, "Cam kết của w3",
                        "Đã nộp tự đánh giá")
    assert trai[1][9:11] == ("Số minh chứng", "Tệp minh chứng")
    assert cuc[8] is not None and cuc[9] == 3 and cuc[11] is None and cuc[13] is None
    assert cuc[10] == "ảnh; ảnh; Kế hoạch.pdf"  # unnamed photos, then the document by its name
    assert rows["Nguyễn Thị An"][9:12] == (0, None, "Đạt")
    du = {row[1]: row for row in sheets["Trường Tiểu học Nguyễn Du"][2:]}
    assert du["Trịnh Văn Long"][4:7] == (
        "Chiến sĩ thi đua cơ sở",
        "✗ Thiếu: Có sáng kiến được công nhận từ cấp trường trở lên trong năm học 2026-2027 · "
        "… Chờ: Đạt “Lao động tiên tiến” năm học 2026-2027 (chờ kết quả năm học 2026-2027)",
        "=HYPERLINK(\"http://x\")",  # text, not a formula
    )
    entry = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "export_registrations")
    )).one()
    assert entry.after == {"units": 2, "rows": 6}


def test_sheet_names_are_short_valid_and_unique() -> None:
    long = "Trường Trung học phổ thông chuyên Hà Nội – Amsterdam"
    names = reports.sheet_names(
        [long, long, "Tổng hợp", "Trường A/B: [cơ sở 2]?", "'Trích'"], taken=["Tổng hợp"]
    )
    assert all(len(name) <= 31 for name in names)
    assert len({name.casefold() for name in [*names, "Tổng hợp"]}) == len(names) + 1
    assert names[0] == long[:31] and names[1].endswith(" (2)")
    assert names[2] == "Tổng hợp (2)"
    assert names[3] == "Trường A B cơ sở 2"
    assert names[4] == "Trích"


# --- results from the workbook -------------------------------------------------------------------


async def exported(session: AsyncSession, f: Fixture, locale: str = "vi") -> bytes:
    return await reports.export_xlsx(
        session, f.official, movement_id=f.movement.id, translate=translate(locale),  # type: ignore[arg-type]
        tz=ZoneInfo("Asia/Ho_Chi_Minh"), now=utcnow(),
    )


def filled(content: bytes, results: dict[Any, tuple[str, str | None]],
           extra: list[tuple[str, list[Any]]] = ()) -> bytes:  # type: ignore[assignment]
    """The exported workbook with results (and notes) written against registration ids, and
    `extra` rows appended to the named sheets."""
    workbook = load_workbook(io.BytesIO(content))
    for sheet in workbook.worksheets[1:]:
        for row in sheet.iter_rows(min_row=3):
            if row[0].value in results:
                value, note = results[row[0].value]
                row[13].value = value
                if note is not None:
                    row[12].value = note
    for title, values in extra:
        workbook[title].append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def import_(session: AsyncSession, f: Fixture, content: bytes, **kwargs: Any) -> Any:
    return await reports.import_results(
        session, f.official, movement_id=f.movement.id, filename="ket qua.xlsx",  # type: ignore[arg-type]
        content=content, now=utcnow(), **kwargs,
    )


async def test_results_come_back_from_the_export_and_a_second_import_changes_nothing(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    r = f.registrations
    content = filled(await exported(session, f), {
        r["w3"].id: ("Đạt", "Hồ sơ đầy đủ"),
        r["m1"].id: ("không đạt", None),
        r["w5"].id: ("x", None),
        r["m2"].id: ("Not achieved", None),
        r["w1"].id: ("Đạt", None),  # already achieved, no note: unchanged
    })
    result = await import_(session, f, content)
    assert result.applied and result.bad_rows == []
    assert sorted(reg.id for reg in result.changed) == sorted(
        [r["w3"].id, r["m1"].id, r["w5"].id, r["m2"].id]
    )
    assert result.unchanged == 1
    assert [(r[k].status, r[k].result_note) for k in ("w3", "m1", "w5", "m2")] == [
        ("achieved", "Hồ sơ đầy đủ"), ("not_achieved", None), ("achieved", None),
        ("not_achieved", None),
    ]
    assert r["w3"].decided_by_member_id == f.official.member_id
    imports = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "import_results")
    )).all()
    assert [entry.after["changed"] for entry in imports] == [4]  # type: ignore[index]

    again = await import_(session, f, content)
    assert again.applied and again.changed == [] and again.unchanged == 5
    # The English export reads back the same way.
    english = filled(await exported(session, f, "en"), {r["w3"].id: ("achieved", None)})
    assert (await import_(session, f, english)).unchanged == 1


async def test_every_bad_row_is_named_and_nothing_changes_unless_the_valid_rows_are_chosen(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    r = f.registrations
    other_movement = await make_movement(session, f.tree["district"], "Dạy tốt – học tốt")
    stranger = await register(session, member=f.people["w6"], movement=other_movement,
                              title_code="LDTT", now=utcnow())
    content = filled(
        await exported(session, f),
        {
            r["w3"].id: ("Đạt", None),        # valid
            r["m1"].id: ("Giỏi", None),       # not a result
        },
        extra=[
            ("Trường THCS Nguyễn Trãi", [999999, "Ai đó", *[None] * 11, "Đạt"]),
            ("Trường THCS Nguyễn Trãi", [stranger.id, "Hoàng Thị Giang", *[None] * 11, "Đạt"]),
            ("Trường THCS Nguyễn Trãi", [r["w4"].id, "Đỗ Thị Dung", *[None] * 11, "Đạt"]),
            ("Trường Tiểu học Nguyễn Du", ["abc", "Bùi Thị Hà", *[None] * 11, "Đạt"]),
            ("Trường Tiểu học Nguyễn Du", [None, "Không mã", *[None] * 11, "Đạt"]),
            ("Trường Tiểu học Nguyễn Du", [r["m2"].id, "Trịnh Văn Long", *[None] * 11, "Đạt"]),
            ("Trường Tiểu học Nguyễn Du", [r["m2"].id, "Trịnh Văn Long", *[None] * 11, "Đạt"]),
        ],
    )
    result = await import_(session, f, content)
    assert not result.applied and result.changed == []
    assert r["w3"].status == "submitted"  # nothing applied
    problems = {
        (row.sheet, row.number): [problem.code for problem in row.problems]
        for row in result.bad_rows
    }
    m1_row = next(row.number for row in result.rows if row.registration_id == r["m1"].id)
    assert problems == {
        ("Trường THCS Nguyễn Trãi", m1_row): ["results_value_invalid"],
        ("Trường THCS Nguyễn Trãi", 7): ["results_registration_unknown"],
        ("Trường THCS Nguyễn Trãi", 8): ["results_other_movement"],
        ("Trường THCS Nguyễn Trãi", 9): ["results_state"],
        ("Trường Tiểu học Nguyễn Du", 5): ["results_id_invalid"],
        ("Trường Tiểu học Nguyễn Du", 6): ["results_id_missing"],
        ("Trường Tiểu học Nguyễn Du", 7): ["results_duplicate"],
        ("Trường Tiểu học Nguyễn Du", 8): ["results_duplicate"],
    }
    report = read_workbook(reports.results_report(result, translate()))
    rows = report["Lỗi"]
    assert rows[0] == ("Trang", "Dòng", "Mã đăng ký (không sửa)", "Kết quả ghi", "Lỗi cần sửa")
    assert ("Trường THCS Nguyễn Trãi", 7, "999999", "Đạt", "không có đăng ký mã 999999") in rows

    valid = await import_(session, f, content, valid_rows=True)
    assert valid.applied and [reg.id for reg in valid.changed] == [r["w3"].id]
    assert r["w3"].status == "achieved" and r["m1"].status == "registered"


async def test_a_file_that_is_not_an_export_is_refused_whole(session: AsyncSession) -> None:
    f = await fixture(session)
    from openpyxl import Workbook

    plain = Workbook()
    plain.active.append(["Họ và tên", "Số điện thoại"])  # type: ignore[union-attr]
    plain.active.append(["Nguyễn Thị An", "0912345678"])  # type: ignore[union-attr]
    buffer = io.BytesIO()
    plain.save(buffer)
    for content, filename, code in (
        (buffer.getvalue(), "ds.xlsx", "results_no_columns"),
        (b"not a zip", "ds.xlsx", "results_file_unreadable"),
        (b"a,b", "ds.csv", "results_file_type"),
        (await exported(session, f), "ds.xlsx", "results_empty"),
    ):
        with pytest.raises(InvalidInput, match=code):
            await reports.import_results(
                session, f.official, movement_id=f.movement.id, filename=filename,  # type: ignore[arg-type]
                content=content, now=utcnow(),
            )


# --- scope ---------------------------------------------------------------------------------------


async def test_an_official_of_another_district_gets_nothing_and_forged_ids_are_refused(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    elsewhere = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                kind=OrgKind.INDUSTRY_UNION, parent=f.tree["edu"])
    stranger = await actor_of(session, await make_official(session, elsewhere, "Lê Văn Lạ"))
    chair = await actor_of(session, await make_official(session, f.tree["trai"], "Chủ tịch"))
    movement_id = f.movement.id
    w3 = f.registrations["w3"].id
    for actor in (stranger, chair):  # another district; a school below the owner
        calls = [
            reports.registrants_overview(session, actor, movement_id=movement_id),  # type: ignore[arg-type]
            reports.unit_registrants(session, actor, movement_id=movement_id,  # type: ignore[arg-type]
                                     unit_id=f.tree["trai"].id, now=utcnow(), tz=VIETNAM),  # type: ignore[arg-type]
            reports.statistics(session, actor, movement_id=movement_id),  # type: ignore[arg-type]
            reports.export_xlsx(session, actor, movement_id=movement_id,  # type: ignore[arg-type]
                                translate=translate(), tz=None, now=utcnow()),  # type: ignore[arg-type]
            reports.registration_for_official(session, actor, registration_id=w3),  # type: ignore[arg-type]
            reports.decide_result(session, actor, registration_id=w3, achieved=True,  # type: ignore[arg-type]
                                  note=None, now=utcnow()),
            reports.import_results(session, actor, movement_id=movement_id,  # type: ignore[arg-type]
                                   filename="x.xlsx", content=b"PK", now=utcnow()),
        ]
        for call in calls:
            with pytest.raises(NotAllowed, match="not_allowed"):
                await call
    assert f.registrations["w3"].status == "submitted"
    with pytest.raises(NotFound, match="movement_gone"):
        await reports.statistics(session, f.official, movement_id=987654)
    with pytest.raises(NotFound, match="results_registration_gone"):
        await reports.registration_for_official(session, f.official, registration_id=987654)
    # A unit of the official's scope that the movement does not target is not listed either.
    outside_target = await make_movement(session, f.tree["district"], targets=[f.tree["du"]])
    with pytest.raises(NotFound, match="reports_unit_not_in_movement"):
        await reports.unit_registrants(session, f.official, movement_id=outside_target.id,  # type: ignore[arg-type]
                                       unit_id=f.tree["trai"].id, now=utcnow(), tz=VIETNAM)  # type: ignore[arg-type]
    # Stats of a unit outside the official's scope: refused.
    with pytest.raises(NotAllowed):
        await reports.statistics(session, f.official, movement_id=movement_id,  # type: ignore[arg-type]
                                 unit_id=elsewhere.id)


async def test_the_evidence_of_a_registration_is_given_only_to_officials_running_it(
    session: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    f = await fixture(session)
    w3 = f.registrations["w3"].id
    files = await reports.evidence_of(session, f.official, registration_id=w3)  # type: ignore[arg-type]
    assert [(e.kind, e.file_id) for e in files] == [("photo", "f0"), ("photo", "f1")]
    assert await reports.evidence_of(
        session, f.official, registration_id=f.registrations["w1"].id  # type: ignore[arg-type]
    ) == []
    english = translate("en")
    assert [reports.evidence_name(e.kind, e.file_name, english) for e in files] == [
        "photo", "photo"
    ]
    assert reports.evidence_name("document", "Báo cáo.docx", translate()) == "Báo cáo.docx"

    elsewhere = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                kind=OrgKind.INDUSTRY_UNION, parent=f.tree["edu"])
    stranger = await actor_of(session, await make_official(session, elsewhere, "Lê Văn Lạ"))
    chair = await actor_of(session, await make_official(session, f.tree["trai"], "Chủ tịch"))
    member = await actor_of(session, f.people["w3"])
    for actor in (stranger, chair, member):  # another district; a school; the member herself
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="models.access"), pytest.raises(
            NotAllowed, match="not_allowed"
        ):
            await reports.evidence_of(session, actor, registration_id=w3)  # type: ignore[arg-type]
        assert f"identity {actor.identity.id}" in caplog.text
    with pytest.raises(NotFound, match="results_registration_gone"):
        await reports.evidence_of(session, f.official, registration_id=987654)


async def test_a_movement_for_everyone_shows_an_official_only_their_scope(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    elsewhere = await make_unit(session, "Công đoàn Giáo dục quận Hoàn Kiếm",
                                kind=OrgKind.INDUSTRY_UNION, parent=tree["edu"])
    far_school = await make_unit(session, "Trường THCS Ngô Sĩ Liên", parent=elsewhere)
    official = await actor_of(session, await make_official(session, tree["district"]))
    movement = await make_movement(session, tree["district"], everyone=True)
    far = await make_member(session, far_school, "Lý Thị Oanh")
    near = await make_member(session, tree["trai"], "Nguyễn Thị Lan")
    now = utcnow()
    far_registration = await register(session, member=far, movement=movement,
                                      title_code="LDTT", now=now)
    near_registration = await register(session, member=near, movement=movement,
                                       title_code="LDTT", now=now)
    stats = await reports.statistics(session, official, movement_id=movement.id)  # type: ignore[arg-type]
    assert (stats.total.members, stats.total.registered) == (1, 1)
    overview = await reports.registrants_overview(session, official, movement_id=movement.id)  # type: ignore[arg-type]
    assert [unit.unit.name for unit in overview.units] == [
        "Trường THCS Nguyễn Trãi", "Trường Tiểu học Nguyễn Du"
    ]
    with pytest.raises(NotAllowed):
        await reports.decide_result(session, official, registration_id=far_registration.id,  # type: ignore[arg-type]
                                    achieved=True, note=None, now=now)
    # In a workbook, the same registration is a row outside the official's scope.
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Mã đăng ký", "Kết quả"])  # type: ignore[union-attr]
    workbook.active.append([far_registration.id, "Đạt"])  # type: ignore[union-attr]
    workbook.active.append([near_registration.id, "Đạt"])  # type: ignore[union-attr]
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = await reports.import_results(
        session, official, movement_id=movement.id, filename="kq.xlsx",  # type: ignore[arg-type]
        content=buffer.getvalue(), now=now,
    )
    assert [(row.number, [p.code for p in row.problems]) for row in result.bad_rows] == [
        (2, ["results_out_of_scope"])
    ]
    assert far_registration.status == "registered"
    # An official above both districts sees both: the owner's schools, then the rest apart.
    city = await actor_of(session, await make_official(session, tree["edu"], "Lê Văn Thành"))
    wide = await reports.statistics(session, city, movement_id=movement.id)  # type: ignore[arg-type]
    assert (wide.root.id, wide.total.members, wide.total.registered) == (tree["district"].id, 2, 2)
    assert [(unit.name if unit else None, n.registered) for unit, n in wide.children] == [
        ("Trường THCS Nguyễn Trãi", 1), (None, 1),
    ]


async def test_an_administrator_sees_every_unit(session: AsyncSession) -> None:
    tree = await make_tree(session)
    admin = await actor_of(session, await make_official(session, tree["city"], role=Role.ADMIN))
    movement = await make_movement(session, tree["district"])
    await make_member(session, tree["du"], "Trần Thị Bình", position=Position.STAFF)
    stats = await reports.statistics(session, admin, movement_id=movement.id)  # type: ignore[arg-type]
    assert stats.total.members == 1 and stats.total.women == 1


def test_every_workbook_text_exists_in_both_languages() -> None:
    catalogues = load_catalogues()
    for locale in ("vi", "en"):
        missing = [key for key in reports.WORKBOOK_KEYS if key not in catalogues[locale]]
        assert missing == [], locale
