"""Initiatives (sáng kiến): the tables, the states and the rules every feature of initiatives
obeys (drafting in models/initiative_drafts.py, the council in models/initiative_review.py, the
numbers in models/initiative_reports.py, the link to titles in models/achievements.py).

An initiative carries what a request for recognition (đơn yêu cầu công nhận sáng kiến) carries:
title, field, the problem, the solution, when and where it was first applied, the benefits, what
is confidential, the authors with their shares, attachments. It goes one way:

    draft ─▶ submitted ─▶ under review ─▶ accepted ─(forwarded)─▶ submitted (next level) …
                               │   ▲  └──▶ rejected
                               ▼   │
              returned for revision ─▶ resubmitted

Each level's council sits at a receiving unit: the author's grassroots union for the school
level, then the nearest union above it of a higher level (see `level_of` and `next_level`).
Every change of state is an InitiativeEvent (who, when, what was said); a recognition at a level
is a Recognition row (with its certificate number), kept when the initiative goes up a level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import UTCDateTime, utcnow
from models.errors import NotAllowed, NotFound
from models.members import Member, MemberStatus
from models.org import OrgKind, OrgUnit

TITLE_MAX = 300
# Each long answer fits one chat message with its heading (Telegram takes 4,096 characters).
TEXT_MAX = 3000
PLACE_MAX = 500
AUTHOR_NAME_MAX = 120
AUTHORS_MAX = 10
ATTACHMENTS_MAX = 10
# The Bot API downloads files up to 20 MB: a larger attachment could not be read by the council.
ATTACHMENT_MAX_BYTES = 20 * 2**20
COMMENT_MAX = 2000
CERTIFICATE_MAX = 64
SCORE_MAX = 10


class InitiativeStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    RETURNED = "returned"  # returned for revision, with the council's comments
    RESUBMITTED = "resubmitted"
    ACCEPTED = "accepted"  # recognised at `level` (see Recognition)
    REJECTED = "rejected"


# Which status may follow which; anything else is refused (NotAllowed "initiative_state").
# ACCEPTED → SUBMITTED is the forwarding to the next level's queue.
TRANSITIONS: dict[str, set[str]] = {
    InitiativeStatus.DRAFT: {InitiativeStatus.SUBMITTED},
    InitiativeStatus.SUBMITTED: {InitiativeStatus.UNDER_REVIEW},
    InitiativeStatus.UNDER_REVIEW: {
        InitiativeStatus.RETURNED, InitiativeStatus.ACCEPTED, InitiativeStatus.REJECTED,
    },
    InitiativeStatus.RETURNED: {InitiativeStatus.RESUBMITTED},
    InitiativeStatus.RESUBMITTED: {InitiativeStatus.UNDER_REVIEW},
    InitiativeStatus.ACCEPTED: {InitiativeStatus.SUBMITTED},
    InitiativeStatus.REJECTED: set(),
}
# The states waiting for the receiving unit's officials to seat a council.
IN_QUEUE = {InitiativeStatus.SUBMITTED, InitiativeStatus.RESUBMITTED}
# The states in which the author may change the text (the draft, and after a return).
EDITABLE = {InitiativeStatus.DRAFT, InitiativeStatus.RETURNED}


class InitiativeField(StrEnum):
    """The field of application, as on the request form."""

    TEACHING = "teaching"  # phương pháp giảng dạy
    MANAGEMENT = "management"  # quản lý giáo dục
    MORAL = "moral"  # giáo dục đạo đức
    DIGITAL = "digital"  # chuyển đổi số, công nghệ thông tin
    UNION = "union"  # công tác công đoàn
    OTHER = "other"


class RecognitionLevel(StrEnum):
    SCHOOL = "school"
    DISTRICT = "district"
    CITY = "city"


LEVEL_ORDER = [RecognitionLevel.SCHOOL, RecognitionLevel.DISTRICT, RecognitionLevel.CITY]


class Initiative(SQLModel, table=True):
    __tablename__ = "initiative"

    id: int | None = Field(default=None, primary_key=True)
    # The author who writes and submits it (the first author); None once they are erased.
    submitter_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    title: str = Field(default="", sa_column=Column(String(TITLE_MAX), nullable=False))
    field: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    problem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    solution: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    first_applied_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    applied_where: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    benefits: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # What the authors ask the council to keep confidential ("" = nothing, None = not answered).
    confidential: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(
        default=InitiativeStatus.DRAFT, sa_column=Column(String(16), nullable=False, index=True)
    )
    # The author's union at the first submission: where the initiative comes from, for the
    # numbers by unit (unit_id moves up when it is forwarded; this stays).
    origin_unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    # The council's unit and level now (set at submission; changed by forwarding).
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    level: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    # The school year of the first submission ("2026-2027").
    school_year: str | None = Field(
        default=None, sa_column=Column(String(9), nullable=True, index=True)
    )
    # The review round now: 0 before any council; +1 each time a council is seated.
    round: int = Field(default=0)
    scoring_deadline: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )
    # The last return's comments, the rejection's reason.
    council_comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    submitted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class InitiativeAuthor(SQLModel, table=True):
    """An author or co-author, with their share of the contribution in percent: a member found
    in the bot, or a name typed for someone who is not in it."""

    __tablename__ = "initiative_author"

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    # The name as written on the request (the member's name when they are one).
    name: str = Field(sa_column=Column(String(AUTHOR_NAME_MAX), nullable=False))
    share: int = Field(default=0)
    position: int = Field(default=0)  # 0 = the submitter, then in the order added


class InitiativeAttachment(SQLModel, table=True):
    """A document or photo attached to an initiative, kept as the platform's file id (Telegram)
    or the photo's address (Zalo)."""

    __tablename__ = "initiative_attachment"

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # photo / document
    file_id: str = Field(sa_column=Column(String(1024), nullable=False))
    file_unique_id: str = Field(sa_column=Column(String(64), nullable=False))
    file_name: str | None = Field(default=None, sa_column=Column(String(255)))
    size: int | None = Field(default=None)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class InitiativeEvent(SQLModel, table=True):
    """One change of state: who (a member; None for the system, e.g. a deadline), when, from
    what to what, at which unit and level, and what was said."""

    __tablename__ = "initiative_event"

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    from_status: str | None = Field(default=None, sa_column=Column(String(16)))
    to_status: str = Field(sa_column=Column(String(16), nullable=False))
    actor_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    level: str | None = Field(default=None, sa_column=Column(String(16)))
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ReviewSeat(SQLModel, table=True):
    """A reviewer's seat on the council of one round of an initiative, with their score: novelty,
    effectiveness, applicability and scope, each 0–10, and a comment."""

    __tablename__ = "review_seat"
    __table_args__ = (UniqueConstraint("initiative_id", "round", "reviewer_member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    round: int = Field(default=1)
    reviewer_member_id: int = Field(foreign_key="member.id", index=True)
    is_chair: bool = False
    assigned_by_member_id: int | None = Field(default=None, foreign_key="member.id")
    novelty: int | None = Field(default=None)
    effectiveness: int | None = Field(default=None)
    applicability: int | None = Field(default=None)
    comment: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    scored_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )

    @property
    def total(self) -> int | None:
        if self.scored_at is None:
            return None
        return (self.novelty or 0) + (self.effectiveness or 0) + (self.applicability or 0)


class Recognition(SQLModel, table=True):
    """An initiative recognised at a level by a unit, with the certificate number; one per
    initiative and level. The school year is the one of the decision: what titles count. A
    unit gives a certificate number once (two chairs deciding at the same moment included)."""

    __tablename__ = "recognition"
    __table_args__ = (
        UniqueConstraint("initiative_id", "level"),
        UniqueConstraint("unit_id", "certificate_no"),
    )

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("initiative.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    level: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    unit_id: int = Field(foreign_key="org_unit.id", index=True)
    certificate_no: str = Field(sa_column=Column(String(CERTIFICATE_MAX), nullable=False))
    school_year: str = Field(sa_column=Column(String(9), nullable=False, index=True))
    decided_by_member_id: int | None = Field(default=None, foreign_key="member.id")
    decided_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# --- states --------------------------------------------------------------------------------------


def check_transition(initiative: Initiative, to: str) -> None:
    if to not in TRANSITIONS.get(initiative.status, set()):
        raise NotAllowed("initiative_state", status=initiative.status)


async def transition(
    session: AsyncSession,
    initiative: Initiative,
    to: InitiativeStatus,
    *,
    actor_member_id: int | None,
    comment: str | None = None,
) -> InitiativeEvent:
    """Moves the initiative to `to` if the rules allow it, and records who, when and why (at its
    unit and level as they are after the change: set them before calling when they change)."""
    check_transition(initiative, to)
    event = InitiativeEvent(
        initiative_id=initiative.id,  # type: ignore[arg-type]
        from_status=initiative.status,
        to_status=to,
        actor_member_id=actor_member_id,
        unit_id=initiative.unit_id,
        level=initiative.level,
        comment=comment,
    )
    initiative.status = to
    initiative.updated_at = utcnow()
    session.add(initiative)
    session.add(event)
    await session.flush()
    return event


async def history(session: AsyncSession, initiative: Initiative) -> list[InitiativeEvent]:
    rows = await session.exec(
        select(InitiativeEvent)
        .where(InitiativeEvent.initiative_id == initiative.id)
        .order_by(col(InitiativeEvent.at), col(InitiativeEvent.id))
    )
    return list(rows.all())


# --- levels --------------------------------------------------------------------------------------


def level_of(unit: OrgUnit, parent: OrgUnit | None) -> RecognitionLevel:
    """The level a unit's council recognises at: a grassroots union (a school) the school
    level; an education union under another education union (a district's) the district level;
    any other union above the schools (the city's education union, a federation) the city's."""
    if unit.kind == OrgKind.GRASSROOTS:
        return RecognitionLevel.SCHOOL
    if parent is not None and parent.kind == OrgKind.INDUSTRY_UNION:
        return RecognitionLevel.DISTRICT
    return RecognitionLevel.CITY


async def unit_level(session: AsyncSession, unit: OrgUnit) -> RecognitionLevel:
    parent = await session.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
    return level_of(unit, parent)


async def next_level(
    session: AsyncSession, unit: OrgUnit, level: str
) -> tuple[OrgUnit, RecognitionLevel] | None:
    """Where an initiative recognised at `level` by `unit` goes next: the nearest active union
    above it whose level is higher (a school run by the city goes straight to the city). None at
    the top."""
    rank = LEVEL_ORDER.index(RecognitionLevel(level))
    ids = [int(part) for part in unit.path.strip("/").split("/") if part][:-1]
    for ancestor_id in reversed(ids):
        ancestor = await session.get(OrgUnit, ancestor_id)
        if ancestor is None or not ancestor.is_active:
            continue
        found = await unit_level(session, ancestor)
        if LEVEL_ORDER.index(found) > rank:
            return ancestor, found
    return None


# --- reading -------------------------------------------------------------------------------------


async def get_initiative(session: AsyncSession, initiative_id: int) -> Initiative:
    initiative = await session.get(Initiative, initiative_id)
    if initiative is None:
        raise NotFound("initiative_gone")
    return initiative


async def authors_of(session: AsyncSession, initiative: Initiative) -> list[InitiativeAuthor]:
    rows = await session.exec(
        select(InitiativeAuthor)
        .where(InitiativeAuthor.initiative_id == initiative.id)
        .order_by(col(InitiativeAuthor.position), col(InitiativeAuthor.id))
    )
    return list(rows.all())


async def attachments_of(
    session: AsyncSession, initiative: Initiative
) -> list[InitiativeAttachment]:
    rows = await session.exec(
        select(InitiativeAttachment)
        .where(InitiativeAttachment.initiative_id == initiative.id)
        .order_by(col(InitiativeAttachment.id))
    )
    return list(rows.all())


async def is_author(session: AsyncSession, initiative: Initiative, member_id: int | None) -> bool:
    """Whether the member wrote or co-wrote it: they may never review it."""
    if member_id is None:
        return False
    if initiative.submitter_member_id == member_id:
        return True
    rows = await session.exec(
        select(InitiativeAuthor.id).where(
            InitiativeAuthor.initiative_id == initiative.id,
            InitiativeAuthor.member_id == member_id,
        )
    )
    return rows.first() is not None


async def members_to_notify(session: AsyncSession, initiative: Initiative) -> list[Member]:
    """The authors and co-authors who are members (active, not erased): each hears of every
    change of state, in their language, on their channel."""
    ids = {
        author.member_id for author in await authors_of(session, initiative)
        if author.member_id is not None
    }
    if initiative.submitter_member_id is not None:
        ids.add(initiative.submitter_member_id)
    if not ids:
        return []
    rows = await session.exec(
        select(Member)
        .where(
            col(Member.id).in_(ids),
            Member.status == MemberStatus.ACTIVE,
            col(Member.erased_at).is_(None),
        )
        .order_by(col(Member.id))
    )
    return list(rows.all())


async def recognitions_of(session: AsyncSession, initiative: Initiative) -> list[Recognition]:
    rows = await session.exec(
        select(Recognition)
        .where(Recognition.initiative_id == initiative.id)
        .order_by(col(Recognition.decided_at), col(Recognition.id))
    )
    return list(rows.all())


async def seats_of(
    session: AsyncSession, initiative: Initiative, round: int | None = None
) -> list[ReviewSeat]:
    """The council of a round (the current one by default), the chair first."""
    rows = await session.exec(
        select(ReviewSeat)
        .where(
            ReviewSeat.initiative_id == initiative.id,
            ReviewSeat.round == (initiative.round if round is None else round),
        )
        .order_by(col(ReviewSeat.is_chair).desc(), col(ReviewSeat.id))
    )
    return list(rows.all())


# --- the form, as the council reads it -----------------------------------------------------------


@dataclass(frozen=True)
class FormSection:
    """One part of the request for recognition: its label's catalogue key, and its text as the
    authors wrote it, or (`value_key`) a catalogue key to show instead (a field's name)."""

    label_key: str
    text: str = ""
    value_key: str | None = None

    @property
    def missing(self) -> bool:
        return not self.text and self.value_key is None


def form_sections(
    initiative: Initiative, authors: list[InitiativeAuthor]
) -> list[FormSection]:
    """The request in the order of the official form (đơn yêu cầu công nhận sáng kiến): what
    the author previews, the council reads and the document export prints."""
    applied = initiative.first_applied_on
    when = applied.strftime("%d/%m/%Y") if applied is not None else ""
    if when and initiative.applied_where:
        when = f"{when} — {initiative.applied_where}"
    if initiative.confidential == "":
        confidential = FormSection("initiative.form.confidential", "",
                                   "initiative.form.nothing_confidential")
    else:
        confidential = FormSection("initiative.form.confidential", initiative.confidential or "")
    return [
        FormSection("initiative.form.title", initiative.title),
        FormSection(
            "initiative.form.field", "",
            f"initiative.field.{initiative.field}" if initiative.field else None,
        ),
        FormSection(
            "initiative.form.authors",
            "\n".join(f"{author.name} — {author.share}%" for author in authors),
        ),
        FormSection("initiative.form.problem", initiative.problem or ""),
        FormSection("initiative.form.solution", initiative.solution or ""),
        FormSection("initiative.form.first_applied", when),
        FormSection("initiative.form.benefits", initiative.benefits or ""),
        confidential,
    ]
