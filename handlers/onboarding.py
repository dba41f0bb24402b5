"""Joining the union, and editing one's profile: consent, name, union, position, gender, phone,
(when the phone matches a union's roster: "is this record yours?"), summary. Every answer is
saved as it is given (models/onboarding.py), so the flow survives a restart and a member can
leave and come back.

Callback payloads start with "onb:"; a payload that no longer fits the member's step (an old
message) or names something that does not exist (forged) is refused and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import (
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import UnionContext
from bot.notify import Localized, notify_identity
from handlers import common, language, linking
from models import onboarding as flow
from models.access import officials_to_notify
from models.base import fold
from models.errors import DomainError, InvalidInput, NotFound
from models.linking import set_preferred_channel
from models.members import (
    ConsentPurpose,
    Gender,
    Identity,
    Invite,
    Member,
    MemberStatus,
    Position,
    has_consent,
    identities_of,
    latest_consents,
    member_of,
    reachable_identity,
    record_consent,
    resolve_invite,
)
from models.onboarding import OnboardingDraft, Step
from models.org import OrgUnit, ancestors, get_unit, list_children, search_grassroots
from models.outbox import Source

log = logging.getLogger(__name__)

# What the bot is waiting for. The onboarding steps double as conversation states.
CONSENTING = "consent"
TYPING_NAME = Step.NAME
CHOOSING_UNIT = Step.UNIT
CHOOSING_POSITION = Step.POSITION
CHOOSING_GENDER = Step.GENDER
SHARING_PHONE = Step.PHONE
CONFIRMING_ROSTER = Step.ROSTER
CONFIRMING = Step.SUMMARY

END = ConversationHandler.END
CONVERSATION = "onboarding"
UNITS_PER_PAGE = 8
SEARCH_MAX_CHARS = 100
PREFER_PATTERN = r"^prof:prefer:(telegram|zalo)$"

State = str


# --- small rendering helpers ---------------------------------------------------------------------


async def _close_question(update: Update, context: UnionContext, chosen: str | None) -> None:
    """Answers the tap and removes the buttons from the question, showing what was chosen, so an
    answered question cannot be answered again."""
    query = update.callback_query
    assert query is not None and query.message is not None
    await query.answer()
    text = getattr(query.message, "text_html", None) or ""
    if chosen:
        text = f"{text}\n\n{context.t('onboarding.chosen', choice=chosen)}"
    try:
        await query.edit_message_text(text or context.t("onboarding.chosen", choice=chosen or ""))
    except TelegramError:
        # The question is already closed (a double tap): nothing to tidy up.
        log.debug("question message could not be closed")


def _position_label(context: UnionContext, value: str | None) -> str:
    return context.t(f"position.{value}") if value else "—"


def _gender_label(context: UnionContext, value: str | None) -> str:
    return context.t(f"gender.{value or Gender.UNDISCLOSED}")


def roster_record_label(record: Member) -> str:
    """A roster record as officials name it: its name, and its member code when it has one."""
    return f"{record.full_name} ({record.member_code})" if record.member_code else record.full_name


async def _unit_label(session: AsyncSession, unit: OrgUnit | None) -> str:
    if unit is None:
        return "—"
    chain = await ancestors(session, unit)
    return f"{unit.name} ({chain[0].name})" if chain else unit.name


# --- asking each step ----------------------------------------------------------------------------


async def send_welcome(update: Update, context: UnionContext) -> State:
    other = "en" if context.locale == "vi" else "vi"
    await context.remember_state(CONVERSATION, update, CONSENTING)
    await common.reply(
        update,
        context.t("onboarding.welcome"),
        reply_markup=common.keyboard(
            [
                [
                    (context.t("onboarding.consent_yes"), "onb:consent:yes"),
                    (context.t("onboarding.consent_no"), "onb:consent:no"),
                ],
                [(context.t(f"language.switch_to.{other}"), f"lang:{other}")],
            ]
        ),
    )
    return CONSENTING


async def _unit_menu(
    session: AsyncSession, context: UnionContext, parent_id: int, page: int
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of the organisation tree under `parent_id` (0: the top), as buttons."""
    parent = None if parent_id == 0 else await get_unit(session, parent_id)
    if parent_id != 0 and (parent is None or parent.is_grassroots):
        raise NotFound("unit_unavailable")
    units, total = await list_children(
        session,
        parent_id=parent.id if parent else None,
        offset=page * UNITS_PER_PAGE,
        limit=UNITS_PER_PAGE,
    )
    if page > 0 and not units:
        raise NotFound("unit_unavailable")
    rows = [
        [
            (unit.name, f"onb:unit:{unit.id}")
            if unit.is_grassroots
            else (f"📂 {unit.name}", f"onb:open:{unit.id}:0")
        ]
        for unit in units
    ]
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"onb:open:{parent_id}:{page - 1}"))
    if (page + 1) * UNITS_PER_PAGE < total:
        pager.append((context.t("common.next"), f"onb:open:{parent_id}:{page + 1}"))
    if pager:
        rows.append(pager)
    if parent is not None:
        rows.append([(context.t("common.up"), f"onb:open:{parent.parent_id or 0}:0")])
    if parent is None:
        text = context.t("onboarding.ask_unit")
    else:
        text = context.t("onboarding.ask_unit_in", unit=parent.name)
    return text, common.keyboard(rows)


async def ask(
    update: Update,
    context: UnionContext,
    session: AsyncSession,
    draft: OnboardingDraft,
    step: Step | None = None,
) -> State:
    """Asks the question of `step` (the draft's current step by default); returns its state."""
    step = Step(step or draft.step)
    await context.remember_state(CONVERSATION, update, step)
    if step is Step.NAME:
        await common.reply(
            update, context.t("onboarding.ask_name"), reply_markup=ReplyKeyboardRemove()
        )
    elif step is Step.UNIT:
        text, markup = await _unit_menu(session, context, 0, 0)
        await common.reply(update, text, reply_markup=markup)
    elif step is Step.POSITION:
        rows = [[(context.t(f"position.{p}"), f"onb:pos:{p}")] for p in Position]
        await common.reply(
            update, context.t("onboarding.ask_position"), reply_markup=common.keyboard(rows)
        )
    elif step is Step.GENDER:
        rows = [[(context.t(f"gender.{g}"), f"onb:gender:{g}")] for g in Gender]
        await common.reply(
            update, context.t("onboarding.ask_gender"), reply_markup=common.keyboard(rows)
        )
    elif step is Step.PHONE:
        markup = ReplyKeyboardMarkup(
            [
                [KeyboardButton(context.t("onboarding.share_phone"), request_contact=True)],
                [KeyboardButton(context.t("onboarding.skip"))],
            ],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
        await common.reply(update, context.t("onboarding.ask_phone"), reply_markup=markup)
    elif step is Step.ROSTER:
        await _ask_roster(update, context, session, draft)
    else:
        await _show_summary(update, context, session, draft)
    return step


async def _ask_roster(
    update: Update, context: UnionContext, session: AsyncSession, draft: OnboardingDraft
) -> None:
    # Removes the phone keyboard first, as the summary does; the model decides what may show.
    offer = await flow.roster_offer(session, draft)
    await common.reply(update, context.t("onboarding.thanks"), reply_markup=ReplyKeyboardRemove())
    if offer.unit is not None:
        text = context.t("onboarding.roster_ask_proven", unit=offer.unit.name, name=offer.name)
    else:
        text = context.t("onboarding.roster_ask_typed", name=offer.name)
    await common.reply(
        update,
        text,
        reply_markup=common.keyboard(
            [
                [(context.t("onboarding.roster_yes"), "onb:roster:yes")],
                [(context.t("onboarding.roster_no"), "onb:roster:no")],
            ]
        ),
    )


async def _summary_text(
    context: UnionContext, session: AsyncSession, draft: OnboardingDraft
) -> str:
    shown = await flow.preview(session, draft)
    text = context.t(
        "onboarding.summary" if draft.member_id is None else "profile.summary",
        name=shown.full_name or "—",
        unit=await _unit_label(session, shown.unit),
        position=_position_label(context, shown.position),
        gender=_gender_label(context, shown.gender),
        phone=shown.phone or context.t("onboarding.no_phone"),
    )
    if shown.roster_claim:  # a typed phone: nothing of the record, an official will check
        return f"{context.t('onboarding.roster_claim_note')}\n\n{text}"
    record = shown.roster_member
    if record is None:
        return text
    if record.member_code:
        note = context.t("onboarding.roster_joining_code", code=record.member_code)
    else:
        note = context.t("onboarding.roster_joining")
    return f"{note}\n\n{text}"


def _summary_keyboard(context: UnionContext, draft: OnboardingDraft) -> InlineKeyboardMarkup:
    confirm = "onboarding.confirm" if draft.member_id is None else "profile.save"
    return common.keyboard(
        [
            [(context.t(confirm), "onb:confirm"), (context.t("onboarding.edit"), "onb:edit")],
            [(context.t("common.cancel"), "onb:cancel")],
        ]
    )


def _fields_keyboard(
    context: UnionContext, steps: tuple[Step, ...] = flow.EDITABLE_STEPS
) -> InlineKeyboardMarkup:
    rows = [[(context.t(f"onboarding.field.{s}"), f"onb:field:{s}")] for s in steps]
    rows.append([(context.t("common.back"), "onb:summary")])
    return common.keyboard(rows)


async def _show_summary(
    update: Update, context: UnionContext, session: AsyncSession, draft: OnboardingDraft
) -> None:
    # Removes the phone keyboard if it is still up, then shows the summary with its buttons.
    await common.reply(update, context.t("onboarding.thanks"), reply_markup=ReplyKeyboardRemove())
    await common.reply(
        update,
        await _summary_text(context, session, draft),
        reply_markup=_summary_keyboard(context, draft),
    )


# --- the flow ------------------------------------------------------------------------------------


async def _pending_invite(session: AsyncSession, context: UnionContext) -> Invite | None:
    """The invite the person came with (`/start <code>` before consenting), used once."""
    code = context.user_data.pop("invite_code", None) if context.user_data is not None else None
    if not code:
        return None
    try:
        return await resolve_invite(session, code)
    except DomainError:
        return None  # expired meanwhile: they choose their union themselves


async def resume(update: Update, context: UnionContext) -> State:
    """Asks again whatever the person was last asked (welcome, a question, or the summary)."""
    async with context.session() as session:
        identity = await context.identity(session, update)
        draft = await flow.get_draft(session, identity)
        if draft is None and identity.member_id is not None:
            await session.commit()
            if context.user_data is not None:
                context.user_data.pop("invite_code", None)
            await common.reply(update, context.t("onboarding.already_member"))
            return END
        has_invite = bool((context.user_data or {}).get("invite_code"))
        if draft is None or (has_invite and identity.member_id is None):
            consent = ConsentPurpose.MEMBERSHIP
            if not await has_consent(session, identity=identity, purpose=consent):
                await session.commit()
                return await send_welcome(update, context)
            draft = await flow.start_onboarding(
                session, identity=identity, invite=await _pending_invite(session, context)
            )
        await session.commit()
        return await ask(update, context, session, draft)


async def start(update: Update, context: UnionContext) -> State:
    """Greets the person and asks for consent, or continues their unfinished joining.

    `/start <code>` (an invite link) presets their union."""
    code = context.args[0] if context.args else None
    if code:
        async with context.session() as session:
            try:
                await resolve_invite(session, code)
            except DomainError as error:
                await common.refuse(update, context, error)
            else:
                context.user_data["invite_code"] = code  # type: ignore[index]
    return await resume(update, context)


async def consented(update: Update, context: UnionContext) -> State:
    """Records the consent to keep membership data; asks for the full name."""
    await _close_question(update, context, context.t("onboarding.consent_yes"))
    async with context.session() as session:
        identity = await context.identity(session, update)
        if identity.member_id is not None:
            await session.commit()
            return END
        await record_consent(
            session,
            identity=identity,
            purpose=ConsentPurpose.MEMBERSHIP,
            granted=True,
            locale=context.locale,
        )
        draft = await flow.start_onboarding(
            session, identity=identity, invite=await _pending_invite(session, context)
        )
        await session.commit()
        return await ask(update, context, session, draft)


async def refused(update: Update, context: UnionContext) -> State:
    """Records the refusal, and nothing else; ends the flow."""
    await _close_question(update, context, context.t("onboarding.consent_no"))
    async with context.session() as session:
        identity = await context.identity(session, update)
        await record_consent(
            session,
            identity=identity,
            purpose=ConsentPurpose.MEMBERSHIP,
            granted=False,
            locale=context.locale,
        )
        await flow.discard_draft(session, identity=identity)
        await session.commit()
    if context.user_data is not None:
        context.user_data.pop("invite_code", None)
    await common.reply(update, context.t("onboarding.refused"))
    return END


Operation = Callable[[AsyncSession, OnboardingDraft, Identity], Awaitable[Step]]


async def _answer(
    update: Update, context: UnionContext, operation: Operation, chosen: str | None = None
) -> State:
    """Applies one answer to the draft and asks the next question; a refused answer changes
    nothing and keeps the person on the same question."""
    async with context.session() as session:
        identity = await context.identity(session, update)
        draft = await flow.get_draft(session, identity)
        if draft is None:
            # The draft is gone (cancelled elsewhere, or joined meanwhile): start over cleanly.
            await session.rollback()
            if update.callback_query is not None:
                await update.callback_query.answer(context.t("common.stale_button"))
            return await resume(update, context)
        current = draft.step
        try:
            step = await operation(session, draft, identity)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return current
        await session.commit()
        if update.callback_query is not None:
            await _close_question(update, context, chosen)
        return await ask(update, context, session, draft, step)


async def received_name(update: Update, context: UnionContext) -> State:
    """Stores the full name as typed; asks for the union."""
    text = update.effective_message.text if update.effective_message else None
    return await _answer(update, context, lambda s, d, _i: flow.answer_name(s, d, text))


async def browsed_units(update: Update, context: UnionContext) -> State:
    """Shows another level or page of the organisation tree in place; the step stays."""
    query = update.callback_query
    assert query is not None and query.data is not None
    _, _, parent, page = query.data.split(":")
    async with context.session() as session:
        try:
            text, markup = await _unit_menu(session, context, int(parent), int(page))
        except DomainError as error:
            await common.refuse(update, context, error)
            return CHOOSING_UNIT
    await query.answer()
    await query.edit_message_text(text, reply_markup=markup)
    return CHOOSING_UNIT


async def searched_units(update: Update, context: UnionContext) -> State:
    """Finds grassroots unions by part of their name, accents optional; offers them as buttons."""
    text = (update.effective_message.text or "") if update.effective_message else ""
    if len(text) > SEARCH_MAX_CHARS or not fold(text):
        await common.refuse(update, context, InvalidInput("search_invalid", max=SEARCH_MAX_CHARS))
        return CHOOSING_UNIT
    async with context.session() as session:
        units = await search_grassroots(session, text=text, limit=UNITS_PER_PAGE)
        labels = [await _unit_label(session, unit) for unit in units]
    browse = [(context.t("onboarding.browse"), "onb:open:0:0")]
    if not units:
        await common.reply(
            update,
            context.t("onboarding.search_none", query=text),
            reply_markup=common.keyboard([browse]),
        )
    else:
        rows = [[(label, f"onb:unit:{u.id}")] for u, label in zip(units, labels, strict=True)]
        await common.reply(
            update,
            context.t("onboarding.search_results", query=text),
            reply_markup=common.keyboard([*rows, browse]),
        )
    return CHOOSING_UNIT


async def chose_unit(update: Update, context: UnionContext) -> State:
    """Stores the grassroots union; asks for the position."""
    query = update.callback_query
    assert query is not None and query.data is not None
    unit_id = int(query.data.rsplit(":", 1)[1])
    async with context.session() as session:
        unit = await get_unit(session, unit_id)
    return await _answer(
        update,
        context,
        lambda s, d, _i: flow.answer_unit(s, d, unit_id),
        chosen=unit.name if unit else None,
    )


async def chose_position(update: Update, context: UnionContext) -> State:
    """Stores the position; asks for the gender."""
    value = update.callback_query.data.rsplit(":", 1)[1]  # type: ignore[union-attr]
    return await _answer(
        update,
        context,
        lambda s, d, _i: flow.answer_position(s, d, value),
        chosen=_position_label(context, value) if value in set(Position) else None,
    )


async def chose_gender(update: Update, context: UnionContext) -> State:
    """Stores the gender (or that they prefer not to say); asks for the phone number."""
    value = update.callback_query.data.rsplit(":", 1)[1]  # type: ignore[union-attr]
    return await _answer(
        update,
        context,
        lambda s, d, i: flow.answer_gender(s, d, value, identity=i, locale=context.locale),
        chosen=_gender_label(context, value) if value in set(Gender) else None,
    )


async def shared_contact(update: Update, context: UnionContext) -> State:
    """Stores the phone from a shared contact, only the sender's own; shows the summary."""
    message = update.effective_message
    assert message is not None and message.contact is not None and update.effective_user
    phone = message.contact.phone_number
    own = message.contact.user_id == update.effective_user.id
    return await _answer(
        update,
        context,
        lambda s, d, i: flow.answer_phone(
            s, d, phone, identity=i, locale=context.locale, from_contact=True, contact_is_own=own
        ),
    )


async def typed_phone(update: Update, context: UnionContext) -> State:
    """Stores a typed phone number (normalised to +84…), or none on "Skip"; shows the summary."""
    text = (update.effective_message.text or "").strip() if update.effective_message else ""
    skip_labels = {fold(label) for label in context.services.translator.all_locales(
        "onboarding.skip"
    )}
    phone: str | None = None if fold(text) in skip_labels or text == "/skip" else text
    return await _answer(
        update,
        context,
        lambda s, d, i: flow.answer_phone(s, d, phone, identity=i, locale=context.locale),
    )


async def chose_roster(update: Update, context: UnionContext) -> State:
    """Stores whether the matched roster record is the person's own; shows the summary."""
    answer = update.callback_query.data.rsplit(":", 1)[1]  # type: ignore[union-attr]
    return await _answer(
        update,
        context,
        lambda s, d, _i: flow.answer_roster(s, d, answer == "yes"),
        chosen=context.t("onboarding.roster_yes" if answer == "yes" else "onboarding.roster_no"),
    )


async def chose_edit(update: Update, context: UnionContext) -> State:
    """Offers the fields to change, in place of the summary's buttons."""
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        identity = await context.identity(session, update)
        draft = await flow.get_draft(session, identity)
        steps = flow.EDITABLE_STEPS if draft is None else await flow.editable_steps(session, draft)
        await session.commit()
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=_fields_keyboard(context, steps))
    return CONFIRMING


async def back_to_summary(update: Update, context: UnionContext) -> State:
    """Puts the summary's own buttons back."""
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        identity = await context.identity(session, update)
        draft = await flow.get_draft(session, identity)
        await session.commit()
    if draft is None:
        await query.answer(context.t("common.stale_button"), show_alert=True)
        return END
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=_summary_keyboard(context, draft))
    return CONFIRMING


async def chose_field(update: Update, context: UnionContext) -> State:
    """Goes back to one question; its answer returns to the summary."""
    step = update.callback_query.data.rsplit(":", 1)[1]  # type: ignore[union-attr]
    return await _answer(
        update,
        context,
        lambda s, d, _i: flow.edit_answer(s, d, step),
        chosen=context.t(f"onboarding.field.{step}") if step in flow.EDITABLE_STEPS else None,
    )


async def confirmed(update: Update, context: UnionContext) -> State:
    """Saves the member (new: waits for approval unless the invite approves) and tells the
    officials of the union; or saves the edited profile."""
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        identity = await context.identity(session, update)
        draft = await flow.get_draft(session, identity)
        if draft is None or Step(draft.step) is not Step.SUMMARY:
            await session.rollback()
            await query.answer(context.t("common.stale_button"), show_alert=True)
            return await resume(update, context)
        if await flow.refresh_roster(session, draft):
            # The roster changed since the person answered: they see the new question first.
            await session.commit()
            await _close_question(update, context, None)
            await common.reply(update, context.t("onboarding.roster_changed"))
            return await ask(update, context, session, draft)
        try:
            joined = await flow.confirm(
                session, draft=draft, identity=identity, locale=context.locale
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return CONFIRMING
        unit = await get_unit(session, joined.member.unit_id)
        joined_now = joined.created or joined.from_roster
        officials = (
            await officials_to_notify(
                session,
                unit=unit,
                admin_telegram_ids=context.services.settings.admin_telegram_ids,
            )
            if (joined_now or joined.asks_again or joined.moved) and unit is not None
            else []
        )
        # The officials' notices are saved with the join: both stand, or neither.
        await _notify_officials(context, session, officials, joined.member, unit, joined)
        await session.commit()
    context.services.wake_up()
    await _close_question(update, context, context.t("onboarding.confirmed_mark"))
    member = joined.member
    if not joined_now:
        await common.reply(update, context.t("profile.saved"))
    else:
        if joined.claimed is not None:
            key = "onboarding.roster_claim_pending"
        elif member.status != MemberStatus.ACTIVE:
            key = "onboarding.joined_pending"
        elif joined.from_roster:
            key = "onboarding.roster_joined"
        else:
            key = "onboarding.joined_active"
        await common.reply(update, context.t(key, unit=unit.name if unit else ""))
    return END


async def _notify_officials(
    context: UnionContext,
    session: AsyncSession,
    officials: list[Identity],
    member: Member,
    unit: OrgUnit | None,
    joined: flow.Joined,
) -> None:
    # Each official is reached on their own channel, whichever channel the member used. A roster
    # record joined at once says how the phone was proven; a claim made with a typed phone names
    # the record (officials may see its code), so they can check it is that person.
    extra: dict[str, object] = {}
    key = "onboarding.official_new_member"
    if joined.from_roster:
        key = "onboarding.roster_official_matched"
        extra["how"] = Localized(
            "onboarding.roster_via_contact" if joined.phone_proven
            else "onboarding.roster_via_typed"
        )
    elif joined.claimed is not None:
        key = "onboarding.roster_official_claim"
        extra["record"] = roster_record_label(joined.claimed)
    elif joined.asks_again:
        key = "onboarding.official_asks_again"
    elif joined.moved:
        key = "onboarding.official_member_moved"
    for official in officials:
        await notify_identity(
            context.services,
            session,
            official,
            key,
            about=Source("member", member.id),
            name=member.full_name,
            unit=unit.name if unit else "",
            position=Localized(f"position.{member.position}"),
            status=Localized(f"status.{member.status}"),
            **extra,
        )


async def cancel(update: Update, context: UnionContext) -> State:
    """Leaves the flow at any step and forgets its unsaved answers."""
    if update.callback_query is not None:
        await _close_question(update, context, context.t("common.cancel"))
    async with context.session() as session:
        identity = await context.identity(session, update)
        is_member = identity.member_id is not None
        await flow.discard_draft(session, identity=identity)
        await session.commit()
    if context.user_data is not None:
        context.user_data.pop("invite_code", None)
    key = "onboarding.cancelled_member" if is_member else "onboarding.cancelled"
    await common.reply(update, context.t(key), reply_markup=ReplyKeyboardRemove())
    return END


@common.refuses_text
async def unexpected_input(update: Update, context: UnionContext) -> State:
    """Something other than what the current question wants (a photo for a name, text for a
    button): says so and asks the question again."""
    await common.reply(update, context.t("onboarding.unexpected"))
    return await resume(update, context)


async def stale_flow_button(update: Update, context: UnionContext) -> State | None:
    """An "onb:" button that does not belong to the current question: refused, state kept."""
    assert update.callback_query is not None
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)
    return None


async def linked_instead(update: Update, context: UnionContext) -> State | None:
    """/link while joining: an account linked to an existing profile has nothing to join."""
    return END if await linking.link(update, context) else None


async def changed_language(update: Update, context: UnionContext) -> State:
    """Switches the language mid-flow, then asks the current question again in it."""
    await language.chose_language(update, context)
    return await resume(update, context)


# --- /profile ---------------------------------------------------------------------------------


async def show_profile(update: Update, context: UnionContext) -> None:
    """Shows the member their profile with an Edit button; points others to /start."""
    async with context.session() as session:
        identity = await context.identity(session, update)
        member = await member_of(session, identity)
        await session.commit()
        if member is None:
            await common.reply(update, context.t("profile.not_member"))
            return
        unit = await get_unit(session, member.unit_id)
        text = context.t(
            "profile.card",
            name=member.full_name,
            unit=await _unit_label(session, unit),
            position=_position_label(context, member.position),
            gender=_gender_label(context, member.gender),
            phone=member.phone or context.t("onboarding.no_phone"),
            status=context.t(f"status.{member.status}"),
        )
        if member.member_code:  # from the union's roster
            text += "\n" + context.t("onboarding.roster_member_code", code=member.member_code)
        consents = await latest_consents(session, identity=identity)
        accounts = await identities_of(session, member.id)  # type: ignore[arg-type]
    lines = [
        context.t(
            "profile.consent_line",
            mark="✅" if record.granted else "✖",
            purpose=context.t(f"consent.purpose.{record.purpose}"),
            when=context.local_time(record.recorded_at),
        )
        for record in consents.values()
    ]
    if lines:
        text = "\n".join([text, "", context.t("profile.consents"), *lines])
    buttons = [[(context.t("profile.edit"), "onb:profile")]]
    if len(accounts) > 1:  # linked Telegram and Zalo: where announcements go is their choice
        reached = reachable_identity(member, accounts)
        current = reached.channel if reached is not None else context.channel
        text += "\n\n" + context.t("profile.channel", channel=context.t(f"channel.{current}"))
        buttons += [
            [(context.t("profile.prefer", channel=context.t(f"channel.{a.channel}")),
              f"prof:prefer:{a.channel}")]
            for a in accounts
            if a.channel != current
        ]
    await common.reply(update, text, reply_markup=common.keyboard(buttons))


async def chose_channel(update: Update, context: UnionContext) -> None:
    """Announcements now reach the member on the channel they chose."""
    query = update.callback_query
    assert query is not None and query.data is not None
    channel = query.data.rsplit(":", 1)[1]
    async with context.session() as session:
        identity = await context.identity(session, update)
        member = await member_of(session, identity)
        if member is None:
            await session.rollback()
            await query.answer(context.t("profile.not_member"), show_alert=True)
            return
        try:
            await set_preferred_channel(session, member=member, channel=channel)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    await _close_question(update, context, None)
    await common.reply(
        update, context.t("profile.channel_set", channel=context.t(f"channel.{channel}"))
    )


async def edit_profile(update: Update, context: UnionContext) -> State:
    """Opens the member's profile for editing; offers the fields to change."""
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        identity = await context.identity(session, update)
        member = await member_of(session, identity)
        if member is None:
            await session.rollback()
            await query.answer(context.t("profile.not_member"), show_alert=True)
            return END
        draft = await flow.begin_profile_edit(session, identity=identity, member=member)
        await session.commit()
        await query.answer()
        await common.reply(
            update,
            await _summary_text(context, session, draft),
            reply_markup=_fields_keyboard(context),
        )
    return CONFIRMING


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """The onboarding and profile-editing conversation, persisted across restarts."""
    text = filters.TEXT & ~filters.COMMAND
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=[
            CommandHandler("start", start),
            CallbackQueryHandler(edit_profile, pattern=r"^onb:profile$"),
        ],
        states={
            CONSENTING: [
                CallbackQueryHandler(consented, pattern=r"^onb:consent:yes$"),
                CallbackQueryHandler(refused, pattern=r"^onb:consent:no$"),
            ],
            TYPING_NAME: [MessageHandler(text, received_name)],
            CHOOSING_UNIT: [
                CallbackQueryHandler(browsed_units, pattern=r"^onb:open:\d{1,12}:\d{1,6}$"),
                CallbackQueryHandler(chose_unit, pattern=r"^onb:unit:\d{1,12}$"),
                MessageHandler(text, searched_units),
            ],
            CHOOSING_POSITION: [CallbackQueryHandler(chose_position, pattern=r"^onb:pos:\w+$")],
            CHOOSING_GENDER: [CallbackQueryHandler(chose_gender, pattern=r"^onb:gender:\w+$")],
            CONFIRMING_ROSTER: [
                CallbackQueryHandler(chose_roster, pattern=r"^onb:roster:(yes|no)$"),
            ],
            SHARING_PHONE: [
                MessageHandler(filters.CONTACT, shared_contact),
                MessageHandler(text, typed_phone),
                CommandHandler("skip", typed_phone),
            ],
            CONFIRMING: [
                CallbackQueryHandler(confirmed, pattern=r"^onb:confirm$"),
                CallbackQueryHandler(chose_edit, pattern=r"^onb:edit$"),
                CallbackQueryHandler(back_to_summary, pattern=r"^onb:summary$"),
                CallbackQueryHandler(chose_field, pattern=r"^onb:field:\w+$"),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancel, pattern=r"^onb:cancel$"),
            CommandHandler("start", start),
            CommandHandler("link", linked_instead),
            CallbackQueryHandler(edit_profile, pattern=r"^onb:profile$"),
            CallbackQueryHandler(changed_language, pattern=language.CALLBACK_PATTERN),
            CallbackQueryHandler(stale_flow_button, pattern=r"^onb:"),
            MessageHandler(~filters.COMMAND, unexpected_input),
        ],
    )
