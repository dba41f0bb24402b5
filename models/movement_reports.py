"""The officials' numbers of a movement: who registered, per unit; the .xlsx export; results
(one by one, or by importing the exported workbook back); and the statistics officials report
("2.760 nữ đạt “Giỏi việc trường, đảm việc nhà”, 87,8%").

Every function takes the acting official and the movement's id (as a button carries it), checks
`Action.RUN_MOVEMENT` on the movement's owner unit, and shows only the grassroots unions that
are both targeted by the movement and in the official's scope (`_units_condition`). Counts are
GROUP BY queries per unit; only the page of names shown is loaded, so a city of 150,000 members
and 2,000 unions costs a handful of queries.

Each individual registrant aiming at a title with requirements (models/achievements.py: a
"Chiến sĩ thi đua" needs "Lao động tiên tiến" and recognised initiatives) is listed, and
exported, with what those requirements still miss, checked for the whole page or sheet batch at
once.

Counting rules: a withdrawn registration does not count anywhere. "Members" are active, not
erased; "women" are members whose gender is female (an erased member's gender is gone, so an
erased registrant counts in the totals but not among women). "Assessed" is submitted or decided
(achieved / not achieved). Collective registrations (a union registering itself) are counted
apart from the members' shares.

Results change a registration along models.movements.TRANSITIONS (registered or submitted →
achieved / not achieved, and between the two), keep the official's note, who decided and when,
and are audited; the caller notifies the member (or, for a collective registration, the unit's
officials) with the registrations returned. The import validates like the roster import: every
bad row is named with its sheet, row number and reason, and nothing changes unless the caller
asks for the valid rows; re-importing the same file changes nothing.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from xml.etree.ElementTree import ParseError

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import and_, case, false, func, insert, not_, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, authorize, officials_of_unit
from models.achievements import Aim, TitleCheck, check_aims, summary_text
from models.base import fold
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Gender, Member, MemberStatus
from models.movements import (
    Evidence,
    Movement,
    MovementStatus,
    Registration,
    RegistrationStatus,
    check_transition,
    targets_of,
)
from models.org import OrgKind, OrgUnit, UnitBloc, in_subtree
from models.roster import text_cell

log = logging.getLogger(__name__)

NOTE_MAX = 1000
MAX_UPLOAD_MB = 5
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
# More rows than any export holds: a larger file is refused before it fills the memory.
MAX_ROWS = 100_000
# The header is the first row naming the registration id and the result (a title row with the
# unit's name sits above it in the export).
HEADER_SEARCH_ROWS = 10
# IN (…) lists are sent in chunks: SQLite and asyncpg cap the parameters of one statement.
CHUNK = 500
# Units whose sheets are read from the database at a time while exporting.
EXPORT_UNITS_AT_ONCE = 100
SHEET_NAME_MAX = 31

ASSESSED = (
    RegistrationStatus.SUBMITTED, RegistrationStatus.ACHIEVED, RegistrationStatus.NOT_ACHIEVED,
)
DECIDED = (RegistrationStatus.ACHIEVED, RegistrationStatus.NOT_ACHIEVED)
# Movements whose registrations may be approved or given a result.
RUNNING = (MovementStatus.OPEN, MovementStatus.CLOSED)

Translate = Callable[..., str]

# The catalogue keys this module writes into workbooks (tests check both languages have them).
STATUS_KEYS = {
    RegistrationStatus.AWAITING_APPROVAL: "movement_reports.status.awaiting_approval",
    RegistrationStatus.REGISTERED: "movement_reports.status.registered",
    RegistrationStatus.WITHDRAWN: "movement_reports.status.withdrawn",
    RegistrationStatus.SUBMITTED: "movement_reports.status.submitted",
    RegistrationStatus.ACHIEVED: "movement_reports.status.achieved",
    RegistrationStatus.NOT_ACHIEVED: "movement_reports.status.not_achieved",
}
RESULT_KEYS = {
    RegistrationStatus.ACHIEVED: "movement_reports.result.achieved",
    RegistrationStatus.NOT_ACHIEVED: "movement_reports.result.not_achieved",
}
UNIT_SHEET_COLUMNS = (
    "movement_reports.column.registration_id",
    "movement_reports.column.full_name",
    "movement_reports.column.position",
    "movement_reports.column.gender",
    "movement_reports.column.title",
    "movement_reports.column.requirements",
    "movement_reports.column.commitment",
    "movement_reports.column.status",
    "movement_reports.column.submitted_at",
    "movement_reports.column.evidence",
    "movement_reports.column.evidence_files",
    "movement_reports.column.current_result",
    "movement_reports.column.note",
    "movement_reports.column.result",
)
SUMMARY_COLUMNS = (
    "movement_reports.summary.unit",
    "movement_reports.summary.members",
    "movement_reports.summary.registrants",
    "movement_reports.summary.share_members",
    "movement_reports.summary.women",
    "movement_reports.summary.share_women",
    "movement_reports.summary.assessed",
    "movement_reports.summary.achieved",
)
REPORT_COLUMNS = (
    "movement_reports.report.sheet_name",
    "movement_reports.report.row",
    "movement_reports.column.registration_id",
    "movement_reports.report.value",
    "movement_reports.report.problems",
)
WORKBOOK_KEYS = (
    *STATUS_KEYS.values(), *RESULT_KEYS.values(), *UNIT_SHEET_COLUMNS, *SUMMARY_COLUMNS,
    *REPORT_COLUMNS, "movement_reports.sheet.summary", "movement_reports.sheet.title",
    "movement_reports.summary.total", "movement_reports.collective_name",
    "movement_reports.report.sheet", "movement_reports.evidence_photo",
    "movement_reports.evidence_file",
)


# --- numbers as people read them -----------------------------------------------------------------


def format_count(value: int, locale: str) -> str:
    """2.760 in Vietnamese, 2,760 in English."""
    text = f"{value:,}"
    return text.replace(",", ".") if locale == "vi" else text


def format_share(part: int, whole: int, locale: str) -> str:
    """87,8% in Vietnamese, 87.8% in English; "—" when there is nothing to divide by."""
    if whole <= 0:
        return "—"
    text = f"{part * 100 / whole:,.1f}"
    if locale == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return f"{text}%"


# --- the movement and the units an official sees -------------------------------------------------


async def movement_run_by(session: AsyncSession, actor: Actor, movement_id: int) -> Movement:
    """The movement a button names, if the actor runs it (officials of its owner unit or above);
    a forged id is refused and logged."""
    movement = await session.get(Movement, movement_id)
    if movement is None:
        raise NotFound("movement_gone")
    owner = await session.get(OrgUnit, movement.owner_unit_id)
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=owner)
    return movement


async def _target_condition(session: AsyncSession, movement: Movement) -> Any:
    """A condition on OrgUnit: the units the movement is for (everyone, a target's subtree, or a
    member of a targeted bloc)."""
    if movement.target_everyone:
        return true()
    targets = await targets_of(session, movement)
    unit_ids = [target.unit_id for target in targets if target.unit_id is not None]
    bloc_ids = [target.bloc_id for target in targets if target.bloc_id is not None]
    conditions = []
    if unit_ids:
        paths = await session.exec(select(OrgUnit.path).where(col(OrgUnit.id).in_(unit_ids)))
        conditions += [in_subtree(path) for path in paths.all()]
    if bloc_ids:
        conditions.append(
            col(OrgUnit.id).in_(
                select(UnitBloc.unit_id).where(col(UnitBloc.bloc_id).in_(bloc_ids))
            )
        )
    return or_(*conditions) if conditions else false()


async def _units_condition(
    session: AsyncSession, actor: Actor, movement: Movement, within: OrgUnit | None = None
) -> list[Any]:
    """Conditions on OrgUnit: the grassroots unions the movement is for and the official
    covers (active ones, and closed ones that still hold registrations), under `within`."""
    registered_units = select(Registration.unit_id).where(
        Registration.movement_id == movement.id
    )
    conditions = [
        OrgUnit.kind == OrgKind.GRASSROOTS,
        actor.unit_condition(),
        await _target_condition(session, movement),
        or_(col(OrgUnit.is_active), col(OrgUnit.id).in_(registered_units)),
    ]
    if within is not None:
        conditions.append(in_subtree(within.path))
    return conditions


def _counted() -> list[Any]:
    return [col(Registration.status) != RegistrationStatus.WITHDRAWN]


def _sum(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _woman() -> Any:
    return and_(Member.gender == Gender.FEMALE, col(Member.erased_at).is_(None))


# --- numbers per unit --------------------------------------------------------------------------


@dataclass
class Numbers:
    """A unit's (or a group of units') numbers for one movement; collective registrations
    apart."""

    members: int = 0
    women: int = 0
    registered: int = 0
    registered_women: int = 0
    assessed: int = 0
    assessed_women: int = 0
    achieved: int = 0
    achieved_women: int = 0

    def add(self, other: Numbers) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def is_empty(self) -> bool:
        return self.members == 0 and self.registered == 0


@dataclass
class UnitNumbers:
    unit_id: int
    name: str
    path: str
    numbers: Numbers


async def _numbers_by_unit(
    session: AsyncSession, movement: Movement, conditions: list[Any]
) -> list[UnitNumbers]:
    """Every unit meeting `conditions` with its numbers, by name: three GROUP BY queries."""
    units = await session.exec(
        select(OrgUnit.id, OrgUnit.name, OrgUnit.path)
        .where(*conditions)
        .order_by(col(OrgUnit.name_folded), col(OrgUnit.id))
    )
    result = {
        unit_id: UnitNumbers(unit_id, name, path, Numbers())
        for unit_id, name, path in units.all()
    }
    members = await session.exec(
        select(OrgUnit.id, func.count(col(Member.id)), _sum(Member.gender == Gender.FEMALE))
        .select_from(OrgUnit)
        .join(Member, col(Member.unit_id) == OrgUnit.id)
        .where(
            *conditions, Member.status == MemberStatus.ACTIVE, col(Member.erased_at).is_(None)
        )
        .group_by(col(OrgUnit.id))
    )
    for unit_id, count, women in members.all():
        numbers = result[unit_id].numbers
        numbers.members, numbers.women = int(count), int(women)
    assessed = col(Registration.status).in_(ASSESSED)
    achieved = Registration.status == RegistrationStatus.ACHIEVED
    registrations = await session.exec(
        select(
            OrgUnit.id,
            func.count(col(Registration.id)),
            _sum(_woman()),
            _sum(assessed),
            _sum(and_(assessed, _woman())),
            _sum(achieved),
            _sum(and_(achieved, _woman())),
        )
        .select_from(Registration)
        .join(OrgUnit, col(OrgUnit.id) == Registration.unit_id)
        .outerjoin(Member, col(Member.id) == Registration.member_id)
        .where(
            Registration.movement_id == movement.id,
            not_(col(Registration.collective)),
            *_counted(),
            *conditions,
        )
        .group_by(col(OrgUnit.id))
    )
    for unit_id, *values in registrations.all():
        numbers = result[unit_id].numbers
        (numbers.registered, numbers.registered_women, numbers.assessed, numbers.assessed_women,
         numbers.achieved, numbers.achieved_women) = (int(value) for value in values)
    return list(result.values())


# --- 1. registrants ------------------------------------------------------------------------------


@dataclass
class UnitRegistrants:
    unit: OrgUnit
    by_status: dict[str, int]
    by_title: dict[str, int]

    @property
    def registered(self) -> int:
        return sum(self.by_status.values())


@dataclass
class RegistrantsOverview:
    movement: Movement
    units: list[UnitRegistrants]
    total_units: int
    by_status: dict[str, int]


async def registrants_overview(
    session: AsyncSession, actor: Actor, *, movement_id: int, offset: int = 0, limit: int = 8
) -> RegistrantsOverview:
    """One page of the units (by name) with their registrations counted by status and by title,
    and the counts by status over the whole scope; withdrawn registrations are left out."""
    movement = await movement_run_by(session, actor, movement_id)
    conditions = await _units_condition(session, actor, movement)
    total = (
        await session.exec(select(func.count(col(OrgUnit.id))).where(*conditions))
    ).one()
    page = list(
        (
            await session.exec(
                select(OrgUnit)
                .where(*conditions)
                .order_by(col(OrgUnit.name_folded), col(OrgUnit.id))
                .offset(offset)
                .limit(limit)
            )
        ).all()
    )
    ids = [unit.id for unit in page]
    of_movement = [Registration.movement_id == movement.id, *_counted()]
    by_status: dict[int, dict[str, int]] = defaultdict(dict)
    by_title: dict[int, dict[str, int]] = defaultdict(dict)
    if ids:
        rows = await session.exec(
            select(Registration.unit_id, Registration.status, func.count(col(Registration.id)))
            .where(*of_movement, col(Registration.unit_id).in_(ids))
            .group_by(col(Registration.unit_id), col(Registration.status))
        )
        for unit_id, status, count in rows.all():
            by_status[unit_id][status] = int(count)
        rows = await session.exec(
            select(
                Registration.unit_id, Registration.title_code, func.count(col(Registration.id))
            )
            .where(*of_movement, col(Registration.unit_id).in_(ids))
            .group_by(col(Registration.unit_id), col(Registration.title_code))
        )
        for unit_id, title, count in rows.all():
            by_title[unit_id][title] = int(count)
    totals = await session.exec(
        select(Registration.status, func.count(col(Registration.id)))
        .join(OrgUnit, col(OrgUnit.id) == Registration.unit_id)
        .where(*of_movement, *conditions)
        .group_by(col(Registration.status))
    )
    return RegistrantsOverview(
        movement=movement,
        units=[
            UnitRegistrants(unit, by_status.get(unit.id, {}), by_title.get(unit.id, {}))  # type: ignore[arg-type]
            for unit in page
        ],
        total_units=int(total),
        by_status={status: int(count) for status, count in totals.all()},
    )


async def _unit_of_movement(
    session: AsyncSession, actor: Actor, movement: Movement, unit_id: int
) -> OrgUnit:
    """A unit a button names, if it is one of the movement's units in the actor's scope."""
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=unit)
    conditions = await _units_condition(session, actor, movement)
    found = await session.exec(select(OrgUnit.id).where(OrgUnit.id == unit.id, *conditions))
    if found.first() is None:
        raise NotFound("reports_unit_not_in_movement")
    return unit


@dataclass
class Registrant:
    """A registration as listed: the member's name (the unit's, collective) and gender, and the
    requirements of their title when it has some (models/achievements.py)."""

    registration: Registration
    name: str
    gender: str | None
    requirements: TitleCheck | None = None


async def requirements_of(
    session: AsyncSession,
    movement: Movement,
    registrations: Iterable[Registration],
    *,
    now: datetime,
    tz: tzinfo,
) -> dict[int, TitleCheck]:
    """The title requirements of the individual registrants among `registrations` (already
    authorised by the caller), by registration id: a few queries for any number of them."""
    aims = {
        registration.id: Aim(
            registration.member_id, registration.title_code,
            title_name(movement, registration.title_code), registration.school_year,
        )
        for registration in registrations
        if registration.member_id is not None and not registration.collective
    }
    checks = await check_aims(session, aims.values(), now=now, tz=tz)
    return {
        registration_id: checks[aim]  # type: ignore[misc]
        for registration_id, aim in aims.items()
        if aim in checks
    }


async def unit_registrants(
    session: AsyncSession,
    actor: Actor,
    *,
    movement_id: int,
    unit_id: int,
    offset: int = 0,
    limit: int = 8,
    now: datetime,
    tz: tzinfo,
) -> tuple[Movement, OrgUnit, list[Registrant], int]:
    """One page of a unit's registrations (the collective one first, then by name), with the
    total and each registrant's title requirements as of `now`; withdrawn ones are left
    out."""
    movement = await movement_run_by(session, actor, movement_id)
    unit = await _unit_of_movement(session, actor, movement, unit_id)
    where = [
        Registration.movement_id == movement.id, Registration.unit_id == unit.id, *_counted(),
    ]
    total = (await session.exec(select(func.count(col(Registration.id))).where(*where))).one()
    rows = await session.exec(
        select(Registration, Member.full_name, Member.gender)
        .outerjoin(Member, col(Member.id) == Registration.member_id)
        .where(*where)
        .order_by(
            col(Registration.collective).desc(), col(Member.full_name_folded),
            col(Registration.id),
        )
        .offset(offset)
        .limit(limit)
    )
    registrants = [
        Registrant(registration, name if name is not None else unit.name, gender)
        for registration, name, gender in rows.all()
    ]
    checks = await requirements_of(
        session, movement, [row.registration for row in registrants], now=now, tz=tz
    )
    for row in registrants:
        row.requirements = checks.get(row.registration.id)  # type: ignore[arg-type]
    return movement, unit, registrants, int(total)


@dataclass
class RegistrationView:
    registration: Registration
    movement: Movement
    unit: OrgUnit
    member: Member | None
    evidence: int

    @property
    def name(self) -> str:
        return self.member.full_name if self.member is not None else self.unit.name

    @property
    def title_name(self) -> str:
        return title_name(self.movement, self.registration.title_code)


def title_name(movement: Movement, code: str) -> str:
    title = movement.title(code)
    return str(title.get("name") or code) if title is not None else code


async def registration_for_official(
    session: AsyncSession, actor: Actor, *, registration_id: int
) -> RegistrationView:
    """A registration a button names, if the actor runs its movement and covers its unit."""
    registration = await session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("results_registration_gone")
    movement = await movement_run_by(session, actor, registration.movement_id)
    unit = await session.get(OrgUnit, registration.unit_id)
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=unit)
    assert unit is not None
    member = None
    if registration.member_id is not None:
        member = await session.get(Member, registration.member_id)
    evidence = (
        await session.exec(
            select(func.count(col(Evidence.id))).where(
                Evidence.registration_id == registration.id
            )
        )
    ).one()
    return RegistrationView(registration, movement, unit, member, int(evidence))


async def evidence_of(
    session: AsyncSession, actor: Actor, *, registration_id: int
) -> list[Evidence]:
    """The files of a registration's self-assessment (oldest first), authorised like the
    registration itself: the actor runs its movement and covers its unit."""
    view = await registration_for_official(session, actor, registration_id=registration_id)
    rows = await session.exec(
        select(Evidence)
        .where(Evidence.registration_id == view.registration.id)
        .order_by(col(Evidence.id))
    )
    return list(rows.all())


def evidence_name(kind: str, file_name: str | None, translate: Translate) -> str:
    """A file as people read it: its name, else "ảnh" for a photo ("tệp" for a document)."""
    if file_name:
        return file_name
    return translate(
        "movement_reports.evidence_photo" if kind == "photo" else "movement_reports.evidence_file"
    )


def _check_running(movement: Movement) -> None:
    if movement.status not in RUNNING:
        raise NotAllowed("results_movement_not_running")


async def results_movement(session: AsyncSession, actor: Actor, movement_id: int) -> Movement:
    """The movement whose results the actor is about to give (an open or closed one)."""
    movement = await movement_run_by(session, actor, movement_id)
    _check_running(movement)
    return movement


def _registration_snapshot(registration: Registration) -> dict[str, Any]:
    return {
        "movement_id": registration.movement_id,
        "status": registration.status,
        "result_note": registration.result_note,
    }


async def decide_approval(
    session: AsyncSession, actor: Actor, *, registration_id: int, approve: bool, now: datetime
) -> RegistrationView:
    """Approves a registration awaiting approval (it becomes registered) or refuses it (it is
    withdrawn: the member may register again before the deadline); audited."""
    view = await registration_for_official(session, actor, registration_id=registration_id)
    _check_running(view.movement)
    registration = view.registration
    if registration.status != RegistrationStatus.AWAITING_APPROVAL:
        raise NotAllowed("results_not_awaiting")
    target = RegistrationStatus.REGISTERED if approve else RegistrationStatus.WITHDRAWN
    check_transition(registration, target)
    before = _registration_snapshot(registration)
    registration.status = target
    registration.updated_at = now
    session.add(registration)
    await audit.record(
        session,
        actor,
        "approve_registration" if approve else "refuse_registration",
        target_type="registration",
        target_id=registration.id,
        before=before,
        after=_registration_snapshot(registration),
    )
    return view


def clean_note(text: str | None) -> str | None:
    note = (text or "").strip()
    if len(note) > NOTE_MAX:
        raise InvalidInput("results_note_too_long", max=NOTE_MAX)
    return note or None


def result_status(achieved: bool) -> str:
    return RegistrationStatus.ACHIEVED if achieved else RegistrationStatus.NOT_ACHIEVED


def _check_result(registration: Registration, target: str) -> None:
    """Whether the registration may get this result (a decided one may change its mind)."""
    if registration.status != target:
        check_transition(registration, target)


async def check_decision(
    session: AsyncSession, actor: Actor, *, registration_id: int, achieved: bool
) -> RegistrationView:
    """Whether the actor may give this result, before asking for a note."""
    view = await registration_for_official(session, actor, registration_id=registration_id)
    _check_running(view.movement)
    _check_result(view.registration, result_status(achieved))
    return view


async def decide_result(
    session: AsyncSession,
    actor: Actor,
    *,
    registration_id: int,
    achieved: bool,
    note: str | None,
    now: datetime,
) -> tuple[RegistrationView, bool]:
    """Marks one registration achieved or not achieved, with the official's note; audited.
    Returns the registration and whether anything changed (the same result and note again
    change nothing)."""
    view = await check_decision(
        session, actor, registration_id=registration_id, achieved=achieved
    )
    note = clean_note(note)
    registration = view.registration
    target = result_status(achieved)
    if registration.status == target and registration.result_note == note:
        return view, False
    before = _registration_snapshot(registration)
    _set_result(registration, target, note, actor, now)
    session.add(registration)
    await audit.record(
        session,
        actor,
        "decide_registration",
        target_type="registration",
        target_id=registration.id,
        before=before,
        after=_registration_snapshot(registration),
    )
    return view, True


def _set_result(
    registration: Registration, target: str, note: str | None, actor: Actor, now: datetime
) -> None:
    registration.status = target
    registration.result_note = note
    registration.decided_by_member_id = actor.member_id
    registration.decided_at = now
    registration.updated_at = now


async def recipients_of(session: AsyncSession, registration: Registration) -> list[Member]:
    """Who hears about a registration: the member, or for a collective one the officials of
    the unit (the nearest above it that has any)."""
    if registration.member_id is not None:
        member = await session.get(Member, registration.member_id)
        return [member] if member is not None and member.erased_at is None else []
    unit = await session.get(OrgUnit, registration.unit_id)
    return await officials_of_unit(session, unit) if unit is not None else []


# --- 4. statistics -------------------------------------------------------------------------------


@dataclass
class TitleNumbers:
    code: str
    name: str
    achieved: int
    achieved_women: int


@dataclass
class Statistics:
    movement: Movement
    root: OrgUnit
    total: Numbers
    # The units right below `root` that have members or registrants, by name; units outside
    # `root` (a bloc reaching into another branch) are summed under None, last.
    children: list[tuple[OrgUnit | None, Numbers]]
    titles: list[TitleNumbers]
    collective_registered: int
    collective_achieved: int


async def statistics(
    session: AsyncSession, actor: Actor, *, movement_id: int, unit_id: int | None = None
) -> Statistics:
    """The movement's numbers over the actor's scope (from the movement's owner unit, or from
    `unit_id` below it), and for each unit one level down."""
    movement = await movement_run_by(session, actor, movement_id)
    if unit_id is None:
        root = await session.get(OrgUnit, movement.owner_unit_id)
        assert root is not None
    else:
        found = await session.get(OrgUnit, unit_id)
        if found is None:
            raise NotFound("unit_unavailable")
        await authorize(session, actor, Action.RUN_MOVEMENT, unit=found)
        root = found
    conditions = await _units_condition(
        session, actor, movement, within=root if unit_id is not None else None
    )
    per_unit = await _numbers_by_unit(session, movement, conditions)
    total = Numbers()
    by_child: dict[int | None, Numbers] = defaultdict(Numbers)
    for unit in per_unit:
        total.add(unit.numbers)
        if unit.path.startswith(root.path) and unit.path != root.path:
            child_id = int(unit.path[len(root.path):].split("/", 1)[0])
            by_child[child_id].add(unit.numbers)
        elif unit.path != root.path:
            by_child[None].add(unit.numbers)
    ids = [child_id for child_id, numbers in by_child.items() if child_id and not numbers.is_empty]
    children: list[tuple[OrgUnit | None, Numbers]] = []
    if ids:
        found_units = await session.exec(
            select(OrgUnit)
            .where(col(OrgUnit.id).in_(ids))
            .order_by(col(OrgUnit.name_folded), col(OrgUnit.id))
        )
        children = [(unit, by_child[unit.id]) for unit in found_units.all()]  # type: ignore[index]
    if None in by_child and not by_child[None].is_empty:
        children.append((None, by_child[None]))

    achieved = [
        Registration.movement_id == movement.id,
        Registration.status == RegistrationStatus.ACHIEVED,
        not_(col(Registration.collective)),
        *conditions,
    ]
    title_rows = await session.exec(
        select(Registration.title_code, func.count(col(Registration.id)), _sum(_woman()))
        .join(OrgUnit, col(OrgUnit.id) == Registration.unit_id)
        .outerjoin(Member, col(Member.id) == Registration.member_id)
        .where(*achieved)
        .group_by(col(Registration.title_code))
    )
    counted = {code: (int(count), int(women)) for code, count, women in title_rows.all()}
    titles = [
        TitleNumbers(
            str(title["code"]), title_name(movement, title["code"]), *counted[title["code"]]
        )
        for title in movement.titles
        if title.get("code") in counted
    ]
    collective = await session.exec(
        select(
            func.count(col(Registration.id)),
            _sum(Registration.status == RegistrationStatus.ACHIEVED),
        )
        .join(OrgUnit, col(OrgUnit.id) == Registration.unit_id)
        .where(
            Registration.movement_id == movement.id, col(Registration.collective), *_counted(),
            *conditions,
        )
    )
    collective_registered, collective_achieved = collective.one()
    return Statistics(
        movement=movement,
        root=root,
        total=total,
        children=children,
        titles=titles,
        collective_registered=int(collective_registered or 0),
        collective_achieved=int(collective_achieved or 0),
    )


# --- 2. the export -------------------------------------------------------------------------------


_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_names(names: Iterable[str], *, taken: Iterable[str] = ()) -> list[str]:
    """Excel sheet names for `names`, in order: without the characters Excel refuses, at most
    31 characters, and unique (ignoring case) among themselves and `taken`."""
    used = {name.casefold() for name in taken}
    result = []
    for name in names:
        base = " ".join(_SHEET_FORBIDDEN.sub(" ", name).split()).strip("' ") or "—"
        candidate = base[:SHEET_NAME_MAX].rstrip("' ")
        number = 1
        while candidate.casefold() in used:
            number += 1
            suffix = f" ({number})"
            candidate = base[: SHEET_NAME_MAX - len(suffix)].rstrip("' ") + suffix
        used.add(candidate.casefold())
        result.append(candidate)
    return result


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percent_cell(sheet: Any, value: float | None) -> Any:
    cell = WriteOnlyCell(sheet, value=value)
    cell.number_format = "0.0%"
    return cell


def _bold_row(sheet: Any, values: Sequence[Any]) -> list[Any]:
    bold = Font(bold=True)
    cells = []
    for value in values:
        cell = text_cell(sheet, value) if isinstance(value, str) else WriteOnlyCell(sheet, value)
        cell.font = bold
        cells.append(cell)
    return cells


def _summary_row(sheet: Any, name: str, numbers: Numbers) -> list[Any]:
    return [
        text_cell(sheet, name),
        numbers.members,
        numbers.registered,
        _percent_cell(sheet, _share(numbers.registered, numbers.members)),
        numbers.registered_women,
        _percent_cell(sheet, _share(numbers.registered_women, numbers.registered)),
        numbers.assessed,
        numbers.achieved,
    ]


async def export_xlsx(
    session: AsyncSession,
    actor: Actor,
    *,
    movement_id: int,
    translate: Translate,
    tz: tzinfo,
    now: datetime,
) -> bytes:
    """The registrants as an .xlsx: a summary sheet (per unit: members, registrants, % of
    members, women among registrants and their %, assessed, achieved; then the total) and one
    sheet per unit with registrations, whose last column ("Kết quả") the official fills in and
    sends back (the first column is the registration's id). Next to each title, what its
    requirements still miss as of `now`. Audited with the counts only."""
    movement = await movement_run_by(session, actor, movement_id)
    conditions = await _units_condition(session, actor, movement)
    per_unit = await _numbers_by_unit(session, movement, conditions)
    with_rows = await session.exec(
        select(Registration.unit_id, func.count(col(Registration.id)))
        .join(OrgUnit, col(OrgUnit.id) == Registration.unit_id)
        .where(Registration.movement_id == movement.id, *_counted(), *conditions)
        .group_by(col(Registration.unit_id))
    )
    row_counts = dict(with_rows.all())

    workbook = Workbook(write_only=True)
    summary_name = translate("movement_reports.sheet.summary")[:SHEET_NAME_MAX]
    summary = workbook.create_sheet(summary_name)
    summary.column_dimensions["A"].width = 40
    summary.append(_bold_row(summary, [movement.name]))
    summary.append(_bold_row(summary, [translate(key) for key in SUMMARY_COLUMNS]))
    total = Numbers()
    for unit in per_unit:
        total.add(unit.numbers)
        summary.append(_summary_row(summary, unit.name, unit.numbers))
    summary.append(
        _bold_row(summary, [translate("movement_reports.summary.total")])
        + _summary_row(summary, "", total)[1:]
    )
    summary.close()

    units = [unit for unit in per_unit if row_counts.get(unit.unit_id)]
    names = sheet_names([unit.name for unit in units], taken=[summary_name])
    rows_written = 0
    for start in range(0, len(units), EXPORT_UNITS_AT_ONCE):
        batch = units[start : start + EXPORT_UNITS_AT_ONCE]
        unit_ids = [unit.unit_id for unit in batch]
        rows = await _sheet_rows(session, movement, unit_ids)
        files = await _evidence_names(session, movement, unit_ids, translate)
        checks = await _sheet_requirements(session, movement, rows, now=now, tz=tz)
        for unit, name in zip(batch, names[start : start + EXPORT_UNITS_AT_ONCE], strict=True):
            values = [
                _unit_sheet_row(row, unit.name, movement, translate, tz, files, checks)
                for row in rows.get(unit.unit_id, [])
            ]
            await asyncio.to_thread(
                _write_unit_sheet, workbook, name, unit.name, movement, values, translate
            )
            rows_written += len(values)
    await audit.record(
        session,
        actor,
        "export_registrations",
        target_type="movement",
        target_id=movement.id,
        after={"units": len(units), "rows": rows_written},
    )
    buffer = io.BytesIO()
    await asyncio.to_thread(workbook.save, buffer)
    return buffer.getvalue()


async def _sheet_rows(
    session: AsyncSession, movement: Movement, unit_ids: list[int]
) -> dict[int, list[Any]]:
    evidence = (
        select(func.count(col(Evidence.id)))
        .where(Evidence.registration_id == Registration.id)
        .scalar_subquery()
    )
    found = await session.exec(
        select(
            Registration.unit_id,
            Registration.id,
            Registration.collective,
            Member.full_name,
            Member.position,
            Member.gender,
            Registration.title_code,
            Registration.commitment,
            Registration.status,
            Registration.submitted_at,
            evidence,
            Registration.result_note,
            Registration.member_id,
            Registration.school_year,
        )
        .outerjoin(Member, col(Member.id) == Registration.member_id)
        .where(
            Registration.movement_id == movement.id, *_counted(),
            col(Registration.unit_id).in_(unit_ids),
        )
        .order_by(
            col(Registration.collective).desc(), col(Member.full_name_folded),
            col(Registration.id),
        )
    )
    rows: dict[int, list[Any]] = defaultdict(list)
    for row in found.all():
        rows[row[0]].append(row[1:])
    return rows


async def _sheet_requirements(
    session: AsyncSession, movement: Movement, rows: dict[int, list[Any]], *, now: datetime,
    tz: tzinfo,
) -> dict[int, TitleCheck]:
    """The title requirements of the individual registrants of a batch of sheets, by
    registration id (see _sheet_rows for the columns)."""
    aims: dict[int, Aim] = {}
    for unit_rows in rows.values():
        for row in unit_rows:
            registration_id, collective, title, member_id, school_year = (
                row[0], row[1], row[5], row[11], row[12]
            )
            if member_id is not None and not collective:
                aims[registration_id] = Aim(
                    member_id, title, title_name(movement, title), school_year
                )
    checks = await check_aims(session, aims.values(), now=now, tz=tz)
    return {
        registration_id: checks[aim] for registration_id, aim in aims.items() if aim in checks
    }


async def _evidence_names(
    session: AsyncSession, movement: Movement, unit_ids: list[int], translate: Translate
) -> dict[int, str]:
    """The evidence of the units' registrations, per registration: its files' names in the
    order they were sent, separated by "; "."""
    found = await session.exec(
        select(Evidence.registration_id, Evidence.kind, Evidence.file_name)
        .join(Registration, col(Registration.id) == Evidence.registration_id)
        .where(
            Registration.movement_id == movement.id, *_counted(),
            col(Registration.unit_id).in_(unit_ids),
        )
        .order_by(col(Evidence.registration_id), col(Evidence.id))
    )
    names: dict[int, list[str]] = defaultdict(list)
    for registration_id, kind, file_name in found.all():
        names[registration_id].append(evidence_name(kind, file_name, translate))
    return {registration_id: "; ".join(listed) for registration_id, listed in names.items()}


def _unit_sheet_row(
    row: Any,
    unit_name: str,
    movement: Movement,
    translate: Translate,
    tz: tzinfo,
    files: dict[int, str],
    checks: dict[int, TitleCheck],
) -> list[Any]:
    (registration_id, collective, name, position, gender, title, commitment, status, submitted,
     evidence, note, _, _) = row
    if collective:
        name = translate("movement_reports.collective_name", unit=unit_name)
    check = checks.get(registration_id)
    return [
        registration_id,
        name,
        translate(f"position.{position}") if position else None,
        translate(f"gender.{gender}") if gender else None,
        title_name(movement, title),
        summary_text(check, translate) if check is not None else None,
        commitment,
        translate(STATUS_KEYS[status]) if status in STATUS_KEYS else status,
        submitted.astimezone(tz).strftime("%d/%m/%Y %H:%M") if submitted else None,
        int(evidence or 0),
        files.get(registration_id),
        translate(RESULT_KEYS[status]) if status in RESULT_KEYS else None,
        note,
        None,
    ]


def _write_unit_sheet(
    workbook: Any,
    name: str,
    unit_name: str,
    movement: Movement,
    values: list[list[Any]],
    translate: Translate,
) -> None:
    """One unit's sheet: a title row, the header, the registrations; closed at once, so a
    city's two thousand sheets do not hold two thousand files open."""
    sheet = workbook.create_sheet(name)
    for letter, width in zip(
        "ABCDEFGHIJKLMN", (10, 28, 14, 10, 30, 40, 30, 16, 16, 10, 30, 14, 24, 22), strict=True
    ):
        sheet.column_dimensions[letter].width = width
    sheet.append(_bold_row(sheet, [
        translate("movement_reports.sheet.title", unit=unit_name, movement=movement.name)
    ]))
    sheet.append(_bold_row(sheet, [translate(key) for key in UNIT_SHEET_COLUMNS]))
    for row in values:
        sheet.append([text_cell(sheet, value) for value in row])
    sheet.close()


# --- 3. results from the workbook ---------------------------------------------------------------


def _header_key(text: str) -> str:
    """A header cell as compared: folded, without "(Đạt / Không đạt)"-style notes or a '*'."""
    return " ".join(fold(re.sub(r"\(.*?\)|[*:]", " ", text)).split())


# The columns the import reads, as people (and both languages of the export) name them.
_ID_HEADERS = {"ma dang ky", "ma dk", "registration id", "registration", "id"}
_RESULT_HEADERS = {"ket qua", "result", "ket qua danh gia"}
_NOTE_HEADERS = {"ghi chu", "note", "notes"}
_ACHIEVED = {"dat", "achieved", "x"}
_NOT_ACHIEVED = {"khong dat", "not achieved", "chua dat"}


@dataclass
class ResultRow:
    """One row of the workbook that gives a result: where it is, what it says, its problems,
    and the registration it names once checked."""

    sheet: str
    number: int
    registration_id: int | None
    raw_id: str
    value: str
    achieved: bool | None
    note: str | None
    note_given: bool
    problems: list[InvalidInput] = field(default_factory=list)
    registration: Registration | None = None


@dataclass
class ResultsImport:
    """What an import did (or, with problems and without valid_rows, would not do)."""

    filename: str
    rows: list[ResultRow]
    changed: list[Registration] = field(default_factory=list)
    unchanged: int = 0
    applied: bool = False

    @property
    def bad_rows(self) -> list[ResultRow]:
        return [row for row in self.rows if row.problems]

    @property
    def valid(self) -> int:
        return len(self.rows) - len(self.bad_rows)


def check_upload(*, filename: str, size: int | None) -> None:
    if not filename.lower().endswith(".xlsx"):
        raise InvalidInput("results_file_type", name=filename)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            "results_file_too_big", size=f"{size / 1024 / 1024:.1f}", limit=MAX_UPLOAD_MB
        )


_UNREADABLE = (
    zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError,
    ParseError,
)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_results(*, filename: str, content: bytes) -> list[ResultRow]:
    """The rows of an exported workbook whose result cell is filled (an empty one changes
    nothing), from every sheet that has the registration id and result columns (the summary
    has neither). InvalidInput for a file that cannot be one."""
    check_upload(filename=filename, size=len(content))
    if not content.startswith(b"PK"):
        raise InvalidInput("results_file_unreadable")
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except _UNREADABLE as error:
        log.info("unreadable results workbook: %s", type(error).__name__)
        raise InvalidInput("results_file_unreadable") from None
    try:
        rows: list[ResultRow] = []
        usable = False
        for sheet in workbook.worksheets:
            sheet.reset_dimensions()  # type: ignore[union-attr]
            found = _sheet_results(sheet.title, sheet.iter_rows(values_only=True))
            if found is None:
                continue
            usable = True
            for row in found:
                rows.append(row)
                if len(rows) > MAX_ROWS:
                    raise InvalidInput("results_too_many_rows", max=MAX_ROWS)
    except _UNREADABLE as error:
        log.info("unreadable results sheet: %s", type(error).__name__)
        raise InvalidInput("results_file_unreadable") from None
    finally:
        workbook.close()
    if not usable:
        raise InvalidInput("results_no_columns")
    if not rows:
        raise InvalidInput("results_empty")
    return rows


def _sheet_results(title: str, cells: Iterator[tuple[Any, ...]]) -> list[ResultRow] | None:
    """A sheet's rows with a result, or None when it has no id and result columns."""
    columns: dict[str, int] | None = None
    rows: list[ResultRow] = []
    for number, values in enumerate(cells, start=1):
        if columns is None:
            if number > HEADER_SEARCH_ROWS:
                return None
            columns = _columns(values)
            continue
        value = _cell_text(_at(values, columns["result"]))
        if not value:
            continue
        raw_id = _cell_text(_at(values, columns["id"]))
        note_given = "note" in columns
        note = (_cell_text(_at(values, columns["note"])) or None) if note_given else None
        row = ResultRow(
            sheet=title, number=number, registration_id=None, raw_id=raw_id, value=value,
            achieved=None, note=note, note_given=note_given,
        )
        answer = " ".join(fold(value).split())
        if answer in _ACHIEVED:
            row.achieved = True
        elif answer in _NOT_ACHIEVED:
            row.achieved = False
        else:
            row.problems.append(InvalidInput("results_value_invalid", value=value))
        if not raw_id:
            row.problems.append(InvalidInput("results_id_missing"))
        elif not raw_id.isdigit() or len(raw_id) > 12:
            row.problems.append(InvalidInput("results_id_invalid", value=raw_id))
        else:
            row.registration_id = int(raw_id)
        if note is not None and len(note) > NOTE_MAX:
            row.problems.append(InvalidInput("results_note_too_long", max=NOTE_MAX))
        rows.append(row)
    return rows if columns is not None else None


def _columns(values: tuple[Any, ...]) -> dict[str, int] | None:
    found: dict[str, int] = {}
    for index, value in enumerate(values):
        key = _header_key(_cell_text(value))
        for name, headers in (
            ("id", _ID_HEADERS), ("result", _RESULT_HEADERS), ("note", _NOTE_HEADERS)
        ):
            if key in headers and name not in found:
                found[name] = index
    return found if "id" in found and "result" in found else None


def _at(values: tuple[Any, ...], index: int) -> Any:
    return values[index] if index < len(values) else None


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


async def check_results(
    session: AsyncSession, actor: Actor, *, movement: Movement, rows: list[ResultRow]
) -> None:
    """Finds the registration each row names and adds the problems that depend on the database:
    unknown, of another movement, outside the official's scope, or in a state that takes no
    result; and ids given on several rows."""
    by_id: dict[int, list[ResultRow]] = defaultdict(list)
    for row in rows:
        if row.registration_id is not None:
            by_id[row.registration_id].append(row)
    for registration_id, same in by_id.items():
        if len(same) > 1:
            where = ", ".join(f"{row.sheet}!{row.number}" for row in same[:10])
            for row in same:
                row.problems.append(
                    InvalidInput("results_duplicate", id=registration_id, rows=where)
                )
    registrations: dict[int, Registration] = {}
    for chunk in _chunks(sorted(by_id)):
        found = await session.exec(select(Registration).where(col(Registration.id).in_(chunk)))
        registrations.update({registration.id: registration for registration in found.all()})  # type: ignore[misc]
    unit_ids = sorted({registration.unit_id for registration in registrations.values()})
    units: dict[int, OrgUnit] = {}
    for chunk in _chunks(unit_ids):
        found_units = await session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(chunk)))
        units.update({unit.id: unit for unit in found_units.all()})  # type: ignore[misc]
    refused = 0
    for row in rows:
        if row.registration_id is None:
            continue
        registration = registrations.get(row.registration_id)
        if registration is None:
            row.problems.append(InvalidInput("results_registration_unknown", id=row.raw_id))
            continue
        if registration.movement_id != movement.id:
            row.problems.append(InvalidInput("results_other_movement", id=row.raw_id))
            continue
        unit = units.get(registration.unit_id)
        if unit is None or not actor.covers(unit):
            refused += 1
            row.problems.append(InvalidInput("results_out_of_scope", id=row.raw_id))
            continue
        if row.achieved is not None:
            try:
                _check_result(registration, result_status(row.achieved))
            except NotAllowed:
                row.problems.append(InvalidInput("results_state", id=row.raw_id))
                continue
        row.registration = registration
    if refused:
        log.warning(
            "results import by identity %s (member %s) named %s registrations outside scope",
            actor.identity.id, actor.member_id, refused,
        )


async def apply_results(
    session: AsyncSession,
    actor: Actor,
    *,
    movement: Movement,
    result: ResultsImport,
    valid_rows: bool,
    now: datetime,
) -> None:
    """Gives the checked rows their results (nothing when a row has a problem, unless
    `valid_rows`), one audit entry per change and one for the import; flushes."""
    if result.bad_rows and not valid_rows:
        return
    entries: list[dict[str, Any]] = []
    for row in result.rows:
        registration = row.registration
        if row.problems or registration is None or row.achieved is None:
            continue
        target = result_status(row.achieved)
        note = row.note if row.note_given else registration.result_note
        if registration.status == target and registration.result_note == note:
            result.unchanged += 1
            continue
        before = _registration_snapshot(registration)
        _set_result(registration, target, note, actor, now)
        session.add(registration)
        result.changed.append(registration)
        entries.append({
            "actor_member_id": actor.member_id,
            "actor_identity_id": actor.identity.id,
            "at": now,
            "action": "decide_registration",
            "target_type": "registration",
            "target_id": registration.id,
            "before": before,
            "after": _registration_snapshot(registration),
        })
    await session.flush()
    if entries:
        connection = await session.connection()
        await connection.execute(insert(audit.AuditEntry), entries)
    result.applied = True
    await audit.record(
        session,
        actor,
        "import_results",
        target_type="movement",
        target_id=movement.id,
        after={
            "file": result.filename,
            "rows": len(result.rows),
            "changed": len(result.changed),
            "unchanged": result.unchanged,
            "skipped": len(result.bad_rows),
        },
    )


async def import_results(
    session: AsyncSession,
    actor: Actor,
    *,
    movement_id: int,
    filename: str,
    content: bytes,
    now: datetime,
    valid_rows: bool = False,
) -> ResultsImport:
    """Reads, checks and (when it may) applies a workbook of results: the steps above in one
    call. Reading is CPU work: a thread keeps the bot answering meanwhile."""
    movement = await movement_run_by(session, actor, movement_id)
    _check_running(movement)
    rows = await asyncio.to_thread(read_results, filename=filename, content=content)
    result = ResultsImport(filename=filename, rows=rows)
    await check_results(session, actor, movement=movement, rows=rows)
    await apply_results(
        session, actor, movement=movement, result=result, valid_rows=valid_rows, now=now
    )
    return result


def describe(problems: Iterable[InvalidInput], translate: Translate) -> str:
    """A row's problems in the reader's language, one after the other."""
    return "; ".join(translate(f"error.{problem.code}", **problem.params) for problem in problems)


def results_report(result: ResultsImport, translate: Translate) -> bytes:
    """An .xlsx of the rows with problems: the sheet, the row, the id and value as they were,
    and what is wrong."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(translate("movement_reports.report.sheet")[:SHEET_NAME_MAX])
    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions["E"].width = 60
    sheet.append(_bold_row(sheet, [translate(key) for key in REPORT_COLUMNS]))
    for row in result.bad_rows:
        sheet.append([
            text_cell(sheet, row.sheet), row.number, text_cell(sheet, row.raw_id),
            text_cell(sheet, row.value), text_cell(sheet, describe(row.problems, translate)),
        ])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def report_name(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return f"{stem or 'results'}.errors.xlsx"
