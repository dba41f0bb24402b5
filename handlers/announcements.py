"""/announcements: officials follow what they sent (live progress, acknowledgements, who has not
acknowledged as .xlsx, a follow-up to them, cancel); /news: members read what they received;
the "Đã nhận" button (a reply of 1 on Zalo) acknowledges an announcement.

Buttons (all "ann:…", at most 64 bytes; every id is authorised again in models/announcements.py,
so a forged one is refused, logged and changes nothing):

* officials: "ann:l:<page>" the list, "ann:v:<id>" one announcement's view in place of the
  screen tapped, "ann:r:<id>" refresh, "ann:x:<id>" who has not acknowledged (a short list in
  the chat and the .xlsx on Telegram), "ann:f:<id>" / "ann:fy:<id>" a follow-up to them (asked,
  then done), "ann:c:<id>" / "ann:cy:<id>" cancel, and for a draft "ann:s:<id>" / "ann:sy:<id>"
  send now, "ann:d:<id>" / "ann:dy:<id>" delete. "anw:edit:<id>" (edit a draft) belongs to the
  /announce conversation (handlers/announce.py): it is only shown here.
* members: "ann:ack:<id>" (built by models.announcements.render), "ann:n:<page>" /news pages,
  "ann:ni:<id>" one announcement in full.
* event reminders (issue 8, created in /announce): "ann:er:<page>" the active ones (the list's
  "🔔 Lời nhắc định kỳ"), each with its rule in words, its next time and how many its latest
  runs reached; "ann:ev:<id>" one of them with its runs; "ann:ec:<id>" / "ann:ecy:<id>" cancel
  (asked, then done). Ids are authorised again by models.reminders.event_reminder_for.

Nothing here waits for typed text, so there is no conversation: each tap stands alone, and the
acknowledgement works for any member wherever they are.

Live progress: on Telegram the view, once shown, is edited in place every LIVE_INTERVAL seconds
by a background task while delivery goes on (at most LIVE_MAX_SECONDS, only when the text
changed, stopping at the first failed edit); one such task per chat, and any tap of this
feature in the chat stops it first (the message may be about to show something else). Zalo
turns every edit into a new message, so there the view is shown once and "Refresh" updates it.
"""

from __future__ import annotations

import asyncio
import html
import io
import logging
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.context import UnionContext
from handlers import common
from handlers.announce import rule_in_words
from models import announcements as model
from models import reminders as rem
from models.access import Actor, require_official
from models.announcements import Announcement, AnnouncementStatus, Tracking
from models.audience import Audience, AudienceDescription, describe
from models.base import utcnow
from models.errors import DomainError, NotAllowed, NotFound
from models.members import Channel, member_of
from models.movement_reports import format_count
from models.org import OrgUnit
from models.roster import text_cell

log = logging.getLogger(__name__)

ID = r"\d{1,12}"
PAGE = r"\d{1,4}"
# Seconds between two looks at a live view, and how long a view stays live at most.
LIVE_INTERVAL = 2.0
LIVE_MAX_SECONDS = 15 * 60
# Characters of an announcement's text shown in lists and on its view.
SNIPPET_LIST = 60
SNIPPET_VIEW = 160
BUTTON_SNIPPET = 28
BAR_WIDTH = 10
# Names of those who have not acknowledged listed in the chat (the file has them all).
NAMES_IN_CHAT = 20
# Rows of not_acknowledged read per query (keyset pages) for the file and the counts.
EXPORT_PAGE = 1000
SCREEN_MAX_CHARS = 3900

_TAGS = re.compile(r"<[^>]+>")
_ANSWERED = (AnnouncementStatus.SENT, AnnouncementStatus.CANCELLED)

Buttons = list[list[tuple[str, str]]]

# (application, chat id) → the task keeping that chat's view live.
_LIVE: dict[tuple[int, int], asyncio.Task[None]] = {}


# --- small renderings ---------------------------------------------------------------------------


def snippet(text_html: str, limit: int) -> str:
    """The first words of an announcement's HTML as plain text on one line (escaped again by
    the catalogue when shown)."""
    plain = " ".join(html.unescape(_TAGS.sub("", text_html)).split())
    return plain if len(plain) <= limit else plain[: limit - 1].rstrip() + "…"


def _count(context: UnionContext, value: int) -> str:
    return format_count(value, context.locale)


def _bar(done: int, total: int) -> str:
    filled = 0 if total <= 0 else min(BAR_WIDTH, round(BAR_WIDTH * done / total))
    return "▓" * filled + "░" * (BAR_WIDTH - filled)


def _status(context: UnionContext, announcement: Announcement) -> str:
    return context.t(f"announcements.status.{announcement.status}")


def _fitted(text: str) -> str:
    if len(text) <= SCREEN_MAX_CHARS:
        return text
    cut = text.rfind("\n", 0, SCREEN_MAX_CHARS - 2)
    return text[: cut if cut > 0 else SCREEN_MAX_CHARS - 2] + "\n…"


def _hh_mm(context: UnionContext, moment: datetime) -> str:
    return moment.astimezone(context.services.settings.tz).strftime("%H:%M")


# --- the official's list ------------------------------------------------------------------------


def _list_screen(
    context: UnionContext, items: list[Announcement], total: int, page: int
) -> tuple[str, Buttons]:
    if not total:
        return context.t("announcements.empty"), []
    pages = max((total + model.PAGE_SIZE - 1) // model.PAGE_SIZE, 1)
    lines = [context.t("announcements.title", total=_count(context, total))]
    if pages > 1:
        lines.append(context.t("announcements.page", page=page + 1, pages=pages))
    lines.append("")
    buttons: Buttons = []
    for number, item in enumerate(items, start=page * model.PAGE_SIZE + 1):
        recipients = (
            context.t("announcements.line_recipients", count=_count(context, item.recipients))
            if item.recipients else ""
        )
        lines.append(context.t(
            "announcements.line", number=number, status=_status(context, item),
            when=context.local_time(item.scheduled_at or item.created_at),
            recipients=recipients, snippet=snippet(item.text, SNIPPET_LIST),
        ))
        buttons.append([(f"{number}. {snippet(item.text, BUTTON_SNIPPET)}", f"ann:v:{item.id}")])
    lines += ["", context.t("announcements.open_hint")]
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"ann:l:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"ann:l:{page + 1}"))
    if pager:
        buttons.append(pager)
    return _fitted("\n".join(lines)), buttons


async def show_list(update: Update, context: UnionContext) -> None:
    """/announcements: the official's announcements, newest first (others are refused)."""
    await _show_list(update, context, 0)


async def browsed_list(update: Update, context: UnionContext) -> None:
    """A page of the list, or back to it from a view, in place of the screen tapped."""
    [page] = common.callback_ids(update)
    await _show_list(update, context, page)


async def _show_list(update: Update, context: UnionContext, page: int) -> None:
    _stop_live(context, update)
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            items, total = await model.list_for(session, actor, page=page)
            if not items and page > 0:  # a page that emptied meanwhile: the last one
                page = max((total - 1) // model.PAGE_SIZE, 0)
                items, total = await model.list_for(session, actor, page=page)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    text, buttons = _list_screen(context, items, total, page)
    buttons.append([(context.t("evr.list_button"), "ann:er:0")])
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, text, common.keyboard(buttons) if buttons else None)


# --- one announcement's view --------------------------------------------------------------------


def _audience_words(
    context: UnionContext, description: AudienceDescription, sender: str | None
) -> str:
    if description.whole_scope:
        parts = [
            context.t("announcements.audience_whole", unit=sender) if sender
            else context.t("announcements.audience_everyone")
        ]
    else:
        parts = []
        if description.units:
            parts.append(html.escape(", ".join(description.units)))
        if description.blocs:
            parts.append(context.t("announcements.audience_blocs",
                                   names=", ".join(description.blocs)))
    parts += [context.t(f"announcements.audience_role.{role}") for role in description.roles]
    if description.gender:
        parts.append(context.t(f"announcements.audience_gender.{description.gender}"))
    if description.movement and description.movement_criterion:
        parts.append(context.t(
            f"announcements.audience_movement.{description.movement_criterion}",
            movement=description.movement,
        ))
    if description.no_initiative_in:
        parts.append(context.t(
            "announcements.audience_no_initiative", year=description.no_initiative_in
        ))
    return "; ".join(parts)


def _audience_line(context: UnionContext, words: str) -> str:
    # `words` is HTML already (names escaped as they went in): filled in without escaping again.
    return context.t("announcements.audience").replace("{who}", words)


async def _audience_lines(
    session: AsyncSession, context: UnionContext, actor: Actor, announcement: Announcement
) -> list[str]:
    """Who it goes to, in words; for a draft or a scheduled one of the official's own, the
    exact count as of now. Worked out once per opening: it costs a count over the audience."""
    if announcement.follow_up_of is not None or announcement.audience is None:
        return [_audience_line(context, context.t(
            "announcements.audience_follow_up", id=announcement.follow_up_of or 0
        ))]
    sender = await model.sender_name(session, announcement)
    try:
        description = await describe(
            session, actor, Audience.from_dict(announcement.audience)
        )
    except DomainError:
        await session.rollback()
        return [_audience_line(context, context.t("announcements.audience_unknown"))]
    lines = [_audience_line(context, _audience_words(context, description, sender))]
    mine = announcement.author_member_id is not None and (
        announcement.author_member_id == actor.member_id
    )
    if mine and announcement.status in (AnnouncementStatus.DRAFT, AnnouncementStatus.SCHEDULED):
        lines.append(context.t(
            "announcements.audience_count", count=_count(context, description.count)
        ))
    return lines


def _progress_lines(context: UnionContext, tracking: Tracking) -> list[str]:
    announcement, progress = tracking.announcement, tracking.progress
    lines = ["", context.t("announcements.progress_title")]
    if progress.total == 0:
        lines.append(context.t("announcements.not_queued_yet"))
    else:
        total = progress.total - progress.cancelled
        done = progress.sent + progress.failed + progress.blocked
        percent = 0 if total <= 0 else round(100 * done / total)
        lines.append(context.t(
            "announcements.bar", bar=_bar(done, total), percent=percent,
            done=_count(context, done), total=_count(context, total),
        ))
        lines.append(context.t(
            "announcements.counts",
            sent=_count(context, progress.sent), pending=_count(context, progress.pending),
            in_flight=_count(context, progress.in_flight),
            failed=_count(context, progress.failed), blocked=_count(context, progress.blocked),
            cancelled=_count(context, progress.cancelled),
        ))
    if announcement.ack_requested:
        lines += ["", context.t(
            "announcements.acknowledged", acked=_count(context, tracking.acknowledged),
            sent=_count(context, progress.sent),
        )]
        lines.append(context.t("announcements.no_read_receipts"))
    resent = progress.resent_after_crash + sum(
        item.resent_after_crash for _, item in tracking.follow_ups
    )
    if resent:
        lines += ["", context.t("announcements.resent_after_crash", count=_count(context, resent))]
    if tracking.follow_ups:
        lines += ["", context.t("announcements.follow_ups")]
        for item, item_progress in tracking.follow_ups:
            lines.append(context.t(
                "announcements.follow_up_line", id=item.id,
                when=context.local_time(item.created_at), status=_status(context, item),
                sent=_count(context, item_progress.sent),
                total=_count(context, item_progress.total - item_progress.cancelled),
            ))
    return lines


def _view_screen(
    context: UnionContext, tracking: Tracking, audience: list[str]
) -> tuple[str, Buttons]:
    """The view's text and buttons from what was tracked just now."""
    announcement, progress = tracking.announcement, tracking.progress
    ident = announcement.id
    if announcement.follow_up_of is not None:
        title = context.t(
            "announcements.view_title_follow_up", id=ident, original=announcement.follow_up_of,
            status=_status(context, announcement),
        )
    else:
        title = context.t(
            "announcements.view_title", id=ident, status=_status(context, announcement)
        )
    lines = [title, context.t("announcements.when_created",
                              when=context.local_time(announcement.created_at))]
    due = announcement.scheduled_at
    if due is not None and announcement.status != AnnouncementStatus.DRAFT and (
        # "Send now" is due when written: only a chosen time is worth a line.
        announcement.status == AnnouncementStatus.SCHEDULED
        or due - announcement.created_at >= model.SCHEDULE_AHEAD_MIN
    ):
        lines.append(context.t(
            "announcements.when_scheduled", when=context.local_time(due)
        ))
    if announcement.queued_at is not None:
        lines.append(context.t(
            "announcements.when_queued", when=context.local_time(announcement.queued_at)
        ))
    if announcement.cancelled_at is not None:
        lines.append(context.t(
            "announcements.when_cancelled", when=context.local_time(announcement.cancelled_at)
        ))
    if announcement.status == AnnouncementStatus.FAILED and announcement.error:
        lines.append(context.t(
            "announcements.failed_reason", reason=context.t(f"error.{announcement.error}")
        ))
    lines += audience
    lines.append(context.t("announcements.text", snippet=snippet(announcement.text, SNIPPET_VIEW)))
    if announcement.status != AnnouncementStatus.DRAFT:
        lines += _progress_lines(context, tracking)

    buttons: Buttons = []
    if announcement.status == AnnouncementStatus.DRAFT:
        buttons.append([
            (context.t("announcements.send_now_button"), f"ann:s:{ident}"),
            (context.t("announcements.edit_button"), f"anw:edit:{ident}"),
        ])
        buttons.append([(context.t("announcements.delete_button"), f"ann:d:{ident}")])
    else:
        buttons.append([(context.t("announcements.refresh"), f"ann:r:{ident}")])
        original = announcement.follow_up_of is None
        if announcement.ack_requested and original and progress.total:
            buttons.append([(context.t("announcements.not_acked_button"), f"ann:x:{ident}")])
            waiting = tracking.acknowledged < progress.total - progress.cancelled
            if announcement.status in _ANSWERED and waiting:
                buttons.append(
                    [(context.t("announcements.follow_up_button"), f"ann:f:{ident}")]
                )
        if not tracking.finished:  # the original or one of its follow-ups still going out
            buttons.append([(context.t("announcements.cancel_button"), f"ann:c:{ident}")])
    buttons.append([(context.t("announcements.back_to_list"), "ann:l:0")])
    return _fitted("\n".join(lines)), buttons


async def _open_view(
    update: Update, context: UnionContext, announcement_id: int, *, answer: str | None = None
) -> None:
    """Shows one announcement's view in place of the screen tapped, and keeps it live."""
    _stop_live(context, update)
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            announcement = await model.get_for(session, actor, announcement_id)
            audience = await _audience_lines(session, context, actor, announcement)
            tracking = await model.tracking(session, announcement)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    text, buttons = _view_screen(context, tracking, audience)
    await query.answer(answer)
    await common.show(update, text, common.keyboard(buttons))
    if context.channel == Channel.TELEGRAM and _worth_watching(tracking):
        _start_live(context, update, actor, announcement_id, audience, (text, buttons))


async def opened_view(update: Update, context: UnionContext) -> None:
    """An announcement of the list: its view (status, audience, progress, buttons)."""
    [announcement_id] = common.callback_ids(update)
    await _open_view(update, context, announcement_id)


async def refreshed(update: Update, context: UnionContext) -> None:
    """Refresh: the view again with the counts of now (on Zalo, a new message)."""
    [announcement_id] = common.callback_ids(update)
    await _open_view(
        update, context, announcement_id, answer=context.t("announcements.refreshed")
    )


# --- live progress -------------------------------------------------------------------------------


def _worth_watching(tracking: Tracking) -> bool:
    """Something will change while the view is open: delivery goes on, or it is due soon (an
    announcement due next week is not watched for a quarter of an hour)."""
    if tracking.finished:
        return False
    due = tracking.announcement.scheduled_at
    if tracking.announcement.status == AnnouncementStatus.SCHEDULED and due is not None:
        return due <= utcnow() + timedelta(seconds=LIVE_MAX_SECONDS)
    return True


def _live_key(context: UnionContext, chat_id: int) -> tuple[int, int]:
    return id(context.application), chat_id


def _stop_live(context: UnionContext, update: Update) -> None:
    if update.effective_chat is None:
        return
    task = _LIVE.pop(_live_key(context, update.effective_chat.id), None)
    if task is not None:
        task.cancel()


def _start_live(
    context: UnionContext,
    update: Update,
    actor: Actor,
    announcement_id: int,
    audience: list[str],
    shown: tuple[str, Buttons],
) -> None:
    query = update.callback_query
    if query is None or query.message is None or update.effective_chat is None:
        return
    chat_id, message_id = update.effective_chat.id, query.message.message_id
    key = _live_key(context, chat_id)
    task = context.application.create_task(
        _keep_live(context, chat_id, message_id, actor, announcement_id, audience, shown),
        name=f"announcement-live-{announcement_id}",
    )
    _LIVE[key] = task

    def forget(done: asyncio.Task[None]) -> None:
        if _LIVE.get(key) is done:
            del _LIVE[key]

    task.add_done_callback(forget)


async def _keep_live(
    context: UnionContext,
    chat_id: int,
    message_id: int,
    actor: Actor,
    announcement_id: int,
    audience: list[str],
    shown: tuple[str, Buttons],
) -> None:
    """Edits the view in place while delivery goes on; stops when nothing more will happen,
    after LIVE_MAX_SECONDS, at the first edit that fails, or when the bot stops."""
    deadline = time.monotonic() + LIVE_MAX_SECONDS
    application = context.application
    while application.running and time.monotonic() < deadline:
        await asyncio.sleep(LIVE_INTERVAL)
        if not application.running:
            return
        async with context.session() as session:
            try:
                announcement = await model.get_for(session, actor, announcement_id)
                tracking = await model.tracking(session, announcement)
            except DomainError:  # deleted, or no longer theirs to follow
                return
            await session.commit()
        screen = _view_screen(context, tracking, audience)
        if screen != shown:
            try:
                await context.bot.edit_message_text(
                    screen[0], chat_id=chat_id, message_id=message_id,
                    reply_markup=common.keyboard(screen[1]),
                )
            except TelegramError as error:
                log.info("live view of announcement %s stopped: %s", announcement_id,
                         type(error).__name__)
                return
            shown = screen
        if tracking.finished:
            return


# --- acting on one announcement ------------------------------------------------------------------


Step = Callable[[AsyncSession, Actor, Announcement], Awaitable[Any]]


async def _act(update: Update, context: UnionContext, step: Step) -> Any:
    """Runs an official's step on the announcement the button names (authorised again): the
    step's result after a commit, or None after a localized refusal (nothing stored)."""
    _stop_live(context, update)
    [announcement_id] = common.callback_ids(update)
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            require_official(actor)
            announcement = await model.get_for(session, actor, announcement_id)
            result = await step(session, actor, announcement)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return None
        await session.commit()
    return result


def _confirm(context: UnionContext, yes: str, yes_data: str, back: str) -> Buttons:
    return [[(yes, yes_data)], [(context.t("announcements.back"), back)]]


async def _ask_to_confirm(
    update: Update, context: UnionContext, ident: int, question: str, yes: str, verb: str
) -> None:
    """Answers the tap and asks `question` about announcement `ident`: `yes` (payload
    ann:<verb>:<id>) or back to its view."""
    assert update.callback_query is not None
    await update.callback_query.answer()
    await common.show(update, question, common.keyboard(_confirm(
        context, yes, f"ann:{verb}:{ident}", f"ann:v:{ident}"
    )))


async def _waiting_count(session: AsyncSession, announcement: Announcement) -> int:
    """How many recipients have not acknowledged (read by keyset pages)."""
    total, after = 0, 0
    while True:
        page = await model.not_acknowledged(
            session, announcement, after=after, limit=EXPORT_PAGE
        )
        if not page:  # (a short page is not the end: a page is rows, deduplicated by member)
            return total
        total += len(page)
        after = page[-1].member_id


async def asked_follow_up(update: Update, context: UnionContext) -> None:
    """Follow-up: says how many have not acknowledged and asks to confirm."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        if not announcement.ack_requested or announcement.follow_up_of is not None:
            raise NotAllowed("announcement_no_ack")
        return announcement.id, await _waiting_count(session, announcement)

    found = await _act(update, context, step)
    if found is None:
        return
    ident, count = found
    if not count:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await common.show(update, context.t("announcements.nobody_waiting"), common.keyboard(
            [[(context.t("announcements.back"), f"ann:v:{ident}")]]
        ))
        return
    await _ask_to_confirm(
        update, context, ident,
        context.t("announcements.confirm_follow_up", id=ident, count=_count(context, count)),
        context.t("announcements.confirm_follow_up_yes"), "fy",
    )


async def confirmed_follow_up(update: Update, context: UnionContext) -> None:
    """Follow-up confirmed: queued now to those who have not acknowledged; the view again."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        await model.follow_up(session, actor, announcement, now=utcnow())
        return announcement.id

    ident = await _act(update, context, step)
    if ident is None:
        return
    context.services.wake_up()
    await _open_view(update, context, ident, answer=context.t("announcements.queued_answer"))


async def asked_cancel(update: Update, context: UnionContext) -> None:
    """Cancel: asks to confirm (what was sent stays)."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        return announcement.id

    ident = await _act(update, context, step)
    if ident is None:
        return
    await _ask_to_confirm(
        update, context, ident, context.t("announcements.confirm_cancel", id=ident),
        context.t("announcements.confirm_cancel_yes"), "cy",
    )


async def confirmed_cancel(update: Update, context: UnionContext) -> None:
    """Cancel confirmed: nothing more is queued or sent; the view says how many were stopped."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        stopped = await model.cancel(session, actor, announcement, now=utcnow())
        return announcement.id, stopped

    found = await _act(update, context, step)
    if found is None:
        return
    ident, stopped = found
    await _open_view(update, context, ident, answer=context.t(
        "announcements.cancelled_answer", count=_count(context, stopped)
    ))


async def asked_send(update: Update, context: UnionContext) -> None:
    """Send a draft now: asks to confirm, with the exact number of recipients."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        if announcement.status != AnnouncementStatus.DRAFT or announcement.audience is None:
            raise NotAllowed(f"announcement_already_{announcement.status}")
        description = await describe(session, actor, Audience.from_dict(announcement.audience))
        return announcement.id, description.count

    found = await _act(update, context, step)
    if found is None:
        return
    ident, count = found
    await _ask_to_confirm(
        update, context, ident,
        context.t("announcements.confirm_send", id=ident, count=_count(context, count)),
        context.t("announcements.confirm_send_yes"), "sy",
    )


async def confirmed_send(update: Update, context: UnionContext) -> None:
    """Send now confirmed: the draft is due now (rights checked again); the view, live."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        await model.release_draft(session, actor, announcement, now=utcnow())
        return announcement.id

    ident = await _act(update, context, step)
    if ident is None:
        return
    context.services.wake_up()
    await _open_view(update, context, ident, answer=context.t("announcements.queued_answer"))


async def asked_delete(update: Update, context: UnionContext) -> None:
    """Delete a draft: asks to confirm."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        if announcement.status != AnnouncementStatus.DRAFT:
            raise NotAllowed("announcement_not_draft")
        return announcement.id

    ident = await _act(update, context, step)
    if ident is None:
        return
    await _ask_to_confirm(
        update, context, ident, context.t("announcements.confirm_delete", id=ident),
        context.t("announcements.confirm_delete_yes"), "dy",
    )


async def confirmed_delete(update: Update, context: UnionContext) -> None:
    """Delete confirmed: the draft is gone; a way back to the list."""

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        ident = announcement.id
        await model.delete_draft(session, actor, announcement)
        return ident

    ident = await _act(update, context, step)
    if ident is None:
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    await common.show(update, context.t("announcements.deleted", id=ident), common.keyboard(
        [[(context.t("announcements.back_to_list"), "ann:l:0")]]
    ))


# --- who has not acknowledged --------------------------------------------------------------------


def _plain(context: UnionContext, key: str, **params: object) -> str:
    """Words for a file: the reader's language, without HTML escaping."""
    return html.unescape(context.t(key, **params))


async def _not_acknowledged_file(
    session: AsyncSession, context: UnionContext, announcement: Announcement
) -> tuple[bytes, int, list[model.NotAcknowledged]]:
    """The .xlsx of everyone who has not acknowledged (read 1,000 at a time into a write-only
    sheet), how many they are, and the first of them for the chat."""
    tz = context.services.settings.tz
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(_plain(context, "announcements.xlsx_sheet")[:31])
    for column, width in zip("ABCDE", (32, 36, 12, 16, 18), strict=True):
        sheet.column_dimensions[column].width = width
    bold = Font(bold=True)
    header = []
    for key in (
        "announcements.xlsx_name", "announcements.xlsx_unit", "announcements.xlsx_channel",
        "announcements.xlsx_delivery", "announcements.xlsx_sent_at",
    ):
        cell = text_cell(sheet, _plain(context, key))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    first: list[model.NotAcknowledged] = []
    total, after = 0, 0
    while True:
        page = await model.not_acknowledged(
            session, announcement, after=after, limit=EXPORT_PAGE
        )
        for row in page:
            sheet.append([
                text_cell(sheet, row.full_name),
                text_cell(sheet, row.unit),
                text_cell(sheet, _plain(context, f"channel.{row.channel}")),
                text_cell(sheet, _plain(context, f"announcements.delivery.{row.delivery}")),
                text_cell(sheet, row.sent_at.astimezone(tz).strftime("%d/%m/%Y %H:%M")
                          if row.sent_at else ""),
            ])
        if len(first) < NAMES_IN_CHAT:
            first += page[: NAMES_IN_CHAT - len(first)]
        if not page:
            break
        total += len(page)
        after = page[-1].member_id
    buffer = io.BytesIO()
    # Zipping a large sheet is plain CPU work: a thread keeps the bot answering meanwhile.
    await asyncio.to_thread(workbook.save, buffer)
    return buffer.getvalue(), total, first


async def _first_waiting(
    session: AsyncSession, announcement: Announcement
) -> tuple[int, list[model.NotAcknowledged]]:
    first = await model.not_acknowledged(session, announcement, limit=NAMES_IN_CHAT)
    return await _waiting_count(session, announcement), first


async def exported_not_acknowledged(update: Update, context: UnionContext) -> None:
    """Who has not acknowledged: the first names in the chat and, on Telegram, the .xlsx of
    all (Zalo cannot receive files: it says where to get it)."""
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    zalo = context.channel == Channel.ZALO

    async def step(session: AsyncSession, actor: Actor, announcement: Announcement) -> Any:
        if not announcement.ack_requested:
            raise NotAllowed("announcement_no_ack")
        if zalo:
            total, first = await _first_waiting(session, announcement)
            return announcement, None, total, first
        await query.answer(context.t("announcements.preparing"))
        await update.effective_chat.send_action(ChatAction.UPLOAD_DOCUMENT)  # type: ignore[union-attr]
        content, total, first = await _not_acknowledged_file(session, context, announcement)
        return announcement, content, total, first

    found = await _act(update, context, step)
    if found is None:
        return
    announcement, content, total, first = found
    if zalo:
        await query.answer()
    if not total:
        await common.reply(update, context.t("announcements.nobody_waiting"))
        return
    lines = [context.t("announcements.not_acked_title", count=_count(context, total),
                       id=announcement.id)]
    lines += [
        context.t("announcements.not_acked_line", number=number, name=row.full_name,
                  unit=row.unit, delivery=context.t(f"announcements.delivery.{row.delivery}"))
        for number, row in enumerate(first, start=1)
    ]
    if total > len(first):
        more = _count(context, total - len(first))
        lines.append(context.t(
            "announcements.not_acked_more_zalo" if zalo else "announcements.not_acked_more",
            count=more,
        ))
    await common.reply(update, _fitted("\n".join(lines)))
    if zalo:
        await common.reply(update, context.t("announcements.files_on_zalo"))
        return
    assert content is not None
    await update.effective_chat.send_document(
        document=content,
        filename=context.t("announcements.xlsx_filename", id=announcement.id),
        caption=context.t("announcements.xlsx_caption", count=_count(context, total),
                          id=announcement.id),
    )


# --- event reminders (created in /announce) ------------------------------------------------------

EVENT_SOURCE = "event_reminder"  # a run's source_type (models.reminders.claim_due_events)
EVENTS_PER_PAGE = 5
RUNS_IN_LIST = 3
RUNS_IN_VIEW = 10


def _event_rule(context: UnionContext, event: rem.EventReminder) -> str:
    return rule_in_words(context, rem.rule_parts(event.rule), rule=event.rule,
                         at=event.next_run_at)


def _event_next(context: UnionContext, event: rem.EventReminder) -> str:
    if event.next_run_at is None:
        return context.t("evr.next_none")
    return context.t("evr.next", when=context.local_time(event.next_run_at))


async def _run_lines(
    session: AsyncSession, context: UnionContext, event: rem.EventReminder, limit: int
) -> list[str]:
    """The latest runs, newest first: when, and how many it reached of those it was queued
    for (or why it was not sent)."""
    runs = await rem.runs_of(session, EVENT_SOURCE, event.id)  # type: ignore[arg-type]
    if not runs:
        return [context.t("evr.runs_none")]
    lines = []
    for run in reversed(runs[-limit:]):
        when = context.local_time(run.due_at)
        if run.status == rem.RunStatus.SKIPPED:
            key = "evr.run_late" if run.reason == "late" else "evr.run_skipped"
            lines.append(context.t(key, when=when))
            continue
        stats = await rem.run_stats(session, run)
        lines.append(context.t(
            "evr.run_sent" if run.status == rem.RunStatus.SENT else "evr.run_sending",
            when=when, reached=_count(context, stats.reached), queued=_count(context, run.queued),
        ))
    if len(runs) > limit:
        lines.append(context.t("evr.runs_more", count=_count(context, len(runs) - limit)))
    return lines


async def _events_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, page: int
) -> tuple[str, Buttons]:
    events = await rem.event_reminders_for(session, actor)
    back = [(context.t("announcements.back_to_list"), "ann:l:0")]
    if not events:
        return context.t("evr.list_empty"), [back]
    pages = (len(events) + EVENTS_PER_PAGE - 1) // EVENTS_PER_PAGE
    page = min(page, pages - 1)  # a page that emptied meanwhile: the last one
    shown = events[page * EVENTS_PER_PAGE : (page + 1) * EVENTS_PER_PAGE]
    lines = [context.t("evr.list_title", total=_count(context, len(events)))]
    if pages > 1:
        lines.append(context.t("announcements.page", page=page + 1, pages=pages))
    buttons: Buttons = []
    for number, event in enumerate(shown, start=page * EVENTS_PER_PAGE + 1):
        lines += ["", context.t("evr.list_line", number=number, title=event.title),
                  f"   {_event_rule(context, event)}", f"   {_event_next(context, event)}"]
        lines += [f"   {line}" for line in await _run_lines(session, context, event, RUNS_IN_LIST)]
        label = event.title if len(event.title) <= BUTTON_SNIPPET else (
            event.title[: BUTTON_SNIPPET - 1].rstrip() + "…"
        )
        buttons.append([(f"{number}. {label}", f"ann:ev:{event.id}")])
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"ann:er:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"ann:er:{page + 1}"))
    if pager:
        buttons.append(pager)
    buttons.append(back)
    return _fitted("\n".join(lines)), buttons


async def _event_view(
    session: AsyncSession, context: UnionContext, actor: Actor, event: rem.EventReminder
) -> tuple[str, Buttons]:
    """One event reminder: its rule, next time, who it goes to (with the count as of now), its
    text and its latest runs."""
    lines = [context.t("evr.view_title", title=event.title), _event_rule(context, event),
             _event_next(context, event)]
    unit = await session.get(OrgUnit, event.unit_id) if event.unit_id else None
    try:
        description = await describe(session, actor, Audience.from_dict(event.audience))
    except DomainError:
        lines.append(_audience_line(context, context.t("announcements.audience_unknown")))
    else:
        words = _audience_words(context, description, unit.name if unit else None)
        lines.append(_audience_line(context, words))
        lines.append(context.t(
            "announcements.audience_count", count=_count(context, description.count)
        ))
    lines.append(context.t("announcements.text", snippet=snippet(event.text, SNIPPET_VIEW)))
    lines += ["", context.t("evr.runs_title")]
    lines += await _run_lines(session, context, event, RUNS_IN_VIEW)
    buttons = [
        [(context.t("evr.cancel_button"), f"ann:ec:{event.id}")],
        [(context.t("announcements.back"), "ann:er:0")],
    ]
    return _fitted("\n".join(lines)), buttons


EventStep = Callable[[AsyncSession, Actor, int], Awaitable[tuple[str, Buttons, str | None]]]


async def _event_tap(update: Update, context: UnionContext, step: EventStep) -> None:
    """Runs an official's step on an event reminder page or id (authorised again in models):
    the screen it returns in place of the one tapped (with an optional note), or a localized
    refusal, nothing stored."""
    _stop_live(context, update)
    query = update.callback_query
    assert query is not None
    [number] = common.callback_ids(update)
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            require_official(actor)
            text, buttons, note = await step(session, actor, number)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    await query.answer(note)
    await common.show(update, text, common.keyboard(buttons))


async def listed_event_reminders(update: Update, context: UnionContext) -> None:
    """The official's active event reminders (theirs and their scope's)."""

    async def step(session: AsyncSession, actor: Actor, page: int) -> Any:
        return *await _events_screen(session, context, actor, page), None

    await _event_tap(update, context, step)


async def opened_event_reminder(update: Update, context: UnionContext) -> None:
    """One event reminder with its runs (a forged id is refused)."""

    async def step(session: AsyncSession, actor: Actor, event_id: int) -> Any:
        event = await rem.event_reminder_for(session, actor, event_id)
        return *await _event_view(session, context, actor, event), None

    await _event_tap(update, context, step)


async def asked_cancel_event_reminder(update: Update, context: UnionContext) -> None:
    """Asks to confirm cancelling: the runs to come are not sent."""

    async def step(session: AsyncSession, actor: Actor, event_id: int) -> Any:
        event = await rem.event_reminder_for(session, actor, event_id)
        buttons = _confirm(context, context.t("evr.cancel_button"), f"ann:ecy:{event.id}",
                           f"ann:ev:{event.id}")
        return context.t("evr.cancel_ask", title=event.title), buttons, None

    await _event_tap(update, context, step)


async def confirmed_cancel_event_reminder(update: Update, context: UnionContext) -> None:
    """Cancels it (audited by models); the list of those still active."""

    async def step(session: AsyncSession, actor: Actor, event_id: int) -> Any:
        event = await rem.event_reminder_for(session, actor, event_id)
        await rem.cancel_event_reminder(session, actor, event, now=utcnow())
        log.info("event reminder %s cancelled by identity %s", event.id, actor.identity.id)
        text, buttons = await _events_screen(session, context, actor, 0)
        # An answer to a tap holds 200 characters: a long name is cut.
        title = event.title if len(event.title) <= 80 else event.title[:79].rstrip() + "…"
        return text, buttons, context.t("evr.cancelled", title=title)

    await _event_tap(update, context, step)

# --- members: acknowledging and reading ----------------------------------------------------------


def _ack_line(context: UnionContext, moment: datetime) -> str:
    return context.t("news.acked_line", time=_hh_mm(context, moment))


async def acknowledged(update: Update, context: UnionContext) -> None:
    """"Đã nhận" (Zalo: the reply 1): records it once, thanks the member, and the message
    loses its button and says when. A tap not for them is refused and stores nothing."""
    query = update.callback_query
    assert query is not None
    [announcement_id] = common.callback_ids(update)
    now = utcnow()
    async with context.session() as session:
        member = await member_of(session, await context.identity(session, update))
        try:
            first = await model.acknowledge(
                session, member=member, announcement_id=announcement_id,
                channel=context.channel, now=now,
            )
            when = now if first else (
                await model.acknowledged_at(session, member.id, announcement_id)  # type: ignore[union-attr,arg-type]
                or now
            )
        except DomainError as error:
            await session.rollback()
            if isinstance(error, NotFound):
                await query.answer(context.t("news.ack_refused"), show_alert=True)
            else:
                await common.refuse(update, context, error)
            return
        await session.commit()
    if context.channel == Channel.ZALO:
        # The bridge sends the answer as a message; dropping the list stops a second "1".
        await query.answer(context.t(
            "news.ack_thanks_zalo" if first else "news.ack_again_zalo", time=_hh_mm(context, when)
        ))
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError:
            log.debug("acknowledged list could not be closed")
        return
    await query.answer(context.t("news.ack_thanks" if first else "news.ack_again"))
    await _mark_acknowledged(query.message, context, when)


async def _mark_acknowledged(message: object, context: UnionContext, when: datetime) -> None:
    """The member's copy of the announcement: as it was, without the button, with the time."""
    if not isinstance(message, Message) or message.reply_markup is None:
        return  # too old for Telegram to show, or marked already: nothing to change
    line = _ack_line(context, when)
    try:
        if message.text is not None:
            await message.edit_text(f"{message.text_html}\n\n{line}", reply_markup=None)
        elif message.caption is not None:
            await message.edit_caption(f"{message.caption_html}\n\n{line}", reply_markup=None)
        else:
            await message.edit_reply_markup(reply_markup=None)
    except BadRequest as error:
        if "not modified" in str(error):
            return
        try:  # a caption with the line too long, say: at least the button goes
            await message.edit_reply_markup(reply_markup=None)
        except TelegramError:
            log.debug("acknowledged message could not be changed")
    except TelegramError:
        log.debug("acknowledged message could not be changed")


def _news_screen(
    context: UnionContext,
    items: list[tuple[Announcement, str | None, bool]],
    total: int,
    page: int,
) -> tuple[str, Buttons]:
    if not total:
        return context.t("news.empty"), []
    pages = max((total + model.PAGE_SIZE - 1) // model.PAGE_SIZE, 1)
    lines = [context.t("news.title", total=_count(context, total))]
    if pages > 1:
        lines.append(context.t("announcements.page", page=page + 1, pages=pages))
    lines.append("")
    buttons: Buttons = []
    for number, (item, sender, waiting) in enumerate(items, start=page * model.PAGE_SIZE + 1):
        lines.append(context.t(
            "news.line", number=number,
            when=context.local_time(item.queued_at or item.scheduled_at or item.created_at),
            sender=sender or context.t("announce.sender_admin"),
            mark=context.t("news.waiting_mark") if waiting else "",
            snippet=snippet(item.text, SNIPPET_LIST),
        ))
        buttons.append([(f"{number}. {snippet(item.text, BUTTON_SNIPPET)}", f"ann:ni:{item.id}")])
    lines += ["", context.t("news.open_hint")]
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"ann:n:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"ann:n:{page + 1}"))
    if pager:
        buttons.append(pager)
    return _fitted("\n".join(lines)), buttons


async def show_news(update: Update, context: UnionContext) -> None:
    """/news: the announcements the member received, newest first."""
    await _show_news(update, context, 0)


async def browsed_news(update: Update, context: UnionContext) -> None:
    """Another page of /news, in place."""
    [page] = common.callback_ids(update)
    await _show_news(update, context, page)


async def _show_news(update: Update, context: UnionContext, page: int) -> None:
    async with context.session() as session:
        member = await member_of(session, await context.identity(session, update))
        if member is None or member.id is None:
            await session.commit()
            await _not_member(update, context)
            return
        found, total = await model.news_for(session, member.id, page=page)
        items = []
        for item in found:
            waiting = item.ack_requested and not await model.has_acknowledged(
                session, member.id, item.id  # type: ignore[arg-type]
            )
            items.append((item, await model.sender_name(session, item), waiting))
        await session.commit()
    text, buttons = _news_screen(context, items, total, page)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, text, common.keyboard(buttons) if buttons else None)


async def _not_member(update: Update, context: UnionContext) -> None:
    text = context.t("news.not_member")
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    else:
        await common.reply(update, text)


async def opened_news_item(update: Update, context: UnionContext) -> None:
    """One announcement of /news in full, as it was received (with its "Đã nhận" button while
    not acknowledged; otherwise when it was), as a new message."""
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    [announcement_id] = common.callback_ids(update)
    async with context.session() as session:
        identity = await context.identity(session, update)
        member = await member_of(session, identity)
        if member is None or member.id is None:
            await session.commit()
            await _not_member(update, context)
            return
        try:
            announcement = await model.news_item(session, member.id, announcement_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        sender = await model.sender_name(session, announcement)
        acked = (
            await model.acknowledged_at(session, member.id, announcement.id)  # type: ignore[arg-type]
            if announcement.ack_requested else None
        )
        await session.commit()
    message = model.render(
        announcement, sender=sender, channel=context.channel, locale=context.locale,
        t=context.services.translator.t,
    )
    text, markup = message.text, None
    if acked is not None:
        text = f"{text}\n\n{context.t('news.acked_at', when=context.local_time(acked))}"
    elif message.buttons:
        markup = InlineKeyboardMarkup.de_json(
            {"inline_keyboard": message.buttons}, context.bot
        )
    await query.answer()
    chat = update.effective_chat
    media = message.media or {}
    source = media.get("file_id") or media.get("url")
    if media.get("kind") == "photo" and source:
        await chat.send_photo(source, caption=text, reply_markup=markup)
    elif media.get("kind") == "document" and source:
        await chat.send_document(source, caption=text, reply_markup=markup)
    else:
        await chat.send_message(text, reply_markup=markup)


def acknowledgement() -> CallbackQueryHandler:  # type: ignore[type-arg]
    """The members' "Đã nhận" tap. Registered with the features below; bot/app.py may also
    register it before the conversations: a conversation that leaves on a foreign button
    (common.other_button_leaves) would otherwise end the member's flow before it is taken."""
    return CallbackQueryHandler(acknowledged, pattern=ACK_PATTERN)


ACK_PATTERN = rf"^{model.CALLBACK_PREFIX}:ack:{ID}$"


def handlers() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("announcements", show_list),
        CommandHandler("news", show_news),
        # Members' acknowledgement: any member, whatever else they are doing.
        acknowledgement(),
        CallbackQueryHandler(browsed_list, pattern=rf"^ann:l:{PAGE}$"),
        CallbackQueryHandler(opened_view, pattern=rf"^ann:v:{ID}$"),
        CallbackQueryHandler(refreshed, pattern=rf"^ann:r:{ID}$"),
        CallbackQueryHandler(exported_not_acknowledged, pattern=rf"^ann:x:{ID}$"),
        CallbackQueryHandler(asked_follow_up, pattern=rf"^ann:f:{ID}$"),
        CallbackQueryHandler(confirmed_follow_up, pattern=rf"^ann:fy:{ID}$"),
        CallbackQueryHandler(asked_cancel, pattern=rf"^ann:c:{ID}$"),
        CallbackQueryHandler(confirmed_cancel, pattern=rf"^ann:cy:{ID}$"),
        CallbackQueryHandler(asked_send, pattern=rf"^ann:s:{ID}$"),
        CallbackQueryHandler(confirmed_send, pattern=rf"^ann:sy:{ID}$"),
        CallbackQueryHandler(asked_delete, pattern=rf"^ann:d:{ID}$"),
        CallbackQueryHandler(confirmed_delete, pattern=rf"^ann:dy:{ID}$"),
        CallbackQueryHandler(browsed_news, pattern=rf"^ann:n:{PAGE}$"),
        CallbackQueryHandler(listed_event_reminders, pattern=rf"^ann:er:{PAGE}$"),
        CallbackQueryHandler(opened_event_reminder, pattern=rf"^ann:ev:{ID}$"),
        CallbackQueryHandler(asked_cancel_event_reminder, pattern=rf"^ann:ec:{ID}$"),
        CallbackQueryHandler(confirmed_cancel_event_reminder, pattern=rf"^ann:ecy:{ID}$"),
        CallbackQueryHandler(opened_news_item, pattern=rf"^ann:ni:{ID}$"),
    ]
