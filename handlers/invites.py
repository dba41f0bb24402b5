"""/invite: an official makes an invite link for a grassroots union in their scope (with an
expiry and, if they choose, approval at once), gets the link, its QR code and the code to type
to the Zalo bot; and lists or revokes the union's active invites.

Callback payloads start with "inv:" and carry ids only; every one is checked again with
models.access (through models.invites) before anything is shown or changed, so a forged payload
naming another unit is refused. Only the choice of the union is a conversation (it takes typed
searches); the later steps are buttons that work from any message.
"""

from __future__ import annotations

import io
from datetime import timedelta

import segno
from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import UnionContext
from handlers import common
from models import invites as model
from models.access import Actor
from models.base import fold
from models.errors import DomainError, InvalidInput
from models.members import Channel, Invite
from models.org import OrgUnit

# What the bot is waiting for.
CHOOSING_UNIT = "choosing_unit"

END = ConversationHandler.END
CONVERSATION = "invites"
UNITS_PER_PAGE = 8
# Invites listed per message: each has two buttons, and a message holds 4,096 characters.
INVITES_PER_PAGE = 8
SEARCH_MAX_CHARS = 100
# The expiries offered, in days (0: never).
EXPIRY_DAYS = (7, 30, 0)

State = int | str


# --- rendering -----------------------------------------------------------------------------------


def _expiry_text(context: UnionContext, invite: Invite) -> str:
    if invite.expires_at is None:
        return context.t("invites.no_expiry")
    return context.t("invites.valid_until", when=context.local_time(invite.expires_at))


def _approval_text(context: UnionContext, invite: Invite) -> str:
    return context.t("invites.auto_yes" if invite.auto_approve else "invites.auto_no")


def _telegram_link(context: UnionContext, code: str) -> str | None:
    """The t.me link of the Telegram bot (from Zalo too), or None without a Telegram bot."""
    telegram = context.services.bots.get(Channel.TELEGRAM)
    username = telegram.username if telegram is not None else None
    return f"https://t.me/{username}?start={code}" if username else None


def _qr_png(link: str) -> bytes:
    buffer = io.BytesIO()
    # A full QR code: phone cameras do not read Micro QR.
    segno.make(link, micro=False).save(buffer, kind="png", scale=8)
    return buffer.getvalue()


async def _send_invite(
    update: Update, context: UnionContext, invite: Invite, unit: OrgUnit
) -> None:
    """The link, the code for Zalo and (on Telegram) the QR code image of the link."""
    link = _telegram_link(context, invite.code)
    lines = [
        context.t(
            "invites.summary",
            unit=unit.name,
            expiry=_expiry_text(context, invite),
            approval=_approval_text(context, invite),
        )
    ]
    if link is not None:
        lines += ["", context.t("invites.link_line", link=link)]
    if Channel.ZALO in context.services.bots:
        lines += ["", context.t("invites.zalo_line", code=invite.code)]
    on_telegram = context.channel == Channel.TELEGRAM
    if link is not None and not on_telegram:
        # The Zalo bot cannot upload an image: the QR code is on Telegram.
        lines += ["", context.t("invites.qr_on_telegram")]
    await common.reply(update, "\n".join(lines))
    if link is not None and on_telegram:
        assert update.effective_chat is not None
        await update.effective_chat.send_photo(
            photo=_qr_png(link), caption=context.t("invites.qr_caption", unit=unit.name)
        )


async def _unit_screen(
    session: AsyncSession, context: UnionContext, actor: Actor, unit: OrgUnit
) -> tuple[str, InlineKeyboardMarkup]:
    """What can be done for one union: a new invite, its active invites."""
    active = await model.invites_of_unit(session, actor, unit=unit)
    rows = [[(context.t("invites.new_button"), f"inv:new:{unit.id}")]]
    if active:
        rows.append(
            [(context.t("invites.list_button", count=len(active)), f"inv:list:{unit.id}")]
        )
    text = context.t("invites.unit_menu", unit=unit.name, count=len(active))
    return text, common.keyboard(rows)


async def _unit_menu(
    session: AsyncSession, context: UnionContext, actor: Actor, parent_id: int, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of the units in the official's scope under `parent_id` (0: their top)."""
    offset = page * UNITS_PER_PAGE
    tops = await model.browse_scope(session, actor, parent_id=0, limit=2)
    # A single unit at the top (a district official's district) is opened at once: its level
    # is their top.
    single = tops.total == 1 and not tops.units[0].is_grassroots
    top_id = tops.units[0].id if single else 0
    if parent_id == 0:
        parent_id = top_id  # type: ignore[assignment]
    level = await model.browse_scope(
        session, actor, parent_id=parent_id, offset=offset, limit=UNITS_PER_PAGE
    )
    up_id = None if parent_id == top_id else level.up_id
    rows = [
        [
            (unit.name, f"inv:unit:{unit.id}")
            if unit.is_grassroots
            else (f"📂 {unit.name}", f"inv:open:{unit.id}:0")
        ]
        for unit in level.units
    ]
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"inv:open:{parent_id}:{page - 1}"))
    if offset + UNITS_PER_PAGE < level.total:
        pager.append((context.t("common.next"), f"inv:open:{parent_id}:{page + 1}"))
    if pager:
        rows.append(pager)
    if up_id is not None:
        rows.append([(context.t("common.up"), f"inv:open:{up_id}:0")])
    if level.parent is None:
        text = context.t("invites.ask_unit")
    else:
        text = context.t("invites.ask_unit_in", unit=level.parent.name)
    return text, common.keyboard(rows)


async def _answer_tap(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()


async def _show(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Replaces the tapped message's text and buttons (a new message after a command)."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, text, markup)


# --- the flow ------------------------------------------------------------------------------------


async def start(update: Update, context: UnionContext) -> State:
    """/invite: skips the choice of union when the official has one; else asks which."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            units, total = await model.grassroots_in_scope(session, actor, limit=2)
            if total == 1:
                text, markup = await _unit_screen(session, context, actor, units[0])
            elif total > 1:
                text, markup = await _unit_menu(session, context, actor, 0, 0)
        except DomainError as error:
            await session.commit()
            await common.refuse(update, context, error)
            return END
        await session.commit()
    if total == 0:
        await common.reply(update, context.t("invites.no_units"))
        return END
    if total == 1:
        await common.reply(update, text, reply_markup=markup)
        return END
    await context.remember_state(CONVERSATION, update, CHOOSING_UNIT)
    await common.reply(update, text, reply_markup=markup)
    return CHOOSING_UNIT


async def browsed_units(update: Update, context: UnionContext) -> State:
    """Shows another level or page of the official's units in place; the step stays."""
    parent_id, page = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            text, markup = await _unit_menu(session, context, actor, parent_id, page)
        except DomainError as error:
            await common.refuse(update, context, error)
            return CHOOSING_UNIT
    await _show(update, text, markup)
    return CHOOSING_UNIT


async def searched_units(update: Update, context: UnionContext) -> State:
    """Finds unions in the official's scope by part of their name; offers them as buttons."""
    text = (update.effective_message.text or "") if update.effective_message else ""
    if len(text) > SEARCH_MAX_CHARS or not fold(text):
        await common.refuse(update, context, InvalidInput("search_invalid", max=SEARCH_MAX_CHARS))
        return CHOOSING_UNIT
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            units = await model.search_in_scope(session, actor, text=text, limit=UNITS_PER_PAGE)
        except DomainError as error:
            await common.refuse(update, context, error)
            return END
    browse = [(context.t("invites.browse"), "inv:open:0:0")]
    rows = [[(unit.name, f"inv:unit:{unit.id}")] for unit in units]
    key = "invites.search_results" if units else "invites.search_none"
    await context.remember_state(CONVERSATION, update, CHOOSING_UNIT)
    await common.reply(
        update, context.t(key, query=text), reply_markup=common.keyboard([*rows, browse])
    )
    return CHOOSING_UNIT


async def chose_unit(update: Update, context: UnionContext) -> State:
    """Shows what can be done for the chosen union (new invite, active invites); the choice of
    union is over."""
    [unit_id] = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            unit = await model.invite_unit(session, actor, unit_id=unit_id)
            text, markup = await _unit_screen(session, context, actor, unit)
        except DomainError as error:
            await common.refuse(update, context, error)
            return END
    await _show(update, text, markup)
    return END


async def asked_new(update: Update, context: UnionContext) -> State:
    """Asks how long the new invite should work."""
    [unit_id] = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            unit = await model.invite_unit(session, actor, unit_id=unit_id)
        except DomainError as error:
            await common.refuse(update, context, error)
            return END
    labels = {7: "invites.expiry_7", 30: "invites.expiry_30", 0: "invites.expiry_never"}
    rows = [[(context.t(labels[days]), f"inv:exp:{unit.id}:{days}")] for days in EXPIRY_DAYS]
    rows.append([(context.t("common.back"), f"inv:unit:{unit.id}")])
    await _show(
        update, context.t("invites.ask_expiry", unit=unit.name), common.keyboard(rows)
    )
    return END


async def chose_expiry(update: Update, context: UnionContext) -> State:
    """Keeps the expiry in the next buttons; asks whether joining approves at once."""
    unit_id, days = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            if days not in EXPIRY_DAYS:
                raise InvalidInput("choice_invalid")
            unit = await model.invite_unit(session, actor, unit_id=unit_id)
        except DomainError as error:
            await common.refuse(update, context, error)
            return END
    rows = [
        [(context.t("invites.auto_yes_button"), f"inv:make:{unit.id}:{days}:1")],
        [(context.t("invites.auto_no_button"), f"inv:make:{unit.id}:{days}:0")],
        [(context.t("common.back"), f"inv:new:{unit.id}")],
    ]
    await _show(update, context.t("invites.ask_auto", unit=unit.name), common.keyboard(rows))
    return END


async def made_invite(update: Update, context: UnionContext) -> State:
    """Creates the invite; sends the link, the Zalo code and the QR code."""
    unit_id, days, auto = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            if days not in EXPIRY_DAYS or auto not in (0, 1):
                raise InvalidInput("choice_invalid")
            unit = await model.invite_unit(session, actor, unit_id=unit_id)
            invite = await model.new_invite(
                session,
                actor,
                unit=unit,
                expires_in=timedelta(days=days) if days else None,
                auto_approve=bool(auto),
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        await session.commit()
    query = update.callback_query
    assert query is not None
    await query.answer()
    # The question is answered: its buttons go, so one tap makes one invite.
    await query.edit_message_text(context.t("invites.making", unit=unit.name))
    await _send_invite(update, context, invite, unit)
    return END


async def listed_invites(update: Update, context: UnionContext) -> State:
    """Lists one page of the union's active invites, each with buttons to show it again or
    revoke it."""
    unit_id, *page = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            unit = await model.invite_unit(session, actor, unit_id=unit_id)
            text, markup = await _list(session, context, actor, unit, page[0] if page else 0)
        except DomainError as error:
            await common.refuse(update, context, error)
            return END
    await _show(update, text, markup)
    return END


async def _list(
    session: AsyncSession, context: UnionContext, actor: Actor, unit: OrgUnit, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of the active invites (the last one if `page` is past it)."""
    active = await model.invites_of_unit(session, actor, unit=unit)
    pages = max(1, -(-len(active) // INVITES_PER_PAGE))
    page = min(page, pages - 1)
    lines = [context.t("invites.list_title" if active else "invites.none_active", unit=unit.name)]
    if pages > 1:
        lines.append(context.t("invites.page", page=page + 1, pages=pages))
    rows = []
    for invite in active[page * INVITES_PER_PAGE : (page + 1) * INVITES_PER_PAGE]:
        lines.append(
            context.t(
                "invites.list_line",
                code=invite.code,
                expiry=_expiry_text(context, invite),
                approval=_approval_text(context, invite),
            )
        )
        rows.append([(context.t("invites.show_button", code=invite.code),
                      f"inv:show:{invite.id}")])
        rows.append([(context.t("invites.revoke_button", code=invite.code),
                      f"inv:rev:{invite.id}:{page}")])
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"inv:list:{unit.id}:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"inv:list:{unit.id}:{page + 1}"))
    if pager:
        rows.append(pager)
    rows.append([(context.t("common.back"), f"inv:unit:{unit.id}")])
    return "\n".join(lines), common.keyboard(rows)


async def showed_invite(update: Update, context: UnionContext) -> State:
    """Sends an active invite's link, code and QR code again, to share it anew."""
    [invite_id] = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            invite = await model.get_invite(session, actor, invite_id=invite_id)
            if not model.is_active(invite):
                raise InvalidInput("invite_not_active")
            unit = await model.invite_unit(session, actor, unit_id=invite.unit_id)
        except DomainError as error:
            await common.refuse(update, context, error)
            return END
    await _answer_tap(update)
    await _send_invite(update, context, invite, unit)
    return END


async def revoked_invite(update: Update, context: UnionContext) -> State:
    """Revokes the invite (people who joined with it stay); shows its page of the list again."""
    invite_id, *page = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            invite = await model.get_invite(session, actor, invite_id=invite_id)
            await model.revoke_invite(session, actor, invite=invite)
            unit = await session.get(OrgUnit, invite.unit_id)
            assert unit is not None
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        await session.commit()
        text, markup = await _list(session, context, actor, unit, page[0] if page else 0)
    query = update.callback_query
    assert query is not None
    await query.answer(context.t("invites.revoked", code=invite.code))
    await query.edit_message_text(text, reply_markup=markup)
    return END


async def cancel(update: Update, context: UnionContext) -> State:
    """Leaves the choice of union."""
    await common.reply(update, context.t("invites.cancelled"))
    return END


@common.refuses_text
async def unexpected_input(update: Update, context: UnionContext) -> State:
    """Not a name to search for (a photo, a sticker): says what is expected."""
    await common.reply(update, context.t("invites.unexpected"))
    return CHOOSING_UNIT


def _buttons() -> list[CallbackQueryHandler]:  # type: ignore[type-arg]
    """The steps after the choice of union: buttons that work from any message."""
    return [
        CallbackQueryHandler(chose_unit, pattern=r"^inv:unit:\d{1,12}$"),
        CallbackQueryHandler(asked_new, pattern=r"^inv:new:\d{1,12}$"),
        CallbackQueryHandler(chose_expiry, pattern=r"^inv:exp:\d{1,12}:\d{1,4}$"),
        CallbackQueryHandler(made_invite, pattern=r"^inv:make:\d{1,12}:\d{1,4}:\d$"),
        CallbackQueryHandler(listed_invites, pattern=r"^inv:list:\d{1,12}(:\d{1,6})?$"),
        CallbackQueryHandler(showed_invite, pattern=r"^inv:show:\d{1,12}$"),
        CallbackQueryHandler(revoked_invite, pattern=r"^inv:rev:\d{1,12}(:\d{1,6})?$"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """The choice of union, persisted across restarts (it takes typed searches)."""
    text = filters.TEXT & ~filters.COMMAND
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=[CommandHandler("invite", start)],
        states={
            CHOOSING_UNIT: [
                CallbackQueryHandler(browsed_units, pattern=r"^inv:open:\d{1,12}:\d{1,6}$"),
                MessageHandler(text, searched_units),
            ],
        },
        # Any later step's button also ends the choice (each returns END).
        fallbacks=[
            CommandHandler("cancel", cancel),
            CommandHandler("invite", start),
            *_buttons(),
            MessageHandler(~filters.COMMAND, unexpected_input),
            common.other_command_leaves(),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        conversation(),
        CallbackQueryHandler(browsed_units, pattern=r"^inv:open:\d{1,12}:\d{1,6}$"),
        *_buttons(),
    ]
