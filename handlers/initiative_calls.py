"""The initiative call's deadline (hạn nộp sáng kiến), set by an official from the
/initiative stats screen.

"📅 Hạn nộp sáng kiến" (inc:o) shows the current deadline of the official's unit for this school
year and asks for a new one, typed "dd/mm/yyyy" (the end of that day) or "dd/mm/yyyy HH:MM"
(local time). models.initiative_calls checks the right (RUN_REVIEW on the unit) and that the
deadline is in the future; a date that cannot be used is explained and asked again, nothing
changed. The question is a persisted state: it survives a restart. Its reminders follow the
deadline (models/reminders.py).
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import UnionContext
from handlers import common
from handlers.reminders import run_lines
from models import initiative_calls as model
from models import reminders
from models.access import require_official
from models.base import utcnow
from models.errors import DomainError, InvalidInput
from models.movement_admin import parse_local_datetime
from models.movements import school_year_of

log = logging.getLogger(__name__)

CONVERSATION = "initiative_calls"
TYPING_DEADLINE = "typing_deadline"
END = ConversationHandler.END
ASK = "inc:o"


async def asked_deadline(update: Update, context: UnionContext) -> object:
    """The current deadline of the official's unit for this school year, and the question."""
    tz = context.services.settings.tz
    year = school_year_of(utcnow(), tz)
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            unit, call = await model.own_call(session, actor, year)
            figures = (
                await reminders.latest_figures(session, "initiative_call", call.id)  # type: ignore[arg-type]
                if call is not None else []
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse_tap(update, context, error)
            return END
    current = (
        context.t("inc.current", year=year, unit=unit.name,
                  deadline=context.local_time(call.deadline))
        if call is not None else context.t("inc.none", year=year, unit=unit.name)
    )
    if figures:  # what its reminders achieved so far
        current += "\n\n" + "\n".join(run_lines(context, stats) for stats in figures)
    await context.remember_state(CONVERSATION, update, TYPING_DEADLINE)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.reply(update, f"{current}\n\n{context.t('inc.ask')}")
    return TYPING_DEADLINE


async def received_deadline(update: Update, context: UnionContext) -> object:
    """Sets the deadline typed; one that cannot be used is explained and asked again."""
    text = update.effective_message.text if update.effective_message else ""
    tz = context.services.settings.tz
    now = utcnow()
    year = school_year_of(now, tz)
    async with context.session() as session:
        try:
            actor = await context.actor(session, update)
            require_official(actor)
            unit, _ = await model.own_call(session, actor, year)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        try:
            deadline = parse_local_datetime(text, tz, end_of_day=True)
            call = await model.set_call(session, actor, unit, year, deadline, now)
        except InvalidInput as error:
            await session.rollback()
            reason = context.t(f"error.{error.code}", **error.params)
            await context.remember_state(CONVERSATION, update, TYPING_DEADLINE)
            await common.reply(update, f"{reason}\n\n{context.t('inc.ask')}")
            return TYPING_DEADLINE
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        await session.commit()
        log.info("initiative call %s set by member %s", call.id, actor.member_id)
    await common.reply(update, context.t(
        "inc.saved", year=year, unit=unit.name, deadline=context.local_time(call.deadline)
    ))
    return END


async def cancel(update: Update, context: UnionContext) -> object:
    await common.reply(update, context.t("inc.cancelled"))
    return END


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    entries: list[BaseHandler] = [  # type: ignore[type-arg]
        CallbackQueryHandler(asked_deadline, pattern=rf"^{ASK}$"),
    ]
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=entries,
        states={
            TYPING_DEADLINE: [MessageHandler(filters.TEXT & ~filters.COMMAND, received_deadline)],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            *entries,
            common.other_button_leaves("inc:"),
            MessageHandler(~filters.TEXT & ~filters.COMMAND, common.says("inc.type_the_answer")),
            common.other_command_leaves(),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [conversation()]
