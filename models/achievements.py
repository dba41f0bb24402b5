"""Each member's record by school year: the titles they achieved and the initiatives recognised
with them as an author, and which titles' requirements they meet ("Chiến sĩ thi đua cơ sở" asks
for "Lao động tiên tiến" and a recognised initiative; higher titles ask for recognition at
higher levels over consecutive years).

Titles achieved through a movement are its registrations with the result "achieved"; titles
achieved before the bot was used (or outside it) are TitleAward rows recorded by officials
(`import_awards`, the CLI's `unionbot titles import`). An initiative counts for every author and
co-author who is a member (InitiativeAuthor.member_id), in the school year of each Recognition's
decision, at its level.

The requirements are data (TITLE_RULES, after Luật Thi đua, khen thưởng 2022 and Nghị định
98/2023), checked for a title aimed at in a school year:

- "Chiến sĩ thi đua cơ sở": "Lao động tiên tiến" that year (a higher title achieved counts as
  the lower ones), and an initiative recognised at school level or higher that year;
- "Chiến sĩ thi đua cấp thành phố / cấp tỉnh / cấp bộ, ban, ngành, tỉnh": "Chiến sĩ thi đua cơ
  sở" in each of the 3 consecutive school years ending with that year, and an initiative
  recognised at city level in one of those years.

Each requirement is met, missing, or not decided yet: a title whose result in a year is still to
come (the member is registered for it, or for a title that would count as it), or an initiative
still before a council at the level asked for, when the decision would fall in a year that
counts. The same check runs for one member (`record_of`, from their whole record) and for many
at once (`check_aims`, a few queries for a movement's hundreds of registrants); both build the
same `Facts` and judge them with the same `_judge`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, authorize, require_official
from models.base import UTCDateTime, fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiatives import (
    IN_QUEUE,
    LEVEL_ORDER,
    Initiative,
    InitiativeAuthor,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
)
from models.members import Member, MemberStatus, normalize_phone
from models.movement_admin import (
    STANDARD_TITLES,
    TITLE_NAME_MAX,
    TITLE_NAME_MIN,
    VIETNAM,
    standard_title,
    title_code,
)
from models.movements import (
    Movement,
    Registration,
    RegistrationStatus,
    registrations_of_member,
    school_year_of,
)
from models.org import OrgUnit
from models.roster import HEADER_NAMES as ROSTER_HEADERS
from models.roster import (
    HEADER_SEARCH_ROWS,
    MAX_ROWS,
    RosterColumn,
    cell_text,
    chunks,
    csv_rows,
    header_key,
    is_empty,
    phone_text,
    xlsx_rows,
)

log = logging.getLogger(__name__)

Translate = Callable[..., str]


class TitleAward(SQLModel, table=True):
    """A title a member achieved outside the bot's movements (an earlier year's decision),
    recorded by an official: one per member, school year and title."""

    __tablename__ = "title_award"
    __table_args__ = (UniqueConstraint("member_id", "school_year", "title_code"),)

    id: int | None = Field(default=None, primary_key=True)
    member_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("member.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    school_year: str = Field(sa_column=Column(String(9), nullable=False))
    title_code: str = Field(sa_column=Column(String(32), nullable=False))
    title_name: str = Field(sa_column=Column(String(255), nullable=False))
    # The decision it comes from ("Quyết định số 123/QĐ-CĐGD"), as typed.
    decision: str | None = Field(default=None, sa_column=Column(String(255)))
    recorded_by_member_id: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# --- the titles and their requirements, as data ------------------------------------------------

LDTT = "LDTT"
CSTDCS = "CSTDCS"
CSTDTP = "CSTDTP"

# The codes each title goes by (the first is the one kept): the standard codes are the names'
# initials (models.movement_admin.title_code), so every way of naming a city-level (or
# provincial, or ministry-level) "Chiến sĩ thi đua" lands in one family.
FAMILIES: dict[str, tuple[str, ...]] = {
    LDTT: (LDTT,),
    CSTDCS: (CSTDCS,),
    # "… cấp thành phố", "… thành phố", "… cấp tỉnh", "… cấp bộ, ban, ngành, tỉnh".
    CSTDTP: (CSTDTP, "CSTDCTP", "CSTDCT", "CSTDCBBNT"),
}
FAMILY_NAMES: dict[str, str] = {
    LDTT: "Lao động tiên tiến",
    CSTDCS: "Chiến sĩ thi đua cơ sở",
    CSTDTP: "Chiến sĩ thi đua cấp thành phố",
}
# A title achieved counts as the lower titles too (a "Chiến sĩ thi đua cơ sở" was a "Lao động
# tiên tiến" that year).
COUNTS_AS: dict[str, frozenset[str]] = {
    CSTDCS: frozenset({LDTT}),
    CSTDTP: frozenset({CSTDCS, LDTT}),
}
_ALIASES = {alias: family for family, aliases in FAMILIES.items() for alias in aliases}


class RequirementKind(StrEnum):
    TITLE = "title"  # a title achieved in each of the years
    INITIATIVE = "initiative"  # an initiative recognised at a level in one of the years


@dataclass(frozen=True)
class Requirement:
    """One thing a title asks for, over `years` consecutive school years ending with the one
    considered: a title (family code) each year, or an initiative recognised at `level` or
    higher in one of them."""

    kind: RequirementKind
    years: int = 1
    title: str | None = None
    level: RecognitionLevel | None = None


@dataclass(frozen=True)
class TitleRule:
    code: str
    requirements: tuple[Requirement, ...]


TITLE_RULES: dict[str, TitleRule] = {
    CSTDCS: TitleRule(CSTDCS, (
        Requirement(RequirementKind.TITLE, title=LDTT),
        Requirement(RequirementKind.INITIATIVE, level=RecognitionLevel.SCHOOL),
    )),
    CSTDTP: TitleRule(CSTDTP, (
        Requirement(RequirementKind.TITLE, years=3, title=CSTDCS),
        Requirement(RequirementKind.INITIATIVE, years=3, level=RecognitionLevel.CITY),
    )),
}

# Registrations whose result is still to come; initiatives still before a council.
UNDECIDED = (
    RegistrationStatus.AWAITING_APPROVAL, RegistrationStatus.REGISTERED,
    RegistrationStatus.SUBMITTED,
)
IN_REVIEW = (*IN_QUEUE, InitiativeStatus.UNDER_REVIEW, InitiativeStatus.RETURNED)


def _name_key(name: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", fold(name)))


# The names each family goes by, compared without accents, case or punctuation.
_FAMILY_BY_NAME = {
    _name_key(name): family
    for family, names in {
        LDTT: ("Lao động tiên tiến",),
        CSTDCS: ("Chiến sĩ thi đua cơ sở",),
        CSTDTP: (
            "Chiến sĩ thi đua cấp thành phố", "Chiến sĩ thi đua thành phố",
            "Chiến sĩ thi đua cấp tỉnh", "Chiến sĩ thi đua cấp bộ, ban, ngành, tỉnh",
        ),
    }.items()
    for name in names
}


def family_of(code: str, name: str | None = None) -> str:
    """The family a title counts in. Its name decides when it is one of the known names (a
    movement's own "Chiến sĩ thi đua cấp tỉnh" coded "CSTDT2" is still that title); a name that
    is none of them keeps the title out of the families unless its code is a family's own
    ("Chiến sĩ thi đua cấp trường" has the initials of "cấp tỉnh", CSTDCT, and is not it). Only
    a code with no name goes by the aliases."""
    code = (code or "").strip().upper()
    if name:
        known = _FAMILY_BY_NAME.get(_name_key(name))
        if known is not None:
            return known
        return code
    return _ALIASES.get(code, code)


def rule_for(code: str, name: str | None = None) -> TitleRule | None:
    """The requirements of a title, if it has any."""
    return TITLE_RULES.get(family_of(code, name))


def _counted(family: str) -> set[str]:
    return {family, *COUNTS_AS.get(family, ())}


# --- school years --------------------------------------------------------------------------------

_SCHOOL_YEAR = re.compile(r"(\d{4})\s*[-–—/]\s*(\d{4})")


def parse_school_year(text: str) -> str:
    """"2024-2025" (also "2024 - 2025", "2024–2025", "2024/2025") as stored: "2024-2025"."""
    match = _SCHOOL_YEAR.fullmatch(" ".join(text.split()))
    if match is None or int(match.group(2)) != int(match.group(1)) + 1:
        raise InvalidInput("titles_year_invalid", value=text)
    return f"{match.group(1)}-{match.group(2)}"


def years_ending(school_year: str, count: int) -> tuple[str, ...]:
    """The `count` consecutive school years ending with `school_year`, oldest first."""
    last = int(school_year[:4])
    return tuple(f"{start}-{start + 1}" for start in range(last - count + 1, last + 1))


def _rank(level: str | None) -> int:
    try:
        return LEVEL_ORDER.index(RecognitionLevel(level))
    except ValueError:
        return -1


# --- judging the requirements ------------------------------------------------------------------


class Outcome(StrEnum):
    MET = "met"
    MISSING = "missing"
    PENDING = "pending"  # not decided yet


@dataclass
class Facts:
    """What counts about one member: the title families achieved and still undecided, per
    school year (a title adds the ones it counts as); the levels recognised per school year;
    the levels of their initiatives still before a council."""

    achieved: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    undecided: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    recognised: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    in_review: set[str] = field(default_factory=set)

    def title(self, school_year: str, family: str, *, decided: bool) -> None:
        (self.achieved if decided else self.undecided)[school_year] |= _counted(family)


@dataclass(frozen=True)
class RequirementCheck:
    """A requirement judged: over which years, in how many of them it is met, and the years
    where it is missing or still to be decided."""

    requirement: Requirement
    outcome: Outcome
    years: tuple[str, ...]
    have: int
    missing_years: tuple[str, ...] = ()
    pending_years: tuple[str, ...] = ()


@dataclass(frozen=True)
class TitleCheck:
    """A member's requirements for a title aimed at in a school year."""

    member_id: int
    code: str  # the family
    name: str  # as the movement names it
    school_year: str
    requirements: tuple[RequirementCheck, ...]

    @property
    def outcome(self) -> Outcome:
        outcomes = {check.outcome for check in self.requirements}
        if Outcome.MISSING in outcomes:
            return Outcome.MISSING
        return Outcome.PENDING if Outcome.PENDING in outcomes else Outcome.MET


def _judge_requirement(
    requirement: Requirement, school_year: str, facts: Facts, current_year: str
) -> RequirementCheck:
    years = years_ending(school_year, requirement.years)
    if requirement.kind is RequirementKind.TITLE:
        wanted = requirement.title or ""
        have = [year for year in years if wanted in facts.achieved.get(year, ())]
        pending = [
            year for year in years
            if year not in have and wanted in facts.undecided.get(year, ())
        ]
        missing = [year for year in years if year not in have and year not in pending]
        outcome = (
            Outcome.MISSING if missing else Outcome.PENDING if pending else Outcome.MET
        )
        return RequirementCheck(
            requirement, outcome, years, len(have), tuple(missing), tuple(pending)
        )
    rank = _rank(requirement.level)
    have = [
        year for year in years
        if any(_rank(level) >= rank for level in facts.recognised.get(year, ()))
    ]
    if have:
        return RequirementCheck(requirement, Outcome.MET, years, len(have))
    # A decision still to come falls in the current school year: it counts only if that year
    # is one of the years considered.
    if current_year in years and any(_rank(level) >= rank for level in facts.in_review):
        return RequirementCheck(
            requirement, Outcome.PENDING, years, 0, pending_years=(current_year,)
        )
    return RequirementCheck(requirement, Outcome.MISSING, years, 0, missing_years=years)


def _judge(
    rule: TitleRule, *, member_id: int, name: str, school_year: str, facts: Facts,
    current_year: str,
) -> TitleCheck:
    return TitleCheck(
        member_id=member_id,
        code=rule.code,
        name=name,
        school_year=school_year,
        requirements=tuple(
            _judge_requirement(requirement, school_year, facts, current_year)
            for requirement in rule.requirements
        ),
    )


# --- one member's record -------------------------------------------------------------------------


@dataclass(frozen=True)
class AchievedTitle:
    school_year: str
    code: str  # the family
    name: str
    movement: str | None = None  # the movement it was achieved in
    decision: str | None = None  # or the decision recorded by an official


@dataclass(frozen=True)
class RecognisedInitiative:
    school_year: str
    initiative_id: int
    title: str
    level: str
    certificate_no: str


@dataclass
class YearRecord:
    school_year: str
    titles: list[AchievedTitle] = field(default_factory=list)
    initiatives: list[RecognisedInitiative] = field(default_factory=list)


@dataclass(frozen=True)
class AimedTitle:
    """A title the member is registered for this school year (or a later one), with its
    requirements judged."""

    movement: str
    check: TitleCheck


@dataclass
class Record:
    member: Member
    unit: OrgUnit | None
    current_year: str
    years: list[YearRecord]  # newest first
    aims: list[AimedTitle]

    @property
    def is_empty(self) -> bool:
        return not self.years and not self.aims


def _title_of(movement: Movement, code: str) -> str:
    title = movement.title(code)
    return str(title.get("name") or code) if title is not None else code


def _authored_by(member_ids: Sequence[int]) -> Any:
    """The ids of the initiatives the members wrote or co-wrote (a subquery)."""
    return select(InitiativeAuthor.initiative_id).where(
        col(InitiativeAuthor.member_id).in_(member_ids)
    )


async def record_of(
    session: AsyncSession, member: Member, *, now: datetime, tz: tzinfo = VIETNAM
) -> Record:
    """Everything the member achieved, by school year (newest first), and the requirements of
    the titles they aim at this school year. An erased member has no record: what remains of
    them counts for their union's numbers, not as anyone's achievements."""
    unit = await session.get(OrgUnit, member.unit_id)
    current_year = school_year_of(now, tz)
    if member.erased_at is not None:
        return Record(member, unit, current_year, [], [])
    facts = Facts()
    years: dict[str, YearRecord] = {}

    def year(school_year: str) -> YearRecord:
        return years.setdefault(school_year, YearRecord(school_year))

    aimed: list[tuple[Registration, Movement]] = []
    for registration, movement in await registrations_of_member(session, member):
        if registration.status == RegistrationStatus.WITHDRAWN:
            continue
        name = _title_of(movement, registration.title_code)
        family = family_of(registration.title_code, name)
        if registration.status == RegistrationStatus.ACHIEVED:
            facts.title(registration.school_year, family, decided=True)
            year(registration.school_year).titles.append(
                AchievedTitle(registration.school_year, family, name, movement=movement.name)
            )
        elif registration.status in UNDECIDED:
            facts.title(registration.school_year, family, decided=False)
        if registration.school_year >= current_year and rule_for(family) is not None:
            aimed.append((registration, movement))
    awards = await session.exec(
        select(TitleAward)
        .where(TitleAward.member_id == member.id)
        .order_by(col(TitleAward.school_year).desc(), col(TitleAward.id))
    )
    for award in awards.all():
        family = family_of(award.title_code, award.title_name)
        facts.title(award.school_year, family, decided=True)
        shown = year(award.school_year).titles
        if not any(title.code == family for title in shown):  # the same title from a movement
            shown.append(AchievedTitle(
                award.school_year, family, award.title_name, decision=award.decision
            ))
    theirs = _authored_by([member.id])  # type: ignore[list-item]
    recognitions = await session.exec(
        select(Recognition, Initiative.title)
        .join(Initiative, col(Initiative.id) == Recognition.initiative_id)
        .where(col(Recognition.initiative_id).in_(theirs))
        .order_by(col(Recognition.school_year).desc(), col(Recognition.decided_at),
                  col(Recognition.id))
    )
    for recognition, initiative_title in recognitions.all():
        facts.recognised[recognition.school_year].add(recognition.level)
        year(recognition.school_year).initiatives.append(RecognisedInitiative(
            recognition.school_year, recognition.initiative_id, initiative_title,
            recognition.level, recognition.certificate_no,
        ))
    in_review = await session.exec(
        select(Initiative.level).where(
            col(Initiative.id).in_(theirs), col(Initiative.status).in_(IN_REVIEW)
        )
    )
    facts.in_review = {level for level in in_review.all() if level is not None}
    aims = []
    for registration, movement in aimed:
        name = _title_of(movement, registration.title_code)
        rule = rule_for(registration.title_code, name)
        assert rule is not None
        aims.append(AimedTitle(movement.name, _judge(
            rule, member_id=member.id, name=name,  # type: ignore[arg-type]
            school_year=registration.school_year, facts=facts, current_year=current_year,
        )))
    return Record(
        member, unit, current_year,
        [years[key] for key in sorted(years, reverse=True)],
        aims,
    )


async def my_record(
    session: AsyncSession, member: Member | None, *, now: datetime, tz: tzinfo = VIETNAM
) -> Record:
    """The record a member asks for (/record): theirs, once they are an approved member."""
    if member is None:
        raise NotFound("record_not_member")
    if member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        raise NotAllowed("record_members_only")
    return await record_of(session, member, now=now, tz=tz)


async def record_for_official(
    session: AsyncSession, actor: Actor, member_id: int, *, now: datetime, tz: tzinfo = VIETNAM
) -> Record:
    """A member's record as an official of their union (or above) sees it from the member's
    card; anyone else is refused (and logged), an erased or unknown member is gone."""
    require_official(actor)
    member = await session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise NotFound("record_member_gone")
    await authorize(session, actor, Action.VIEW_MEMBER, member=member)
    return await record_of(session, member, now=now, tz=tz)


# --- many members at once ------------------------------------------------------------------------


@dataclass(frozen=True)
class Aim:
    """A member aiming at a title in a school year (a registration, as a movement lists it)."""

    member_id: int
    title_code: str
    title_name: str
    school_year: str


async def check_aims(
    session: AsyncSession, aims: Iterable[Aim], *, now: datetime, tz: tzinfo = VIETNAM
) -> dict[Aim, TitleCheck]:
    """The requirements of many members' titles at once (a movement's registrants): only the
    years that count are read, in six queries per 500 members whatever their number. Titles
    without requirements, and erased members, get no entry."""
    wanted: dict[Aim, TitleRule] = {}
    for aim in aims:
        rule = rule_for(aim.title_code, aim.title_name)
        if rule is not None:
            wanted[aim] = rule
    if not wanted:
        return {}
    current_year = school_year_of(now, tz)
    years: set[str] = set()
    for aim, rule in wanted.items():
        for requirement in rule.requirements:
            years |= set(years_ending(aim.school_year, requirement.years))
    member_ids = sorted({aim.member_id for aim in wanted})
    facts: dict[int, Facts] = {}
    for chunk in chunks(member_ids):
        facts.update(await _facts_of(session, chunk, sorted(years), current_year in years))
    return {
        aim: _judge(
            rule, member_id=aim.member_id, name=aim.title_name, school_year=aim.school_year,
            facts=facts[aim.member_id], current_year=current_year,
        )
        for aim, rule in wanted.items()
        if aim.member_id in facts
    }


async def _facts_of(
    session: AsyncSession, member_ids: Sequence[int], years: list[str], with_review: bool
) -> dict[int, Facts]:
    """The Facts of up to a chunk of members (not erased) in `years`."""
    alive = await session.exec(
        select(Member.id).where(col(Member.id).in_(member_ids), col(Member.erased_at).is_(None))
    )
    facts: dict[int, Facts] = {member_id: Facts() for member_id in alive.all()}  # type: ignore[misc]
    if not facts:
        return {}
    ids = list(facts)
    registrations = (await session.exec(
        select(
            Registration.member_id, Registration.school_year, Registration.title_code,
            Registration.status, Registration.movement_id,
        ).where(
            col(Registration.member_id).in_(ids),
            col(Registration.school_year).in_(years),
            col(Registration.status).in_([RegistrationStatus.ACHIEVED, *UNDECIDED]),
        )
    )).all()
    movement_ids = sorted({row[4] for row in registrations})
    titles: dict[int, Movement] = {}
    for chunk in chunks(movement_ids):
        found = await session.exec(select(Movement).where(col(Movement.id).in_(chunk)))
        titles.update({movement.id: movement for movement in found.all()})  # type: ignore[misc]
    for member_id, school_year, code, status, movement_id in registrations:
        family = family_of(code, _title_of(titles[movement_id], code))
        facts[member_id].title(  # type: ignore[index]
            school_year, family, decided=status == RegistrationStatus.ACHIEVED
        )
    awards = await session.exec(
        select(TitleAward.member_id, TitleAward.school_year, TitleAward.title_code,
               TitleAward.title_name)
        .where(col(TitleAward.member_id).in_(ids), col(TitleAward.school_year).in_(years))
    )
    for member_id, school_year, code, name in awards.all():
        facts[member_id].title(school_year, family_of(code, name), decided=True)
    recognised = await session.exec(
        select(InitiativeAuthor.member_id, Recognition.school_year, Recognition.level)
        .distinct()
        .join(Recognition, col(Recognition.initiative_id) == InitiativeAuthor.initiative_id)
        .where(col(InitiativeAuthor.member_id).in_(ids), col(Recognition.school_year).in_(years))
    )
    for member_id, school_year, level in recognised.all():
        facts[member_id].recognised[school_year].add(level)  # type: ignore[index]
    if with_review:
        in_review = await session.exec(
            select(InitiativeAuthor.member_id, Initiative.level)
            .distinct()
            .join(Initiative, col(Initiative.id) == InitiativeAuthor.initiative_id)
            .where(
                col(InitiativeAuthor.member_id).in_(ids),
                col(Initiative.status).in_(IN_REVIEW),
            )
        )
        for member_id, level in in_review.all():
            if level is not None:
                facts[member_id].in_review.add(level)  # type: ignore[index]
    return facts


# --- in words ------------------------------------------------------------------------------------

LEVEL_KEYS = {level: f"initiative.level.{level}" for level in LEVEL_ORDER}
MARK_KEYS = {
    Outcome.MET: "achievements.mark.met",
    Outcome.MISSING: "achievements.mark.missing",
    Outcome.PENDING: "achievements.mark.pending",
}
OUTCOME_KEYS = {
    Outcome.MET: "achievements.outcome.met",
    Outcome.MISSING: "achievements.outcome.missing",
    Outcome.PENDING: "achievements.outcome.pending",
}
# The catalogue keys this module writes (tests check both languages have them).
TEXT_KEYS = (
    *LEVEL_KEYS.values(), *MARK_KEYS.values(), *OUTCOME_KEYS.values(),
    "achievements.req.title", "achievements.req.title_years", "achievements.req.initiative",
    "achievements.req.initiative_years", "achievements.have_years", "achievements.awaiting",
    "achievements.in_review", "achievements.summary.missing",
    "achievements.summary.pending",
)


def level_name(level: str, translate: Translate) -> str:
    key = LEVEL_KEYS.get(level)  # type: ignore[call-overload]
    return translate(key) if key is not None else level


def requirement_text(check: RequirementCheck, translate: Translate) -> str:
    """The requirement as people read it: "“Lao động tiên tiến” năm học 2026-2027"."""
    requirement, years = check.requirement, check.years
    span = {"count": len(years), "first": years[0], "last": years[-1]}
    if requirement.kind is RequirementKind.TITLE:
        title = FAMILY_NAMES.get(requirement.title or "", requirement.title or "")
        if len(years) == 1:
            return translate("achievements.req.title", title=title, year=years[0])
        return translate("achievements.req.title_years", title=title, **span)
    level = level_name(requirement.level or "", translate)
    if len(years) == 1:
        return translate("achievements.req.initiative", level=level, year=years[0])
    return translate("achievements.req.initiative_years", level=level, **span)


def shortfall_text(check: RequirementCheck, translate: Translate) -> str:
    """What stands between the member and the requirement ("2 of 3 years, 2024-2025 missing";
    "result to come"), or "" when there is nothing more to say than its mark."""
    if check.outcome is Outcome.MET:
        return ""
    if check.outcome is Outcome.PENDING:
        if check.requirement.kind is RequirementKind.INITIATIVE:
            return translate("achievements.in_review")
        return translate("achievements.awaiting", years=", ".join(check.pending_years))
    if check.requirement.kind is RequirementKind.TITLE and len(check.years) > 1:
        return translate(
            "achievements.have_years", have=check.have, need=len(check.years),
            years=", ".join(check.missing_years),
        )
    return ""


def requirement_line(check: RequirementCheck, translate: Translate) -> str:
    """"✗ “Chiến sĩ thi đua cơ sở” 3 năm học liên tục (…) (2/3 năm, thiếu 2024-2025)"."""
    parts = [translate(MARK_KEYS[check.outcome]), requirement_text(check, translate)]
    shortfall = shortfall_text(check, translate)
    if shortfall:
        parts.append(shortfall)
    return " ".join(parts)


def summary_text(check: TitleCheck, translate: Translate) -> str:
    """One line on a title's requirements: "✓ đủ điều kiện", or what is missing and what is
    still to be decided."""
    if check.outcome is Outcome.MET:
        return translate(OUTCOME_KEYS[Outcome.MET])
    parts = []
    for outcome, key in (
        (Outcome.MISSING, "achievements.summary.missing"),
        (Outcome.PENDING, "achievements.summary.pending"),
    ):
        items = []
        for requirement in check.requirements:
            if requirement.outcome is outcome:
                shortfall = shortfall_text(requirement, translate)
                text = requirement_text(requirement, translate)
                items.append(f"{text} {shortfall}" if shortfall else text)
        if items:
            parts.append(f"{translate(key)} {'; '.join(items)}")
    return " · ".join(parts)


# --- titles achieved outside the bot: the import ----------------------------------------------


class AwardColumn(StrEnum):
    MEMBER_CODE = "member_code"
    PHONE = "phone"
    SCHOOL_YEAR = "school_year"
    TITLE = "title"
    DECISION = "decision"


# The header names recognised for each column (case and accents ignored); the first two are the
# official ones, named when a column is missing. Other columns (a name, for the reader) are
# left alone.
HEADER_NAMES: dict[AwardColumn, tuple[str, ...]] = {
    # Members are named as in their roster.
    AwardColumn.MEMBER_CODE: ROSTER_HEADERS[RosterColumn.MEMBER_CODE],
    AwardColumn.PHONE: ROSTER_HEADERS[RosterColumn.PHONE],
    AwardColumn.SCHOOL_YEAR: ("Năm học", "School year", "Năm"),
    AwardColumn.TITLE: ("Danh hiệu", "Title", "Danh hiệu thi đua", "Tên danh hiệu"),
    AwardColumn.DECISION: (
        "Số quyết định", "Decision number", "Quyết định", "Decision", "Số QĐ",
    ),
}
_HEADERS = {header_key(name): column for column, names in HEADER_NAMES.items() for name in names}
DECISION_MAX = 255


def _column_label(column: AwardColumn) -> str:
    vietnamese, english = HEADER_NAMES[column][:2]
    return f"{vietnamese} ({english})"


@dataclass
class AwardRow:
    """One row of the file: its number, what it says once normalised, its problems, and the
    member it names."""

    number: int
    member_code: str = ""
    phone: str = ""
    school_year: str = ""
    title_code: str = ""
    title_name: str = ""
    decision: str | None = None
    member_id: int | None = None
    problems: list[InvalidInput] = field(default_factory=list)


@dataclass
class AwardsImport:
    filename: str
    rows: list[AwardRow]
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    imported: bool = False

    @property
    def bad_rows(self) -> list[AwardRow]:
        return [row for row in self.rows if row.problems]


def _known_columns(values: tuple[Any, ...]) -> int:
    return len({_HEADERS.get(header_key(cell_text(cell))) for cell in values} - {None})


def read_awards(*, filename: str, content: bytes) -> list[AwardRow]:
    """The rows of an .xlsx or .csv of titles, each parsed (its problems that need no database
    named); InvalidInput for a file that cannot be one."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        cells = iter(xlsx_rows(content))
    elif lower.endswith(".csv"):
        cells = iter(csv_rows(content))
    else:
        raise InvalidInput("roster_file_type", name=filename)
    columns: dict[AwardColumn, int] | None = None
    rows: list[AwardRow] = []
    for number, values in cells:
        if columns is None:
            if number > HEADER_SEARCH_ROWS:
                break
            if _known_columns(values) >= 2:
                columns = _award_columns(values)
            continue
        if is_empty(values):
            continue
        rows.append(_parse_award(number, values, columns))
        if len(rows) > MAX_ROWS:
            raise InvalidInput("roster_too_many_rows", max=MAX_ROWS)
    if columns is None:
        raise InvalidInput("titles_missing_columns", columns=", ".join(
            _column_label(column) for column in (AwardColumn.SCHOOL_YEAR, AwardColumn.TITLE)
        ))
    if not rows:
        raise InvalidInput("roster_empty")
    return rows


def _award_columns(values: tuple[Any, ...]) -> dict[AwardColumn, int]:
    columns: dict[AwardColumn, int] = {}
    for index, cell in enumerate(values):
        column = _HEADERS.get(header_key(cell_text(cell)))
        if column is None:
            continue
        if column in columns:
            raise InvalidInput("roster_duplicate_column", column=cell_text(cell))
        columns[column] = index
    missing = [
        _column_label(column)
        for column in (AwardColumn.SCHOOL_YEAR, AwardColumn.TITLE)
        if column not in columns
    ]
    if AwardColumn.MEMBER_CODE not in columns and AwardColumn.PHONE not in columns:
        missing.append(
            f"{_column_label(AwardColumn.MEMBER_CODE)} / {_column_label(AwardColumn.PHONE)}"
        )
    if missing:
        raise InvalidInput("titles_missing_columns", columns=", ".join(missing))
    return columns


def title_of(text: str) -> tuple[str, str]:
    """The code and name of a title as typed: a known code ("CSTDCS"), or a name (its code made
    from its initials); the standard and required titles keep their usual names and codes.
    InvalidInput for a name too short or long, or a collective title."""
    raw = " ".join(text.split())
    known = {title["code"]: title for title in STANDARD_TITLES}
    # One word is a code ("CSTĐCS" typed with its Đ is CSTDCS too).
    code = fold(raw).upper() if " " not in raw else ""
    if code in known:
        title = known[code]
    elif code in _ALIASES:
        return _ALIASES[code], FAMILY_NAMES[_ALIASES[code]]
    else:
        title = standard_title(raw) or {"code": title_code(raw), "name": raw, "collective": False}
    if title.get("collective"):
        raise InvalidInput("titles_collective", title=title["name"])
    name = str(title["name"])
    if not TITLE_NAME_MIN <= len(name) <= TITLE_NAME_MAX:
        raise InvalidInput("titles_name_length", min=TITLE_NAME_MIN, max=TITLE_NAME_MAX)
    family = family_of(str(title["code"]), name)
    return family, name


def _parse_award(
    number: int, values: tuple[Any, ...], columns: dict[AwardColumn, int]
) -> AwardRow:
    def cell(column: AwardColumn) -> Any:
        index = columns.get(column)
        return values[index] if index is not None and index < len(values) else None

    row = AwardRow(number=number)
    row.member_code = cell_text(cell(AwardColumn.MEMBER_CODE))
    phone = phone_text(cell(AwardColumn.PHONE))
    if phone:
        try:
            row.phone = normalize_phone(phone)
        except InvalidInput:
            row.problems.append(InvalidInput("roster_phone_invalid", value=phone))
    elif not row.member_code:
        row.problems.append(InvalidInput("roster_no_code_or_phone"))
    year = cell_text(cell(AwardColumn.SCHOOL_YEAR))
    if not year:
        row.problems.append(InvalidInput("titles_year_missing"))
    else:
        try:
            row.school_year = parse_school_year(year)
        except InvalidInput as error:
            row.problems.append(error)
    title = cell_text(cell(AwardColumn.TITLE))
    if not title:
        row.problems.append(InvalidInput("titles_title_missing"))
    else:
        try:
            row.title_code, row.title_name = title_of(title)
        except InvalidInput as error:
            row.problems.append(error)
    decision = cell_text(cell(AwardColumn.DECISION))
    if len(decision) > DECISION_MAX:
        row.problems.append(InvalidInput("titles_decision_too_long", max=DECISION_MAX))
    row.decision = decision or None
    return row


async def check_awards(
    session: AsyncSession, rows: list[AwardRow], *, unit: OrgUnit, now: datetime,
    tz: tzinfo = VIETNAM,
) -> None:
    """Finds the member each row names (by member code, else by phone) within `unit`'s subtree,
    and adds the problems that need the database or the whole file: a member unknown, outside
    the unit, or several with the phone; a year still to come; the same title twice."""
    current_year = school_year_of(now, tz)
    codes = sorted({row.member_code for row in rows if row.member_code})
    phones = sorted({row.phone for row in rows if row.phone})
    alive = col(Member.erased_at).is_(None)
    by_code: dict[str, tuple[int, str]] = {}
    for chunk in chunks(codes):
        found = await session.exec(
            select(Member.member_code, Member.id, OrgUnit.path)
            .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
            .where(col(Member.member_code).in_(chunk), alive)
        )
        by_code.update({code: (member_id, path) for code, member_id, path in found.all()})
    by_phone: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for chunk in chunks(phones):
        found = await session.exec(
            select(Member.phone, Member.id, OrgUnit.path)
            .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
            .where(col(Member.phone).in_(chunk), alive)
            .order_by(col(Member.id))
        )
        for phone, member_id, path in found.all():
            by_phone[phone].append((member_id, path))  # type: ignore[index]
    for row in rows:
        if row.school_year and row.school_year > current_year:
            row.problems.append(InvalidInput("titles_year_future", year=row.school_year))
        if not row.member_code and not row.phone:
            continue
        # By member code, else by phone (a code not found yet may be a member without one).
        if row.member_code in by_code:
            found = [by_code[row.member_code]]
        else:
            found = by_phone.get(row.phone, []) if row.phone else []
        named = {"member": row.member_code or row.phone}
        ours = [member_id for member_id, path in found if path.startswith(unit.path)]
        if not found:
            row.problems.append(InvalidInput("titles_member_unknown", **named))
        elif not ours:
            row.problems.append(InvalidInput("titles_member_out_of_scope", unit=unit.code,
                                             **named))
        elif len(ours) > 1:
            row.problems.append(InvalidInput("titles_phone_shared", **named))
        else:
            row.member_id = ours[0]
    same: dict[tuple[int, str, str], list[AwardRow]] = defaultdict(list)
    for row in rows:
        if row.member_id is not None and row.school_year and row.title_code:
            same[(row.member_id, row.school_year, row.title_code)].append(row)
    for repeated in same.values():
        if len(repeated) > 1:
            numbers = ", ".join(str(row.number) for row in repeated)
            for row in repeated:
                row.problems.append(InvalidInput("titles_repeated", rows=numbers))


async def apply_awards(
    session: AsyncSession, actor: Actor | None, result: AwardsImport, *, unit: OrgUnit
) -> None:
    """Records the titles of a checked file, all or nothing: nothing at all when a row has a
    problem. A title already recorded for the member and year is left as it is, or gets the
    file's name and decision when they differ; so importing a file again changes nothing. One
    audit entry for the import (counts only)."""
    if result.bad_rows:
        return
    keys = {(row.member_id, row.school_year, row.title_code) for row in result.rows}
    existing: dict[tuple[int, str, str], TitleAward] = {}
    member_ids = sorted({row.member_id for row in result.rows})  # type: ignore[type-var]
    for chunk in chunks(member_ids):
        found = await session.exec(select(TitleAward).where(col(TitleAward.member_id).in_(chunk)))
        for award in found.all():
            key = (award.member_id, award.school_year, award.title_code)
            if key in keys:
                existing[key] = award
    who = actor.member_id if actor is not None else None
    for row in result.rows:
        assert row.member_id is not None
        award = existing.get((row.member_id, row.school_year, row.title_code))
        if award is None:
            session.add(TitleAward(
                member_id=row.member_id, school_year=row.school_year,
                title_code=row.title_code, title_name=row.title_name, decision=row.decision,
                recorded_by_member_id=who,
            ))
            result.created += 1
        elif (award.title_name, award.decision) != (row.title_name, row.decision):
            award.title_name, award.decision = row.title_name, row.decision
            award.recorded_by_member_id = who
            session.add(award)
            result.updated += 1
        else:
            result.unchanged += 1
    await session.flush()
    result.imported = True
    await audit.record(
        session, actor, "import_titles", target_type="import", target_id=unit.id,
        after={
            "file": result.filename, "rows": len(result.rows), "created": result.created,
            "updated": result.updated, "unchanged": result.unchanged,
        },
    )


async def import_awards(
    session: AsyncSession,
    actor: Actor | None,
    *,
    filename: str,
    content: bytes,
    unit: OrgUnit,
    now: datetime,
    tz: tzinfo = VIETNAM,
) -> AwardsImport:
    """Reads, checks and (when every row is right) records a file of titles achieved by members
    of `unit`'s subtree. `actor` None is the operator (CLI); an official must cover the unit.
    The caller commits (or rolls back)."""
    if actor is not None:
        await authorize(session, actor, Action.IMPORT_MEMBERS, unit=unit)
    rows = await asyncio.to_thread(read_awards, filename=filename, content=content)
    result = AwardsImport(filename=filename, rows=rows)
    await check_awards(session, rows, unit=unit, now=now, tz=tz)
    await apply_awards(session, actor, result, unit=unit)
    return result


async def awards_of(session: AsyncSession, member_id: int) -> list[TitleAward]:
    rows = await session.exec(
        select(TitleAward)
        .where(TitleAward.member_id == member_id)
        .order_by(col(TitleAward.school_year), col(TitleAward.id))
    )
    return list(rows.all())

