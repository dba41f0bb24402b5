"""/movements and /my: a member sees the emulation movements open to their union, registers for a
title (with an optional commitment), changes it or withdraws until the deadline, follows where
each registration stands, and writes the self-assessment in the movement's window: a short text
for each criterion, then photos and documents as evidence, a preview, and Submit.

The list, a movement's card, /my and withdrawing are buttons that work from any message.
Registering and the self-assessment wait for typed text and files: they are states of one
persistent conversation ("movements"). The self-assessment is saved as it is written
(models/movement_members.py), so a member who leaves comes back where they were.

Callback payloads start with "mov:" and carry ids only; the models check everything again, so a
forged payload (a movement outside the member's union, a deadline passed) is refused and changes
nothing.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.error import TelegramError
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
from models import movement_members as mm
from models.base import utcnow
from models.errors import DomainError, NotAllowed
from models.members import Channel, Member, member_of
from models.movements import (
    COMMITMENT_MAX,
    Movement,
    MovementStatus,
    RegistrationStatus,
    get_movement,
    register,
    registration_open,
    withdraw,
)
from models.org import OrgUnit

log = logging.getLogger(__name__)

# What the bot is waiting for.
CHOOSING_TITLE = "choosing_title"
TYPING_COMMITMENT = "typing_commitment"
CONFIRMING = "confirming"
TYPING_ASSESSMENT = "typing_assessment"
SENDING_EVIDENCE = "sending_evidence"
PREVIEWING = "previewing"

END = ConversationHandler.END
CONVERSATION = "movements"
PER_PAGE = 6
# Telegram takes 4,096 characters in a message.
SCREEN_MAX = 3900
# /my offers a button for this many registrations at most (the newest).
MY_BUTTONS = 10
# What the flow in progress is about, in user_data (persisted): {"movement_id", "title",
# "commitment"} while registering, {"movement_id", "assessing": True} while self-assessing.
FLOW = "movements_flow"

ID = r"\d{1,12}"
# Buttons that only mean something inside the flow (an old one outside it is stale).
FLOW_BUTTONS = (
    rf"^mov:(title:{ID}:\d{{1,3}}|(skip|keep|ok|done|more|submit|redo|redook):{ID}|cancel)$"
)

State = str | int
Screen = tuple[str, InlineKeyboardMarkup | None]

STAGE_KEYS = {
    mm.Stage.AWAITING_APPROVAL: "movements.stage.awaiting_approval",
    mm.Stage.REGISTERED: "movements.stage.registered",
    mm.Stage.ASSESSMENT_DUE: "movements.stage.assessment_due",
    mm.Stage.SUBMITTED: "movements.stage.submitted",
    mm.Stage.ACHIEVED: "movements.stage.achieved",
    mm.Stage.NOT_ACHIEVED: "movements.stage.not_achieved",
    mm.Stage.WITHDRAWN: "movements.stage.withdrawn",
}


# --- small helpers -------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if limit <= 80 else text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _label(context: UnionContext, key: str, **params: object) -> str:
    """A button's label: buttons are not HTML, so the escaped params are turned back."""
    return html.unescape(context.t(key, **params))


def _date(context: UnionContext, moment: datetime) -> str:
    return moment.astimezone(context.services.settings.tz).strftime("%d/%m/%Y")


def _stage(context: UnionContext, stage: str) -> str:
    return context.t(STAGE_KEYS[mm.Stage(stage)])


def _flow(context: UnionContext) -> dict[str, Any]:
    return dict((context.user_data or {}).get(FLOW) or {})


def _keep_flow(context: UnionContext, **flow: Any) -> None:
    context.user_data[FLOW] = flow  # type: ignore[index]


def _forget(context: UnionContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(FLOW, None)


def _ids(update: Update) -> list[int]:
    """The numbers in a button's payload ("mov:title:12:1" → [12, 1])."""
    assert update.callback_query is not None and update.callback_query.data is not None
    return [int(part) for part in update.callback_query.data.split(":")[2:] if part.isdigit()]


async def _member(session: AsyncSession, context: UnionContext, update: Update) -> Member | None:
    return await member_of(session, await context.identity(session, update))


async def _refuse(update: Update, context: UnionContext, error: DomainError) -> None:
    """Says why; a registration's status is named in the person's words."""
    status = error.params.get("status")
    if error.code == "registration_state" and status in set(mm.Stage):
        error = NotAllowed(error.code, status=_stage(context, str(status)))
    await common.refuse(update, context, error)


async def _show(update: Update, screen: Screen) -> None:
    """The screen in place of the tapped message (a new message after typed text)."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    await common.show(update, *screen)


async def _close_question(update: Update) -> None:
    """Removes the buttons of the tapped question, so it cannot be answered twice."""
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        log.debug("question already closed")


# --- screens -------------------------------------------------------------------------------------


async def _list_screen(
    session: AsyncSession, context: UnionContext, member: Member | None, page: int
) -> Screen:
    """One page of the movements open to the member's union, newest first."""
    items, total = await mm.list_movements(
        session, member, offset=page * PER_PAGE, limit=PER_PAGE
    )
    if page > 0 and not items:  # the list shrank since: its first page
        page = 0
        items, total = await mm.list_movements(session, member, limit=PER_PAGE)
    if not items:
        return context.t("movements.list_empty"), None
    now = utcnow()
    lines = [context.t("movements.list_title", count=total)]
    rows: list[list[tuple[str, str]]] = []
    for n, item in enumerate(items, page * PER_PAGE + 1):
        movement = item.movement
        lines += ["", context.t(
            "movements.list_item",
            n=n,
            name=movement.name,
            year=movement.school_year,
            opens=_date(context, movement.assessment_opens),
            closes=_date(context, movement.assessment_closes),
        )]
        if registration_open(movement, now):
            lines.append(context.t(
                "movements.list_deadline", when=context.local_time(movement.registration_deadline)
            ))
        else:
            lines.append(context.t(
                "movements.list_deadline_passed",
                when=context.local_time(movement.registration_deadline),
            ))
        registration = item.registration
        if registration is not None:
            lines.append(context.t(
                "movements.list_mine",
                title=mm.title_name(movement, registration.title_code),
                stage=_stage(context, mm.stage_of(registration, movement, now)),
            ))
        rows.append([(f"🏆 {_clip(movement.name, 60)}", f"mov:card:{movement.id}")])
    pager = []
    if page > 0:
        pager.append((context.t("common.previous"), f"mov:list:{page - 1}"))
    if (page + 1) * PER_PAGE < total:
        pager.append((context.t("common.next"), f"mov:list:{page + 1}"))
    if pager:
        rows.append(pager)
    return "\n".join(lines), common.keyboard(rows)


def _card_text(
    context: UnionContext,
    card: mm.Card,
    unit: OrgUnit | None,
    notice: str | None,
    *,
    short: bool,
) -> str:
    movement = card.movement
    lines = [notice, ""] if notice else []
    lines.append(context.t("movements.card_name", name=movement.name))
    if movement.status == MovementStatus.CLOSED:
        lines.append(context.t("movements.card_closed"))
    lines.append(context.t("movements.card_year", year=movement.school_year))
    if movement.description.strip():
        text = _clip(movement.description, 300 if short else 1200)
        lines += ["", context.t("movements.card_purpose", text=text)]
    if movement.criteria:
        # Many criteria are each shortened.
        each = max(40, 900 // len(movement.criteria)) if short else max(
            80, 1500 // len(movement.criteria)
        )
        lines += ["", context.t("movements.card_criteria")]
        lines += [
            context.t("movements.card_criterion", n=n, text=_clip(text, each))
            for n, text in enumerate(movement.criteria, 1)
        ]
    most = 50 if short else 300
    if card.titles:
        lines += ["", context.t("movements.card_titles")]
        lines += [
            context.t("movements.card_title_line", name=_clip(str(title.get("name") or ""), most))
            for title in card.titles
        ]
    lines.append("")
    when = context.local_time(movement.registration_deadline)
    key = "movements.card_deadline" if card.registration_open else "movements.card_deadline_passed"
    lines.append(context.t(key, when=when))
    lines.append(context.t(
        "movements.card_window",
        opens=context.local_time(movement.assessment_opens),
        closes=context.local_time(movement.assessment_closes),
    ))
    lines.append(context.t(
        "movements.card_colleagues", count=card.colleagues, unit=unit.name if unit else "—"
    ))
    registration = card.registration
    if registration is not None and card.stage is not None:
        lines += ["", context.t(
            "movements.card_mine",
            title=mm.title_name(movement, registration.title_code),
            stage=_stage(context, card.stage),
        )]
        if registration.commitment and registration.status != RegistrationStatus.WITHDRAWN:
            lines.append(context.t(
                "movements.card_commitment", text=_clip(registration.commitment, most)
            ))
        if registration.result_note:
            lines.append(
                context.t("movements.card_note", text=_clip(registration.result_note, most))
            )
    return "\n".join(lines)


async def _card_screen(
    session: AsyncSession,
    context: UnionContext,
    member: Member | None,
    movement_id: int,
    notice: str | None = None,
) -> Screen:
    """A movement as the member sees it, with what they may do now."""
    card = await mm.card(session, member, movement_id, now=utcnow())
    movement = card.movement
    unit = await session.get(OrgUnit, member.unit_id) if member is not None else None
    # A card is one message (4,096 characters): when the full texts do not fit, shorter ones.
    for short in (False, True):
        text = _card_text(context, card, unit, notice, short=short)
        if len(text) <= SCREEN_MAX:
            break
    rows: list[list[tuple[str, str]]] = []
    if card.can_register:
        rows.append([(context.t("movements.register_button"), f"mov:reg:{movement.id}")])
    if card.can_change:
        rows.append([(context.t("movements.change_button"), f"mov:reg:{movement.id}")])
        rows.append([(context.t("movements.withdraw_button"), f"mov:wd:{movement.id}")])
    if card.can_assess:
        rows.append([(context.t("movements.assess_button"), f"mov:sa:{movement.id}")])
    rows.append([(context.t("movements.back_to_list"), "mov:list:0")])
    return text, common.keyboard(rows)


async def _my_screen(
    session: AsyncSession, context: UnionContext, member: Member | None
) -> Screen:
    """The member's registrations by school year, with where each stands."""
    now = utcnow()
    years = await mm.my_registrations(session, member, now=now)
    if not years:
        return context.t("movements.my_empty"), None
    lines = [context.t("movements.my_title")]
    rows: list[list[tuple[str, str]]] = []
    left = sum(len(year.registrations) for year in years)  # not shown yet
    for year in years:
        if sum(len(line) + 1 for line in lines) > SCREEN_MAX - 900:
            break  # one message: the oldest are left out, and counted
        lines += ["", context.t("movements.my_year", year=year.year)]
        for mine in year.registrations:
            if sum(len(line) + 1 for line in lines) > SCREEN_MAX - 900:
                break
            left -= 1
            movement, registration = mine.movement, mine.registration
            lines.append(context.t(
                "movements.my_item",
                movement=movement.name,
                title=mm.title_name(movement, registration.title_code),
                stage=_stage(context, mine.stage),
            ))
            if mine.stage is mm.Stage.SUBMITTED and registration.submitted_at is not None:
                lines.append(context.t(
                    "movements.my_submitted_at", when=context.local_time(registration.submitted_at)
                ))
            if registration.result_note and mine.stage in (
                mm.Stage.ACHIEVED, mm.Stage.NOT_ACHIEVED
            ):
                lines.append(
                    context.t("movements.my_note", text=_clip(registration.result_note, 300))
                )
            if len(rows) >= MY_BUTTONS or movement.status not in (
                MovementStatus.OPEN, MovementStatus.CLOSED
            ):
                continue
            name = _clip(movement.name, 50)
            if mine.stage is mm.Stage.ASSESSMENT_DUE:
                rows.append([(_label(context, "movements.my_assess", movement=name),
                              f"mov:sa:{movement.id}")])
            else:
                rows.append([(f"🏆 {name}", f"mov:card:{movement.id}")])
    if left:
        lines += ["", context.t("movements.my_more", count=left)]
    return "\n".join(lines), common.keyboard(rows) if rows else None


# --- stateless screens: /movements, the list, a card, /my, withdrawing ---------------------------


Step = Callable[[Update, UnionContext, AsyncSession, Member | None], Awaitable[Screen]]


async def _screen(update: Update, context: UnionContext, step: Step) -> None:
    """Shows the screen `step` makes; a refusal is said (an alert on a tap) and changes nothing."""
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            screen = await step(update, context, session, member)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return
        await session.commit()
    await _show(update, screen)


async def show_movements(update: Update, context: UnionContext) -> None:
    """/movements: the first page of the movements open to the member's union."""
    await _screen(update, context, lambda u, c, s, m: _list_screen(s, c, m, 0))


async def browsed_movements(update: Update, context: UnionContext) -> None:
    """Another page of the list, in place."""
    [page] = _ids(update)
    await _screen(update, context, lambda u, c, s, m: _list_screen(s, c, m, page))


async def opened_movement(update: Update, context: UnionContext) -> None:
    """A movement's card, in place of the list."""
    [movement_id] = _ids(update)
    await _screen(update, context, lambda u, c, s, m: _card_screen(s, c, m, movement_id))


async def show_my(update: Update, context: UnionContext) -> None:
    """/my: the member's registrations and where each stands."""
    await _screen(update, context, lambda u, c, s, m: _my_screen(s, c, m))


async def _ask_withdrawal(
    update: Update, context: UnionContext, session: AsyncSession, member: Member | None
) -> Screen:
    [movement_id] = _ids(update)
    registration = await mm.withdrawal_check(session, member, movement_id, now=utcnow())
    movement = await get_movement(session, movement_id)
    text = context.t(
        "movements.withdraw_ask",
        movement=movement.name,
        title=mm.title_name(movement, registration.title_code),
    )
    return text, common.keyboard([
        [(context.t("movements.withdraw_yes"), f"mov:wdok:{movement_id}")],
        [(context.t("common.back"), f"mov:card:{movement_id}")],
    ])


async def chose_withdraw(update: Update, context: UnionContext) -> None:
    """Asks "withdraw from this movement?" (until the deadline)."""
    await _screen(update, context, _ask_withdrawal)


async def _withdrawn(
    update: Update, context: UnionContext, session: AsyncSession, member: Member | None
) -> Screen:
    [movement_id] = _ids(update)
    mm.require_member(member)
    assert member is not None
    movement = await get_movement(session, movement_id)
    await withdraw(session, member=member, movement=movement, now=utcnow())
    notice = context.t("movements.withdrawn", movement=movement.name)
    return await _card_screen(session, context, member, movement_id, notice)


async def confirmed_withdraw(update: Update, context: UnionContext) -> None:
    """Withdraws the registration; shows the card again."""
    await _screen(update, context, _withdrawn)


# --- registering ---------------------------------------------------------------------------------


def _title_screen(context: UnionContext, choice: mm.Choice) -> Screen:
    movement = choice.movement
    key = "movements.ask_new_title" if choice.current is not None else "movements.ask_title"
    rows = [
        [(str(title.get("name") or title.get("code")), f"mov:title:{movement.id}:{index}")]
        for index, title in enumerate(choice.titles)
    ]
    rows.append([(context.t("common.cancel"), "mov:cancel")])
    return context.t(key, movement=movement.name), common.keyboard(rows)


async def chose_register(update: Update, context: UnionContext) -> State:
    """Starts registering (or changing the title): asks which title the member aims for."""
    [movement_id] = _ids(update)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            choice = await mm.registration_choice(session, member, movement_id, now=utcnow())
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None  # whatever the member was doing stays as it was
        await session.commit()
    current = choice.current
    _keep_flow(
        context,
        movement_id=movement_id,
        current_commitment=current.commitment if current is not None else None,
    )
    await context.remember_state(CONVERSATION, update, CHOOSING_TITLE)
    await _show(update, _title_screen(context, choice))
    return CHOOSING_TITLE


def _commitment_screen(context: UnionContext, movement_id: int, title: str) -> Screen:
    flow = _flow(context)
    rows = [[(context.t("movements.skip_commitment"), f"mov:skip:{movement_id}")]]
    if flow.get("current_commitment"):
        rows.insert(0, [(context.t("movements.keep_commitment"), f"mov:keep:{movement_id}")])
    rows.append([(context.t("common.cancel"), "mov:cancel")])
    text = context.t("movements.ask_commitment", title=title, max=COMMITMENT_MAX)
    return text, common.keyboard(rows)


async def chose_title(update: Update, context: UnionContext) -> State | None:
    """Stores the title chosen; asks for an optional commitment."""
    movement_id, index = _ids(update)
    flow = _flow(context)
    if flow.get("movement_id") != movement_id:
        return await stale_flow_button(update, context)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            choice = await mm.registration_choice(session, member, movement_id, now=utcnow())
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None
        await session.commit()
    if index >= len(choice.titles):
        return await stale_flow_button(update, context)
    title = choice.titles[index]
    _keep_flow(context, **{**flow, "title": title["code"], "title_name": title.get("name")})
    await context.remember_state(CONVERSATION, update, TYPING_COMMITMENT)
    await _show(update, _commitment_screen(context, movement_id, str(title.get("name"))))
    return TYPING_COMMITMENT


def _confirm_screen(context: UnionContext, movement: Movement, changing: bool) -> Screen:
    flow = _flow(context)
    key = "movements.confirm_change" if changing else "movements.confirm_register"
    lines = [context.t(key, movement=movement.name, title=flow.get("title_name") or "")]
    commitment = flow.get("commitment")
    if commitment:
        lines.append(context.t("movements.confirm_commitment", text=commitment))
    else:
        lines.append(context.t("movements.confirm_no_commitment"))
    rows = [
        [(context.t("movements.confirm_button"), f"mov:ok:{movement.id}")],
        [(context.t("common.cancel"), "mov:cancel")],
    ]
    return "\n".join(lines), common.keyboard(rows)


async def _ask_confirmation(
    update: Update, context: UnionContext, commitment: str | None
) -> State:
    flow = _flow(context)
    movement_id = int(flow["movement_id"])
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            commitment = mm.clean_commitment(commitment)
            choice = await mm.registration_choice(session, member, movement_id, now=utcnow())
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            if error.code == "commitment_too_long":
                return TYPING_COMMITMENT
            _forget(context)
            return END
        await session.commit()
    _keep_flow(context, **{**flow, "commitment": commitment})
    await context.remember_state(CONVERSATION, update, CONFIRMING)
    await _show(update, _confirm_screen(context, choice.movement, choice.current is not None))
    return CONFIRMING


async def received_commitment(update: Update, context: UnionContext) -> State:
    """Stores the commitment as typed; asks to confirm."""
    text = update.effective_message.text if update.effective_message else ""
    return await _ask_confirmation(update, context, text)


async def skipped_commitment(update: Update, context: UnionContext) -> State | None:
    """No commitment (or the current one kept); asks to confirm."""
    [movement_id] = _ids(update)
    flow = _flow(context)
    if flow.get("movement_id") != movement_id:
        return await stale_flow_button(update, context)
    keep = update.callback_query.data.startswith("mov:keep:")  # type: ignore[union-attr]
    return await _ask_confirmation(
        update, context, flow.get("current_commitment") if keep else None
    )


async def confirmed(update: Update, context: UnionContext) -> State | None:
    """Registers the member (or changes their title); shows the movement's card."""
    [movement_id] = _ids(update)
    flow = _flow(context)
    if flow.get("movement_id") != movement_id or not flow.get("title"):
        return await stale_flow_button(update, context)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            mm.require_member(member)
            assert member is not None
            movement = await get_movement(session, movement_id)
            before = await mm.registration_choice(session, member, movement_id, now=utcnow())
            registration = await register(
                session,
                member=member,
                movement=movement,
                title_code=str(flow["title"]),
                commitment=flow.get("commitment"),
                now=utcnow(),
            )
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            _forget(context)
            return END
        await session.commit()
        title = mm.title_name(movement, registration.title_code)
        if before.current is not None:
            notice = context.t("movements.changed", movement=movement.name, title=title)
        elif registration.status == RegistrationStatus.AWAITING_APPROVAL:
            notice = context.t("movements.registered_pending", movement=movement.name, title=title)
        else:
            notice = context.t("movements.registered", movement=movement.name, title=title)
        screen = await _card_screen(session, context, member, movement_id, notice)
        await session.commit()
    _forget(context)
    await _show(update, screen)
    return END


# --- the self-assessment -------------------------------------------------------------------------


def _evidence_name(context: UnionContext, kind: str, name: str | None) -> str:
    if name:
        return name
    return context.t("movements.evidence_photo" if kind == "photo" else "movements.evidence_file")


async def _ask_next(update: Update, context: UnionContext, draft: mm.Draft) -> State:
    """Asks for the next criterion's text, or for the evidence once every text is in."""
    movement = draft.movement
    later = [(context.t("movements.later_button"), "mov:cancel")]
    if draft.next_criterion is not None:
        n = draft.next_criterion
        text = context.t(
            "movements.ask_criterion",
            movement=movement.name,
            n=n + 1,
            total=len(movement.criteria),
            criterion=_clip(movement.criteria[n], 500),
            max=mm.ASSESSMENT_TEXT_MAX,
        )
        await context.remember_state(CONVERSATION, update, TYPING_ASSESSMENT)
        await _show(update, (text, common.keyboard([later])))
        return TYPING_ASSESSMENT
    key = (
        "movements.ask_evidence_zalo" if context.channel == Channel.ZALO
        else "movements.ask_evidence"
    )
    text = context.t(
        key, count=len(draft.evidence), max=mm.EVIDENCE_MAX_FILES,
        max_mb=mm.EVIDENCE_MAX_BYTES // 2**20,
    )
    done = [(context.t("movements.done_button"), f"mov:done:{movement.id}")]
    await context.remember_state(CONVERSATION, update, SENDING_EVIDENCE)
    await _show(update, (text, common.keyboard([done, later])))
    return SENDING_EVIDENCE


Operation = Callable[[AsyncSession, Member | None, int], Awaitable[mm.Draft]]


async def _assessment_step(
    update: Update,
    context: UnionContext,
    movement_id: int | None,
    operation: Operation,
    *,
    entry: bool = False,
) -> State | None:
    """Applies one step to the self-assessment of `movement_id` and asks what comes next. A
    refused text is asked again; any other refusal (the window closed meanwhile) ends the flow,
    or, when opening it, leaves whatever the member was doing as it was."""
    if movement_id is None:
        return await cancel(update, context)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            draft = await operation(session, member, movement_id)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            if entry or error.code == "assessment_text_length":
                return None
            _forget(context)
            return END
        await session.commit()
    _keep_flow(context, movement_id=movement_id, assessing=True)
    return await _ask_next(update, context, draft)


async def chose_assess(update: Update, context: UnionContext) -> State | None:
    """Opens (or resumes) the self-assessment: asks the next criterion's text, or the evidence."""
    [movement_id] = _ids(update)
    return await _assessment_step(
        update,
        context,
        movement_id,
        lambda s, m, i: mm.start_assessment(s, m, i, now=utcnow()),
        entry=True,
    )


async def received_assessment(update: Update, context: UnionContext) -> State | None:
    """Stores the text for the current criterion; asks the next one (or the evidence)."""
    text = update.effective_message.text if update.effective_message else ""
    return await _assessment_step(
        update,
        context,
        _flow(context).get("movement_id"),
        lambda s, m, i: mm.answer_criterion(s, m, i, text or "", now=utcnow()),
    )


async def _keep_file(
    update: Update,
    context: UnionContext,
    *,
    kind: str,
    file_id: str,
    file_unique_id: str,
    name: str | None,
    size: int | None,
) -> State | None:
    """Keeps one file as evidence and says so (each photo of an album comes on its own)."""
    movement_id = _flow(context).get("movement_id")
    if movement_id is None:
        return await cancel(update, context)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            _, count = await mm.add_evidence(
                session, member, int(movement_id), channel=context.channel, kind=kind,
                file_id=file_id, file_unique_id=file_unique_id, file_name=name, size=size,
                now=utcnow(),
            )
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None if error.code.startswith("evidence_") else END
        await session.commit()
    text = context.t(
        "movements.evidence_received",
        name=_evidence_name(context, kind, name),
        count=count,
        max=mm.EVIDENCE_MAX_FILES,
    )
    done = [(context.t("movements.done_button"), f"mov:done:{movement_id}")]
    await common.reply(update, text, reply_markup=common.keyboard([done]))
    return None


async def received_file(update: Update, context: UnionContext) -> State | None:
    """Keeps a photo (its largest size) or a document as evidence (a document over the Bot API's
    20 MB download limit is refused)."""
    sent = common.incoming_file(update)
    return await _keep_file(
        update, context, kind=sent.kind, file_id=sent.file_id,
        file_unique_id=sent.file_unique_id, name=sent.name, size=sent.size,
    )


@common.refuses_text
async def evidence_expected(update: Update, context: UnionContext) -> State | None:
    """Something other than a photo or a document while the evidence is asked: says what is."""
    key = "movements.evidence_expected_zalo" if context.channel == Channel.ZALO else (
        "movements.evidence_expected"
    )
    movement_id = _flow(context).get("movement_id")
    done = [(context.t("movements.done_button"), f"mov:done:{movement_id}")]
    markup = common.keyboard([done]) if movement_id is not None else None
    await common.reply(update, context.t(key), reply_markup=markup)
    return None


def _preview_screen(context: UnionContext, draft: mm.Draft) -> Screen:
    movement = draft.movement
    texts = draft.texts
    # Ten criteria of 1,000 characters would not fit one message: each is shortened here.
    each = max(120, 2400 // max(1, len(texts)))
    lines = [context.t("movements.preview_title", movement=movement.name)]
    for n, (criterion, text) in enumerate(zip(movement.criteria, texts, strict=False), 1):
        lines += ["", context.t(
            "movements.preview_answer", n=n, criterion=_clip(criterion, 200),
            text=_clip(text, each),
        )]
    lines += ["", context.t("movements.preview_files", count=len(draft.evidence))]
    lines += [
        context.t("movements.preview_file", name=_clip(
            _evidence_name(context, evidence.kind, evidence.file_name), 60
        ))
        for evidence in draft.evidence
    ]
    rows = [
        [(context.t("movements.submit_button"), f"mov:submit:{movement.id}")],
        [(context.t("movements.more_files_button"), f"mov:more:{movement.id}")],
        [(context.t("movements.redo_button"), f"mov:redo:{movement.id}")],
        [(context.t("movements.later_button"), "mov:cancel")],
    ]
    return "\n".join(lines), common.keyboard(rows)


async def _draft_of_flow(
    update: Update, context: UnionContext
) -> tuple[mm.Draft | None, State | None]:
    """The draft of the movement named by the tapped button, which must be the flow's."""
    [movement_id] = _ids(update)
    if _flow(context).get("movement_id") != movement_id:
        return None, await stale_flow_button(update, context)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            draft = await mm.start_assessment(session, member, movement_id, now=utcnow())
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            _forget(context)
            return None, END
        await session.commit()
    return draft, None


async def finished_evidence(update: Update, context: UnionContext) -> State | None:
    """Shows the whole self-assessment with Submit, add files, start over, later."""
    draft, state = await _draft_of_flow(update, context)
    if draft is None:
        return state
    if draft.next_criterion is not None:  # texts are missing (started over elsewhere)
        return await _ask_next(update, context, draft)
    await context.remember_state(CONVERSATION, update, PREVIEWING)
    await _show(update, _preview_screen(context, draft))
    return PREVIEWING


async def chose_more_files(update: Update, context: UnionContext) -> State | None:
    """Back to sending files."""
    draft, state = await _draft_of_flow(update, context)
    if draft is None:
        return state
    return await _ask_next(update, context, draft)


async def chose_redo(update: Update, context: UnionContext) -> State | None:
    """Asks whether to remove the texts and files and start again."""
    [movement_id] = _ids(update)
    if _flow(context).get("movement_id") != movement_id:
        return await stale_flow_button(update, context)
    rows = [
        [(context.t("movements.redo_yes"), f"mov:redook:{movement_id}")],
        [(context.t("common.back"), f"mov:done:{movement_id}")],
    ]
    await _show(update, (context.t("movements.redo_ask"), common.keyboard(rows)))
    return PREVIEWING


async def confirmed_redo(update: Update, context: UnionContext) -> State | None:
    """Forgets the texts and files; asks the first criterion again."""
    [movement_id] = _ids(update)
    if _flow(context).get("movement_id") != movement_id:
        return await stale_flow_button(update, context)
    return await _assessment_step(
        update,
        context,
        movement_id,
        lambda s, m, i: mm.restart_assessment(s, m, i, now=utcnow()),
    )


async def submitted(update: Update, context: UnionContext) -> State | None:
    """Submits the self-assessment for the officials to decide."""
    [movement_id] = _ids(update)
    if _flow(context).get("movement_id") != movement_id:
        return await stale_flow_button(update, context)
    async with context.session() as session:
        member = await _member(session, context, update)
        try:
            await mm.submit_assessment(session, member, movement_id, now=utcnow())
            movement = await get_movement(session, movement_id)
        except DomainError as error:
            await session.rollback()
            await _refuse(update, context, error)
            return None if error.code == "assessment_incomplete" else END
        await session.commit()
    _forget(context)
    await _close_question(update)
    await common.reply(update, context.t("movements.submitted", movement=movement.name))
    return END


# --- leaving -------------------------------------------------------------------------------------


async def cancel(update: Update, context: UnionContext) -> State:
    """Leaves the flow: registering forgets its answers; a self-assessment stays as a draft."""
    assessing = bool(_flow(context).get("assessing"))
    _forget(context)
    await _close_question(update)
    key = "movements.assessment_saved" if assessing else "movements.cancelled"
    await common.reply(update, context.t(key))
    return END


async def stale_flow_button(update: Update, context: UnionContext) -> None:
    """A flow's button from an older question: refused, the flow stays where it is."""
    assert update.callback_query is not None
    await update.callback_query.answer(context.t("common.stale_button"), show_alert=True)
    return None


# --- wiring --------------------------------------------------------------------------------------


def _entries() -> list[BaseHandler]:  # type: ignore[type-arg]
    return [
        CallbackQueryHandler(chose_register, pattern=rf"^mov:reg:{ID}$"),
        CallbackQueryHandler(chose_assess, pattern=rf"^mov:sa:{ID}$"),
    ]


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """Registering and the self-assessment, persisted across restarts."""
    text = filters.TEXT & ~filters.COMMAND
    anything_else = ~filters.COMMAND
    return common.persistent_conversation(
        CONVERSATION,
        entry_points=_entries(),
        states={
            CHOOSING_TITLE: [
                CallbackQueryHandler(chose_title, pattern=rf"^mov:title:{ID}:\d{{1,3}}$"),
                MessageHandler(anything_else, common.says("movements.button_expected")),
            ],
            TYPING_COMMITMENT: [
                MessageHandler(text, received_commitment),
                CallbackQueryHandler(skipped_commitment, pattern=rf"^mov:(skip|keep):{ID}$"),
                MessageHandler(anything_else, common.says("movements.text_expected")),
            ],
            CONFIRMING: [
                CallbackQueryHandler(confirmed, pattern=rf"^mov:ok:{ID}$"),
                MessageHandler(anything_else, common.says("movements.button_expected")),
            ],
            TYPING_ASSESSMENT: [
                MessageHandler(text, received_assessment),
                MessageHandler(anything_else, common.says("movements.text_expected")),
            ],
            SENDING_EVIDENCE: [
                MessageHandler(filters.PHOTO | filters.Document.ALL, received_file),
                CallbackQueryHandler(finished_evidence, pattern=rf"^mov:done:{ID}$"),
                MessageHandler(anything_else, evidence_expected),
            ],
            PREVIEWING: [
                CallbackQueryHandler(submitted, pattern=rf"^mov:submit:{ID}$"),
                CallbackQueryHandler(chose_more_files, pattern=rf"^mov:more:{ID}$"),
                CallbackQueryHandler(chose_redo, pattern=rf"^mov:redo:{ID}$"),
                CallbackQueryHandler(confirmed_redo, pattern=rf"^mov:redook:{ID}$"),
                CallbackQueryHandler(finished_evidence, pattern=rf"^mov:done:{ID}$"),
                MessageHandler(anything_else, common.says("movements.button_expected")),
            ],
        },
        fallbacks=[
            CommandHandler("cancel", cancel),
            CallbackQueryHandler(cancel, pattern=r"^mov:cancel$"),
            CallbackQueryHandler(stale_flow_button, pattern=FLOW_BUTTONS),
            common.other_button_leaves("mov:", _forget),
            common.other_command_leaves(_forget),
        ],
        allow_reentry=True,
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        conversation(),
        CommandHandler("movements", show_movements),
        CommandHandler("my", show_my),
        CallbackQueryHandler(browsed_movements, pattern=r"^mov:list:\d{1,6}$"),
        CallbackQueryHandler(opened_movement, pattern=rf"^mov:card:{ID}$"),
        CallbackQueryHandler(chose_withdraw, pattern=rf"^mov:wd:{ID}$"),
        CallbackQueryHandler(confirmed_withdraw, pattern=rf"^mov:wdok:{ID}$"),
    ]
