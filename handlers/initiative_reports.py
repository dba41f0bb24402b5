"""/initiative stats and the council's documents.

- `/initiative stats` (officials and administrators): the numbers of the official's scope for
  the current school year: by status, by level, by field, by unit below, by year. Buttons
  ("inr:st:<unit>:<year>:<page>", the year as its first calendar year) open another school
  year, a unit below (and back up), another scope, or the next page of units; the screen
  changes in place.
- "inr:xlsx:<unit>": the council's .xlsx of a receiving unit's queue; "inr:doc:<initiative>":
  one initiative as a .docx. The review screens (handlers/initiative_review.py) show these
  buttons; the files go by Telegram, and Zalo (which cannot receive files) says so.

Every id a button carries is authorised again in models/initiative_reports.py: a forged one is
refused, logged and changes nothing. This module only renders and sends.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from bot.context import UnionContext
from handlers import common
from models import initiative_reports as model
from models.access import Actor
from models.base import utcnow
from models.errors import DomainError
from models.members import Channel
from models.movement_reports import format_count

log = logging.getLogger(__name__)

CLOSE = "inr:cl"
# Units below the scope on one page of the statistics (Zalo lists fewer options per screen).
UNITS_PER_PAGE = {Channel.TELEGRAM: 10, Channel.ZALO: 5}
# A screen longer than this is cut at a line (Telegram takes 4,096 characters).
SCREEN_MAX_CHARS = 3900


def _plain(context: UnionContext) -> model.Translate:
    """Words for a file: the reader's language, without HTML escaping."""
    return lambda key, **params: html.unescape(context.t(key, **params))


def _fitted(text: str) -> str:
    if len(text) <= SCREEN_MAX_CHARS:
        return text
    cut = text.rfind("\n", 0, SCREEN_MAX_CHARS - 2)
    return text[: cut if cut > 0 else SCREEN_MAX_CHARS - 2] + "\n…"


# --- statistics ----------------------------------------------------------------------------------


def _count(context: UnionContext, value: int) -> str:
    return format_count(value, context.locale)


def _tally(context: UnionContext, tally: model.Tally) -> str:
    """"12 nộp; công nhận: cấp trường 8, cấp quận/huyện 3"."""
    levels = ", ".join(
        context.t(
            "initiative_reports.level_count",
            level=context.t(f"initiative.level.{level}"),
            count=_count(context, tally.recognised[level]),
        )
        for level in model.LEVEL_ORDER
        if tally.recognised.get(level)
    )
    submitted = _count(context, tally.submitted)
    if not levels:
        return context.t("initiative_reports.tally_none", submitted=submitted)
    return context.t("initiative_reports.tally", submitted=submitted, recognised=levels)


def _year_start(year: str) -> int:
    return int(year[:4])


def _stats_view(
    context: UnionContext, stats: model.InitiativeStatistics, page: int
) -> tuple[str, list[list[tuple[str, str]]]]:
    """The screen: the year's numbers by status, level, field, unit (one page), then by year;
    buttons for the other years, the units below, the unit above and the other scopes."""
    root, year = stats.root, stats.school_year
    start = _year_start(year)
    lines = [
        context.t("initiative_reports.stats_title", unit=root.name),
        context.t("initiative_reports.stats_year", year=year),
    ]
    total = stats.total
    if total.is_empty and not stats.by_status:
        lines += ["", context.t("initiative_reports.stats_nothing")]
    if stats.by_status:
        lines += ["", context.t(
            "initiative_reports.stats_by_status",
            count=_count(context, sum(stats.by_status.values())),
        )]
        lines += [
            context.t(
                "initiative_reports.line", label=context.t(f"initiative.status.{status}"),
                value=_count(context, count),
            )
            for status, count in stats.by_status.items()
        ]
    if total.recognitions:
        lines += ["", context.t(
            "initiative_reports.stats_by_level", unit=root.name,
            count=_count(context, total.recognitions),
        )]
        lines += [
            context.t(
                "initiative_reports.line", label=context.t(f"initiative.level.{level}"),
                value=_count(context, total.recognised[level]),
            )
            for level in model.LEVEL_ORDER
            if total.recognised.get(level)
        ]
    if stats.by_field:
        lines += ["", context.t("initiative_reports.stats_by_field")]
        lines += [
            context.t(
                "initiative_reports.line", label=context.t(f"initiative.field.{code}"),
                value=_tally(context, tally),
            )
            for code, tally in stats.by_field.items()
        ]

    buttons: list[list[tuple[str, str]]] = []
    per_page = UNITS_PER_PAGE.get(context.channel, 10)
    pages = max((len(stats.by_unit) + per_page - 1) // per_page, 1)
    page = min(page, pages - 1)
    shown = stats.by_unit[page * per_page : (page + 1) * per_page]
    if stats.by_unit or stats.quiet_units:
        lines += ["", context.t("initiative_reports.stats_by_unit")]
        if pages > 1:
            lines.append(context.t("initiative_reports.page", page=page + 1, pages=pages))
        lines += [
            context.t(
                "initiative_reports.line", label=row.unit.name, value=_tally(context, row.tally)
            )
            for row in shown
        ]
        if stats.quiet_units:
            lines.append(context.t(
                "initiative_reports.stats_quiet_units", count=_count(context, stats.quiet_units)
            ))
    for row in shown:
        if not row.unit.is_grassroots:
            buttons.append([(f"📂 {row.unit.name}", f"inr:st:{row.unit.id}:{start}:0")])
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"inr:st:{root.id}:{start}:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"inr:st:{root.id}:{start}:{page + 1}"))
    if pager:
        buttons.append(pager)

    if stats.by_year:
        lines += ["", context.t("initiative_reports.stats_by_year")]
        lines += [
            context.t("initiative_reports.line", label=found, value=_tally(context, tally))
            for found, tally in stats.by_year
        ]
    other_years = [found for found in stats.years if found != year]
    for first in range(0, len(other_years), 3):
        buttons.append([
            (f"📅 {found}", f"inr:st:{root.id}:{_year_start(found)}:0")
            for found in other_years[first : first + 3]
        ])
    if stats.parent is not None:
        buttons.append([(f"⬆ {stats.parent.name}", f"inr:st:{stats.parent.id}:{start}:0")])
    for scope in stats.other_scopes:
        buttons.append([(f"🏢 {scope.name}", f"inr:st:{scope.id}:{start}:0")])
    buttons.append([(context.t("inc.button"), "inc:o")])  # handlers/initiative_calls.py
    buttons.append([(context.t("initiative_reports.close"), CLOSE)])
    return _fitted("\n".join(lines)), buttons


async def _show_stats(
    update: Update, context: UnionContext, unit_id: int | None, year: str | None, page: int
) -> None:
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            stats = await model.statistics(
                session, actor, unit_id=unit_id, school_year=year, now=utcnow(),
                tz=context.services.settings.tz,
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse_tap(update, context, error)
            return
        await session.commit()
    text, buttons = _stats_view(context, stats, page)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, text, common.keyboard(buttons))


async def stats(update: Update, context: UnionContext) -> None:
    """/initiative stats: the numbers of the official's (first) scope this school year."""
    await _show_stats(update, context, None, None, 0)


async def opened_stats(update: Update, context: UnionContext) -> None:
    """A unit, school year or page of the statistics, in place of the screen tapped."""
    unit_id, start, page = common.callback_ids(update)
    await _show_stats(update, context, unit_id, f"{start}-{start + 1}", page)


async def closed(update: Update, context: UnionContext) -> None:
    """Close: the screen loses its buttons."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:  # already closed, or too old to edit: nothing left to do
        log.debug("statistics screen could not be closed")


# --- the council's files -------------------------------------------------------------------------


async def _send_file(
    update: Update,
    context: UnionContext,
    may: Callable[[AsyncSession, Actor], Awaitable[object]],
    make: Callable[[AsyncSession, Actor], Awaitable[tuple[bytes, str, str]]],
) -> None:
    """A council's file: the right is checked first (`may`); on Zalo, which cannot receive
    files, the official is told where to get it; on Telegram the file is made (`make`: content,
    file name, caption) and sent."""
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            await may(session, actor)
        except DomainError as error:
            await session.rollback()
            await common.refuse_tap(update, context, error)
            return
        if context.channel == Channel.ZALO:
            await session.commit()
            await query.answer()
            await common.reply(update, context.t("initiative_reports.files_on_zalo"))
            return
        # Answered at once: Telegram drops a tap left unanswered while the file is made.
        await query.answer(context.t("initiative_reports.preparing"))
        await update.effective_chat.send_action(ChatAction.UPLOAD_DOCUMENT)
        content, filename, caption = await make(session, actor)
        await session.commit()
    await update.effective_chat.send_document(
        document=content, filename=filename, caption=caption
    )


async def exported_queue(update: Update, context: UnionContext) -> None:
    """The council's workbook of a unit's queue (on Zalo: says it goes by Telegram)."""
    [unit_id] = common.callback_ids(update)

    async def make(session: AsyncSession, actor: Actor) -> tuple[bytes, str, str]:
        export = await model.export_queue_xlsx(
            session, actor, unit_id=unit_id, translate=_plain(context),
            tz=context.services.settings.tz, now=utcnow(),
        )
        today = utcnow().astimezone(context.services.settings.tz).strftime("%Y-%m-%d")
        return export.content, context.t(
            "initiative_reports.queue_filename", id=unit_id, date=today
        ), context.t(
            "initiative_reports.queue_caption", unit=export.unit.name, year=export.school_year,
            count=_count(context, export.initiatives),
        )

    await _send_file(
        update, context, lambda session, actor: model.queue_unit(session, actor, unit_id), make
    )


async def exported_document(update: Update, context: UnionContext) -> None:
    """One initiative as a .docx for the council (on Zalo: says it goes by Telegram)."""
    [initiative_id] = common.callback_ids(update)

    async def make(session: AsyncSession, actor: Actor) -> tuple[bytes, str, str]:
        initiative, content = await model.export_initiative_docx(
            session, actor, initiative_id=initiative_id, translate=_plain(context),
            tz=context.services.settings.tz, now=utcnow(), locale=context.locale,
        )
        return content, context.t(
            "initiative_reports.doc_filename", id=initiative_id
        ), context.t("initiative_reports.doc_caption", title=initiative.title)

    await _send_file(
        update, context,
        lambda session, actor: model.document_reader(session, actor, initiative_id), make,
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        CommandHandler(
            "initiative", stats, filters=filters.Regex(r"^/initiative(@\w+)?\s+stats\b")
        ),
        CallbackQueryHandler(opened_stats, pattern=r"^inr:st:\d{1,12}:\d{4}:\d{1,4}$"),
        CallbackQueryHandler(exported_queue, pattern=r"^inr:xlsx:\d{1,12}$"),
        CallbackQueryHandler(exported_document, pattern=r"^inr:doc:\d{1,12}$"),
        CallbackQueryHandler(closed, pattern=rf"^{CLOSE}$"),
    ]
