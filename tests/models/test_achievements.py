"""Members' records and the requirements of titles, without a chat: "Chiến sĩ thi đua cơ sở"
needs "Lao động tiên tiến" and an initiative recognised the same school year, the city-level
title three consecutive years of it and a city-level initiative within them; results still to
come are "not decided yet"; co-authors' recognitions count; erased members have no record; the
bulk check for a movement's registrants says the same as the check of one member, in a few
queries; and the import of titles achieved before the bot."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook
from sqlalchemy import event
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import load_catalogues, load_translator
from models import achievements as ach
from models.achievements import Aim, Outcome, RequirementKind, TitleAward
from models.audit import AuditEntry
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiatives import (
    Initiative,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
)
from models.members import Identity, Member, MemberStatus
from models.movements import Movement, MovementStatus, Registration, RegistrationStatus
from models.org import OrgUnit
from models.privacy import erase_member
from tests.factories import (
    actor_of,
    make_initiative,
    make_member,
    make_movement,
    make_official,
    make_tree,
)

NOW = datetime(2026, 10, 15, 3, 0, tzinfo=UTC)  # school year 2026-2027
THIS, LAST, BEFORE, EARLIER = "2026-2027", "2025-2026", "2024-2025", "2023-2024"
SCHOOL, DISTRICT, CITY = RecognitionLevel.SCHOOL, RecognitionLevel.DISTRICT, RecognitionLevel.CITY
CITY_TITLES = [
    {"code": "CSTDCTP", "name": "Chiến sĩ thi đua cấp thành phố", "collective": False},
    {"code": "CSTDCS", "name": "Chiến sĩ thi đua cơ sở", "collective": False},
    {"code": "LDTT", "name": "Lao động tiên tiến", "collective": False},
]
_certificates = iter(range(1, 10_000))


async def movement_of(session: AsyncSession, unit: OrgUnit, year: str) -> Movement:
    """The district's movement of a school year (its titles include the city-level one)."""
    found = (await session.exec(
        select(Movement).where(Movement.school_year == year, Movement.owner_unit_id == unit.id)
    )).first()
    if found is not None:
        return found
    movement = await make_movement(
        session, unit, f"Dạy tốt – học tốt {year}", school_year=year,
        status=MovementStatus.OPEN if year == THIS else MovementStatus.CLOSED,
    )
    movement.titles = [*movement.titles, CITY_TITLES[0]]
    session.add(movement)
    await session.flush()
    return movement


async def registered(
    session: AsyncSession, member: Member, year: str, code: str,
    status: RegistrationStatus = RegistrationStatus.ACHIEVED, *, movement: Movement | None = None,
) -> Registration:
    """The member's registration for `code` in a movement of `year`, with its result (one
    movement per registration: a member registers once per movement)."""
    unit = await session.get(OrgUnit, member.unit_id)
    assert unit is not None
    if movement is None:
        movement = await make_movement(
            session, unit, f"Phong trào {code} {year} {member.id}", school_year=year,
            status=MovementStatus.CLOSED,
        )
        movement.titles = [*movement.titles, CITY_TITLES[0]]
    registration = Registration(
        movement_id=movement.id, registrant=f"m:{member.id}", member_id=member.id,  # type: ignore[arg-type]
        unit_id=member.unit_id, title_code=code, status=status, school_year=year,
    )
    session.add(registration)
    await session.flush()
    return registration


async def recognised(
    session: AsyncSession, author: Member, year: str, level: RecognitionLevel = SCHOOL, *,
    co_authors: list[Member | str] | None = None, title: str = "Dạy học theo trạm",
) -> Initiative:
    """An initiative by `author` (and co-authors) recognised at `level` in `year`."""
    initiative = await make_initiative(
        session, author, title, status=InitiativeStatus.ACCEPTED, co_authors=co_authors,
        school_year=year,
    )
    session.add(Recognition(
        initiative_id=initiative.id, level=level, unit_id=author.unit_id,  # type: ignore[arg-type]
        certificate_no=f"{next(_certificates)}/GCN", school_year=year,
    ))
    await session.flush()
    return initiative


async def awarded(
    session: AsyncSession, member: Member, year: str, code: str, name: str,
    decision: str | None = None,
) -> None:
    session.add(TitleAward(
        member_id=member.id, school_year=year, title_code=code, title_name=name,  # type: ignore[arg-type]
        decision=decision,
    ))
    await session.flush()


async def check(
    session: AsyncSession, member: Member, code: str = "CSTDCS", year: str = THIS,
    name: str | None = None,
) -> ach.TitleCheck | None:
    """The bulk check of one aim."""
    aim = Aim(member.id, code, name or {"CSTDCS": "Chiến sĩ thi đua cơ sở"}.get(  # type: ignore[arg-type]
        code, "Chiến sĩ thi đua cấp thành phố"
    ), year)
    return (await ach.check_aims(session, [aim], now=NOW)).get(aim)


def outcomes(found: ach.TitleCheck | None) -> dict[str, Outcome]:
    assert found is not None
    return {check.requirement.kind: check.outcome for check in found.requirements}


# --- the rules -----------------------------------------------------------------------------------


def test_titles_are_known_by_their_codes_or_their_names() -> None:
    assert ach.family_of("cstdcs") == "CSTDCS"
    for code in ("CSTDTP", "CSTDCTP", "CSTDCT", "CSTDCBBNT"):
        assert ach.family_of(code) == "CSTDTP"
    for name in (
        "Chiến sĩ thi đua cấp thành phố", "Chiến sĩ thi đua thành phố",
        "Chiến sĩ thi đua cấp tỉnh", "Chiến sĩ thi đua cấp bộ, ban, ngành, tỉnh",
    ):
        assert ach.rule_for("X1", name) is ach.TITLE_RULES["CSTDTP"]  # a code of one's own
    assert ach.rule_for("LDTT") is None and ach.rule_for("GVTDVN") is None
    # "cấp trường" has the initials of "cấp tỉnh" (CSTDCT) and is not a city-level title.
    assert ach.rule_for("CSTDCT", "Chiến sĩ thi đua cấp trường") is None
    assert ach.rule_for("CSTDCS", "Chiến sĩ thi đua cơ sở") is ach.TITLE_RULES["CSTDCS"]
    assert ach.years_ending(THIS, 3) == (BEFORE, LAST, THIS)
    assert ach.parse_school_year("2024 – 2025") == BEFORE
    for bad in ("2024-2026", "2024", "năm 2024"):
        with pytest.raises(InvalidInput):
            ach.parse_school_year(bad)


async def test_cstdcs_is_met_by_ldtt_and_a_school_initiative_of_the_same_year(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    await registered(session, lan, THIS, "LDTT")
    await recognised(session, lan, THIS)
    found = await check(session, lan)
    assert found is not None and found.outcome is Outcome.MET
    assert [c.years for c in found.requirements] == [(THIS,), (THIS,)]


async def test_last_years_titles_and_initiatives_do_not_count_this_year(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    await registered(session, lan, LAST, "LDTT")
    await recognised(session, lan, LAST, DISTRICT)
    this_year = await check(session, lan)
    assert outcomes(this_year) == {
        RequirementKind.TITLE: Outcome.MISSING, RequirementKind.INITIATIVE: Outcome.MISSING,
    }
    assert this_year.requirements[0].missing_years == (THIS,)  # type: ignore[union-attr]
    # Last year, though, she met both (a district-level initiative is "school level or higher").
    last_year = await check(session, lan, year=LAST)
    assert last_year is not None and last_year.outcome is Outcome.MET


async def test_a_cstdcs_achieved_counts_as_ldtt(session: AsyncSession) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    await registered(session, lan, LAST, "CSTDCS")
    await recognised(session, lan, LAST)
    assert outcomes(await check(session, lan, year=LAST))[RequirementKind.TITLE] is Outcome.MET
    # A title "not achieved" counts for nothing.
    hoa = await make_member(session, tree["trai"], "Lê Thị Hoa")
    await registered(session, hoa, LAST, "LDTT", RegistrationStatus.NOT_ACHIEVED)
    assert outcomes(await check(session, hoa, year=LAST))[RequirementKind.TITLE] is (
        Outcome.MISSING
    )


async def test_the_city_title_needs_three_consecutive_years_a_gap_breaks_them(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    await recognised(session, lan, LAST, CITY)
    for year in (EARLIER, BEFORE, THIS):  # four years, but 2025-2026 is missing
        await awarded(session, lan, year, "CSTDCS", "Chiến sĩ thi đua cơ sở")
    gap = await check(session, lan, "CSTDTP")
    assert gap is not None and gap.outcome is Outcome.MISSING
    titles = gap.requirements[0]
    assert (titles.have, titles.years, titles.missing_years) == (2, (BEFORE, LAST, THIS), (LAST,))
    translate = plain()
    assert ach.summary_text(gap, translate) == (
        "✗ Thiếu: Đạt “Chiến sĩ thi đua cơ sở” 3 năm học liên tục (2024-2025 đến 2026-2027) "
        "(mới có 2/3 năm, thiếu 2025-2026)"
    )

    await registered(session, lan, LAST, "CSTDCS")  # the missing year, from a movement
    filled = await check(session, lan, "CSTDTP")
    assert filled is not None and filled.outcome is Outcome.MET
    assert ach.summary_text(filled, translate) == "✓ Đủ điều kiện"


async def test_the_city_title_needs_a_city_level_initiative_within_the_three_years(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    for year in (BEFORE, LAST, THIS):
        await awarded(session, lan, year, "CSTDCS", "Chiến sĩ thi đua cơ sở")
    await recognised(session, lan, EARLIER, CITY)  # too long ago
    await recognised(session, lan, THIS, DISTRICT)  # not high enough
    initiative = (await check(session, lan, "CSTDTP")).requirements[1]  # type: ignore[union-attr]
    assert initiative.outcome is Outcome.MISSING and initiative.years == (BEFORE, LAST, THIS)
    await recognised(session, lan, BEFORE, CITY)
    assert (await check(session, lan, "CSTDTP")).outcome is Outcome.MET  # type: ignore[union-attr]


async def test_a_co_authors_recognition_counts_for_them(session: AsyncSession) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    binh = await make_member(session, tree["du"], "Trần Văn Bình")
    await recognised(session, lan, THIS, co_authors=[binh, "Cô Hạnh (trường khác)"])
    assert outcomes(await check(session, binh))[RequirementKind.INITIATIVE] is Outcome.MET
    record = await ach.record_of(session, binh, now=NOW)
    [year] = record.years
    assert [(i.title, i.level) for i in year.initiatives] == [("Dạy học theo trạm", SCHOOL)]


async def test_an_erased_member_has_no_record_and_their_co_author_keeps_the_recognition(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"], telegram_id=7001)
    binh = await make_member(session, tree["trai"], "Trần Văn Bình")
    await registered(session, lan, THIS, "LDTT")
    await awarded(session, lan, LAST, "CSTDCS", "Chiến sĩ thi đua cơ sở")
    await recognised(session, lan, THIS, co_authors=[binh])
    assert not (await ach.record_of(session, lan, now=NOW)).is_empty
    identity = (await session.exec(select(Identity).where(Identity.member_id == lan.id))).one()
    await erase_member(session, identity, now=NOW)

    record = await ach.record_of(session, lan, now=NOW)
    assert record.is_empty
    assert await check(session, lan) is None
    assert outcomes(await check(session, binh))[RequirementKind.INITIATIVE] is Outcome.MET


async def test_a_result_still_to_come_is_not_decided_yet(session: AsyncSession) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    ldtt = await registered(session, lan, THIS, "LDTT", RegistrationStatus.SUBMITTED)
    await recognised(session, lan, THIS)
    pending = await check(session, lan)
    assert pending is not None and pending.outcome is Outcome.PENDING
    assert pending.requirements[0].pending_years == (THIS,)
    assert ach.summary_text(pending, plain()) == (
        "… Chờ: Đạt “Lao động tiên tiến” năm học 2026-2027 (chờ kết quả năm học 2026-2027)"
    )
    ldtt.status = RegistrationStatus.NOT_ACHIEVED
    session.add(ldtt)
    await session.flush()
    assert (await check(session, lan)).outcome is Outcome.MISSING  # type: ignore[union-attr]

    # An initiative before the school's council this year: its decision is still to come.
    hoa = await make_member(session, tree["trai"], "Lê Thị Hoa")
    await registered(session, hoa, THIS, "LDTT")
    await make_initiative(session, hoa, status=InitiativeStatus.UNDER_REVIEW, school_year=THIS)
    assert outcomes(await check(session, hoa))[RequirementKind.INITIATIVE] is Outcome.PENDING
    # …but it cannot be last year's.
    assert outcomes(await check(session, hoa, year=LAST))[RequirementKind.INITIATIVE] is (
        Outcome.MISSING
    )


async def test_a_member_registered_for_cstdcs_waits_for_this_years_result(
    session: AsyncSession,
) -> None:
    """Her own registration is a title that would count as "Lao động tiên tiến": the result is
    still to come, whichever way it goes."""
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    movement = await movement_of(session, tree["district"], THIS)
    await registered(session, lan, THIS, "CSTDCS", RegistrationStatus.REGISTERED,
                     movement=movement)
    record = await ach.record_of(session, lan, now=NOW)
    [aim] = record.aims
    assert aim.movement == movement.name and aim.check.name == "Chiến sĩ thi đua cơ sở"
    assert outcomes(aim.check) == {
        RequirementKind.TITLE: Outcome.PENDING, RequirementKind.INITIATIVE: Outcome.MISSING,
    }
    assert aim.check.outcome is Outcome.MISSING


# --- the record ----------------------------------------------------------------------------------


async def test_the_record_lists_titles_and_initiatives_by_school_year(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"])
    await registered(session, lan, LAST, "LDTT")
    await registered(session, lan, LAST, "GVTDVN", RegistrationStatus.NOT_ACHIEVED)
    await awarded(session, lan, LAST, "LDTT", "Lao động tiên tiến", "QĐ 12/QĐ-CĐGD")  # the same
    await awarded(session, lan, BEFORE, "CSTDCS", "Chiến sĩ thi đua cơ sở", "QĐ 7/QĐ-CĐGD")
    initiative = await recognised(session, lan, LAST, title="Sổ tay số")
    session.add(Recognition(
        initiative_id=initiative.id, level=DISTRICT, unit_id=tree["district"].id,  # type: ignore[arg-type]
        certificate_no="88/GCN-Q", school_year=LAST,
    ))
    await session.flush()

    record = await ach.record_of(session, lan, now=NOW)
    assert record.current_year == THIS and record.aims == []
    assert [year.school_year for year in record.years] == [LAST, BEFORE]
    last, before = record.years
    assert [(t.name, t.movement is not None, t.decision) for t in last.titles] == [
        ("Lao động tiên tiến", True, None)
    ]
    assert [(i.level, i.certificate_no) for i in last.initiatives][1] == (DISTRICT, "88/GCN-Q")
    assert [(t.name, t.decision) for t in before.titles] == [
        ("Chiến sĩ thi đua cơ sở", "QĐ 7/QĐ-CĐGD")
    ]


async def test_officials_see_the_records_of_their_scope_only(session: AsyncSession) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"], telegram_id=7002)
    district = await actor_of(session, await make_official(session, tree["district"]))
    du = await actor_of(session, await make_official(session, tree["du"], "Chủ tịch CĐ Du"))
    colleague = await actor_of(session, await make_member(session, tree["trai"], "Lê Thị Hoa"))
    record = await ach.record_for_official(session, district, lan.id, now=NOW)  # type: ignore[arg-type]
    assert record.member.id == lan.id and record.unit is not None
    with pytest.raises(NotAllowed) as refused:
        await ach.record_for_official(session, du, lan.id, now=NOW)  # type: ignore[arg-type]
    assert refused.value.code == "not_allowed"
    with pytest.raises(NotAllowed) as refused:
        await ach.record_for_official(session, colleague, lan.id, now=NOW)  # type: ignore[arg-type]
    assert refused.value.code == "officials_only"
    with pytest.raises(NotFound):
        await ach.record_for_official(session, district, 987654, now=NOW)
    identity = (await session.exec(select(Identity).where(Identity.member_id == lan.id))).one()
    await erase_member(session, identity, now=NOW)
    with pytest.raises(NotFound):
        await ach.record_for_official(session, district, lan.id, now=NOW)  # type: ignore[arg-type]


async def test_only_approved_members_have_a_record_of_their_own(session: AsyncSession) -> None:
    tree = await make_tree(session)
    with pytest.raises(NotFound):
        await ach.my_record(session, None, now=NOW)
    waiting = await make_member(session, tree["trai"], status=MemberStatus.PENDING)
    with pytest.raises(NotAllowed):
        await ach.my_record(session, waiting, now=NOW)


# --- many at once --------------------------------------------------------------------------------


async def test_the_bulk_check_says_what_each_single_check_says_in_a_few_queries(
    session: AsyncSession, engine
) -> None:  # type: ignore[no-untyped-def]
    tree = await make_tree(session)
    movement = await movement_of(session, tree["district"], THIS)
    people: list[Member] = []
    for n in range(24):
        person = await make_member(session, tree["trai" if n % 2 else "du"], f"Người {n:02d}")
        people.append(person)
        code = "CSTDCTP" if n % 3 == 0 else "CSTDCS"
        await registered(session, person, THIS, code,
                         RegistrationStatus.REGISTERED, movement=movement)
        if n % 4:
            await registered(session, person, THIS, "LDTT",
                             (RegistrationStatus.ACHIEVED, RegistrationStatus.SUBMITTED)[n % 2])
        for year in (BEFORE, LAST)[: n % 3]:
            await awarded(session, person, year, "CSTDCS", "Chiến sĩ thi đua cơ sở")
        if n % 5 == 1:
            await recognised(session, person, (LAST, THIS)[n % 2], (SCHOOL, CITY)[n % 3 == 0])
        if n % 5 == 2:
            await make_initiative(session, person, status=InitiativeStatus.SUBMITTED,
                                  co_authors=[people[0]])
        if n % 5 == 0:
            await recognised(session, person, THIS)
    rows = (await session.exec(
        select(Registration).where(Registration.movement_id == movement.id)
    )).all()
    aims = [
        Aim(row.member_id, row.title_code, str(movement.title(row.title_code)["name"]),  # type: ignore[arg-type,index]
            row.school_year)
        for row in rows
    ]

    statements: list[str] = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine.sync_engine, "before_cursor_execute", listen)
    try:
        bulk = await ach.check_aims(session, aims, now=NOW)
        few = len(statements)
        statements.clear()
        await ach.check_aims(session, aims[:3], now=NOW)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listen)
    assert few == len(statements) <= 7  # the same few queries for 3 members or 24

    assert len(bulk) == 24
    seen = set()
    for person in people:
        [aim] = (await ach.record_of(session, person, now=NOW)).aims
        single = aim.check
        assert bulk[next(a for a in aims if a.member_id == person.id)] == single
        seen.add(single.outcome)
    assert seen == set(Outcome)


# --- words ---------------------------------------------------------------------------------------

TRANSLATOR = load_translator("vi")


def plain(locale: str = "vi") -> ach.Translate:
    return lambda key, **params: html.unescape(TRANSLATOR.t(locale, key, **params))


def test_every_text_key_is_in_both_catalogues() -> None:
    catalogues = load_catalogues()
    for locale in ("vi", "en"):
        assert [key for key in ach.TEXT_KEYS if key not in catalogues[locale]] == []


# --- titles achieved before the bot: the import ------------------------------------------------


def xlsx(rows: list[list[object]], header: list[str] | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["DANH SÁCH DANH HIỆU THI ĐUA"])  # a title row above the header
    sheet.append(header or ["Họ và tên", "Mã đoàn viên", "Số điện thoại", "Năm học",
                            "Danh hiệu", "Số quyết định"])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def import_(session: AsyncSession, unit: OrgUnit, content: bytes, name: str = "dh.xlsx"):  # type: ignore[no-untyped-def]
    return await ach.import_awards(
        session, None, filename=name, content=content, unit=unit, now=NOW
    )


async def test_a_good_file_records_titles_once_however_often_it_is_imported(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"], member_code="DV001")
    binh = await make_member(session, tree["du"], "Trần Văn Bình", phone="+84912345678")
    content = xlsx([
        ["Nguyễn Thị Lan", "DV001", None, "2023-2024", "Chiến sĩ thi đua cơ sở", "QĐ 5/QĐ-CĐGD"],
        ["Nguyễn Thị Lan", " DV001 ", None, "2024 - 2025", "CSTĐCS", None],
        ["Trần Văn Bình", None, "0912345678", "2025-2026", "Lao động tiên tiến", "QĐ 9"],
        # Excel dropped the phone's leading 0; the city-level title named the province's way.
        ["Trần Văn Bình", None, 912345678, "2025-2026", "Chiến sĩ thi đua cấp tỉnh", "QĐ 10"],
    ])
    result = await import_(session, tree["district"], content)
    assert result.bad_rows == [] and result.imported
    assert (result.created, result.updated, result.unchanged) == (4, 0, 0)
    awards = await ach.awards_of(session, lan.id)  # type: ignore[arg-type]
    assert [(a.school_year, a.title_code, a.title_name, a.decision) for a in awards] == [
        (EARLIER, "CSTDCS", "Chiến sĩ thi đua cơ sở", "QĐ 5/QĐ-CĐGD"),
        (BEFORE, "CSTDCS", "Chiến sĩ thi đua cơ sở", None),
    ]
    assert [(a.title_code, a.title_name) for a in await ach.awards_of(session, binh.id)] == [  # type: ignore[arg-type]
        ("LDTT", "Lao động tiên tiến"), ("CSTDTP", "Chiến sĩ thi đua cấp tỉnh"),
    ]

    again = await import_(session, tree["district"], content)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    entries = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "import_titles").order_by(AuditEntry.id)
    )).all()
    assert [(e.target_id, e.actor_member_id, (e.after or {})["created"]) for e in entries] == [
        (tree["district"].id, None, 4), (tree["district"].id, None, 0),
    ]

    # A corrected decision number updates the title, nothing else.
    changed = xlsx([["", "DV001", None, "2023-2024", "CSTDCS", "QĐ 5b/QĐ-CĐGD"]])
    result = await import_(session, tree["district"], changed)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)


async def test_a_file_with_bad_rows_records_nothing_and_names_each_row(
    session: AsyncSession,
) -> None:
    tree = await make_tree(session)
    await make_member(session, tree["trai"], member_code="DV001")
    await make_member(session, tree["trai"], "Lê Thị Hoa", phone="+84912000111")
    await make_member(session, tree["du"], "Lê Thị Hoà", phone="+84912000111")
    await make_member(session, tree["du"], "Ngô Văn Nam", member_code="DV009")
    content = xlsx([
        ["", "DV001", None, "2025-2026", "Lao động tiên tiến", None],  # row 3: right
        ["", "DV404", None, "2025-2026", "Lao động tiên tiến", None],  # 4: nobody
        ["", "DV001", None, "2025/2027", "", None],  # 5: two problems
        ["", "DV001", None, "2027-2028", "Tập thể lao động xuất sắc", None],  # 6: two again
        ["", None, "0912000111", "2025-2026", "Lao động tiên tiến", None],  # 7: two members
        ["", "DV001", None, "2025-2026", "LDTT", None],  # 8: row 3 again
        ["", None, None, "2025-2026", "Lao động tiên tiến", None],  # 9: whose?
    ])
    result = await import_(session, tree["district"], content)
    assert not result.imported
    problems = {row.number: [p.code for p in row.problems] for row in result.bad_rows}
    assert problems == {
        3: ["titles_repeated"],
        4: ["titles_member_unknown"],
        5: ["titles_year_invalid", "titles_title_missing"],
        6: ["titles_collective", "titles_year_future"],
        7: ["titles_phone_shared"],
        8: ["titles_repeated"],
        9: ["roster_no_code_or_phone"],
    }
    assert result.bad_rows[0].problems[0].params == {"rows": "3, 8"}
    assert (await session.exec(select(TitleAward))).all() == []
    # Only the district's own members: a school's file cannot name the other school's.
    outside = await import_(session, tree["trai"], xlsx([
        ["", "DV009", None, "2025-2026", "Lao động tiên tiến", None],
    ]))
    [row] = outside.bad_rows
    assert [(p.code, p.params) for p in row.problems] == [
        ("titles_member_out_of_scope", {"member": "DV009", "unit": tree["trai"].code}),
    ]


async def test_a_csv_with_english_headers_is_read_too(session: AsyncSession) -> None:
    tree = await make_tree(session)
    lan = await make_member(session, tree["trai"], member_code="DV001")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["Member code", "School year", "Title", "Decision number"])
    writer.writerow(["DV001", "2024-2025", "Lao động tiên tiến", "No. 3"])
    result = await import_(session, tree["trai"], buffer.getvalue().encode("utf-8-sig"),
                           "titles.csv")
    assert result.imported and result.created == 1
    assert [a.title_code for a in await ach.awards_of(session, lan.id)] == ["LDTT"]  # type: ignore[arg-type]


def test_a_file_that_cannot_be_one_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        ach.read_awards(filename="dh.xlsx", content=xlsx([["x"]], header=["Họ và tên", "Ghi chú"]))
    assert refused.value.code == "titles_missing_columns"
    with pytest.raises(InvalidInput) as refused:
        ach.read_awards(filename="dh.xlsx", content=xlsx([], header=["Năm học", "Danh hiệu"]))
    assert refused.value.code == "titles_missing_columns"
    assert "Mã đoàn viên (Member code) / Số điện thoại (Phone)" in str(
        refused.value.params["columns"]
    )
    with pytest.raises(InvalidInput) as refused:
        ach.read_awards(filename="dh.pdf", content=b"%PDF")
    assert refused.value.code == "roster_file_type"
    with pytest.raises(InvalidInput) as refused:
        ach.read_awards(filename="dh.xlsx", content=b"not a zip")
    assert refused.value.code == "roster_file_unreadable"
