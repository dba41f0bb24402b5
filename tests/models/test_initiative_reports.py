"""The numbers and documents of initiatives, without a chat: the statistics checked against a
hand-built fixture (two districts, three schools, two school years, a forwarded initiative,
drafts), the council's workbook and one initiative's document read back, and who is refused."""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from openpyxl import load_workbook
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import load_catalogues, load_translator
from models import initiative_reports as reports
from models.access import Actor, Role, appoint
from models.audit import AuditEntry
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiatives import (
    Initiative,
    InitiativeField,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
    ReviewSeat,
    transition,
)
from models.members import Member
from models.org import OrgKind, OrgUnit
from tests.factories import (
    actor_of,
    make_initiative,
    make_member,
    make_official,
    make_reviewer,
    make_tree,
    make_unit,
)

S = InitiativeStatus
F = InitiativeField
L = RecognitionLevel
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The fixture's "now": March 2026, in the school year 2025-2026.
NOW = datetime(2026, 3, 10, 3, 0, tzinfo=UTC)
THIS_YEAR, LAST_YEAR = "2025-2026", "2024-2025"
TRANSLATOR = load_translator("vi")

# Chat accounts for the end-to-end tests.
DISTRICT_OFFICIAL_ID = 640001
CITY_OFFICIAL_ID = 640002
SCHOOL_OFFICIAL_ID = 640003
REVIEWER_IDS = {"r1": 640011, "r2": 640012, "r3": 640013}
AUTHOR_ID = 640021


def translate(locale: str = "vi") -> reports.Translate:
    return lambda key, **params: html.unescape(TRANSLATOR.t(locale, key, **params))


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 2, 0, tzinfo=UTC)


@dataclass
class Fixture:
    """A city (edu) with district A (Ba Đình: Nguyễn Trãi, Nguyễn Du, Lý Thái Tổ without
    initiatives) and district B (Hoàn Kiếm: Ngô Sĩ Liên), and initiatives by key:

    this school year (2025-2026):
    - forwarded (Nguyễn Trãi, teaching): recognised by the school and by district A, now
      submitted to the city;
    - scoring (Nguyễn Trãi, digital): under review at the school, three seats, two scored;
    - rejected (Nguyễn Trãi, teaching): rejected by the school in January;
    - waiting (Nguyễn Trãi, teaching): submitted, no council yet;
    - moral (Nguyễn Du, moral): recognised by the school;
    - returned (Nguyễn Du, teaching); resubmitted (Nguyễn Du, other);
    - elsewhere (Ngô Sĩ Liên, union): recognised by that school (outside district A);
    - draft (Nguyễn Du): never counted;
    last school year (2024-2025):
    - old (Nguyễn Trãi, teaching): recognised by the school last year;
    - late (Nguyễn Du, management): submitted last year, recognised by the school this year.
    """

    tree: dict[str, OrgUnit]
    people: dict[str, Member]
    initiatives: dict[str, Initiative]
    district_official: Actor
    city_official: Actor
    school_official: Actor


async def _move(
    session: AsyncSession,
    initiative: Initiative,
    to: S,
    when: datetime,
    *,
    comment: str | None = None,
    unit: OrgUnit | None = None,
    level: L | None = None,
) -> None:
    """A change of state as the review makes it, dated `when` (a move up sets unit and level
    first, as forwarding does)."""
    if unit is not None:
        initiative.unit_id, initiative.level = unit.id, level
    event = await transition(session, initiative, to, actor_member_id=None, comment=comment)
    event.at = when
    session.add(event)
    await session.flush()


async def _recognise(
    session: AsyncSession, initiative: Initiative, unit: OrgUnit, level: L, number: str,
    year: str, when: datetime,
) -> None:
    session.add(Recognition(
        initiative_id=initiative.id, level=level, unit_id=unit.id,  # type: ignore[arg-type]
        certificate_no=number, school_year=year, decided_at=when,
    ))
    await session.flush()


async def _seat(
    session: AsyncSession, initiative: Initiative, reviewer: Member, *, round: int = 1,
    chair: bool = False, scores: tuple[int, int, int] | None = None, comment: str | None = None,
    when: datetime | None = None,
) -> None:
    seat = ReviewSeat(
        initiative_id=initiative.id, round=round,  # type: ignore[arg-type]
        reviewer_member_id=reviewer.id, is_chair=chair,  # type: ignore[arg-type]
    )
    if scores is not None:
        seat.novelty, seat.effectiveness, seat.applicability = scores
        seat.comment, seat.scored_at = comment, when
    session.add(seat)
    await session.flush()


async def fixture(session: AsyncSession, *, chat: bool = False, start: int = 2025) -> Fixture:
    """The fixture above, its "this school year" starting in September of `start`; with `chat`,
    the officials, reviewers and Lan have Telegram accounts."""
    this_year, last_year = f"{start}-{start + 1}", f"{start - 1}-{start}"

    def day(month: int, number: int, *, last: bool = False) -> datetime:
        first = start - 1 if last else start
        return at(first if month >= 9 else first + 1, month, number)

    tree = await make_tree(session)
    tree["ly"] = await make_unit(session, "Trường Tiểu học Lý Thái Tổ", parent=tree["district"])
    tree["hoan_kiem"] = await make_unit(
        session, "Công đoàn Giáo dục quận Hoàn Kiếm", kind=OrgKind.INDUSTRY_UNION,
        parent=tree["edu"],
    )
    tree["ngo"] = await make_unit(session, "Trường THCS Ngô Sĩ Liên", parent=tree["hoan_kiem"])

    def tg(key: str) -> int | None:
        ids = {"lan": AUTHOR_ID, **REVIEWER_IDS}
        return ids.get(key) if chat else None

    people = {
        "lan": await make_member(session, tree["trai"], "Nguyễn Thị Lan", telegram_id=tg("lan")),
        "binh": await make_member(session, tree["trai"], "Trần Văn Bình"),
        "chi": await make_member(session, tree["du"], "Lê Thị Chi"),
        "dung": await make_member(session, tree["ngo"], "Phạm Văn Dũng"),
    }
    for key, name in (("r1", "Đỗ Thị Hoa"), ("r2", "Vũ Văn Khang"), ("r3", "Bùi Thị Mai")):
        people[key] = await make_reviewer(session, tree["trai"], name, telegram_id=tg(key))
    district_official = await actor_of(session, await make_official(
        session, tree["district"], "Trần Văn Hùng",
        telegram_id=DISTRICT_OFFICIAL_ID if chat else None,
    ))
    city_official = await actor_of(session, await make_official(
        session, tree["edu"], "Nguyễn Văn Anh",
        telegram_id=CITY_OFFICIAL_ID if chat else None, locale="en" if chat else None,
    ))
    school_official = await actor_of(session, await make_official(
        session, tree["trai"], "Hoàng Văn Sơn",
        telegram_id=SCHOOL_OFFICIAL_ID if chat else None,
    ))

    made: dict[str, Initiative] = {}

    async def initiative(key: str, author: str, title: str, field: F, *, year: str = this_year,
                         status: S = S.SUBMITTED, submitted: datetime | None = None,
                         **options) -> Initiative:  # type: ignore[no-untyped-def]
        found = await make_initiative(
            session, people[author], title, field=field, school_year=year, status=status,
            **options,
        )
        if submitted is not None:
            found.submitted_at = submitted
        made[key] = found
        return found

    # Forwarded: recognised by the school, then by the district; now waiting at the city.
    forwarded = await initiative(
        "forwarded", "lan", "Dạy học theo trạm với phiếu học tập số", F.TEACHING,
        co_authors=[people["binh"], "Ngô Thị Hằng"], shares=[50, 30, 20], attachments=2,
        submitted=day(10, 1),
    )
    forwarded.round = 1
    await _seat(session, forwarded, people["r1"], chair=True, scores=(8, 8, 8),
                comment="Đạt", when=day(11, 20))
    await _move(session, forwarded, S.UNDER_REVIEW, day(11, 1))
    await _move(session, forwarded, S.ACCEPTED, day(12, 1))
    await _recognise(session, forwarded, tree["trai"], L.SCHOOL, "05/QĐ-CĐCS", this_year,
                     day(12, 1))
    await _move(session, forwarded, S.SUBMITTED, day(12, 5), unit=tree["district"],
                level=L.DISTRICT)
    forwarded.round = 2
    await _move(session, forwarded, S.UNDER_REVIEW, day(1, 5))
    await _move(session, forwarded, S.ACCEPTED, day(2, 1))
    await _recognise(session, forwarded, tree["district"], L.DISTRICT, "21/QĐ-CĐGD",
                     this_year, day(2, 1))
    await _move(session, forwarded, S.SUBMITTED, day(2, 10), unit=tree["edu"],
                level=L.CITY)

    # Under review at the school: three seats, two scored (21 and 26), one waiting.
    scoring = await initiative(
        "scoring", "binh", "=Ứng dụng bản đồ tư duy số", F.DIGITAL, submitted=day(1, 15),
        attachments=1,
    )
    scoring.round = 1
    scoring.problem = "Học sinh khó ghi nhớ.\nCần một cách mới."
    await _move(session, scoring, S.UNDER_REVIEW, day(2, 1))
    await _seat(session, scoring, people["r1"], chair=True, scores=(7, 8, 6),
                comment="Cần thêm số liệu", when=day(2, 20))
    await _seat(session, scoring, people["r2"], scores=(9, 9, 8), comment="Rất hay",
                when=day(2, 21))
    await _seat(session, scoring, people["r3"])

    rejected = await initiative(
        "rejected", "lan", "Sổ tay chủ nhiệm điện tử", F.TEACHING, submitted=day(11, 3),
    )
    await _move(session, rejected, S.UNDER_REVIEW, day(12, 10))
    rejected.council_comment = "Trùng với sáng kiến đã công nhận năm trước."
    await _move(session, rejected, S.REJECTED, day(1, 10),
                comment=rejected.council_comment)
    await initiative("waiting", "lan", "Câu lạc bộ đọc sách", F.TEACHING,
                     submitted=day(3, 1))

    moral = await initiative("moral", "chi", "Giờ chào cờ kể chuyện Bác Hồ", F.MORAL)
    await _move(session, moral, S.UNDER_REVIEW, day(12, 1))
    await _move(session, moral, S.ACCEPTED, day(1, 20))
    await _recognise(session, moral, tree["du"], L.SCHOOL, "02/QĐ-ND", this_year,
                     day(1, 20))
    returned = await initiative("returned", "chi", "Bài tập về nhà phân hoá", F.TEACHING)
    await _move(session, returned, S.UNDER_REVIEW, day(12, 1))
    await _move(session, returned, S.RETURNED, day(12, 20), comment="Bổ sung số liệu")
    resubmitted = await initiative("resubmitted", "chi", "Tủ sách lớp học", F.OTHER)
    await _move(session, resubmitted, S.UNDER_REVIEW, day(12, 1))
    await _move(session, resubmitted, S.RETURNED, day(12, 20))
    await _move(session, resubmitted, S.RESUBMITTED, day(1, 5))

    elsewhere = await initiative("elsewhere", "dung", "Công đoàn số", F.UNION)
    await _move(session, elsewhere, S.UNDER_REVIEW, day(12, 1))
    await _move(session, elsewhere, S.ACCEPTED, day(1, 2))
    await _recognise(session, elsewhere, tree["ngo"], L.SCHOOL, "07/QĐ", this_year,
                     day(1, 2))
    await initiative("draft", "chi", "Bản nháp", F.TEACHING, status=S.DRAFT)

    old = await initiative("old", "lan", "Trò chơi ô chữ", F.TEACHING, year=last_year,
                           submitted=day(3, 1, last=True))
    await _move(session, old, S.UNDER_REVIEW, day(4, 1, last=True))
    await _move(session, old, S.ACCEPTED, day(5, 1, last=True))
    await _recognise(session, old, tree["trai"], L.SCHOOL, "11/QĐ", last_year,
                     day(5, 1, last=True))
    late = await initiative("late", "chi", "Lịch công tác số", F.MANAGEMENT, year=last_year)
    await _move(session, late, S.UNDER_REVIEW, day(8, 1, last=True))
    await _move(session, late, S.ACCEPTED, day(10, 1))
    await _recognise(session, late, tree["du"], L.SCHOOL, "01/QĐ-ND", this_year,
                     day(10, 1))
    return Fixture(tree, people, made, district_official, city_official, school_official)


def tally(submitted: int, **recognised: int) -> reports.Tally:
    return reports.Tally(submitted, recognised)


# --- statistics ----------------------------------------------------------------------------------


async def test_a_districts_numbers_match_the_hand_computed_fixture(session: AsyncSession) -> None:
    f = await fixture(session)
    stats = await reports.statistics(session, f.district_official, now=NOW, tz=TZ)

    assert (stats.root.id, stats.school_year) == (f.tree["district"].id, THIS_YEAR)
    # Seven come from the district this year (the forwarded one once, the draft and Ngô Sĩ
    # Liên's not at all), by where each stands now.
    assert stats.by_status == {
        S.SUBMITTED: 2, S.UNDER_REVIEW: 1, S.RETURNED: 1, S.RESUBMITTED: 1, S.ACCEPTED: 1,
        S.REJECTED: 1,
    }
    # Recognitions made by the district's units this year: the forwarded one at both levels,
    # and last year's "late" one, recognised this year.
    assert stats.total == tally(7, school=3, district=1)
    assert stats.by_field == {
        F.TEACHING: tally(4, school=1, district=1),
        F.MANAGEMENT: tally(0, school=1),
        F.MORAL: tally(1, school=1),
        F.DIGITAL: tally(1),
        F.OTHER: tally(1),
    }
    assert [(row.unit.name, row.tally) for row in stats.by_unit] == [
        ("Trường THCS Nguyễn Trãi", tally(4, school=1, district=1)),
        ("Trường Tiểu học Nguyễn Du", tally(3, school=2)),
    ]
    assert stats.quiet_units == 1  # Lý Thái Tổ
    assert stats.by_year == [(THIS_YEAR, tally(7, school=3, district=1)),
                             (LAST_YEAR, tally(2, school=1))]
    assert stats.years == [THIS_YEAR, LAST_YEAR]
    assert stats.parent is None and stats.other_scopes == []

    last = await reports.statistics(
        session, f.district_official, unit_id=f.tree["district"].id, school_year=LAST_YEAR,
        now=NOW, tz=TZ,
    )
    assert last.by_status == {S.ACCEPTED: 2}
    assert last.total == tally(2, school=1)
    assert [(row.unit.name, row.tally) for row in last.by_unit] == [
        ("Trường THCS Nguyễn Trãi", tally(1, school=1)),
        ("Trường Tiểu học Nguyễn Du", tally(1)),
    ]


async def test_the_citys_numbers_add_the_other_district_and_open_down_a_level(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    city = await reports.statistics(session, f.city_official, now=NOW, tz=TZ)
    assert city.root.id == f.tree["edu"].id
    assert city.by_status == {
        S.SUBMITTED: 2, S.UNDER_REVIEW: 1, S.RETURNED: 1, S.RESUBMITTED: 1, S.ACCEPTED: 2,
        S.REJECTED: 1,
    }
    assert city.total == tally(8, school=4, district=1)
    assert F.UNION in city.by_field
    assert [(row.unit.name, row.tally) for row in city.by_unit] == [
        ("Công đoàn Giáo dục quận Ba Đình", tally(7, school=3, district=1)),
        ("Công đoàn Giáo dục quận Hoàn Kiếm", tally(1, school=1)),
    ]
    # The city official opens a district and a school, and can go back up from each.
    district = await reports.statistics(
        session, f.city_official, unit_id=f.tree["district"].id, now=NOW, tz=TZ
    )
    assert district.total == tally(7, school=3, district=1)
    assert district.parent is not None and district.parent.id == f.tree["edu"].id
    assert district.other_scopes == []  # the way back is the unit above
    school = await reports.statistics(
        session, f.city_official, unit_id=f.tree["trai"].id, now=NOW, tz=TZ
    )
    assert school.total == tally(4, school=1) and school.by_unit == []
    assert school.parent is not None and school.parent.id == f.tree["district"].id
    # Administrators start from the top of the tree: the same numbers as the city's.
    admin = await actor_of(session, await make_official(session, f.tree["du"], "Quản Trị",
                                                        role=Role.ADMIN))
    top = await reports.statistics(session, admin, now=NOW, tz=TZ)
    assert top.root.id == f.tree["city"].id and top.total == city.total


async def test_an_official_of_several_units_gets_a_screen_per_scope(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    both = await make_official(session, f.tree["ngo"], "Lý Văn Tâm")
    for unit in ("district", "trai"):  # Nguyễn Trãi lies inside Ba Đình: one scope
        await appoint(session, None, member=both, role=Role.OFFICIAL, unit=f.tree[unit])
    actor = await actor_of(session, both)
    assert [unit.name for unit in await reports.stats_scopes(session, actor)] == [
        "Công đoàn Giáo dục quận Ba Đình", "Trường THCS Ngô Sĩ Liên",
    ]
    first = await reports.statistics(session, actor, now=NOW, tz=TZ)
    assert first.root.id == f.tree["district"].id
    assert [unit.id for unit in first.other_scopes] == [f.tree["ngo"].id]
    other = await reports.statistics(session, actor, unit_id=f.tree["ngo"].id, now=NOW, tz=TZ)
    assert other.total == tally(1, school=1)
    assert [unit.id for unit in other.other_scopes] == [f.tree["district"].id]


async def test_a_school_year_with_nothing_shows_zeros_and_the_years_with_data(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    empty = await reports.statistics(
        session, f.district_official, unit_id=f.tree["district"].id, school_year="2019-2020",
        now=NOW, tz=TZ,
    )
    assert empty.total == tally(0) and empty.by_status == {} and empty.by_unit == []
    assert empty.quiet_units == 3
    assert empty.years == [THIS_YEAR, LAST_YEAR]
    # Next September the current school year changes by itself.
    autumn = await reports.statistics(
        session, f.district_official, now=datetime(2026, 9, 1, 1, 0, tzinfo=UTC), tz=TZ
    )
    assert autumn.school_year == "2026-2027"


async def test_statistics_refuse_members_other_scopes_and_bad_years(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    member = await actor_of(session, f.people["lan"])
    with pytest.raises(NotAllowed) as refused:
        await reports.statistics(session, member, now=NOW, tz=TZ)
    assert refused.value.code == "officials_only"
    reviewer = await actor_of(session, f.people["r1"])
    with pytest.raises(NotAllowed):
        await reports.statistics(session, reviewer, now=NOW, tz=TZ)
    # A school's official asking for the district (a forged button): refused.
    with pytest.raises(NotAllowed) as refused:
        await reports.statistics(
            session, f.school_official, unit_id=f.tree["district"].id, now=NOW, tz=TZ
        )
    assert refused.value.code == "not_allowed"
    with pytest.raises(NotAllowed):
        await reports.statistics(
            session, f.district_official, unit_id=f.tree["ngo"].id, now=NOW, tz=TZ
        )
    with pytest.raises(NotFound):
        await reports.statistics(session, f.district_official, unit_id=987654, now=NOW, tz=TZ)
    for year in ("2025-2027", "2025", "20252026"):
        with pytest.raises(InvalidInput) as bad:
            await reports.statistics(
                session, f.district_official, unit_id=f.tree["district"].id, school_year=year,
                now=NOW, tz=TZ,
            )
        assert bad.value.code == "initiative_stats_year"


# --- the council's workbook ----------------------------------------------------------------------


def rows_of(sheet) -> list[list]:  # type: ignore[no-untyped-def]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def test_the_schools_workbook_holds_its_queue_and_this_years_decisions(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    export = await reports.export_queue_xlsx(
        session, f.school_official, unit_id=f.tree["trai"].id, translate=translate(), tz=TZ,
        now=NOW,
    )
    assert (export.unit.id, export.school_year, export.initiatives) == (
        f.tree["trai"].id, THIS_YEAR, 4
    )
    workbook = load_workbook(io.BytesIO(export.content))
    assert workbook.sheetnames == ["Hàng đợi", "Điểm chấm"]
    queue = workbook["Hàng đợi"]
    rows = rows_of(queue)
    assert rows[0][0] == "Sáng kiến — Trường THCS Nguyễn Trãi — năm học 2025-2026"
    assert rows[1][:8] == [
        "STT", "Mã sáng kiến", "Tên sáng kiến", "Lĩnh vực áp dụng",
        "Tác giả, đồng tác giả (tỉ lệ đóng góp)", "Công đoàn cơ sở đề xuất", "Trạng thái",
        "Ngày nộp",
    ]
    assert rows[1][13:] == [
        "Số tài liệu kèm theo", "Vòng xét", "Số phiếu đã chấm", "Điểm TB tính mới",
        "Điểm TB hiệu quả", "Điểm TB khả năng áp dụng", "Tổng điểm TB (/30)",
        "Độ chênh tổng điểm (cao nhất − thấp nhất)", "Số giấy chứng nhận", "Ý kiến của hội đồng",
    ]
    body = {row[1]: row for row in rows[2:]}
    ids = {key: f.initiatives[key].id for key in ("scoring", "waiting", "forwarded", "rejected")}
    # The council's work first (under review, then waiting), then what it decided this year;
    # last year's recognition and Nguyễn Du's initiatives are not the school's queue.
    assert [row[1] for row in rows[2:]] == [
        ids["scoring"], ids["waiting"], ids["forwarded"], ids["rejected"],
    ]
    assert [row[0] for row in rows[2:]] == [1, 2, 3, 4]

    scoring = body[ids["scoring"]]
    # A title that looks like a formula stays text.
    assert scoring[2] == "=Ứng dụng bản đồ tư duy số"
    assert queue.cell(row=3, column=3).data_type == "s"
    assert scoring[3:8] == [
        "Chuyển đổi số, công nghệ thông tin", "Trần Văn Bình — 100%", "Trường THCS Nguyễn Trãi",
        "hội đồng đang xét", "15/01/2026",
    ]
    assert scoring[8] == "Học sinh khó ghi nhớ.\nCần một cách mới."
    assert queue.cell(row=3, column=9).alignment.wrap_text
    assert queue.freeze_panes == "C3"  # the header and the titles stay in view
    assert scoring[10] == "15/09/2025 — Trường THCS Nguyễn Trãi"
    assert scoring[12] == "Không có"
    # Averages of the two scores in (21 and 26): 8, 8.5, 7; total 23.5; spread 5.
    assert scoring[13:21] == [1, 1, 2, 8, 8.5, 7, 23.5, 5]
    assert queue.cell(row=3, column=18).number_format == "0.00"

    forwarded = body[ids["forwarded"]]
    # Forwarded since: what this council decided, with its certificate.
    assert forwarded[4] == "Nguyễn Thị Lan — 50%\nTrần Văn Bình — 30%\nNgô Thị Hằng — 20%"
    assert forwarded[6] == "được công nhận"
    assert forwarded[21] == "05/QĐ-CĐCS"
    rejected = body[ids["rejected"]]
    assert (rejected[6], rejected[15], rejected[16]) == ("không được công nhận", 0, None)
    assert rejected[22] == "Trùng với sáng kiến đã công nhận năm trước."

    scores = rows_of(workbook["Điểm chấm"])
    assert scores[1] == [
        "Mã sáng kiến", "Tên sáng kiến", "Vòng xét", "Thành viên hội đồng", "Chủ tịch hội đồng",
        "Tính mới (0–10)", "Hiệu quả (0–10)", "Khả năng áp dụng, phạm vi (0–10)",
        "Tổng điểm (/30)", "Nhận xét", "Thời điểm chấm",
    ]
    assert sorted(scores[2:], key=lambda row: (row[0], row[2], row[4] != "Có")) == sorted([
        [ids["forwarded"], "Dạy học theo trạm với phiếu học tập số", 1, "Đỗ Thị Hoa", "Có",
         8, 8, 8, 24, "Đạt", "20/11/2025 09:00"],
        [ids["scoring"], "=Ứng dụng bản đồ tư duy số", 1, "Đỗ Thị Hoa", "Có", 7, 8, 6, 21,
         "Cần thêm số liệu", "20/02/2026 09:00"],
        [ids["scoring"], "=Ứng dụng bản đồ tư duy số", 1, "Vũ Văn Khang", "Không", 9, 9, 8, 26,
         "Rất hay", "21/02/2026 09:00"],
        [ids["scoring"], "=Ứng dụng bản đồ tư duy số", 1, "Bùi Thị Mai", "Không", None, None,
         None, None, None, None],
    ], key=lambda row: (row[0], row[2], row[4] != "Có"))

    [entry] = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "export_initiatives")
    )).all()
    assert (entry.target_type, entry.target_id) == ("unit", f.tree["trai"].id)
    assert entry.after == {"initiatives": 4, "seats": 4, "school_year": THIS_YEAR}


async def test_the_workbook_speaks_the_officials_language_and_an_empty_queue_is_a_file(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    export = await reports.export_queue_xlsx(
        session, f.city_official, unit_id=f.tree["ly"].id, translate=translate("en"), tz=TZ,
        now=NOW,
    )
    workbook = load_workbook(io.BytesIO(export.content))
    assert workbook.sheetnames == ["Queue", "Scores"]
    rows = rows_of(workbook["Queue"])
    assert rows[0][0] == "Initiatives — Trường Tiểu học Lý Thái Tổ — school year 2025-2026"
    assert rows[1][:3] == ["No.", "Initiative id", "Title"]
    assert len(rows) == 2 and export.initiatives == 0
    # The district's queue: the forwarded initiative was decided there this year.
    district = await reports.export_queue_xlsx(
        session, f.district_official, unit_id=f.tree["district"].id, translate=translate(),
        tz=TZ, now=NOW,
    )
    [row] = rows_of(load_workbook(io.BytesIO(district.content))["Hàng đợi"])[2:]
    assert (row[1], row[6], row[21]) == (
        f.initiatives["forwarded"].id, "được công nhận", "21/QĐ-CĐGD"
    )


async def test_an_official_who_wrote_initiatives_gets_them_without_the_councils_scores(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    await appoint(session, None, member=f.people["lan"], role=Role.OFFICIAL, unit=f.tree["trai"])
    export = await reports.export_queue_xlsx(
        session, await actor_of(session, f.people["lan"]), unit_id=f.tree["trai"].id,
        translate=translate(), tz=TZ, now=NOW,
    )
    workbook = load_workbook(io.BytesIO(export.content))
    queue = {row[1]: row for row in rows_of(workbook["Hàng đợi"])[2:]}
    assert len(queue) == 4
    forwarded = queue[f.initiatives["forwarded"].id]
    assert forwarded[15:21] == [0, None, None, None, None, None]
    assert queue[f.initiatives["scoring"].id][15:21] == [2, 8, 8.5, 7, 23.5, 5]
    seats = rows_of(workbook["Điểm chấm"])[2:]
    assert {row[0] for row in seats} == {f.initiatives["scoring"].id}


async def test_each_council_exports_its_own_rounds_not_the_councils_above(
    session: AsyncSession,
) -> None:
    """The forwarded initiative: round 1 sat at the school, round 2 at the district. The
    school's workbook shows its own round only; the district's shows round 2."""
    f = await fixture(session)
    forwarded = f.initiatives["forwarded"]
    quan = await make_reviewer(session, f.tree["district"], "Phan Văn Quân")
    thu = await make_reviewer(session, f.tree["district"], "Lê Thị Thu")
    await _seat(session, forwarded, quan, round=2, chair=True, scores=(9, 9, 9),
                comment="Đề nghị chuyển lên thành phố", when=at(2026, 1, 20))
    await _seat(session, forwarded, thu, round=2, scores=(7, 8, 9), comment="Tốt",
                when=at(2026, 1, 21))

    async def workbook(actor: Actor, unit: str):  # type: ignore[no-untyped-def]
        export = await reports.export_queue_xlsx(
            session, actor, unit_id=f.tree[unit].id, translate=translate(), tz=TZ, now=NOW,
        )
        return load_workbook(io.BytesIO(export.content))

    school = await workbook(f.school_official, "trai")
    row = next(row for row in rows_of(school["Hàng đợi"])[2:] if row[1] == forwarded.id)
    # Round 1, one seat scored 8, 8, 8: the district's scores are not the school's.
    assert row[14:21] == [1, 1, 8, 8, 8, 24, 0]
    seats = [row for row in rows_of(school["Điểm chấm"])[2:] if row[0] == forwarded.id]
    assert [(row[2], row[3]) for row in seats] == [(1, "Đỗ Thị Hoa")]

    district = await workbook(f.district_official, "district")
    [row] = rows_of(district["Hàng đợi"])[2:]
    assert row[14:21] == [2, 2, 8, 8.5, 9, 25.5, 3]
    assert [(row[2], row[3], row[4]) for row in rows_of(district["Điểm chấm"])[2:]] == [
        (2, "Phan Văn Quân", "Có"), (2, "Lê Thị Thu", "Không"),
    ]
    # What each council said with its decision is its own: the school's rejection reason stays
    # in the school's workbook.
    rejected = next(
        row for row in rows_of(school["Hàng đợi"])[2:]
        if row[1] == f.initiatives["rejected"].id
    )
    assert rejected[22] == "Trùng với sáng kiến đã công nhận năm trước."
    assert row[22] is None  # accepted: the certificate says it


async def test_the_workbook_is_refused_outside_the_councils_unit(session: AsyncSession) -> None:
    f = await fixture(session)
    other_school = await actor_of(session, await make_official(session, f.tree["du"], "Lê Dũng"))
    for actor, unit in (
        (other_school, "trai"), (f.school_official, "district"),
        (await actor_of(session, f.people["r1"]), "trai"),
        (await actor_of(session, f.people["lan"]), "trai"),
    ):
        with pytest.raises(NotAllowed):
            await reports.export_queue_xlsx(
                session, actor, unit_id=f.tree[unit].id, translate=translate(), tz=TZ, now=NOW,
            )
    with pytest.raises(NotFound):
        await reports.export_queue_xlsx(
            session, f.district_official, unit_id=987654, translate=translate(), tz=TZ, now=NOW,
        )
    assert (await session.exec(select(AuditEntry).where(
        AuditEntry.action == "export_initiatives"))).all() == []


# --- one initiative on paper ---------------------------------------------------------------------


async def district_reviewer(session: AsyncSession, f: Fixture, initiative: Initiative) -> Member:
    """A reviewer seated on round 2 (the district's council) of `initiative`."""
    quan = await make_reviewer(session, f.tree["district"], "Phan Văn Quân")
    await _seat(session, initiative, quan, round=2, chair=True)
    return quan


def text_of(content: bytes) -> tuple[list[str], list[list[list[str]]]]:
    """The document's paragraphs and its tables (rows of cell texts)."""
    document = Document(io.BytesIO(content))
    paragraphs = [paragraph.text for paragraph in document.paragraphs]
    tables = [[[cell.text for cell in row.cells] for row in table.rows]
              for table in document.tables]
    return paragraphs, tables


async def test_the_document_reads_like_the_request_with_its_history_and_scores(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    scoring = f.initiatives["scoring"]
    initiative, content = await reports.export_initiative_docx(
        session, f.school_official, initiative_id=scoring.id, translate=translate(), tz=TZ,  # type: ignore[arg-type]
        now=NOW,
    )
    assert initiative.id == scoring.id
    paragraphs, tables = text_of(content)
    assert paragraphs[:3] == [
        "ĐƠN YÊU CẦU CÔNG NHẬN SÁNG KIẾN",
        "Kính gửi: Hội đồng xét công nhận sáng kiến — Trường THCS Nguyễn Trãi",
        f"Mã sáng kiến: {scoring.id} · Cấp xét: cấp trường · Trạng thái: hội đồng đang xét · "
        "Năm học: 2025-2026",
    ]
    headings = [text for text in paragraphs if text[:2] in {f"{n}." for n in range(1, 9)}][:8]
    assert headings == [
        "1. Tên sáng kiến", "2. Lĩnh vực áp dụng", "3. Tác giả, đồng tác giả (tỉ lệ đóng góp)",
        "4. Vấn đề và thực trạng", "5. Nội dung, bản chất của giải pháp",
        "6. Ngày áp dụng lần đầu hoặc áp dụng thử, nơi áp dụng", "7. Lợi ích thu được",
        "8. Thông tin cần bảo mật",
    ]
    assert paragraphs[paragraphs.index("1. Tên sáng kiến") + 1] == "=Ứng dụng bản đồ tư duy số"
    assert paragraphs[paragraphs.index("4. Vấn đề và thực trạng") + 1] == (
        "Học sinh khó ghi nhớ.\nCần một cách mới."
    )
    assert "1. minh-chung-1.pdf" in paragraphs
    authors, events, council = tables
    assert authors == [["STT", "Họ và tên", "Tỉ lệ đóng góp"], ["1", "Trần Văn Bình", "100%"]]
    assert events == [
        ["Thời gian", "Trạng thái", "Đơn vị, cấp xét", "Ý kiến"],
        ["01/02/2026 09:00", "hội đồng đang xét", "Trường THCS Nguyễn Trãi — cấp trường", ""],
    ]
    assert council == [
        ["Thành viên hội đồng", "Tính mới (0–10)", "Hiệu quả (0–10)",
         "Khả năng áp dụng, phạm vi (0–10)", "Tổng điểm (/30)", "Nhận xét"],
        ["Đỗ Thị Hoa (chủ tịch)", "7", "8", "6", "21", "Cần thêm số liệu"],
        ["Vũ Văn Khang", "9", "9", "8", "26", "Rất hay"],
        ["Bùi Thị Mai", "", "", "", "", "chưa chấm"],
    ]
    assert (
        "Đã chấm 2/3 phiếu. Điểm trung bình: tính mới 8,00; hiệu quả 8,50; khả năng áp dụng "
        "7,00; tổng 23,50/30. Độ chênh tổng điểm: 5." in paragraphs
    )
    assert paragraphs[-1] == "Xuất từ UnionBot lúc 10/03/2026 10:00."
    [entry] = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "export_initiative_document")
    )).all()
    assert (entry.target_type, entry.target_id, entry.after) == (
        "initiative", scoring.id, {"round": 1}
    )


async def test_the_document_of_a_forwarded_initiative_lists_its_recognitions_in_english(
    session: AsyncSession,
) -> None:
    f = await fixture(session)
    forwarded = f.initiatives["forwarded"]
    # A control character pasted into a text (Word would refuse the file) is left out.
    forwarded.benefits = "Tỉ lệ hoàn thành tăng\x0c lên 92%."
    # Round 2 was the district's council: the city has not seated its own yet.
    quan = await make_reviewer(session, f.tree["district"], "Phan Văn Quân")
    await _seat(session, forwarded, quan, round=2, chair=True, scores=(9, 9, 9),
                comment="Đề nghị chuyển lên thành phố", when=at(2026, 1, 20))
    _, content = await reports.export_initiative_docx(
        session, f.city_official, initiative_id=forwarded.id, translate=translate("en"),  # type: ignore[arg-type]
        tz=TZ, now=NOW,
    )
    paragraphs, tables = text_of(content)
    assert "Tỉ lệ hoàn thành tăng lên 92%." in paragraphs
    assert paragraphs[0] == "REQUEST FOR RECOGNITION OF AN INITIATIVE"
    assert paragraphs[1] == "To: the initiative council of Công đoàn Giáo dục Hà Nội"
    assert tables[0][1:] == [
        ["1", "Nguyễn Thị Lan", "50%"], ["2", "Trần Văn Bình", "30%"],
        ["3", "Ngô Thị Hằng", "20%"],
    ]
    assert [row[1] for row in tables[1][1:]] == [
        "under review by the council", "recognised", "submitted, awaiting review",
        "under review by the council", "recognised", "submitted, awaiting review",
    ]
    assert tables[1][-1][2] == "Công đoàn Giáo dục Hà Nội — city level"
    assert (
        "Recognised by Trường THCS Nguyễn Trãi at school level, certificate no. 05/QĐ-CĐCS, "
        "school year 2025-2026." in paragraphs
    )
    assert (
        "Recognised by Công đoàn Giáo dục quận Ba Đình at district level, certificate no. "
        "21/QĐ-CĐGD, school year 2025-2026." in paragraphs
    )
    assert "No council has been seated for this initiative at its current level yet." in (
        paragraphs
    )
    assert "Phan Văn Quân" not in str(tables) and len(tables) == 2  # authors, history
    assert "1. minh-chung-1.pdf" in paragraphs and "2. minh-chung-2.pdf" in paragraphs


async def test_the_document_is_for_the_council_only(session: AsyncSession) -> None:
    f = await fixture(session)
    scoring = f.initiatives["scoring"]

    async def read(actor: Actor, initiative_id: int) -> bytes:
        return (await reports.export_initiative_docx(
            session, actor, initiative_id=initiative_id, translate=translate(), tz=TZ, now=NOW,
        ))[1]

    # A reviewer seated on the current round reads it (with the scores); the district's
    # official too.
    seated = await actor_of(session, f.people["r3"])
    assert "Bùi Thị Mai" in str(text_of(await read(seated, scoring.id))[1])  # type: ignore[arg-type]
    await read(f.district_official, scoring.id)  # type: ignore[arg-type]
    # Anyone else is refused: another school's official, a reviewer not seated on it (or only
    # on an earlier round), the author, a member.
    other_school = await actor_of(session, await make_official(session, f.tree["du"], "Lê Dũng"))
    forwarded = f.initiatives["forwarded"]
    for actor, initiative in (
        (other_school, scoring),
        (await actor_of(session, await make_reviewer(session, f.tree["trai"], "Lò Văn Tú")),
         scoring),
        (await actor_of(session, f.people["r1"]), forwarded),  # round 1 only; it is at round 2
        (await actor_of(session, f.people["binh"]), scoring),
        (f.school_official, forwarded),  # now at the city
        # The district council's reviewer: the initiative has gone up to the city since.
        (await actor_of(session, await district_reviewer(session, f, forwarded)), forwarded),
    ):
        with pytest.raises(NotAllowed):
            await read(actor, initiative.id)  # type: ignore[arg-type]
    # An author who is also an official of the unit: the council's paper is not for them.
    await appoint(session, None, member=f.people["binh"], role=Role.OFFICIAL, unit=f.tree["trai"])
    with pytest.raises(NotAllowed) as refused:
        await read(await actor_of(session, f.people["binh"]), scoring.id)  # type: ignore[arg-type]
    assert refused.value.code == "own_initiative"
    # A draft is its authors' own, even for an administrator.
    admin = await actor_of(session, await make_official(session, f.tree["du"], "Quản Trị",
                                                        role=Role.ADMIN))
    with pytest.raises(NotAllowed):
        await read(admin, f.initiatives["draft"].id)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await read(f.district_official, 987654)
    entries = (await session.exec(
        select(AuditEntry).where(AuditEntry.action == "export_initiative_document")
    )).all()
    assert len(entries) == 2


def test_every_word_of_the_files_is_translated_in_both_languages() -> None:
    catalogues = load_catalogues()
    for locale in ("vi", "en"):
        missing = [
            key for key in (*reports.WORKBOOK_KEYS, *reports.DOCUMENT_KEYS)
            if key not in catalogues[locale]
        ]
        assert missing == [], locale
