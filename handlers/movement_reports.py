"""The officials' numbers of a movement, from the buttons of its card (handlers/movement_admin):
registrants per unit and their names ("mvr:reg:<movement>:<page>"), a registration's card with
approval and results and its evidence sent file by file ("mvr:ev:<registration>"), the .xlsx
export ("mvr:x:<movement>"), results from the filled-in export ("mvr:res:<movement>", then the
file), and the statistics ("mvr:st:<movement>").

Screens opened from the movement's card come as new messages (the card stays); taps on this
module's own screens (they all end with "mvr:cl", Close) change them in place. Every id a button
carries is authorised again in models/movement_reports.py: a forged one is refused, logged, and
changes nothing. Members hear of approvals and results in their language, on their channel.

A persistent conversation ("movement_reports") waits for the two things typed or sent: the
note that goes with a result, and the results workbook. On Zalo, where files cannot travel,
results are given one by one from the registrants list and the export points to Telegram.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from bot.context import Services, UnionContext
from bot.notify import Localized, Notice, queue_notices
from handlers import common
from models import movement_reports as model
from models.access import Actor
from models.achievements import OUTCOME_KEYS, requirement_line, summary_text
from models.base import utcnow
from models.errors import DomainError, InvalidInput, NotFound
from models.members import Channel, Gender
from models.movements import Evidence, Movement, Registration, RegistrationStatus
from models.org import OrgUnit
from models.outbox import Source

log = logging.getLogger(__name__)

# What the bot is waiting for.
TYPING_NOTE = "typing_note"
SENDING_RESULTS = "sending_results"

END = ConversationHandler.END
CONVERSATION = "movement_reports"
RESULTS_KEY = "movement_reports_results"  # the movement whose results file is awaited
DECISION_KEY = "movement_reports_decision"  # the result waiting for its note
UPLOAD_KEY = "movement_reports_upload"  # a results file with problems, by its file id
CLOSE = "mvr:cl"
# Zalo shows at most 9 options per screen: fewer rows per page keep the page's buttons on it.
PER_PAGE = {Channel.TELEGRAM: 8, Channel.ZALO: 4}
# Units below the scope on one statistics page: each takes four lines.
STATS_PER_PAGE = {Channel.TELEGRAM: 6, Channel.ZALO: 4}
# A screen longer than this is cut at a line (Telegram takes 4,096 characters).
SCREEN_MAX_CHARS = 3900
ERRORS_SHOWN = 8
ANSWER_SHOWN_CHARS = 300

# The order statuses are listed in.
STATUS_ORDER = (
    RegistrationStatus.AWAITING_APPROVAL,
    RegistrationStatus.REGISTERED,
    RegistrationStatus.SUBMITTED,
    RegistrationStatus.ACHIEVED,
    RegistrationStatus.NOT_ACHIEVED,
)

State = object
View = tuple[str, list[list[tuple[str, str]]]]


def _plain(context: UnionContext) -> model.Translate:
    """Text for a workbook: the official's language, without HTML escaping."""
    return lambda key, **params: html.unescape(context.t(key, **params))


def _per_page(context: UnionContext) -> int:
    return PER_PAGE.get(context.channel, 8)


def _status(context: UnionContext, status: str) -> str:
    return context.t(model.STATUS_KEYS[status]) if status in model.STATUS_KEYS else status


def _fitted(text: str) -> str:
    """The screen cut at a line boundary when it would not fit in one message (a line holds
    whole HTML tags, so what is kept stays valid)."""
    if len(text) <= SCREEN_MAX_CHARS:
        return text
    kept: list[str] = []
    size = 0
    for line in text.split("\n"):
        if size + len(line) + 1 > SCREEN_MAX_CHARS - 2:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([*kept, "…"])


def _shortened(text: str, limit: int = ANSWER_SHOWN_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- showing screens -----------------------------------------------------------------------------


def _on_our_screen(query: CallbackQuery) -> bool:
    """Whether the tapped message is one of this module's screens (they all carry Close)."""
    message = query.message
    markup = getattr(message, "reply_markup", None)
    if not isinstance(markup, InlineKeyboardMarkup):
        return False
    return any(
        button.callback_data == CLOSE for row in markup.inline_keyboard for button in row
    )


async def _screen(update: Update, context: UnionContext, view: View) -> None:
    """Shows a screen with Close at the bottom: in place of one of ours, else as a new message
    (the movement's card it was opened from stays)."""
    text, rows = view
    text = _fitted(text)
    markup = common.keyboard([*rows, [(context.t("movement_reports.close"), CLOSE)]])
    query = update.callback_query
    if query is not None and _on_our_screen(query):
        await common.show(update, text, markup)
    else:
        await common.reply(update, text, reply_markup=markup)


async def _run(
    update: Update,
    context: UnionContext,
    build: Callable[[AsyncSession, Actor], Awaitable[View]],
) -> bool:
    """Builds a screen with the actor's rights and shows it; a refusal is an alert."""
    query = update.callback_query
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            view = await build(session, actor)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return False
        await session.commit()
    if query is not None:
        await query.answer()
    await _screen(update, context, view)
    return True


def _pager(context: UnionContext, page: int, pages: int, data: Callable[[int], str]) -> list:
    row = []
    if page > 0:
        row.append((context.t("common.previous"), data(page - 1)))
    if page + 1 < pages:
        row.append((context.t("common.next"), data(page + 1)))
    return [row] if row else []


# --- 1. registrants ------------------------------------------------------------------------------


def _status_counts(context: UnionContext, counts: dict[str, int]) -> str:
    return " · ".join(
        context.t(
            "movement_reports.count_of", label=_status(context, status), count=counts[status]
        )
        for status in STATUS_ORDER
        if counts.get(status)
    )


async def _registrants_view(
    session: AsyncSession, context: UnionContext, actor: Actor, movement_id: int, page: int
) -> View:
    """A page of the movement's units with their registrations counted by status and title."""
    per_page = _per_page(context)
    overview = await model.registrants_overview(
        session, actor, movement_id=movement_id, offset=page * per_page, limit=per_page
    )
    pages = max((overview.total_units + per_page - 1) // per_page, 1)
    if page >= pages:
        page = pages - 1
        overview = await model.registrants_overview(
            session, actor, movement_id=movement_id, offset=page * per_page, limit=per_page
        )
    movement = overview.movement
    registered = sum(overview.by_status.values())
    lines = [
        context.t("movement_reports.registrants_title", movement=movement.name),
        context.t(
            "movement_reports.registrants_total",
            count=model.format_count(registered, context.locale),
            units=model.format_count(overview.total_units, context.locale),
        ),
    ]
    if registered:
        lines.append(_status_counts(context, overview.by_status))
    awaiting = overview.by_status.get(RegistrationStatus.AWAITING_APPROVAL, 0)
    if awaiting:
        lines.append(context.t("movement_reports.awaiting_hint", count=awaiting))
    if pages > 1:
        lines.append(context.t("movement_reports.page", page=page + 1, pages=pages))
    lines.append("")
    buttons: list[list[tuple[str, str]]] = []
    for unit in overview.units:
        if not unit.registered:
            lines.append(context.t("movement_reports.unit_none", unit=unit.unit.name))
            continue
        titles = " · ".join(
            context.t(
                "movement_reports.count_of",
                label=model.title_name(movement, code), count=count,
            )
            for code, count in sorted(unit.by_title.items())
        )
        lines.append(
            context.t(
                "movement_reports.unit_line", unit=unit.unit.name, count=unit.registered,
                statuses=_status_counts(context, unit.by_status), titles=titles,
            )
        )
        buttons.append([(
            context.t("movement_reports.unit_button", unit=unit.unit.name, count=unit.registered),
            f"mvr:u:{movement.id}:{unit.unit.id}:0",
        )])
    buttons += _pager(context, page, pages, lambda to: f"mvr:reg:{movement.id}:{to}")
    buttons.append([(context.t("movement_reports.open_stats"), f"mvr:st:{movement.id}")])
    return "\n".join(lines), buttons


async def opened_registrants(update: Update, context: UnionContext) -> None:
    """The registrants of a movement, a page of units."""
    movement_id, page = int(context.matches[0].group(1)), int(context.matches[0].group(2))
    await _run(
        update, context,
        lambda session, actor: _registrants_view(session, context, actor, movement_id, page),
    )


async def _unit_view(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    movement_id: int,
    unit_id: int,
    page: int,
) -> View:
    """A page of one unit's registrants, each a button to their registration."""
    per_page = _per_page(context)
    when = {"now": utcnow(), "tz": context.services.settings.tz}
    movement, unit, rows, total = await model.unit_registrants(
        session, actor, movement_id=movement_id, unit_id=unit_id, offset=page * per_page,
        limit=per_page, **when,
    )
    pages = max((total + per_page - 1) // per_page, 1)
    if page >= pages:
        page = pages - 1
        movement, unit, rows, total = await model.unit_registrants(
            session, actor, movement_id=movement_id, unit_id=unit_id, offset=page * per_page,
            limit=per_page, **when,
        )
    lines = [
        context.t("movement_reports.unit_title", unit=unit.name, movement=movement.name),
        context.t("movement_reports.unit_total", count=total),
    ]
    if pages > 1:
        lines.append(context.t("movement_reports.page", page=page + 1, pages=pages))
    lines.append("")
    buttons = []
    for number, row in enumerate(rows, start=page * per_page + 1):
        registration = row.registration
        name = _registrant_name(context, row.name, registration)
        status = _status(context, registration.status)
        lines.append(
            context.t(
                "movement_reports.registrant_line", number=number, name=name,
                title=model.title_name(movement, registration.title_code), status=status,
            )
        )
        if row.requirements is not None:
            # ✓ met / ✗ what is missing / … what is still to be decided (models/achievements).
            lines.append(f"   {summary_text(row.requirements, context.t)}")
        buttons.append([(f"{name} · {status}", f"mvr:r:{registration.id}")])
    buttons += _pager(context, page, pages, lambda to: f"mvr:u:{movement.id}:{unit.id}:{to}")
    buttons.append([(context.t("movement_reports.back_to_units"), f"mvr:reg:{movement.id}:0")])
    return "\n".join(lines), buttons


def _registrant_name(context: UnionContext, name: str, registration: Registration) -> str:
    if registration.collective:
        return context.t("movement_reports.collective_name", unit=name)
    return name


async def opened_unit(update: Update, context: UnionContext) -> None:
    """One unit's registrants, a page of names."""
    match = context.matches[0]
    movement_id, unit_id, page = int(match.group(1)), int(match.group(2)), int(match.group(3))
    await _run(
        update, context,
        lambda session, actor: _unit_view(session, context, actor, movement_id, unit_id, page),
    )


async def _card_view(
    session: AsyncSession, context: UnionContext, actor: Actor, registration_id: int,
    done: str = "",
) -> View:
    """A registration: who, the title and commitment, the self-assessment, the result; buttons
    to approve or refuse it, or to give its result."""
    view = await model.registration_for_official(
        session, actor, registration_id=registration_id
    )
    registration, movement = view.registration, view.movement
    lines = [done, ""] if done else []
    name = _registrant_name(context, view.name, registration)
    lines.append(context.t("movement_reports.card_title", name=name, unit=view.unit.name))
    if view.member is not None:
        lines.append(
            context.t(
                "movement_reports.card_person",
                position=context.t(f"position.{view.member.position}"),
                gender=context.t(f"gender.{view.member.gender or Gender.UNDISCLOSED}"),
            )
        )
    lines.append(context.t("movement_reports.card_movement", movement=movement.name))
    lines.append(context.t("movement_reports.card_registration", title=view.title_name))
    checks = await model.requirements_of(
        session, movement, [registration], now=utcnow(), tz=context.services.settings.tz
    )
    if registration.id in checks:
        check = checks[registration.id]  # type: ignore[index]
        lines.append(context.t(OUTCOME_KEYS[check.outcome]))
        lines += [f"   {requirement_line(item, context.t)}" for item in check.requirements]
    if registration.commitment:
        lines.append(
            context.t(
                "movement_reports.card_commitment",
                commitment=_shortened(registration.commitment),
            )
        )
    lines.append(
        context.t("movement_reports.card_status", status=_status(context, registration.status))
    )
    if registration.submitted_at is not None:
        lines.append(
            context.t(
                "movement_reports.card_submitted",
                at=context.local_time(registration.submitted_at), count=view.evidence,
            )
        )
    for criterion, answer in zip(movement.criteria, registration.assessment or [], strict=False):
        if answer:
            lines.append(
                context.t(
                    "movement_reports.card_answer", criterion=criterion,
                    answer=_shortened(answer),
                )
            )
    if registration.result_note:
        lines.append(context.t("movement_reports.card_note", note=registration.result_note))
    buttons: list[list[tuple[str, str]]] = []
    if movement.status in model.RUNNING:
        if registration.status == RegistrationStatus.AWAITING_APPROVAL:
            buttons.append([
                (context.t("movement_reports.approve"), f"mvr:ap:{registration.id}"),
                (context.t("movement_reports.refuse"), f"mvr:rf:{registration.id}"),
            ])
        elif registration.status != RegistrationStatus.WITHDRAWN:
            buttons.append([
                (context.t("movement_reports.mark_achieved"), f"mvr:d:{registration.id}:a"),
                (context.t("movement_reports.mark_not_achieved"), f"mvr:d:{registration.id}:n"),
            ])
    if view.evidence:
        buttons.append([(
            context.t("movement_reports.evidence_button", count=view.evidence),
            f"mvr:ev:{registration.id}",
        )])
    buttons.append([(
        context.t("movement_reports.back_to_unit", unit=view.unit.name),
        f"mvr:u:{movement.id}:{view.unit.id}:0",
    )])
    return "\n".join(lines), buttons


async def opened_registration(update: Update, context: UnionContext) -> None:
    """A registration's card."""
    registration_id = int(context.matches[0].group(1))
    await _run(
        update, context,
        lambda session, actor: _card_view(session, context, actor, registration_id),
    )


def _is_address(evidence: Evidence) -> bool:
    """A photo kept from Zalo: its address, which both channels can show."""
    return evidence.file_id.startswith("https://")


async def _send_evidence(chat: Chat, evidence: Evidence, caption: str) -> None:
    if evidence.kind == "photo":
        await chat.send_photo(photo=evidence.file_id, caption=caption)
    else:
        await chat.send_document(document=evidence.file_id, caption=caption)


async def sent_evidence(update: Update, context: UnionContext) -> None:
    """Sends the official a registration's evidence, file by file, each with a caption naming
    the member and the file. On Zalo, which shows only photos kept by their address, the other
    files are named and left for Telegram. A file the platform no longer has is named as such;
    the others still go."""
    query, chat = update.callback_query, update.effective_chat
    assert query is not None and chat is not None
    registration_id = int(context.matches[0].group(1))
    plain = _plain(context)
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            view = await model.registration_for_official(
                session, actor, registration_id=registration_id
            )
            files = await model.evidence_of(session, actor, registration_id=registration_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await session.commit()
    if not files:
        await query.answer(context.t("movement_reports.evidence_none"), show_alert=True)
        return
    await query.answer()
    name = view.name
    if view.registration.collective:
        name = plain("movement_reports.collective_name", unit=view.unit.name)
    unavailable: list[str] = []
    on_telegram: list[str] = []
    for number, evidence in enumerate(files, 1):
        file = model.evidence_name(evidence.kind, evidence.file_name, plain)
        if context.channel == Channel.ZALO and not (
            evidence.kind == "photo" and _is_address(evidence)
        ):
            on_telegram.append(file)
            continue
        caption = context.t(
            "movement_reports.evidence_caption", name=name, file=file, number=number,
            count=len(files),
        )
        try:
            await _send_evidence(chat, evidence, caption)
        except TelegramError as error:
            log.warning("evidence %s of registration %s not sent: %s",
                        evidence.id, registration_id, error)
            unavailable.append(file)
    lines = []
    if on_telegram:
        lines.append(context.t("movement_reports.evidence_on_telegram", name=name))
        lines += [context.t("movement_reports.evidence_item", file=file) for file in on_telegram]
    if unavailable:
        lines.append(context.t("movement_reports.evidence_unavailable", name=name))
        lines += [context.t("movement_reports.evidence_item", file=file) for file in unavailable]
    if lines:
        await chat.send_message(_fitted("\n".join(lines)))


async def decided_approval(update: Update, context: UnionContext) -> None:
    """Approves or refuses a registration awaiting approval; tells the member; the card again."""
    match = context.matches[0]
    approve, registration_id = match.group(1) == "ap", int(match.group(2))
    done = context.t(
        "movement_reports.approved" if approve else "movement_reports.refused"
    )

    async def build(session: AsyncSession, actor: Actor) -> View:
        await model.decide_approval(
            session, actor, registration_id=registration_id, approve=approve, now=utcnow()
        )
        # The member's notice is saved with the decision (_run commits both).
        await _notify(context.services, session, [registration_id])
        return await _card_view(session, context, actor, registration_id, done=done)

    if await _run(update, context, build):
        context.services.wake_up()


# --- 3. a result, one by one ---------------------------------------------------------------------


async def asked_note(update: Update, context: UnionContext) -> State:
    """Checks the result may be given; keeps it; asks for a note (or none)."""
    match = context.matches[0]
    registration_id, achieved = int(match.group(1)), match.group(2) == "a"
    query = update.callback_query
    assert query is not None
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            view = await model.check_decision(
                session, actor, registration_id=registration_id, achieved=achieved
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        name = _registrant_name(context, view.name, view.registration)
        await session.commit()
    assert context.user_data is not None
    context.user_data[DECISION_KEY] = {"registration": registration_id, "achieved": achieved}
    await context.remember_state(CONVERSATION, update, TYPING_NOTE)
    await query.answer()
    code = "a" if achieved else "n"
    await common.reply(
        update,
        context.t(
            "movement_reports.ask_note", name=name, result=_result_label(context, achieved),
            max=model.NOTE_MAX,
        ),
        reply_markup=common.keyboard([
            [(context.t("movement_reports.no_note"), f"mvr:dn:{registration_id}:{code}")],
            [(context.t("common.cancel"), "mvr:dc")],
        ]),
    )
    return TYPING_NOTE


def _result_label(context: UnionContext, achieved: bool) -> str:
    return context.t(model.RESULT_KEYS[model.result_status(achieved)])


async def _decide(
    update: Update, context: UnionContext, registration_id: int, achieved: bool,
    note: str | None,
) -> bool:
    """Gives the result; says so with a way back to the unit's list; tells the member."""
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            view, changed = await model.decide_result(
                session, actor, registration_id=registration_id, achieved=achieved, note=note,
                now=utcnow(),
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return False
        name = _registrant_name(context, view.name, view.registration)
        movement_id, unit_id = view.movement.id, view.unit.id
        if changed:
            await _notify(context.services, session, [registration_id])
        await session.commit()
    context.services.wake_up()
    if update.callback_query is not None:
        await update.callback_query.answer()
        await _close(update.callback_query)
    key = "movement_reports.decided" if changed else "movement_reports.decided_unchanged"
    await common.reply(
        update,
        context.t(key, name=name, result=_result_label(context, achieved)),
        reply_markup=common.keyboard([
            [(context.t("movement_reports.open_registration"), f"mvr:r:{registration_id}")],
            [(context.t("movement_reports.back_to_list"), f"mvr:u:{movement_id}:{unit_id}:0")],
            [(context.t("movement_reports.close"), CLOSE)],
        ]),
    )
    return True


async def received_note(update: Update, context: UnionContext) -> State:
    """The note typed for the kept result: gives the result with it."""
    assert update.effective_message is not None and context.user_data is not None
    decision = context.user_data.get(DECISION_KEY)
    if not decision:
        await common.reply(update, context.t("common.stale_button"))
        return END
    note = update.effective_message.text or ""
    try:
        model.clean_note(note)
    except InvalidInput as error:  # another, shorter note may do
        await common.refuse(update, context, error)
        return TYPING_NOTE
    if await _decide(update, context, decision["registration"], decision["achieved"], note):
        context.user_data.pop(DECISION_KEY, None)
    return END


async def no_note(update: Update, context: UnionContext) -> State:
    """"No note": gives the result the button names, without a note."""
    match = context.matches[0]
    decided = await _decide(update, context, int(match.group(1)), match.group(2) == "a", None)
    if decided and context.user_data is not None:
        context.user_data.pop(DECISION_KEY, None)
    return END


async def note_expected(update: Update, context: UnionContext) -> State:
    """A photo or a file while the note is awaited: asks for text again."""
    await common.reply(update, context.t("movement_reports.note_expected"))
    return TYPING_NOTE


async def cancelled_note(update: Update, context: UnionContext) -> State:
    """Cancel on the note question: no result is given."""
    query = update.callback_query
    assert query is not None
    if context.user_data is not None:
        context.user_data.pop(DECISION_KEY, None)
    await query.answer()
    await _close(query)
    await common.reply(update, context.t("movement_reports.cancelled"))
    return END


async def _close(query: CallbackQuery) -> None:
    """Removes the buttons of an answered question, so it cannot be answered twice."""
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except TelegramError:
        log.debug("question message could not be closed")


async def closed(update: Update, context: UnionContext) -> None:
    """Close: the screen loses its buttons."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await _close(query)


# --- notices to members --------------------------------------------------------------------------


async def _notify(
    services: Services, session: AsyncSession, registration_ids: list[int]
) -> int:
    """Queues, in the caller's transaction, a notice to each registration's member (a collective
    one's officials) of where it stands now: approved, refused, achieved or not achieved, in
    their language, on their channel; one batch for all. Returns how many were queued."""
    movements: dict[int, Movement] = {}
    notices: list[Notice] = []
    for registration_id in registration_ids:
        registration = await session.get(Registration, registration_id)
        if registration is None:
            continue
        movement = movements.get(registration.movement_id)
        if movement is None:
            movement = await session.get(Movement, registration.movement_id)
            if movement is None:
                continue
            movements[registration.movement_id] = movement
        key, params = await _notice(session, registration, movement)
        if key is None:
            continue
        about = Source("movement", movement.id)
        notices += [
            Notice(recipient, key, params, about)
            for recipient in await model.recipients_of(session, registration)
        ]
    return await queue_notices(services, session, notices)


async def _notice(
    session: AsyncSession, registration: Registration, movement: Movement
) -> tuple[str | None, dict[str, Any]]:
    params: dict[str, Any] = {
        "movement": movement.name, "title": model.title_name(movement, registration.title_code),
    }
    status = registration.status
    if registration.collective:
        unit = await session.get(OrgUnit, registration.unit_id)
        params["unit"] = unit.name if unit is not None else ""
    if status in model.RESULT_KEYS:
        params["result"] = Localized(model.RESULT_KEYS[status])
        note = registration.result_note
        if note:
            params["note"] = note
        if registration.collective:
            key = (
                "movement_reports.notice.collective_result_note" if note
                else "movement_reports.notice.collective_result"
            )
        else:
            key = (
                "movement_reports.notice.result_note" if note
                else "movement_reports.notice.result"
            )
        return key, params
    if status == RegistrationStatus.REGISTERED:
        return "movement_reports.notice.approved", params
    if status == RegistrationStatus.WITHDRAWN:
        return "movement_reports.notice.refused", params
    return None, params


# --- 2. the export -------------------------------------------------------------------------------


async def exported(update: Update, context: UnionContext) -> None:
    """Sends the registrants' workbook (on Zalo, which cannot receive files: says so)."""
    query = update.callback_query
    assert query is not None and update.effective_chat is not None
    movement_id = int(context.matches[0].group(1))
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement = await model.movement_run_by(session, actor, movement_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        if context.channel == Channel.ZALO:
            await session.commit()
            await query.answer()
            await common.reply(update, context.t("movement_reports.export_on_zalo"))
            return
        # Answered at once: a whole city takes a while, and Telegram drops a tap left unanswered.
        await query.answer(context.t("movement_reports.export_preparing"))
        await update.effective_chat.send_action(ChatAction.UPLOAD_DOCUMENT)
        content = await model.export_xlsx(
            session, actor, movement_id=movement.id, translate=_plain(context),  # type: ignore[arg-type]
            tz=context.services.settings.tz, now=utcnow(),
        )
        await session.commit()
    today = utcnow().astimezone(context.services.settings.tz).strftime("%Y-%m-%d")
    await update.effective_chat.send_document(
        document=content,
        filename=context.t("movement_reports.export_filename", id=movement_id, date=today),
        caption=context.t("movement_reports.export_caption", movement=movement.name),
    )


# --- 3. results from the workbook ----------------------------------------------------------------


async def asked_results(update: Update, context: UnionContext) -> State:
    """Results: explains the two ways; on Telegram, waits for the filled-in workbook."""
    query = update.callback_query
    assert query is not None
    movement_id = int(context.matches[0].group(1))
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            movement = await model.results_movement(session, actor, movement_id)
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return END
        await session.commit()
    await query.answer()
    registrants = (context.t("movement_reports.open_registrants"), f"mvr:reg:{movement_id}:0")
    if context.channel == Channel.ZALO:
        await common.reply(
            update,
            context.t("movement_reports.results_on_zalo", movement=movement.name),
            reply_markup=common.keyboard([[registrants], [(context.t("common.cancel"), CLOSE)]]),
        )
        return END
    assert context.user_data is not None
    context.user_data[RESULTS_KEY] = movement_id
    await context.remember_state(CONVERSATION, update, SENDING_RESULTS)
    await common.reply(
        update,
        context.t(
            "movement_reports.results_ask", movement=movement.name, limit=model.MAX_UPLOAD_MB
        ),
        reply_markup=common.keyboard([
            [(context.t("movement_reports.export"), f"mvr:x:{movement_id}")],
            [registrants],
        ]),
    )
    return SENDING_RESULTS


async def received_results(update: Update, context: UnionContext) -> State:
    """Checks the workbook and gives its results, or sends the rows with problems and offers
    the valid ones (the file is kept by its Telegram file id for that). A file that cannot be
    one: asks for another."""
    message = update.effective_message
    assert message is not None and message.document is not None
    assert context.user_data is not None
    document = message.document
    filename = document.file_name or "results.xlsx"
    movement_id = context.user_data.get(RESULTS_KEY)
    if movement_id is None:
        await common.reply(update, context.t("common.stale_button"))
        return END
    try:
        model.check_upload(filename=filename, size=document.file_size)
    except DomainError as error:
        await common.refuse(update, context, error)
        return SENDING_RESULTS
    await message.chat.send_action(ChatAction.TYPING)
    content = bytes(await (await document.get_file()).download_as_bytearray())
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            result = await model.import_results(
                session, actor, movement_id=movement_id, filename=filename, content=content,
                now=utcnow(),
            )
        except InvalidInput as error:  # the whole file: another one may do
            await session.rollback()
            await common.refuse(update, context, error)
            return SENDING_RESULTS
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return _forget_results(context)
        if result.applied:
            await _notify_results(context, session, result)
            await session.commit()
        else:
            await session.rollback()
    _forget_results(context)
    if result.applied:
        context.services.wake_up()
        await _results_done(update, context, result)
        return END
    if result.valid:
        context.user_data[UPLOAD_KEY] = {
            "movement": movement_id, "file_id": document.file_id, "name": filename,
        }
    await _send_problems(update, context, movement_id, result)
    return END


def _forget_results(context: UnionContext) -> Any:
    if context.user_data is not None:
        context.user_data.pop(RESULTS_KEY, None)
        context.user_data.pop(DECISION_KEY, None)
    return END


async def _notify_results(
    context: UnionContext, session: AsyncSession, result: model.ResultsImport
) -> None:
    """The members' notices of an import, saved with their results (the caller commits)."""
    ids = [registration.id for registration in result.changed if registration.id is not None]
    if ids:
        await _notify(context.services, session, ids)


async def _results_done(
    update: Update, context: UnionContext, result: model.ResultsImport
) -> None:
    counts = {
        "file": result.filename, "changed": len(result.changed), "unchanged": result.unchanged,
    }
    if result.bad_rows:
        text = context.t("movement_reports.import_done_skipped", skipped=len(result.bad_rows),
                         **counts)
    else:
        text = context.t("movement_reports.import_done", **counts)
    await common.reply(update, text)


async def _send_problems(
    update: Update, context: UnionContext, movement_id: int, result: model.ResultsImport
) -> None:
    """The report file, then the first problems and the choice."""
    assert update.effective_chat is not None
    report = model.results_report(result, _plain(context))
    await update.effective_chat.send_document(
        document=report,
        filename=model.report_name(result.filename),
        caption=context.t("movement_reports.report_caption", file=result.filename),
    )
    bad = result.bad_rows
    lines = [
        context.t(
            "movement_reports.has_errors", file=result.filename, bad=len(bad),
            total=len(result.rows),
        )
    ]
    lines += [
        context.t(
            "movement_reports.error_line", sheet=row.sheet, row=row.number,
            problems=_shortened(model.describe(row.problems, _plain(context))),
        )
        for row in bad[:ERRORS_SHOWN]
    ]
    if len(bad) > ERRORS_SHOWN:
        lines.append(context.t("movement_reports.more_errors", count=len(bad) - ERRORS_SHOWN))
    if not result.valid:
        lines += ["", context.t("movement_reports.none_valid")]
        await common.reply(update, "\n".join(lines))
        return
    lines += ["", context.t("movement_reports.choose_valid", valid=result.valid)]
    await common.reply(
        update,
        "\n".join(lines),
        reply_markup=common.keyboard([
            [(context.t("movement_reports.apply_valid", count=result.valid),
              f"mvr:iv:{movement_id}")],
            [(context.t("common.cancel"), f"mvr:ic:{movement_id}")],
        ]),
    )


@common.refuses_text
async def file_expected(update: Update, context: UnionContext) -> State:
    """Anything but a document while the workbook is awaited: asks for it again."""
    await common.reply(update, context.t("movement_reports.send_a_file"))
    return SENDING_RESULTS


async def applied_valid(update: Update, context: UnionContext) -> None:
    """Gives the results of the valid rows of the kept file (checked again: the registrations
    may have changed meanwhile)."""
    query = update.callback_query
    assert query is not None and context.user_data is not None
    movement_id = int(context.matches[0].group(1))
    upload = context.user_data.get(UPLOAD_KEY)
    if not upload or upload.get("movement") != movement_id:
        await common.refuse(update, context, NotFound("results_upload_gone"))
        return
    try:
        file = await context.bot.get_file(upload["file_id"])
        content = bytes(await file.download_as_bytearray())
    except TelegramError:
        log.info("kept results file could not be downloaded again")
        context.user_data.pop(UPLOAD_KEY, None)
        await common.refuse(update, context, NotFound("results_upload_gone"))
        return
    async with context.session() as session:
        actor = await context.actor(session, update)
        try:
            result = await model.import_results(
                session, actor, movement_id=movement_id, filename=upload["name"],
                content=content, now=utcnow(), valid_rows=True,
            )
        except DomainError as error:
            await session.rollback()
            await common.refuse(update, context, error)
            return
        await _notify_results(context, session, result)
        await session.commit()
    context.services.wake_up()
    context.user_data.pop(UPLOAD_KEY, None)
    await query.answer()
    await _close(query)
    await _results_done(update, context, result)


async def cancelled_upload(update: Update, context: UnionContext) -> None:
    """Forgets the kept file; nothing is changed."""
    query = update.callback_query
    assert query is not None
    if context.user_data is not None:
        context.user_data.pop(UPLOAD_KEY, None)
    await query.answer()
    await _close(query)
    await common.reply(update, context.t("movement_reports.cancelled"))


def _forget(context: UnionContext) -> None:
    _forget_results(context)


async def cancel(update: Update, context: UnionContext) -> State:
    """/cancel: leaves the question; nothing was changed."""
    _forget(context)
    await common.reply(update, context.t("movement_reports.cancelled"))
    return END


# --- 4. statistics -------------------------------------------------------------------------------


def _numbers_text(context: UnionContext, numbers: model.Numbers) -> str:
    locale = context.locale
    count = lambda value: model.format_count(value, locale)  # noqa: E731
    share = lambda part, whole: model.format_share(part, whole, locale)  # noqa: E731
    return context.t(
        "movement_reports.stats_block",
        members=count(numbers.members),
        women=count(numbers.women),
        registered=count(numbers.registered),
        registered_share=share(numbers.registered, numbers.members),
        registered_women=count(numbers.registered_women),
        registered_women_share=share(numbers.registered_women, numbers.women),
        assessed=count(numbers.assessed),
        assessed_share=share(numbers.assessed, numbers.members),
        assessed_women=count(numbers.assessed_women),
        assessed_women_share=share(numbers.assessed_women, numbers.women),
        achieved=count(numbers.achieved),
        achieved_share=share(numbers.achieved, numbers.members),
        achieved_women=count(numbers.achieved_women),
        achieved_women_share=share(numbers.achieved_women, numbers.women),
    )


async def _stats_view(
    session: AsyncSession,
    context: UnionContext,
    actor: Actor,
    movement_id: int,
    unit_id: int | None,
    page: int,
) -> View:
    """The numbers of the scope, its titles, then a page of the units one level below."""
    stats = await model.statistics(session, actor, movement_id=movement_id, unit_id=unit_id)
    movement, total, locale = stats.movement, stats.total, context.locale
    lines = [
        context.t("movement_reports.stats_title", movement=movement.name),
        context.t("movement_reports.stats_scope", unit=stats.root.name),
        _numbers_text(context, total),
    ]
    for title in stats.titles:
        lines.append(
            context.t(
                "movement_reports.stats_title_all", title=title.name,
                count=model.format_count(title.achieved, locale),
                share=model.format_share(title.achieved, total.members, locale),
            )
        )
        lines.append(
            context.t(
                "movement_reports.stats_title_women", title=title.name,
                women=model.format_count(title.achieved_women, locale),
                share=model.format_share(title.achieved_women, total.women, locale),
            )
        )
    if stats.collective_registered:
        lines.append(
            context.t(
                "movement_reports.stats_collective", count=stats.collective_registered,
                achieved=stats.collective_achieved,
            )
        )
    buttons: list[list[tuple[str, str]]] = []
    per_page = STATS_PER_PAGE.get(context.channel, 6)
    pages = max((len(stats.children) + per_page - 1) // per_page, 1)
    page = min(page, pages - 1)
    here = stats.root.id if unit_id is not None else 0  # 0: from the owner unit, as "st"
    if stats.children:
        lines += ["", context.t("movement_reports.stats_below")]
        if pages > 1:
            lines.append(context.t("movement_reports.page", page=page + 1, pages=pages))
    for unit, numbers in stats.children[page * per_page : (page + 1) * per_page]:
        name = unit.name if unit is not None else context.t("movement_reports.stats_other")
        lines += ["", context.t("movement_reports.stats_unit", unit=name)]
        lines.append(_numbers_text(context, numbers))
        if unit is not None and not unit.is_grassroots:
            buttons.append([(f"📂 {unit.name}", f"mvr:sp:{movement.id}:{unit.id}:0")])
    buttons += _pager(context, page, pages, lambda to: f"mvr:sp:{movement.id}:{here}:{to}")
    if unit_id is not None and stats.root.id != movement.owner_unit_id:
        buttons.append([(context.t("movement_reports.stats_top"), f"mvr:st:{movement.id}")])
    buttons.append([(context.t("movement_reports.open_registrants"), f"mvr:reg:{movement.id}:0")])
    return "\n".join(lines), buttons


async def opened_stats(update: Update, context: UnionContext) -> None:
    """The statistics of a movement from its owner unit down (or from a unit below it)."""
    match = context.matches[0]
    movement_id = int(match.group(1))
    unit_id = int(match.group(2)) if match.group(2) else None
    unit_id = unit_id or None  # "mvr:sp:<movement>:0:<page>": pages of the first screen
    page = int(match.group(3)) if match.group(3) else 0
    await _run(
        update, context,
        lambda session, actor: _stats_view(session, context, actor, movement_id, unit_id, page),
    )


# --- assembly ------------------------------------------------------------------------------------


def conversation() -> ConversationHandler:  # type: ignore[type-arg]
    """The note of a result and the results workbook, persisted across restarts."""
    return common.persistent_conversation(
        CONVERSATION,
        allow_reentry=True,
        entry_points=[
            CallbackQueryHandler(asked_results, pattern=r"^mvr:res:(\d{1,12})$"),
            CallbackQueryHandler(asked_note, pattern=r"^mvr:d:(\d{1,12}):([an])$"),
        ],
        states={
            TYPING_NOTE: [
                MessageHandler(filters.TEXT & ~filters.COMMAND, received_note),
                CallbackQueryHandler(no_note, pattern=r"^mvr:dn:(\d{1,12}):([an])$"),
                CallbackQueryHandler(cancelled_note, pattern=r"^mvr:dc$"),
                MessageHandler(~filters.COMMAND, note_expected),
            ],
            SENDING_RESULTS: [
                MessageHandler(filters.Document.ALL, received_results),
                MessageHandler(~filters.COMMAND, file_expected),
            ],
        },
        fallbacks=[CommandHandler("cancel", cancel), common.other_command_leaves(_forget)],
    )


def handlers() -> list:  # type: ignore[type-arg]
    return [
        conversation(),
        CallbackQueryHandler(opened_registrants, pattern=r"^mvr:reg:(\d{1,12}):(\d{1,6})$"),
        CallbackQueryHandler(opened_unit, pattern=r"^mvr:u:(\d{1,12}):(\d{1,12}):(\d{1,6})$"),
        CallbackQueryHandler(opened_registration, pattern=r"^mvr:r:(\d{1,12})$"),
        CallbackQueryHandler(sent_evidence, pattern=r"^mvr:ev:(\d{1,12})$"),
        CallbackQueryHandler(decided_approval, pattern=r"^mvr:(ap|rf):(\d{1,12})$"),
        CallbackQueryHandler(no_note, pattern=r"^mvr:dn:(\d{1,12}):([an])$"),
        CallbackQueryHandler(cancelled_note, pattern=r"^mvr:dc$"),
        CallbackQueryHandler(exported, pattern=r"^mvr:x:(\d{1,12})$"),
        CallbackQueryHandler(
            opened_stats, pattern=r"^mvr:(?:st|sp):(\d{1,12})(?::(\d{1,12}):(\d{1,6}))?$"
        ),
        CallbackQueryHandler(applied_valid, pattern=r"^mvr:iv:(\d{1,12})$"),
        CallbackQueryHandler(cancelled_upload, pattern=r"^mvr:ic:(\d{1,12})$"),
        CallbackQueryHandler(closed, pattern=r"^mvr:cl$"),
    ]
