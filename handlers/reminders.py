"""/reminders: a member's own reminders (what is coming, a kind muted, quiet hours); and for the
officials who run a movement, the days before its deadlines its reminders go and what each of
its reminders achieved (how many it reached, how many then acted).

The member's side: /reminders shows the reminders that will reach them, soonest first
(models.reminders.upcoming_for), each kind muted or not, and their quiet hours; a tap mutes or
unmutes a kind; "quiet hours" asks them to type new ones ("21:00-06:30", or 0 for none), asked
again after an answer that cannot be used, nothing changed.

The officials' side is reached from /movement: the movement's edit menu has "⏰ Nhắc hạn: 7, 3,
1 ngày trước" (rmd:o) to type new days ("7 3 1", or 0 for none), and its card "⏰ Lời nhắc"
(rmd:f) lists its reminders with their figures. Both ask models.reminders, which asks
models.access (RUN_MOVEMENT on the movement's owner unit) on every tap, so a forged id of
another district's movement is refused, logged, and changes nothing.

Payloads ("rmd:"): t:<category> mute/unmute, q quiet hours, h back to /reminders,
o:<movement id> the offsets question, f:<movement id> the figures. Anything else is a stale
button.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Update
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
from models import movement_admin as admin
from models import reminders
from models.access import Actor
from models.base import utcnow
from models.errors import DomainError, InvalidInput, NotFound
from models.members import Member, member_of
from models.reminders import Category, RunStatus

log = logging.getLogger(__name__)

# What the bot is waiting for.
TYPING_QUIET_HOURS = "typing_quiet_hours"
TYPING_OFFSETS = "typing_offsets"

END = ConversationHandler.END
CONVERSATION = "reminders"
# The movement whose offsets are being typed: in user_data, persisted.
OFFSETS_OF = "reminders_offsets_movement"
# Telegram takes 4,096 characters; a longer list is cut with "and N more".
SCREEN_MAX_CHARS = 3900

ID = r"\d{1,12}"
CATEGORIES = "|".join(c.value for c in Category)

CATEGORY_LABELS = {
    Category.REGISTRATION: "rmd.category_registration",
    Category.SELF_ASSESSMENT: "rmd.category_self_assessment",
    Category.SCORING: "rmd.category_scoring",
    Category.INITIATIVE_CALL: "rmd.category_initiative_call",
    Category.EVENT: "rmd.category_event",
}
ITEM_LINES = {
    Category.REGISTRATION: "rmd.item_registration",
    Category.SELF_ASSESSMENT: "rmd.item_self_assessment",
    Category.SCORING: "rmd.item_scoring",
    Category.EVENT: "rmd.item_event",
    Category.INITIATIVE_CALL: "rmd.item_initiative_call",
}
ACTED = {
    Category.REGISTRATION: "rmd.acted_registration",
    Category.SELF_ASSESSMENT: "rmd.acted_self_assessment",
    Category.SCORING: "rmd.acted_scoring",
    Category.INITIATIVE_CALL: "rmd.acted_initiative_call",
}
SKIP_REASONS = {
    "late": "rmd.reason_late",
    "superseded": "rmd.reason_superseded",
    "moved": "rmd.reason_moved",
    "gone": "rmd.reason_gone",
}

State = str | int
Screen = tuple[str, InlineKeyboardMarkup | None]


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(OFFSETS_OF, None)


def _fit(lines: list[str], tail: list[str], more_key: str, context: UnionContext) -> str:
    """`lines` then `tail`, the last of `lines` dropped (and counted) until it fits."""
    dropped = 0
    while True:
        shown = lines[: len(lines) - dropped] if dropped else lines
        extra = [context.t(more_key, count=dropped)] if dropped else []
        text = "\n".join([*shown, *extra, *tail])
        if len(text) <= SCREEN_MAX_CHARS or dropped >= len(lines):
            return text
        dropped += 1


async def _put(update: Update, context: UnionContext, state: State, screen: Screen) -> State:
    """Shows a screen (in place of a tapped message, else anew), its state stored first."""
    if state != END:
        await context.remember_state(CONVERSATION, update, state)
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, screen[0], screen[1])
    return state


# --- the member's reminders ----------------------------------------------------------------------


def _quiet_words(context: UnionContext, start: str, end: str) -> str:
    if start == end:
        return context.t("rmd.quiet_none")
    return context.t("rmd.quiet_span", start=start, end=end)


def _item_lines(context: UnionContext, item: reminders.Upcoming) -> list[str]:
    if item.deadline is not None:
        head = context.t(ITEM_LINES[Category(item.category)], name=item.title,
                         deadline=context.local_time(item.deadline))
    else:
        head = context.t(ITEM_LINES[Category(item.category)], name=item.title)
    if item.muted:
        return [head, context.t("rmd.item_muted")]
    if item.next_at is None:
        return [head, context.t("rmd.item_no_more")]
    if item.arrives_at is not None and item.arrives_at != item.next_at:
        return [head, context.t("rmd.item_next_held", at=context.local_time(item.next_at),
                                arrives=context.local_time(item.arrives_at))]
    return [head, context.t("rmd.item_next", at=context.local_time(item.next_at))]


async def _member_screen(
    session: AsyncSession, context: UnionContext, member: Member, notice: str | None = None
) -> Screen:
    """What is coming, the quiet hours, and a button per kind to mute or unmute it."""
    settings = context.services.settings
    items = await reminders.upcoming_for(
        session, member, utcnow(), settings.tz, admin_telegram_ids=settings.admin_telegram_ids
    )
    preference = await reminders.preference_of(session, member.id)  # type: ignore[arg-type]
    head = [notice, ""] if notice else []
    head += [context.t("rmd.title"), "", context.t("rmd.coming")]
    body: list[str] = []
    for item in items:
        body.append("\n".join(_item_lines(context, item)))
    if not items:
        body.append(context.t("rmd.nothing_coming"))
    tail = ["", context.t(
        "rmd.quiet_line", quiet=_quiet_words(context, preference.quiet_start, preference.quiet_end)
    )]
    muted = set(preference.muted)
    if muted:
        names = ", ".join(context.t(CATEGORY_LABELS[c]) for c in Category if c in muted)
        tail.append(context.t("rmd.muted_line", kinds=names))
    tail += ["", context.t("rmd.hint")]
    text = "\n".join(head) + "\n" + _fit(body, tail, "rmd.more_items", context)
    rows = []
    for category in Category:
        key = "rmd.toggle_off" if category in muted else "rmd.toggle_on"
        rows.append([(context.t(key, kind=context.t(CATEGORY_LABELS[category])),
                      f"rmd:t:{category.value}")])
    rows.append([(context.t("rmd.quiet_button"), "rmd:q")])
    return text, common.keyboard(rows)


async def _the_member(session: AsyncSession, context: UnionContext, update: Update) -> Member:
    return reminders.member_for_reminders(
        await member_of(session, await context.identity(session, update))
    )


async def show_reminders(update: Update, context: UnionContext) -> State:
    """/reminders: what is coming, the kinds muted, the quiet hours."""
    _forget(context)
    async with context.session() as session:
        try:
            member = await _the_member(session, context, update)
            screen = await _member_screen(session, context, member)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        await session.commit()
    return await _put(update, context, END, screen)


async def showed_reminders(update: Update, context: UnionContext) -> State:
    """Back to the member's reminders, in place."""
    return await _member_tap(update, context, lambda session, member: _member_screen(
        session, context, member
    ))


async def _member_tap(update: Update, context: UnionContext, step: Any) -> State:
    _forget(context)
    async with context.session() as session:
        try:
            member = await _the_member(session, context, update)
            screen = await step(session, member)
        except DomainError as error:
            await session.rollback()
            await common.refuse_tap(update, context, error)
            return END
        await session.commit()
    return await _put(update, context, END, screen)


async def toggled_category(update: Update, context: UnionContext) -> State:
    """Mutes a kind of reminder, or unmutes it; shows the reminders again."""
    assert update.callback_query is not None and update.callback_query.data is not None
    category = update.callback_query.data.split(":")[2]

    async def step(session: AsyncSession, member: Member) -> Screen:
        preference = await reminders.preference_of(session, member.id)  # type: ignore[arg-type]
        muting = category not in preference.muted
        await reminders.set_muted(session, member.id, category, muting,  # type: ignore[arg-type]
                                  now=utcnow())
        key = "rmd.muted" if muting else "rmd.unmuted"
        notice = context.t(key, kind=context.t(CATEGORY_LABELS[Category(category)]))
        return await _member_screen(session, context, member, notice)

    return await _member_tap(update, context, step)


def _quiet_question(context: UnionContext, preference: reminders.ReminderPreference) -> Screen:
    text = context.t(
        "rmd.ask_quiet", quiet=_quiet_words(context, preference.quiet_start, preference.quiet_end)
    )
    return text, common.keyboard([[(context.t("common.back"), "rmd:h")]])


async def asked_quiet_hours(update: Update, context: UnionContext) -> State:
    """Asks the member to type their quiet hours."""
    _forget(context)
    async with context.session() as session:
        try:
            member = await _the_member(session, context, update)
            preference = await reminders.preference_of(session, member.id)  # type: ignore[arg-type]
        except DomainError as error:
            await session.rollback()
            await common.refuse_tap(update, context, error)
            return END
    return await _put(update, context, TYPING_QUIET_HOURS, _quiet_question(context, preference))


async def received_quiet_hours(update: Update, context: UnionContext) -> State:
    """Stores the quiet hours typed and shows the reminders; an answer that cannot be used is
    explained and asked again."""
    text = update.effective_message.text if update.effective_message else ""
    async with context.session() as session:
        try:
            member = await _the_member(session, context, update)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        preference = await reminders.preference_of(session, member.id)  # type: ignore[arg-type]
        try:
            start, end = reminders.parse_quiet_hours(text)
        except InvalidInput as error:
            reason = context.t(f"error.{error.code}", **error.params)
            question, markup = _quiet_question(context, preference)
            await context.remember_state(CONVERSATION, update, TYPING_QUIET_HOURS)
            await common.reply(update, f"{reason}\n\n{question}", reply_markup=markup)
            return TYPING_QUIET_HOURS
        await reminders.set_quiet_hours(session, member.id, start, end,  # type: ignore[arg-type]
                                        now=utcnow())
        notice = context.t("rmd.quiet_saved", quiet=_quiet_words(context, start, end))
        screen = await _member_screen(session, context, member, notice)
        await session.commit()
    return await _put(update, context, END, screen)


# --- a movement's reminders, for the officials who run it ----------------------------------------


def offsets_words(context: UnionContext, offsets: list[int] | None) -> str:
    """"7, 3, 1 ngày trước hạn", or "không nhắc"."""
    days = reminders.clean_offsets(offsets)
    if not days:
        return context.t("rmd.offsets_none")
    return context.t("rmd.offsets_days", days=", ".join(str(day) for day in days))


def offsets_button(
    context: UnionContext, movement_id: int, offsets: list[int] | None
) -> tuple[str, str]:
    """The edit menu's item for the reminder days (handlers/movement_admin.py shows it)."""
    label = context.t("rmd.offsets_button", days=offsets_words(context, offsets))
    return label, f"rmd:o:{movement_id}"


def figures_button(context: UnionContext, movement_id: int) -> tuple[str, str]:
    """The movement card's button to its reminders' figures."""
    return context.t("rmd.figures_button"), f"rmd:f:{movement_id}"


def _offsets_question(context: UnionContext, movement_id: int, name: str,
                      offsets: list[int] | None) -> Screen:
    text = context.t("rmd.ask_offsets", name=name, days=offsets_words(context, offsets))
    return text, common.keyboard([[(context.t("common.back"), f"mva:m:{movement_id}")]])


async def _asked_offsets(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """Asks the official to type the days before each deadline the movement's reminders go."""
    movement = await admin.movement_to_run(session, actor, movement_id=int(parts[0]))
    admin.ensure_editable(movement)
    context.user_data[OFFSETS_OF] = movement.id  # type: ignore[index]
    screen = _offsets_question(context, movement.id, movement.name,  # type: ignore[arg-type]
                               movement.reminder_offsets)
    return await _put(update, context, TYPING_OFFSETS, screen)


asked_offsets = common.official_tap(_asked_offsets)


async def received_offsets(update: Update, context: UnionContext) -> State:
    """Stores the days typed ("7 3 1", 0 for none) and shows the movement's card; an answer
    that cannot be used is explained and asked again."""
    text = update.effective_message.text if update.effective_message else ""
    movement_id = (context.user_data or {}).get(OFFSETS_OF)
    async with context.session() as session:
        try:
            if movement_id is None:
                raise NotFound("reminders_offsets_gone")
            actor = await context.actor(session, update)
            movement = await admin.movement_to_run(session, actor, movement_id=int(movement_id))
            try:
                offsets = reminders.parse_offsets(text)
            except InvalidInput as error:
                reason = context.t(f"error.{error.code}", **error.params)
                question, markup = _offsets_question(
                    context, movement.id, movement.name,  # type: ignore[arg-type]
                    movement.reminder_offsets,
                )
                await context.remember_state(CONVERSATION, update, TYPING_OFFSETS)
                await common.reply(update, f"{reason}\n\n{question}", reply_markup=markup)
                return TYPING_OFFSETS
            await reminders.set_offsets(session, actor, movement, offsets, now=utcnow())
            notice = context.t("rmd.offsets_saved", days=offsets_words(context, offsets))
            # Imported here: handlers/movement_admin.py imports this module for its buttons.
            from handlers.movement_admin import card_screen

            screen = await card_screen(session, context, actor, movement, notice)
            await session.commit()
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            _forget(context)
            return END
    _forget(context)
    return await _put(update, context, END, screen)


def run_lines(context: UnionContext, stats: reminders.RunStats) -> str:
    run = stats.run
    lines = [context.t(
        "rmd.run_head", at=context.local_time(run.due_at),
        kind=context.t(CATEGORY_LABELS[Category(run.category)]),
    )]
    if run.status == RunStatus.SKIPPED:
        reason = SKIP_REASONS.get(run.reason or "", "rmd.reason_other")
        lines.append(context.t("rmd.run_skipped", reason=context.t(reason)))
        return "\n".join(lines)
    status = "rmd.run_sent" if run.status == RunStatus.SENT else "rmd.run_sending"
    lines.append(context.t(status, queued=run.queued, reached=stats.reached))
    if stats.acted is not None and run.category in ACTED:
        lines.append(context.t(ACTED[Category(run.category)], acted=stats.acted,
                               reached=stats.reached))
    return "\n".join(lines)


async def _showed_figures(
    update: Update, context: UnionContext, session: AsyncSession, actor: Actor, parts: list[str]
) -> State:
    """A movement's reminders: when each went, what it was, how many it reached and how many
    then acted."""
    _forget(context)
    movement, figures = await reminders.movement_reminder_figures(
        session, actor, int(parts[0])
    )
    head = [context.t("rmd.figures_title", name=movement.name,
                      days=offsets_words(context, movement.reminder_offsets)), ""]
    body = [run_lines(context, stats) for stats in reversed(figures)]  # latest first
    if not figures:
        body = [context.t("rmd.figures_none")]
    text = "\n".join(head) + "\n" + _fit(body, ["", context.t("rmd.figures_note")],
                                         "rmd.more_runs", context)
    rows = [
        [(context.t("rmd.refresh"), f"rmd:f:{movement.id}")],
        [(context.t("common.back"), f"mva:m:{movement.id}")],
    ]
    return await _put(update, context, END, (text, common.keyboard(rows)))


showed_figures = common.official_tap(_showed_figures)


# --- leaving -------------------------------------------------------------------------------------


async def cancel(update: Update, context: UnionContext) -> State:
    """/cancel while quiet hours or reminder days are asked: nothing changed."""
    _forget(context)
    await common.reply(update, context.t("rmd.cancelled"))
    return END


async def stale_button(update: Update, context: UnionContext) -> None:
    """A "rmd:" payload that fits no button (an old version, or forged): refused."""
    assert update.callback_query is not None
    log.info("unknown reminders button from user %s",
             update.effective_user.id if update.effective_user else None)
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)


def _entries() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CommandHandler("reminders", show_reminders),
        CallbackQueryHandler(toggled_category, pattern=rf"^rmd:t:({CATEGORIES})$"),
        CallbackQueryHandler(asked_quiet_hours, pattern=r"^rmd:q$"),
        CallbackQueryHandler(showed_reminders, pattern=r"^rmd:h$"),
        CallbackQueryHandler(asked_offsets, pattern=rf"^rmd:o:{ID}$"),
        CallbackQueryHandler(showed_figures, pattern=rf"^rmd:f:{ID}$"),
        CallbackQueryHandler(stale_button, pattern=r"^rmd:"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """/reminders and the "rmd:" buttons; the typed answers are states persisted across
    restarts."""
    text = filters.TEXT & ~filters.COMMAND
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=_entries(),
        states={
            TYPING_QUIET_HOURS: [MessageHandler(text, received_quiet_hours)],
            TYPING_OFFSETS: [MessageHandler(text, received_offsets)],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            *_entries(),
            common.other_button_leaves("rmd:", _forget),
            MessageHandler(~filters.TEXT & ~filters.COMMAND, common.says("rmd.type_the_answer")),
            common.other_command_leaves(_forget),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [conversation()]
