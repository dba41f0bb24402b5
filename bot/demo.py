"""`unionbot demo-data`: a realistic sample to try the bot with, loaded once (idempotent).

A city federation, its education union, four district education unions, thirty schools with
real-sounding Vietnamese names in two emulation blocs across the districts, a few hundred
members with member codes, an invite code per school and two open emulation movements. Each
later feature adds its own sample (initiatives, announcements) here.
"""

from __future__ import annotations

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlmodel import func, select

from bot.database import SessionFactory
from models.base import fold, utcnow
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
        await session.commit()
        members = (await session.exec(select(func.count()).select_from(Member))).one()
        invites = (await session.exec(select(func.count()).select_from(Invite))).one()
    return (
        f"Loaded demo data: 1 federation, 5 education unions, {len(schools)} schools in "
        f"{len(BLOCS)} emulation blocs, {members} members, 2 open emulation movements, "
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
