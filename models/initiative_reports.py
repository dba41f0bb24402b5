"""The numbers officials report about initiatives ("559 sáng kiến được quận công nhận năm học
2025-2026") and the council's documents: the .xlsx of a unit's queue for its meeting and one
initiative as a .docx to read on paper.

Statistics (`/initiative stats`) are for one scope (a unit and its subtree) and one school year,
each a GROUP BY query, so a city of 20,000 initiatives costs a handful of queries whatever its
size (docs/performance.md). Two kinds of numbers, each counted where it belongs:

- submissions count by origin: the initiatives that come from the scope (`origin_unit_id` in
  its subtree) and were first submitted in the year, by their current status; drafts are the
  authors' own and never counted. A forwarded initiative counts once, where it came from.
- recognitions count by who recognised: the Recognition rows made by the scope's units in the
  year (the school year of the decision), per level. An initiative recognised by its school and
  then by its district counts once at each level: that is how officials report them.

By field and by unit (the scope's direct children, each with its subtree) give both, the
recognitions placed by the initiative's field or origin. By year gives the totals of every
school year with data.

The exports are built here (bytes out, the words from a `translate(key, **params)` callable in
the reader's language) and only sent by handlers/initiative_reports.py. Who may: the officials
with Action.RUN_REVIEW on the unit (its own officials, those above, administrators); for one
initiative's document also the reviewers seated on its current round. Each council's scores
stay its own: a unit's workbook shows the rounds its council held, not those of the council an
initiative was forwarded to (`_round_units`). Every export is audited.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Cm, Pt
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy import and_, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audit
from models.access import Action, Actor, authorize, require_official
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiative_review import QUEUE_STATES, tally_of
from models.initiative_review import Tally as Scores
from models.initiatives import (
    LEVEL_ORDER,
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeEvent,
    InitiativeField,
    InitiativeStatus,
    Recognition,
    ReviewSeat,
    attachments_of,
    authors_of,
    form_sections,
    get_initiative,
    history,
    is_author,
    recognitions_of,
    seats_of,
)
from models.members import Member, MemberStatus
from models.movements import school_year_of
from models.org import OrgUnit
from models.roster import chunks, text_cell

log = logging.getLogger(__name__)

Translate = Callable[..., str]

SHEET_NAME_MAX = 31
_YEAR = re.compile(r"^(\d{4})-(\d{4})$")

# The order statuses are counted and shown in (drafts are never counted).
STATUS_ORDER = (
    InitiativeStatus.SUBMITTED,
    InitiativeStatus.UNDER_REVIEW,
    InitiativeStatus.RETURNED,
    InitiativeStatus.RESUBMITTED,
    InitiativeStatus.ACCEPTED,
    InitiativeStatus.REJECTED,
)
# The chair's decisions: an initiative decided at a unit this school year stays in its export.
DECISIONS = (InitiativeStatus.ACCEPTED, InitiativeStatus.RETURNED, InitiativeStatus.REJECTED)


# --- 1. statistics -------------------------------------------------------------------------------


@dataclass
class Tally:
    """Initiatives submitted, and recognitions made, per level."""

    submitted: int = 0
    recognised: dict[str, int] = field(default_factory=dict)

    @property
    def recognitions(self) -> int:
        return sum(self.recognised.values())

    @property
    def is_empty(self) -> bool:
        return self.submitted == 0 and self.recognitions == 0

    def add(self, *, submitted: int = 0, level: str | None = None, recognitions: int = 0) -> None:
        self.submitted += submitted
        if level is not None:
            self.recognised[level] = self.recognised.get(level, 0) + recognitions


@dataclass
class UnitTally:
    unit: OrgUnit
    tally: Tally


@dataclass
class InitiativeStatistics:
    """One scope's numbers for one school year, as the screen shows them."""

    root: OrgUnit
    school_year: str
    # Every school year with data, newest first.
    years: list[str]
    # The year's totals: submissions from the scope, recognitions by its units per level.
    total: Tally
    by_status: dict[str, int]
    by_field: dict[str, Tally]
    # The direct children with data, by name; `quiet_units` active ones have none this year.
    by_unit: list[UnitTally]
    quiet_units: int
    by_year: list[tuple[str, Tally]]
    # The unit above, when the actor covers it too (to go back up after opening a child).
    parent: OrgUnit | None
    # The actor's other top units, apart from the one `root` lies in (each its own screen).
    other_scopes: list[OrgUnit]


def school_year_range(year: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants (UTC) a school year "2025-2026" runs between: 1 September, local time."""
    start = int(check_school_year(year)[:4])
    begins = datetime(start, 9, 1, tzinfo=tz).astimezone(UTC)
    ends = datetime(start + 1, 9, 1, tzinfo=tz).astimezone(UTC)
    return begins, ends


def check_school_year(year: str) -> str:
    """A school year as stored ("2025-2026"); anything else is refused."""
    found = _YEAR.match(year)
    if found is None or int(found.group(2)) != int(found.group(1)) + 1:
        raise InvalidInput("initiative_stats_year")
    return year


def _subtree(unit: Any, path: str) -> Any:
    """A condition on an (aliased) OrgUnit: it is the unit at `path` or lies below it."""
    return col(unit.path).like(f"{path}%")


async def stats_scopes(session: AsyncSession, actor: Actor) -> list[OrgUnit]:
    """The top units whose numbers the actor sees, by name: the units they are official of
    (one inside another counts once, as the outer one), or for an administrator the roots of
    the tree. Anyone else is refused."""
    require_official(actor)
    if actor.is_admin:
        rows = await session.exec(
            select(OrgUnit)
            .where(col(OrgUnit.parent_id).is_(None), col(OrgUnit.is_active))
            .order_by(col(OrgUnit.name_folded), col(OrgUnit.id))
        )
        return list(rows.all())
    paths = [scope.path for scope in actor.official_of]
    tops = {
        scope.unit_id for scope in actor.official_of
        if not any(scope.path != path and scope.path.startswith(path) for path in paths)
    }
    rows = await session.exec(
        select(OrgUnit)
        .where(col(OrgUnit.id).in_(tops))
        .order_by(col(OrgUnit.name_folded), col(OrgUnit.id))
    )
    return list(rows.all())


def _child_of(root: OrgUnit, path: str) -> int | None:
    """The id of root's child on the way down to the unit at `path` (None: root itself or a
    unit outside it)."""
    if not path.startswith(root.path) or path == root.path:
        return None
    return int(path[len(root.path):].split("/", 1)[0])


async def statistics(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int | None = None,
    school_year: str | None = None,
    now: datetime,
    tz: tzinfo,
) -> InitiativeStatistics:
    """The numbers of `unit_id`'s subtree (by default the actor's first scope) for a school
    year (by default the current one), for officials with RUN_REVIEW on that unit."""
    scopes = await stats_scopes(session, actor)
    if unit_id is None:
        if not scopes:
            raise NotFound("unit_unavailable")
        root = scopes[0]
    else:
        found = await session.get(OrgUnit, unit_id)
        if found is None:
            raise NotFound("unit_unavailable")
        await authorize(session, actor, Action.RUN_REVIEW, unit=found)
        root = found
    year = check_school_year(school_year) if school_year else school_year_of(now, tz)

    origin = aliased(OrgUnit)
    maker = aliased(OrgUnit)
    from_scope = [
        _subtree(origin, root.path),
        col(Initiative.status) != InitiativeStatus.DRAFT,
        col(Initiative.school_year).is_not(None),
    ]
    by_scope = [_subtree(maker, root.path)]

    # By year: submissions and recognitions of every year (two grouped queries).
    years: dict[str, Tally] = defaultdict(Tally)
    rows = await session.exec(
        select(Initiative.school_year, func.count(col(Initiative.id)))
        .join(origin, col(origin.id) == Initiative.origin_unit_id)
        .where(*from_scope)
        .group_by(col(Initiative.school_year))
    )
    for found_year, count in rows.all():
        years[found_year].add(submitted=int(count))
    rows = await session.exec(
        select(Recognition.school_year, Recognition.level, func.count(col(Recognition.id)))
        .join(maker, col(maker.id) == Recognition.unit_id)
        .where(*by_scope)
        .group_by(col(Recognition.school_year), col(Recognition.level))
    )
    for found_year, level, count in rows.all():
        years[found_year].add(level=level, recognitions=int(count))
    by_year = sorted(years.items(), reverse=True)
    total = years.get(year, Tally())

    in_year = Initiative.school_year == year
    rows = await session.exec(
        select(Initiative.status, func.count(col(Initiative.id)))
        .join(origin, col(origin.id) == Initiative.origin_unit_id)
        .where(*from_scope, in_year)
        .group_by(col(Initiative.status))
    )
    by_status = {status: int(count) for status, count in rows.all()}

    by_field: dict[str, Tally] = defaultdict(Tally)
    rows = await session.exec(
        select(Initiative.field, func.count(col(Initiative.id)))
        .join(origin, col(origin.id) == Initiative.origin_unit_id)
        .where(*from_scope, in_year)
        .group_by(col(Initiative.field))
    )
    for field_code, count in rows.all():
        by_field[field_code or InitiativeField.OTHER].add(submitted=int(count))
    recognised_in_year = Recognition.school_year == year
    rows = await session.exec(
        select(Initiative.field, Recognition.level, func.count(col(Recognition.id)))
        .select_from(Recognition)
        .join(Initiative, col(Initiative.id) == Recognition.initiative_id)
        .join(maker, col(maker.id) == Recognition.unit_id)
        .where(*by_scope, recognised_in_year)
        .group_by(col(Initiative.field), col(Recognition.level))
    )
    for field_code, level, count in rows.all():
        by_field[field_code or InitiativeField.OTHER].add(level=level, recognitions=int(count))
    # In the form's order of fields (a code no longer offered, last).
    order = [str(code) for code in InitiativeField]
    fields = dict(sorted(
        by_field.items(),
        key=lambda item: order.index(item[0]) if item[0] in order else len(order),
    ))

    # By unit: grouped per unit of origin (at most one row per unit), summed per child here.
    by_child: dict[int, Tally] = defaultdict(Tally)
    rows = await session.exec(
        select(origin.path, func.count(col(Initiative.id)))
        .select_from(Initiative)
        .join(origin, col(origin.id) == Initiative.origin_unit_id)
        .where(*from_scope, in_year)
        .group_by(col(origin.path))
    )
    for path, count in rows.all():
        child = _child_of(root, path)
        if child is not None:
            by_child[child].add(submitted=int(count))
    rows = await session.exec(
        select(origin.path, Recognition.level, func.count(col(Recognition.id)))
        .select_from(Recognition)
        .join(Initiative, col(Initiative.id) == Recognition.initiative_id)
        .join(origin, col(origin.id) == Initiative.origin_unit_id)
        .join(maker, col(maker.id) == Recognition.unit_id)
        .where(*by_scope, recognised_in_year)
        .group_by(col(origin.path), col(Recognition.level))
    )
    for path, level, count in rows.all():
        child = _child_of(root, path)
        if child is not None:
            by_child[child].add(level=level, recognitions=int(count))
    children = await session.exec(
        select(OrgUnit)
        .where(OrgUnit.parent_id == root.id)
        .order_by(col(OrgUnit.name_folded), col(OrgUnit.id))
    )
    by_unit: list[UnitTally] = []
    quiet = 0
    for child in children.all():
        tally = by_child.get(child.id)  # type: ignore[arg-type]
        if tally is not None and not tally.is_empty:
            by_unit.append(UnitTally(child, tally))
        elif child.is_active:
            quiet += 1

    parent = None
    if root.parent_id is not None:
        above = await session.get(OrgUnit, root.parent_id)
        if above is not None and actor.covers(above):
            parent = above
    return InitiativeStatistics(
        root=root,
        school_year=year,
        years=[found_year for found_year, _ in by_year],
        total=total,
        by_status={status: by_status[status] for status in STATUS_ORDER if status in by_status},
        by_field=fields,
        by_unit=by_unit,
        quiet_units=quiet,
        by_year=by_year,
        parent=parent,
        other_scopes=[scope for scope in scopes if not scope.contains(root)],
    )


# --- 2. the council's workbook -------------------------------------------------------------------


QUEUE_COLUMNS = (
    "initiative_reports.column.number",
    "initiative_reports.column.id",
    "initiative.form.title",
    "initiative.form.field",
    "initiative.form.authors",
    "initiative_reports.column.origin",
    "initiative_reports.column.status",
    "initiative_reports.column.submitted_at",
    "initiative.form.problem",
    "initiative.form.solution",
    "initiative.form.first_applied",
    "initiative.form.benefits",
    "initiative.form.confidential",
    "initiative_reports.column.attachments",
    "initiative_reports.column.round",
    "initiative_reports.column.scored",
    "initiative_reports.column.avg_novelty",
    "initiative_reports.column.avg_effectiveness",
    "initiative_reports.column.avg_applicability",
    "initiative_reports.column.avg_total",
    "initiative_reports.column.spread",
    "initiative_reports.column.certificate",
    "initiative_reports.column.council_comment",
)
QUEUE_WIDTHS = (6, 9, 36, 20, 30, 28, 18, 16, 50, 60, 28, 50, 30, 10, 8, 9, 10, 10, 10, 10, 10,
                18, 40)
# The columns of the request's texts: wrapped, since each may run to 3,000 characters.
QUEUE_WRAPPED = {2, 4, 8, 9, 10, 11, 12, 22}
QUEUE_DECIMALS = {16, 17, 18, 19}
SCORE_COLUMNS = (
    "initiative_reports.column.id",
    "initiative.form.title",
    "initiative_reports.column.round",
    "initiative_reports.column.reviewer",
    "initiative_reports.column.chair",
    "initiative_reports.column.novelty",
    "initiative_reports.column.effectiveness",
    "initiative_reports.column.applicability",
    "initiative_reports.column.total",
    "initiative_reports.column.comment",
    "initiative_reports.column.scored_at",
)
SCORE_WIDTHS = (9, 36, 7, 28, 10, 10, 10, 10, 8, 50, 17)
SCORE_WRAPPED = {1, 9}
WORKBOOK_KEYS = (
    *QUEUE_COLUMNS, *SCORE_COLUMNS, "initiative_reports.sheet.queue",
    "initiative_reports.sheet.scores", "initiative_reports.sheet.title",
    "initiative_reports.yes", "initiative_reports.no",
    *(f"initiative.status.{status}" for status in InitiativeStatus),
    *(f"initiative.field.{code}" for code in InitiativeField),
    "initiative.form.nothing_confidential",
)


async def queue_unit(session: AsyncSession, actor: Actor, unit_id: int) -> OrgUnit:
    """The receiving unit a button names, if the actor runs its council (RUN_REVIEW)."""
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.RUN_REVIEW, unit=unit)
    return unit


async def _queue_initiatives(
    session: AsyncSession, unit: OrgUnit, begins: datetime, ends: datetime
) -> list[Initiative]:
    decided_here = select(InitiativeEvent.initiative_id).where(
        InitiativeEvent.unit_id == unit.id,
        col(InitiativeEvent.to_status).in_(DECISIONS),
        col(InitiativeEvent.at) >= begins,
        col(InitiativeEvent.at) < ends,
    )
    rows = await session.exec(
        select(Initiative).where(
            or_(
                and_(Initiative.unit_id == unit.id, col(Initiative.status).in_(QUEUE_STATES)),
                col(Initiative.id).in_(decided_here),
            )
        )
    )
    return list(rows.all())


async def _round_units(
    session: AsyncSession, initiative_ids: Sequence[int]
) -> dict[int, dict[int, int | None]]:
    """Where each council of the initiatives sat: round → unit. Round n is the n-th time the
    initiative went under review: seating a council adds 1 to the round and makes that
    transition in one step (models/initiative_review.seat_council), and the event records the
    unit. A council's scores are its unit's business: a school's export does not show the
    district's council, nor a district's paper the school's as its own."""
    held: dict[int, dict[int, int | None]] = defaultdict(dict)
    for chunk in chunks(initiative_ids):
        rows = await session.exec(
            select(InitiativeEvent.initiative_id, InitiativeEvent.unit_id)
            .where(
                col(InitiativeEvent.initiative_id).in_(chunk),
                InitiativeEvent.to_status == InitiativeStatus.UNDER_REVIEW,
            )
            .order_by(col(InitiativeEvent.initiative_id), col(InitiativeEvent.id))
        )
        for initiative_id, unit_id in rows.all():
            rounds = held[initiative_id]
            rounds[len(rounds) + 1] = unit_id
    return held


def _section_values(
    initiative: Initiative, authors: list[InitiativeAuthor], translate: Translate
) -> dict[str, str]:
    """Each part of the request by its label key, as the council reads it ("" when missing)."""
    values = {}
    for section in form_sections(initiative, authors):
        values[section.label_key] = (
            translate(section.value_key) if section.value_key is not None else section.text
        )
    return values


def _local(moment: datetime | None, tz: tzinfo, pattern: str = "%d/%m/%Y %H:%M") -> str | None:
    return moment.astimezone(tz).strftime(pattern) if moment is not None else None


def _wrapped(sheet: Any, value: Any) -> Any:
    """A long text cell: kept as text, wrapped, read from the top."""
    cell = text_cell(sheet, value)
    if isinstance(value, str):
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    return cell


def _number(sheet: Any, value: float | None) -> Any:
    cell = WriteOnlyCell(sheet, value=None if value is None else round(value, 2))
    cell.number_format = "0.00"
    return cell


def _bold_row(sheet: Any, values: Iterable[str]) -> list[Any]:
    bold = Font(bold=True)
    cells = []
    for value in values:
        cell = text_cell(sheet, value)
        cell.font = bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(cell)
    return cells


def _write_sheet(
    workbook: Any,
    name: str,
    title: str,
    headers: Sequence[str],
    widths: Sequence[int],
    rows: list[list[Any]],
    *,
    wrapped: set[int],
    decimals: Collection[int] = (),
) -> None:
    """One sheet: a title row, the header, the rows (long texts wrapped, averages with two
    decimals); closed at once."""
    sheet = workbook.create_sheet(name[:SHEET_NAME_MAX])
    for number, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "C3"
    sheet.append(_bold_row(sheet, [title]))
    sheet.append(_bold_row(sheet, headers))
    for row in rows:
        sheet.append([
            _wrapped(sheet, value) if index in wrapped
            else _number(sheet, value) if index in decimals
            else text_cell(sheet, value)
            for index, value in enumerate(row)
        ])
    sheet.close()


async def _authored_by(session: AsyncSession, actor: Actor, ids: Sequence[int]) -> set[int]:
    """Which of the initiatives the actor wrote or co-wrote."""
    if actor.member_id is None:
        return set()
    own: set[int] = set()
    for chunk in chunks(ids):
        rows = await session.exec(
            select(Initiative.id).where(
                col(Initiative.id).in_(chunk),
                or_(
                    Initiative.submitter_member_id == actor.member_id,
                    col(Initiative.id).in_(
                        select(InitiativeAuthor.initiative_id).where(
                            InitiativeAuthor.member_id == actor.member_id
                        )
                    ),
                ),
            )
        )
        own.update(rows.all())
    return own


@dataclass
class QueueExport:
    unit: OrgUnit
    school_year: str
    initiatives: int
    content: bytes


async def export_queue_xlsx(
    session: AsyncSession,
    actor: Actor,
    *,
    unit_id: int,
    translate: Translate,
    tz: tzinfo,
    now: datetime,
) -> QueueExport:
    """The council's workbook of a receiving unit: sheet 1 its queue (initiatives there now
    submitted, resubmitted or under review, and those its council decided this school year),
    one row per initiative with every text of the request, the averages and spread of the
    latest round this council held; sheet 2 every seat of every round it held on them, with
    its scores (a council above, after forwarding, is not this council's; and none of the
    official's own initiatives). Audited (counts only)."""
    unit = await queue_unit(session, actor, unit_id)
    year = school_year_of(now, tz)
    begins, ends = school_year_range(year, tz)
    initiatives = await _queue_initiatives(session, unit, begins, ends)
    ids = [initiative.id for initiative in initiatives]  # type: ignore[misc]

    authors: dict[int, list[InitiativeAuthor]] = defaultdict(list)
    attachments: dict[int, int] = {}
    arrived: dict[int, datetime] = {}
    decided: dict[int, str] = {}
    said: dict[int, str | None] = {}
    certificates: dict[int, str] = {}
    seats: list[tuple[ReviewSeat, str | None]] = []
    for chunk in chunks(ids):
        found = await session.exec(
            select(InitiativeAuthor)
            .where(col(InitiativeAuthor.initiative_id).in_(chunk))
            .order_by(col(InitiativeAuthor.position), col(InitiativeAuthor.id))
        )
        for author in found.all():
            authors[author.initiative_id].append(author)
        counted = await session.exec(
            select(InitiativeAttachment.initiative_id, func.count(col(InitiativeAttachment.id)))
            .where(col(InitiativeAttachment.initiative_id).in_(chunk))
            .group_by(col(InitiativeAttachment.initiative_id))
        )
        attachments.update({key: int(value) for key, value in counted.all()})
        events = await session.exec(
            select(
                InitiativeEvent.initiative_id, InitiativeEvent.to_status, InitiativeEvent.at,
                InitiativeEvent.comment,
            )
            .where(
                col(InitiativeEvent.initiative_id).in_(chunk),
                InitiativeEvent.unit_id == unit.id,
                col(InitiativeEvent.to_status).in_(
                    [InitiativeStatus.SUBMITTED, InitiativeStatus.RESUBMITTED, *DECISIONS]
                ),
            )
            .order_by(col(InitiativeEvent.at), col(InitiativeEvent.id))
        )
        for initiative_id, status, at, comment in events.all():
            if status in DECISIONS:
                # The latest decision here, and what this council said with it (an acceptance
                # says its certificate number, which has a column of its own).
                decided[initiative_id] = status
                said[initiative_id] = None if status == InitiativeStatus.ACCEPTED else comment
            else:
                arrived.setdefault(initiative_id, at)  # when it first came here
        recognised = await session.exec(
            select(Recognition.initiative_id, Recognition.certificate_no).where(
                col(Recognition.initiative_id).in_(chunk), Recognition.unit_id == unit.id
            )
        )
        certificates.update(dict(recognised.all()))
        found_seats = await session.exec(
            select(ReviewSeat, Member.full_name)
            .outerjoin(Member, col(Member.id) == ReviewSeat.reviewer_member_id)
            .where(col(ReviewSeat.initiative_id).in_(chunk))
            .order_by(
                col(ReviewSeat.initiative_id), col(ReviewSeat.round),
                col(ReviewSeat.is_chair).desc(), col(ReviewSeat.id),
            )
        )
        seats += list(found_seats.all())
    # An official's own initiatives are listed without the council's scores (as the review
    # keeps authors out of their own council); other units' councils are not this one's.
    own = await _authored_by(session, actor, ids)
    held = await _round_units(session, ids)
    seats = [
        (seat, name) for seat, name in seats
        if seat.initiative_id not in own
        and held[seat.initiative_id].get(seat.round) == unit.id
    ]
    # Each initiative's latest round here, and its scores.
    last_round: dict[int, int] = {}
    for key, rounds in held.items():
        here = [number for number, where in rounds.items() if where == unit.id]
        if here:
            last_round[key] = max(here)
    by_initiative = {initiative.id: initiative for initiative in initiatives}
    council: dict[int, list[ReviewSeat]] = defaultdict(list)
    for seat, _ in seats:
        if last_round.get(seat.initiative_id) == seat.round:
            council[seat.initiative_id].append(seat)
    averages: dict[int, Scores] = {
        key: tally_of(by_initiative[key], found, now) for key, found in council.items()
    }
    origin_ids = {i.origin_unit_id for i in initiatives if i.origin_unit_id is not None}
    origins: dict[int, str] = {}
    for chunk in chunks(sorted(origin_ids)):
        found_units = await session.exec(
            select(OrgUnit.id, OrgUnit.name).where(col(OrgUnit.id).in_(chunk))
        )
        origins.update(dict(found_units.all()))

    def status_here(initiative: Initiative) -> str:
        # Forwarded since: what this council decided, not where it stands above.
        if initiative.unit_id == unit.id:
            return initiative.status
        return decided.get(initiative.id, initiative.status)  # type: ignore[arg-type]

    # The council's work first (under review, then waiting), then what it decided.
    rank = {InitiativeStatus.UNDER_REVIEW: 0, InitiativeStatus.RESUBMITTED: 1,
            InitiativeStatus.SUBMITTED: 1}
    never = datetime.max.replace(tzinfo=UTC)
    initiatives.sort(key=lambda i: (
        rank.get(status_here(i), 2), arrived.get(i.id) or i.submitted_at or never, i.id,  # type: ignore[arg-type]
    ))
    titles = {initiative.id: initiative.title for initiative in initiatives}
    queue_rows = []
    for number, initiative in enumerate(initiatives, start=1):
        key = initiative.id
        texts = _section_values(initiative, authors[key], translate)  # type: ignore[index]
        scores = averages.get(key)  # type: ignore[arg-type]
        if scores is not None and not scores.scored:
            scores = None
        queue_rows.append([
            number,
            key,
            texts["initiative.form.title"],
            texts["initiative.form.field"],
            texts["initiative.form.authors"],
            origins.get(initiative.origin_unit_id),  # type: ignore[arg-type]
            translate(f"initiative.status.{status_here(initiative)}"),
            _local(arrived.get(key) or initiative.submitted_at, tz, "%d/%m/%Y"),  # type: ignore[arg-type]
            texts["initiative.form.problem"],
            texts["initiative.form.solution"],
            texts["initiative.form.first_applied"],
            texts["initiative.form.benefits"],
            texts["initiative.form.confidential"],
            attachments.get(key, 0),  # type: ignore[arg-type]
            last_round.get(key),  # type: ignore[arg-type]
            scores.scored if scores else 0,
            *(
                (None,) * 5 if scores is None else (
                    scores.novelty, scores.effectiveness, scores.applicability, scores.total,
                    scores.spread,
                )
            ),
            certificates.get(key),  # type: ignore[arg-type]
            said.get(key),  # type: ignore[arg-type]
        ])
    yes, no = translate("initiative_reports.yes"), translate("initiative_reports.no")
    score_rows = [
        [
            seat.initiative_id,
            titles.get(seat.initiative_id),
            seat.round,
            name,
            yes if seat.is_chair else no,
            seat.novelty if seat.scored_at else None,
            seat.effectiveness if seat.scored_at else None,
            seat.applicability if seat.scored_at else None,
            seat.total,
            seat.comment,
            _local(seat.scored_at, tz),
        ]
        for seat, name in seats
    ]
    content = await asyncio.to_thread(
        _queue_workbook, unit, year, queue_rows, score_rows, translate
    )
    await audit.record(
        session,
        actor,
        "export_initiatives",
        target_type="unit",
        target_id=unit.id,
        after={"initiatives": len(queue_rows), "seats": len(score_rows), "school_year": year},
    )
    return QueueExport(unit, year, len(queue_rows), content)


def _queue_workbook(
    unit: OrgUnit,
    year: str,
    queue_rows: list[list[Any]],
    score_rows: list[list[Any]],
    translate: Translate,
) -> bytes:
    workbook = Workbook(write_only=True)
    title = translate("initiative_reports.sheet.title", unit=unit.name, year=year)
    _write_sheet(
        workbook, translate("initiative_reports.sheet.queue"), title,
        [translate(key) for key in QUEUE_COLUMNS], QUEUE_WIDTHS, queue_rows,
        wrapped=QUEUE_WRAPPED, decimals=QUEUE_DECIMALS,
    )
    _write_sheet(
        workbook, translate("initiative_reports.sheet.scores"), title,
        [translate(key) for key in SCORE_COLUMNS], SCORE_WIDTHS, score_rows,
        wrapped=SCORE_WRAPPED,
    )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- 3. one initiative on paper ------------------------------------------------------------------


DOCUMENT_KEYS = (
    "initiative_reports.doc.title",
    "initiative_reports.doc.to",
    "initiative_reports.doc.about",
    "initiative_reports.doc.author_name",
    "initiative_reports.doc.author_share",
    "initiative_reports.doc.attachments",
    "initiative_reports.doc.no_attachments",
    "initiative_reports.doc.photo",
    "initiative_reports.doc.file",
    "initiative_reports.doc.history",
    "initiative_reports.doc.when",
    "initiative_reports.doc.status",
    "initiative_reports.doc.where",
    "initiative_reports.doc.said",
    "initiative_reports.doc.recognitions",
    "initiative_reports.doc.recognition",
    "initiative_reports.doc.scores",
    "initiative_reports.doc.scores_heading",
    "initiative_reports.doc.no_council",
    "initiative_reports.doc.chair",
    "initiative_reports.doc.not_scored",
    "initiative_reports.doc.averages",
    "initiative_reports.doc.generated",
    "initiative_reports.column.number",
    "initiative_reports.column.reviewer",
    "initiative_reports.column.novelty",
    "initiative_reports.column.effectiveness",
    "initiative_reports.column.applicability",
    "initiative_reports.column.total",
    "initiative_reports.column.comment",
    "initiative.form.missing",
    "initiative.form.nothing_confidential",
    *(f"initiative.form.{part}" for part in (
        "title", "field", "authors", "problem", "solution", "first_applied", "benefits",
        "confidential",
    )),
    *(f"initiative.status.{status}" for status in InitiativeStatus),
    *(f"initiative.field.{code}" for code in InitiativeField),
    *(f"initiative.level.{level}" for level in LEVEL_ORDER),
)


async def document_reader(
    session: AsyncSession, actor: Actor, initiative_id: int
) -> Initiative:
    """The initiative a button names, if the actor may read it as its council: a reviewer seated
    on its current round (while that council is the one of the unit it is at: not once it has
    been forwarded), or an official with RUN_REVIEW on the unit it is at now, never one of its
    authors. Anyone else is refused (and logged) and learns nothing of it; a draft is its
    authors' own."""
    initiative = await get_initiative(session, initiative_id)
    if initiative.status == InitiativeStatus.DRAFT:
        log.warning(
            "refused the document of draft %s to identity %s", initiative.id, actor.identity.id
        )
        raise NotAllowed("not_allowed")
    if await is_author(session, initiative, actor.member_id):
        # The council's scores and comments are not for the authors, officials or not.
        log.warning(
            "refused the document of initiative %s to its author (member %s)",
            initiative.id, actor.member_id,
        )
        raise NotAllowed("own_initiative")
    member = actor.member
    if (
        member is not None and member.status == MemberStatus.ACTIVE and member.erased_at is None
        and await _council_sits_here(session, initiative)
    ):
        seat = await session.exec(
            select(ReviewSeat.id).where(
                ReviewSeat.initiative_id == initiative.id,
                ReviewSeat.round == initiative.round,
                ReviewSeat.reviewer_member_id == member.id,
            )
        )
        if seat.first() is not None:
            return initiative
    unit = await session.get(OrgUnit, initiative.unit_id) if initiative.unit_id else None
    if unit is None:
        log.warning(
            "refused the document of initiative %s to identity %s (member %s)",
            initiative.id, actor.identity.id, actor.member_id,
        )
        raise NotAllowed("not_allowed")
    await authorize(session, actor, Action.RUN_REVIEW, unit=unit)
    return initiative


async def _council_sits_here(session: AsyncSession, initiative: Initiative) -> bool:
    """Whether the current round's council is the one of the unit the initiative is at now
    (right after forwarding, the round is still the lower council's until one is seated)."""
    if initiative.round == 0:
        return False
    held = await _round_units(session, [initiative.id])  # type: ignore[list-item]
    return held[initiative.id].get(initiative.round) == initiative.unit_id  # type: ignore[index]


@dataclass
class _Paper:
    """Everything the document prints, read from the database before it is laid out."""

    initiative: Initiative
    unit_name: str
    authors: list[InitiativeAuthor]
    attachments: list[InitiativeAttachment]
    events: list[tuple[InitiativeEvent, str | None]]
    recognitions: list[tuple[Recognition, str | None]]
    seats: list[tuple[ReviewSeat, str | None]]
    scores: Scores | None
    generated_at: datetime


async def export_initiative_docx(
    session: AsyncSession,
    actor: Actor,
    *,
    initiative_id: int,
    translate: Translate,
    tz: tzinfo,
    now: datetime,
    locale: str = "vi",
) -> tuple[Initiative, bytes]:
    """One initiative as a .docx readable on paper: the request (ĐƠN YÊU CẦU CÔNG NHẬN SÁNG
    KIẾN) to the receiving unit, the form's parts in order, the authors in a table with their
    shares, the attachments' names, its history and recognitions, and the scores of the
    current round of the unit it is at. Audited."""
    initiative = await document_reader(session, actor, initiative_id)
    unit = await session.get(OrgUnit, initiative.unit_id) if initiative.unit_id else None
    events = await history(session, initiative)
    recognitions = await recognitions_of(session, initiative)
    unit_ids = {event.unit_id for event in events if event.unit_id is not None}
    unit_ids |= {recognition.unit_id for recognition in recognitions}
    names: dict[int, str] = {}
    if unit_ids:
        found = await session.exec(
            select(OrgUnit.id, OrgUnit.name).where(col(OrgUnit.id).in_(unit_ids))
        )
        names = dict(found.all())
    council = await seats_of(session, initiative) if await _council_sits_here(
        session, initiative
    ) else []
    reviewers: dict[int, str] = {}
    if council:
        found_names = await session.exec(
            select(Member.id, Member.full_name).where(
                col(Member.id).in_([seat.reviewer_member_id for seat in council])
            )
        )
        reviewers = dict(found_names.all())
    paper = _Paper(
        initiative=initiative,
        unit_name=unit.name if unit is not None else "",
        authors=await authors_of(session, initiative),
        attachments=await attachments_of(session, initiative),
        events=[(event, names.get(event.unit_id)) for event in events],  # type: ignore[arg-type]
        recognitions=[(found, names.get(found.unit_id)) for found in recognitions],
        seats=[(seat, reviewers.get(seat.reviewer_member_id)) for seat in council],
        scores=tally_of(initiative, council, now) if council else None,
        generated_at=now,
    )
    content = await asyncio.to_thread(_document, paper, translate, tz, locale)
    await audit.record(
        session,
        actor,
        "export_initiative_document",
        target_type="initiative",
        target_id=initiative.id,
        after={"round": initiative.round},
    )
    return initiative, content


def _clean(text: str | None) -> str:
    """Text as Word stores it: without the control characters XML refuses."""
    return ILLEGAL_CHARACTERS_RE.sub("", text or "")


def _table(document: Any, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    table = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        cell.text = ""
        cell.paragraphs[0].add_run(_clean(header)).bold = True
    for values in rows:
        cells = table.add_row().cells
        for cell, value in zip(cells, values, strict=True):
            cell.text = _clean("" if value is None else str(value))


def _heading(document: Any, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.paragraph_format.space_before = Pt(8)
    paragraph.add_run(_clean(text)).bold = True


def _score(value: float | None, locale: str) -> str:
    """An average as its reader writes it: 8,50 in Vietnamese, 8.50 in English."""
    if value is None:
        return "—"
    text = f"{value:.2f}"
    return text.replace(".", ",") if locale == "vi" else text


def _document(paper: _Paper, translate: Translate, tz: tzinfo, locale: str) -> bytes:
    """Lays the paper out as Word does an official letter: Times New Roman 13, A4 margins."""
    initiative = paper.initiative
    document = Document()
    normal = document.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(13)
    for section in document.sections:
        section.page_height, section.page_width = Cm(29.7), Cm(21)
        section.left_margin, section.right_margin = Cm(3), Cm(2)
        section.top_margin = section.bottom_margin = Cm(2)

    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(_clean(translate("initiative_reports.doc.title")))
    run.bold = True
    run.font.size = Pt(15)
    to = document.add_paragraph()
    to.alignment = WD_ALIGN_PARAGRAPH.CENTER
    to.add_run(_clean(translate("initiative_reports.doc.to", unit=paper.unit_name))).italic = True
    document.add_paragraph(_clean(translate(
        "initiative_reports.doc.about",
        id=initiative.id,
        level=translate(f"initiative.level.{initiative.level}") if initiative.level else "—",
        status=translate(f"initiative.status.{initiative.status}"),
        year=initiative.school_year or "—",
    )))

    for number, section in enumerate(form_sections(initiative, paper.authors), start=1):
        _heading(document, f"{number}. {translate(section.label_key)}")
        if section.label_key == "initiative.form.authors":
            _table(
                document,
                [translate("initiative_reports.column.number"),
                 translate("initiative_reports.doc.author_name"),
                 translate("initiative_reports.doc.author_share")],
                [
                    (position, author.name, f"{author.share}%")
                    for position, author in enumerate(paper.authors, start=1)
                ],
            )
        elif section.value_key is not None:
            document.add_paragraph(_clean(translate(section.value_key)))
        elif section.text:
            document.add_paragraph(_clean(section.text))
        else:
            missing = _clean(translate("initiative.form.missing"))
            document.add_paragraph().add_run(missing).italic = True

    _heading(document, translate("initiative_reports.doc.attachments"))
    if not paper.attachments:
        document.add_paragraph(_clean(translate("initiative_reports.doc.no_attachments")))
    for position, attachment in enumerate(paper.attachments, start=1):
        name = attachment.file_name or translate(
            "initiative_reports.doc.photo" if attachment.kind == "photo"
            else "initiative_reports.doc.file",
            number=position,
        )
        document.add_paragraph(_clean(f"{position}. {name}"))

    _heading(document, translate("initiative_reports.doc.history"))
    _table(
        document,
        [translate("initiative_reports.doc.when"), translate("initiative_reports.doc.status"),
         translate("initiative_reports.doc.where"), translate("initiative_reports.doc.said")],
        [
            (
                _local(event.at, tz),
                translate(f"initiative.status.{event.to_status}"),
                " — ".join(part for part in (
                    unit_name, translate(f"initiative.level.{event.level}") if event.level else "",
                ) if part),
                event.comment or "",
            )
            for event, unit_name in paper.events
        ],
    )
    if paper.recognitions:
        _heading(document, translate("initiative_reports.doc.recognitions"))
        for recognition, unit_name in paper.recognitions:
            document.add_paragraph(_clean(translate(
                "initiative_reports.doc.recognition",
                level=translate(f"initiative.level.{recognition.level}"),
                unit=unit_name or "—",
                certificate=recognition.certificate_no,
                year=recognition.school_year,
            )))

    if not paper.seats:
        _heading(document, translate("initiative_reports.doc.scores_heading"))
        document.add_paragraph(_clean(translate("initiative_reports.doc.no_council")))
    else:
        _heading(document, translate("initiative_reports.doc.scores", round=initiative.round))
        not_scored = translate("initiative_reports.doc.not_scored")
        chair = translate("initiative_reports.doc.chair")
        _table(
            document,
            [translate(key) for key in (
                "initiative_reports.column.reviewer", "initiative_reports.column.novelty",
                "initiative_reports.column.effectiveness",
                "initiative_reports.column.applicability", "initiative_reports.column.total",
                "initiative_reports.column.comment",
            )],
            [
                (
                    f"{name or '—'} ({chair})" if seat.is_chair else name or "—",
                    *(
                        (seat.novelty, seat.effectiveness, seat.applicability, seat.total,
                         seat.comment or "")
                        if seat.scored_at is not None else ("", "", "", "", not_scored)
                    ),
                )
                for seat, name in paper.seats
            ],
        )
        scores = paper.scores
        if scores is not None and scores.scored:
            document.add_paragraph(_clean(translate(
                "initiative_reports.doc.averages",
                scored=scores.scored, seats=scores.seats,
                novelty=_score(scores.novelty, locale),
                effectiveness=_score(scores.effectiveness, locale),
                applicability=_score(scores.applicability, locale),
                total=_score(scores.total, locale),
                spread=scores.spread,
            )))

    footer = document.add_paragraph()
    footer.paragraph_format.space_before = Pt(12)
    footer.add_run(_clean(translate(
        "initiative_reports.doc.generated", at=_local(paper.generated_at, tz)
    ))).italic = True
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
