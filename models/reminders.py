"""Reminders (nhắc việc): the right nudge to the right people at the right time.

Two kinds:

* Deadline reminders are never stored ahead: they are computed from the deadlines themselves
  at each tick (`due_deadline_reminders`). A movement's registration deadline, its
  self-assessment window's end, an initiative council's scoring deadline and a union's
  initiative call (models/initiative_calls.py: those with a draft not submitted) each get a
  reminder `offsets` days before (7, 3 and 1 by default; officials change them per movement) at
  08:00 local time. A deadline moved is a new set of times, so the reminders move with it; and
  the recipients are chosen when a reminder is sent (only those who still have something to
  do), so a member who acted meanwhile is not reminded.
* Event reminders (`EventReminder`) are written by officials: a text, an audience chosen like an
  announcement's, and a rule — once, or recurring ("every Monday 07:00", "the 1st of each
  month") as a crontab expression evaluated by APScheduler's CronTrigger in Vietnam's time.
  `next_run_at` is stored; the tick claims a due one by moving `next_run_at` on with a
  conditional UPDATE, so of two processes only one sends it.

Each sending is a `ReminderRun`: unique per (category, source, occurrence), so inserting it is
the claim — a second process (or the same one after a restart) finds the row there and sends
nothing. Its recipients are queued into the outbox in committed batches with a cursor, like an
announcement (models/announcements.py), and the run keeps how many it queued; how many then
acted is counted from what they did after it was sent (`run_stats`).

Personal settings (`ReminderPreference`): muted categories, and quiet hours (default 21:00–06:30
local) during which a reminder waits in the outbox until the hours end (its row's
`next_attempt_at`), never dropped.

A reminder due while the bot was down is sent at start if it is still useful (before its
deadline); one whose deadline has passed is recorded as skipped and logged. When several
reminders of the same deadline are due at once (the bot was down for days), only the latest is
sent; the older ones are skipped. Reminder times before the thing existed never count: a
movement created two days before its deadline, or a council seated five days before its
scoring deadline, gets its next reminder at its time, not a "7 days left" at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    exists,
    func,
    type_coerce,
    update,
)
from sqlalchemy.orm import load_only
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audience as audiences
from models import outbox
from models.access import Actor, author_actor, require_official
from models.audience import Audience
from models.audit import record
from models.base import UTCDateTime, upsert_insert, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiative_calls import InitiativeCall
from models.initiatives import Initiative, InitiativeStatus, ReviewSeat
from models.members import Identity, Member, MemberStatus
from models.movements import Movement, MovementStatus, Registration, RegistrationStatus
from models.org import OrgUnit, in_subtree

log = logging.getLogger(__name__)


class Category(StrEnum):
    REGISTRATION = "registration"  # a movement's registration deadline: not yet registered
    SELF_ASSESSMENT = "self_assessment"  # the assessment window's end: registered, not submitted
    SCORING = "scoring"  # an initiative council's scoring deadline: seated, not scored
    INITIATIVE_CALL = "initiative_call"  # a union's call for initiatives: a draft not submitted
    EVENT = "event"  # an official's event reminder (a meeting, a training, a tournament)


SOURCE_TYPE = "reminder_run"
DEFAULT_OFFSETS = (7, 3, 1)
OFFSET_MAX = 30
OFFSETS_MAX = 5
SEND_AT = time(8, 0)
DEFAULT_QUIET = (time(21, 0), time(6, 30))
# Deadlines this far back are still looked at, to record (and log) reminders that were due
# while the bot was down and are no longer useful.
LOOKBACK = timedelta(days=2)
# A run whose claim was not renewed this long ago belonged to a process that died.
CLAIM_LEASE = timedelta(minutes=5)


class RunStatus(StrEnum):
    SENDING = "sending"  # claimed; recipients being queued
    SENT = "sent"  # every recipient queued
    SKIPPED = "skipped"  # not sent: too late, superseded, or its source is gone


class ReminderRun(SQLModel, table=True):
    """One sending of one reminder; its unique key is the claim."""

    __tablename__ = "reminder_run"
    __table_args__ = (
        UniqueConstraint("category", "source_type", "source_id", "occurrence"),
        Index("ix_reminder_run_resume", "status", "claimed_at"),
        Index("ix_reminder_run_source", "source_type", "source_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(sa_column=Column(String(24), nullable=False))
    # What it is about: ("movement", id), ("initiative", id), ("event_reminder", id).
    source_type: str = Field(sa_column=Column(String(32), nullable=False))
    source_id: int = Field(sa_column=Column(Integer, nullable=False))
    # Which reminder of that source: the deadline and the offset ("2026-12-15T16:59:59+00:00/3"),
    # or the event's planned time.
    occurrence: str = Field(sa_column=Column(String(64), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deadline_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default=RunStatus.SENDING, sa_column=Column(String(16), nullable=False))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cursor_member_id: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    queued: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # Why it was skipped: "late", "superseded", "gone", "author_gone".
    reason: str | None = Field(default=None, sa_column=Column(String(32)))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ReminderPreference(SQLModel, table=True):
    """A member's own settings (/reminders); no row means the defaults."""

    __tablename__ = "reminder_preference"

    member_id: int = Field(foreign_key="member.id", primary_key=True)
    muted: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # "HH:MM" local; equal start and end means no quiet hours.
    quiet_start: str = Field(default="21:00", sa_column=Column(String(5), nullable=False))
    quiet_end: str = Field(default="06:30", sa_column=Column(String(5), nullable=False))
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class EventStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"  # a one-off sent, or a rule with no further time
    CANCELLED = "cancelled"


class EventReminder(SQLModel, table=True):
    __tablename__ = "event_reminder"
    __table_args__ = (Index("ix_event_reminder_due", "status", "next_run_at"),)

    id: int | None = Field(default=None, primary_key=True)
    author_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    author_identity_id: int | None = Field(default=None, foreign_key="identity.id")
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    title: str = Field(sa_column=Column(String(200), nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))  # HTML, as an announcement's
    audience: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # "once" or a crontab expression ("0 7 * * mon", "0 8 1 * *"), in local time.
    rule: str = Field(sa_column=Column(String(64), nullable=False))
    next_run_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(default=EventStatus.ACTIVE, sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# --- times ------------------------------------------------------------------------------------


def clean_offsets(values: Iterable[int] | None) -> list[int]:
    """Days before a deadline, distinct, largest first: 1 to OFFSET_MAX, at most OFFSETS_MAX."""
    if values is None:
        return list(DEFAULT_OFFSETS)
    offsets = sorted({int(v) for v in values}, reverse=True)
    if len(offsets) > OFFSETS_MAX or any(not 1 <= v <= OFFSET_MAX for v in offsets):
        raise InvalidInput("reminder_offsets", max=OFFSET_MAX, count=OFFSETS_MAX)
    return offsets


def parse_offsets(text: str | None) -> list[int]:
    """Offsets typed "7 3 1" (or "7, 3, 1"); "0" alone or nothing means no reminders."""
    parts = (text or "").replace(",", " ").replace(";", " ").split()
    try:
        values = [int(part) for part in parts]
    except ValueError:
        raise InvalidInput("reminder_offsets", max=OFFSET_MAX, count=OFFSETS_MAX) from None
    if values == [0]:
        return []
    return clean_offsets(values)


def reminder_time(deadline: datetime, offset: int, tz: tzinfo) -> datetime:
    """08:00 local on the day `offset` days before the deadline's local day (UTC)."""
    day: date = deadline.astimezone(tz).date() - timedelta(days=offset)
    return datetime.combine(day, SEND_AT, tzinfo=tz).astimezone(UTC)


def occurrence_key(deadline: datetime, offset: int) -> str:
    return f"{deadline.astimezone(UTC).isoformat(timespec='seconds')}/{offset}"


def _hm(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def parse_quiet_hours(text: str | None) -> tuple[str, str]:
    """Quiet hours typed "21:00-06:30" (or "21h-6h30"); "0" or "off" means none."""
    raw = (text or "").strip().lower().replace("h", ":").replace("–", "-").replace(" ", "")
    if raw in ("0", "off", "tat", "tắt", "khong", "không"):
        return "00:00", "00:00"
    parts = raw.split("-")
    if len(parts) != 2:
        raise InvalidInput("reminder_quiet_hours")
    values = []
    for part in parts:
        hour, _, minute = part.partition(":")
        try:
            moment = time(int(hour), int(minute or 0))
        except ValueError:
            raise InvalidInput("reminder_quiet_hours") from None
        values.append(f"{moment.hour:02d}:{moment.minute:02d}")
    return values[0], values[1]


def quiet_until(now: datetime, tz: tzinfo, start: str, end: str) -> datetime | None:
    """If `now` falls in the quiet hours start–end (local, possibly across midnight), when they
    end (UTC); None otherwise."""
    begin, finish = _hm(start), _hm(end)
    if begin == finish:
        return None
    local = now.astimezone(tz)
    moment = local.time()
    if begin < finish:  # e.g. 12:00–13:30, within one day
        inside = begin <= moment < finish
        ends = datetime.combine(local.date(), finish, tzinfo=tz)
    else:  # across midnight, e.g. 21:00–06:30
        inside = moment >= begin or moment < finish
        day = local.date() + timedelta(days=1) if moment >= begin else local.date()
        ends = datetime.combine(day, finish, tzinfo=tz)
    return ends.astimezone(UTC) if inside else None


# --- preferences ----------------------------------------------------------------------------


async def preference_of(session: AsyncSession, member_id: int) -> ReminderPreference:
    found = await session.get(ReminderPreference, member_id)
    return found or ReminderPreference(member_id=member_id)


async def set_muted(
    session: AsyncSession, member_id: int, category: str, muted: bool, *, now: datetime
) -> ReminderPreference:
    if category not in {c.value for c in Category}:
        raise InvalidInput("reminder_category_unknown")
    preference = await preference_of(session, member_id)
    chosen = set(preference.muted)
    if muted:
        chosen.add(category)
    else:
        chosen.discard(category)
    preference.muted = sorted(chosen)
    preference.updated_at = now
    session.add(preference)
    await session.flush()
    return preference


async def set_quiet_hours(
    session: AsyncSession, member_id: int, start: str, end: str, *, now: datetime
) -> ReminderPreference:
    _hm(start), _hm(end)  # checked by parse_quiet_hours; a bad stored value fails loudly
    preference = await preference_of(session, member_id)
    preference.quiet_start, preference.quiet_end = start, end
    preference.updated_at = now
    session.add(preference)
    await session.flush()
    return preference


async def preferences_for(
    session: AsyncSession, member_ids: Sequence[int]
) -> dict[int, ReminderPreference]:
    if not member_ids:
        return {}
    rows = await session.exec(
        select(ReminderPreference).where(col(ReminderPreference.member_id).in_(member_ids))
    )
    return {row.member_id: row for row in rows.all()}


# --- claiming a run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """A reminder that is due: what it is about and which occurrence."""

    category: str
    source_type: str
    source_id: int
    occurrence: str
    due_at: datetime
    deadline_at: datetime | None


async def claim_run(
    session: AsyncSession, due: Due, *, now: datetime, skip: str | None = None
) -> int | None:
    """Inserts the run of `due` (status sending, or skipped with the reason `skip`); returns its
    id, or None when it was already there (another process, or an earlier tick, has it)."""
    statement = upsert_insert(session, ReminderRun.__table__).values(
        category=due.category, source_type=due.source_type, source_id=due.source_id,
        occurrence=due.occurrence, due_at=due.due_at, deadline_at=due.deadline_at,
        status=RunStatus.SKIPPED if skip else RunStatus.SENDING,
        claimed_at=None if skip else now, cursor_member_id=0, queued=0, reason=skip,
        created_at=now, finished_at=now if skip else None,
    ).on_conflict_do_nothing(
        index_elements=["category", "source_type", "source_id", "occurrence"]
    ).returning(ReminderRun.__table__.c.id)  # type: ignore[attr-defined]
    result = await session.exec(statement)  # type: ignore[call-overload]
    found = result.first()
    return int(found[0]) if found is not None else None


async def runs_to_resume(session: AsyncSession, *, now: datetime) -> list[int]:
    """Runs left "sending" by a process that stopped renewing its claim: taken over (the claim
    moved to now with a conditional UPDATE, so only one process resumes each), and runs a
    process handed back when it stopped (`release_run`), at once."""
    stale = now - CLAIM_LEASE
    free = col(ReminderRun.claimed_at).is_(None) | (col(ReminderRun.claimed_at) < stale)
    rows = await session.exec(
        select(ReminderRun.id).where(col(ReminderRun.status) == RunStatus.SENDING, free)
        .order_by(col(ReminderRun.id)).limit(20)
    )
    taken = []
    for run_id in rows.all():
        result = await session.exec(  # type: ignore[call-overload]
            update(ReminderRun)
            .where(col(ReminderRun.id) == run_id, col(ReminderRun.status) == RunStatus.SENDING,
                   free)
            .values(claimed_at=now)
        )
        if result.rowcount:
            taken.append(int(run_id))  # type: ignore[arg-type]
    return taken


async def release_run(session: AsyncSession, run_id: int) -> None:
    """Hands a claimed run back (the process is stopping): the next tick of any process
    continues it from its cursor without waiting for the lease."""
    await session.exec(  # type: ignore[call-overload]
        update(ReminderRun)
        .where(col(ReminderRun.id) == run_id, col(ReminderRun.status) == RunStatus.SENDING)
        .values(claimed_at=None)
    )


async def renew_claims(session: AsyncSession, run_ids: Sequence[int], *, now: datetime) -> None:
    """Keeps the claims of runs this process has taken and not begun yet (one run may take
    minutes; the others' leases must not expire meanwhile)."""
    if run_ids:
        await session.exec(  # type: ignore[call-overload]
            update(ReminderRun)
            .where(col(ReminderRun.id).in_(list(run_ids)),
                   col(ReminderRun.status) == RunStatus.SENDING)
            .values(claimed_at=now)
        )


# --- what is due -----------------------------------------------------------------------------


def _deadline_dues(
    category: str, source_type: str, source_id: int, deadline: datetime, offsets: Sequence[int],
    tz: tzinfo, *, now: datetime, not_before: datetime | None = None,
) -> tuple[list[Due], list[Due]]:
    """The reminders of one deadline that are due now: (to send, to skip). At most one is sent
    (the latest due); earlier ones due at the same time are superseded; all are late once the
    deadline has passed. Times before `not_before` (a window not open yet) never count."""
    due = []
    for offset in offsets:
        at = reminder_time(deadline, offset, tz)
        if at > now or (not_before is not None and at < not_before):
            continue
        due.append(Due(category, source_type, source_id, occurrence_key(deadline, offset), at,
                       deadline))
    if not due:
        return [], []
    due.sort(key=lambda d: d.due_at)
    if now >= deadline:
        return [], due
    return [due[-1]], due[:-1]


async def due_deadline_reminders(
    session: AsyncSession, *, now: datetime, tz: tzinfo
) -> tuple[list[Due], list[Due]]:
    """Every deadline reminder due now and not yet run: (to send, to skip with a reason). Only
    deadlines within [now − LOOKBACK, now + OFFSET_MAX days] are read (indexed), so the work
    grows with what is near, not with everything stored."""
    start, end = now - LOOKBACK, now + timedelta(days=OFFSET_MAX + 1)
    send: list[Due] = []
    skip: list[Due] = []
    movements = await session.exec(
        select(Movement).where(
            col(Movement.status) == MovementStatus.OPEN,
            (col(Movement.registration_deadline).between(start, end))
            | (col(Movement.assessment_closes).between(start, end)),
        ).order_by(col(Movement.id))  # the same order in every process: no deadlock on claims
    )
    for movement in movements.all():
        offsets = clean_offsets(movement.reminder_offsets)
        assert movement.id is not None
        if start <= movement.registration_deadline <= end:
            a, b = _deadline_dues(
                Category.REGISTRATION, "movement", movement.id, movement.registration_deadline,
                offsets, tz, now=now, not_before=movement.created_at,
            )
            send += a
            skip += b
        if start <= movement.assessment_closes <= end:
            a, b = _deadline_dues(
                Category.SELF_ASSESSMENT, "movement", movement.id, movement.assessment_closes,
                offsets, tz, now=now,
                not_before=max(movement.assessment_opens, movement.created_at),
            )
            send += a
            skip += b
    # When the current round's council was seated: reminder times before it never count (a
    # council seated five days before its deadline is not sent the seven-day reminder).
    seated = type_coerce(
        select(func.min(ReviewSeat.created_at))
        .where(ReviewSeat.initiative_id == Initiative.id, ReviewSeat.round == Initiative.round)
        .correlate(Initiative)
        .scalar_subquery(),
        UTCDateTime(),  # SQLite returns an aggregate's timestamp naive: the type restores UTC
    )
    initiatives = await session.exec(
        select(Initiative.id, Initiative.scoring_deadline, seated).where(
            col(Initiative.status) == InitiativeStatus.UNDER_REVIEW,
            col(Initiative.scoring_deadline).between(start, end),
        ).order_by(col(Initiative.id))
    )
    for initiative_id, deadline, seated_at in initiatives.all():
        a, b = _deadline_dues(
            Category.SCORING, "initiative", int(initiative_id), deadline, DEFAULT_OFFSETS, tz,
            now=now, not_before=seated_at,
        )
        send += a
        skip += b
    calls = await session.exec(
        select(InitiativeCall.id, InitiativeCall.deadline, InitiativeCall.created_at)
        .where(col(InitiativeCall.deadline).between(start, end))
        .order_by(col(InitiativeCall.id))
    )
    for call_id, deadline, created_at in calls.all():
        a, b = _deadline_dues(
            Category.INITIATIVE_CALL, "initiative_call", int(call_id), deadline, DEFAULT_OFFSETS,
            tz, now=now, not_before=created_at,
        )
        send += a
        skip += b
    if not send and not skip:
        return [], []
    known, last_sent = await _runs_known(session, send + skip)
    fresh_skip = [d for d in skip if _key(d) not in known]
    fresh_send = []
    for d in send:
        if _key(d) in known:
            continue
        # A deadline moved by a little keeps reminders at times already past: one was sent
        # then (for the old deadline), so this one is superseded rather than sent twice.
        latest = last_sent.get((d.category, d.source_type, d.source_id))
        if latest is not None and d.due_at <= latest:
            fresh_skip.append(d)
        else:
            fresh_send.append(d)
    return fresh_send, fresh_skip


def _key(due: Due) -> tuple[str, str, int, str]:
    return (due.category, due.source_type, due.source_id, due.occurrence)


async def _runs_known(
    session: AsyncSession, dues: list[Due]
) -> tuple[set[tuple[Any, ...]], dict[tuple[str, str, int], datetime]]:
    """The keys of `dues` that already have a run, and per (category, source) the latest time a
    run was sent (or is being sent) for it, whatever its deadline then (one query)."""
    keys = {_key(d) for d in dues}
    rows = await session.exec(
        select(ReminderRun.category, ReminderRun.source_type, ReminderRun.source_id,
               ReminderRun.occurrence, ReminderRun.status, ReminderRun.due_at)
        .where(col(ReminderRun.source_id).in_({d.source_id for d in dues}))
        .where(col(ReminderRun.source_type).in_({d.source_type for d in dues}))
    )
    known: set[tuple[Any, ...]] = set()
    last_sent: dict[tuple[str, str, int], datetime] = {}
    for category, source_type, source_id, occurrence, status, due_at in rows.all():
        key = (category, source_type, source_id, occurrence)
        if key in keys:
            known.add(key)
        if status != RunStatus.SKIPPED:
            source = (category, source_type, source_id)
            if source not in last_sent or due_at > last_sent[source]:
                last_sent[source] = due_at
    return known, last_sent


# --- event reminders ---------------------------------------------------------------------------

# An event reminder this late (the bot was down) is no longer sent.
EVENT_LATE = timedelta(hours=6)
RULE_ONCE = "once"


def _trigger(rule: str, tz: tzinfo) -> Any:
    try:
        return CronTrigger.from_crontab(rule, timezone=tz)
    except (ValueError, TypeError) as error:
        raise InvalidInput("reminder_rule_invalid") from error


def next_fire(rule: str, *, after: datetime, tz: tzinfo) -> datetime | None:
    """The first time of `rule` strictly after `after` (UTC); None for a one-off."""
    if rule == RULE_ONCE:
        return None
    fire = _trigger(rule, tz).get_next_fire_time(None, after + timedelta(seconds=1))
    return None if fire is None else fire.astimezone(UTC)


def daily_rule(hour: int, minute: int) -> str:
    return f"{minute} {hour} * * *"


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekly_rule(weekday: int, hour: int, minute: int) -> str:
    """`weekday` 0 = Monday … 6 = Sunday."""
    return f"{minute} {hour} * * {WEEKDAYS[weekday]}"


def monthly_rule(day: int | str, hour: int, minute: int) -> str:
    """`day` 1–31 (a month without that day is skipped) or "last"."""
    if day != "last" and not (isinstance(day, int) and 1 <= day <= 31):
        raise InvalidInput("reminder_rule_invalid")
    return f"{minute} {hour} {day} * *"


async def claim_due_events(session: AsyncSession, *, now: datetime, tz: tzinfo) -> list[Due]:
    """Due event reminders, each claimed by moving its `next_run_at` on (a conditional UPDATE:
    of two processes only one wins). Returns what to send; late ones come back with the
    occurrence for the caller to skip (due_at older than EVENT_LATE)."""
    rows = await session.exec(
        select(EventReminder.id, EventReminder.next_run_at, EventReminder.rule).where(
            col(EventReminder.status) == EventStatus.ACTIVE,
            col(EventReminder.next_run_at) <= now,
        ).order_by(col(EventReminder.next_run_at), col(EventReminder.id)).limit(50)
    )
    claimed = []
    for event_id, planned, rule in rows.all():
        following = next_fire(rule, after=max(planned, now), tz=tz)
        values: dict[str, Any] = {"next_run_at": following, "updated_at": now}
        if following is None:
            values["status"] = EventStatus.ENDED
        result = await session.exec(  # type: ignore[call-overload]
            update(EventReminder)
            .where(col(EventReminder.id) == event_id, col(EventReminder.next_run_at) == planned,
                   col(EventReminder.status) == EventStatus.ACTIVE)
            .values(**values)
        )
        if result.rowcount:
            claimed.append(Due(
                Category.EVENT, "event_reminder", int(event_id),
                planned.astimezone(UTC).isoformat(timespec="seconds"), planned, None,
            ))
    return claimed


async def create_event_reminder(
    session: AsyncSession, actor: Actor, *, title: str, text: str, audience: Audience,
    rule: str, first_at: datetime | None, now: datetime, tz: tzinfo,
) -> EventReminder:
    """An official's event reminder: once at `first_at`, or by `rule` from now on. The audience
    is checked as for an announcement (inside the official's scope). Audited."""
    from models.announcements import clean_text

    require_official(actor)
    title = " ".join((title or "").split())
    if not 3 <= len(title) <= 200:
        raise InvalidInput("reminder_title", min=3, max=200)
    body = clean_text(text, has_media=False)
    await audiences.check(session, actor, audience)
    if rule == RULE_ONCE:
        if first_at is None or first_at <= now:
            raise InvalidInput("announcement_time_past")
        if first_at > now + timedelta(days=366):
            raise InvalidInput("announcement_time_too_far")
        next_run = first_at
    else:
        next_run = next_fire(rule, after=now, tz=tz)
        if next_run is None:
            raise InvalidInput("reminder_rule_invalid")
    event = EventReminder(
        author_member_id=actor.member_id, author_identity_id=actor.identity.id,
        unit_id=actor.official_of[0].unit_id if actor.official_of else None,
        title=title, text=body, audience=audience.to_dict(), rule=rule, next_run_at=next_run,
        created_at=now, updated_at=now,
    )
    session.add(event)
    await session.flush()
    await record(session, actor, "event_reminder_created", target_type="event_reminder",
                 target_id=event.id, after={"rule": rule, "audience": event.audience,
                                            "next_run_at": next_run.isoformat()})
    return event


async def cancel_event_reminder(
    session: AsyncSession, actor: Actor, event: EventReminder, *, now: datetime
) -> None:
    require_official(actor)
    result = await session.exec(  # type: ignore[call-overload]
        update(EventReminder)
        .where(col(EventReminder.id) == event.id, col(EventReminder.status) == EventStatus.ACTIVE)
        .values(status=EventStatus.CANCELLED, updated_at=now)
    )
    if not result.rowcount:
        raise NotAllowed("reminder_not_active")
    await session.refresh(event)
    await record(session, actor, "event_reminder_cancelled", target_type="event_reminder",
                 target_id=event.id)


async def event_reminders_for(session: AsyncSession, actor: Actor) -> list[EventReminder]:
    """The active event reminders an official may follow: their own and their scope's."""
    require_official(actor)
    query = select(EventReminder).where(col(EventReminder.status) == EventStatus.ACTIVE)
    if not actor.is_admin:
        mine = col(EventReminder.author_identity_id) == actor.identity.id
        if actor.member_id is not None:
            mine = mine | (col(EventReminder.author_member_id) == actor.member_id)
        in_scope = col(EventReminder.unit_id).in_(
            select(OrgUnit.id).where(actor.unit_condition())
        )
        query = query.where(mine | in_scope)
    rows = await session.exec(query.order_by(col(EventReminder.next_run_at)))
    return list(rows.all())


async def event_reminder_for(
    session: AsyncSession, actor: Actor, event_id: int
) -> EventReminder:
    for event in await event_reminders_for(session, actor):
        if event.id == event_id:
            return event
    log.warning("identity %s asked for event reminder %s outside their reach",
                actor.identity.id, event_id)
    raise NotFound("reminder_not_found")


# --- queuing a run -----------------------------------------------------------------------------

QUEUE_BATCH = 2000


@dataclass
class Batch:
    queued: int
    done: bool


async def _source_state(
    session: AsyncSession, run: ReminderRun
) -> tuple[Any, datetime | None, str | None]:
    """The run's source, its deadline now, and why it can no longer be sent (or None)."""
    if run.source_type == "movement":
        movement = await session.get(Movement, run.source_id, populate_existing=True)
        if movement is None or movement.status != MovementStatus.OPEN:
            return movement, None, "gone"
        deadline = (movement.registration_deadline if run.category == Category.REGISTRATION
                    else movement.assessment_closes)
        offsets = clean_offsets(movement.reminder_offsets)
        if run.occurrence not in {occurrence_key(deadline, o) for o in offsets}:
            return movement, deadline, "moved"  # the deadline or the offsets changed since
        return movement, deadline, None
    if run.source_type == "initiative":
        initiative = await session.get(Initiative, run.source_id, populate_existing=True)
        if initiative is None or initiative.status != InitiativeStatus.UNDER_REVIEW \
                or initiative.scoring_deadline is None:
            return initiative, None, "gone"
        deadline = initiative.scoring_deadline
        if run.occurrence not in {occurrence_key(deadline, o) for o in DEFAULT_OFFSETS}:
            return initiative, deadline, "moved"
        return initiative, deadline, None
    if run.source_type == "initiative_call":
        call = await session.get(InitiativeCall, run.source_id, populate_existing=True)
        unit = None if call is None else await session.get(OrgUnit, call.unit_id)
        if call is None or unit is None:
            return None, None, "gone"
        source = CallSource(call.id, unit.path, call.school_year, unit.name)  # type: ignore[arg-type]
        if run.occurrence not in {occurrence_key(call.deadline, o) for o in DEFAULT_OFFSETS}:
            return source, call.deadline, "moved"
        return source, call.deadline, None
    event = await session.get(EventReminder, run.source_id, populate_existing=True)
    if event is None or event.status == EventStatus.CANCELLED:
        return event, None, "gone"
    return event, None, None


@dataclass(frozen=True)
class CallSource:
    """An initiative call as its reminder needs it: the unit's subtree, the year, the name."""

    id: int
    path: str
    school_year: str
    name: str  # the unit's


def _active_member() -> list[Any]:
    return [col(Member.status) == MemberStatus.ACTIVE, col(Member.erased_at).is_(None)]


async def _recipients(
    session: AsyncSession, run: ReminderRun, source: Any, actor: Actor | None
) -> Any:
    """The query of the member ids this run reaches (those who still have something to do),
    ordered by id."""
    if run.category == Category.REGISTRATION:
        active = exists(
            select(Registration.id).where(
                Registration.movement_id == source.id,
                Registration.member_id == Member.id,
                Registration.status != RegistrationStatus.WITHDRAWN,
            )
        )
        return (
            select(Member.id).join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
            .where(*_active_member(), col(OrgUnit.is_active), audiences.targeted_by(source),
                   ~active)
            .order_by(col(Member.id))
        )
    if run.category == Category.SELF_ASSESSMENT:
        return (
            select(Member.id).join(Registration, col(Registration.member_id) == Member.id)
            .where(*_active_member(), Registration.movement_id == source.id,
                   Registration.status == RegistrationStatus.REGISTERED)
            .order_by(col(Member.id))
        )
    if run.category == Category.SCORING:
        return (
            select(Member.id).join(ReviewSeat, col(ReviewSeat.reviewer_member_id) == Member.id)
            .where(*_active_member(), ReviewSeat.initiative_id == source.id,
                   ReviewSeat.round == source.round, col(ReviewSeat.scored_at).is_(None))
            .order_by(col(Member.id))
        )
    if run.category == Category.INITIATIVE_CALL:
        drafting = exists(
            select(Initiative.id).where(
                Initiative.submitter_member_id == Member.id,
                Initiative.status == InitiativeStatus.DRAFT,
                # A draft has no school year until it is submitted.
                col(Initiative.school_year).is_(None)
                | (col(Initiative.school_year) == source.school_year),
            )
        )
        return (
            select(Member.id).join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
            .where(*_active_member(), in_subtree(source.path), drafting)
            .order_by(col(Member.id))
        )
    if actor is None:
        raise NotAllowed("announcement_author_gone")
    require_official(actor)
    return await audiences.recipients(session, actor, Audience.from_dict(source.audience))


async def _finish(
    session: AsyncSession, run: ReminderRun, *, now: datetime, status: str,
    reason: str | None = None,
) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(ReminderRun)
        .where(col(ReminderRun.id) == run.id, col(ReminderRun.status) == RunStatus.SENDING)
        .values(status=status, reason=reason, finished_at=now, claimed_at=now)
    )
    if reason is not None:
        log.info("reminder run %s (%s %s %s) skipped: %s", run.id, run.category,
                 run.source_type, run.source_id, reason)


Render = Any  # (run, source, deadline, channel, locale) -> outbox.Message


async def queue_run_batch(
    session: AsyncSession,
    run_id: int,
    *,
    now: datetime,
    tz: tzinfo,
    render: Render,
    actor: Actor | None = None,
    batch_size: int = QUEUE_BATCH,
) -> Batch:
    """Queues the next batch of the run's recipients after its cursor (muted members left out,
    those in their quiet hours held until the hours end) and renews the claim; the run is
    "sent" when none are left, "skipped" when it is no longer useful. The caller commits."""
    run = await session.get(ReminderRun, run_id, populate_existing=True)
    if run is None or run.status != RunStatus.SENDING:
        return Batch(0, True)
    source, deadline, why = await _source_state(session, run)
    if why is None and deadline is not None and now >= deadline:
        why = "late"
    if why is not None:
        await _finish(session, run, now=now, status=RunStatus.SKIPPED, reason=why)
        return Batch(0, True)
    try:
        query = await _recipients(session, run, source, actor)
    except (NotAllowed, InvalidInput, NotFound) as error:
        # The author was erased or is no longer an official: nobody sends in their name. Any
        # other refusal (the audience now outside their scope) keeps its own code.
        gone = actor is None or error.code in ("officials_only", "announcement_author_gone")
        reason = "author_gone" if gone else error.code[:32]
        await _finish(session, run, now=now, status=RunStatus.SKIPPED, reason=reason)
        return Batch(0, True)
    rows = await session.exec(query.where(col(Member.id) > run.cursor_member_id).limit(batch_size))
    ids = [int(member_id) for member_id in rows.all()]
    queued = 0
    if ids:
        preferences = await preferences_for(session, ids)
        # Only what choosing the account and the language needs (enqueue_for_members, render).
        members = (await session.exec(
            select(Member).where(col(Member.id).in_(ids)).options(
                load_only(Member.id, Member.preferred_channel, Member.locale)  # type: ignore[arg-type]
            )
        )).all()
        groups: dict[datetime | None, list[Member]] = {}
        # Most members keep the defaults (no row); building a default ReminderPreference per
        # member cost more than the rest of the batch, so plain values, one quiet_until per
        # distinct pair of hours.
        default_hours = (f"{DEFAULT_QUIET[0]:%H:%M}", f"{DEFAULT_QUIET[1]:%H:%M}")
        holds: dict[tuple[str, str], datetime | None] = {}
        for member in sorted(members, key=lambda m: m.id or 0):
            preference = preferences.get(member.id)  # type: ignore[arg-type]
            hours = default_hours
            if preference is not None:
                if run.category in preference.muted:
                    continue
                hours = (preference.quiet_start, preference.quiet_end)
            if hours not in holds:
                holds[hours] = quiet_until(now, tz, *hours)
            groups.setdefault(holds[hours], []).append(member)
        cache: dict[tuple[str, str | None], outbox.Message] = {}

        def message(member: Member, identity: Identity) -> outbox.Message:
            key = (identity.channel, member.locale or identity.locale)
            if key not in cache:
                cache[key] = render(run, source, deadline, identity.channel, key[1])
            return cache[key]

        for held, group in groups.items():
            queued += await outbox.enqueue_for_members(
                session, group, kind=outbox.Kind.REMINDER,
                source=outbox.Source(SOURCE_TYPE, run.id), render=message, now=now,
                not_before=held,
            )
    done = len(ids) < batch_size
    values: dict[str, Any] = {"claimed_at": now, "queued": ReminderRun.queued + queued}
    if ids:
        values["cursor_member_id"] = ids[-1]
    if done:
        values.update(status=RunStatus.SENT, finished_at=now)
    await session.exec(  # type: ignore[call-overload]
        update(ReminderRun)
        .where(col(ReminderRun.id) == run_id, col(ReminderRun.status) == RunStatus.SENDING)
        .values(**values)
    )
    return Batch(queued, done)


# --- what it achieved --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunStats:
    run: ReminderRun
    reached: int  # messages delivered
    acted: int | None  # of those reached, how many then did what they were reminded of


async def run_stats(session: AsyncSession, run: ReminderRun) -> RunStats:
    message = outbox.OutboxMessage
    reached_to = (
        select(message.member_id)
        .where(col(message.source_type) == SOURCE_TYPE, col(message.source_id) == run.id,
               col(message.status) == outbox.Status.SENT, col(message.member_id).is_not(None))
        .distinct()
    )
    reached = await session.exec(select(func.count()).select_from(reached_to.subquery()))
    acted_query: Any = None
    since = run.created_at
    if run.category == Category.REGISTRATION:
        # Those reached had no registration in force when they were queued, so one in force
        # now came after (a registration withdrawn earlier and made again reuses its row, so
        # its created_at says nothing).
        acted_query = select(func.count(func.distinct(Registration.member_id))).where(
            Registration.movement_id == run.source_id,
            col(Registration.member_id).in_(reached_to),
            Registration.status != RegistrationStatus.WITHDRAWN,
        )
    elif run.category == Category.SELF_ASSESSMENT:
        acted_query = select(func.count(func.distinct(Registration.member_id))).where(
            Registration.movement_id == run.source_id,
            col(Registration.member_id).in_(reached_to),
            col(Registration.submitted_at) >= since,
        )
    elif run.category == Category.SCORING:
        acted_query = select(func.count(func.distinct(ReviewSeat.reviewer_member_id))).where(
            ReviewSeat.initiative_id == run.source_id,
            col(ReviewSeat.reviewer_member_id).in_(reached_to),
            col(ReviewSeat.scored_at) >= since,
        )
    elif run.category == Category.INITIATIVE_CALL:
        call = await session.get(InitiativeCall, run.source_id)
        if call is not None:
            acted_query = select(func.count(func.distinct(Initiative.submitter_member_id))).where(
                col(Initiative.submitter_member_id).in_(reached_to),
                Initiative.school_year == call.school_year,
                Initiative.status != InitiativeStatus.DRAFT,
                col(Initiative.submitted_at) >= since,
            )
    acted = None
    if acted_query is not None:
        acted = int((await session.exec(acted_query)).one())
    return RunStats(run, int(reached.one()), acted)


async def runs_of(session: AsyncSession, source_type: str, source_id: int) -> list[ReminderRun]:
    rows = await session.exec(
        select(ReminderRun).where(
            col(ReminderRun.source_type) == source_type, col(ReminderRun.source_id) == source_id
        ).order_by(col(ReminderRun.due_at), col(ReminderRun.id))
    )
    return list(rows.all())


# --- the message ------------------------------------------------------------------------------

Translate = Any  # bot.i18n.Translator.t: t(locale, key, **params), params HTML-escaped


def render(
    run: ReminderRun, source: Any, deadline: datetime | None, channel: str, locale: str | None,
    *, t: Translate, tz: tzinfo, now: datetime, sender: str | None = None,
) -> outbox.Message:
    """The reminder a member receives, in their language (the same on both apps: plain text
    with bold, which the Zalo bridge flattens)."""
    parts = []
    if run.category == Category.EVENT:
        parts.append(t(locale, "reminder.event", title=source.title,
                       sender=sender or t(locale, "announce.sender_admin")))
        parts.append(source.text)
    else:
        assert deadline is not None
        local = deadline.astimezone(tz)
        days = (local.date() - now.astimezone(tz).date()).days
        left = (t(locale, "reminder.left_today") if days <= 0
                else t(locale, "reminder.left_days", days=days))
        name = source.title if run.category == Category.SCORING else source.name
        parts.append(t(locale, f"reminder.{run.category}", name=name,
                       deadline=local.strftime("%H:%M %d/%m/%Y"), left=left))
    parts.append(t(locale, "reminder.footer"))
    return outbox.Message("\n\n".join(parts))


# --- /reminders, offsets per movement, officials' figures (helper H1) --------------------------

# At most this many items of each kind, and in all, on a member's "what is coming".
UPCOMING_PER_KIND = 8
UPCOMING_MAX = 20
# Event reminders looked at (soonest first) to find the ones whose audience includes the member.
UPCOMING_EVENTS_SCANNED = 12


def member_for_reminders(member: Member | None) -> Member:
    """The person may have reminder settings: an approved member (not pending, not erased)."""
    if member is None:
        raise NotFound("reminders_not_member")
    if member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        raise NotAllowed("reminders_members_only")
    return member


@dataclass(frozen=True)
class Upcoming:
    """One reminder that will reach the member: what it is about, the deadline (none for an
    event), the next time it goes (None: no reminder left before the deadline), and whether
    the member muted its category."""

    category: str
    title: str
    deadline: datetime | None
    next_at: datetime | None
    muted: bool
    # When it reaches the member: later than next_at when that falls in their quiet hours.
    arrives_at: datetime | None = None


def next_reminder_time(
    deadline: datetime, offsets: Sequence[int], tz: tzinfo, *, now: datetime,
    not_before: datetime | None = None,
) -> datetime | None:
    """The first reminder of `deadline` still to come (after now, before the deadline, not
    before `not_before`), or None."""
    times = [
        at for at in (reminder_time(deadline, offset, tz) for offset in offsets)
        if now < at < deadline and (not_before is None or at >= not_before)
    ]
    return min(times) if times else None


async def upcoming_for(
    session: AsyncSession, member: Member, now: datetime, tz: tzinfo, *,
    admin_telegram_ids: Iterable[int] = (),
) -> list[Upcoming]:
    """What reminders will reach `member`, soonest first (at most UPCOMING_MAX): registration
    deadlines of open movements for their union they have not registered for, the
    self-assessment windows of their registrations not submitted, their unscored council seats,
    and the event reminders whose audience includes them. A bounded number of queries: each
    kind is limited, and only the soonest event reminders near the member are checked."""
    from models.movements import for_unit_condition

    member = member_for_reminders(member)
    preference = await preference_of(session, member.id)  # type: ignore[arg-type]
    muted = set(preference.muted)
    items: list[Upcoming] = []
    unit = await session.get(OrgUnit, member.unit_id)
    if unit is not None:
        registered = exists(
            select(Registration.id).where(
                Registration.movement_id == Movement.id,
                Registration.member_id == member.id,
                Registration.status != RegistrationStatus.WITHDRAWN,
            )
        )
        rows = await session.exec(
            select(Movement).where(
                col(Movement.status) == MovementStatus.OPEN,
                col(Movement.registration_deadline) > now,
                for_unit_condition(unit),
                ~registered,
            ).order_by(col(Movement.registration_deadline), col(Movement.id))
            .limit(UPCOMING_PER_KIND)
        )
        for movement in rows.all():
            items.append(Upcoming(
                Category.REGISTRATION, movement.name, movement.registration_deadline,
                next_reminder_time(movement.registration_deadline,
                                   clean_offsets(movement.reminder_offsets), tz, now=now),
                Category.REGISTRATION in muted,
            ))
    rows_a = await session.exec(
        select(Movement).join(Registration, col(Registration.movement_id) == Movement.id)
        .where(
            Registration.member_id == member.id,
            Registration.status == RegistrationStatus.REGISTERED,
            col(Movement.status) == MovementStatus.OPEN,
            col(Movement.assessment_closes) > now,
        ).order_by(col(Movement.assessment_closes), col(Movement.id)).limit(UPCOMING_PER_KIND)
    )
    for movement in rows_a.all():
        items.append(Upcoming(
            Category.SELF_ASSESSMENT, movement.name, movement.assessment_closes,
            next_reminder_time(movement.assessment_closes,
                               clean_offsets(movement.reminder_offsets), tz, now=now,
                               not_before=movement.assessment_opens),
            Category.SELF_ASSESSMENT in muted,
        ))
    rows_s = await session.exec(
        select(Initiative).join(ReviewSeat, col(ReviewSeat.initiative_id) == Initiative.id)
        .where(
            ReviewSeat.reviewer_member_id == member.id,
            col(ReviewSeat.round) == Initiative.round,
            col(ReviewSeat.scored_at).is_(None),
            col(Initiative.status) == InitiativeStatus.UNDER_REVIEW,
            col(Initiative.scoring_deadline) > now,
        ).order_by(col(Initiative.scoring_deadline), col(Initiative.id)).limit(UPCOMING_PER_KIND)
    )
    for initiative in rows_s.all():
        assert initiative.scoring_deadline is not None
        items.append(Upcoming(
            Category.SCORING, initiative.title, initiative.scoring_deadline,
            next_reminder_time(initiative.scoring_deadline, DEFAULT_OFFSETS, tz, now=now),
            Category.SCORING in muted,
        ))
    items += await _upcoming_calls(session, member, unit, now=now, tz=tz,
                                   muted=Category.INITIATIVE_CALL in muted)
    items += await _upcoming_events(
        session, member, unit, now=now, muted=Category.EVENT in muted,
        admin_telegram_ids=admin_telegram_ids,
    )
    from dataclasses import replace

    far = datetime.max.replace(tzinfo=UTC)
    items.sort(key=lambda item: (item.next_at or item.deadline or far, item.title))
    return [
        replace(item, arrives_at=None if item.next_at is None else (
            quiet_until(item.next_at, tz, preference.quiet_start, preference.quiet_end)
            or item.next_at
        ))
        for item in items[:UPCOMING_MAX]
    ]


async def _upcoming_calls(
    session: AsyncSession, member: Member, unit: OrgUnit | None, *, now: datetime, tz: tzinfo,
    muted: bool,
) -> list[Upcoming]:
    """The initiative calls of the member's union or above, when the member has an initiative
    still a draft (whom those reminders reach)."""
    from models.initiative_calls import InitiativeCall

    if unit is None:
        return []
    draft = await session.exec(
        select(Initiative.id).where(
            Initiative.submitter_member_id == member.id,
            Initiative.status == InitiativeStatus.DRAFT,
        ).limit(1)
    )
    if draft.first() is None:
        return []
    ancestors = [int(part) for part in unit.path.strip("/").split("/") if part]
    rows = await session.exec(
        select(InitiativeCall, OrgUnit.name)
        .join(OrgUnit, col(OrgUnit.id) == InitiativeCall.unit_id)
        .where(col(InitiativeCall.unit_id).in_(ancestors), col(InitiativeCall.deadline) > now)
        .order_by(col(InitiativeCall.deadline), col(InitiativeCall.id)).limit(UPCOMING_PER_KIND)
    )
    return [
        Upcoming(
            Category.INITIATIVE_CALL, name, call.deadline,
            next_reminder_time(call.deadline, DEFAULT_OFFSETS, tz, now=now,
                               not_before=call.created_at),
            muted,
        )
        for call, name in rows.all()
    ]


async def _upcoming_events(
    session: AsyncSession, member: Member, unit: OrgUnit | None, *, now: datetime, muted: bool,
    admin_telegram_ids: Iterable[int],
) -> list[Upcoming]:
    """The soonest active event reminders written by officials of the member's union or above
    (or by administrators), kept when their audience, resolved as the sender will resolve it,
    includes the member (one query each)."""
    if unit is None:
        return []
    ancestors = [int(part) for part in unit.path.strip("/").split("/") if part]
    rows = await session.exec(
        select(EventReminder).where(
            col(EventReminder.status) == EventStatus.ACTIVE,
            col(EventReminder.next_run_at) > now,
            col(EventReminder.unit_id).is_(None) | col(EventReminder.unit_id).in_(ancestors),
        ).order_by(col(EventReminder.next_run_at), col(EventReminder.id))
        .limit(UPCOMING_EVENTS_SCANNED)
    )
    found: list[Upcoming] = []
    actors: dict[tuple[int | None, int | None], Actor | None] = {}
    for event in rows.all():
        author = (event.author_identity_id, event.author_member_id)
        if author not in actors:
            actors[author] = await author_actor(
                session, identity_id=author[0], member_id=author[1],
                admin_telegram_ids=admin_telegram_ids,
            )
        if actors[author] is None:
            continue
        try:
            actor = actors[author]
            assert actor is not None
            require_official(actor)
            query = await audiences.recipients(
                session, actor, Audience.from_dict(event.audience)
            )
        except (NotAllowed, InvalidInput, NotFound):
            continue  # the author lost the right: the tick will skip it too
        hit = await session.exec(query.where(col(Member.id) == member.id).limit(1))
        if hit.first() is not None:
            found.append(Upcoming(Category.EVENT, event.title, None, event.next_run_at, muted))
        if len(found) >= UPCOMING_PER_KIND:
            break
    return found


async def set_offsets(
    session: AsyncSession, actor: Actor, movement: Movement, offsets: Sequence[int] | None, *,
    now: datetime,
) -> Movement:
    """The days before each deadline of `movement` its reminders go ([] none, None the
    default), set by an official who runs it (RUN_MOVEMENT on its owner unit), while it is a
    draft or open. Reminders already planned move with it (they are computed from these).
    Audited."""
    from models.access import Action, authorize
    from models.movement_admin import ensure_editable, owner_of

    await authorize(session, actor, Action.RUN_MOVEMENT, unit=await owner_of(session, movement))
    ensure_editable(movement)
    chosen = None if offsets is None else clean_offsets(offsets)
    before = movement.reminder_offsets
    if chosen == before:
        return movement
    movement.reminder_offsets = chosen
    movement.updated_at = now
    session.add(movement)
    await session.flush()
    await record(session, actor, "reminder_offsets_changed", target_type="movement",
                 target_id=movement.id, before={"reminder_offsets": before},
                 after={"reminder_offsets": chosen})
    return movement


async def movement_reminder_figures(
    session: AsyncSession, actor: Actor, movement_id: int, *, limit: int = 20
) -> tuple[Movement, list[RunStats]]:
    """The reminders of a movement (its latest `limit` runs, in time order) with how many each
    reached and how many then acted, for an official who runs it."""
    from models.movement_admin import movement_to_run

    movement = await movement_to_run(session, actor, movement_id=movement_id)
    runs = (await runs_of(session, "movement", movement_id))[-limit:]
    return movement, [await run_stats(session, run) for run in runs]


async def latest_figures(
    session: AsyncSession, source_type: str, source_id: int, *, limit: int = 5
) -> list[RunStats]:
    """The latest `limit` reminders of a source (in time order) with what each achieved; the
    caller has checked the official may see the source."""
    runs = (await runs_of(session, source_type, source_id))[-limit:]
    return [await run_stats(session, run) for run in runs]


# --- event reminders in the composer (officials' /announce → "🔔 Nhắc lịch") ------------------
# The rule in parts, as the composer builds it and as people read it: handlers word the parts
# and never parse a crontab themselves.

MONTH_DAY_MAX = 28  # every month has these days: "the 29th" would skip February
_LAST_DAY_WORDS = {"last", "cuoi", "cuối", "ngay cuoi", "ngày cuối", "cuoi thang", "cuối tháng",
                   "ngay cuoi thang", "ngày cuối tháng", "last day"}


class RuleKind(StrEnum):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    OTHER = "other"  # a crontab not made by the composer: shown as it is


@dataclass(frozen=True)
class RuleParts:
    kind: str
    weekday: int | None = None  # 0 = Monday … 6 = Sunday (weekly)
    day: int | str | None = None  # 1–31 or "last" (monthly)
    hour: int | None = None
    minute: int | None = None


def rule_parts(rule: str) -> RuleParts:
    """An event reminder's rule in parts (for "once", the time is its `next_run_at`)."""
    if rule == RULE_ONCE:
        return RuleParts(RuleKind.ONCE)
    fields = rule.split()
    if len(fields) != 5:
        return RuleParts(RuleKind.OTHER)
    minute, hour, day, month, weekday = fields
    if not (minute.isdigit() and hour.isdigit()) or month != "*":
        return RuleParts(RuleKind.OTHER)
    at = {"hour": int(hour), "minute": int(minute)}
    if day == "*" and weekday == "*":
        return RuleParts(RuleKind.DAILY, **at)
    if day == "*" and weekday in WEEKDAYS:
        return RuleParts(RuleKind.WEEKLY, weekday=WEEKDAYS.index(weekday), **at)
    if weekday == "*" and day == "last":
        return RuleParts(RuleKind.MONTHLY, day="last", **at)
    if weekday == "*" and day.isdigit():
        return RuleParts(RuleKind.MONTHLY, day=int(day), **at)
    return RuleParts(RuleKind.OTHER)


def rule_of(parts: RuleParts) -> str:
    """The rule ("once" or a crontab) of parts chosen in the composer, checked (a forged
    weekday or day is refused)."""
    if parts.kind == RuleKind.ONCE:
        return RULE_ONCE
    hour, minute = parts.hour, parts.minute
    if hour is None or minute is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise InvalidInput("reminder_rule_invalid")
    if parts.kind == RuleKind.DAILY:
        return daily_rule(hour, minute)
    if parts.kind == RuleKind.WEEKLY and parts.weekday in range(7):
        return weekly_rule(parts.weekday, hour, minute)  # type: ignore[arg-type]
    if parts.kind == RuleKind.MONTHLY and (
        parts.day == "last" or (isinstance(parts.day, int) and 1 <= parts.day <= MONTH_DAY_MAX)
    ):
        return monthly_rule(parts.day, hour, minute)  # type: ignore[arg-type]
    raise InvalidInput("reminder_rule_invalid")


def next_fires(rule: str, *, after: datetime, tz: tzinfo, count: int = 3) -> list[datetime]:
    """The next `count` times of a recurring rule after `after` (UTC); none for "once"."""
    times: list[datetime] = []
    moment = after
    while len(times) < count:
        fire = next_fire(rule, after=moment, tz=tz)
        if fire is None:
            break
        times.append(fire)
        moment = fire
    return times


def clean_title(title: str | None) -> str:
    """A reminder's name, spaces folded: 3 to 200 characters."""
    value = " ".join((title or "").split())
    if not 3 <= len(value) <= 200:
        raise InvalidInput("reminder_title", min=3, max=200)
    return value


def parse_time_of_day(text: str | None) -> tuple[int, int]:
    """A time of day typed "07:00" (or "7:00", "7h", "7h30", "7g30", "07.30"): (hour, minute)."""
    raw = (text or "").strip().lower().replace(" ", "")
    for mark in ("h", "g", "."):
        raw = raw.replace(mark, ":")
    hour, _, minute = raw.rstrip(":").partition(":")
    try:
        moment = time(int(hour), int(minute or 0))
    except ValueError:
        raise InvalidInput("reminder_time_of_day") from None
    if not hour.isdigit() or (minute and not minute.isdigit()):
        raise InvalidInput("reminder_time_of_day")
    return moment.hour, moment.minute


def parse_month_day(text: str | None) -> int | str:
    """A day of the month typed 1–MONTH_DAY_MAX, or "last" (typed "cuối", "last" …)."""
    raw = " ".join((text or "").strip().lower().split())
    if raw in _LAST_DAY_WORDS:
        return "last"
    if raw.isdigit() and 1 <= int(raw) <= MONTH_DAY_MAX:
        return int(raw)
    raise InvalidInput("reminder_month_day", max=MONTH_DAY_MAX)


def check_first_at(first_at: datetime, *, now: datetime) -> datetime:
    """A one-off reminder's time: after now, within a year (as create_event_reminder checks)."""
    if first_at <= now:
        raise InvalidInput("announcement_time_past")
    if first_at > now + timedelta(days=366):
        raise InvalidInput("announcement_time_too_far")
    return first_at
