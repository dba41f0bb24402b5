"""The author's side of initiatives: a draft written part by part, its authors and their shares,
its attachments, what is still missing, the submission, the resubmission after a return, and what
the authors see of the review (the history, the council's comments, the recognitions).

Every answer is saved the moment it is typed, so an author who leaves comes back days later to
the draft as it was. Every function takes the member acting and the initiative's id as a button
carries it, and checks everything again: only its authors see an initiative (a draft only its
submitter), only the submitter changes it, and only in the EDITABLE states (the draft, and after
a return for revision). A forged or stale id is refused and changes nothing. Its writer may
delete a draft given up (never a returned initiative: it is part of the union's records).

The submission goes to the author's own union: it becomes the receiving unit (its council, its
level) and the union the initiative comes from, for good (`origin_unit_id`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum
from typing import NoReturn

from sqlalchemy import and_, delete, func, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.base import fold, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.initiatives import (
    ATTACHMENT_MAX_BYTES,
    ATTACHMENTS_MAX,
    AUTHOR_NAME_MAX,
    AUTHORS_MAX,
    COMMENT_MAX,
    EDITABLE,
    PLACE_MAX,
    TEXT_MAX,
    TITLE_MAX,
    Initiative,
    InitiativeAttachment,
    InitiativeAuthor,
    InitiativeEvent,
    InitiativeField,
    InitiativeStatus,
    Recognition,
    attachments_of,
    authors_of,
    check_transition,
    get_initiative,
    history,
    is_author,
    recognitions_of,
    seats_of,
    transition,
    unit_level,
)
from models.members import Channel, Member, MemberStatus
from models.movements import school_year_of
from models.org import OrgUnit

TITLE_MIN = 3
TEXT_MIN = 10
PLACE_MIN = 2
AUTHOR_NAME_MIN = 3
# A member keeps at most this many unsubmitted drafts: /drafts stays one screen.
DRAFTS_MAX = 20
# Colleagues offered for one search: a name typed more fully narrows it down.
SEARCH_HITS = 8
SEARCH_MAX = 100
# The first applied date: not before the country's reunification (a typo such as 1925 is
# caught), never in the future.
EARLIEST_APPLIED = date(1975, 1, 1)
FILE_KINDS = ("photo", "document")
_FILE_NAME_MAX = 255
_FILE_ID_MAX = 1024
_UNIQUE_ID_MAX = 64


class Part(StrEnum):
    """The parts of a request, in the order /initiative asks them."""

    TITLE = "title"
    FIELD = "field"
    PROBLEM = "problem"
    SOLUTION = "solution"
    FIRST_APPLIED = "first_applied"
    WHERE = "where"
    BENEFITS = "benefits"
    CONFIDENTIAL = "confidential"
    AUTHORS = "authors"
    ATTACHMENTS = "attachments"


# The long texts, each 10–3,000 characters with its lines kept.
TEXT_PARTS = {
    Part.PROBLEM: "problem", Part.SOLUTION: "solution", Part.BENEFITS: "benefits",
}
# What a request needs before it can be submitted, in the order of the official form (the
# attachments are welcome, not required).
REQUIRED = [
    Part.TITLE, Part.FIELD, Part.AUTHORS, Part.PROBLEM, Part.SOLUTION, Part.FIRST_APPLIED,
    Part.WHERE, Part.BENEFITS, Part.CONFIDENTIAL,
]


# --- who may ------------------------------------------------------------------------------------


def require_member(member: Member | None) -> Member:
    """Initiatives are written by approved members (not pending, not erased)."""
    if member is None:
        raise NotFound("ini_not_member")
    if member.status == MemberStatus.PENDING:
        raise NotAllowed("ini_member_pending")
    if member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        raise NotAllowed("ini_members_only")
    return member


async def initiative_for(
    session: AsyncSession, member: Member | None, initiative_id: int
) -> Initiative:
    """The initiative, when the member is one of its authors (a draft: its submitter only)."""
    member = require_member(member)
    initiative = await get_initiative(session, initiative_id)
    if initiative.status == InitiativeStatus.DRAFT:
        if initiative.submitter_member_id != member.id:
            raise NotAllowed("ini_not_yours")
    elif not await is_author(session, initiative, member.id):
        raise NotAllowed("ini_not_yours")
    return initiative


async def _editable(
    session: AsyncSession, member: Member | None, initiative_id: int
) -> tuple[Member, Initiative]:
    """The member and the initiative, when the member is its submitter and it may be changed
    now (a draft, or returned for revision)."""
    initiative = await initiative_for(session, member, initiative_id)
    assert member is not None
    if initiative.submitter_member_id != member.id:
        raise NotAllowed("ini_submitter_only")
    if initiative.status not in EDITABLE:
        raise NotAllowed("initiative_state", status=initiative.status)
    return member, initiative


def _touch(session: AsyncSession, initiative: Initiative) -> None:
    initiative.updated_at = utcnow()
    session.add(initiative)


async def _save(
    session: AsyncSession, member: Member | None, initiative_id: int, **values: object
) -> Initiative:
    """Stores already checked answers on the initiative, if the member may change it now."""
    _, initiative = await _editable(session, member, initiative_id)
    for name, value in values.items():
        setattr(initiative, name, value)
    _touch(session, initiative)
    await session.flush()
    return initiative


# --- drafts --------------------------------------------------------------------------------------


async def start_draft(session: AsyncSession, member: Member | None) -> Initiative:
    """A new, empty draft, with the member as its only author (share 100%)."""
    member = require_member(member)
    count = await session.exec(
        select(func.count()).select_from(Initiative).where(
            Initiative.submitter_member_id == member.id,
            Initiative.status == InitiativeStatus.DRAFT,
        )
    )
    if int(count.one()) >= DRAFTS_MAX:
        raise NotAllowed("ini_too_many_drafts", max=DRAFTS_MAX)
    initiative = Initiative(submitter_member_id=member.id, status=InitiativeStatus.DRAFT)
    session.add(initiative)
    await session.flush()
    session.add(InitiativeAuthor(
        initiative_id=initiative.id,  # type: ignore[arg-type]
        member_id=member.id,
        name=member.full_name[:AUTHOR_NAME_MAX],
        share=100,
        position=0,
    ))
    await session.flush()
    return initiative


async def drafts_of(session: AsyncSession, member: Member | None) -> list[Initiative]:
    """The member's unsubmitted drafts, the last worked on first."""
    member = require_member(member)
    rows = await session.exec(
        select(Initiative)
        .where(
            Initiative.submitter_member_id == member.id,
            Initiative.status == InitiativeStatus.DRAFT,
        )
        .order_by(col(Initiative.updated_at).desc(), col(Initiative.id).desc())
    )
    return list(rows.all())


async def initiatives_of(session: AsyncSession, member: Member | None) -> list[Initiative]:
    """Every initiative the member wrote or co-wrote, newest first: their own drafts, and what
    others submitted with them as a co-author (never another person's draft)."""
    member = require_member(member)
    co_written = select(InitiativeAuthor.initiative_id).where(
        InitiativeAuthor.member_id == member.id
    )
    rows = await session.exec(
        select(Initiative)
        .where(or_(
            Initiative.submitter_member_id == member.id,
            and_(
                col(Initiative.id).in_(co_written),
                Initiative.status != InitiativeStatus.DRAFT,
            ),
        ))
        .order_by(col(Initiative.created_at).desc(), col(Initiative.id).desc())
    )
    return list(rows.all())


async def _changed_meanwhile(session: AsyncSession, initiative: Initiative) -> NoReturn:
    """Refuses a change that another session made impossible since this one read the
    initiative (submitted or deleted from the author's other channel), naming what it is now."""
    status = (await session.exec(
        select(Initiative.status).where(Initiative.id == initiative.id)
    )).first()
    if status is None:
        raise NotFound("initiative_gone")
    raise NotAllowed("initiative_state", status=status)


async def deletable(
    session: AsyncSession, member: Member | None, initiative_id: int
) -> Initiative:
    """The draft, when the member may delete it: its submitter, while it is unsubmitted (a
    returned initiative belongs to the union's records and is never deleted)."""
    _, initiative = await _editable(session, member, initiative_id)
    if initiative.status != InitiativeStatus.DRAFT:
        raise NotAllowed("initiative_state", status=initiative.status)
    return initiative


async def delete_draft(session: AsyncSession, member: Member | None, initiative_id: int) -> str:
    """Deletes an unsubmitted draft (its authors and files with it) and returns its title: a
    draft started by mistake, or given up, must not stay in /drafts for good (nor count
    against DRAFTS_MAX). The delete matches only a draft, so a submission made at the same
    moment from the author's other channel wins."""
    initiative = await deletable(session, member, initiative_id)
    title = initiative.title
    # The database's ON DELETE CASCADE takes its authors and files with it.
    deleted = await session.exec(
        delete(Initiative)  # type: ignore[call-overload]
        .where(
            col(Initiative.id) == initiative.id,
            col(Initiative.status) == InitiativeStatus.DRAFT,
        )
        .execution_options(synchronize_session=False)
    )
    if deleted.rowcount != 1:
        await _changed_meanwhile(session, initiative)
    session.expunge(initiative)
    return title


@dataclass(frozen=True)
class Draft:
    """An initiative as its author writes it: the form, its authors and its files."""

    initiative: Initiative
    authors: list[InitiativeAuthor]
    attachments: list[InitiativeAttachment]

    @property
    def missing(self) -> list[Part]:
        return missing_parts(self.initiative, self.authors)

    @property
    def shares_total(self) -> int:
        return sum(author.share for author in self.authors)


def missing_parts(initiative: Initiative, authors: list[InitiativeAuthor]) -> list[Part]:
    """What the request still lacks, in the order of the form: an unanswered part, or shares
    that do not sum to 100."""
    answered = {
        Part.TITLE: bool(initiative.title),
        Part.FIELD: bool(initiative.field),
        Part.AUTHORS: bool(authors) and sum(author.share for author in authors) == 100,
        Part.PROBLEM: bool(initiative.problem),
        Part.SOLUTION: bool(initiative.solution),
        Part.FIRST_APPLIED: initiative.first_applied_on is not None,
        Part.WHERE: bool(initiative.applied_where),
        Part.BENEFITS: bool(initiative.benefits),
        Part.CONFIDENTIAL: initiative.confidential is not None,
    }
    return [part for part in REQUIRED if not answered[part]]


async def _draft(session: AsyncSession, initiative: Initiative) -> Draft:
    return Draft(
        initiative,
        await authors_of(session, initiative),
        await attachments_of(session, initiative),
    )


async def draft(session: AsyncSession, member: Member | None, initiative_id: int) -> Draft:
    """The initiative to edit (its submitter, in an editable state), with what hangs on it."""
    _, initiative = await _editable(session, member, initiative_id)
    return await _draft(session, initiative)


async def read(session: AsyncSession, member: Member | None, initiative_id: int) -> Draft:
    """The initiative as any of its authors may read it (the whole text, as the council does)."""
    return await _draft(session, await initiative_for(session, member, initiative_id))


# --- the parts -----------------------------------------------------------------------------------


def clean_title(text: str | None) -> str:
    title = " ".join((text or "").split())
    if not TITLE_MIN <= len(title) <= TITLE_MAX:
        raise InvalidInput("ini_title_length", min=TITLE_MIN, max=TITLE_MAX, length=len(title))
    return title


def clean_text(text: str | None, *, minimum: int = TEXT_MIN, maximum: int = TEXT_MAX) -> str:
    """A long answer as typed: its lines kept, spaces at their ends and around it trimmed."""
    cleaned = "\n".join(line.rstrip() for line in (text or "").strip().splitlines())
    if not minimum <= len(cleaned) <= maximum:
        raise InvalidInput("ini_text_length", min=minimum, max=maximum, length=len(cleaned))
    return cleaned


_DATE = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")


def parse_applied_date(text: str | None, *, now: datetime, tz: tzinfo) -> date:
    """A date typed as people write it here: day/month/year (15/9/2025, 15/09/2025; dots or
    dashes too); a real date, not after today (in Vietnam's time), not before 1975."""
    match = _DATE.match(text or "")
    if match is None:
        raise InvalidInput("ini_date_format")
    day, month, year = (int(part) for part in match.groups())
    try:
        typed = date(year, month, day)
    except ValueError:
        raise InvalidInput("ini_date_format") from None
    if typed > now.astimezone(tz).date():
        raise InvalidInput("ini_date_future")
    if typed < EARLIEST_APPLIED:
        raise InvalidInput("ini_date_too_old", year=EARLIEST_APPLIED.year)
    return typed


async def set_title(
    session: AsyncSession, member: Member | None, initiative_id: int, text: str | None
) -> Initiative:
    """The title: 3–300 characters, runs of spaces and line breaks made one space."""
    return await _save(session, member, initiative_id, title=clean_title(text))


async def set_field(
    session: AsyncSession, member: Member | None, initiative_id: int, field: str
) -> Initiative:
    if field not in {choice.value for choice in InitiativeField}:
        raise InvalidInput("choice_invalid")
    return await _save(session, member, initiative_id, field=field)


async def set_text(
    session: AsyncSession, member: Member | None, initiative_id: int, part: Part, text: str | None
) -> Initiative:
    """The problem, the solution or the benefits (10–3,000 characters, lines kept)."""
    if part not in TEXT_PARTS:
        raise InvalidInput("choice_invalid")
    return await _save(session, member, initiative_id, **{TEXT_PARTS[part]: clean_text(text)})


async def set_first_applied(
    session: AsyncSession,
    member: Member | None,
    initiative_id: int,
    text: str | None,
    *,
    now: datetime,
    tz: tzinfo,
) -> Initiative:
    """The date the solution was first applied or trialled."""
    applied = parse_applied_date(text, now=now, tz=tz)
    return await _save(session, member, initiative_id, first_applied_on=applied)


async def set_applied_where(
    session: AsyncSession, member: Member | None, initiative_id: int, text: str | None
) -> Initiative:
    """Where it was applied (a school, classes, a unit): up to 500 characters."""
    where = clean_text(text, minimum=PLACE_MIN, maximum=PLACE_MAX)
    return await _save(session, member, initiative_id, applied_where=where)


async def set_confidential(
    session: AsyncSession, member: Member | None, initiative_id: int, text: str | None
) -> Initiative:
    """What the council should keep confidential; "" (the "Nothing" button) when nothing."""
    blank = text is None or not text.strip()
    confidential = "" if blank else clean_text(text, minimum=1)
    return await _save(session, member, initiative_id, confidential=confidential)


# --- authors -------------------------------------------------------------------------------------


def even_shares(count: int) -> list[int]:
    """100% split evenly among `count` authors, the remainder to the submitter (the first)."""
    each = 100 // count
    return [100 - each * (count - 1)] + [each] * (count - 1)


async def _reset_shares(session: AsyncSession, initiative: Initiative) -> None:
    authors = await authors_of(session, initiative)
    for author, share in zip(authors, even_shares(len(authors)), strict=True):
        author.share = share
        session.add(author)
    _touch(session, initiative)
    await session.flush()


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def find_colleagues(
    session: AsyncSession, member: Member | None, initiative_id: int, text: str | None
) -> list[Member]:
    """Colleagues of the member's own union whose name has every typed word (diacritics or
    not): active, not erased, not an author already; at most SEARCH_HITS, by name."""
    words = fold(text or "").split()
    if not words or len(text or "") > SEARCH_MAX:
        raise InvalidInput("ini_search_invalid", max=SEARCH_MAX)
    writer, initiative = await _editable(session, member, initiative_id)
    already = select(InitiativeAuthor.member_id).where(
        InitiativeAuthor.initiative_id == initiative.id,
        col(InitiativeAuthor.member_id).is_not(None),
    )
    query = select(Member).where(
        Member.unit_id == writer.unit_id,
        Member.status == MemberStatus.ACTIVE,
        col(Member.erased_at).is_(None),
        Member.id != writer.id,
        col(Member.id).not_in(already),
    )
    for word in words:
        query = query.where(
            col(Member.full_name_folded).like(f"%{_escape_like(word)}%", escape="\\")
        )
    rows = await session.exec(
        query.order_by(col(Member.full_name_folded), col(Member.id)).limit(SEARCH_HITS)
    )
    return list(rows.all())


async def _add_author(
    session: AsyncSession,
    initiative: Initiative,
    authors: list[InitiativeAuthor],
    *,
    name: str,
    member_id: int | None = None,
) -> InitiativeAuthor:
    """Adds an author after the others (at most AUTHORS_MAX); shares are split evenly again."""
    if len(authors) >= AUTHORS_MAX:
        raise InvalidInput("ini_too_many_authors", max=AUTHORS_MAX)
    author = InitiativeAuthor(
        initiative_id=initiative.id,  # type: ignore[arg-type]
        member_id=member_id,
        name=name[:AUTHOR_NAME_MAX],
        position=max((author.position for author in authors), default=0) + 1,
    )
    session.add(author)
    await session.flush()
    await _reset_shares(session, initiative)
    return author


async def add_colleague(
    session: AsyncSession, member: Member | None, initiative_id: int, colleague_id: int
) -> InitiativeAuthor:
    """Adds a colleague found by `find_colleagues` as a co-author; shares are split evenly
    again. Checked again: the same union, active, not erased, not an author already."""
    writer, initiative = await _editable(session, member, initiative_id)
    colleague = await session.get(Member, colleague_id)
    if (
        colleague is None
        or colleague.unit_id != writer.unit_id
        or colleague.status != MemberStatus.ACTIVE
        or colleague.erased_at is not None
    ):
        raise NotAllowed("ini_colleague_invalid")
    authors = await authors_of(session, initiative)
    if any(author.member_id == colleague.id for author in authors):
        raise InvalidInput("ini_author_already")
    return await _add_author(
        session, initiative, authors, name=colleague.full_name, member_id=colleague.id
    )


async def add_named_author(
    session: AsyncSession, member: Member | None, initiative_id: int, name: str | None
) -> InitiativeAuthor:
    """Adds a co-author who is not in the bot, by the name typed (3–120 characters)."""
    cleaned = " ".join((name or "").split())
    if not AUTHOR_NAME_MIN <= len(cleaned) <= AUTHOR_NAME_MAX or not any(
        ch.isalpha() for ch in cleaned
    ):
        raise InvalidInput(
            "ini_author_name_length", min=AUTHOR_NAME_MIN, max=AUTHOR_NAME_MAX
        )
    _, initiative = await _editable(session, member, initiative_id)
    return await _add_author(
        session, initiative, await authors_of(session, initiative), name=cleaned
    )


async def remove_author(
    session: AsyncSession, member: Member | None, initiative_id: int, author_id: int
) -> None:
    """Removes a co-author (never the submitter); shares are split evenly again."""
    writer, initiative = await _editable(session, member, initiative_id)
    author = await session.get(InitiativeAuthor, author_id)
    if author is None or author.initiative_id != initiative.id:
        raise NotFound("ini_author_gone")
    if author.position == 0 or author.member_id == writer.id:
        raise NotAllowed("ini_author_submitter")
    await session.delete(author)
    await session.flush()
    await _reset_shares(session, initiative)


_SHARE_SEPARATORS = re.compile(r"[\s,;]+")
_SHARE = re.compile(r"^(\d{1,3})%?$", re.ASCII)


def parse_shares(text: str | None, authors: int) -> list[int]:
    """Shares typed in the order of the authors ("50 30 20"; commas and % signs allowed): one
    per author, each 1–100, summing to exactly 100."""
    parts = [part for part in _SHARE_SEPARATORS.split((text or "").strip()) if part]
    matches = [_SHARE.match(part) for part in parts]
    if not parts or not all(matches):
        raise InvalidInput("ini_shares_format", count=authors)
    shares = [int(match.group(1)) for match in matches if match is not None]
    if len(shares) != authors:
        raise InvalidInput("ini_shares_count", count=authors, typed=len(shares))
    if not all(1 <= share <= 100 for share in shares):
        raise InvalidInput("ini_shares_range")
    if sum(shares) != 100:
        raise InvalidInput("ini_shares_sum", sum=sum(shares))
    return shares


async def set_shares(
    session: AsyncSession, member: Member | None, initiative_id: int, text: str | None
) -> list[InitiativeAuthor]:
    """Each author's share of the contribution, typed in the order of the authors."""
    _, initiative = await _editable(session, member, initiative_id)
    authors = await authors_of(session, initiative)
    shares = parse_shares(text, len(authors))
    for author, share in zip(authors, shares, strict=True):
        author.share = share
        session.add(author)
    _touch(session, initiative)
    await session.flush()
    return authors


# --- attachments ---------------------------------------------------------------------------------


async def add_attachment(
    session: AsyncSession,
    member: Member | None,
    initiative_id: int,
    *,
    channel: str,
    kind: str,
    file_id: str,
    file_unique_id: str,
    file_name: str | None = None,
    size: int | None = None,
) -> tuple[InitiativeAttachment, int]:
    """Keeps one document or photo (the platform's file id; on Zalo a photo's address) and
    returns it with how many files the initiative has now. Refused: a file over the Bot API's
    20 MB download limit (the council could never open it), the same file twice, more than
    ATTACHMENTS_MAX files, and documents from Zalo (its bots receive photos only)."""
    if kind not in FILE_KINDS or not file_id or not file_unique_id or len(file_id) > _FILE_ID_MAX:
        raise InvalidInput("ini_file_kind")
    if channel == Channel.ZALO and kind != "photo":
        raise InvalidInput("ini_zalo_photos_only")
    if size is not None and size > ATTACHMENT_MAX_BYTES:
        raise InvalidInput("ini_file_too_large", max_mb=ATTACHMENT_MAX_BYTES // 2**20)
    _, initiative = await _editable(session, member, initiative_id)
    kept = await attachments_of(session, initiative)
    unique = file_unique_id[:_UNIQUE_ID_MAX]
    if any(attachment.file_unique_id == unique for attachment in kept):
        raise InvalidInput("ini_file_duplicate")
    if len(kept) >= ATTACHMENTS_MAX:
        raise InvalidInput("ini_too_many_files", max=ATTACHMENTS_MAX)
    attachment = InitiativeAttachment(
        initiative_id=initiative.id,  # type: ignore[arg-type]
        channel=channel,
        kind=kind,
        file_id=file_id,
        file_unique_id=unique,
        file_name=(file_name or None) and file_name[:_FILE_NAME_MAX],
        size=size,
    )
    session.add(attachment)
    _touch(session, initiative)
    await session.flush()
    return attachment, len(kept) + 1


async def remove_attachments(
    session: AsyncSession, member: Member | None, initiative_id: int
) -> None:
    """Forgets every file sent with the initiative (to send the right ones again)."""
    _, initiative = await _editable(session, member, initiative_id)
    await session.exec(
        delete(InitiativeAttachment).where(  # type: ignore[call-overload]
            col(InitiativeAttachment.initiative_id) == initiative.id
        )
    )
    _touch(session, initiative)
    await session.flush()


# --- submitting ----------------------------------------------------------------------------------


def _require_complete(found: Draft) -> None:
    missing = found.missing
    if missing:
        raise InvalidInput("ini_incomplete", parts=[part.value for part in missing])


@dataclass(frozen=True)
class Destination:
    """Where a submission goes: the union whose council receives it, at its level."""

    draft: Draft
    unit: OrgUnit
    level: str


async def submission_check(
    session: AsyncSession,
    member: Member | None,
    initiative_id: int,
    *,
    to: InitiativeStatus = InitiativeStatus.SUBMITTED,
) -> Destination:
    """Refuses at once what `submit` (to SUBMITTED) or `resubmit` (to RESUBMITTED) would
    refuse, so the author is not asked "are you sure?" in vain; says where it would go: the
    member's union for a draft, the same unit's queue again after a return."""
    writer, initiative = await _editable(session, member, initiative_id)
    check_transition(initiative, to)
    found = await _draft(session, initiative)
    _require_complete(found)
    unit_id = initiative.unit_id if initiative.unit_id is not None else writer.unit_id
    unit = await session.get(OrgUnit, unit_id)
    if unit is None or not unit.is_active:
        raise NotAllowed("ini_unit_inactive")
    level = initiative.level or await unit_level(session, unit)
    return Destination(found, unit, level)


async def destination_of(session: AsyncSession, initiative: Initiative) -> OrgUnit:
    """The union whose council has the initiative now."""
    unit = await session.get(OrgUnit, initiative.unit_id) if initiative.unit_id else None
    if unit is None:
        raise NotFound("initiative_gone")
    return unit


async def _claim(session: AsyncSession, initiative: Initiative, now: datetime) -> None:
    """The change's first write, made only while the initiative is still in the state this
    session read: the same author on Telegram and on Zalo may tap Submit at once, and SQLite
    ignores FOR UPDATE; the second write matches nothing and is refused (one submission, one
    event, one round of notices)."""
    claimed = await session.exec(
        update(Initiative)  # type: ignore[call-overload]
        .where(col(Initiative.id) == initiative.id, col(Initiative.status) == initiative.status)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        await _changed_meanwhile(session, initiative)


async def submit(
    session: AsyncSession,
    member: Member | None,
    initiative_id: int,
    *,
    now: datetime,
    tz: tzinfo,
) -> Initiative:
    """Submits a complete draft to the member's own union (DRAFT → SUBMITTED): its council
    and level receive it; the school year is the one of the submission."""
    destination = await submission_check(session, member, initiative_id)
    found, unit = destination.draft, destination.unit
    initiative = found.initiative
    assert member is not None
    await _claim(session, initiative, now)
    # The name on the request is the submitter's as it is now (a profile may have changed).
    submitter = found.authors[0]
    if submitter.member_id == member.id and submitter.name != member.full_name:
        submitter.name = member.full_name[:AUTHOR_NAME_MAX]
        session.add(submitter)
    initiative.unit_id = unit.id
    initiative.origin_unit_id = unit.id
    initiative.level = destination.level
    initiative.school_year = school_year_of(now, tz)
    initiative.submitted_at = now
    await transition(
        session, initiative, InitiativeStatus.SUBMITTED, actor_member_id=member.id
    )
    return initiative


def clean_note(text: str | None) -> str | None:
    """The optional note of what was changed, sent with a resubmission."""
    note = (text or "").strip()
    if len(note) > COMMENT_MAX:
        raise InvalidInput("ini_note_too_long", max=COMMENT_MAX, length=len(note))
    return note or None


async def resubmit(
    session: AsyncSession,
    member: Member | None,
    initiative_id: int,
    note: str | None = None,
    *,
    now: datetime,
) -> Initiative:
    """Sends an initiative returned for revision back to the same unit's queue (RETURNED →
    RESUBMITTED), with the author's note of what was changed as the event's comment."""
    cleaned = clean_note(note)
    destination = await submission_check(
        session, member, initiative_id, to=InitiativeStatus.RESUBMITTED
    )
    initiative = destination.draft.initiative
    assert member is not None
    await _claim(session, initiative, now)
    await transition(
        session, initiative, InitiativeStatus.RESUBMITTED, actor_member_id=member.id,
        comment=cleaned,
    )
    return initiative


# --- following it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One change of state as the authors see it: when, to what, who (an author's name; else
    the unit whose council or officials acted), and what was said."""

    at: datetime
    status: str
    author: str | None
    unit: str | None
    level: str | None
    comment: str | None


@dataclass(frozen=True)
class Recognised:
    level: str
    unit: str
    certificate_no: str
    school_year: str


@dataclass(frozen=True)
class Card:
    """An initiative as /myinitiatives opens it for one of its authors."""

    initiative: Initiative
    authors: list[InitiativeAuthor]
    attachments: list[InitiativeAttachment]
    unit: OrgUnit | None
    steps: list[Step]
    recognitions: list[Recognised]
    # The council's words to the authors: the last return's comments (or the rejection's
    # reason), and the reviewers' comments of the last round, without their names.
    council_comment: str | None
    reviewer_comments: list[str]
    is_submitter: bool

    @property
    def can_edit(self) -> bool:
        return self.is_submitter and self.initiative.status in EDITABLE

    @property
    def can_resubmit(self) -> bool:
        return self.is_submitter and self.initiative.status == InitiativeStatus.RETURNED


async def _unit_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.exec(select(OrgUnit).where(col(OrgUnit.id).in_(ids)))
    return {unit.id: unit.name for unit in rows.all()}  # type: ignore[misc]


async def steps_of(
    session: AsyncSession, initiative: Initiative, authors: list[InitiativeAuthor]
) -> list[Step]:
    """The history, oldest first. Reviewers and officials are named by their unit only: the
    authors learn what their council decided, not who sat on it."""
    events: list[InitiativeEvent] = await history(session, initiative)
    names = {author.member_id: author.name for author in authors if author.member_id is not None}
    units = await _unit_names(session, {e.unit_id for e in events if e.unit_id is not None})
    return [
        Step(
            at=event.at,
            status=event.to_status,
            author=names.get(event.actor_member_id) if event.actor_member_id else None,
            unit=units.get(event.unit_id) if event.unit_id is not None else None,
            level=event.level,
            comment=event.comment,
        )
        for event in events
    ]


async def _recognised(session: AsyncSession, initiative: Initiative) -> list[Recognised]:
    found: list[Recognition] = await recognitions_of(session, initiative)
    units = await _unit_names(session, {r.unit_id for r in found})
    return [
        Recognised(r.level, units.get(r.unit_id, "—"), r.certificate_no, r.school_year)
        for r in found
    ]


async def card(session: AsyncSession, member: Member | None, initiative_id: int) -> Card:
    """The initiative for one of its authors: where it stands, its history, its recognitions,
    and, when it was returned (or rejected), what the council said."""
    initiative = await initiative_for(session, member, initiative_id)
    assert member is not None
    authors = await authors_of(session, initiative)
    council_comment: str | None = None
    reviewer_comments: list[str] = []
    if initiative.status == InitiativeStatus.RETURNED:
        council_comment = initiative.council_comment
        reviewer_comments = [
            seat.comment.strip()
            for seat in await seats_of(session, initiative)
            if seat.scored_at is not None and seat.comment and seat.comment.strip()
        ]
    elif initiative.status == InitiativeStatus.REJECTED:
        council_comment = initiative.council_comment
    return Card(
        initiative=initiative,
        authors=authors,
        attachments=await attachments_of(session, initiative),
        unit=(
            await session.get(OrgUnit, initiative.unit_id)
            if initiative.unit_id is not None else None
        ),
        steps=await steps_of(session, initiative, authors),
        recognitions=await _recognised(session, initiative),
        council_comment=council_comment,
        reviewer_comments=reviewer_comments,
        is_submitter=initiative.submitter_member_id == member.id,
    )
