"""`unionbot demo-data`: a realistic sample to try the bot with, loaded once (idempotent).

A city federation, its education union, four district education unions, thirty schools with
real-sounding Vietnamese names in two emulation blocs across the districts, a few hundred
members with member codes, an invite code per school, two open emulation movements, initiative
councils (reviewers) for each district and the city, and a few initiatives at every stage of
review. Each later feature adds its own sample (announcements) here.
"""

from __future__ import annotations

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, func, select

from bot.database import SessionFactory
from models.access import Role, RoleAssignment
from models.base import fold, utcnow
from models.initiatives import (
    Initiative,
    InitiativeAuthor,
    InitiativeField,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
    ReviewSeat,
    transition,
)
from models.members import Gender, Invite, Member, MemberStatus, Position, create_invite
from models.movements import Movement, MovementStatus, MovementTarget, school_year_of
from models.org import OrgKind, OrgUnit, create_unit
from models.units import create_bloc, tag_unit

ROOT_CODE = "LDLD-HN"

# Emulation blocs (cụm/khối thi đua) group schools of one level across the districts.
BLOCS = {"CUM-THCS": ("Cụm thi đua các trường THCS", "Trường THCS"),
         "KHOI-MN": ("Khối thi đua Mầm non", "Trường Mầm non")}

DISTRICTS = {
    "BD": ("Ba Đình", ["Trường THCS Nguyễn Trãi", "Trường Tiểu học Ngọc Hà",
                       "Trường Mầm non Hoa Sen", "Trường THPT Phan Đình Phùng",
                       "Trường THCS Thành Công", "Trường Tiểu học Kim Đồng",
                       "Trường THCS Giảng Võ", "Trường Mầm non Bé Ngoan"]),
    "HK": ("Hoàn Kiếm", ["Trường THCS Trưng Vương", "Trường Tiểu học Điện Biên",
                         "Trường THPT Trần Phú", "Trường Mầm non Hoa Mai",
                         "Trường THCS Ngô Sĩ Liên", "Trường Tiểu học Tràng An",
                         "Trường Tiểu học Hoàn Kiếm"]),
    "DD": ("Đống Đa", ["Trường THCS Đống Đa", "Trường Tiểu học Trung Tự",
                       "Trường THPT Kim Liên", "Trường Mầm non Quang Trung",
                       "Trường THCS Láng Thượng", "Trường Tiểu học Khương Thượng",
                       "Trường THCS Bế Văn Đàn", "Trường Tiểu học Nguyễn Du"]),
    "CG": ("Cầu Giấy", ["Trường THCS Cầu Giấy", "Trường Tiểu học Nghĩa Tân",
                        "Trường THPT Yên Hoà", "Trường Mầm non Hoạ Mi",
                        "Trường THCS Nghĩa Tân", "Trường Tiểu học Dịch Vọng",
                        "Trường THCS Mai Dịch"]),
}

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
          "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
MIDDLE_F = ["Thị", "Thu", "Ngọc", "Thanh", "Minh", "Hồng", "Phương", "Bích"]
MIDDLE_M = ["Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Thành", "Công"]
GIVEN_F = ["Lan", "Hương", "Hà", "Mai", "Hằng", "Trang", "Linh", "Nga", "Thảo", "Yến",
           "Dung", "Huyền", "Loan", "Oanh", "Vân", "Hạnh"]
GIVEN_M = ["Hùng", "Dũng", "Minh", "Tuấn", "Nam", "Sơn", "Long", "Quân", "Hải", "Khánh",
           "Thắng", "Bình"]


def _person(rng: random.Random) -> tuple[str, str]:
    # Education unions are about three-quarters women.
    if rng.random() < 0.75:
        return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE_F)} {rng.choice(GIVEN_F)}", Gender.FEMALE
    return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE_M)} {rng.choice(GIVEN_M)}", Gender.MALE


async def load_demo_data(sessions: SessionFactory, *, seed: int = 2026) -> str:
    """Loads the sample unless it is already there; returns a one-paragraph summary."""
    rng = random.Random(seed)
    async with sessions() as session:
        existing = (await session.exec(select(OrgUnit).where(OrgUnit.code == ROOT_CODE))).first()
        if existing is not None:
            return "Demo data is already loaded; nothing changed."
        city = await create_unit(
            session, code=ROOT_CODE, name="Liên đoàn Lao động Thành phố Hà Nội",
            kind=OrgKind.FEDERATION,
        )
        edu = await create_unit(
            session, code="CDGD-HN", name="Công đoàn Giáo dục Hà Nội",
            kind=OrgKind.INDUSTRY_UNION, parent=city,
        )
        schools: list[OrgUnit] = []
        for code, (district, names) in DISTRICTS.items():
            unit = await create_unit(
                session, code=f"CDGD-{code}", name=f"Công đoàn Giáo dục quận {district}",
                kind=OrgKind.INDUSTRY_UNION, parent=edu,
            )
            for i, name in enumerate(names, start=1):
                schools.append(
                    await create_unit(
                        session, code=f"{code}-{i:02d}", name=name,
                        kind=OrgKind.GRASSROOTS, parent=unit,
                    )
                )
        for code, (name, prefix) in BLOCS.items():
            bloc = await create_bloc(session, actor=None, name=name, code=code)
            for school in schools:
                if school.name.startswith(prefix):
                    await tag_unit(session, actor=None, unit=school, bloc=bloc)
        positions = [Position.TEACHER] * 7 + [Position.STAFF, Position.MANAGER, Position.OTHER]
        for school in schools:
            for number in range(1, rng.randint(8, 16) + 1):
                name, gender = _person(rng)
                session.add(
                    Member(
                        full_name=name,
                        full_name_folded=fold(name),
                        unit_id=school.id,  # type: ignore[arg-type]
                        position=rng.choice(positions),
                        gender=gender,
                        phone=f"+849{rng.randint(10_000_000, 99_999_999)}",
                        status=MemberStatus.ACTIVE,
                        locale="vi",
                        member_code=f"DV-{school.code}-{number:03d}",
                    )
                )
            await create_invite(
                session, code=f"DEMO-{school.code}", unit_id=school.id,  # type: ignore[arg-type]
                auto_approve=school is schools[0],
            )
        session.add_all(await _sample_movements(session, edu))
        await session.flush()
        initiatives = await _sample_initiatives(session, edu, schools)
        await session.commit()
        members = (await session.exec(select(func.count()).select_from(Member))).one()
        invites = (await session.exec(select(func.count()).select_from(Invite))).one()
    return (
        f"Loaded demo data: 1 federation, 5 education unions, {len(schools)} schools in "
        f"{len(BLOCS)} emulation blocs, {members} members, 2 open emulation movements, "
        f"initiative councils for each district and the city, {initiatives} initiatives, "
        f"{invites} invite codes (e.g. /start DEMO-{schools[0].code} joins "
        f"{schools[0].name} and is approved at once; /start DEMO-{schools[1].code} waits for "
        "approval)."
    )


async def _sample_movements(session, edu: OrgUnit) -> list[MovementTarget]:  # type: ignore[no-untyped-def]
    """Two open movements of the city's education union for all its schools: registration
    open for a month, self-assessment in May."""
    now = utcnow()
    year = school_year_of(now, ZoneInfo("Asia/Ho_Chi_Minh"))
    targets = []
    for name, description, titles in (
        ("Giỏi việc trường, đảm việc nhà", "Phong trào thi đua dành cho nữ cán bộ, giáo viên, "
         "người lao động ngành Giáo dục.",
         [{"code": "GVTDVN", "name": "Giỏi việc trường, đảm việc nhà", "collective": False}]),
        ("Dạy tốt – học tốt", "Thi đua đổi mới phương pháp dạy học, nâng cao chất lượng "
         "giáo dục.",
         [{"code": "LDTT", "name": "Lao động tiên tiến", "collective": False},
          {"code": "CSTDCS", "name": "Chiến sĩ thi đua cơ sở", "collective": False},
          {"code": "TTLDXS", "name": "Tập thể lao động xuất sắc", "collective": True}]),
    ):
        movement = Movement(
            name=f"{name} {year}", description=description,
            criteria=["Hoàn thành tốt nhiệm vụ chuyên môn", "Tích cực tham gia phong trào",
                      "Gia đình văn hoá, hạnh phúc"],
            titles=titles, owner_unit_id=edu.id,  # type: ignore[arg-type]
            registration_deadline=now + timedelta(days=30),
            assessment_opens=now + timedelta(days=31), assessment_closes=now + timedelta(days=60),
            status=MovementStatus.OPEN, school_year=year,
        )
        session.add(movement)
        await session.flush()
        targets.append(MovementTarget(movement_id=movement.id, unit_id=edu.id))
    return targets


INITIATIVES = [
    ("Dạy học theo trạm với phiếu học tập số môn Ngữ văn 7", InitiativeField.TEACHING),
    ("Sổ liên lạc điện tử kết nối phụ huynh qua Zalo", InitiativeField.DIGITAL),
    ("Xây dựng tủ sách lớp học do học sinh tự quản", InitiativeField.MORAL),
    ("Quản lý hồ sơ chuyên môn tổ bằng Google Drive dùng chung", InitiativeField.MANAGEMENT),
    ("Tổ chức 'Ngày hội gia đình công đoàn' gắn với phong trào Giỏi việc trường",
     InitiativeField.UNION),
    ("Trò chơi vận động phát triển thể chất cho trẻ 4–5 tuổi", InitiativeField.TEACHING),
]


async def _sample_initiatives(session, edu: OrgUnit, schools: list[OrgUnit]) -> int:  # type: ignore[no-untyped-def]
    """Three reviewers on each district's council and the city's, and an initiative from each
    of the first schools: two waiting at their school, two recognised there (one of them already
    forwarded to its district), one under review at its school, one returned for revision."""
    year = school_year_of(utcnow(), ZoneInfo("Asia/Ho_Chi_Minh"))
    districts = (await session.exec(select(OrgUnit).where(OrgUnit.parent_id == edu.id))).all()
    councils: dict[int, list[Member]] = {}
    for council in [*districts, edu]:
        below = [school.id for school in schools if school.parent_id == council.id] or [
            school.id for school in schools
        ]
        reviewers = (await session.exec(
            select(Member).where(col(Member.unit_id).in_(below)).order_by(col(Member.id))
            .offset(3).limit(3)
        )).all()
        councils[council.id] = list(reviewers)
        for reviewer in reviewers:
            session.add(RoleAssignment(member_id=reviewer.id, role=Role.REVIEWER,
                                       unit_id=council.id))
    stages = [
        [],
        [],
        [InitiativeStatus.UNDER_REVIEW, InitiativeStatus.ACCEPTED],
        [InitiativeStatus.UNDER_REVIEW, InitiativeStatus.ACCEPTED, InitiativeStatus.SUBMITTED],
        [InitiativeStatus.UNDER_REVIEW],
        [InitiativeStatus.UNDER_REVIEW, InitiativeStatus.RETURNED],
    ]
    for number, ((title, field), school, path) in enumerate(
        zip(INITIATIVES, schools, stages, strict=False), start=1
    ):
        author = (await session.exec(
            select(Member).where(Member.unit_id == school.id).order_by(col(Member.id))
        )).first()
        initiative = Initiative(
            submitter_member_id=author.id, title=title, field=field,
            problem="Học sinh còn thụ động; nhiều em chưa hoàn thành nhiệm vụ học tập ở nhà.",
            solution="Thiết kế chuỗi hoạt động theo nhóm, mỗi nhóm một nhiệm vụ và phiếu "
                     "đánh giá; giáo viên theo dõi tiến độ trên bảng tổng hợp.",
            first_applied_on=utcnow().date() - timedelta(days=120), applied_where=school.name,
            benefits="Tỉ lệ học sinh hoàn thành nhiệm vụ tăng từ 65% lên 90% sau một học kỳ.",
            confidential="", unit_id=school.id, origin_unit_id=school.id,
            level=RecognitionLevel.SCHOOL, school_year=year, submitted_at=utcnow(),
        )
        session.add(initiative)
        await session.flush()
        session.add(InitiativeAuthor(initiative_id=initiative.id, member_id=author.id,
                                     name=author.full_name, share=100))
        await transition(session, initiative, InitiativeStatus.SUBMITTED, actor_member_id=None)
        for to in path:
            if to == InitiativeStatus.UNDER_REVIEW:  # the district's council, its first chairs
                initiative.round += 1
                initiative.scoring_deadline = utcnow() + timedelta(days=14)
                scored = len(path) > 1
                for seat, reviewer in enumerate(councils[school.parent_id]):
                    session.add(ReviewSeat(
                        initiative_id=initiative.id, round=initiative.round,
                        reviewer_member_id=reviewer.id, is_chair=seat == 0,
                        novelty=7 + seat if scored else None,
                        effectiveness=8 if scored else None,
                        applicability=7 if scored else None,
                        comment="Giải pháp thiết thực, dễ nhân rộng." if scored else None,
                        scored_at=utcnow() if scored else None,
                    ))
            if to == InitiativeStatus.ACCEPTED:
                session.add(Recognition(
                    initiative_id=initiative.id, level=RecognitionLevel.SCHOOL,
                    unit_id=school.id, certificate_no=f"{number:02d}/QĐ-CĐCS",
                    school_year=year,
                ))
            if to == InitiativeStatus.RETURNED:
                initiative.council_comment = "Bổ sung số liệu so sánh trước và sau khi áp dụng."
            if to == InitiativeStatus.SUBMITTED:  # forwarded to the district
                initiative.unit_id = school.parent_id
                initiative.level = RecognitionLevel.DISTRICT
            await transition(session, initiative, to, actor_member_id=None)
    return min(len(INITIATIVES), len(schools))
