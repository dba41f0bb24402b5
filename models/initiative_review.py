"""The council of initiatives (hội đồng xét sáng kiến): the queue of a receiving unit, seating a
council, scoring, the chair's decision and forwarding to the next level.

Who does what, each checked here whatever a button says:

- officials of the receiving unit or above (Action.RUN_REVIEW on `initiative.unit_id`) see its
  queue, seat a council of 1–9 reviewers with a chair and a scoring deadline (round += 1), move
  that deadline, and forward an accepted initiative to the next level's queue;
- a reviewer sees and scores only the initiatives they hold a seat on, in the current round;
- the chair of the current round decides (accept with a certificate number, return for revision
  with comments, reject with a reason) once every seat has scored, or once the deadline has
  passed with at least one score;
- an author or co-author never acts on their own initiative: not seated, not scoring, not
  seating a council, deciding or forwarding it ("own_initiative").

Every change of state goes through models.initiatives.transition (the event with who, when and
what was said); seating, deciding and forwarding are audited in the same transaction. Rules that
depend on time take `now`; deadlines are instants (UTC), typed and shown in local time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.access import Action, Actor, Role, RoleAssignment, authorize, require_official
from models.audit import record
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiatives import (
    CERTIFICATE_MAX,
    COMMENT_MAX,
    IN_QUEUE,
    SCORE_MAX,
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeStatus,
    Recognition,
    RecognitionLevel,
    ReviewSeat,
    attachments_of,
    authors_of,
    get_initiative,
    is_author,
    next_level,
    recognitions_of,
    seats_of,
    transition,
)
from models.members import Member, MemberStatus
from models.movements import school_year_of
from models.org import OrgKind, OrgUnit

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

COUNCIL_MIN = 1
COUNCIL_MAX = 9
# How far ahead a scoring deadline may be set: a council that needs longer is given more time
# when the deadline comes (it can be moved while the review runs).
DEADLINE_MAX_DAYS = 90
CRITERIA = ("novelty", "effectiveness", "applicability")
TOTAL_MAX = SCORE_MAX * len(CRITERIA)

S = InitiativeStatus
# What the queue lists besides the accepted ones that can still go up a level.
QUEUE_STATES = {S.SUBMITTED, S.RESUBMITTED, S.UNDER_REVIEW}


class Outcome(StrEnum):
    """The chair's decision."""

    ACCEPT = "accept"
    RETURN = "return"
    REJECT = "reject"


OUTCOME_STATUS = {
    Outcome.ACCEPT: S.ACCEPTED,
    Outcome.RETURN: S.RETURNED,
    Outcome.REJECT: S.REJECTED,
}


# --- what is typed -------------------------------------------------------------------------------

# A date as people type it: 15/12/2026 (or with - or .), optionally a time 17:00 (or 17h00).
_DATE = re.compile(
    r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:\s*(?:lúc|luc|at)?\s+(\d{1,2})[:hH](\d{2}))?"
)


def parse_deadline(text: str | None, tz: tzinfo = VIETNAM) -> datetime:
    """A scoring deadline typed "dd/mm/yyyy" or "dd/mm/yyyy HH:MM" in local time, as a UTC
    instant. A date alone means 23:59 that day: the council has the whole day."""
    stripped = " ".join((text or "").split())
    match = _DATE.fullmatch(stripped)
    if match is None:
        raise InvalidInput("review_deadline_invalid")
    day, month, year, hour, minute = match.groups()
    try:
        if not 2000 <= int(year) <= 2100:
            raise ValueError(year)
        local = datetime(
            int(year), int(month), int(day),
            int(hour) if hour is not None else 23, int(minute) if minute is not None else 59,
            tzinfo=tz,
        )
    except ValueError:
        raise InvalidInput("review_deadline_invalid") from None
    return local.astimezone(UTC)


def check_deadline(deadline: datetime, now: datetime) -> None:
    """A deadline lies after `now` and at most DEADLINE_MAX_DAYS ahead."""
    if deadline <= now:
        raise InvalidInput("review_deadline_past")
    if deadline > now + timedelta(days=DEADLINE_MAX_DAYS):
        raise InvalidInput("review_deadline_too_far", days=DEADLINE_MAX_DAYS)


def parse_score(text: str | None) -> int:
    """A score typed as a whole number from 0 to 10."""
    stripped = (text or "").strip()
    if not stripped.isdigit() or not 0 <= int(stripped) <= SCORE_MAX:
        raise InvalidInput("score_invalid", max=SCORE_MAX)
    return int(stripped)


def check_score(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SCORE_MAX:
        raise InvalidInput("score_invalid", max=SCORE_MAX)
    return value


def clean_comment(text: str | None) -> str | None:
    """A reviewer's comment: may be empty (None), at most COMMENT_MAX characters."""
    stripped = (text or "").strip()
    if len(stripped) > COMMENT_MAX:
        raise InvalidInput("review_text_too_long", max=COMMENT_MAX)
    return stripped or None


def clean_decision_text(outcome: Outcome, text: str | None) -> str:
    """What goes with a decision: the certificate number (1–64 characters) for an acceptance,
    the comments for a return, the reason for a rejection (required, at most COMMENT_MAX)."""
    stripped = (text or "").strip()
    if outcome is Outcome.ACCEPT:
        stripped = " ".join(stripped.split())
        if not 1 <= len(stripped) <= CERTIFICATE_MAX:
            raise InvalidInput("certificate_invalid", max=CERTIFICATE_MAX)
        return stripped
    if not stripped:
        raise InvalidInput(
            "review_comments_missing" if outcome is Outcome.RETURN else "review_reason_missing"
        )
    if len(stripped) > COMMENT_MAX:
        raise InvalidInput("review_text_too_long", max=COMMENT_MAX)
    return stripped


# --- reading -------------------------------------------------------------------------------------


async def _unit_of(session: AsyncSession, initiative: Initiative) -> OrgUnit:
    """The receiving unit (a draft has none: nobody reviews it)."""
    unit = None
    if initiative.unit_id is not None and initiative.status != S.DRAFT:
        unit = await session.get(OrgUnit, initiative.unit_id)
    if unit is None:
        raise NotFound("initiative_gone")
    return unit


async def _check_not_author(
    session: AsyncSession, initiative: Initiative, member_id: int | None
) -> None:
    if await is_author(session, initiative, member_id):
        raise NotAllowed("own_initiative")


async def initiative_to_run(
    session: AsyncSession, actor: Actor, *, initiative_id: int
) -> tuple[Initiative, OrgUnit]:
    """The initiative a button names and its receiving unit, if the actor runs that unit's
    reviews (RUN_REVIEW: its officials and those above, administrators)."""
    initiative = await get_initiative(session, initiative_id)
    unit = await _unit_of(session, initiative)
    await authorize(session, actor, Action.RUN_REVIEW, unit=unit)
    return initiative, unit


async def _initiative_to_act_on(
    session: AsyncSession, actor: Actor, *, initiative_id: int
) -> tuple[Initiative, OrgUnit]:
    """As initiative_to_run, for a change: the official may not be one of its authors."""
    initiative, unit = await initiative_to_run(session, actor, initiative_id=initiative_id)
    await _check_not_author(session, initiative, actor.member_id)
    return initiative, unit


async def _claim(session: AsyncSession, initiative: Initiative) -> None:
    """A change's first write, made only while the initiative is still as it was read (status,
    round, unit): SQLite ignores FOR UPDATE, so two officials (or a chair and a reviewer) may
    both have read it; the second one's write matches nothing and is refused with the state it
    is in now. From here on the database holds the row (PostgreSQL) or the write lock (SQLite)
    until the change is committed."""
    claimed = await session.exec(  # type: ignore[call-overload]
        update(Initiative)
        .where(
            col(Initiative.id) == initiative.id,
            col(Initiative.status) == initiative.status,
            col(Initiative.round) == initiative.round,
            col(Initiative.unit_id) == initiative.unit_id,
        )
        .values(round=initiative.round)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        unit_id = initiative.unit_id
        await session.refresh(initiative)
        if initiative.unit_id != unit_id:
            raise NotAllowed("already_forwarded")
        raise NotAllowed("initiative_state", status=initiative.status)


def _forwardable():  # type: ignore[no-untyped-def]
    """A condition on Initiative joined with its OrgUnit: accepted at a level below which an
    active union of a higher level exists, i.e. `next_level` finds somewhere to go. Above a
    school, any active union that is not a grassroots one; above a district, one whose level is
    the city's (no parent, or a parent that is not an education union: see `level_of`)."""
    above = aliased(OrgUnit)
    above_parent = aliased(OrgUnit)
    is_above = and_(
        col(OrgUnit.path).like(above.path.concat("%")),  # type: ignore[attr-defined]
        above.id != OrgUnit.id,
        above.is_active,  # type: ignore[arg-type]
        above.kind != OrgKind.GRASSROOTS,
    )
    any_above = select(above.id).where(is_above).exists()
    city_above = (
        select(above.id)
        .outerjoin(above_parent, above_parent.id == above.parent_id)
        .where(
            is_above,
            or_(above_parent.id.is_(None), above_parent.kind != OrgKind.INDUSTRY_UNION),  # type: ignore[union-attr]
        )
        .exists()
    )
    return or_(
        and_(Initiative.level == RecognitionLevel.SCHOOL, any_above),
        and_(Initiative.level == RecognitionLevel.DISTRICT, city_above),
    )


@dataclass(frozen=True)
class QueueRow:
    initiative: Initiative
    unit: OrgUnit


async def queue(
    session: AsyncSession,
    actor: Actor,
    *,
    statuses: set[str] | None = None,
    offset: int = 0,
    limit: int = 8,
) -> tuple[list[QueueRow], int]:
    """A page of the initiatives whose receiving unit is in the official's scope: waiting for
    a council, under review, and accepted ones that can still go up a level (optionally only
    those in `statuses`), the oldest submission first; and how many there are."""
    require_official(actor)
    waiting = QUEUE_STATES if statuses is None else QUEUE_STATES & set(statuses)
    conditions = []
    if waiting:
        conditions.append(col(Initiative.status).in_(waiting))
    if statuses is None or S.ACCEPTED in statuses:
        conditions.append(and_(Initiative.status == S.ACCEPTED, _forwardable()))
    if not conditions:
        return [], 0
    where = (actor.unit_condition(), or_(*conditions))
    base = select(Initiative, OrgUnit).join(OrgUnit, col(OrgUnit.id) == Initiative.unit_id)
    total = (
        await session.exec(
            select(func.count())
            .select_from(Initiative)
            .join(OrgUnit, col(OrgUnit.id) == Initiative.unit_id)
            .where(*where)
        )
    ).one()
    rows = await session.exec(
        base.where(*where)
        .order_by(col(Initiative.submitted_at), col(Initiative.id))
        .offset(offset)
        .limit(limit)
    )
    return [QueueRow(initiative, unit) for initiative, unit in rows.all()], total


async def eligible_reviewers(
    session: AsyncSession,
    initiative: Initiative,
    *,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Member], int]:
    """Who may sit on the initiative's council: active members holding the reviewer role at its
    receiving unit or a unit above it, never one of its authors; by name; and how many."""
    unit = await _unit_of(session, initiative)
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    reviewers = select(RoleAssignment.member_id).where(
        RoleAssignment.role == Role.REVIEWER, col(RoleAssignment.unit_id).in_(ids)
    )
    authors = select(InitiativeAuthor.member_id).where(
        InitiativeAuthor.initiative_id == initiative.id,
        col(InitiativeAuthor.member_id).is_not(None),
    )
    where = [
        col(Member.id).in_(reviewers),
        col(Member.id).not_in(authors),
        Member.status == MemberStatus.ACTIVE,
        col(Member.erased_at).is_(None),
    ]
    if initiative.submitter_member_id is not None:
        where.append(Member.id != initiative.submitter_member_id)
    total = (await session.exec(select(func.count()).select_from(Member).where(*where))).one()
    query = select(Member).where(*where).order_by(col(Member.full_name_folded), col(Member.id))
    if limit is not None:
        query = query.offset(offset).limit(limit)
    rows = await session.exec(query)
    return list(rows.all()), total


async def check_reviewer(session: AsyncSession, initiative: Initiative, member_id: int) -> Member:
    """The member, if they may sit on this initiative's council (an author never may)."""
    if await is_author(session, initiative, member_id):
        raise NotAllowed("reviewer_is_author")
    unit = await _unit_of(session, initiative)
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    rows = await session.exec(
        select(Member)
        .join(RoleAssignment, col(RoleAssignment.member_id) == Member.id)
        .where(
            Member.id == member_id,
            RoleAssignment.role == Role.REVIEWER,
            col(RoleAssignment.unit_id).in_(ids),
            Member.status == MemberStatus.ACTIVE,
            col(Member.erased_at).is_(None),
        )
    )
    member = rows.first()
    if member is None:
        raise NotAllowed("reviewer_not_eligible")
    return member


async def members_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Member]:
    if not ids:
        return {}
    rows = await session.exec(select(Member).where(col(Member.id).in_(ids)))
    return {member.id: member for member in rows.all()}  # type: ignore[misc]


# --- the council ---------------------------------------------------------------------------------


def check_council_size(reviewer_ids: list[int]) -> list[int]:
    """1–9 distinct reviewers."""
    distinct = list(dict.fromkeys(reviewer_ids))
    if len(distinct) != len(reviewer_ids) or not COUNCIL_MIN <= len(distinct) <= COUNCIL_MAX:
        raise InvalidInput("council_size", min=COUNCIL_MIN, max=COUNCIL_MAX)
    return distinct


def check_chair(reviewer_ids: list[int], chair_id: int) -> None:
    """The chair is one of the council."""
    if chair_id not in reviewer_ids:
        raise InvalidInput("chair_not_seated")


async def toggle_reviewer(
    session: AsyncSession, initiative: Initiative, chosen: list[int], member_id: int
) -> list[int]:
    """The council being chosen with `member_id` added (if eligible, and while there is room)
    or removed."""
    if member_id in chosen:
        return [other for other in chosen if other != member_id]
    await check_reviewer(session, initiative, member_id)
    if len(chosen) >= COUNCIL_MAX:
        raise InvalidInput("council_size", min=COUNCIL_MIN, max=COUNCIL_MAX)
    return [*chosen, member_id]


async def check_seating(
    session: AsyncSession, actor: Actor, *, initiative_id: int
) -> tuple[Initiative, OrgUnit]:
    """Whether the actor may seat a council for the initiative now (asked before the choices,
    and again by seat_council)."""
    initiative, unit = await _initiative_to_act_on(session, actor, initiative_id=initiative_id)
    if initiative.status not in IN_QUEUE:
        raise NotAllowed("initiative_state", status=initiative.status)
    return initiative, unit


async def seat_council(
    session: AsyncSession,
    actor: Actor,
    *,
    initiative_id: int,
    reviewer_ids: list[int],
    chair_id: int,
    deadline: datetime,
    now: datetime,
) -> list[ReviewSeat]:
    """Seats a council for a new round (1–9 eligible reviewers, one of them the chair) with a
    scoring deadline; the initiative is then under review."""
    initiative, _ = await check_seating(session, actor, initiative_id=initiative_id)
    reviewers = check_council_size(reviewer_ids)
    check_chair(reviewers, chair_id)
    for member_id in reviewers:
        await check_reviewer(session, initiative, member_id)
    check_deadline(deadline, now)
    await _claim(session, initiative)
    initiative.round += 1
    initiative.scoring_deadline = deadline
    seats = [
        ReviewSeat(
            initiative_id=initiative.id,  # type: ignore[arg-type]
            round=initiative.round,
            reviewer_member_id=member_id,
            is_chair=member_id == chair_id,
            assigned_by_member_id=actor.member_id,
            created_at=now,
        )
        for member_id in reviewers
    ]
    session.add_all(seats)
    await transition(session, initiative, S.UNDER_REVIEW, actor_member_id=actor.member_id)
    await record(
        session, actor, "seat_council", target_type="initiative", target_id=initiative.id,
        after={
            "round": initiative.round, "reviewers": reviewers, "chair": chair_id,
            "deadline": deadline.isoformat(),
        },
    )
    return seats


async def change_deadline(
    session: AsyncSession, actor: Actor, *, initiative_id: int, deadline: datetime, now: datetime
) -> Initiative:
    """Moves the scoring deadline of the council at work (the same rules as when seated)."""
    initiative, _ = await check_deadline_change(session, actor, initiative_id=initiative_id)
    check_deadline(deadline, now)
    await _claim(session, initiative)
    before = initiative.scoring_deadline
    initiative.scoring_deadline = deadline
    initiative.updated_at = now
    session.add(initiative)
    await record(
        session, actor, "review_deadline", target_type="initiative", target_id=initiative.id,
        before={"deadline": before.isoformat() if before else None},
        after={"deadline": deadline.isoformat()},
    )
    return initiative


async def change_chair(
    session: AsyncSession, actor: Actor, *, initiative_id: int, chair_id: int, now: datetime
) -> tuple[Initiative, Member]:
    """Names another member of the council at work its chair (the chair left the union, lost
    the reviewer role or cannot sit): only the chair decides, so without this the initiative
    would wait for ever. The new chair must sit on the current round and still be eligible."""
    initiative, _ = await check_deadline_change(session, actor, initiative_id=initiative_id)
    seats = await seats_of(session, initiative)
    if not any(seat.reviewer_member_id == chair_id for seat in seats):
        raise NotAllowed("chair_not_seated")
    chair = await check_reviewer(session, initiative, chair_id)
    await _claim(session, initiative)
    before = next((s.reviewer_member_id for s in seats if s.is_chair), None)
    for seat in seats:
        seat.is_chair = seat.reviewer_member_id == chair_id
        session.add(seat)
    initiative.updated_at = now
    session.add(initiative)
    await record(
        session, actor, "review_chair", target_type="initiative", target_id=initiative.id,
        before={"chair_member_id": before}, after={"chair_member_id": chair_id},
    )
    return initiative, chair


async def check_deadline_change(
    session: AsyncSession, actor: Actor, *, initiative_id: int
) -> tuple[Initiative, OrgUnit]:
    initiative, unit = await _initiative_to_act_on(session, actor, initiative_id=initiative_id)
    if initiative.status != S.UNDER_REVIEW:
        raise NotAllowed("initiative_state", status=initiative.status)
    return initiative, unit


# --- the reviewers -------------------------------------------------------------------------------


def _reviewer_id(actor: Actor) -> int:
    member = actor.member
    if member is None or member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        raise NotAllowed("review_members_only")
    return member.id  # type: ignore[return-value]


@dataclass(frozen=True)
class Assignment:
    initiative: Initiative
    unit: OrgUnit
    seat: ReviewSeat


async def assignments(
    session: AsyncSession, actor: Actor, *, offset: int = 0, limit: int = 8
) -> tuple[list[Assignment], int]:
    """The initiatives under review on whose current council the actor sits, the nearest
    deadline first; and how many."""
    member = actor.member
    if member is None or member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        return [], 0
    where = (
        ReviewSeat.reviewer_member_id == member.id,
        col(ReviewSeat.round) == col(Initiative.round),
        Initiative.status == S.UNDER_REVIEW,
    )
    joined = (
        select(func.count())
        .select_from(ReviewSeat)
        .join(Initiative, col(Initiative.id) == ReviewSeat.initiative_id)
    )
    total = (await session.exec(joined.where(*where))).one()
    rows = await session.exec(
        select(Initiative, OrgUnit, ReviewSeat)
        .select_from(ReviewSeat)
        .join(Initiative, col(Initiative.id) == ReviewSeat.initiative_id)
        .join(OrgUnit, col(OrgUnit.id) == Initiative.unit_id)
        .where(*where)
        .order_by(col(Initiative.scoring_deadline), col(Initiative.id))
        .offset(offset)
        .limit(limit)
    )
    return [Assignment(i, u, s) for i, u, s in rows.all()], total


async def seat_of(
    session: AsyncSession, actor: Actor, *, initiative_id: int
) -> tuple[Initiative, ReviewSeat]:
    """The initiative and the actor's seat on its current council: a reviewer reads only what
    they are seated on (a forged id is refused), and never their own initiative."""
    member_id = _reviewer_id(actor)
    initiative = await get_initiative(session, initiative_id)
    rows = await session.exec(
        select(ReviewSeat).where(
            ReviewSeat.initiative_id == initiative.id,
            ReviewSeat.round == initiative.round,
            ReviewSeat.reviewer_member_id == member_id,
        )
    )
    seat = rows.first()
    if seat is None:
        raise NotAllowed("not_your_review")
    await _check_not_author(session, initiative, member_id)
    return initiative, seat


async def seat_to_score(
    session: AsyncSession, actor: Actor, *, initiative_id: int, now: datetime
) -> tuple[Initiative, ReviewSeat]:
    """The actor's seat, if they may score now: under review, before the deadline."""
    initiative, seat = await seat_of(session, actor, initiative_id=initiative_id)
    if initiative.status != S.UNDER_REVIEW:
        raise NotAllowed("initiative_state", status=initiative.status)
    deadline = initiative.scoring_deadline
    if deadline is not None and now >= deadline:
        raise NotAllowed("scoring_closed", deadline=deadline)
    return initiative, seat


async def score(
    session: AsyncSession,
    actor: Actor,
    *,
    initiative_id: int,
    novelty: int,
    effectiveness: int,
    applicability: int,
    comment: str | None,
    now: datetime,
) -> ReviewSeat:
    """Records the reviewer's score (each criterion 0–10, a comment that may be empty); scoring
    again before the deadline replaces it."""
    initiative, seat = await seat_to_score(session, actor, initiative_id=initiative_id, now=now)
    values = [check_score(value) for value in (novelty, effectiveness, applicability)]
    cleaned = clean_comment(comment)
    # Not a score on a round the chair has just closed.
    await _claim(session, initiative)
    seat.novelty, seat.effectiveness, seat.applicability = values
    seat.comment = cleaned
    seat.scored_at = now
    session.add(seat)
    await session.flush()
    return seat


# --- the tally and the decision ------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Where the scoring of a round stands: averages per criterion and of the totals (0–30),
    the spread (the highest total minus the lowest)."""

    seats: int
    scored: int
    novelty: float | None
    effectiveness: float | None
    applicability: float | None
    total: float | None
    spread: int | None
    deadline_passed: bool

    @property
    def all_scored(self) -> bool:
        return self.seats > 0 and self.scored == self.seats

    @property
    def decision_open(self) -> bool:
        """Every seat has scored, or the deadline has passed with at least one score."""
        return self.all_scored or (self.deadline_passed and self.scored > 0)


def _average(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def tally_of(initiative: Initiative, seats: list[ReviewSeat], now: datetime) -> Tally:
    scored = [seat for seat in seats if seat.scored_at is not None]
    totals = [seat.total or 0 for seat in scored]
    deadline = initiative.scoring_deadline
    return Tally(
        seats=len(seats),
        scored=len(scored),
        novelty=_average([seat.novelty or 0 for seat in scored]),
        effectiveness=_average([seat.effectiveness or 0 for seat in scored]),
        applicability=_average([seat.applicability or 0 for seat in scored]),
        total=_average(totals),
        spread=max(totals) - min(totals) if totals else None,
        deadline_passed=deadline is not None and now >= deadline,
    )


async def tally(session: AsyncSession, initiative: Initiative, now: datetime) -> Tally:
    return tally_of(initiative, await seats_of(session, initiative), now)


async def check_decision(
    session: AsyncSession, actor: Actor, *, initiative_id: int, now: datetime
) -> tuple[Initiative, Tally]:
    """Whether the actor may decide now: the chair of the current round, under review, every
    seat scored or the deadline passed with at least one score."""
    initiative, seat = await seat_of(session, actor, initiative_id=initiative_id)
    if not seat.is_chair:
        raise NotAllowed("chair_only")
    if initiative.status != S.UNDER_REVIEW:
        raise NotAllowed("initiative_state", status=initiative.status)
    result = await tally(session, initiative, now)
    if not result.decision_open:
        if result.deadline_passed:
            raise NotAllowed("decision_no_scores")
        raise NotAllowed("decision_not_open", deadline=initiative.scoring_deadline)
    return initiative, result


async def check_decision_text(
    session: AsyncSession, initiative: Initiative, outcome: Outcome, text: str | None
) -> str:
    """What goes with the decision, cleaned (see clean_decision_text); a certificate number
    already given in the initiative's unit is refused."""
    cleaned = clean_decision_text(outcome, text)
    if outcome is Outcome.ACCEPT:
        # Compared ignoring case ("05/qđ" is "05/QĐ"): SQLite lowers only ASCII letters, so the
        # few numbers of the same length are compared here.
        same_length = await session.exec(
            select(Recognition.certificate_no).where(
                Recognition.unit_id == initiative.unit_id,
                func.length(Recognition.certificate_no) == len(cleaned),
            )
        )
        if any(number.casefold() == cleaned.casefold() for number in same_length.all()):
            raise InvalidInput("certificate_taken", number=cleaned)
    return cleaned


async def decide(
    session: AsyncSession,
    actor: Actor,
    *,
    initiative_id: int,
    outcome: Outcome,
    text: str | None,
    now: datetime,
    tz: tzinfo = VIETNAM,
) -> Initiative:
    """The chair's decision: accept (the certificate number, unique in the unit: a Recognition
    at the initiative's level, in the school year of `now`), return for revision (the comments)
    or reject (the reason), kept in council_comment for the authors."""
    initiative, _ = await check_decision(session, actor, initiative_id=initiative_id, now=now)
    clean_decision_text(outcome, text)
    await _claim(session, initiative)
    # Checked once the claim holds SQLite's write lock, so two chairs of one unit giving the
    # same number at once are told apart here; on PostgreSQL the unique key does it below.
    cleaned = await check_decision_text(session, initiative, outcome, text)
    before = {"status": initiative.status}
    after: dict[str, object] = {"status": OUTCOME_STATUS[outcome], "round": initiative.round}
    if outcome is Outcome.ACCEPT:
        assert initiative.unit_id is not None and initiative.level is not None
        try:
            async with session.begin_nested():
                session.add(Recognition(
                    initiative_id=initiative.id,  # type: ignore[arg-type]
                    level=initiative.level,
                    unit_id=initiative.unit_id,
                    certificate_no=cleaned,
                    school_year=school_year_of(now, tz),
                    decided_by_member_id=actor.member_id,
                    decided_at=now,
                ))
        except IntegrityError:
            raise InvalidInput("certificate_taken", number=cleaned) from None
        after.update(level=initiative.level, certificate_no=cleaned)
    else:
        initiative.council_comment = cleaned
    await transition(
        session, initiative, OUTCOME_STATUS[outcome], actor_member_id=actor.member_id,
        comment=cleaned,
    )
    await record(
        session, actor, "decide_initiative", target_type="initiative", target_id=initiative.id,
        before=before, after=after,
    )
    return initiative


# --- forwarding ----------------------------------------------------------------------------------


async def check_forward(
    session: AsyncSession, actor: Actor, *, initiative_id: int, from_unit_id: int | None = None
) -> tuple[Initiative, OrgUnit, OrgUnit, RecognitionLevel]:
    """Whether the actor may forward the initiative now, and where it would go: accepted, and
    a union of a higher level above its receiving unit (at the top: a clear refusal).

    `from_unit_id` is the receiving unit the official saw (the button carries it): once the
    initiative has gone up from there, an official of that unit hears that it was already
    forwarded (rather than "not allowed", since the higher unit now runs it), and a stale
    button never sends it up a second level unseen."""
    if from_unit_id is not None:
        initiative = await get_initiative(session, initiative_id)
        if initiative.unit_id != from_unit_id:
            earlier = await session.get(OrgUnit, from_unit_id)
            # It left that unit recognised there (only an accepted initiative is forwarded).
            recognised_there = await session.exec(
                select(Recognition.id).where(
                    Recognition.initiative_id == initiative.id,
                    Recognition.unit_id == from_unit_id,
                )
            )
            if earlier is None or recognised_there.first() is None:
                raise NotFound("initiative_gone")  # a forged unit: a stale button
            await authorize(session, actor, Action.RUN_REVIEW, unit=earlier)
            raise NotAllowed("already_forwarded")
    initiative, unit = await _initiative_to_act_on(session, actor, initiative_id=initiative_id)
    if initiative.status != S.ACCEPTED:
        raise NotAllowed("initiative_state", status=initiative.status)
    found = await next_level(session, unit, initiative.level or RecognitionLevel.SCHOOL)
    if found is None:
        raise NotAllowed("top_level")
    return initiative, unit, found[0], found[1]


async def forward(
    session: AsyncSession,
    actor: Actor,
    *,
    initiative_id: int,
    now: datetime,
    from_unit_id: int | None = None,
) -> tuple[Initiative, OrgUnit]:
    """Sends an accepted initiative up to the next level's queue: its unit and level move up
    (the lower level's recognition stays), the deadline is cleared, it is submitted there."""
    initiative, unit, target, level = await check_forward(
        session, actor, initiative_id=initiative_id, from_unit_id=from_unit_id
    )
    await _claim(session, initiative)
    before = {"unit_id": initiative.unit_id, "level": initiative.level}
    initiative.unit_id = target.id
    initiative.level = level
    initiative.scoring_deadline = None
    await transition(
        session, initiative, S.SUBMITTED, actor_member_id=actor.member_id,
        comment=f"{unit.name} → {target.name}",
    )
    initiative.updated_at = now
    await record(
        session, actor, "forward_initiative", target_type="initiative", target_id=initiative.id,
        before=before, after={"unit_id": target.id, "level": level},
    )
    return initiative, target


# --- what the screens show -----------------------------------------------------------------------


@dataclass
class Card:
    """One initiative as the council's screens show it."""

    initiative: Initiative
    unit: OrgUnit
    authors: list[InitiativeAuthor]
    attachments: int
    # The current round's council (when one is at work or has decided), the chair first.
    council: list[tuple[ReviewSeat, str]]
    tally: Tally | None
    recognitions: list[Recognition]
    # The viewer's own seat (a reviewer's card), and where a forward would go (an official's).
    seat: ReviewSeat | None = None
    forward_to: tuple[OrgUnit, RecognitionLevel] | None = None
    is_author: bool = False


# The states whose current round's council is shown (before a council sits, none is).
_COUNCIL_SHOWN = {S.UNDER_REVIEW, S.RETURNED, S.ACCEPTED, S.REJECTED}


async def _card(
    session: AsyncSession, initiative: Initiative, unit: OrgUnit, now: datetime
) -> Card:
    council: list[tuple[ReviewSeat, str]] = []
    result = None
    if initiative.round > 0 and initiative.status in _COUNCIL_SHOWN:
        seats = await seats_of(session, initiative)
        people = await members_by_ids(session, [seat.reviewer_member_id for seat in seats])
        council = [
            (seat, people[seat.reviewer_member_id].full_name
             if seat.reviewer_member_id in people else "—")
            for seat in seats
        ]
        result = tally_of(initiative, seats, now)
    return Card(
        initiative=initiative,
        unit=unit,
        authors=await authors_of(session, initiative),
        attachments=len(await attachments_of(session, initiative)),
        council=council,
        tally=result,
        recognitions=await recognitions_of(session, initiative),
    )


async def card_for_official(
    session: AsyncSession, actor: Actor, *, initiative_id: int, now: datetime
) -> Card:
    """The initiative for an official who runs its receiving unit, with where a forward would
    take it (when it is accepted and a higher level exists)."""
    initiative, unit = await initiative_to_run(session, actor, initiative_id=initiative_id)
    card = await _card(session, initiative, unit, now)
    card.is_author = await is_author(session, initiative, actor.member_id)
    if initiative.status == S.ACCEPTED and initiative.level is not None:
        card.forward_to = await next_level(session, unit, initiative.level)
    return card


async def card_for_reviewer(
    session: AsyncSession, actor: Actor, *, initiative_id: int, now: datetime
) -> Card:
    """The initiative for a reviewer seated on its current council, with their seat."""
    initiative, seat = await seat_of(session, actor, initiative_id=initiative_id)
    unit = await _unit_of(session, initiative)
    card = await _card(session, initiative, unit, now)
    card.seat = seat
    return card


async def attachments_for(
    session: AsyncSession, actor: Actor, *, initiative_id: int
) -> tuple[Initiative, list[InitiativeAttachment]]:
    """The attachments, for a seated reviewer or an official who runs the receiving unit (the
    seat is asked first: a reviewer is not an official refused)."""
    try:
        initiative, _ = await seat_of(session, actor, initiative_id=initiative_id)
    except NotAllowed:
        if not actor.is_official:
            raise  # a reviewer hears why as a reviewer
        initiative, _ = await initiative_to_run(session, actor, initiative_id=initiative_id)
    return initiative, await attachments_of(session, initiative)


async def reviewers_to_notify(session: AsyncSession, initiative: Initiative) -> list[Member]:
    """The members seated on the current council who can still be told something."""
    seats = await seats_of(session, initiative)
    people = await members_by_ids(session, [seat.reviewer_member_id for seat in seats])
    return [
        people[seat.reviewer_member_id] for seat in seats
        if seat.reviewer_member_id in people
        and people[seat.reviewer_member_id].status == MemberStatus.ACTIVE
        and people[seat.reviewer_member_id].erased_at is None
    ]


async def chair_of(session: AsyncSession, initiative: Initiative) -> Member | None:
    """The chair of the current council, if they can still be told something."""
    seats = [seat for seat in await seats_of(session, initiative) if seat.is_chair]
    if not seats:
        return None
    member = await session.get(Member, seats[0].reviewer_member_id)
    if member is None or member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        return None
    return member
