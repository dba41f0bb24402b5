"""/pending: the approval queue of an official's units. One message per page, oldest request
first, with an approve and a reject button per person and "approve all" (after a confirmation).
Rejecting asks for the reason as typed text, then to confirm; the member is told either way, in
their language, on their channel.

Callback payloads start with "apr:" and carry member ids; every decision is checked again by
models.approvals (scope, still pending), so a forged or stale payload is refused with an alert
and changes nothing.
"""

from __future__ import annotations

import logging

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
from bot.notify import Notice, queue_notices
from handlers import common
from handlers.onboarding import roster_record_label
from models import approvals as model
from models.access import Actor
from models.errors import DomainError
from models.members import Member
from models.org import OrgUnit
from models.outbox import Source

log = logging.getLogger(__name__)

# What the bot is waiting for.
TYPING_REASON = "typing_reason"
CONFIRMING_REJECTION = "confirming_rejection"

END = ConversationHandler.END
CONVERSATION = "approvals"
PER_PAGE = 5
# Where the member being rejected and the reason typed are kept between the steps.
REJECTING = "approvals_rejecting"
REJECT_PATTERN = r"^apr:no:\d{1,12}:\d{1,6}$"

State = int | str


# --- the queue -----------------------------------------------------------------------------------


async def _page(
    session: AsyncSession, context: UnionContext, actor: Actor, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and buttons of one page of the queue (the last page if `page` is past it)."""
    page = max(page, 0)
    shown = await model.pending_in_scope(
        session, actor, offset=page * PER_PAGE, limit=PER_PAGE
    )
    pages = max(1, -(-shown.total // PER_PAGE))
    if not shown.members and shown.total:
        page = pages - 1
        shown = await model.pending_in_scope(
            session, actor, offset=page * PER_PAGE, limit=PER_PAGE
        )
    if not shown.members:
        return context.t("approvals.none"), None
    lines = [context.t("approvals.title", total=shown.total, page=page + 1, pages=pages), ""]
    rows: list[list[tuple[str, str]]] = []
    for member, unit in shown.members:
        lines.append(
            context.t(
                "approvals.line",
                name=member.full_name,
                unit=unit.name,
                position=context.t(f"position.{member.position}"),
                when=context.local_time(member.created_at),
            )
        )
        claimed = shown.claims.get(member.id)  # type: ignore[arg-type]
        if claimed is not None:  # a typed phone and name: the official compares the two
            lines.append(context.t("approvals.claim_line", record=roster_record_label(claimed)))
        rows.append([(context.t("approvals.approve_button", name=member.full_name),
                      f"apr:ok:{member.id}:{page}")])
        rows.append([(context.t("approvals.reject_button", name=member.full_name),
                      f"apr:no:{member.id}:{page}")])
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"apr:page:{page - 1}"))
    if page + 1 < pages:
        pager.append((context.t("common.next"), f"apr:page:{page + 1}"))
    if pager:
        rows.append(pager)
    if shown.total > 1:
        rows.append([(context.t("approvals.approve_all_button", count=shown.total),
                      f"apr:all:{shown.newest_id}")])
    return "\n".join(lines), common.keyboard(rows)


async def show_pending(update: Update, context: UnionContext) -> State:
    """/pending: the first page of the queue."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            text, markup = await _page(session, context, actor, 0)
        except DomainError as error:
            await session.commit()
            await common.refuse(update, context, error)
            return END
        await session.commit()
    await common.reply(update, text, reply_markup=markup)
    return END


async def turned_page(update: Update, context: UnionContext) -> None:
    """Shows another page of the queue in place."""
    [page] = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            text, markup = await _page(session, context, actor, page)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    assert update.callback_query is not None
    await update.callback_query.answer()
    await common.show(update, text, markup)


async def _tell(context: UnionContext, session: AsyncSession, members: list[Member], key: str,
                **params: object) -> None:
    """Queues the decision's notice to each member (before the decision is committed)."""
    notices = []
    for member in members:
        unit = await session.get(OrgUnit, member.unit_id)
        notices.append(Notice(
            member, key, {"unit": unit.name if unit else "", **params},
            about=Source("member", member.id),
        ))
    await queue_notices(context.services, session, notices)


async def approved(update: Update, context: UnionContext) -> None:
    """Approves one member, tells them, and shows the queue again in place."""
    member_id, page = common.callback_ids(update)
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            pending = await model.member_to_decide(session, actor, member_id=member_id)
            # A roster claim comes back as the record the person is now linked to.
            member = await model.approve(session, actor, member=pending)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await _tell(context, session, [member], "notify.member_approved")
        await session.commit()
        context.services.wake_up()
        await query.answer(context.t("approvals.approved", name=member.full_name))
        text, markup = await _page(session, context, actor, page)
    await common.show(update, text, markup)


async def asked_all(update: Update, context: UnionContext) -> None:
    """Asks to confirm approving everyone waiting (those shown: up to the newest id)."""
    [newest_id] = common.callback_ids(update)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            count = await model.count_pending(session, actor, up_to_member_id=newest_id)
        except DomainError as error:
            await common.refuse(update, context, error)
            return
    assert update.callback_query is not None
    if count == 0:  # an old button: everyone was decided meanwhile
        await update.callback_query.answer(context.t("approvals.none"), show_alert=True)
        return
    await update.callback_query.answer()
    markup = common.keyboard(
        [
            [(context.t("approvals.approve_all_yes", count=count), f"apr:allyes:{newest_id}")],
            [(context.t("common.back"), "apr:page:0")],
        ]
    )
    await common.show(update, context.t("approvals.confirm_all", count=count), markup)


async def approved_all(update: Update, context: UnionContext) -> None:
    """Approves everyone waiting who was shown; tells each of them."""
    [newest_id] = common.callback_ids(update)
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            members = await model.approve_all(session, actor, up_to_member_id=newest_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        if not members:  # a second tap: the first approved them
            await query.answer(context.t("approvals.none"), show_alert=True)
            return
        await _tell(context, session, members, "notify.member_approved")
        await session.commit()
        context.services.wake_up()
        await query.answer()
        await common.show(update, context.t("approvals.approved_all", count=len(members)), None)
        text, markup = await _page(session, context, actor, 0)
    if markup is not None:  # more asked meanwhile
        await common.reply(update, text, reply_markup=markup)


# --- rejecting: the reason, then a confirmation --------------------------------------------------


async def asked_reason(update: Update, context: UnionContext) -> State:
    """Keeps who is being rejected; asks for the reason, as typed text."""
    member_id, _ = common.callback_ids(update)
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            member = await model.member_to_decide(session, actor, member_id=member_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        await session.commit()
    context.user_data[REJECTING] = {"member_id": member.id}  # type: ignore[index]
    await query.answer()
    await context.remember_state(CONVERSATION, update, TYPING_REASON)
    await common.reply(
        update, context.t("approvals.ask_reason", name=member.full_name, max=model.REASON_MAX)
    )
    return TYPING_REASON


async def received_reason(update: Update, context: UnionContext) -> State:
    """Keeps the reason; asks to confirm the rejection."""
    rejecting = (context.user_data or {}).get(REJECTING)
    text = update.effective_message.text if update.effective_message else None
    if not rejecting:
        await common.reply(update, context.t("common.stale_button"))
        return END
    try:
        reason = model.validate_reason(text)
    except DomainError as error:
        await common.refuse(update, context, error)
        return TYPING_REASON
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            member = await model.member_to_decide(
                session, actor, member_id=rejecting["member_id"]
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            context.user_data.pop(REJECTING, None)  # type: ignore[union-attr]
            return END
        await session.commit()
    rejecting["reason"] = reason
    markup = common.keyboard(
        [
            [(context.t("approvals.reject_yes"), f"apr:rejyes:{member.id}")],
            [(context.t("common.cancel"), "apr:rejno")],
        ]
    )
    await context.remember_state(CONVERSATION, update, CONFIRMING_REJECTION)
    await common.reply(
        update,
        context.t("approvals.confirm_reject", name=member.full_name, reason=reason),
        reply_markup=markup,
    )
    return CONFIRMING_REJECTION


async def rejected(update: Update, context: UnionContext) -> State:
    """Rejects the member with the reason typed; tells them, with the reason."""
    [member_id] = common.callback_ids(update)
    query = update.callback_query
    assert query is not None
    rejecting = (context.user_data or {}).get(REJECTING) or {}
    if rejecting.get("member_id") != member_id or not rejecting.get("reason"):
        await query.answer(context.t("common.stale_button"), show_alert=True)
        return CONFIRMING_REJECTION
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            member = await model.member_to_decide(session, actor, member_id=member_id)
            await model.reject(session, actor, member=member, reason=rejecting["reason"])
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            context.user_data.pop(REJECTING, None)  # type: ignore[union-attr]
            return END
        await _tell(
            context, session, [member], "notify.member_rejected", reason=member.status_reason
        )
        await session.commit()
        context.services.wake_up()
        context.user_data.pop(REJECTING, None)  # type: ignore[union-attr]
        await query.answer()
        await common.show(update, context.t("approvals.rejected", name=member.full_name), None)
    return END


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(REJECTING, None)


async def cancel(update: Update, context: UnionContext) -> State:
    """Leaves the rejection without deciding anything."""
    _forget(context)
    if update.callback_query is not None:
        await update.callback_query.answer()
        await common.show(update, context.t("approvals.reject_cancelled"), None)
    else:
        await common.reply(update, context.t("approvals.reject_cancelled"))
    return END


async def pending_instead(update: Update, context: UnionContext) -> State:
    """/pending while rejecting: the rejection is dropped, the queue shown."""
    if context.user_data is not None:
        context.user_data.pop(REJECTING, None)
    return await show_pending(update, context)


@common.refuses_text
async def unexpected_input(update: Update, context: UnionContext) -> State | None:
    """Something other than the typed reason (a photo, a sticker): asks for text."""
    await common.reply(update, context.t("approvals.type_reason"))
    return None


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """Rejecting one member: the reason, then the confirmation; persisted across restarts."""
    text = filters.TEXT & ~filters.COMMAND
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=[CallbackQueryHandler(asked_reason, pattern=REJECT_PATTERN)],
        states={
            TYPING_REASON: [MessageHandler(text, received_reason)],
            CONFIRMING_REJECTION: [
                CallbackQueryHandler(rejected, pattern=r"^apr:rejyes:\d{1,12}$"),
                # Typed again: the new reason replaces the first.
                MessageHandler(text, received_reason),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancel, pattern=r"^apr:rejno$"),
            CommandHandler("pending", pending_instead),
            # Reject someone else instead.
            CallbackQueryHandler(asked_reason, pattern=REJECT_PATTERN),
            MessageHandler(~filters.COMMAND, unexpected_input),
            common.other_command_leaves(_forget),
        ],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        conversation(),
        CommandHandler("pending", show_pending),
        CallbackQueryHandler(turned_page, pattern=r"^apr:page:\d{1,6}$"),
        CallbackQueryHandler(approved, pattern=r"^apr:ok:\d{1,12}:\d{1,6}$"),
        CallbackQueryHandler(asked_all, pattern=r"^apr:all:\d{1,12}$"),
        CallbackQueryHandler(approved_all, pattern=r"^apr:allyes:\d{1,12}$"),
    ]
