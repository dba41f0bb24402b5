"""/import: an official sends their union's roster (.xlsx or .csv) and the bot imports it, or
sends back the list of rows with problems and offers to import only the valid ones.

The conversation is two questions: which union rows without a unit code belong to (asked only
of officials with several), then the file. An upload with problems is kept in the database
(models.roster.PendingImport), so "Import the N valid rows" still works after a restart; its
buttons ("ros:valid:<id>", "ros:cancel:<id>") work from any message and are checked again:
only the official who sent the file may use them. On Zalo people cannot send files to a bot,
so /import there says where to do it.
"""

from __future__ import annotations

import asyncio
import html
import logging

from telegram import CallbackQuery, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import UnionContext
from handlers import common
from models import roster as model
from models.access import require_official
from models.errors import DomainError, InvalidInput
from models.members import Channel
from models.org import OrgUnit

log = logging.getLogger(__name__)

# What the bot is waiting for.
CHOOSING_UNIT = "choosing_unit"
SENDING_FILE = "sending_file"

END = ConversationHandler.END
CONVERSATION = "roster_import"
# The problems listed in the chat; the report file has them all.
ERRORS_SHOWN = 5
# A row's problems as shown in the chat (a phone shared by a thousand rows names them all): the
# rest is in the report file, and the message stays under Telegram's 4,096 characters.
PROBLEMS_SHOWN_CHARS = 300
UNIT_KEY = "roster_unit_id"

State = int | str


def _plain(context: UnionContext) -> model.Translate:
    """Text for the report file: the official's language, without HTML escaping."""
    return lambda key, **params: html.unescape(context.t(key, **params))


async def _ask_file(update: Update, context: UnionContext, unit: OrgUnit | None) -> State:
    """Remembers where code-less rows go; asks for the file."""
    context.user_data[UNIT_KEY] = unit.id if unit is not None else 0  # type: ignore[index]
    await context.remember_state(CONVERSATION, update, SENDING_FILE)
    where = (
        context.t("roster.default_unit", unit=unit.name)
        if unit is not None
        else context.t("roster.no_default_unit")
    )
    await common.reply(
        update, f"{context.t('roster.ask_file', limit=model.MAX_UPLOAD_MB)}\n\n{where}"
    )
    return SENDING_FILE


async def start(update: Update, context: UnionContext) -> State:
    """/import (officials): asks which union code-less rows go to if there is a choice, else
    for the file; on Zalo says to use Telegram or the CLI."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            require_official(actor)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        if context.channel == Channel.ZALO:
            await session.commit()
            await common.reply(update, context.t("roster.zalo_unavailable"))
            return END
        units, only = await model.default_unit_choices(session, actor)
        await session.commit()
    if only is not None or not units:
        return await _ask_file(update, context, only)
    return await _ask_unit(update, context, units)


async def _ask_unit(update: Update, context: UnionContext, units: list[OrgUnit]) -> State:
    rows = [[(unit.name, f"ros:unit:{unit.id}")] for unit in units]
    rows.append([(context.t("roster.every_row_has_unit"), "ros:unit:0")])
    await context.remember_state(CONVERSATION, update, CHOOSING_UNIT)
    await common.reply(update, context.t("roster.ask_unit"), reply_markup=common.keyboard(rows))
    return CHOOSING_UNIT


async def chose_unit(update: Update, context: UnionContext) -> State:
    """Stores the union for code-less rows (checked against the official's scope); asks for
    the file."""
    query = update.callback_query
    assert query is not None and query.data is not None
    unit_id = int(query.data.rsplit(":", 1)[1])
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            unit = await model.chosen_default_unit(session, actor, unit_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return CHOOSING_UNIT
        await session.commit()
    await query.answer()
    await _close(query)
    return await _ask_file(update, context, unit)


async def unit_expected(update: Update, context: UnionContext) -> State:
    """Text while the union is being chosen: the choice again."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        units, _ = await model.default_unit_choices(session, actor)
        await session.commit()
    return await _ask_unit(update, context, units)


async def received_file(update: Update, context: UnionContext) -> State:
    """Checks and imports the roster; with problems, sends the report and offers the valid
    rows (the upload is kept for that). A file that cannot be a roster: asks for another."""
    message = update.effective_message
    assert message is not None and message.document is not None
    document = message.document
    filename = document.file_name or "roster"
    try:
        model.check_upload(filename=filename, size=document.file_size)
    except DomainError as error:
        await common.refuse(update, context, error)
        return SENDING_FILE
    await message.chat.send_action(ChatAction.TYPING)
    content = bytes(await (await document.get_file()).download_as_bytearray())
    unit_id = (context.user_data or {}).get(UNIT_KEY)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            require_official(actor)
            unit = await model.chosen_default_unit(session, actor, unit_id)
            result = await model.import_roster(
                session, actor, filename=filename, content=content, default_unit=unit
            )
        except InvalidInput as error:  # the whole file: another one may do
            await session.rollback()
            await common.refuse(update, context, error)
            return SENDING_FILE
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        if result.imported:
            await session.commit()
            await common.reply(update, _done_text(context, result))
            return END
        pending = None  # nothing was imported; the upload is kept for the official's choice
        if result.valid:
            pending = await model.keep_upload(
                session, identity=actor.identity, filename=filename, content=content, unit=unit
            )
        await session.commit()
    await _send_problems(update, context, result, pending)
    return END


def _shortened(text: str, limit: int = PROBLEMS_SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _done_text(context: UnionContext, result: model.ImportResult) -> str:
    counts = {
        "file": result.filename,
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
    }
    if result.bad_rows:
        return context.t("roster.done_skipped", skipped=len(result.bad_rows), **counts)
    return context.t("roster.done", total=result.total, **counts)


async def _send_problems(
    update: Update,
    context: UnionContext,
    result: model.ImportResult,
    pending: model.PendingImport | None,
) -> None:
    """The report file, then the first problems and the choice."""
    assert update.effective_chat is not None
    report = await asyncio.to_thread(model.error_report, result, _plain(context))
    await update.effective_chat.send_document(
        document=report,
        filename=model.report_name(result.filename),
        caption=context.t("roster.report_caption", file=result.filename),
    )
    lines = [
        context.t(
            "roster.has_errors", file=result.filename, bad=len(result.bad_rows), total=result.total
        )
    ]
    lines += [
        context.t(
            "roster.error_line",
            row=row.number,
            problems=_shortened(model.describe(row.problems, _plain(context))),
        )
        for row in result.bad_rows[:ERRORS_SHOWN]
    ]
    if len(result.bad_rows) > ERRORS_SHOWN:
        lines.append(context.t("roster.more_errors", count=len(result.bad_rows) - ERRORS_SHOWN))
    if pending is None:
        await common.reply(update, "\n".join([*lines, "", context.t("roster.none_valid")]))
        return
    lines += ["", context.t("roster.choose_valid", valid=result.valid)]
    buttons = common.keyboard(
        [
            [(context.t("roster.import_valid", count=result.valid), f"ros:valid:{pending.id}")],
            [(context.t("common.cancel"), f"ros:cancel:{pending.id}")],
        ]
    )
    await common.reply(update, "\n".join(lines), reply_markup=buttons)


@common.refuses_text
async def file_expected(update: Update, context: UnionContext) -> State:
    """Anything but a document while the file is awaited: asks for the file again."""
    await common.reply(update, context.t("roster.send_a_file"))
    return SENDING_FILE


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(UNIT_KEY, None)


async def cancel(update: Update, context: UnionContext) -> State:
    """/cancel: leaves the import; nothing was changed."""
    _forget(context)
    await common.reply(update, context.t("roster.cancelled"))
    return END


# --- the choice after a report (buttons that work from any message) ---------------------------


async def _close(query: CallbackQuery) -> None:
    """Removes the buttons of an answered question, so it cannot be answered twice."""
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        log.debug("question message could not be closed")


async def imported_valid(update: Update, context: UnionContext) -> None:
    """Imports the valid rows of the kept upload the button names (the official's own)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    pending_id = int(query.data.rsplit(":", 1)[1])
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            require_official(actor)
            pending = await model.pending_upload(session, actor, pending_id)
            result = await model.import_pending(session, actor, pending=pending)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    await query.answer()
    await _close(query)
    await common.reply(update, _done_text(context, result))


async def cancelled_upload(update: Update, context: UnionContext) -> None:
    """Forgets the kept upload the button names (the official's own); nothing is imported."""
    query = update.callback_query
    assert query is not None and query.data is not None
    pending_id = int(query.data.rsplit(":", 1)[1])
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            pending = await model.pending_upload(session, actor, pending_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await model.drop_upload(session, pending=pending)
        await session.commit()
    await query.answer()
    await _close(query)
    await common.reply(update, context.t("roster.cancelled"))


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """/import's two questions, persisted across restarts."""
    return common.persistent_conversation(
        CONVERSATION,
        allow_reentry=True,
        entry_points=[CommandHandler("import", start)],
        states={
            CHOOSING_UNIT: [
                CallbackQueryHandler(chose_unit, pattern=r"^ros:unit:\d{1,12}$"),
                MessageHandler(~filters.COMMAND, unit_expected),
            ],
            SENDING_FILE: [
                MessageHandler(filters.Document.ALL, received_file),
                MessageHandler(~filters.COMMAND, file_expected),
            ],
        },
        fallbacks=[CommandHandler("cancel", cancel), common.other_command_leaves(_forget)],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        conversation(),
        CallbackQueryHandler(imported_valid, pattern=r"^ros:valid:\d{1,12}$"),
        CallbackQueryHandler(cancelled_upload, pattern=r"^ros:cancel:\d{1,12}$"),
    ]
