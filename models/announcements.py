"""Announcements (thông báo): an official writes once, the bot delivers to thousands through the
outbox (models/outbox.py), and the official follows delivery and acknowledgements.

An announcement's path:

    draft ──▶ scheduled ──▶ sending ──▶ sent
      │           │            │          │
      └───────────┴────────────┴──────────┴──▶ cancelled   (rows not yet sent are not sent)

* "scheduled" holds the time it is due (now, for "send now"). The scheduler's tick
  (bot/scheduler.py) takes due announcements with `claim_due`: one conditional UPDATE, so of
  two bot processes only one takes it.
* "sending": the audience is resolved again at that moment (members who joined since are in,
  those who left are out) and queued in batches (`queue_batch`), each batch committed with the
  cursor (the last member id queued), so a process that dies half-way leaves an announcement a
  later tick takes up again after `CLAIM_LEASE` and continues from the cursor; the outbox's
  unique keys make a batch queued twice add nothing.
* "sent": every recipient has a row; delivery progress is the rows' statuses
  (`outbox.progress`). "failed": the audience could not be queued any more (the author lost the
  right to announce to it); the code is kept in `error`.
* Cancelling stops queuing and cancels the rows still pending: what was sent stays sent.

The message every member receives is `render(…)`: the same function builds the official's
preview, so the preview is what members see, channel by channel (a Telegram file cannot be
shown on Zalo: there the text says the attachment is on Telegram).

Acknowledgements: when asked, the message carries one button "Đã nhận" (on Zalo a numbered
option: the member replies "1"). Bots get no read receipts; an acknowledgement is the only
honest measure of reading. A follow-up goes only to the recipients who have not acknowledged;
its button acknowledges the original.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    or_,
    true,
    update,
)
from sqlalchemy.orm import aliased, load_only
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models import audience as audiences
from models import outbox
from models.access import Actor, require_official
from models.audience import Audience
from models.audit import record
from models.base import UTCDateTime, upsert_insert, utcnow
from models.errors import InvalidInput, NotAllowed, NotFound
from models.members import Identity, Member, MemberStatus
from models.org import OrgUnit

log = logging.getLogger(__name__)

SOURCE_TYPE = "announcement"
CALLBACK_PREFIX = "ann"

# Telegram allows 4,096 characters in a message and 1,024 in a photo's or document's caption;
# the header and the acknowledgement line take the rest.
# Lengths count as Telegram does (UTF-16 code units: an emoji counts two); the sender's name
# in the header is cut to SENDER_MAX so that header + text + hints always fit (tested).
TEXT_MAX = 3800
CAPTION_MAX = 800
SENDER_MAX = 80
TEXT_MIN = 2
# How far ahead an announcement may be scheduled, and how soon at the earliest.
SCHEDULE_AHEAD_MAX = timedelta(days=366)
SCHEDULE_AHEAD_MIN = timedelta(minutes=1)
# A process queuing an announcement renews its claim every batch; after this long without a
# renewal another process takes it up (the first one died).
CLAIM_LEASE = timedelta(minutes=5)
# Members queued per committed batch (bench/announce_queue.py: 150,000 in about 10 s).
QUEUE_BATCH = 2000
# Announcements per page of the official's list and the member's news.
PAGE_SIZE = 8


class AnnouncementStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    SENT = "sent"
    CANCELLED = "cancelled"
    FAILED = "failed"


class MediaKind(StrEnum):
    PHOTO = "photo"
    DOCUMENT = "document"


class Announcement(SQLModel, table=True):
    __tablename__ = "announcement"
    __table_args__ = (
        Index("ix_announcement_due", "status", "scheduled_at"),
        Index("ix_announcement_unit", "unit_id", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Who wrote it (None once they erased their data) and with which account: the rights to
    # its audience are checked again, as that person, when it is queued.
    author_member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    author_identity_id: int | None = Field(default=None, foreign_key="identity.id")
    # The union it is sent in the name of (the author's unit; None for an administrator with no
    # unit of their own). Officials whose scope covers it see the announcement too.
    unit_id: int | None = Field(default=None, foreign_key="org_unit.id")
    # HTML as Telegram formats it (entities kept, whatever the author typed escaped).
    text: str = Field(sa_column=Column(Text, nullable=False))
    # {"kind": "photo" | "document", "channel": where it was uploaded,
    #  "file_id": Telegram's id | None, "url": Zalo's photo URL | None, "name": file name | None}
    media: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    ack_requested: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    # models.audience.Audience.to_dict(); None for a follow-up (it goes to the original's
    # recipients who have not acknowledged).
    audience: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    follow_up_of: int | None = Field(default=None, foreign_key="announcement.id", index=True)
    status: str = Field(
        default=AnnouncementStatus.DRAFT, sa_column=Column(String(16), nullable=False)
    )
    scheduled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # Queuing: who holds it since when, and the last member id queued.
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cursor_member_id: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    queued_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    recipients: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )

    @property
    def ack_target(self) -> int:
        """The announcement an acknowledgement counts for (a follow-up's original); 0 for one
        not saved yet (a preview)."""
        return self.follow_up_of or self.id or 0


class AnnouncementAck(SQLModel, table=True):
    """A member said "Đã nhận" to an announcement (once; the first time counts)."""

    __tablename__ = "announcement_ack"
    __table_args__ = (UniqueConstraint("announcement_id", "member_id"),)

    id: int | None = Field(default=None, primary_key=True)
    announcement_id: int = Field(foreign_key="announcement.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    acked_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


def source_of(announcement: Announcement) -> outbox.Source:
    return outbox.Source(SOURCE_TYPE, announcement.id)


# --- the text ----------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def visible_length(text_html: str) -> int:
    """How many characters Telegram counts: the text without its formatting tags, in UTF-16
    code units (an emoji outside the basic plane counts two)."""
    return len(html.unescape(_TAG.sub("", text_html)).encode("utf-16-le")) // 2


def clean_text(text_html: str | None, *, has_media: bool) -> str:
    """The announcement's HTML, checked: not empty, and short enough for a message or, with a
    photo or document, for its caption."""
    value = (text_html or "").strip()
    length = visible_length(value)
    if length < TEXT_MIN or not _TAG.sub("", value).strip():
        raise InvalidInput("announcement_text_empty")
    limit = CAPTION_MAX if has_media else TEXT_MAX
    if length > limit:
        raise InvalidInput("announcement_text_too_long", max=limit, length=length)
    return value


def clean_media(media: dict[str, Any] | None) -> dict[str, Any] | None:
    if media is None:
        return None
    kind = media.get("kind")
    if kind not in (MediaKind.PHOTO, MediaKind.DOCUMENT):
        raise InvalidInput("announcement_media_invalid")
    if not (media.get("file_id") or media.get("url")):
        raise InvalidInput("announcement_media_invalid")
    return {
        "kind": str(kind),
        "channel": str(media.get("channel") or "telegram"),
        "file_id": media.get("file_id"),
        "url": media.get("url"),
        "name": (str(media["name"])[:120] if media.get("name") else None),
    }


Translate = Callable[..., str]  # t(locale, key, **params), bot.i18n.Translator.t


def ack_callback(announcement_id: int) -> str:
    return f"{CALLBACK_PREFIX}:ack:{announcement_id}"


def render(
    announcement: Announcement,
    *,
    sender: str | None,
    channel: str,
    locale: str | None,
    t: Translate,
) -> outbox.Message:
    """The message a member receives on `channel` in `locale`, and the official's preview.

    `sender` is the unit's name (None: the administrators')."""
    header_key = "announce.header_follow_up" if announcement.follow_up_of else "announce.header"
    # `t` escapes its parameters: the name goes in as typed (escaping it here too showed
    # "&amp;amp;" to members); a very long name is cut so the message stays within limits.
    if sender and len(sender) > SENDER_MAX:
        sender = sender[: SENDER_MAX - 1].rstrip() + "…"
    sender_name = sender if sender else t(locale, "announce.sender_admin")
    parts = [t(locale, header_key, sender=sender_name), announcement.text]
    media = announcement.media
    out_media: dict[str, Any] | None = None
    if media is not None:
        usable = (
            media.get("url") if channel != media.get("channel") else
            (media.get("file_id") or media.get("url"))
        )
        if usable and not (channel == "zalo" and media.get("kind") == MediaKind.DOCUMENT):
            key = "file_id" if usable == media.get("file_id") else "url"
            out_media = {"kind": media["kind"], key: usable}
        else:
            parts.append(t(locale, "announce.attachment_elsewhere"))
    buttons = None
    if announcement.ack_requested:
        parts.append(t(locale, "announce.ack_hint"))
        buttons = [[{
            "text": t(locale, "announce.ack_button"),
            "callback_data": ack_callback(announcement.ack_target),
        }]]
    return outbox.Message("\n\n".join(parts), out_media, buttons)


# --- who may see and change it ----------------------------------------------------------------


def _sender_unit(actor: Actor) -> int | None:
    return actor.official_of[0].unit_id if actor.official_of else None


def visible_condition(actor: Actor) -> Any:
    """Announcements an official may follow: their own, and those sent in the name of a unit
    in their scope (an administrator: all). A draft is its author's alone until it is sent."""
    mine = col(Announcement.author_identity_id) == actor.identity.id
    if actor.member_id is not None:
        mine = or_(mine, col(Announcement.author_member_id) == actor.member_id)
    if actor.is_admin:
        others = true()
    else:
        others = col(Announcement.unit_id).in_(select(OrgUnit.id).where(actor.unit_condition()))
    return or_(mine, and_(col(Announcement.status) != AnnouncementStatus.DRAFT, others))


async def get_for(session: AsyncSession, actor: Actor, announcement_id: int) -> Announcement:
    """The announcement, if the official may follow it; NotFound otherwise (a forged id is
    logged)."""
    require_official(actor)
    condition = visible_condition(actor)
    found = await session.exec(
        select(Announcement).where(
            col(Announcement.id) == announcement_id,
            condition,  # type: ignore[arg-type]
        )
    )
    announcement = found.first()
    if announcement is None:
        log.warning(
            "identity %s asked for announcement %s outside their reach",
            actor.identity.id, announcement_id,
        )
        raise NotFound("announcement_not_found")
    return announcement


async def sender_name(session: AsyncSession, announcement: Announcement) -> str | None:
    if announcement.unit_id is None:
        return None
    unit = await session.get(OrgUnit, announcement.unit_id)
    return unit.name if unit is not None else None


# --- writing -----------------------------------------------------------------------------------


@dataclass
class Draft:
    """What the official has chosen so far (kept in the conversation until saved)."""

    text: str
    media: dict[str, Any] | None = None
    ack_requested: bool = False
    audience: Audience | None = None


async def _check(session: AsyncSession, actor: Actor, draft: Draft) -> tuple[str, Any, Audience]:
    require_official(actor)
    media = clean_media(draft.media)
    text = clean_text(draft.text, has_media=media is not None)
    if draft.audience is None:
        raise InvalidInput("audience_empty")
    await audiences.check(session, actor, draft.audience)
    return text, media, draft.audience


async def save(
    session: AsyncSession,
    actor: Actor,
    draft: Draft,
    *,
    now: datetime,
    send_at: datetime | None = None,
    as_draft: bool = False,
) -> Announcement:
    """Stores the announcement: as a draft, scheduled for `send_at`, or due now (the scheduler
    queues it at its next tick, or at once when woken). Audited; the caller commits."""
    text, media, audience = await _check(session, actor, draft)
    if as_draft:
        status, due = AnnouncementStatus.DRAFT, None
    else:
        status, due = AnnouncementStatus.SCHEDULED, check_send_at(send_at, now=now)
    announcement = Announcement(
        author_member_id=actor.member_id,
        author_identity_id=actor.identity.id,
        unit_id=_sender_unit(actor),
        text=text,
        media=media,
        ack_requested=draft.ack_requested,
        audience=audience.to_dict(),
        status=status,
        scheduled_at=due,
        created_at=now,
        updated_at=now,
    )
    session.add(announcement)
    await session.flush()
    await _audit(session, actor, "announcement_" + status, announcement)
    return announcement


def check_send_at(send_at: datetime | None, *, now: datetime) -> datetime:
    """When a scheduled announcement is due: now when not given; otherwise at least a minute
    and at most a year ahead."""
    if send_at is None:
        return now
    if send_at < now + SCHEDULE_AHEAD_MIN:
        raise InvalidInput("announcement_time_past")
    if send_at > now + SCHEDULE_AHEAD_MAX:
        raise InvalidInput("announcement_time_too_far")
    return send_at


def draft_of(announcement: Announcement) -> Draft:
    return Draft(
        text=announcement.text,
        media=announcement.media,
        ack_requested=announcement.ack_requested,
        audience=Audience.from_dict(announcement.audience) if announcement.audience else None,
    )


async def release_draft(
    session: AsyncSession,
    actor: Actor,
    announcement: Announcement,
    *,
    now: datetime,
    send_at: datetime | None = None,
) -> Announcement:
    """A saved draft sent now or scheduled; the rights are checked again. Only one of two taps
    at once takes it (conditional UPDATE)."""
    await _check(session, actor, draft_of(announcement))
    due = check_send_at(send_at, now=now)
    await _claim_status(
        session, announcement, [AnnouncementStatus.DRAFT],
        status=AnnouncementStatus.SCHEDULED, scheduled_at=due, updated_at=now,
    )
    await _audit(session, actor, "announcement_scheduled", announcement)
    return announcement


async def update_draft(
    session: AsyncSession, actor: Actor, announcement: Announcement, draft: Draft, *,
    now: datetime,
) -> Announcement:
    """Replaces a saved draft's text, attachment, acknowledgement and audience."""
    text, media, audience = await _check(session, actor, draft)
    await _claim_status(
        session, announcement, [AnnouncementStatus.DRAFT],
        text=text, media=media, ack_requested=draft.ack_requested,
        audience=audience.to_dict(), updated_at=now,
    )
    await _audit(session, actor, "announcement_draft_updated", announcement)
    return announcement


def preview(draft: Draft, actor: Actor, *, now: datetime) -> Announcement:
    """An unsaved announcement to render the preview of (`render`), exactly as it will be sent;
    its acknowledgement button carries id 0 until it is saved."""
    return Announcement(
        unit_id=_sender_unit(actor), text=draft.text, media=draft.media,
        ack_requested=draft.ack_requested, created_at=now, updated_at=now,
    )


async def delete_draft(session: AsyncSession, actor: Actor, announcement: Announcement) -> None:
    """Deletes a saved draft; one released meanwhile (another tap, another device) is not
    deleted (conditional DELETE)."""
    require_official(actor)
    if announcement.status != AnnouncementStatus.DRAFT:
        raise NotAllowed("announcement_not_draft")
    result = await session.exec(  # type: ignore[call-overload]
        delete(Announcement)
        .where(col(Announcement.id) == announcement.id)
        .where(col(Announcement.status) == AnnouncementStatus.DRAFT)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        await session.refresh(announcement)
        raise NotAllowed("announcement_not_draft")
    session.expunge(announcement)
    await _audit(session, actor, "announcement_draft_deleted", announcement)


async def _claim_status(
    session: AsyncSession, announcement: Announcement, allowed: Sequence[str], **values: Any
) -> None:
    """Moves the row on only if it is still in one of `allowed` (someone else may have moved
    it meanwhile: then NotAllowed with the current state)."""
    result = await session.exec(  # type: ignore[call-overload]
        update(Announcement)
        .where(col(Announcement.id) == announcement.id)
        .where(col(Announcement.status).in_(list(allowed)))
        .values(**values)
    )
    if not result.rowcount:
        await session.refresh(announcement)
        raise NotAllowed(f"announcement_already_{announcement.status}")
    await session.refresh(announcement)


async def _running(session: AsyncSession, announcement: Announcement) -> bool:
    """Whether anything of it may still go out (queued or to be queued)."""
    if announcement.status in (AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING):
        return True
    if announcement.status != AnnouncementStatus.SENT:
        return False
    progress = await outbox.progress(session, source_of(announcement))
    return bool(progress.pending or progress.in_flight)


async def cancel(
    session: AsyncSession, actor: Actor, announcement: Announcement, *, now: datetime
) -> int:
    """Stops a scheduled or running announcement and its running follow-ups: nothing more is
    queued, the rows not yet sent are cancelled (what was sent stays). Returns how many
    messages will not be sent."""
    require_official(actor)
    allowed = [AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING, AnnouncementStatus.SENT]
    await session.refresh(announcement)  # the scheduler may have moved it on since it was read
    follow_ups = [
        item for item in await follow_ups_of(session, announcement)
        if await _running(session, item)
    ]
    targets = [announcement] if await _running(session, announcement) else []
    if not targets and not follow_ups:
        if announcement.status == AnnouncementStatus.SENT:
            raise NotAllowed("announcement_already_delivered")
        raise NotAllowed(f"announcement_already_{announcement.status}")
    stopped = 0
    for item in [*targets, *follow_ups]:
        await _claim_status(
            session, item, allowed,
            status=AnnouncementStatus.CANCELLED, cancelled_at=now, updated_at=now,
        )
        rows = await outbox.cancel(session, source_of(item))
        await _audit(session, actor, "announcement_cancelled", item, stopped=rows)
        stopped += rows
    return stopped


async def _audit(
    session: AsyncSession, actor: Actor | None, action: str, announcement: Announcement,
    **extra: Any,
) -> None:
    await record(
        session, actor, action, target_type="announcement", target_id=announcement.id,
        after={
            "status": announcement.status,
            "scheduled_at": announcement.scheduled_at.isoformat()
            if announcement.scheduled_at else None,
            "audience": announcement.audience,
            "follow_up_of": announcement.follow_up_of,
            "ack_requested": announcement.ack_requested,
            **extra,
        },
    )


# --- queuing (the scheduler's side) -------------------------------------------------------------


async def claim_due(session: AsyncSession, *, now: datetime, limit: int = 20) -> list[int]:
    """The announcements this process should queue now: due scheduled ones, and those left
    "sending" by a process that stopped renewing its claim. Each is claimed with a conditional
    UPDATE, so two processes never take the same one. The caller commits."""
    stale = now - CLAIM_LEASE
    candidates = await session.exec(
        select(Announcement.id).where(or_(
            (col(Announcement.status) == AnnouncementStatus.SCHEDULED)
            & (col(Announcement.scheduled_at) <= now),
            (col(Announcement.status) == AnnouncementStatus.SENDING)
            & (col(Announcement.claimed_at) < stale),
        )).order_by(col(Announcement.scheduled_at), col(Announcement.id)).limit(limit)
    )
    taken = []
    for announcement_id in candidates.all():
        result = await session.exec(  # type: ignore[call-overload]
            update(Announcement)
            .where(col(Announcement.id) == announcement_id)
            .where(or_(
                (col(Announcement.status) == AnnouncementStatus.SCHEDULED)
                & (col(Announcement.scheduled_at) <= now),
                (col(Announcement.status) == AnnouncementStatus.SENDING)
                & (col(Announcement.claimed_at) < stale),
            ))
            .values(status=AnnouncementStatus.SENDING, claimed_at=now, updated_at=now)
        )
        if result.rowcount:
            taken.append(int(announcement_id))
    return taken


async def _follow_up_recipients(
    session: AsyncSession, original_id: int, *, after: int, limit: int
) -> list[int]:
    """The original's recipients (a row not cancelled) who have not acknowledged and are still
    active members (one who left or erased their data since is not reminded), by id."""
    acked = select(AnnouncementAck.member_id).where(
        col(AnnouncementAck.announcement_id) == original_id
    )
    rows = await session.exec(
        select(outbox.OutboxMessage.member_id)
        .join(Member, col(Member.id) == outbox.OutboxMessage.member_id)
        .where(
            col(Member.status) == MemberStatus.ACTIVE,
            col(Member.erased_at).is_(None),
            col(outbox.OutboxMessage.source_type) == SOURCE_TYPE,
            col(outbox.OutboxMessage.source_id) == original_id,
            col(outbox.OutboxMessage.status) != outbox.Status.CANCELLED,
            col(outbox.OutboxMessage.member_id).is_not(None),
            col(outbox.OutboxMessage.member_id) > after,
            col(outbox.OutboxMessage.member_id).not_in(acked),
        )
        .distinct()
        .order_by(col(outbox.OutboxMessage.member_id))
        .limit(limit)
    )
    return [int(member_id) for member_id in rows.all() if member_id is not None]


@dataclass
class Batch:
    queued: int
    done: bool


async def queue_batch(
    session: AsyncSession,
    announcement_id: int,
    *,
    actor: Actor | None,
    now: datetime,
    t: Translate,
    default_locale: str,
    batch_size: int = QUEUE_BATCH,
) -> Batch:
    """Queues the next batch of recipients after the cursor and moves the cursor, renewing the
    claim; when none are left, the announcement is "sent". Stops (done, nothing queued) when
    the announcement was cancelled meanwhile. The caller commits after each batch.

    `actor` is the author as they are now (None: they are gone); the audience is checked as
    them, and an audience they may no longer reach fails the announcement."""
    announcement = await session.get(Announcement, announcement_id, populate_existing=True)
    if announcement is None or announcement.status != AnnouncementStatus.SENDING:
        return Batch(0, True)
    if announcement.follow_up_of is not None:
        # A reminder goes in the name of whoever asked for it: only while they are an official.
        try:
            if actor is None:
                raise NotAllowed("announcement_author_gone")
            require_official(actor)
        except NotAllowed as error:
            await _fail(session, announcement, error.code, now=now)
            return Batch(0, True)
        ids = await _follow_up_recipients(
            session, announcement.follow_up_of, after=announcement.cursor_member_id,
            limit=batch_size,
        )
    else:
        try:
            if actor is None:
                raise NotAllowed("announcement_author_gone")
            require_official(actor)
            query = await audiences.recipients(
                session, actor, Audience.from_dict(announcement.audience or {})
            )
        except (NotAllowed, InvalidInput, NotFound) as error:
            await _fail(session, announcement, error.code, now=now)
            return Batch(0, True)
        rows = await session.exec(
            query.where(col(Member.id) > announcement.cursor_member_id).limit(batch_size)
        )
        ids = [int(member_id) for member_id in rows.all()]
    queued = 0
    if ids:
        # Only what choosing the account and the language needs (enqueue_for_members, render).
        members = (await session.exec(
            select(Member).where(col(Member.id).in_(ids)).options(
                load_only(Member.id, Member.preferred_channel, Member.locale)  # type: ignore[arg-type]
            )
        )).all()
        sender = await sender_name(session, announcement)
        # The message depends only on the app and the language: rendered once for each.
        rendered: dict[tuple[str, str], outbox.Message] = {}

        def message(member: Member, identity: Identity) -> outbox.Message:
            locale = member.locale or identity.locale or default_locale
            key = (identity.channel, locale)
            if key not in rendered:
                rendered[key] = render(
                    announcement, sender=sender, channel=identity.channel, locale=locale, t=t,
                )
            return rendered[key]

        queued = await outbox.enqueue_for_members(
            session, sorted(members, key=lambda m: m.id or 0),
            kind=outbox.Kind.ANNOUNCEMENT, source=source_of(announcement), render=message,
            now=now,
        )
    done = len(ids) < batch_size
    values: dict[str, Any] = {"claimed_at": now, "updated_at": now}
    if ids:
        values["cursor_member_id"] = ids[-1]
    if done:
        values.update(status=AnnouncementStatus.SENT, queued_at=now)
    # Only while still sending: a cancel that came in meanwhile wins, and its rows are cancelled.
    result = await session.exec(  # type: ignore[call-overload]
        update(Announcement)
        .where(col(Announcement.id) == announcement_id)
        .where(col(Announcement.status) == AnnouncementStatus.SENDING)
        .values(**values)
    )
    if not result.rowcount:
        await outbox.cancel(session, source_of(announcement))
        return Batch(0, True)
    if done:
        # Members, not rows: one reached on a second app after a block has two rows.
        total = await session.exec(
            select(func.count(func.distinct(outbox.OutboxMessage.member_id))).where(
                col(outbox.OutboxMessage.source_type) == SOURCE_TYPE,
                col(outbox.OutboxMessage.source_id) == announcement_id,
            )
        )
        await session.exec(  # type: ignore[call-overload]
            update(Announcement).where(col(Announcement.id) == announcement_id)
            .values(recipients=int(total.one()))
        )
    return Batch(queued, done)


async def _fail(
    session: AsyncSession, announcement: Announcement, code: str, *, now: datetime
) -> None:
    log.warning("announcement %s cannot be queued: %s", announcement.id, code)
    await session.exec(  # type: ignore[call-overload]
        update(Announcement)
        .where(col(Announcement.id) == announcement.id)
        .where(col(Announcement.status) == AnnouncementStatus.SENDING)
        .values(status=AnnouncementStatus.FAILED, error=code[:64], updated_at=now)
    )


async def release_claim(session: AsyncSession, announcement_id: int, *, now: datetime) -> None:
    """A process stopping between two batches gives its claim back, so the next tick (of any
    process) continues from the cursor at once instead of after `CLAIM_LEASE`."""
    await session.exec(  # type: ignore[call-overload]
        update(Announcement)
        .where(col(Announcement.id) == announcement_id)
        .where(col(Announcement.status) == AnnouncementStatus.SENDING)
        .values(claimed_at=now - CLAIM_LEASE - timedelta(seconds=1))
    )


# --- acknowledgements and follow-ups -----------------------------------------------------------


async def acknowledge(
    session: AsyncSession, *, member: Member | None, announcement_id: int, channel: str,
    now: datetime,
) -> bool:
    """Records that `member` received the announcement; True the first time, False when they
    had already said so. Only a recipient of an announcement that asked for it may (a forged
    or foreign id is NotFound)."""
    if member is None or member.id is None:
        raise NotAllowed("announcement_members_only")
    announcement = await session.get(Announcement, announcement_id)
    # A follow-up's acknowledgement counts on its original (whichever id the button carried).
    target = announcement.ack_target if announcement is not None else announcement_id
    family = select(Announcement.id).where(
        or_(col(Announcement.id) == target, col(Announcement.follow_up_of) == target)
    )
    received = await session.exec(
        select(outbox.OutboxMessage.id).where(
            col(outbox.OutboxMessage.source_type) == SOURCE_TYPE,
            col(outbox.OutboxMessage.source_id).in_(family),
            col(outbox.OutboxMessage.member_id) == member.id,
            # A row cancelled before it went out was never received.
            col(outbox.OutboxMessage.status) != outbox.Status.CANCELLED,
        ).limit(1)
    )
    if announcement is None or not announcement.ack_requested or received.first() is None:
        log.warning("member %s acknowledged announcement %s not sent to them",
                    member.id, announcement_id)
        raise NotFound("announcement_not_found")
    result = await session.exec(  # type: ignore[call-overload]
        upsert_insert(session, AnnouncementAck.__table__).values(
            announcement_id=target, member_id=member.id, channel=channel, acked_at=now,
        ).on_conflict_do_nothing(index_elements=["announcement_id", "member_id"])
    )
    return bool(result.rowcount)


async def acknowledged(session: AsyncSession, announcement: Announcement) -> int:
    count = await session.exec(
        select(func.count()).select_from(AnnouncementAck).where(
            col(AnnouncementAck.announcement_id) == announcement.ack_target
        )
    )
    return int(count.one())


@dataclass(frozen=True)
class NotAcknowledged:
    member_id: int
    full_name: str
    unit: str
    channel: str
    delivery: str  # the outbox status of their message: sent, pending, failed, blocked …
    sent_at: datetime | None


async def not_acknowledged(
    session: AsyncSession, announcement: Announcement, *, after: int = 0, limit: int = 1000
) -> list[NotAcknowledged]:
    """Recipients who have not acknowledged, by member id, one page (keyset on member id)."""
    target = announcement.ack_target
    acked = select(AnnouncementAck.member_id).where(
        col(AnnouncementAck.announcement_id) == target
    )
    message = outbox.OutboxMessage
    conditions = (
        col(message.source_type) == SOURCE_TYPE,
        col(message.source_id) == target,
        col(message.status) != outbox.Status.CANCELLED,
        col(Member.id) > after,
        col(Member.id).not_in(acked),
    )
    # The page is `limit` members (a member with two rows is never cut between two pages).
    page = (
        select(Member.id).select_from(message)
        .join(Member, col(Member.id) == message.member_id)
        .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
        .where(*conditions)
        .group_by(col(Member.id))
        .order_by(col(Member.id))
        .limit(limit)
    )
    page_ids = [int(member_id) for member_id in (await session.exec(page)).all()]
    if not page_ids:
        return []
    rows = await session.exec(
        select(Member.id, Member.full_name, OrgUnit.name, message.channel, message.status,
               message.sent_at)
        .select_from(message)
        .join(Member, col(Member.id) == message.member_id)
        .join(OrgUnit, col(OrgUnit.id) == Member.unit_id)
        .where(*conditions, col(Member.id).in_(page_ids))
        .order_by(col(Member.id), col(message.id))
    )
    seen: dict[int, NotAcknowledged] = {}
    for member_id, name, unit, channel, status, sent_at in rows.all():
        # A member reached on a second app after a block has two rows: the later one counts.
        seen[int(member_id)] = NotAcknowledged(
            int(member_id), name, unit, channel, status, sent_at
        )
    return list(seen.values())


async def follow_up(
    session: AsyncSession, actor: Actor, announcement: Announcement, *, now: datetime
) -> Announcement:
    """A reminder of `announcement`, due now, to its recipients who have not acknowledged."""
    require_official(actor)
    if not announcement.ack_requested or announcement.follow_up_of is not None:
        raise NotAllowed("announcement_no_ack")
    if announcement.status not in (AnnouncementStatus.SENT, AnnouncementStatus.CANCELLED):
        raise NotAllowed("announcement_not_sent_yet")
    # Two taps (or two officials) at once: touching the original makes the second wait for the
    # first's commit (a row lock on PostgreSQL, the single writer on SQLite), then it sees the
    # follow-up under way and is refused, so nobody is reminded twice.
    await session.exec(  # type: ignore[call-overload]
        update(Announcement).where(col(Announcement.id) == announcement.id)
        .values(updated_at=now)
    )
    running = await session.exec(
        select(Announcement.id).where(
            col(Announcement.follow_up_of) == announcement.id,
            col(Announcement.status).in_(
                [AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING]
            ),
        ).limit(1)
    )
    if running.first() is not None:
        raise NotAllowed("announcement_already_sending")
    waiting = await _follow_up_recipients(session, announcement.id, after=0, limit=1)  # type: ignore[arg-type]
    if not waiting:
        raise NotAllowed("announcement_all_acknowledged")
    again = Announcement(
        author_member_id=actor.member_id,
        author_identity_id=actor.identity.id,
        unit_id=announcement.unit_id,
        text=announcement.text,
        media=announcement.media,
        ack_requested=True,
        audience=None,
        follow_up_of=announcement.id,
        status=AnnouncementStatus.SCHEDULED,
        scheduled_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(again)
    await session.flush()
    await _audit(session, actor, "announcement_follow_up", again)
    return again


async def follow_ups_of(session: AsyncSession, announcement: Announcement) -> list[Announcement]:
    rows = await session.exec(
        select(Announcement).where(col(Announcement.follow_up_of) == announcement.id)
        .order_by(col(Announcement.id))
        # The scheduler moves them on in its own sessions: never the stale copy of this one.
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


# --- reading -----------------------------------------------------------------------------------


@dataclass
class Tracking:
    """What the official sees of one announcement."""

    announcement: Announcement
    progress: outbox.Progress
    acknowledged: int
    follow_ups: list[tuple[Announcement, outbox.Progress]]

    @property
    def finished(self) -> bool:
        """Nothing more will happen on its own (the live view may stop refreshing)."""
        active = (AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING)
        items = [(self.announcement, self.progress), *self.follow_ups]
        return not any(a.status in active or p.pending or p.in_flight for a, p in items)


async def tracking(session: AsyncSession, announcement: Announcement) -> Tracking:
    follow_ups = [
        (item, await outbox.progress(session, source_of(item)))
        for item in await follow_ups_of(session, announcement)
    ]
    return Tracking(
        announcement=announcement,
        progress=await outbox.progress(session, source_of(announcement)),
        acknowledged=await acknowledged(session, announcement),
        follow_ups=follow_ups,
    )


async def list_for(
    session: AsyncSession, actor: Actor, *, page: int = 0, page_size: int = PAGE_SIZE
) -> tuple[list[Announcement], int]:
    """The announcements (not follow-ups) an official may follow, newest first, and the total."""
    require_official(actor)
    condition = visible_condition(actor)
    base = select(Announcement).where(
        col(Announcement.follow_up_of).is_(None), condition  # type: ignore[arg-type]
    )
    total = await session.exec(select(func.count()).select_from(base.subquery()))
    rows = await session.exec(
        base.order_by(col(Announcement.created_at).desc(), col(Announcement.id).desc())
        .offset(page * page_size).limit(page_size)
    )
    return list(rows.all()), int(total.one())


async def news_for(
    session: AsyncSession, member_id: int, *, page: int = 0, page_size: int = PAGE_SIZE
) -> tuple[list[Announcement], int]:
    """The announcements delivered to a member (follow-ups folded into their original), newest
    first, and how many there are."""
    base = select(Announcement).where(
        col(Announcement.id).in_(_delivered_to(member_id)),
        col(Announcement.follow_up_of).is_(None),
    )
    total = await session.exec(select(func.count()).select_from(base.subquery()))
    # The due time orders them (queued_at stays empty for one cancelled half-way, and the two
    # databases sort NULLs differently).
    rows = await session.exec(
        base.order_by(col(Announcement.scheduled_at).desc(), col(Announcement.id).desc())
        .offset(page * page_size).limit(page_size)
    )
    return list(rows.all()), int(total.one())


def _delivered_to(member_id: int) -> Any:
    """The ids of the announcements (originals) delivered to a member: the original itself, or
    only its follow-up (the first message failed, the reminder arrived)."""
    sent = select(outbox.OutboxMessage.source_id).where(
        col(outbox.OutboxMessage.source_type) == SOURCE_TYPE,
        col(outbox.OutboxMessage.member_id) == member_id,
        col(outbox.OutboxMessage.status) == outbox.Status.SENT,
    )
    item = aliased(Announcement)  # not correlated with the outer query's announcement
    return select(func.coalesce(item.follow_up_of, item.id)).where(item.id.in_(sent))


async def news_item(session: AsyncSession, member_id: int, announcement_id: int) -> Announcement:
    """One announcement delivered to the member (as listed by `news_for`); NotFound for any
    other id."""
    found = await session.exec(
        select(Announcement).where(
            col(Announcement.id) == announcement_id,
            col(Announcement.follow_up_of).is_(None),
            col(Announcement.id).in_(_delivered_to(member_id)),
        )
    )
    announcement = found.first()
    if announcement is None:
        raise NotFound("announcement_not_found")
    return announcement


async def has_acknowledged(session: AsyncSession, member_id: int, announcement_id: int) -> bool:
    found = await session.exec(
        select(AnnouncementAck.id).where(
            col(AnnouncementAck.announcement_id) == announcement_id,
            col(AnnouncementAck.member_id) == member_id,
        )
    )
    return found.first() is not None


# --- choosing a movement for an audience (handlers/announce.py) --------------------------------

# At most this many movements are looked at when an official picks one for an audience.
MOVEMENTS_OFFERED = 200


async def movements_for_announcing(
    session: AsyncSession, actor: Actor, *, offset: int = 0, limit: int = PAGE_SIZE
) -> tuple[list[Any], int]:
    """The movements an official may address the registrants (or laggards) of, newest first,
    and how many: those not draft nor archived that `audiences.movement_visible` allows (run
    in their scope, or published for units in it), among the latest MOVEMENTS_OFFERED."""
    from models.movements import Movement, MovementStatus

    require_official(actor)
    rows = await session.exec(
        select(Movement)
        .where(col(Movement.status).in_([MovementStatus.OPEN, MovementStatus.CLOSED]))
        .order_by(col(Movement.created_at).desc(), col(Movement.id).desc())
        .limit(MOVEMENTS_OFFERED)
    )
    visible = [m for m in rows.all() if await audiences.movement_visible(session, actor, m)]
    return visible[offset : offset + limit], len(visible)


async def acknowledged_at(
    session: AsyncSession, member_id: int, announcement_id: int
) -> datetime | None:
    """When the member said "Đã nhận" to the announcement (None: not yet); for /news and the
    answer to a second tap."""
    found = await session.exec(
        select(AnnouncementAck.acked_at).where(
            col(AnnouncementAck.announcement_id) == announcement_id,
            col(AnnouncementAck.member_id) == member_id,
        )
    )
    return found.first()
