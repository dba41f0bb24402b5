"""Running emulation movements: federation officials create them (from scratch or from a
previous year's movement), edit them, and take them from draft to open, closed and archived.

A movement belongs to the unit of the official who creates it (`owner_unit`): officials of that
unit or above run it (Action.RUN_MOVEMENT). Its targets lie inside the owner's subtree and the
creator's scope; "everyone" is the owner's whole subtree (stored as a target on the owner unit),
and only administrators address literally everyone. Every change is audited in the same
transaction. The movement's own path:

    draft ──▶ open ──▶ closed ──▶ archived

Texts typed in the chat are parsed and checked here too (dates in local time, criteria one per
line, custom titles), so the handler only renders what these functions answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, delete, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Action, Actor, authorize
from models.audit import record
from models.base import fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.movements import (
    NAME_MAX,
    TEXT_MAX,
    Movement,
    MovementStatus,
    MovementTarget,
    Registration,
    RegistrationStatus,
    is_for_unit,
    school_year_of,
    targets_of,
)
from models.org import EmulationBloc, OrgUnit, UnitBloc, in_subtree

log = logging.getLogger(__name__)

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

NAME_MIN = 3
CRITERIA_MAX = 20
CRITERION_MAX = 500
TITLES_MAX = 10
TITLE_NAME_MIN = 3
TITLE_NAME_MAX = 120
TITLE_CODE_MAX = 16

# The titles officials pick from (they may add their own): the names are the official ones.
STANDARD_TITLES: list[dict[str, Any]] = [
    {"code": "GVTDVN", "name": "Giỏi việc trường, đảm việc nhà", "collective": False},
    {"code": "LDTT", "name": "Lao động tiên tiến", "collective": False},
    {"code": "CSTDCS", "name": "Chiến sĩ thi đua cơ sở", "collective": False},
    {"code": "TTLDXS", "name": "Tập thể lao động xuất sắc", "collective": True},
    {"code": "TTLDTT", "name": "Tập thể lao động tiên tiến", "collective": True},
]

# Which status may follow which; anything else is refused (NotAllowed "mva_state").
MOVEMENT_TRANSITIONS: dict[str, set[str]] = {
    MovementStatus.DRAFT: {MovementStatus.OPEN},
    MovementStatus.OPEN: {MovementStatus.CLOSED},
    MovementStatus.CLOSED: {MovementStatus.ARCHIVED},
    MovementStatus.ARCHIVED: set(),
}
EDITABLE = {MovementStatus.DRAFT, MovementStatus.OPEN}


# --- what is typed ---------------------------------------------------------------------------


def clean_name(name: str | None) -> str:
    """A movement's name: trimmed, inner spaces collapsed, 3–255 characters."""
    cleaned = " ".join((name or "").split())
    if not NAME_MIN <= len(cleaned) <= NAME_MAX:
        raise InvalidInput("mva_name_length", min=NAME_MIN, max=NAME_MAX)
    return cleaned


def clean_description(text: str | None) -> str:
    """The purpose of the movement, as typed (lines kept), at most 4,000 characters."""
    cleaned = (text or "").strip()
    if len(cleaned) > TEXT_MAX:
        raise InvalidInput("mva_description_too_long", max=TEXT_MAX)
    return cleaned


# "1. ", "2) ", "- ", "• ", "* ", "+ " in front of a line typed as a list.
_BULLET = re.compile(r"^\s*(?:\d{1,2}[.)]\s+|[-•*+–]\s*)")


def parse_criteria(text: str | None) -> list[str]:
    """The criteria typed one per line (numbering and bullets dropped, blank lines skipped)."""
    lines = (_BULLET.sub("", line, count=1) for line in (text or "").splitlines())
    return [" ".join(line.split()) for line in lines if line.strip()]


def clean_criteria(criteria: Iterable[str]) -> list[str]:
    """1–20 criteria of at most 500 characters each."""
    cleaned = [" ".join(str(c).split()) for c in criteria if str(c).strip()]
    if not 1 <= len(cleaned) <= CRITERIA_MAX:
        raise InvalidInput("mva_criteria_count", max=CRITERIA_MAX)
    for number, criterion in enumerate(cleaned, start=1):
        if len(criterion) > CRITERION_MAX:
            raise InvalidInput("mva_criterion_too_long", number=number, max=CRITERION_MAX)
    return cleaned


_COLLECTIVE_MARK = re.compile(r"\(\s*(tap the|collective)\s*\)\s*$")


def parse_title(text: str | None) -> dict[str, Any]:
    """A custom title typed by an official: "Tên danh hiệu", or "Tên danh hiệu (tập thể)" (or
    "(collective)") for a collective one. The name is checked, the code made later."""
    raw = " ".join((text or "").split())
    collective = False
    match = _COLLECTIVE_MARK.search(fold(raw))
    if match is not None and raw.endswith(")"):
        raw = raw[: raw.rfind("(")].strip()
        collective = True
    return {"name": _title_name(raw), "collective": collective}


def _title_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not TITLE_NAME_MIN <= len(cleaned) <= TITLE_NAME_MAX:
        raise InvalidInput("mva_title_name_length", min=TITLE_NAME_MIN, max=TITLE_NAME_MAX)
    return cleaned


def title_code(name: str) -> str:
    """A short code from a title's name: the initials, without diacritics ("Lao động tiên
    tiến" → "LDTT"), as the standard titles are coded."""
    words = re.findall(r"[a-z0-9]+", fold(name))
    code = "".join(word if word.isdigit() else word[0] for word in words).upper()
    return (code or "T")[:TITLE_CODE_MAX]


def standard_title(name: str) -> dict[str, Any] | None:
    """The standard title with this name (accents and case ignored), if it is one."""
    wanted = fold(name)
    return next((dict(t) for t in STANDARD_TITLES if fold(t["name"]) == wanted), None)


def clean_titles(titles: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """1–10 titles, each {"code", "name", "collective"}: names unique (accents ignored), codes
    given kept (letters and digits) and unique, missing codes made from the names."""
    if not 1 <= len(titles) <= TITLES_MAX:
        raise InvalidInput("mva_titles_count", max=TITLES_MAX)
    cleaned: list[dict[str, Any]] = []
    names: set[str] = set()
    for title in titles:
        name = _title_name(str(title.get("name") or ""))
        if fold(name) in names:
            raise InvalidInput("mva_title_repeated", name=name)
        names.add(fold(name))
        code = str(title.get("code") or "").strip().upper()
        if code and not re.fullmatch(rf"[A-Z0-9]{{1,{TITLE_CODE_MAX}}}", code):
            raise InvalidInput("mva_title_code_invalid", name=name)
        cleaned.append({"code": code, "name": name, "collective": bool(title.get("collective"))})
    given = [t["code"] for t in cleaned if t["code"]]
    if len(given) != len(set(given)):
        raise InvalidInput("mva_title_codes_repeat")
    used = set(given)
    for title in cleaned:
        if title["code"]:
            continue
        base = title_code(title["name"])
        code, n = base, 2
        while code in used:
            suffix = str(n)
            code, n = base[: TITLE_CODE_MAX - len(suffix)] + suffix, n + 1
        title["code"] = code
        used.add(code)
    return cleaned


# A date as people type it: 15/12/2026, 15-12-2026 or 15.12.2026, optionally 17:00 (or 17h00).
_DATE = re.compile(
    r"(?<!\d)(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:\s*(?:lúc|luc|at)?\s+(\d{1,2})[:hH](\d{2}))?"
    r"(?!\d)"
)


def _local(match: re.Match[str], tz: tzinfo, *, end_of_day: bool) -> datetime:
    day, month, year, hour, minute = match.groups()
    try:
        if hour is not None:
            moment = time(int(hour), int(minute))
        else:
            moment = time(23, 59, 59) if end_of_day else time(0, 0)
        if not 2000 <= int(year) <= 2100:
            raise ValueError(year)
        local = datetime(int(year), int(month), int(day), moment.hour, moment.minute,
                         moment.second, tzinfo=tz)
    except ValueError:
        raise InvalidInput("mva_date_invalid", text=match.group(0)) from None
    return local.astimezone(UTC)


def parse_local_datetime(text: str | None, tz: tzinfo = VIETNAM, *, end_of_day: bool) -> datetime:
    """A date typed "dd/mm/yyyy [HH:MM]" in local time, as a UTC instant. Without a time, the
    start of that day, or its last second with `end_of_day` (a deadline "15/12/2026" lasts
    the whole of the 15th)."""
    stripped = (text or "").strip()
    match = _DATE.fullmatch(stripped)
    if match is None:
        raise InvalidInput("mva_date_invalid", text=stripped[:40])
    return _local(match, tz, end_of_day=end_of_day)


def parse_window(text: str | None, tz: tzinfo = VIETNAM) -> tuple[datetime, datetime]:
    """The self-assessment window typed as two dates ("20/05/2027 - 31/05/2027"): from the
    start of the first day to the end of the last (times, when typed, are kept)."""
    found = list(_DATE.finditer(text or ""))
    if len(found) != 2:
        raise InvalidInput("mva_window_invalid")
    opens = _local(found[0], tz, end_of_day=False)
    closes = _local(found[1], tz, end_of_day=True)
    if not opens < closes:
        raise InvalidInput("mva_dates_order")
    return opens, closes


def check_dates(
    registration_deadline: datetime, assessment_opens: datetime, assessment_closes: datetime
) -> None:
    """Registration ends before (or when) the self-assessment opens, which is before it
    closes."""
    if not registration_deadline <= assessment_opens < assessment_closes:
        raise InvalidInput("mva_dates_order")


def check_deadline_ahead(registration_deadline: datetime, now: datetime) -> None:
    if registration_deadline <= now:
        raise InvalidInput("mva_deadline_past")


# --- who runs what ----------------------------------------------------------------------------


async def owner_of(session: AsyncSession, movement: Movement) -> OrgUnit:
    owner = await session.get(OrgUnit, movement.owner_unit_id)
    if owner is None:
        raise NotFound("mva_unknown")
    return owner


async def runnable_owner(session: AsyncSession, actor: Actor, *, unit_id: int) -> OrgUnit:
    """The unit a new movement would belong to, if the actor may run movements there."""
    unit = await session.get(OrgUnit, unit_id)
    if unit is None or not unit.is_active:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=unit)
    return unit


async def movement_to_run(session: AsyncSession, actor: Actor, *, movement_id: int) -> Movement:
    """The movement (any status), if the actor runs it: RUN_MOVEMENT on its owner unit. A forged
    id of another district's movement is refused and logged."""
    movement = await session.get(Movement, movement_id)
    if movement is None:
        raise NotFound("mva_unknown")
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=await owner_of(session, movement))
    return movement


async def movements_run_by(
    session: AsyncSession, actor: Actor, *, offset: int = 0, limit: int = 8
) -> tuple[list[Movement], int]:
    """One page of the movements whose owner unit the actor covers (any status), newest first,
    and their total."""
    where = [actor.unit_condition()]
    joined = select(func.count()).select_from(Movement).join(
        OrgUnit, col(OrgUnit.id) == Movement.owner_unit_id
    )
    total = (await session.exec(joined.where(*where))).one()
    rows = await session.exec(
        select(Movement)
        .join(OrgUnit, col(OrgUnit.id) == Movement.owner_unit_id)
        .where(*where)
        .order_by(col(Movement.created_at).desc(), col(Movement.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows.all()), int(total)


# --- targets ----------------------------------------------------------------------------------


@dataclass
class Targets:
    """Who a movement is for: everyone (administrators only), units (with their subtrees),
    blocs."""

    everyone: bool
    units: list[OrgUnit]
    blocs: list[EmulationBloc]


async def units_by_ids(session: AsyncSession, ids: Iterable[int]) -> list[OrgUnit]:
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        return []
    rows = await session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(wanted)))
    found = {unit.id: unit for unit in rows.all()}
    return [found[i] for i in wanted if i in found]


async def blocs_by_ids(session: AsyncSession, ids: Iterable[int]) -> list[EmulationBloc]:
    wanted = list(dict.fromkeys(int(i) for i in ids))
    if not wanted:
        return []
    rows = await session.exec(select(EmulationBloc).where(col(EmulationBloc.id).in_(wanted)))
    found = {bloc.id: bloc for bloc in rows.all()}
    return [found[i] for i in wanted if i in found]


async def movement_targets(session: AsyncSession, movement: Movement) -> Targets:
    rows = await targets_of(session, movement)
    units = await units_by_ids(session, [r.unit_id for r in rows if r.unit_id is not None])
    blocs = await blocs_by_ids(session, [r.bloc_id for r in rows if r.bloc_id is not None])
    return Targets(everyone=movement.target_everyone, units=units, blocs=blocs)


async def _bloc_reaches_outside(
    session: AsyncSession, bloc: EmulationBloc, owner: OrgUnit
) -> bool:
    row = await session.exec(
        select(UnitBloc.unit_id)
        .join(OrgUnit, col(OrgUnit.id) == UnitBloc.unit_id)
        .where(UnitBloc.bloc_id == bloc.id, col(OrgUnit.is_active), ~in_subtree(owner.path))
        .limit(1)
    )
    return row.first() is not None


async def check_target_unit(
    session: AsyncSession, actor: Actor, *, owner: OrgUnit, unit: OrgUnit
) -> None:
    """A unit may be a target when it is active, in the actor's scope and in the owner's
    subtree."""
    if not unit.is_active:
        raise NotFound("unit_unavailable")
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=unit)
    if not owner.contains(unit):
        log.warning(
            "refused target unit %s outside owner %s by identity %s",
            unit.id, owner.id, actor.identity.id,
        )
        raise NotAllowed("mva_target_outside")


async def check_target_bloc(
    session: AsyncSession, actor: Actor, *, owner: OrgUnit, bloc: EmulationBloc
) -> None:
    """A bloc reaches its units wherever they are: officials target only blocs whose units all
    lie in the owner's subtree; administrators any bloc."""
    if actor.is_admin:
        return
    if await _bloc_reaches_outside(session, bloc, owner):
        log.warning(
            "refused target bloc %s reaching outside owner %s by identity %s",
            bloc.id, owner.id, actor.identity.id,
        )
        raise NotAllowed("mva_bloc_outside")


async def blocs_for(session: AsyncSession, actor: Actor, *, owner: OrgUnit) -> list[EmulationBloc]:
    """The blocs a movement of `owner` may target (see check_target_bloc), by name."""
    query = select(EmulationBloc)
    if not actor.is_admin:
        inside = (
            select(UnitBloc.bloc_id)
            .join(OrgUnit, col(OrgUnit.id) == UnitBloc.unit_id)
            .where(col(OrgUnit.is_active), in_subtree(owner.path))
        )
        outside = (
            select(UnitBloc.bloc_id)
            .join(OrgUnit, col(OrgUnit.id) == UnitBloc.unit_id)
            .where(col(OrgUnit.is_active), ~in_subtree(owner.path))
        )
        query = query.where(
            col(EmulationBloc.id).in_(inside), col(EmulationBloc.id).not_in(outside)
        )
    rows = await session.exec(query)
    return sorted(rows.all(), key=lambda bloc: (fold(bloc.name), bloc.id))


async def _resolve_targets(
    session: AsyncSession,
    actor: Actor,
    owner: OrgUnit,
    *,
    everyone: bool,
    unit_ids: Iterable[int],
    bloc_ids: Iterable[int],
) -> Targets:
    if everyone:
        if actor.is_admin:
            return Targets(everyone=True, units=[], blocs=[])
        return Targets(everyone=False, units=[owner], blocs=[])
    unit_ids = list(dict.fromkeys(int(i) for i in unit_ids))
    bloc_ids = list(dict.fromkeys(int(i) for i in bloc_ids))
    units = await units_by_ids(session, unit_ids)
    if len(units) != len(unit_ids):
        raise NotFound("unit_unavailable")
    for unit in units:
        await check_target_unit(session, actor, owner=owner, unit=unit)
    blocs = await blocs_by_ids(session, bloc_ids)
    if len(blocs) != len(bloc_ids):
        raise NotFound("mva_bloc_unknown")
    for bloc in blocs:
        await check_target_bloc(session, actor, owner=owner, bloc=bloc)
    if not units and not blocs:
        raise InvalidInput("mva_no_target")
    return Targets(everyone=False, units=units, blocs=blocs)


async def _store_targets(session: AsyncSession, movement: Movement, targets: Targets) -> None:
    await session.exec(
        delete(MovementTarget).where(col(MovementTarget.movement_id) == movement.id)
    )
    movement.target_everyone = targets.everyone
    for unit in targets.units:
        session.add(MovementTarget(movement_id=movement.id, unit_id=unit.id))
    for bloc in targets.blocs:
        session.add(MovementTarget(movement_id=movement.id, bloc_id=bloc.id))
    session.add(movement)
    await session.flush()


# --- audit ------------------------------------------------------------------------------------


def snapshot(movement: Movement, targets: Targets) -> dict[str, Any]:
    """What an audit entry keeps of a movement, JSON-ready."""
    return {
        "name": movement.name,
        "description": movement.description,
        "criteria": list(movement.criteria),
        "titles": [dict(t) for t in movement.titles],
        "owner_unit_id": movement.owner_unit_id,
        "status": movement.status,
        "school_year": movement.school_year,
        "registration_deadline": movement.registration_deadline.isoformat(),
        "assessment_opens": movement.assessment_opens.isoformat(),
        "assessment_closes": movement.assessment_closes.isoformat(),
        "requires_approval": movement.requires_approval,
        "target_everyone": targets.everyone,
        "target_units": [u.id for u in targets.units],
        "target_blocs": [b.id for b in targets.blocs],
        "copied_from_id": movement.copied_from_id,
    }


async def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    movement: Movement,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await record(
        session, actor, action, target_type="movement", target_id=movement.id,
        before=before, after=after,
    )


# --- creating, editing ------------------------------------------------------------------------


async def create_movement(
    session: AsyncSession,
    actor: Actor,
    *,
    owner_unit: OrgUnit,
    name: str,
    description: str,
    criteria: list[str],
    titles: list[dict[str, Any]],
    target_everyone: bool = False,
    target_unit_ids: Iterable[int] = (),
    target_bloc_ids: Iterable[int] = (),
    registration_deadline: datetime,
    assessment_opens: datetime,
    assessment_closes: datetime,
    requires_approval: bool = False,
    now: datetime,
    tz: tzinfo = VIETNAM,
    copied_from: Movement | None = None,
) -> Movement:
    """A new movement of `owner_unit` (the official's unit), as a draft. Its school year is the
    one its registration deadline falls in."""
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=owner_unit)
    if not owner_unit.is_active:
        raise NotFound("unit_unavailable")
    if copied_from is not None:
        await movement_to_run(session, actor, movement_id=copied_from.id)  # type: ignore[arg-type]
    name = clean_name(name)
    description = clean_description(description)
    criteria = clean_criteria(criteria)
    titles = clean_titles(titles)
    check_deadline_ahead(registration_deadline, now)
    check_dates(registration_deadline, assessment_opens, assessment_closes)
    targets = await _resolve_targets(
        session, actor, owner_unit,
        everyone=target_everyone, unit_ids=target_unit_ids, bloc_ids=target_bloc_ids,
    )
    movement = Movement(
        name=name,
        description=description,
        criteria=criteria,
        titles=titles,
        owner_unit_id=owner_unit.id,  # type: ignore[arg-type]
        target_everyone=targets.everyone,
        registration_deadline=registration_deadline,
        assessment_opens=assessment_opens,
        assessment_closes=assessment_closes,
        requires_approval=requires_approval,
        status=MovementStatus.DRAFT,
        school_year=school_year_of(registration_deadline, tz),
        copied_from_id=copied_from.id if copied_from is not None else None,
        created_by_member_id=actor.member_id,
    )
    session.add(movement)
    await session.flush()
    await _store_targets(session, movement, targets)
    action = "copy_movement" if copied_from is not None else "create_movement"
    await _audit(session, actor, action, movement, None, snapshot(movement, targets))
    return movement


async def copy_movement(
    session: AsyncSession,
    actor: Actor,
    *,
    template: Movement,
    registration_deadline: datetime,
    assessment_opens: datetime,
    assessment_closes: datetime,
    now: datetime,
    tz: tzinfo = VIETNAM,
    name: str | None = None,
) -> Movement:
    """A new draft from a previous movement the actor runs: the same texts, titles, targets
    and approval rule, new dates (hence a new school year), `copied_from_id` set. Targets that
    were closed since are left out."""
    await movement_to_run(session, actor, movement_id=template.id)  # type: ignore[arg-type]
    targets = await movement_targets(session, template)
    owner = await owner_of(session, template)
    everyone = targets.everyone or (
        [u.id for u in targets.units] == [owner.id] and not targets.blocs
    )
    return await create_movement(
        session,
        actor,
        owner_unit=owner,
        name=name if name is not None else template.name,
        description=template.description,
        criteria=list(template.criteria),
        titles=[dict(t) for t in template.titles],
        target_everyone=everyone,
        target_unit_ids=[] if everyone else [u.id for u in targets.units if u.is_active],  # type: ignore[misc]
        target_bloc_ids=[] if everyone else [b.id for b in targets.blocs],  # type: ignore[misc]
        registration_deadline=registration_deadline,
        assessment_opens=assessment_opens,
        assessment_closes=assessment_closes,
        requires_approval=template.requires_approval,
        now=now,
        tz=tz,
        copied_from=template,
    )


def ensure_editable(movement: Movement) -> None:
    """Only a draft or an open movement is edited; a closed one keeps what it was."""
    if movement.status not in EDITABLE:
        raise NotAllowed("mva_not_editable")


async def _titles_in_use(session: AsyncSession, movement: Movement) -> set[str]:
    rows = await session.exec(
        select(Registration.title_code).distinct().where(
            Registration.movement_id == movement.id,
            Registration.status != RegistrationStatus.WITHDRAWN,
        )
    )
    return set(rows.all())


async def _assessments_submitted(session: AsyncSession, movement: Movement) -> bool:
    rows = await session.exec(
        select(Registration.id).where(
            Registration.movement_id == movement.id,
            # Not begun: stored as JSON null (or [] after a restart), not as SQL NULL.
            cast(Registration.assessment, String).not_in(["null", "[]"]),
        ).limit(1)
    )
    return rows.first() is not None


async def update_movement(
    session: AsyncSession,
    actor: Actor,
    *,
    movement: Movement,
    now: datetime,
    tz: tzinfo = VIETNAM,
    name: str | None = None,
    description: str | None = None,
    criteria: list[str] | None = None,
    titles: list[dict[str, Any]] | None = None,
    target_everyone: bool | None = None,
    target_unit_ids: Iterable[int] | None = None,
    target_bloc_ids: Iterable[int] | None = None,
    registration_deadline: datetime | None = None,
    assessment_opens: datetime | None = None,
    assessment_closes: datetime | None = None,
    requires_approval: bool | None = None,
) -> Movement:
    """Changes the fields given (None: unchanged) of a draft or open movement; the targets are
    replaced when any of the three target arguments is given. While open, the deadlines may
    move (within the same school year, the registration deadline still ahead), a title someone
    registered for stays, and the criteria stay once a self-assessment is in."""
    owner = await owner_of(session, movement)
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=owner)
    ensure_editable(movement)
    # Everything is checked before anything changes.
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = clean_name(name)
    if description is not None:
        changes["description"] = clean_description(description)
    if criteria is not None:
        changes["criteria"] = clean_criteria(criteria)
        if changes["criteria"] != list(movement.criteria) and await _assessments_submitted(
            session, movement
        ):
            raise NotAllowed("mva_criteria_in_use")
    if titles is not None:
        changes["titles"] = clean_titles(titles)
        lost = await _titles_in_use(session, movement) - {t["code"] for t in changes["titles"]}
        if lost:
            gone = next((t["name"] for t in movement.titles if t.get("code") in lost), "")
            raise NotAllowed("mva_title_in_use", name=gone)
    deadline = registration_deadline or movement.registration_deadline
    opens = assessment_opens or movement.assessment_opens
    closes = assessment_closes or movement.assessment_closes
    if deadline != movement.registration_deadline:
        check_deadline_ahead(deadline, now)
    check_dates(deadline, opens, closes)
    year = school_year_of(deadline, tz)
    if movement.status != MovementStatus.DRAFT and year != movement.school_year:
        raise InvalidInput("mva_school_year_fixed", school_year=movement.school_year)
    changes.update(
        registration_deadline=deadline, assessment_opens=opens, assessment_closes=closes,
        school_year=year,
    )
    if requires_approval is not None:
        changes["requires_approval"] = requires_approval
    targets = None
    if (target_everyone, target_unit_ids, target_bloc_ids) != (None, None, None):
        targets = await _resolve_targets(
            session, actor, owner, everyone=bool(target_everyone),
            unit_ids=target_unit_ids or (), bloc_ids=target_bloc_ids or (),
        )
    before = snapshot(movement, await movement_targets(session, movement))
    for field, value in changes.items():
        setattr(movement, field, value)
    if targets is not None:
        await _store_targets(session, movement, targets)
    after = snapshot(movement, await movement_targets(session, movement))
    if after == before:
        return movement
    movement.updated_at = utcnow()
    session.add(movement)
    await session.flush()
    await _audit(session, actor, "update_movement", movement, before, after)
    return movement


# --- the movement's path ----------------------------------------------------------------------


async def _move(
    session: AsyncSession,
    actor: Actor,
    movement: Movement,
    to: MovementStatus,
    action: str,
    now: datetime | None = None,
) -> Movement:
    await authorize(session, actor, Action.RUN_MOVEMENT, unit=await owner_of(session, movement))
    if to not in MOVEMENT_TRANSITIONS.get(movement.status, set()):
        raise NotAllowed("mva_state")
    if to == MovementStatus.OPEN and now is not None:
        check_deadline_ahead(movement.registration_deadline, now)
    before = {"status": movement.status}
    movement.status = to
    movement.updated_at = utcnow()
    session.add(movement)
    await session.flush()
    await _audit(session, actor, action, movement, before, {"status": movement.status})
    return movement


async def open_movement(
    session: AsyncSession, actor: Actor, *, movement: Movement, now: datetime
) -> Movement:
    """Draft → open: members of the targets see it and register until the deadline (which
    must still be ahead)."""
    return await _move(session, actor, movement, MovementStatus.OPEN, "open_movement", now)


async def close_movement(session: AsyncSession, actor: Actor, *, movement: Movement) -> Movement:
    """Open → closed: the movement is over; results are given."""
    return await _move(session, actor, movement, MovementStatus.CLOSED, "close_movement")


async def archive_movement(
    session: AsyncSession, actor: Actor, *, movement: Movement
) -> Movement:
    """Closed → archived: kept for history and as a template, out of the members' lists."""
    return await _move(session, actor, movement, MovementStatus.ARCHIVED, "archive_movement")


# --- what the management card shows ----------------------------------------------------------


@dataclass
class RegistrationCounts:
    members: int = 0  # individual registrations, withdrawn ones aside (awaiting included)
    units: int = 0  # collective registrations, withdrawn ones aside
    awaiting: int = 0  # waiting for an official's approval
    submitted: int = 0  # self-assessments handed in (whatever the result since)
    achieved: int = 0
    withdrawn: int = 0


async def registration_counts(session: AsyncSession, movement: Movement) -> RegistrationCounts:
    """The movement's registrations counted by the database (one GROUP BY)."""
    handed_in = col(Registration.submitted_at).is_not(None)
    rows = await session.exec(
        select(Registration.collective, Registration.status, handed_in, func.count())
        .where(Registration.movement_id == movement.id)
        .group_by(col(Registration.collective), col(Registration.status), handed_in)
    )
    counts = RegistrationCounts()
    for collective, status, submitted, count in rows.all():
        if status == RegistrationStatus.WITHDRAWN:
            counts.withdrawn += count
            continue
        if collective:
            counts.units += count
        else:
            counts.members += count
        if status == RegistrationStatus.AWAITING_APPROVAL:
            counts.awaiting += count
        if submitted:
            counts.submitted += count
        if status == RegistrationStatus.ACHIEVED:
            counts.achieved += count
    return counts


async def grassroots_targeted(
    session: AsyncSession, actor: Actor, *, movement: Movement
) -> list[OrgUnit]:
    """The grassroots unions the actor is an official of that the movement is for (where they
    register the union and nudge its members)."""
    units = await units_by_ids(session, [scope.unit_id for scope in actor.official_of])
    return [
        unit for unit in units
        if unit.is_grassroots and unit.is_active and await is_for_unit(session, movement, unit)
    ]
